//! Online (stepwise) EM for unbounded streams in fixed memory (Cappé & Moulines 2009).
//!
//! The expected sufficient statistics are averaged with step size γ_n = (n + n0)^(−α),
//! α ∈ (0.5, 1]: s_n = s_{n−1} + γ_n (s̄(x_n; θ_{n−1}) − s_{n−1}), θ_n = M-step(s_n).
//! Kept in the stable parameterization (α_k, μ_k, Σ_k) rather than raw moments, one update is
//! (r_k the responsibilities of x_n under θ_{n−1}, δ_k = x_n − μ_k):
//!
//! * α_k ← (1 − γ) α_k + γ r_k
//! * η_k = γ r_k / α_k(new),  μ_k ← μ_k + η_k δ_k
//! * Σ_k ← (1 − η_k) Σ_k + η_k (1 − η_k) δ_k δ_kᵀ + η_k · reg · I
//!
//! which is exactly the statistics recursion (a Welford-style weighted update: no Σ x xᵀ − μμᵀ
//! cancellation), with the `reg`·I that the model's covariances carry kept at exactly `reg`.
//! The weights keep summing to one. Cost per sample: the E-step plus K Cholesky refreshes
//! (K·D³/3 for `full`).

use super::em::{FitConfig, FitReport, em_loop};
use super::estep::SerialEStep;
use super::fixed::{GaussianMixture, SufficientStats};
use super::init::initialize;
use super::model::{MixtureMut, sample_responsibilities};
use super::unrolled;
use super::{CovarianceKind, diagonal_mut, validate_data};
use crate::linalg::rows::rows_mut;
use crate::{Error, Real, Result};
use rand_core::Rng;

/// Step-size schedule and regularization of online EM.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OnlineConfig<T> {
    /// Exponent α ∈ (0.5, 1] of γ_n = (n + n0)^(−α) (default 0.6, as in Cappé & Moulines' examples).
    pub alpha: T,
    /// Offset n0 ≥ 0: how many samples' worth the initial model counts for (default 10).
    pub n0: T,
    /// Regularization the covariances carry, as `reg_covar` in batch EM (default 1e-6).
    pub reg_covar: T,
    /// Polyak–Ruppert averaging: from this many samples on, [`OnlineEm::averaged`] returns the
    /// running mean of the parameters, which for α < 1 removes most of the step-size noise
    /// (Cappé & Moulines 2009, §2.3). `None` (default) keeps no average and no extra memory use.
    pub average_from: Option<u64>,
}

impl<T: Real> Default for OnlineConfig<T> {
    fn default() -> Self {
        Self {
            alpha: T::from_f64(0.6),
            n0: T::from_f64(10.0),
            reg_covar: T::from_f64(1e-6),
            average_from: None,
        }
    }
}

impl<T: Real> OnlineConfig<T> {
    /// α ∈ (0.5, 1], n0 ≥ 0 and reg_covar ≥ 0, all finite.
    #[inline(never)]
    pub fn validate(&self) -> Result<()> {
        let half = T::from_f64(0.5);
        if !(self.alpha > half && self.alpha <= T::ONE) {
            return Err(Error::InvalidParameter { name: "alpha", reason: "must lie in (0.5, 1]" });
        }
        if !(self.n0 >= T::ZERO) || !self.n0.is_finite() {
            return Err(Error::InvalidParameter { name: "n0", reason: "must be finite and non-negative" });
        }
        if !(self.reg_covar >= T::ZERO) || !self.reg_covar.is_finite() {
            return Err(Error::InvalidParameter {
                name: "reg_covar",
                reason: "must be finite and non-negative",
            });
        }
        Ok(())
    }

