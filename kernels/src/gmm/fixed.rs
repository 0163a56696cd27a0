//! Const-generic, inline-storage mixture and statistics: what firmware uses.
//!
//! `GaussianMixture<T, K, D>` and `SufficientStats<T, K, D>` own arrays and lend them to the
//! slice routines, so the fixed-size API computes exactly what the runtime-sized one does.

use super::CovarianceKind;
use super::em::{FitConfig, FitReport, em_loop, fit};
use super::estep::SerialEStep;
use super::model::{MixtureInner, argmax, overflow_is_zero_density};
use super::stats::StatsInner;
use super::storage::Arrays;
use super::totals::Totals;
use super::unrolled::{self, check_sample};
#[cfg(doc)]
use super::{MixtureRef, model::MixtureMut, stats::StatsMut};
use crate::{Error, Real, Result};
use rand_core::Rng;

/// A K-component mixture of D-dimensional Gaussians with inline storage
/// (2·K·D² + K·D + 2·K scalars): [`MixtureInner`] over [`Arrays`]. Always valid: constructors
/// and updates refresh and check the Cholesky factors, so every density is finite for finite
/// input. [`MixtureInner::view`] / [`MixtureInner::view_mut`] lend it to the slice routines.
pub type GaussianMixture<T, const K: usize, const D: usize> = MixtureInner<Arrays<T, K, D>>;

impl<T: Real, const K: usize, const D: usize> GaussianMixture<T, K, D> {
    const SIZES_OK: () = assert!(K > 0 && D > 0, "a mixture needs K ≥ 1 and D ≥ 1");

    fn zeroed(kind: CovarianceKind) -> Self {
        let () = Self::SIZES_OK;
        Self {
            shape: kind,
            weights: [T::ZERO; K],
            means: [[T::ZERO; D]; K],
            covariances: [[[T::ZERO; D]; D]; K],
            precisions_cholesky: [[[T::ZERO; D]; D]; K],
            log_norm: [T::ZERO; K],
        }
    }

    /// Weights 1/K, means 0, covariances I: a valid model of `kind` without the checks and
    /// factorizations of [`Self::new`] (U = I; log_norm = ln(1/K) − (D/2) ln 2π, what
    /// `refresh` gives up to rounding). For storage that a fit overwrites before anyone reads
    /// it (the monitor's warm-up), so that a monitor-only image links no `new`.
    pub(crate) fn standard(kind: CovarianceKind) -> Self {
        let mut m = Self::zeroed(kind);
        let w = T::ONE / T::from_usize(K);
        let log_norm = w.ln() - T::from_f64(0.5 * D as f64) * T::LN_2PI;
        for k in 0..K {
            m.weights[k] = w;
            m.log_norm[k] = log_norm;
            for i in 0..D {
                m.covariances[k][i][i] = T::ONE;
                m.precisions_cholesky[k][i][i] = T::ONE;
            }
        }
        m
    }

    /// A mixture from weights (≥ 0, sum 1 within √ε), means and covariances (symmetric positive
    /// definite; zero off the diagonal for `diag`, also equal diagonal for `spherical`).
    /// Errors as [`MixtureMut::refresh`].
    pub fn new(
        kind: CovarianceKind,
        weights: [T; K],
        means: [[T; D]; K],
        covariances: [[[T; D]; D]; K],
    ) -> Result<Self> {
        let mut m = Self::zeroed(kind);
        m.weights = weights;
        m.means = means;
        m.covariances = covariances;
        m.view_mut().refresh()?;
        Ok(m)
    }

    /// Mixing weights α.
    pub fn weights(&self) -> &[T; K] {
        &self.weights
    }
    /// Means μ_k.
    pub fn means(&self) -> &[[T; D]; K] {
        &self.means
    }
    /// Covariances Σ_k (including the `reg_covar` the fit added).
    pub fn covariances(&self) -> &[[[T; D]; D]; K] {
        &self.covariances
    }
    /// U_k = L_k⁻ᵀ (upper triangular), Σ_k⁻¹ = U_k U_kᵀ.
    pub fn precisions_cholesky(&self) -> &[[[T; D]; D]; K] {
        &self.precisions_cholesky
    }

    /// ln p(x) = logsumexp_k(ln α_k N(x; μ_k, Σ_k)) (as [`MixtureRef::log_density`], bit for
    /// bit, unrolled at K and D). Errors: `NonFiniteSample` for NaN/±∞ in `x`.
    pub fn log_density(&self, x: &[T; D]) -> Result<T> {
        unrolled::log_density(self, x)
    }

