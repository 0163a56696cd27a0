#![no_main]
// See crabmix_fuzz::kl for the property checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| crabmix_fuzz::kl(data));
