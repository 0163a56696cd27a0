//! Batch EM: restarts, the iteration loop and its stopping rule (scikit-learn's semantics).
//!
//! Each iteration is one pass of accumulate (E-step fused with the sufficient statistics) and
//! one finish (M-step). How the pass over the data is executed — serially here, on threads or a
//! GPU in the host crate — is the [`EStep`] implementation's business; the loop is shared.

use super::estep::EStep;
use super::init::{InitMethod, initialize_weighted};
use super::model::MixtureMut;
use super::stats::{StatsMut, StatsRef};
use super::{CovarianceKind, validate_data};
use crate::{BACKEND, Error, MathBackend, Real, Result};
use rand_core::Rng;

/// Settings of a batch fit. Defaults are scikit-learn's `GaussianMixture` defaults (`kmeans`
/// initialization included).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FitConfig<T> {
    /// Covariance structure (default `Full`).
    pub kind: CovarianceKind,
    /// Initialization (default `KMeans`, scikit-learn's).
    pub init: InitMethod,
    /// Number of initializations; the one with the best final lower bound is kept (default 1;
    /// with `max_iter` 0 the last one, as scikit-learn keeps it).
    pub n_init: u32,
    /// Maximum EM iterations per initialization (default 100); 0 returns the initialization
    /// itself (`n_iter` 0, as scikit-learn since 1.2).
    pub max_iter: u32,
    /// Stop when |Δ mean log-likelihood| between iterations is below this (default 1e-3).
    pub tol: T,
    /// Added to every covariance diagonal in the M-step (default 1e-6).
    pub reg_covar: T,
    /// Re-seed, in the initialization's M-step, a centre that wins no sample (default true);
    /// see [`StatsMut::finish`]. EM iterations never re-seed (see [`em_loop`]): that is what
    /// keeps the lower bound monotone.
    pub reseed_empty: bool,
}

impl<T: Real> Default for FitConfig<T> {
    fn default() -> Self {
        Self {
            kind: CovarianceKind::Full,
            init: InitMethod::KMeans,
            n_init: 1,
            max_iter: 100,
            tol: T::from_f64(1e-3),
            reg_covar: T::from_f64(1e-6),
            reseed_empty: true,
        }
    }
}

impl<T: Real> FitConfig<T> {
    /// `n_init ≥ 1`, `tol` and `reg_covar` finite and ≥ 0 (`max_iter` 0 is allowed).
    #[inline(never)]
    pub fn validate(&self) -> Result<()> {
        if self.n_init == 0 {
            return Err(Error::InvalidParameter { name: "n_init", reason: "must be at least 1" });
        }
        if !(self.tol >= T::ZERO) || !self.tol.is_finite() {
            return Err(Error::InvalidParameter { name: "tol", reason: "must be finite and non-negative" });
        }
        if !(self.reg_covar >= T::ZERO) || !self.reg_covar.is_finite() {
            return Err(Error::InvalidParameter {
                name: "reg_covar",
                reason: "must be finite and non-negative",
            });
        }
        Ok(())
    }
}

/// What a fit did.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FitReport<T> {
    /// EM iterations run by the kept initialization.
    pub n_iter: u32,
    /// Whether it stopped on `tol` before `max_iter`.
    pub converged: bool,
    /// scikit-learn's `lower_bound_`: the mean log-likelihood at the last E-step (under the
    /// parameters before the last M-step). With `max_iter` 0 (no E-step) the mean
    /// log-likelihood of the initialization (scikit-learn reports −∞ there).
    pub lower_bound: T,
    /// Mean log-likelihood of the data under the returned parameters (≥ `lower_bound` by the
    /// monotonicity of EM).
    pub mean_log_likelihood: T,
    /// Number of data samples N.
    pub samples: u64,
    /// Their total weight W = Σ w (N for unweighted data): the sample size of BIC and AIC.
    pub total_weight: T,
    /// Components re-seeded in the kept run's initialization (EM iterations never re-seed).
    pub reseeded: u32,
    /// Components of the returned model with no responsibility left (n_k ≤ 10·ε·N in the final
    /// scoring pass, [`StatsRef::empty_components`]): kept with their last mean and covariance
    /// and weight n_k / N, reported here instead of being re-seeded.
    pub empty: u32,
    /// Which initialization (0-based) was kept.
    pub best_init: u32,
    /// Math backend of this build.
    pub backend: MathBackend,
}

