//! The board-independent half of the crabmix firmware: where samples come from, the embedded
//! crab data, and the runs of the library's density monitor (`crabmix_kernels::monitor`: online
//! EM, periodic batch refit over a window, anomaly flags) over them. `no_std`, no allocation, all
//! sizes const generics.
//!
//! It builds for the host too: its unit tests there are the host side of the bit-identity check
//! (the same code, the same f32 arithmetic and the same software exp/log (`crabmix_kernels::math`) must give the same bits on
//! x86-64 and on the emulated Cortex-M4F; `run-tests.sh` compares the two printed lines).
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod crabs;
pub mod report;
pub mod source;

pub use source::{CrabStream, SampleSource, SyntheticSensor};
