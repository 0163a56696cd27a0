//! Seeded workloads that more than one crate runs, written once.
//!
//! * [`crosscheck`]: the inputs of the cross-check (`bench/src/bin/crosscheck.rs` on the host,
//!   `firmware/src/bin/crosscheck.rs` on the emulated Cortex-M4F): generators in f64 from fixed
//!   seeds, each keeping an [`InputDigest`] of what it produced, so that the host can still check
//!   that the device saw the very same bits (soft-float f64 there, hardware f64 here).
//! * [`tiny`]: the device-sized VAE and WGAN runs of the host/device parity check (the firmware's
//!   `tests/models.rs` against digests recorded on the host).
//!
//! `no_std` and allocation-free, like the kernels it drives: generators stream their values, so
//! the firmware never stores a data set. Test workloads live here rather than in the kernels
//! library, which ships only kernels.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod crosscheck;
mod digest;
pub mod tiny;

pub use digest::InputDigest;
