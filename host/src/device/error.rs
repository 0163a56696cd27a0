//! [`BackendError`]: why a device backend (CUDA or the shim) could not run. A leaf: every device
//! file imports it, it imports nothing of the crate.

use std::fmt;

/// Why the GPU backend could not run.
#[derive(Clone, Debug, PartialEq)]
pub enum BackendError {
    /// This build has no CUDA support (the host crate's `cuda` feature is off).
    NotCompiledWithCudaSupport,
    /// A CUDA library could not be loaded (probed before any cudarc call, which would panic).
    LibraryMissing {
        /// Which library: the driver or NVRTC, with the file name searched for.
        library: &'static str,
    },
    /// A CUDA library loaded but lacks an entry point cudarc calls (a stub or a mismatched
    /// install); probed before any cudarc call, which would panic ("Missing symbol").
    LibraryIncomplete {
        /// Which library.
        library: &'static str,
        /// The first missing symbol.
        symbol: &'static str,
    },
    /// The driver loaded but no usable device answered (driver's message).
    NoDevice(String),
    /// NVRTC rejected a kernel module (its log).
    Compile {
        /// The module (`host/cuda/<name>.cu`).
        module: &'static str,
        /// NVRTC's log.
        log: String,
    },
    /// A driver call (allocation, copy, launch) failed.
    Driver(String),
    /// The request has no GPU kernel (e.g. spherical covariances).
    Unsupported(&'static str),
    /// The model or data failed the kernels crate's checks.
    Kernels(crabmix_kernels::Error),
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotCompiledWithCudaSupport => {
                write!(f, "this crabmix was built without CUDA support (rebuild with `--features cuda`)")
            }
            Self::LibraryMissing { library } => write!(f, "CUDA unavailable: {library} could not be loaded"),
            Self::LibraryIncomplete { library, symbol } => {
                write!(f, "CUDA unavailable: {library} lacks the symbol {symbol}")
            }
            Self::NoDevice(why) => write!(f, "no CUDA device: {why}"),
            Self::Compile { module, log } => write!(f, "NVRTC failed to compile {module}.cu:\n{log}"),
            Self::Driver(why) => write!(f, "CUDA driver error: {why}"),
            Self::Unsupported(what) => write!(f, "not supported on the CUDA backend: {what}"),
            Self::Kernels(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BackendError {}

impl From<crabmix_kernels::Error> for BackendError {
    fn from(e: crabmix_kernels::Error) -> Self {
        Self::Kernels(e)
    }
}
