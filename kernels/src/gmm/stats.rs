//! Sufficient statistics of a Gaussian mixture: accumulate → merge → finish.
//!
//! For component k with shift c_k (the model's mean μ_k when accumulation starts) the statistics
//! are, over samples x with responsibilities r_k(x):
//!
//! * n_k  = Σ r_k(x)
//! * s1_k = Σ r_k(x) (x − c_k)
//! * s2_k = Σ r_k(x) (x − c_k)(x − c_k)ᵀ (`full`: the whole D × D square, symmetric up to
//!   rounding, so each row update is one contiguous, vectorizable loop — 2× the triangle's
//!   multiply-adds but faster; the M-step reads the upper triangle. `diag`/`spherical`: diagonal)
//!
//! and the M-step is μ_k = c_k + s1_k / n_k, Σ_k = s2_k / n_k − (s1_k / n_k)(s1_k / n_k)ᵀ + reg·I,
//! α_k = n_k / N — algebraically the lecture's M-step. Because c_k sits near the data of
//! component k, x − c_k is small and the subtraction in Σ_k cancels almost nothing: `f32` on
//! Pearson's crab ratios (0.65 ± 0.015) or on data offset by 100 keeps its digits, where the
//! naive Σ r x xᵀ / n − μμᵀ loses all of them (scikit-learn issue #30382).
//!
//! Merging statistics with different shifts re-centres one onto the other exactly:
//! s1' = s1 + n δ, s2' = s2 + δ s1ᵀ + s1 δᵀ + n δδᵀ with δ = c_other − c_self.

use super::model::{MixtureMut, MixtureRef, responsibilities_in_place};
use super::{CovarianceKind, Shape};
use crate::{Error, Real, Result};

/// Scalar totals of a statistics block.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Totals<T> {
    /// Number of samples accumulated, N.
    pub samples: u64,
    /// Σ ln p(x) under the model used while accumulating (Neumaier-compensated with `compensation`).
    pub log_likelihood: T,
    /// Running compensation term of the log-likelihood sum.
    pub compensation: T,
    /// The smallest ln p(x) seen (`T::MAX` when none); its sample is kept for re-seeding.
    pub worst_log_likelihood: T,
}

impl<T: Real> Default for Totals<T> {
    fn default() -> Self {
        Self { samples: 0, log_likelihood: T::ZERO, compensation: T::ZERO, worst_log_likelihood: T::MAX }
    }
}

impl<T: Real> Totals<T> {
    /// Σ ln p(x) including the compensation.
    pub fn log_likelihood_sum(&self) -> T {
        self.log_likelihood + self.compensation
    }

    /// Mean log-likelihood (1/N) Σ ln p(x); `Err(EmptyData)` when N = 0.
    pub fn mean_log_likelihood(&self) -> Result<T> {
        if self.samples == 0 {
            return Err(Error::EmptyData);
        }
        Ok(self.log_likelihood_sum() / T::from_f64(self.samples as f64))
    }

    /// Neumaier's compensated addition of `v` to the log-likelihood sum.
    fn add_log_likelihood(&mut self, v: T) {
        let s = self.log_likelihood;
        let t = s + v;
        if s.abs() >= v.abs() {
            self.compensation += (s - t) + v;
        } else {
            self.compensation += (v - t) + s;
        }
        self.log_likelihood = t;
    }
}

/// Read-only view of sufficient statistics (the `other` side of a merge).
#[derive(Clone, Copy, Debug)]
pub struct StatsRef<'a, T> {
    shape: Shape,
    shift: &'a [T],
    resp: &'a [T],
    s1: &'a [T],
    s2: &'a [T],
    worst: &'a [T],
    totals: &'a Totals<T>,
}

/// Mutable view of sufficient statistics over caller-owned slices:
/// shift K·D, n K, s1 K·D, s2 K·D·D, worst sample D.
#[derive(Debug)]
pub struct StatsMut<'a, T> {
    shape: Shape,
    shift: &'a mut [T],
    resp: &'a mut [T],
    s1: &'a mut [T],
    s2: &'a mut [T],
    worst: &'a mut [T],
    totals: &'a mut Totals<T>,
}

