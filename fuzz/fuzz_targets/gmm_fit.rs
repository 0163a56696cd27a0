#![no_main]
// See crabmix_fuzz::gmm_fit for the property checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| crabmix_fuzz::gmm_fit(data));