impl<T: Real> FitReport<T> {
    /// The report of one EM run whose final scoring pass left `stats`: `mean_log_likelihood`,
    /// `samples` and `empty` come from them; `best_init` 0 (set by `fit`), `backend` this
    /// build's.
    ///
    /// Errors: those of [`super::Totals::mean_log_likelihood`] (no samples).
    pub fn from_run(
        n_iter: u32,
        converged: bool,
        lower_bound: T,
        reseeded: u32,
        stats: &StatsRef<'_, T>,
    ) -> Result<Self> {
        let totals = stats.totals();
        Ok(Self {
            empty: stats.empty_components() as u32,
            n_iter,
            converged,
            lower_bound,
            mean_log_likelihood: totals.mean_log_likelihood()?,
            samples: totals.samples,
            total_weight: totals.total_weight(),
            reseeded,
            best_init: 0,
            backend: BACKEND,
        })
    }

    /// Bayesian information criterion −2 W ℓ̄ + p ln W, p = free parameters (scikit-learn's),
    /// W the total weight (N unweighted).
    pub fn bic(&self, kind: CovarianceKind, components: usize, features: usize) -> T {
        let n = self.total_weight;
        let p = T::from_usize(kind.model_parameters(components, features));
        -(T::ONE + T::ONE) * self.mean_log_likelihood * n + p * n.ln()
    }
    /// Akaike information criterion −2 W ℓ̄ + 2 p.
    pub fn aic(&self, kind: CovarianceKind, components: usize, features: usize) -> T {
        let n = self.total_weight;
        let p = T::from_usize(kind.model_parameters(components, features));
        let two = T::ONE + T::ONE;
        -two * self.mean_log_likelihood * n + two * p
    }
}

/// EM iterations from the parameters in `model` until |Δ lower bound| < `tol` or `max_iter`,
/// then one more pass for the mean log-likelihood of the returned parameters.
///
/// Each iteration: reset `stats` with shifts = current means, `estep.accumulate`, lower bound =
/// mean log-likelihood, `finish` (M-step). `config.n_init` and `config.init` are not used here.
///
/// **Monotone by construction: the iterations never re-seed.** Every M-step is the exact one
/// (`finish` with `reseed = false`): a component that loses its responsibility keeps its mean
/// and covariance with weight n_k / N (possibly 0), and is counted in [`FitReport::empty`].
/// Re-seeding it (weight 1/K, pooled covariance) would move weight away from the optimum the
/// iteration just found; on duplicated data it then loses that weight again and is re-seeded
/// again, and the lower bound cycles (two points ×5, K = 10, diag: 29.2509 ↔ 28.6631) instead
/// of converging as scikit-learn, which never re-seeds, does. Re-seeding is left to the
/// initialization ([`super::initialize`]), which has no lower bound to keep. So, up to
/// rounding and the `reg_covar` added to each covariance, ℓ(θ_{t+1}) ≥ ℓ(θ_t) (the lecture's
/// EM theorem), which `tests/tests/gmm_properties.rs` checks on degenerate data.
pub fn em_loop<T: Real, E: EStep<T> + ?Sized>(
    model: &mut MixtureMut<'_, T>,
    stats: &mut StatsMut<'_, T>,
    estep: &mut E,
    config: &FitConfig<T>,
) -> Result<FitReport<T>> {
    em_loop_observed(model, stats, estep, config, &mut |_, _| {})
}

/// [`em_loop`], calling `observe(t, lower bound of iteration t)` after each iteration t ≥ 1
/// (scikit-learn's `lower_bounds_` and `verbose` lines).
pub fn em_loop_observed<T: Real, E: EStep<T> + ?Sized>(
    model: &mut MixtureMut<'_, T>,
    stats: &mut StatsMut<'_, T>,
    estep: &mut E,
    config: &FitConfig<T>,
    observe: &mut dyn FnMut(u32, T),
) -> Result<FitReport<T>> {
    config.validate()?;
    let mut lower_bound = T::NEG_INFINITY;
    let mut converged = false;
    let mut n_iter = 0;
    for iter in 1..=config.max_iter {
        let previous = lower_bound;
        stats.reset(model.as_ref().means())?;
        estep.accumulate(&model.as_ref(), stats)?;
        lower_bound = stats.totals().mean_log_likelihood()?;
        stats.finish(model, config.reg_covar, false)?;
        n_iter = iter;
        observe(iter, lower_bound);
        if (lower_bound - previous).abs() < config.tol {
            converged = true;
            break;
        }
    }
    stats.reset(model.as_ref().means())?;
    estep.accumulate(&model.as_ref(), stats)?;
    if n_iter == 0 {
        lower_bound = stats.totals().mean_log_likelihood()?;
    }
    FitReport::from_run(n_iter, converged, lower_bound, 0, &stats.as_ref())
}