    /// γ_n = (n + n0)^(−α) for the n-th sample (n ≥ 1); γ ≤ 1 whenever n + n0 ≥ 1.
    ///
    /// α = 1 gives 1/(n + n0), correctly rounded (what libm's `powf`/`pow` return for y = −1);
    /// other α give e^(−α ln(n + n0)), within ≈ α ln(n + n0) ulp of the exact power (≤ 1e-5
    /// relative in f32 for n + n0 < 2^24): exp and ln are in every image that scores, a `powf`
    /// would add 1.4 KiB of flash on the Cortex-M0.
    pub fn step_size(&self, n: u64) -> T {
        let base = (T::from_u64(n) + self.n0).max(T::ONE);
        if self.alpha == T::ONE { T::ONE / base } else { (-self.alpha * base.ln()).exp_neg() }
    }
}

/// One online-EM update of `model` with sample `x` and step `gamma` ∈ (0, 1]; returns ln p(x)
/// under the model *before* the update (what an anomaly detector thresholds).
///
/// `log_probs` ≥ K, `work` ≥ 2·D. Errors: `NonFiniteSample` (model untouched), `InvalidParameter`
/// for γ outside (0, 1], and `refresh` errors — after which the model is partly updated: keep a
/// copy to roll back ([`OnlineEm`] does).
pub fn online_step<T: Real>(
    model: &mut MixtureMut<'_, T>,
    x: &[T],
    gamma: T,
    reg_covar: T,
    log_probs: &mut [T],
    work: &mut [T],
) -> Result<T> {
    if !(gamma > T::ZERO && gamma <= T::ONE) {
        return Err(Error::InvalidParameter { name: "gamma", reason: "step size must lie in (0, 1]" });
    }
    if let Some(feature) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFiniteSample { sample: 0, feature });
    }
    let shape = model.shape();
    let (_, d, dd) = shape.dims()?;
    let q = model.as_ref().log_probs_into(x, log_probs, work)?;
    let lse = sample_responsibilities(x, q).ok_or(Error::ZeroDensity { sample: 0 })?;
    let found = work.len();
    let Some(dev) = work.get_mut(..d) else {
        return Err(Error::ShapeMismatch { what: "work buffer", expected: d, found });
    };
    let one = T::ONE;
    let (weights, means, covs) = model.parameters_mut();
    let components = q.iter().zip(weights.iter_mut()).zip(rows_mut(means, d).zip(rows_mut(covs, dd)));
    for ((&r, w), (mu, cov)) in components {
        let w_old = *w;
        let w_new = (one - gamma) * w_old + gamma * r;
        *w = w_new;
        if !(w_new > T::ZERO) || !(r > T::ZERO) {
            continue;
        }
        let eta = (gamma * r / w_new).min(one);
        for ((v, m), &xi) in dev.iter_mut().zip(mu.iter_mut()).zip(x) {
            *v = xi - *m;
            *m += eta * *v;
        }
        let keep = one - eta;
        let spread = eta * keep;
        match shape.kind {
            // Tied models are refused by `OnlineEm::new`; a slice caller gets per-component
            // full updates.
            CovarianceKind::Full | CovarianceKind::Tied => {
                for (row, &di) in rows_mut(cov, d).zip(dev.iter()) {
                    for (c, &dj) in row.iter_mut().zip(dev.iter()) {
                        // di·dj first: the product commutes, so Σ stays exactly symmetric
                        // ((spread·di)·dj ≠ (spread·dj)·di in rounding, and the 1-ulp
                        // asymmetries piled up over thousands of steps until `refresh` rejected
                        // the matrix, issue 18).
                        *c = keep * *c + spread * (di * dj);
                    }
                }
            }
            CovarianceKind::Diag => {
                for (c, &di) in diagonal_mut(cov, d).zip(dev.iter()) {
                    *c = keep * *c + spread * di * di;
                }
            }
            CovarianceKind::Spherical => {
                let mut s = T::ZERO;
                for &v in dev.iter() {
                    s += v * v;
                }
                let Some(&c0) = cov.first() else {
                    continue;
                };
                let v = keep * c0 + spread * s / T::from_usize(d);
                for c in diagonal_mut(cov, d) {
                    *c = v;
                }
            }
        }
        for c in diagonal_mut(cov, d) {
            *c += eta * reg_covar;
        }
    }
    model.refresh()?;
    Ok(lse)
}