fn check(shape: Shape, lens: [usize; 5]) -> Result<()> {
    shape.validate()?;
    let (k, d) = (shape.components, shape.features);
    let expected = [k * d, k, k * d, k * d * d, d];
    let names = ["stats shift", "stats n", "stats s1", "stats s2", "stats worst sample"];
    for i in 0..5 {
        if lens[i] != expected[i] {
            return Err(Error::ShapeMismatch { what: names[i], expected: expected[i], found: lens[i] });
        }
    }
    Ok(())
}

impl<'a, T: Real> StatsRef<'a, T> {
    /// Wraps slices of lengths K·D (shift), K (n), K·D (s1), K·D·D (s2), D (worst sample).
    pub fn new(
        shape: Shape,
        shift: &'a [T],
        resp: &'a [T],
        s1: &'a [T],
        s2: &'a [T],
        worst: &'a [T],
        totals: &'a Totals<T>,
    ) -> Result<Self> {
        check(shape, [shift.len(), resp.len(), s1.len(), s2.len(), worst.len()])?;
        Ok(Self { shape, shift, resp, s1, s2, worst, totals })
    }
    /// Unchecked constructor for storage whose lengths the type system already guarantees.
    pub(crate) fn from_parts(shape: Shape, parts: [&'a [T]; 5], totals: &'a Totals<T>) -> Self {
        let [shift, resp, s1, s2, worst] = parts;
        Self { shape, shift, resp, s1, s2, worst, totals }
    }

    /// Shape these statistics belong to.
    pub fn shape(&self) -> Shape {
        self.shape
    }
    /// n_k = Σ r_k, length K.
    pub fn resp_sums(&self) -> &'a [T] {
        self.resp
    }
    /// Shifts c_k (K × D).
    pub fn shifts(&self) -> &'a [T] {
        self.shift
    }
    /// s1_k (K × D).
    pub fn s1(&self) -> &'a [T] {
        self.s1
    }
    /// s2_k (K × D × D; the full square for `full`, the diagonal otherwise).
    pub fn s2(&self) -> &'a [T] {
        self.s2
    }
    /// Sample count and log-likelihood totals.
    pub fn totals(&self) -> &'a Totals<T> {
        self.totals
    }
}

impl<'a, T: Real> StatsMut<'a, T> {
    /// Wraps slices of lengths K·D (shift), K (n), K·D (s1), K·D·D (s2), D (worst sample).
    pub fn new(
        shape: Shape,
        shift: &'a mut [T],
        resp: &'a mut [T],
        s1: &'a mut [T],
        s2: &'a mut [T],
        worst: &'a mut [T],
        totals: &'a mut Totals<T>,
    ) -> Result<Self> {
        check(shape, [shift.len(), resp.len(), s1.len(), s2.len(), worst.len()])?;
        Ok(Self { shape, shift, resp, s1, s2, worst, totals })
    }

    /// Unchecked constructor for storage whose lengths the type system already guarantees.
    pub(crate) fn from_parts(shape: Shape, parts: [&'a mut [T]; 5], totals: &'a mut Totals<T>) -> Self {
        let [shift, resp, s1, s2, worst] = parts;
        Self { shape, shift, resp, s1, s2, worst, totals }
    }

    /// Read-only view of the same storage.
    pub fn as_ref(&self) -> StatsRef<'_, T> {
        StatsRef {
            shape: self.shape,
            shift: self.shift,
            resp: self.resp,
            s1: self.s1,
            s2: self.s2,
            worst: self.worst,
            totals: self.totals,
        }
    }

