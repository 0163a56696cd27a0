//! Where the E-step of a fit runs: the multithreaded CPU path ([`crate::gmm::streaming::ParallelEStep`]) or
//! the CUDA kernels ([`crate::device::cuda`]), behind one API.
//!
//! Candle's pattern: every device operation returns `Result`; when the crate is built without the
//! `cuda` feature, [`crate::device::cuda`] is a stub with the same API whose constructors return
//! [`BackendError::NotCompiledWithCudaSupport`], so callers compile unchanged.

use crate::device::cuda::{CudaDevice, CudaEm};
use crate::device::em_loop::device_em_loop_observed;
use crate::gmm::start::Start;
use crate::gmm::stream::CsvEStep;
use crate::gmm::{HostEStep, LowerBounds, Mixture};
use crabmix_kernels::gmm::{CovarianceKind, EStep, FitConfig, FitReport, Shape, em_loop_observed};
use rand_core::Rng;
use std::sync::Arc;

// The device leaves, re-exported so a caller of `select`/`fit` needs one import.
pub use crate::device::error::BackendError;
pub use crate::device::scalar::GpuScalar;

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
        // No device kernel for tied: the CPU runs it, and says so (one stderr line).
        Backend::Cuda | Backend::Auto if kind == CovarianceKind::Tied => {
            Ok(Selected::Cpu { fallback_reason: Some("no CUDA kernel for tied covariances".into()) })
        }
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

/// What a fit does besides its [`FitConfig`]: the progress line, the per-iteration lower bounds
/// of every run, and user-given starting parameters applied after each initialization.
#[derive(Debug, Default)]
pub struct FitHooks {
    /// Print one progress line per EM pass to stderr (CPU only).
    pub progress: bool,
    /// Receives every run's lower bounds (the kept run is `report.best_init`).
    pub trace: LowerBounds,
    /// Parameters that replace the initialization's (`--init-model`).
    pub start: Option<Start>,
    /// Sample weights (N, finite, ≥ 0): a row of weight w counts as w rows in the
    /// initialization (seeds, Lloyd, its M-step: the kernels' `initialize_weighted`), every EM
    /// statistic, the lower bound, BIC and AIC. CPU only (the device path rejects them).
    pub sample_weight: Option<Vec<f64>>,
    /// `--stream`: the E-step re-reads this CSV file every pass (`data` is then only what the
    /// initialization sees); CPU only.
    pub stream: Option<std::path::PathBuf>,
    /// The CSV error that stopped a streamed pass (line and column), set on failure.
    pub stream_error: Option<String>,
}

/// [`Mixture::fit`] on `selected`: initialization on the host (then `hooks.start` applied), then
/// either the CPU threads' EM loop or the device-resident one
/// ([`crate::device::em_loop::device_em_loop`]: data uploaded once, E-step, reduction and M-step
/// on the device, five words read per iteration).
pub fn fit<T: GpuScalar, R: Rng + ?Sized>(
    selected: &Selected,
    data: &[T],
    d: usize,
    k: usize,
    config: &FitConfig<T>,
    rng: &mut R,
    hooks: &mut FitHooks,
) -> Result<(Mixture<T>, FitReport<T>), BackendError> {
    let FitHooks { progress, trace, start, sample_weight, stream, stream_error } = hooks;
    let weights: Option<Vec<T>> = sample_weight.as_ref().map(|w| w.iter().map(|&v| T::from_f64(v)).collect());
    if weights.as_ref().is_some_and(|w| w.len() * d != data.len()) {
        return Err(crabmix_kernels::Error::ShapeMismatch {
            what: "sample weights (one per row)",
            expected: data.len() / d.max(1),
            found: weights.as_ref().map_or(0, Vec::len),
        }
        .into());
    }
    match selected {
        Selected::Cuda(_) if weights.is_some() => {
            Err(BackendError::Unsupported("sample weights (use --backend cpu)"))
        }
        Selected::Cuda(_) if stream.is_some() => {
            Err(BackendError::Unsupported("--stream (use --backend cpu)"))
        }
        Selected::Cpu { .. } => {
            let mut host = HostEStep::new(data, d).with_progress(*progress).with_weights(weights.as_deref());
            let mut csv = stream.as_ref().map(|p| CsvEStep::<T>::new(p.clone(), d));
            let estep: &mut dyn EStep<T> = match csv.as_mut() {
                Some(c) => c,
                None => &mut host,
            };
            let fitted = Mixture::fit_weighted_with_em(
                data,
                weights.as_deref(),
                d,
                k,
                config,
                rng,
                |model, stats, config| {
                    if let Some(start) = start {
                        start.apply(model)?;
                    }
                    let mut observe = trace.start_run();
                    em_loop_observed(model, stats, estep, config, &mut |t, lb: T| observe(t, lb.to_f64()))
                },
            );
            host.finish_progress();
            *stream_error = csv.and_then(|c| c.error);
            Ok(fitted?)
        }
        Selected::Cuda(dev) => {
            crabmix_kernels::gmm::validate_data(data, d, k)?;
            // Data, model and statistics stay on the device for every iteration; initialization
            // (k-means++ or random) runs here on the host copy.
            let mut em = CudaEm::new(dev, data, Shape::new(k, d, config.kind))?;
            let mut device_error = None;
            let fitted = Mixture::fit_with_em(data, d, k, config, rng, |model, stats, config| {
                if let Some(start) = start {
                    start.apply(model)?;
                }
                let mut observe = trace.start_run();
                let mut observe = |t, lb: T| observe(t, lb.to_f64());
                device_em_loop_observed(&mut em, model, stats, config, &mut observe).map_err(|e| match e {
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
