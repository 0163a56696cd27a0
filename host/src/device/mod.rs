//! Device backends: one set of kernels (`host/cuda/*.cu`), two executors — CUDA through cudarc
//! ([`cuda`], feature `cuda`; without it a stub with the same API whose constructors return
//! [`BackendError::NotCompiledWithCudaSupport`]) and the g++ shim that runs the kernels on the
//! CPU (`shim`, feature `cuda-shim`). Both implement the traits of [`traits`].
//!
//! Leaves first: [`error`], [`scalar`] and [`layout`] import nothing of the crate; [`traits`]
//! imports the leaves; [`em_loop`], [`mlp`] and [`wgan`] (over [`mlp`]) drive the traits; the executors implement them.

pub mod em_loop;
pub mod error;
pub mod launch;
pub mod layout;
pub mod mlp;
pub mod scalar;
pub mod traits;
pub mod wgan;

// The CUDA backend, or (without the `cuda` feature) a stub with the same API.
#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(not(feature = "cuda"))]
#[path = "cuda/stub.rs"]
pub mod cuda;
#[cfg(feature = "cuda-shim")]
pub mod shim;

pub use error::BackendError;
pub use scalar::GpuScalar;
