#![no_main]
// See crabmix_fuzz::csv_reader for the property checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| crabmix_fuzz::csv_reader(data));
