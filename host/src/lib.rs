//! # crabmix (host)
//!
//! The std side of crabmix: runtime-sized Gaussian mixtures over the `crabmix-kernels` slice
//! routines with a multithreaded E-step ([`gmm`]), numeric CSV input ([`csv_data`]), the model's
//! JSON form ([`model_json`]), the backends ([`backend`]: CPU threads, or CUDA through [`cuda`],
//! feature `cuda`, with the EM loop resident on the device, [`gmm_device`]; launch shapes in
//! [`gpu_layout`]) and the `crabmix` command-line tool (`src/main.rs`).
#![deny(missing_docs)]

pub mod backend;
pub mod csv_data;
// The CUDA backend, or (without the `cuda` feature) a stub with the same API.
#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(not(feature = "cuda"))]
#[path = "cuda_stub.rs"]
pub mod cuda;
#[cfg(feature = "cuda-shim")]
pub mod cuda_shim;
pub mod gmm;
pub mod gmm_blocked;
pub mod gmm_device;
pub mod gpu_layout;
pub mod mlp_device;
pub mod model_json;
pub mod plot;
pub mod vae;
pub mod wgan;

pub use crabmix_kernels as kernels;