/// Online EM over a stream, in the memory of two models (current and averaged) plus counters.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OnlineEm<T, const K: usize, const D: usize> {
    model: GaussianMixture<T, K, D>,
    average: GaussianMixture<T, K, D>,
    averaged_samples: u64,
    config: OnlineConfig<T>,
    n: u64,
}

impl<T: Real, const K: usize, const D: usize> OnlineEm<T, K, D> {
    /// Starts from `initial` (e.g. a batch fit on a warm-up window). Errors: invalid `config`.
    pub fn new(initial: GaussianMixture<T, K, D>, config: OnlineConfig<T>) -> Result<Self> {
        config.validate()?;
        if initial.kind() == CovarianceKind::Tied {
            // Each sample's update moves one component's covariance: a tied model would untie.
            return Err(Error::InvalidParameter {
                name: "kind",
                reason: "online EM does not support tied covariances",
            });
        }
        Ok(Self { model: initial, average: initial, averaged_samples: 0, config, n: 0 })
    }

    /// Incorporates `x`; returns ln p(x) under the model before the update. On error the model
    /// is unchanged (restored from a copy taken before the step).
    pub fn update(&mut self, x: &[T; D]) -> Result<T> {
        let gamma = self.config.step_size(self.n.saturating_add(1));
        // One copy, for the rollback, instead of stepping a copy and copying it back: the second
        // copy of the model cost the Cortex-M4F ≈ 120 of ≈ 1 750 instructions per update.
        // Field by field: small arrays are copied inline, the whole struct went through memcpy.
        let m = &self.model;
        let saved = (m.weights, m.means, m.covariances, m.precisions_cholesky, m.log_norm);
        // `online_step` unrolled at K and D (same bits), reusing the density's deviations.
        let lse = match unrolled::online_step(&mut self.model, x, gamma, self.config.reg_covar) {
            Ok(lse) => lse,
            Err(e) => {
                let m = &mut self.model;
                (m.weights, m.means, m.covariances, m.precisions_cholesky, m.log_norm) = saved;
                return Err(e);
            }
        };
        self.n = self.n.saturating_add(1);
        if self.config.average_from.is_some_and(|from| self.n > from) {
            self.averaged_samples = self.averaged_samples.saturating_add(1);
            let step = T::ONE / T::from_u64(self.averaged_samples);
            // Parameters only; factors are refreshed when the average is read.
            let (mut avg, cur) = (self.average.view_mut(), self.model.view());
            for (a, c) in avg.weights_mut().iter_mut().zip(cur.weights()) {
                *a += (*c - *a) * step;
            }
            let (means, covs) = avg.means_and_covariances_mut();
            for (a, c) in means.iter_mut().zip(cur.means()) {
                *a += (*c - *a) * step;
            }
            for (a, c) in covs.iter_mut().zip(cur.covariances()) {
                *a += (*c - *a) * step;
            }
        }
        Ok(lse)
    }

    /// [`OnlineEm::update`] through the runtime-sized core ([`online_step`] on the model's
    /// slices: the same bits, `unrolled`'s tests) and without the Polyak average. For the
    /// monitor, whose batch fits run on the slice routines anyway, so that its image carries
    /// one copy of each kernel, and whose average storage is those fits' scratch, never read as
    /// an average (issue 18: with the monitor's scoring on the slices too, 3 532 B less flash on
    /// the Cortex-M0 and 5 460 B on the M4F at K = 4, D = 2, `firmware/golden/footprint.txt`).
    pub(crate) fn update_runtime_sized(&mut self, x: &[T; D]) -> Result<T> {
        let gamma = self.config.step_size(self.n.saturating_add(1));
        let mut next = self.model;
        let mut lp = [T::ZERO; K];
        let mut work = [[T::ZERO; D]; 2];
        let reg = self.config.reg_covar;
        let lse = online_step(&mut next.view_mut(), x, gamma, reg, &mut lp, work.as_flattened_mut())?;
        self.model = next;
        self.n = self.n.saturating_add(1);
        Ok(lse)
    }

