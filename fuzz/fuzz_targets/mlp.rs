#![no_main]
// See crabmix_fuzz::mlp for the property checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| crabmix_fuzz::mlp(data));
