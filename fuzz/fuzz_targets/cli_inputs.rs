#![no_main]
// See crabmix_fuzz::cli_inputs for the property checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| crabmix_fuzz::cli_inputs(data));
