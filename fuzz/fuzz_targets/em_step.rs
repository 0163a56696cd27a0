#![no_main]
// See crabmix_fuzz::em_step for the property checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| crabmix_fuzz::em_step(data));