    /// Responsibilities q_k(x) into `proba`; returns ln p(x). Errors: `NonFiniteSample`,
    /// `ZeroDensity` (then `proba` holds the log-probabilities), as
    /// [`MixtureRef::predict_proba`].
    pub fn predict_proba(&self, x: &[T; D], proba: &mut [T; K]) -> Result<T> {
        unrolled::predict_proba(self, x, proba)
    }

    /// argmax_k q_k(x) (ties: the lowest k).
    pub fn predict(&self, x: &[T; D]) -> Result<usize> {
        check_sample(x)?;
        let mut dev = [[T::ZERO; D]; K];
        let mut lp = unrolled::log_probs(self, x, &mut dev);
        overflow_is_zero_density(x, &mut lp);
        Ok(argmax(&lp))
    }

    /// One draw x ~ p and the component it came from.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> ([T; D], usize) {
        let mut x = [T::ZERO; D];
        // Lengths match by construction, so the only error path cannot occur.
        let k = self.view().sample(rng, &mut x).unwrap_or(0);
        (x, k)
    }

    /// Mean log-likelihood (1/N) Σ ln p(x_i). Errors: `EmptyData`, `NonFiniteSample`.
    pub fn score(&self, data: &[[T; D]]) -> Result<T> {
        let mut stats = SufficientStats::<T, K, D>::new(self.kind());
        stats.reset(self);
        for (i, x) in (0..data.len()).zip(data) {
            stats.accumulate(self, x).map_err(|e| e.offset_sample(i))?;
        }
        stats.totals().mean_log_likelihood()
    }

    /// BIC = −2 Σ ln p(x_i) + p ln N on `data`.
    pub fn bic(&self, data: &[[T; D]]) -> Result<T> {
        let report = self.pseudo_report(data)?;
        Ok(report.bic(self.kind(), K, D))
    }

    /// AIC = −2 Σ ln p(x_i) + 2 p on `data`.
    pub fn aic(&self, data: &[[T; D]]) -> Result<T> {
        let report = self.pseudo_report(data)?;
        Ok(report.aic(self.kind(), K, D))
    }

    fn pseudo_report(&self, data: &[[T; D]]) -> Result<FitReport<T>> {
        let mean = self.score(data)?;
        Ok(FitReport {
            n_iter: 0,
            converged: true,
            lower_bound: mean,
            mean_log_likelihood: mean,
            samples: data.len() as u64,
            total_weight: T::from_usize(data.len()),
            reseeded: 0,
            empty: 0,
            best_init: 0,
            backend: crate::BACKEND,
        })
    }

    /// Fits by EM (`config.n_init` initializations, each run to `tol` or `max_iter`).
    /// Uses stack for three models' worth of storage. Errors: see [`fit`].
    pub fn fit<R: Rng + ?Sized>(
        data: &[[T; D]],
        config: &FitConfig<T>,
        rng: &mut R,
    ) -> Result<(Self, FitReport<T>)> {
        let mut best = Self::zeroed(config.kind);
        let mut trial = Self::zeroed(config.kind);
        let mut stats = SufficientStats::<T, K, D>::new(config.kind);
        let mut lp = [T::ZERO; K];
        let mut work = [[T::ZERO; D]; 2];
        let mut init_work = [T::ZERO; D];
        let flat = data.as_flattened();
        let mut estep = SerialEStep::new(flat, &mut lp, work.as_flattened_mut());
        let report = fit(
            flat,
            &mut best.view_mut(),
            &mut trial.view_mut(),
            &mut stats.view_mut(),
            &mut estep,
            config,
            rng,
            &mut init_work,
            None,
        )?;
        Ok((best, report))
    }

    /// EM from these parameters (no initialization; `config.init`/`n_init` unused).
    /// `config.kind` must equal `self.kind()`.
    pub fn refine(&self, data: &[[T; D]], config: &FitConfig<T>) -> Result<(Self, FitReport<T>)> {
        if config.kind != self.kind() {
            return Err(Error::InvalidParameter { name: "kind", reason: "differs from the model's" });
        }
        let flat = data.as_flattened();
        super::validate_data(flat, D, K)?;
        let mut model = *self;
        let mut stats = SufficientStats::<T, K, D>::new(self.kind());
        let mut lp = [T::ZERO; K];
        let mut work = [[T::ZERO; D]; 2];
        let mut estep = SerialEStep::new(flat, &mut lp, work.as_flattened_mut());
        let report = em_loop(&mut model.view_mut(), &mut stats.view_mut(), &mut estep, config)?;
        Ok((model, report))
    }
}