    /// The Polyak–Ruppert average of the models since `average_from` (a convex combination of
    /// valid models, hence valid), or the current model when averaging has not started.
    pub fn averaged(&self) -> Result<GaussianMixture<T, K, D>> {
        if self.averaged_samples == 0 {
            return Ok(self.model);
        }
        let mut m = self.average;
        m.view_mut().refresh()?;
        Ok(m)
    }

    /// The current model.
    pub fn model(&self) -> &GaussianMixture<T, K, D> {
        &self.model
    }
    /// Samples incorporated so far.
    pub fn samples(&self) -> u64 {
        self.n
    }
    /// The schedule in use.
    pub fn config(&self) -> &OnlineConfig<T> {
        &self.config
    }

    /// Replaces the model, in place, by batch EM over `data` started from the current model, and
    /// restarts the online state: the result equals
    /// `OnlineEm::new(self.model().refine(data, config)?.0, *self.config())`, bit for bit.
    ///
    /// Why in place: [`GaussianMixture::refine`] returns a new model by value, and a refit built on
    /// it holds the old model, the refined one and a new `OnlineEm` on the stack at once. Here EM
    /// runs in the storage of the Polyak average (which restarts from the refit model anyway) and
    /// in the caller's `stats` (overwritten; firmware keeps them in static memory), so the call's
    /// stack is the EM loop's own.
    ///
    /// `config.kind` must equal the model's kind; `config.init` and `config.n_init` are unused.
    /// Errors: those of [`GaussianMixture::refine`]. On error the model and the sample count are
    /// unchanged, but the Polyak average restarts from the current model (its storage was the
    /// scratch space).
    pub fn refine(
        &mut self,
        data: &[[T; D]],
        config: &FitConfig<T>,
        stats: &mut SufficientStats<T, K, D>,
    ) -> Result<FitReport<T>> {
        self.check_batch(data, config, stats)?;
        self.average = self.model;
        let result = self.em_in_scratch(data.as_flattened(), config, stats);
        self.adopt_scratch(result)
    }

    /// Replaces the model, in place, by a batch fit over `data` from scratch (`config.init`, then
    /// EM), and restarts the online state: the result equals
    /// `OnlineEm::new(GaussianMixture::fit(data, config, rng)?.0, *self.config())`, bit for bit,
    /// with the same draws from `rng`. Storage as in [`OnlineEm::refine`]: the fit needs no model
    /// or statistics on the stack, which is what lets firmware start from an `OnlineEm` built
    /// around any valid placeholder model of the right kind.
    ///
    /// Only one initialization: `config.n_init` must be 1, because keeping the best of several
    /// would take a third model's storage (use [`GaussianMixture::fit`] for restarts).
    /// `config.kind` must equal the model's kind. Errors: `InvalidParameter` for `n_init` ≠ 1 or
    /// a different kind, otherwise those of [`GaussianMixture::fit`]. On error the model and the
    /// sample count are unchanged and the Polyak average restarts from the current model.
    pub fn fit<R: Rng + ?Sized>(
        &mut self,
        data: &[[T; D]],
        config: &FitConfig<T>,
        stats: &mut SufficientStats<T, K, D>,
        rng: &mut R,
    ) -> Result<FitReport<T>> {
        if config.n_init != 1 {
            return Err(Error::InvalidParameter {
                name: "n_init",
                reason: "an in-place fit runs exactly one initialization",
            });
        }
        self.check_batch(data, config, stats)?;
        let flat = data.as_flattened();
        let mut init_work = [T::ZERO; D];
        // `initialize` overwrites every parameter of the scratch model, so its old contents
        // (the average) do not matter.
        let result = initialize(
            flat,
            &mut self.average.view_mut(),
            &mut stats.view_mut(),
            config.init,
            config.reg_covar,
            rng,
            &mut init_work,
            None,
        )
        .and_then(|init_reseeded| {
            let mut report = self.em_in_scratch(flat, config, stats)?;
            report.reseeded = report.reseeded.saturating_add(init_reseeded as u32);
            Ok(report)
        });
        self.adopt_scratch(result)
    }

