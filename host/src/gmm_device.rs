//! EM with data, model and statistics resident on a device: E-step pass, fixed-order reduction,
//! M-step and weight normalization all run there (`host/cuda/gmm_estep.cu`, `gmm_mstep.cu`), and
//! per iteration only a summary of five words — Σ ln p(x), the worst ln p(x) and its row, the
//! first unfinished component and its status — comes back for the convergence test.
//!
//! One loop, two executors: [`GmmDevice`] is implemented by the CUDA backend
//! (`cuda::CudaEm`, feature `cuda`) and by the g++ shim (`cuda_shim::ShimEm`, feature
//! `cuda-shim`), so CI runs the launch sequence the GPU runs and compares it with the CPU fit.
//!
//! The semantics are [`crabmix_kernels::gmm::em_loop`]'s: the lower bound of iteration i is the
//! mean log-likelihood under the parameters the i-th E-step used; stop when it changes by less
//! than `tol` or after `max_iter`; one more pass scores the returned parameters. The device
//! M-step computes in double from the reduced (double) statistics; when it cannot finish a
//! component as the host would — empty (re-seeding), not positive definite, not finite in T,
//! D > 64 — the host runs the kernels crate's M-step on the downloaded statistics for that
//! iteration, so re-seeding and the typed errors are the CPU path's. One difference remains in
//! f32: a covariance positive definite in double but not in f32 is finished on the device, where
//! the f32 CPU M-step would report `NotPositiveDefinite`.

use crate::backend::{BackendError, GpuScalar};
use crate::gpu_layout::merge_device_stats;
use crabmix_kernels::Error;
use crabmix_kernels::gmm::{FitConfig, FitReport, MixtureMut, MixtureRef, StatsMut};

type Result<T> = std::result::Result<T, BackendError>;

/// Status of a component after the device M-step (`GMM_MSTEP_*` in `host/cuda/gmm_mstep.cu`):
/// finished on the device.
pub const MSTEP_OK: i64 = 0;
/// n_k ≤ 10·ε·N: no data (the host re-seeds or keeps it).
pub const MSTEP_EMPTY: i64 = 1;
/// Σ_k + reg·I has no Cholesky factor in double precision.
pub const MSTEP_NOT_PD: i64 = 2;
/// A mean or covariance entry is not finite in T.
pub const MSTEP_NON_FINITE: i64 = 3;
/// D is larger than the device M-step's shared square (64).
pub const MSTEP_TOO_LARGE: i64 = 4;

/// What one device pass (and M-step) reports to the host.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PassSummary {
    /// Σ ln p(x) over the N samples, the block sums added in block order.
    pub log_likelihood: f64,
    /// The smallest ln p(x) (+∞ when N = 0).
    pub worst: f64,
    /// Its row (the lowest among ties), `None` when N = 0.
    pub worst_row: Option<usize>,
    /// The first component the device M-step left unfinished and its `MSTEP_*` status (`None`
    /// after a pass without M-step or when every component finished).
    pub unfinished: Option<(usize, i64)>,
}

impl PassSummary {
    /// Builds the summary from the device's words: `summary` = [Σ ln p, worst], `flags` =
    /// [worst row, unfinished component, its status] with −1 for none.
    pub fn from_words(summary: [f64; 2], flags: [i64; 3]) -> Self {
        Self {
            log_likelihood: summary[0],
            worst: summary[1],
            worst_row: usize::try_from(flags[0]).ok(),
            unfinished: usize::try_from(flags[1]).ok().map(|c| (c, flags[2])),
        }
    }

    /// `ZeroDensity { sample }` when some sample has zero density under every component (the
    /// kernel gave it no responsibilities), as the CPU pass reports.
    pub fn check_density(&self) -> std::result::Result<(), Error> {
        match self.worst_row {
            Some(row) if self.worst == f64::NEG_INFINITY => Err(Error::ZeroDensity { sample: row }),
            _ => Ok(()),
        }
    }
}

/// Which of the device's two model buffers: the one the next E-step reads, or the one the next
/// M-step writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Read by [`GmmDevice::pass`].
    Current,
    /// Written by [`GmmDevice::mstep`]; becomes current on [`GmmDevice::swap`].
    Next,
}

