//! Footprint of one feature: see `src/footprint.rs` (the workload is chosen by this binary's name).
#![no_std]
#![no_main]

include!("../../footprint.rs");
