#![no_main]
// See crabmix_fuzz::sampling for the property checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| crabmix_fuzz::sampling(data));