/// Sufficient statistics of a K × D mixture with inline storage (K·D² + 2·K·D + K + D scalars
/// plus totals): [`StatsInner`] over [`Arrays`]; see [`StatsMut`] for the formulas.
pub type SufficientStats<T, const K: usize, const D: usize> = StatsInner<Arrays<T, K, D>>;

impl<T: Real, const K: usize, const D: usize> SufficientStats<T, K, D> {
    /// Empty statistics with zero shifts; call [`Self::reset`] with the model before use.
    pub fn new(kind: CovarianceKind) -> Self {
        Self {
            shape: kind,
            shift: [[T::ZERO; D]; K],
            resp: [T::ZERO; K],
            s1: [[T::ZERO; D]; K],
            s2: [[[T::ZERO; D]; D]; K],
            worst: [T::ZERO; D],
            totals: Totals::default(),
        }
    }

    /// Empties the statistics, shifting by `model`'s means (and adopting its kind).
    pub fn reset(&mut self, model: &GaussianMixture<T, K, D>) {
        self.shape = model.shape;
        // Same lengths by construction: cannot fail.
        let _ = self.view_mut().reset(model.means.as_flattened());
    }

    /// E-step and accumulation of one sample under `model` (see [`StatsMut::accumulate`]; the
    /// same bits, unrolled at K and D).
    pub fn accumulate(&mut self, model: &GaussianMixture<T, K, D>, x: &[T; D]) -> Result<T> {
        unrolled::accumulate(self, model, x)
    }

    /// Adds `other` (see [`StatsMut::merge`]).
    pub fn merge(&mut self, other: &Self) -> Result<()> {
        self.view_mut().merge(&other.view())
    }

    /// M-step into `model` (see [`StatsMut::finish`]: the same bits); returns the number of
    /// re-seeded components. On error `model` is unchanged. In place, without a copy of the
    /// model, except for tied models and M-steps that re-seed (see `unrolled::finish`).
    pub fn finish(&self, model: &mut GaussianMixture<T, K, D>, reg_covar: T, reseed: bool) -> Result<usize> {
        unrolled::finish(self, model, reg_covar, reseed)
    }

    /// n_k = Σ r_k.
    pub fn resp_sums(&self) -> &[T; K] {
        &self.resp
    }
}

#[cfg(feature = "nalgebra")]
mod nalgebra_interop {
    //! Zero-cost conversions to nalgebra's fixed-size types (`SVector`, `SMatrix`).
    use super::*;
    use nalgebra::{SMatrix, SVector, Scalar};

    impl<T: Real + Scalar, const K: usize, const D: usize> GaussianMixture<T, K, D> {
        /// μ_k as an `SVector<T, D>`.
        pub fn mean_vector(&self, k: usize) -> Option<SVector<T, D>> {
            self.means.get(k).map(|m| SVector::from_column_slice(m))
        }
        /// Σ_k as an `SMatrix<T, D, D>` (symmetric, so row- and column-major agree).
        pub fn covariance_matrix(&self, k: usize) -> Option<SMatrix<T, D, D>> {
            self.covariances.get(k).map(|c| SMatrix::from_column_slice(c.as_flattened()))
        }
        /// A mixture from nalgebra means and covariances; errors as [`GaussianMixture::new`].
        pub fn from_nalgebra(
            kind: CovarianceKind,
            weights: [T; K],
            means: &[SVector<T, D>; K],
            covariances: &[SMatrix<T, D, D>; K],
        ) -> Result<Self> {
            let mut m = [[T::ZERO; D]; K];
            let mut c = [[[T::ZERO; D]; D]; K];
            for k in 0..K {
                for i in 0..D {
                    m[k][i] = means[k][i];
                    for j in 0..D {
                        c[k][i][j] = covariances[k][(i, j)];
                    }
                }
            }
            Self::new(kind, weights, m, c)
        }
        /// ln p(x) for an nalgebra vector.
        pub fn log_density_vector(&self, x: &SVector<T, D>) -> Result<T> {
            let mut a = [T::ZERO; D];
            a.copy_from_slice(x.as_slice());
            self.log_density(&a)
        }
    }
}