/// A device holding N × D samples, two model buffers and one pass's statistics.
///
/// Contract: after [`Self::load`], [`Self::pass`] runs the E-step of the current model and keeps
/// the reduced statistics; [`Self::mstep`] finishes them into the next model; [`Self::read`]
/// waits and reports; [`Self::swap`] exchanges the models. Every call is in stream order; the
/// ones that return data wait for it.
pub trait GmmDevice<T: GpuScalar> {
    /// Samples N resident on the device.
    fn samples(&self) -> usize;
    /// Uploads `model` (weights, means, covariances, U, log_norm) into `slot`.
    fn load(&mut self, model: &MixtureRef<'_, T>, slot: Slot) -> Result<()>;
    /// Launches the E-step pass of the current model, the fixed-order reduction and the pass
    /// summary (no wait); clears `unfinished`.
    fn pass(&mut self) -> Result<()>;
    /// Launches the M-step from the last pass's statistics into the next model, `reg` added to
    /// the diagonals, components with n_k ≤ `empty_below` left to the host (no wait).
    fn mstep(&mut self, reg: f64, empty_below: f64) -> Result<()>;
    /// Waits for the stream and reads the summary of the last pass (and of the M-step after it,
    /// if one was launched): the only transfer of an iteration.
    fn read(&mut self) -> Result<PassSummary>;
    /// Exchanges the current and next models.
    fn swap(&mut self);
    /// Downloads the weights, means and covariances of `slot` into `model` (U and log_norm are
    /// recomputed by the caller's `refresh`).
    fn store(&mut self, slot: Slot, model: &mut MixtureMut<'_, T>) -> Result<()>;
    /// The last pass's reduced statistics (gmm_estep.cu's layout).
    fn reduced(&mut self) -> Result<Vec<f64>>;
    /// Sample `row` (D values).
    fn row(&mut self, row: usize) -> Result<Vec<T>>;
}

/// Merges the last pass's statistics into `stats` (reset to the means of `model`, the pass's
/// shifts), as an E-step on the host would leave them.
fn download_stats<T: GpuScalar, G: GmmDevice<T> + ?Sized>(
    dev: &mut G,
    model: &MixtureRef<'_, T>,
    summary: &PassSummary,
    stats: &mut StatsMut<'_, T>,
) -> Result<()> {
    stats.reset(model.means())?;
    let reduced = dev.reduced()?;
    let worst = match summary.worst_row {
        Some(row) => Some((summary.worst, row, dev.row(row)?)),
        None => None,
    };
    merge_device_stats(
        model,
        dev.samples() as u64,
        &reduced,
        summary.log_likelihood,
        worst.as_ref().map(|(w, r, x)| (*w, *r, x.as_slice())),
        stats,
    )?;
    Ok(())
}

/// EM from the parameters in `model` with everything resident on `dev` (see the module docs);
/// on return `model` holds the fitted parameters (U and log_norm refreshed on the host, in T)
/// and `stats` the statistics of the final scoring pass.
///
/// Errors: the kernels crate's (`ZeroDensity`, `NotPositiveDefinite`, …, as `em_loop` gives
/// them) and the device's.
pub fn device_em_loop<T: GpuScalar, G: GmmDevice<T> + ?Sized>(
    dev: &mut G,
    model: &mut MixtureMut<'_, T>,
    stats: &mut StatsMut<'_, T>,
    config: &FitConfig<T>,
) -> Result<FitReport<T>> {
    config.validate()?;
    let n = dev.samples();
    let reg = config.reg_covar.to_f64();
    // The CPU M-step's empty-component threshold, 10·ε·N in T.
    let empty_below = (T::from_f64(10.0) * T::EPSILON * T::from_f64(n as f64)).to_f64();
    dev.load(&model.as_ref(), Slot::Current)?;
    let mut lower_bound = T::NEG_INFINITY;
    let mut converged = false;
    let mut n_iter = 0;
    let mut reseeded = 0u32;
    for iter in 1..=config.max_iter {
        let previous = lower_bound;
        dev.pass()?;
        dev.mstep(reg, empty_below)?;
        let summary = dev.read()?;
        summary.check_density()?;
        lower_bound = T::from_f64(summary.log_likelihood / n as f64);
        if summary.unfinished.is_some() {
            // The host finishes this iteration from the device's statistics: the model the pass
            // used is the current slot.
            // (`finish` overwrites and refreshes the model: the stored U and log_norm are stale
            // until then, and only the means — the shifts — are read before.)
            dev.store(Slot::Current, model)?;
            download_stats(dev, &model.as_ref(), &summary, stats)?;
            reseeded += stats.finish(model, config.reg_covar, config.reseed_empty)? as u32;
            dev.load(&model.as_ref(), Slot::Next)?;
        }
        dev.swap();
        n_iter = iter;
        if (lower_bound - previous).abs() < config.tol {
            converged = true;
            break;
        }
    }
    dev.pass()?;
    let summary = dev.read()?;
    summary.check_density()?;
    dev.store(Slot::Current, model)?;
    model.refresh()?;
    download_stats(dev, &model.as_ref(), &summary, stats)?;
    Ok(FitReport::from_run(n_iter, converged, lower_bound, reseeded, stats.totals())?)
}