    /// Reborrows for a shorter lifetime.
    pub fn reborrow(&mut self) -> StatsMut<'_, T> {
        StatsMut {
            shape: self.shape,
            shift: self.shift,
            resp: self.resp,
            s1: self.s1,
            s2: self.s2,
            worst: self.worst,
            totals: self.totals,
        }
    }

    /// Sample count and log-likelihood totals.
    pub fn totals(&self) -> &Totals<T> {
        self.totals
    }

    /// Empties the statistics and sets the shifts c_k to `shifts` (K × D, normally the current
    /// means, so that deviations stay small).
    pub fn reset(&mut self, shifts: &[T]) -> Result<()> {
        if shifts.len() != self.shift.len() {
            return Err(Error::ShapeMismatch {
                what: "shifts",
                expected: self.shift.len(),
                found: shifts.len(),
            });
        }
        self.shift.copy_from_slice(shifts);
        self.resp.fill(T::ZERO);
        self.s1.fill(T::ZERO);
        self.s2.fill(T::ZERO);
        self.worst.fill(T::ZERO);
        *self.totals = Totals::default();
        Ok(())
    }

    /// Adds weight `r` of sample `x` to component `k`: n_k += r, s1_k += r δ, s2_k += r δδᵀ with
    /// δ = x − c_k. `dev` is scratch of length ≥ D. Used by the E-step (soft r) and by
    /// initialization (hard r = 1). No finiteness check: callers check `x`.
    #[inline]
    pub fn add_weighted(&mut self, k: usize, r: T, x: &[T], dev: &mut [T]) {
        let d = self.shape.features;
        if k >= self.shape.components || x.len() < d || dev.len() < d {
            return;
        }
        let c = &self.shift[k * d..(k + 1) * d];
        let s1 = &mut self.s1[k * d..(k + 1) * d];
        let dev = &mut dev[..d];
        for (((v, s), &xi), &ci) in dev.iter_mut().zip(s1.iter_mut()).zip(x).zip(c) {
            *v = xi - ci;
            *s += r * *v;
        }
        let s2 = &mut self.s2[k * d * d..(k + 1) * d * d];
        match self.shape.kind {
            CovarianceKind::Full => {
                // Upper triangle, row by row (zips: no bounds checks, vectorizable).
                for (&di, row) in dev.iter().zip(s2.chunks_exact_mut(d)) {
                    let rdi = r * di;
                    for (s, &dj) in row.iter_mut().zip(dev.iter()) {
                        *s += rdi * dj;
                    }
                }
            }
            CovarianceKind::Diag | CovarianceKind::Spherical => {
                for i in 0..d {
                    s2[i * d + i] += r * dev[i] * dev[i];
                }
            }
        }
        self.resp[k] += r;
    }

    /// Records one sample's log-likelihood in the totals (count, compensated sum, worst sample).
    #[inline]
    pub fn observe(&mut self, x: &[T], log_likelihood: T) {
        self.totals.samples += 1;
        self.totals.add_log_likelihood(log_likelihood);
        if log_likelihood < self.totals.worst_log_likelihood {
            self.totals.worst_log_likelihood = log_likelihood;
            let d = self.shape.features;
            self.worst.copy_from_slice(&x[..d]);
        }
    }

    /// E-step and accumulation of one sample: responsibilities q_k(x) under `model` in the log
    /// domain (log-sum-exp), then the weighted sums. Returns ln p(x).
    ///
    /// `log_probs` has length ≥ K, `work` ≥ 2·D. Errors: `NonFiniteSample { sample: 0, feature }`
    /// for NaN/±∞ in `x` (nothing is accumulated then), `ShapeMismatch` for wrong lengths.
    pub fn accumulate(
        &mut self,
        model: &MixtureRef<'_, T>,
        x: &[T],
        log_probs: &mut [T],
        work: &mut [T],
    ) -> Result<T> {
        if model.shape() != self.shape {
            return Err(Error::ShapeMismatch {
                what: "model shape vs stats shape",
                expected: self.shape.components * self.shape.features,
                found: model.shape().components * model.shape().features,
            });
        }
        if let Some(feature) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFiniteSample { sample: 0, feature });
        }
        model.component_log_probs(x, log_probs, work)?;
        let k_n = self.shape.components;
        let lse = responsibilities_in_place(&mut log_probs[..k_n]).ok_or(Error::ZeroDensity { sample: 0 })?;
        for k in 0..k_n {
            let r = log_probs[k];
            if r > T::ZERO {
                self.add_weighted(k, r, x, work);
            }
        }
        self.observe(x, lse);
        Ok(lse)
    }

    /// [`Self::accumulate`] over `data` (N × D row-major); a non-finite sample is reported with
    /// its row index in `data`, and the statistics then hold the rows before it.
    pub fn accumulate_batch(
        &mut self,
        model: &MixtureRef<'_, T>,
        data: &[T],
        log_probs: &mut [T],
        work: &mut [T],
    ) -> Result<()> {
        let d = self.shape.features;
        if data.len() % d != 0 {
            return Err(Error::ShapeMismatch {
                what: "data length (a multiple of D)",
                expected: (data.len() / d + 1) * d,
                found: data.len(),
            });
        }
        for (i, x) in data.chunks_exact(d).enumerate() {
            self.accumulate(model, x, log_probs, work).map_err(|e| e.offset_sample(i))?;
        }
        Ok(())
    }

    /// Adds `other` into `self` (associative, commutative up to rounding), re-centring `other`'s
    /// sums onto `self`'s shifts when they differ.
    pub fn merge(&mut self, other: &StatsRef<'_, T>) -> Result<()> {
        if other.shape != self.shape {
            return Err(Error::ShapeMismatch {
                what: "stats shape",
                expected: self.shape.components * self.shape.features,
                found: other.shape.components * other.shape.features,
            });
        }
        let (k_n, d) = (self.shape.components, self.shape.features);
        let full = self.shape.kind == CovarianceKind::Full;
        for k in 0..k_n {
            let n = other.resp[k];
            let co = &other.shift[k * d..(k + 1) * d];
            let cs = &self.shift[k * d..(k + 1) * d];
            let s1o = &other.s1[k * d..(k + 1) * d];
            let s2o = &other.s2[k * d * d..(k + 1) * d * d];
            let s1 = &mut self.s1[k * d..(k + 1) * d];
            let s2 = &mut self.s2[k * d * d..(k + 1) * d * d];
            for i in 0..d {
                let di = co[i] - cs[i];
                // s2 + δ s1ᵀ + s1 δᵀ + n δδᵀ over the stored entries: the whole square for full,
                // the diagonal otherwise.
                let columns = if full { 0..d } else { i..i + 1 };
                for j in columns {
                    let dj = co[j] - cs[j];
                    s2[i * d + j] += s2o[i * d + j] + di * s1o[j] + s1o[i] * dj + n * di * dj;
                }
                s1[i] += s1o[i] + n * di;
            }
            self.resp[k] += n;
        }
        self.totals.samples += other.totals.samples;
        self.totals.add_log_likelihood(other.totals.log_likelihood);
        self.totals.add_log_likelihood(other.totals.compensation);
        if other.totals.worst_log_likelihood < self.totals.worst_log_likelihood {
            self.totals.worst_log_likelihood = other.totals.worst_log_likelihood;
            self.worst.copy_from_slice(other.worst);
        }
        Ok(())
    }

    /// The M-step: see [`StatsRef::finish`].
    pub fn finish(&self, model: &mut MixtureMut<'_, T>, reg_covar: T, reseed: bool) -> Result<usize> {
        self.as_ref().finish(model, reg_covar, reseed)
    }
}