    /// Checks shared by [`OnlineEm::refine`] and [`OnlineEm::fit`]; adopts the model's kind in
    /// `stats` so that statistics made for another kind cannot mismatch the M-step.
    fn check_batch(
        &self,
        data: &[[T; D]],
        config: &FitConfig<T>,
        stats: &mut SufficientStats<T, K, D>,
    ) -> Result<()> {
        if config.kind != self.model.kind() {
            return Err(Error::InvalidParameter { name: "kind", reason: "differs from the model's" });
        }
        config.validate()?;
        validate_data(data.as_flattened(), D, K)?;
        stats.reset(&self.model);
        Ok(())
    }

    /// Commits a batch result computed in the average's storage: on success it becomes the model
    /// and the online state restarts (as [`OnlineEm::new`]); on error the model stays and the
    /// average, overwritten as scratch, restarts from it.
    /// Batch EM over `flat` (N × D) in the scratch model (the average's storage), shared by
    /// [`OnlineEm::refine`] and [`OnlineEm::fit`]: out of line, so that an image with both (the
    /// monitor's) has one copy of the E-step's set-up.
    #[inline(never)]
    fn em_in_scratch(
        &mut self,
        flat: &[T],
        config: &FitConfig<T>,
        stats: &mut SufficientStats<T, K, D>,
    ) -> Result<FitReport<T>> {
        let mut lp = [T::ZERO; K];
        let mut work = [[T::ZERO; D]; 2];
        let mut estep = SerialEStep::new(flat, &mut lp, work.as_flattened_mut());
        em_loop(&mut self.average.view_mut(), &mut stats.view_mut(), &mut estep, config)
    }

