//! Where the E-step of a fit runs: the multithreaded CPU path ([`crate::gmm::ParallelEStep`]) or
//! the CUDA kernels ([`crate::cuda`]), behind one API.
//!
//! Candle's pattern: every device operation returns `Result`; when the crate is built without the
//! `cuda` feature, [`crate::cuda`] is a stub with the same API whose constructors return
//! [`BackendError::NotCompiledWithCudaSupport`], so callers compile unchanged.

use crate::cuda::{CudaDevice, CudaEm};
use crate::gmm::{Mixture, ParallelEStep};
use crate::gmm_device::device_em_loop;
use crabmix_kernels::Real;
use crabmix_kernels::gmm::{CovarianceKind, FitConfig, FitReport, Shape};
use rand_core::Rng;
use std::fmt;
use std::sync::Arc;

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

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A scalar type with CUDA kernels: `f32` and `f64`. `SUFFIX` names the kernel entry points
/// (`gmm_estep_full_f32`, …), stamped per type by a macro in each `.cu` file.
#[cfg(feature = "cuda")]
pub trait GpuScalar:
    Real + cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits + sealed::Sealed
{
    /// Entry-point suffix: `"f32"` or `"f64"`.
    const SUFFIX: &'static str;
}
/// A scalar type with CUDA kernels: `f32` and `f64`. `SUFFIX` names the kernel entry points
/// (`gmm_estep_full_f32`, …), stamped per type by a macro in each `.cu` file.
#[cfg(not(feature = "cuda"))]
pub trait GpuScalar: Real + sealed::Sealed {
    /// Entry-point suffix: `"f32"` or `"f64"`.
    const SUFFIX: &'static str;
}
impl GpuScalar for f32 {
    const SUFFIX: &'static str = "f32";
}
impl GpuScalar for f64 {
    const SUFFIX: &'static str = "f64";
}

/// The backend asked for on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// The multithreaded CPU E-step (rayon; deterministic for any thread count).
    #[default]
    Cpu,
    /// The CUDA kernels; an error when no device answers.
    Cuda,
    /// CUDA when a device answers (and the covariance kind has kernels), else the CPU.
    Auto,
}

/// The backend a fit actually ran on.
#[derive(Clone, Debug)]
pub enum Selected {
    /// The CPU path; with `Auto`, the reason CUDA was not used.
    Cpu {
        /// Why `Auto` fell back (None when the CPU was asked for).
        fallback_reason: Option<String>,
    },
    /// The CUDA device.
    Cuda(Arc<CudaDevice>),
}

impl Selected {
    /// One line for stderr: `backend: cpu (…)` or `backend: cuda (device name, sm_XY)`.
    pub fn describe(&self) -> String {
        match self {
            Selected::Cpu { fallback_reason: None } => "backend: cpu".to_string(),
            Selected::Cpu { fallback_reason: Some(why) } => format!("backend: cpu ({why})"),
            Selected::Cuda(dev) => format!("backend: cuda ({}, {})", dev.name(), dev.arch()),
        }
    }
}

/// Chooses the backend for a fit of `kind`: `Cpu` always succeeds; `Cuda` opens device 0 or
/// fails with the reason; `Auto` opens device 0 when the kind has kernels and falls back to the
/// CPU with the reason otherwise.
pub fn select(backend: Backend, kind: CovarianceKind) -> Result<Selected, BackendError> {
    let supported = matches!(kind, CovarianceKind::Full | CovarianceKind::Diag);
    match backend {
        Backend::Cpu => Ok(Selected::Cpu { fallback_reason: None }),
        Backend::Cuda if !supported => {
            Err(BackendError::Unsupported("spherical covariances (use --covariance diag or full)"))
        }
        Backend::Cuda => CudaDevice::open(0).map(Selected::Cuda),
        Backend::Auto if !supported => {
            Ok(Selected::Cpu { fallback_reason: Some("no CUDA kernel for spherical covariances".into()) })
        }
        Backend::Auto => match CudaDevice::open(0) {
            Ok(dev) => Ok(Selected::Cuda(dev)),
            Err(e) => Ok(Selected::Cpu { fallback_reason: Some(e.to_string()) }),
        },
    }
}

/// [`Mixture::fit`] on `selected`: initialization on the host, then either the CPU threads' EM
/// loop or the device-resident one ([`crate::gmm_device::device_em_loop`]: data uploaded once,
/// E-step, reduction and M-step on the device, five words read per iteration).
pub fn fit<T: GpuScalar, R: Rng + ?Sized>(
    selected: &Selected,
    data: &[T],
    d: usize,
    k: usize,
    config: &FitConfig<T>,
    rng: &mut R,
    progress: bool,
) -> Result<(Mixture<T>, FitReport<T>), BackendError> {
    match selected {
        Selected::Cpu { .. } => Ok(Mixture::fit(data, d, k, config, rng, progress)?),
        Selected::Cuda(dev) => {
            crabmix_kernels::gmm::validate_data(data, d, k)?;
            // Data, model and statistics stay on the device for every iteration; initialization
            // (k-means++ or random) runs here on the host copy.
            let mut em = CudaEm::new(dev, data, Shape::new(k, d, config.kind))?;
            let mut device_error = None;
            let fitted = Mixture::fit_with_em(data, d, k, config, rng, |model, stats, config| {
                device_em_loop(&mut em, model, stats, config).map_err(|e| match e {
                    BackendError::Kernels(e) => e,
                    other => {
                        device_error = Some(other);
                        crabmix_kernels::Error::InvalidParameter {
                            name: "cuda",
                            reason: "the CUDA EM loop failed (driver error)",
                        }
                    }
                })
            });
            fitted.map_err(|e| device_error.take().unwrap_or(e.into()))
        }
    }
}

/// Keeps [`ParallelEStep`] in this module's documented vocabulary (the CPU backend).
pub type CpuEStep<'a, T> = ParallelEStep<'a, T>;
