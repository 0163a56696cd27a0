//! EM with data, model and statistics resident on a device: E-step pass, fixed-order reduction,
//! M-step and weight normalization all run there (`host/cuda/gmm_estep.cu`, `gmm_mstep.cu`), and
//! per iteration only a summary of five words — Σ ln p(x), the worst ln p(x) and its row, the
//! first unfinished component and its status — comes back for the convergence test.
//!
//! One loop, two executors: [`GmmDevice`] is implemented by the CUDA backend
//! (`cuda::CudaEm`, feature `cuda`) and by the g++ shim (`shim::ShimEm`, feature
//! `cuda-shim`), so CI runs the launch sequence the GPU runs and compares it with the CPU fit.
//!
//! The semantics are [`crabmix_kernels::gmm::em_loop`]'s: the lower bound of iteration i is the
//! mean log-likelihood under the parameters the i-th E-step used; stop when it changes by less
//! than `tol` or after `max_iter`; one more pass scores the returned parameters. The device
//! M-step computes in double from the reduced (double) statistics; when it cannot finish a
//! component as the host would — empty (kept, weight n_k / N), not positive definite, not finite in T,
//! D > 64 — the host runs the kernels crate's M-step on the downloaded statistics for that
//! iteration, so empty components and the typed errors are the CPU path's. One difference remains in
//! f32: a covariance positive definite in double but not in f32 is finished on the device, where
//! the f32 CPU M-step would report `NotPositiveDefinite`.

use crate::device::error::BackendError;
use crate::device::layout::merge_device_stats;
use crate::device::scalar::GpuScalar;
use crate::device::traits::{GmmDevice, PassSummary, Slot};
use crabmix_kernels::gmm::{FitConfig, FitReport, MixtureMut, MixtureRef, StatsMut};

type Result<T> = std::result::Result<T, BackendError>;

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
    device_em_loop_observed(dev, model, stats, config, &mut |_, _| {})
}

/// [`device_em_loop`], calling `observe(t, lower bound of iteration t)` after each iteration, as
/// the kernels' `em_loop_observed` does.
pub fn device_em_loop_observed<T: GpuScalar, G: GmmDevice<T> + ?Sized>(
    dev: &mut G,
    model: &mut MixtureMut<'_, T>,
    stats: &mut StatsMut<'_, T>,
    config: &FitConfig<T>,
    observe: &mut dyn FnMut(u32, T),
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
            // Exact M-step, as `em_loop`'s: iterations never re-seed (monotone lower bound).
            stats.finish(model, config.reg_covar, false)?;
            dev.load(&model.as_ref(), Slot::Next)?;
        }
        dev.swap();
        n_iter = iter;
        observe(iter, lower_bound);
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
    if n_iter == 0 {
        lower_bound = stats.totals().mean_log_likelihood()?;
    }
    Ok(FitReport::from_run(n_iter, converged, lower_bound, 0, &stats.as_ref())?)
}