impl<T: Real> StatsRef<'_, T> {
    /// Pooled mean and covariance of everything accumulated (all components merged onto the
    /// shift of component 0), written to `mean` (D) and `cov` (D × D, full-shaped for `full`,
    /// diagonal otherwise). Requires N > 0 samples' worth of responsibility.
    fn pooled(&self, mean: &mut [T], cov: &mut [T]) {
        let (k_n, d) = (self.shape.components, self.shape.features);
        let full = self.shape.kind == CovarianceKind::Full;
        let c0 = &self.shift[..d];
        mean.fill(T::ZERO);
        cov.fill(T::ZERO);
        let mut n_total = T::ZERO;
        for k in 0..k_n {
            let n = self.resp[k];
            let ck = &self.shift[k * d..(k + 1) * d];
            let s1 = &self.s1[k * d..(k + 1) * d];
            let s2 = &self.s2[k * d * d..(k + 1) * d * d];
            for i in 0..d {
                let di = ck[i] - c0[i];
                let jmax = if full { d } else { i + 1 };
                for j in i..jmax {
                    let dj = ck[j] - c0[j];
                    cov[i * d + j] += s2[i * d + j] + di * s1[j] + s1[i] * dj + n * di * dj;
                }
                mean[i] += s1[i] + n * di;
            }
            n_total += n;
        }
        for i in 0..d {
            mean[i] /= n_total;
        }
        for i in 0..d {
            let jmax = if full { d } else { i + 1 };
            for j in i..jmax {
                let v = cov[i * d + j] / n_total - mean[i] * mean[j];
                cov[i * d + j] = v;
                cov[j * d + i] = v;
            }
        }
        for i in 0..d {
            mean[i] += c0[i];
        }
    }

    /// The M-step: writes α, μ, Σ + `reg_covar`·I into `model` and refreshes its factors.
    ///
    /// A component with n_k ≤ 10·ε·N (no data: its mean and covariance are undefined) is, with
    /// `reseed`, moved to the sample with the lowest log-likelihood seen (the pooled mean when
    /// none was recorded) with the pooled covariance of all data and weight 1/K, the weights
    /// then renormalized; without `reseed` it keeps its mean and covariance and gets weight
    /// n_k / N (exact EM). Returns the number of re-seeded components.
    ///
    /// Errors: `EmptyData` when N = 0; `InvalidParameter` for negative or non-finite
    /// `reg_covar`; `NotPositiveDefinite { component, .. }` when Σ_k + reg·I has no Cholesky
    /// factor (degenerate data with `reg_covar` = 0); `NonFiniteParameter` if overflow made a
    /// parameter non-finite. On error the model may be partly written.
    pub fn finish(&self, model: &mut MixtureMut<'_, T>, reg_covar: T, reseed: bool) -> Result<usize> {
        if model.shape() != self.shape {
            return Err(Error::ShapeMismatch {
                what: "model shape vs stats shape",
                expected: self.shape.components * self.shape.features,
                found: model.shape().components * model.shape().features,
            });
        }
        if !(reg_covar >= T::ZERO) || !reg_covar.is_finite() {
            return Err(Error::InvalidParameter {
                name: "reg_covar",
                reason: "must be finite and non-negative",
            });
        }
        if self.totals.samples == 0 {
            return Err(Error::EmptyData);
        }
        let (k_n, d) = (self.shape.components, self.shape.features);
        let kind = self.shape.kind;
        let n_samples = T::from_f64(self.totals.samples as f64);
        let empty_below = T::from_f64(10.0) * T::EPSILON * n_samples;
        let mut reseeded = 0;
        for k in 0..k_n {
            let n = self.resp[k];
            if !(n > empty_below) {
                if reseed {
                    // Pooled statistics go straight into component k's own storage.
                    let (mean, cov) = (k * d, k * d * d);
                    let (means, covs) = model.means_and_covariances_mut();
                    self.pooled(&mut means[mean..mean + d], &mut covs[cov..cov + d * d]);
                    if self.totals.worst_log_likelihood < T::MAX {
                        means[mean..mean + d].copy_from_slice(self.worst);
                    }
                    finalize_covariance(kind, &mut covs[cov..cov + d * d], d, reg_covar);
                    model.weights_mut()[k] = T::ONE / T::from_usize(k_n);
                    reseeded += 1;
                } else {
                    model.weights_mut()[k] = n.max(T::ZERO) / n_samples;
                }
                continue;
            }
            let (means, covs) = model.means_and_covariances_mut();
            let c = &self.shift[k * d..(k + 1) * d];
            let s1 = &self.s1[k * d..(k + 1) * d];
            let s2 = &self.s2[k * d * d..(k + 1) * d * d];
            let mu = &mut means[k * d..(k + 1) * d];
            let cov = &mut covs[k * d * d..(k + 1) * d * d];
            let inv_n = T::ONE / n;
            // m = s1/n is the (small) offset of the new mean from the shift.
            for i in 0..d {
                let mi = s1[i] * inv_n;
                let jmax = if kind == CovarianceKind::Full { d } else { i + 1 };
                for j in i..jmax {
                    let v = s2[i * d + j] * inv_n - mi * (s1[j] * inv_n);
                    cov[i * d + j] = v;
                    cov[j * d + i] = v;
                }
                if kind != CovarianceKind::Full {
                    for j in (i + 1)..d {
                        cov[i * d + j] = T::ZERO;
                        cov[j * d + i] = T::ZERO;
                    }
                }
                mu[i] = c[i] + mi;
            }
            finalize_covariance(kind, cov, d, reg_covar);
            model.weights_mut()[k] = n / n_samples;
        }
        // Σ n_k = N up to rounding (and re-seeded weights were set to 1/K): renormalize exactly.
        let mut total = T::ZERO;
        for &w in model.weights_mut().iter() {
            total += w;
        }
        if !(total > T::ZERO) {
            return Err(Error::EmptyData);
        }
        for w in model.weights_mut().iter_mut() {
            *w /= total;
        }
        model.refresh()?;
        Ok(reseeded)
    }
}

fn finalize_covariance<T: Real>(kind: CovarianceKind, cov: &mut [T], d: usize, reg: T) {
    if kind == CovarianceKind::Spherical {
        let mut s = T::ZERO;
        for i in 0..d {
            s += cov[i * d + i];
        }
        let v = s / T::from_usize(d);
        for i in 0..d {
            cov[i * d + i] = v;
        }
    }
    for i in 0..d {
        cov[i * d + i] += reg;
    }
}