    fn adopt_scratch(&mut self, result: Result<FitReport<T>>) -> Result<FitReport<T>> {
        self.averaged_samples = 0;
        if result.is_ok() {
            self.model = self.average;
            self.n = 0;
        } else {
            self.average = self.model;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gmm::InitMethod;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// Against (n + n0)^(−α) in f64 (std's `powf`): α = 1 exactly the rounded reciprocal, other α
    /// within the documented 1e-5 relative in f32 (and 1e-13 in f64).
    #[test]
    fn step_size_against_f64_power() {
        for alpha in [0.6f64, 0.75, 0.9, 1.0] {
            for n0 in [0.0f64, 10.0, 128.0] {
                for n in (1..2000u64).chain([10_000, 123_456, 1 << 20, (1 << 24) - 200]) {
                    let want = ((n as f64) + n0).powf(-alpha);
                    let c32 = OnlineConfig { alpha: alpha as f32, n0: n0 as f32, ..OnlineConfig::default() };
                    let c64 = OnlineConfig { alpha, n0, ..OnlineConfig::default() };
                    let (g32, g64) = (c32.step_size(n) as f64, c64.step_size(n));
                    if alpha == 1.0 {
                        assert_eq!(g32, (1.0 / ((n as f32 + n0 as f32) as f64)) as f32 as f64, "n={n}");
                        assert_eq!(g64, 1.0 / (n as f64 + n0), "n={n}");
                    } else {
                        assert!(
                            (g32 - want).abs() <= 1e-5 * want,
                            "α={alpha} n0={n0} n={n}: {g32} vs {want}"
                        );
                        assert!(
                            (g64 - want).abs() <= 1e-13 * want,
                            "α={alpha} n0={n0} n={n}: {g64} vs {want}"
                        );
                    }
                }
            }
        }
    }

    /// 60 points around (0, 0), (3, 1) and (−2, 4), deterministic.
    fn data() -> [[f64; 2]; 60] {
        let centres = [[0.0, 0.0], [3.0, 1.0], [-2.0, 4.0]];
        core::array::from_fn(|i| {
            let c = centres[i % 3];
            let (a, b) = ((i * 7 % 11) as f64 / 11.0 - 0.5, (i * 5 % 13) as f64 / 13.0 - 0.5);
            [c[0] + a, c[1] + b + 0.3 * a]
        })
    }

    fn start() -> GaussianMixture<f64, 3, 2> {
        let eye = [[1.0, 0.0], [0.0, 1.0]];
        GaussianMixture::new(
            CovarianceKind::Full,
            [0.5, 0.25, 0.25],
            [[0.5, 0.5], [2.0, 0.0], [-1.0, 3.0]],
            [eye; 3],
        )
        .unwrap()
    }

    fn batch() -> FitConfig<f64> {
        FitConfig { max_iter: 20, tol: 0.0, ..FitConfig::default() }
    }

    #[test]
    fn in_place_refine_equals_refine_then_new() {
        let (data, config) = (data(), batch());
        let mut online = OnlineEm::new(start(), OnlineConfig::default()).unwrap();
        for x in &data[..5] {
            online.update(x).unwrap();
        }
        let (expected, expected_report) = online.model().refine(&data, &config).unwrap();
        let mut stats = SufficientStats::new(CovarianceKind::Diag);
        let report = online.refine(&data, &config, &mut stats).unwrap();
        assert_eq!(report, expected_report);
        assert_eq!(online, OnlineEm::new(expected, OnlineConfig::default()).unwrap());
        assert_eq!(online.samples(), 0);
    }

    #[test]
    fn in_place_fit_equals_fit_then_new() {
        let (data, config) = (data(), FitConfig { init: InitMethod::KMeansPlusPlus, ..batch() });
        let (expected, expected_report) =
            GaussianMixture::<f64, 3, 2>::fit(&data, &config, &mut Xoshiro256PlusPlus::seed_from_u64(7))
                .unwrap();
        let mut online = OnlineEm::new(start(), OnlineConfig::default()).unwrap();
        let mut stats = SufficientStats::new(CovarianceKind::Full);
        let report =
            online.fit(&data, &config, &mut stats, &mut Xoshiro256PlusPlus::seed_from_u64(7)).unwrap();
        assert_eq!(report, expected_report);
        assert_eq!(*online.model(), expected);
        assert_eq!(online, OnlineEm::new(expected, OnlineConfig::default()).unwrap());
    }

    #[test]
    fn failed_in_place_refit_keeps_the_model() {
        let mut online = OnlineEm::new(start(), OnlineConfig::default()).unwrap();
        online.update(&[0.1, 0.2]).unwrap();
        let before = *online.model();
        let mut stats = SufficientStats::new(CovarianceKind::Full);
        // Three identical samples and no regularization: the M-step's covariances are singular.
        let degenerate = [[1.0, 1.0]; 3];
        let config = FitConfig { reg_covar: 0.0, ..batch() };
        assert!(matches!(
            online.refine(&degenerate, &config, &mut stats),
            Err(Error::NotPositiveDefinite { .. })
        ));
        assert_eq!(*online.model(), before);
        assert_eq!(online.samples(), 1);
        assert_eq!(online.averaged().unwrap(), before);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        assert!(online.fit(&degenerate, &config, &mut stats, &mut rng).is_err());
        assert_eq!(*online.model(), before);
        // Restarts and other kinds are refused before anything is touched.
        let two = FitConfig { n_init: 2, ..batch() };
        assert!(matches!(
            online.fit(&data(), &two, &mut stats, &mut rng),
            Err(Error::InvalidParameter { name: "n_init", .. })
        ));
        let diag = FitConfig { kind: CovarianceKind::Diag, ..batch() };
        assert!(matches!(
            online.refine(&data(), &diag, &mut stats),
            Err(Error::InvalidParameter { name: "kind", .. })
        ));
        assert_eq!(*online.model(), before);
    }
}
