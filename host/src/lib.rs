//! # crabmix (host)
//!
//! The std side of crabmix, in five folders:
//!
//! - [`gmm`]: runtime-sized Gaussian mixtures over the `crabmix-kernels` slice routines, the
//!   multithreaded CPU E-steps (streaming and blocked, [`gmm::estep`] chooses) and the model's
//!   JSON form ([`gmm::json`]);
//! - [`device`]: the device backends — CUDA ([`device::cuda`], feature `cuda`, a stub with the
//!   same API otherwise) and the g++ shim running the same `.cu` kernels on the CPU
//!   (`device::shim`, feature `cuda-shim`) — behind two traits ([`device::traits`]), with the
//!   EM loop resident on the device ([`device::em_loop`]), device MLP/VAE training
//!   ([`device::mlp`]) and launch shapes ([`device::layout`]);
//! - [`backend`]: the one place that names both the CPU and CUDA (backend selection and `fit`);
//! - [`train`]: VAE and WGAN training on the CPU;
//! - [`io`]: numeric CSV input and the SVG figures;
//! - [`math`]: branch-free eˣ and ln(1 + t) for the vectorized CPU passes, in FMA and
//!   two-rounding forms, and the run-time choice of instruction set ([`math::isa`]).
//!
//! The `crabmix` command-line tool lives in `src/cli/` (binary `src/main.rs`).
//!
//! Imports point down this list's tree only: leaves ([`device::error`], [`device::scalar`],
//! [`device::layout`]) import nothing of the crate, and no two files import each other.
#![deny(missing_docs)]

pub mod backend;
pub mod device;
pub mod gmm;
pub mod io;
pub mod math;
pub mod train;

pub use crabmix_kernels as kernels;
