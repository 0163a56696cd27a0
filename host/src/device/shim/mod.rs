//! The CUDA kernels of `host/cuda` run on the CPU (feature `cuda-shim`, tests only): the `.cu`
//! sources compiled by g++ through `host/cuda/shim/cuda_host_shim.h` (build.rs), launched with the
//! same grid, block, tile and shared-memory sizes as the GPU ([`crate::device::layout`]), and merged
//! into the kernels crate's statistics by the same [`merge_device_stats`](crate::device::layout::merge_device_stats) the CUDA backend uses.
//! CI thus checks every kernel's logic, and the host side of the backend, without a GPU.
//!
//! Serial by design: every CUDA thread of a block runs in turn on the calling thread (a
//! user-level context per thread, switched at each `__syncthreads`), one block after another, so
//! a launch costs its whole grid's work on one core: keep shapes small.

mod ffi;
pub mod gmm;
pub mod mlp;
pub mod scalar;

pub use gmm::{
    HostModel, ShimEStep, ShimEm, kl_diag_std_normal, log_density, philox_words, reparam_diag_philox,
};
pub use mlp::ShimKernels;
pub use scalar::{ShimMlpScalar, ShimScalar};