/// Fits a mixture to `data` (N × D row-major): `config.n_init` times initialize
/// ([`initialize`](super::initialize)) and run [`em_loop`] in `trial`, keeping in `best` the run with the highest
/// final lower bound (scikit-learn's rule). `work` ≥ D; `dist` as in
/// [`super::init::choose_centres`].
///
/// Errors: those of [`validate_data`], [`FitConfig::validate`], initialization and the M-step.
#[allow(clippy::too_many_arguments)]
pub fn fit<T: Real, E: EStep<T> + ?Sized, R: Rng + ?Sized>(
    data: &[T],
    best: &mut MixtureMut<'_, T>,
    trial: &mut MixtureMut<'_, T>,
    stats: &mut StatsMut<'_, T>,
    estep: &mut E,
    config: &FitConfig<T>,
    rng: &mut R,
    work: &mut [T],
    dist: Option<&mut [T]>,
) -> Result<FitReport<T>> {
    fit_with(data, best, trial, stats, config, rng, work, dist, |model, stats, config| {
        em_loop(model, stats, estep, config)
    })
}

/// [`fit`] with each initialization's EM iterations run by `run(model, stats, config)` in place
/// of [`em_loop`] over an E-step — a backend's own loop, e.g. one that keeps data and model on a
/// device; `run` must leave the fitted parameters in `model` and report as `em_loop` does.
#[allow(clippy::too_many_arguments)]
pub fn fit_with<T: Real, R: Rng + ?Sized, F>(
    data: &[T],
    best: &mut MixtureMut<'_, T>,
    trial: &mut MixtureMut<'_, T>,
    stats: &mut StatsMut<'_, T>,
    config: &FitConfig<T>,
    rng: &mut R,
    work: &mut [T],
    dist: Option<&mut [T]>,
    run: F,
) -> Result<FitReport<T>>
where
    F: FnMut(&mut MixtureMut<'_, T>, &mut StatsMut<'_, T>, &FitConfig<T>) -> Result<FitReport<T>>,
{
    fit_weighted_with(data, None, best, trial, stats, config, rng, work, dist, run)
}

/// [`fit_with`] whose initializations see sample weights ([`super::initialize_weighted`]: a
/// row of weight w counts as w rows); `run`'s E-step must weigh the rows alike. `None` is
/// exactly [`fit_with`].
///
/// Which run is kept: the first, then any with a strictly higher final lower bound
/// (scikit-learn's `lower_bound > max_lower_bound`); with `max_iter` 0 the **last**
/// initialization, as scikit-learn 1.9.1 does (its `fit_predict` sets `best_params` in every
/// initialization when `max_iter == 0`).
#[allow(clippy::too_many_arguments)]
pub fn fit_weighted_with<T: Real, R: Rng + ?Sized, F>(
    data: &[T],
    weights: Option<&[T]>,
    best: &mut MixtureMut<'_, T>,
    trial: &mut MixtureMut<'_, T>,
    stats: &mut StatsMut<'_, T>,
    config: &FitConfig<T>,
    rng: &mut R,
    work: &mut [T],
    mut dist: Option<&mut [T]>,
    mut run: F,
) -> Result<FitReport<T>>
where
    F: FnMut(&mut MixtureMut<'_, T>, &mut StatsMut<'_, T>, &FitConfig<T>) -> Result<FitReport<T>>,
{
    config.validate()?;
    let shape = best.shape();
    if shape.kind != config.kind || trial.shape() != shape {
        return Err(Error::InvalidParameter {
            name: "kind",
            reason: "model storage and FitConfig disagree on the covariance kind or shape",
        });
    }
    validate_data(data, shape.features, shape.components)?;
    let mut kept: Option<FitReport<T>> = None;
    for init in 0..config.n_init {
        let init_reseeded = initialize_weighted(
            data,
            weights,
            trial,
            stats,
            config.init,
            config.reg_covar,
            rng,
            work,
            dist.as_deref_mut(),
        )?;
        let mut report = run(trial, stats, config)?;
        report.reseeded = report.reseeded.saturating_add(init_reseeded as u32);
        report.best_init = init;
        let better = match &kept {
            None => true,
            // max_iter 0: no EM ran, every run is an initialization; scikit-learn keeps the last.
            Some(_) if config.max_iter == 0 => true,
            Some(k) => report.lower_bound > k.lower_bound,
        };
        if better {
            best.copy_from(&trial.as_ref())?;
            kept = Some(report);
        }
    }
    kept.ok_or(Error::InvalidParameter { name: "n_init", reason: "must be at least 1" })
}
