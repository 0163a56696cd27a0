//! Mixture parameters over borrowed slices, and the per-sample densities computed from them.
//!
//! p(x) = Σ_k α_k N(x; μ_k, Σ_k). Besides α, μ, Σ the model keeps, per component, the upper
//! triangular U_k = L_k⁻ᵀ with Σ_k = L_k L_kᵀ (scikit-learn's `precisions_cholesky_`) and
//! `log_norm_k = ln α_k − (D/2) ln 2π + Σ_i ln U_k,ii`, so that
//! ln α_k N(x; μ_k, Σ_k) = log_norm_k − ½ ‖U_kᵀ (x − μ_k)‖².
//! Both are refreshed by [`MixtureMut::refresh`], the only place a Cholesky factorization happens.
//!
//! Storage is uniform for every covariance kind: `covariances` and `precisions_cholesky` are
//! `K × D × D` row-major; `diag` and `spherical` models keep their off-diagonal entries zero and
//! the per-sample work uses only the diagonal (O(D) instead of O(D²)).

use super::storage::{Flat, FlatMut, Slices, SlicesMut, Storage, StorageMut};
use super::{CovarianceKind, Shape, diagonal, stride};
use crate::gaussian::normal::{try_standard_normal, uniform01};
use crate::linalg::rows::{rows, rows_mut};
use crate::linalg::{cholesky_in_place, lower_inverse_transpose_in_place};
use crate::{Error, Real, Result};
use rand_core::Rng;

/// A mixture's parameters and cached factors over storage `S` ([`Storage`]): weights and
/// log-normalizers K, means K × D, covariances and precision factors K × D × D, row-major.
/// [`MixtureRef`] and [`MixtureMut`] borrow slices, [`GaussianMixture`](super::GaussianMixture)
/// owns arrays; the per-sample routines are those of [`MixtureRef`], and [`Self::view`] lends
/// any storage as one.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MixtureInner<S: Storage> {
    pub(super) shape: S::Shape,
    pub(super) weights: S::Vector,
    pub(super) means: S::Means,
    pub(super) covariances: S::Matrices,
    pub(super) precisions_cholesky: S::Matrices,
    pub(super) log_norm: S::Vector,
}

/// Read-only view of a mixture's parameters and cached factors (lengths checked on creation).
pub type MixtureRef<'a, T> = MixtureInner<Slices<'a, T>>;

/// Mutable view of a mixture's parameters and cached factors (lengths checked on creation).
pub type MixtureMut<'a, T> = MixtureInner<SlicesMut<'a, T>>;

fn check_len(what: &'static str, len: usize, expected: usize) -> Result<()> {
    if len == expected { Ok(()) } else { Err(Error::ShapeMismatch { what, expected, found: len }) }
}

impl<S: Storage> MixtureInner<S> {
    /// Number of components K, features D and the covariance kind.
    pub fn shape(&self) -> Shape {
        S::shape(&self.shape)
    }

    /// Covariance kind.
    pub fn kind(&self) -> CovarianceKind {
        self.shape().kind
    }

    /// A mixture over any storage from its arrays, after checking their lengths against the
    /// shape: K weights, K·D means, K·D·D covariances and precision factors, K log-normalizers.
    /// The contents need not be valid yet: write the parameters, then [`MixtureMut::refresh`]
    /// through [`Self::view_mut`]. [`MixtureRef::new`] and [`MixtureMut::new`] are this for slices.
    pub fn from_parts(
        shape: S::Shape,
        weights: S::Vector,
        means: S::Means,
        covariances: S::Matrices,
        precisions_cholesky: S::Matrices,
        log_norm: S::Vector,
    ) -> Result<Self> {
        let m = Self { shape, weights, means, covariances, precisions_cholesky, log_norm };
        m.check_lengths()?;
        Ok(m)
    }

    /// The array lengths against the shape: K, K·D, K·D·D, K·D·D, K.
    fn check_lengths(&self) -> Result<()> {
        let (k, kd, kdd) = self.shape().lengths()?;
        check_len("weights", self.weights.flat().len(), k)?;
        check_len("means", self.means.flat().len(), kd)?;
        check_len("covariances", self.covariances.flat().len(), kdd)?;
        check_len("precisions_cholesky", self.precisions_cholesky.flat().len(), kdd)?;
        check_len("log_norm", self.log_norm.flat().len(), k)
    }

    /// Read-only slice view of the same storage, for the per-sample routines.
    pub fn view(&self) -> MixtureRef<'_, S::Scalar> {
        MixtureInner {
            shape: self.shape(),
            weights: self.weights.flat(),
            means: self.means.flat(),
            covariances: self.covariances.flat(),
            precisions_cholesky: self.precisions_cholesky.flat(),
            log_norm: self.log_norm.flat(),
        }
    }
}

impl<S: StorageMut> MixtureInner<S> {
    /// Writable slice view of the same storage (call [`MixtureMut::refresh`] after writing
    /// parameters).
    pub fn view_mut(&mut self) -> MixtureMut<'_, S::Scalar> {
        MixtureInner {
            shape: self.shape(),
            weights: self.weights.flat_mut(),
            means: self.means.flat_mut(),
            covariances: self.covariances.flat_mut(),
            precisions_cholesky: self.precisions_cholesky.flat_mut(),
            log_norm: self.log_norm.flat_mut(),
        }
    }
}

impl<'a, T: Real> MixtureRef<'a, T> {
    /// Wraps slices of lengths K, K·D, K·D·D, K·D·D, K. The factors must be those
    /// [`MixtureMut::refresh`] computed from the parameters; a mismatch gives wrong densities,
    /// never a panic.
    pub fn new(
        shape: Shape,
        weights: &'a [T],
        means: &'a [T],
        covariances: &'a [T],
        precisions_cholesky: &'a [T],
        log_norm: &'a [T],
    ) -> Result<Self> {
        Self::from_parts(shape, weights, means, covariances, precisions_cholesky, log_norm)
    }

    /// Mixing weights α (length K, sum 1).
    pub fn weights(&self) -> &'a [T] {
        self.weights
    }
    /// Means μ, K × D row-major.
    pub fn means(&self) -> &'a [T] {
        self.means
    }
    /// Covariances Σ, K × D × D row-major (zero off-diagonals for diag and spherical).
    pub fn covariances(&self) -> &'a [T] {
        self.covariances
    }
    /// U_k = L_k⁻ᵀ, K × D × D row-major upper triangular (Σ_k⁻¹ = U_k U_kᵀ).
    pub fn precisions_cholesky(&self) -> &'a [T] {
        self.precisions_cholesky
    }
    /// ln α_k − (D/2) ln 2π + ln |U_k|, length K.
    pub fn log_norm(&self) -> &'a [T] {
        self.log_norm
    }
    /// Mean of component k (length D); empty for k ≥ K.
    pub fn mean(&self, k: usize) -> &'a [T] {
        rows(self.means, self.shape.features).nth(k).unwrap_or(&[])
    }

    /// Scratch length [`Self::component_log_probs`] and the density functions need: 2·D.
    pub const fn work_len(features: usize) -> usize {
        2 * features
    }

    /// ln α_k + ln N(x; μ_k, Σ_k) for every component k into `out[..K]`.
    ///
    /// `x` has length D, `work` at least 2·D (deviation and projection). Cost per component:
    /// full D² + D multiply-adds (whole rows of U, see below), diag/spherical 2D. Lengths are the caller's contract
    /// (checked with a typed error by the public wrappers); a short slice returns `ShapeMismatch`.
    pub fn component_log_probs(&self, x: &[T], out: &mut [T], work: &mut [T]) -> Result<()> {
        self.log_probs_into(x, out, work).map(|_| ())
    }

    /// [`Self::component_log_probs`], returning `out[..K]`, the part it wrote.
    ///
    /// Every slice is re-borrowed to its checked length up front and the components are walked
    /// as zipped rows ([`rows`](crate::linalg::rows)), so no access below can panic; the arithmetic is the same,
    /// in the same order, as indexing would give.
    pub(crate) fn log_probs_into<'o>(
        &self,
        x: &[T],
        out: &'o mut [T],
        work: &mut [T],
    ) -> Result<&'o mut [T]> {
        let (k_n, d, dd) = self.shape.dims()?;
        check_len("sample", x.len(), d)?;
        let found = out.len();
        let Some(out) = out.get_mut(..k_n) else {
            return Err(Error::ShapeMismatch { what: "log_prob buffer", expected: k_n, found });
        };
        let work_too_short =
            Error::ShapeMismatch { what: "work buffer", expected: d.saturating_mul(2), found: work.len() };
        let Some((dev, proj)) = work.split_at_mut_checked(d) else {
            return Err(work_too_short);
        };
        let Some(proj) = proj.get_mut(..d) else {
            return Err(work_too_short);
        };
        let half = T::from_f64(0.5);
        let components = out
            .iter_mut()
            .zip(self.log_norm)
            .zip(rows(self.means, d))
            .zip(rows(self.precisions_cholesky, dd));
        for (((o, &log_norm), mu), u) in components {
            let maha = match self.shape.kind {
                CovarianceKind::Full | CovarianceKind::Tied => {
                    for ((v, &xi), &mi) in dev.iter_mut().zip(x).zip(mu) {
                        *v = xi - mi;
                    }
                    // y = Uᵀ dev, accumulated row by row of U over whole rows: the zeros below the
                    // diagonal cost multiply-adds but keep every row one contiguous, vectorizable
                    // loop (measured 1.8× faster than the triangle at D = 16).
                    proj.fill(T::ZERO);
                    for (&di, row) in dev.iter().zip(rows(u, d)) {
                        for (p, &uij) in proj.iter_mut().zip(row) {
                            *p += di * uij;
                        }
                    }
                    proj.iter().fold(T::ZERO, |s, &y| s + y * y)
                }
                CovarianceKind::Diag | CovarianceKind::Spherical => {
                    // The diagonal of U by index (i < d, so i·(d + 1) < d² does not wrap): the
                    // hot loop of the diagonal kinds, cheaper than a strided iterator.
                    let stride = stride(d);
                    let mut s = T::ZERO;
                    for (i, (&xi, &mi)) in (0..d).zip(x.iter().zip(mu)) {
                        if let Some(&uii) = u.get(i.wrapping_mul(stride)) {
                            let y = (xi - mi) * uii;
                            s += y * y;
                        }
                    }
                    s
                }
            };
            *o = log_norm - half * maha;
        }
        Ok(out)
    }

    /// Log density ln p(x) = logsumexp_k(ln α_k N(x; μ_k, Σ_k)). `log_probs` has length ≥ K and
    /// receives the per-component terms; `work` ≥ 2·D.
    pub fn log_density(&self, x: &[T], log_probs: &mut [T], work: &mut [T]) -> Result<T> {
        let lp = self.log_probs_into(x, log_probs, work)?;
        overflow_is_zero_density(x, lp);
        Ok(log_sum_exp(lp))
    }

    /// Posterior responsibilities q_k = α_k N_k / Σ_l α_l N_l into `proba[..K]`; returns ln p(x).
    /// Errors: `ZeroDensity` when x is so far from every component that p(x) underflows to 0.
    pub fn predict_proba(&self, x: &[T], proba: &mut [T], work: &mut [T]) -> Result<T> {
        let q = self.log_probs_into(x, proba, work)?;
        sample_responsibilities(x, q).ok_or(Error::ZeroDensity { sample: 0 })
    }

    /// The most probable component argmax_k q_k (ties: the lowest k).
    pub fn predict(&self, x: &[T], log_probs: &mut [T], work: &mut [T]) -> Result<usize> {
        let lp = self.log_probs_into(x, log_probs, work)?;
        overflow_is_zero_density(x, lp);
        Ok(argmax(lp))
    }

    /// Draws one sample into `out` (length D): component k with probability α_k, then
    /// x = μ_k + L_k ε with ε ~ N(0, I), solving U_kᵀ x' = ε (U_kᵀ = L_k⁻¹) by forward substitution.
    /// Returns the component drawn.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [T]) -> Result<usize> {
        let (k_n, d, dd) = self.shape.dims()?;
        check_len("sample", out.len(), d)?;
        let u01: T = uniform01(rng);
        let mut k = k_n - 1;
        let mut cum = T::ZERO;
        for (j, &w) in (0..k_n).zip(self.weights) {
            cum += w;
            if u01 < cum {
                k = j;
                break;
            }
        }
        let missing = Error::ShapeMismatch { what: "component", expected: k_n, found: k };
        let (Some(u), Some(mu)) = (rows(self.precisions_cholesky, dd).nth(k), rows(self.means, d).nth(k))
        else {
            return Err(missing);
        };
        for v in out.iter_mut() {
            *v = try_standard_normal(rng)?;
        }
        // Forward substitution with the lower-triangular Uᵀ: (Uᵀ)_ij = U_ji, so row i of Uᵀ is
        // column i of U: entry i of the rows above.
        for (i, u_i) in (0..d).zip(rows(u, d)) {
            let Some((solved, rest)) = out.split_at_mut_checked(i) else {
                return Err(missing);
            };
            let (Some(x_i), Some(&u_ii)) = (rest.first_mut(), u_i.get(i)) else {
                return Err(missing);
            };
            let mut s = *x_i;
            for (u_j, &x_j) in rows(u, d).zip(solved.iter()) {
                s -= u_j.get(i).copied().unwrap_or(T::ZERO) * x_j;
            }
            *x_i = s / u_ii;
        }
        for (o, &m) in out.iter_mut().zip(mu) {
            *o += m;
        }
        Ok(k)
    }
}

/// Turns the per-component ln α_k N_k(x) in `a` into responsibilities q_k (in place) and returns
/// ln p(x) = logsumexp_k a_k; `None` when every term is −∞ or one is NaN (zero density in working
/// precision), leaving `a` unchanged.
///
/// One pass of K−1 `fast_exp` and one `ln_1p_nonneg`: with m = max a_k (attained at k*), t = Σ_{k≠k*}
/// e^{a_k − m}, q_k = e^{a_k − m} / (1 + t) and ln p = m + ln(1 + t). The maximal term is exactly 1,
/// so with the `micromath` backend the ≈2e-3 relative error of `fast_exp` enters ln p only as
/// ≤ 2e-3·t/(1 + t) absolute, and not at all for well-separated components.
#[inline]
pub fn responsibilities_in_place<T: Real>(a: &mut [T]) -> Option<T> {
    let mut m = T::NEG_INFINITY;
    let mut top = 0;
    for (k, &v) in (0..a.len()).zip(a.iter()) {
        if v.is_nan() {
            return None;
        }
        if v > m {
            m = v;
            top = k;
        }
    }
    if m == T::NEG_INFINITY || !m.is_finite() {
        return None;
    }
    let mut t = T::ZERO;
    for (k, v) in (0..a.len()).zip(a.iter_mut()) {
        if k != top {
            // Far components: skip the call whose result is exactly 0 anyway (same bits, and the
            // underflowing call is slow), which with well-separated components is most of them.
            let x = *v - m;
            *v = if x < T::EXP_ZERO_BELOW { T::ZERO } else { x.fast_exp() };
            t += *v;
        }
    }
    if let Some(t) = a.get_mut(top) {
        *t = T::ONE;
    }
    let inv = T::ONE / (T::ONE + t);
    for v in a.iter_mut() {
        *v *= inv;
    }
    Some(m + t.ln_1p_nonneg())
}

/// ln Σ exp(a_i), computed as m + ln Σ exp(a_i − m) with m = max a_i so nothing overflows.
///
/// Returns −∞ for an empty slice or when every term is −∞; NaN propagates.
pub fn log_sum_exp<T: Real>(a: &[T]) -> T {
    let mut m = T::NEG_INFINITY;
    for &v in a {
        if v > m || v.is_nan() {
            m = v;
        }
    }
    if m == T::NEG_INFINITY || m.is_nan() {
        return m;
    }
    let mut s = T::ZERO;
    for &v in a {
        s += (v - m).exp_neg();
    }
    m + s.ln()
}

/// For a finite `x`, a NaN term ln α_k N_k(x) can only come from the Mahalanobis sum
/// overflowing (+∞ and −∞ partial products of a point ~10³⁰⁸ away in f64, found by fuzzing, or
/// ~10³⁶ away from a tight component in f32); its true value is below the type's −MAX, so it
/// becomes −∞ (zero density), as an underflow would. A NaN from a non-finite `x` is left to
/// propagate. One scan of K values, nothing more unless a NaN is there. Applied wherever
/// log-probabilities are turned into densities or responsibilities (`log_density`, `predict`,
/// and through [`sample_responsibilities`] `predict_proba` and the E-steps), so that all of
/// them agree on such a point.
pub(super) fn overflow_is_zero_density<T: Real>(x: &[T], log_probs: &mut [T]) {
    if log_probs.iter().any(|v| v.is_nan()) && x.iter().all(|v| v.is_finite()) {
        for v in log_probs.iter_mut().filter(|v| v.is_nan()) {
            *v = T::NEG_INFINITY;
        }
    }
}

/// [`responsibilities_in_place`] for the log-probabilities `a` of sample `x`, where a NaN term
/// from an overflowed Mahalanobis sum counts as zero density. The rule is applied only when the
/// plain call fails (it leaves `a` unchanged then), so rows without a NaN or an all-−∞ density
/// pay nothing for it. `None`: zero density in working precision, or a non-finite `x`.
#[inline]
pub fn sample_responsibilities<T: Real>(x: &[T], a: &mut [T]) -> Option<T> {
    match responsibilities_in_place(a) {
        Some(lse) => Some(lse),
        None => responsibilities_after_overflow(x, a),
    }
}

// Out of line and cold, so that the common path keeps one inlined copy of the formula.
#[cold]
#[inline(never)]
pub(super) fn responsibilities_after_overflow<T: Real>(x: &[T], a: &mut [T]) -> Option<T> {
    overflow_is_zero_density(x, a);
    responsibilities_in_place(a)
}

pub(super) fn argmax<T: Real>(a: &[T]) -> usize {
    let Some(&first) = a.first() else {
        return 0;
    };
    let (mut best, mut best_value) = (0, first);
    for (i, &v) in (0..a.len()).zip(a) {
        if v > best_value {
            (best, best_value) = (i, v);
        }
    }
    best
}

impl<'a, T: Real> MixtureMut<'a, T> {
    /// Wraps mutable slices of lengths K, K·D, K·D·D, K·D·D, K (contents need not be valid yet;
    /// call [`Self::refresh`] after writing parameters).
    pub fn new(
        shape: Shape,
        weights: &'a mut [T],
        means: &'a mut [T],
        covariances: &'a mut [T],
        precisions_cholesky: &'a mut [T],
        log_norm: &'a mut [T],
    ) -> Result<Self> {
        Self::from_parts(shape, weights, means, covariances, precisions_cholesky, log_norm)
    }

    /// Read-only view of the same storage ([`Self::view`]).
    pub fn as_ref(&self) -> MixtureRef<'_, T> {
        self.view()
    }

    /// Reborrows for a shorter lifetime ([`Self::view_mut`]).
    pub fn reborrow(&mut self) -> MixtureMut<'_, T> {
        self.view_mut()
    }
    /// Mixing weights, writable; call [`Self::refresh`] afterwards.
    pub fn weights_mut(&mut self) -> &mut [T] {
        self.weights
    }
    /// Means (K × D), writable; call [`Self::refresh`] afterwards.
    pub fn means_mut(&mut self) -> &mut [T] {
        self.means
    }
    /// Covariances (K × D × D), writable; call [`Self::refresh`] afterwards.
    pub fn covariances_mut(&mut self) -> &mut [T] {
        self.covariances
    }

    /// Means and covariances, writable at once (the M-step writes both).
    pub fn means_and_covariances_mut(&mut self) -> (&mut [T], &mut [T]) {
        (self.means, self.covariances)
    }

    /// Weights, means and covariances, writable at once.
    pub(crate) fn parameters_mut(&mut self) -> (&mut [T], &mut [T], &mut [T]) {
        (self.weights, self.means, self.covariances)
    }

    /// Copies every parameter and factor from a model of the same shape.
    pub fn copy_from(&mut self, other: &MixtureRef<'_, T>) -> Result<()> {
        if other.shape != self.shape {
            return Err(Error::ShapeMismatch {
                what: "mixture shape",
                expected: self.shape.components.saturating_mul(self.shape.features),
                found: other.shape.components.saturating_mul(other.shape.features),
            });
        }
        copy_checked("weights", self.weights, other.weights)?;
        copy_checked("means", self.means, other.means)?;
        copy_checked("covariances", self.covariances, other.covariances)?;
        copy_checked("precisions_cholesky", self.precisions_cholesky, other.precisions_cholesky)?;
        copy_checked("log_norm", self.log_norm, other.log_norm)
    }

    /// Checks the parameters and recomputes the cached factors from them.
    ///
    /// Requires: every entry finite; weights ≥ 0 summing to 1 within √ε (then rescaled to sum
    /// exactly to 1 in working precision); covariances symmetric, zero off the diagonal for
    /// `diag`, additionally equal diagonal entries for `spherical`, and positive definite. No
    /// regularization is added here (the M-step adds `reg_covar` before calling this).
    /// Errors: `NonFiniteParameter`, `InvalidParameter`, `NotPositiveDefinite { component, pivot }`.
    pub fn refresh(&mut self) -> Result<()> {
        let (k_n, d, dd) = self.shape.dims()?;
        check_finite("weights", self.weights)?;
        check_finite("means", self.means)?;
        check_finite("covariances", self.covariances)?;
        normalize_weights(self.weights)?;
        // (D/2)·ln 2π with D/2 exact in T (D < 2^24), as `0.5 * d as f64` rounded to T would give,
        // without f64 arithmetic (software on the Cortex-M0 and M4F).
        let half_d_ln2pi = T::from_usize(d) * T::from_f64(0.5) * T::LN_2PI;
        let components = rows(self.covariances, dd)
            .zip(rows_mut(self.precisions_cholesky, dd))
            .zip(self.log_norm.iter_mut().zip(self.weights.iter()));
        for (k, ((cov, u), (log_norm, &w))) in (0..k_n).zip(components) {
            check_structure(self.shape.kind, cov, d)?;
            u.copy_from_slice(cov);
            cholesky_in_place(u, d).map_err(|pivot| Error::NotPositiveDefinite { component: k, pivot })?;
            lower_inverse_transpose_in_place(u, d);
            let mut log_det_u = T::ZERO;
            for &u_ii in diagonal(u, d) {
                log_det_u += u_ii.ln();
            }
            // A zero weight is a legal, empty component: ln 0 = −∞ gives it zero responsibility.
            *log_norm = w.ln() - half_d_ln2pi + log_det_u;
        }
        Ok(())
    }
}

/// Weights ≥ 0 summing to 1 within √ε, rescaled by their sum (so that they sum to 1 in working
/// precision). Errors: `InvalidParameter` for a negative weight or a sum off by more than √ε.
#[inline]
pub(super) fn normalize_weights<T: Real>(weights: &mut [T]) -> Result<()> {
    let mut total = T::ZERO;
    for &w in weights.iter() {
        if w < T::ZERO {
            return Err(Error::InvalidParameter { name: "weights", reason: "negative weight" });
        }
        total += w;
    }
    if (total - T::ONE).abs() > T::SQRT_EPSILON {
        return Err(Error::InvalidParameter { name: "weights", reason: "weights must sum to 1" });
    }
    for w in weights.iter_mut() {
        *w /= total;
    }
    Ok(())
}

/// `dst.copy_from_slice(src)`, with a typed error instead of a panic when the lengths differ.
pub(crate) fn copy_checked<T: Copy>(what: &'static str, dst: &mut [T], src: &[T]) -> Result<()> {
    if dst.len() != src.len() {
        return Err(Error::ShapeMismatch { what, expected: dst.len(), found: src.len() });
    }
    dst.copy_from_slice(src);
    Ok(())
}

fn check_finite<T: Real>(name: &'static str, v: &[T]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(Error::NonFiniteParameter { name, index }),
        None => Ok(()),
    }
}

pub(super) fn check_structure<T: Real>(kind: CovarianceKind, cov: &[T], d: usize) -> Result<()> {
    if d == 0 {
        return Ok(());
    }
    // Row i's strict lower part against column i's strict upper part (entry i of the rows above).
    for (i, row_i) in (0..d).zip(rows(cov, d)) {
        for (&a, row_j) in row_i.iter().take(i).zip(rows(cov, d)) {
            let Some(&b) = row_j.get(i) else {
                return Err(Error::ShapeMismatch {
                    what: "covariance matrix",
                    expected: d,
                    found: row_j.len(),
                });
            };
            match kind {
                CovarianceKind::Full | CovarianceKind::Tied => {
                    let scale = a.abs().max(b.abs()).max(T::MIN_POSITIVE);
                    if (a - b).abs() > T::from_f64(1e3) * T::EPSILON * scale {
                        return Err(Error::InvalidParameter {
                            name: "covariances",
                            reason: "covariance matrix is not symmetric",
                        });
                    }
                }
                CovarianceKind::Diag | CovarianceKind::Spherical => {
                    if a != T::ZERO || b != T::ZERO {
                        return Err(Error::InvalidParameter {
                            name: "covariances",
                            reason: "diag and spherical covariances must be zero off the diagonal",
                        });
                    }
                }
            }
        }
    }
    if kind == CovarianceKind::Spherical {
        let mut diag = diagonal(cov, d);
        if let Some(&first) = diag.next() {
            // A plain loop, not `Iterator::any`: at opt-level "s" LLVM kept `any` out of line,
            // 224 B in the monitor's image on the Cortex-M0 (issue 18's flash goal).
            for &v in diag {
                if v != first {
                    return Err(Error::InvalidParameter {
                        name: "covariances",
                        reason: "spherical covariance needs equal diagonal entries",
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gmm::{StatsMut, Totals, online_step};

    /// Fuzzing found NaN log densities for finite points: with U entries > 1 (small variances)
    /// and correlated components, x − μ ≈ 1.5e308 makes partial products +∞ and −∞.
    #[test]
    fn finite_point_beyond_overflow_has_zero_density_not_nan() {
        let d = 2;
        let shape = Shape::new(2, d, CovarianceKind::Full);
        let (mut w, mut mu) = ([0.5, 0.5], [0.0, 0.0, 1.0, 1.0]);
        // 0.01·[[1, 0.5], [0.5, 1]]: U = L⁻ᵀ has entries ≈ ±11.5 of both signs.
        let mut cov = [0.01, 0.005, 0.005, 0.01, 1.0, 0.0, 0.0, 1.0];
        let (mut u, mut ln) = ([0.0; 8], [0.0; 2]);
        let mut m = MixtureMut::new(shape, &mut w, &mut mu, &mut cov, &mut u, &mut ln).unwrap();
        m.refresh().unwrap();
        let m = m.as_ref();
        let (mut lp, mut work) = ([0.0; 2], [0.0; 4]);
        let x = [1.5e308, 1.5e308];
        m.component_log_probs(&x, &mut lp, &mut work).unwrap();
        assert!(lp[0].is_nan(), "the overflow this test is about: {lp:?}");
        assert_eq!(m.log_density(&x, &mut lp, &mut work).unwrap(), f64::NEG_INFINITY);
        // The other component's density underflows too: both −∞, argmax keeps the first.
        assert_eq!(m.predict(&x, &mut lp, &mut work).unwrap(), 0);
        // A NaN sample still propagates.
        assert!(m.log_density(&[f64::NAN, 0.0], &mut lp, &mut work).unwrap().is_nan());
    }

    /// The same overflow in f32, ~1e36 from a tight correlated component, at a point another
    /// component explains: every consumer of the log-probabilities — density, prediction,
    /// responsibilities, the E-step's statistics and the online step — gives that component all
    /// of the weight (the f64 answer) instead of a NaN or a ZeroDensity error.
    #[test]
    fn overflowed_component_gets_no_responsibility_in_f32() {
        let shape = Shape::new(2, 2, CovarianceKind::Full);
        let (mut w, mut mu) = ([0.5f32, 0.5], [0.0f32, 0.0, 1e36, 1e36]);
        let mut cov = [1e-6f32, 0.5e-6, 0.5e-6, 1e-6, 1.0, 0.0, 0.0, 1.0];
        let (mut u, mut ln) = ([0.0f32; 8], [0.0f32; 2]);
        let mut m = MixtureMut::new(shape, &mut w, &mut mu, &mut cov, &mut u, &mut ln).unwrap();
        m.refresh().unwrap();
        let (mut lp, mut work) = ([0.0f32; 2], [0.0f32; 4]);
        let x = [1e36f32, 1e36];
        m.as_ref().component_log_probs(&x, &mut lp, &mut work).unwrap();
        assert!(lp[0].is_nan() && lp[1].is_finite(), "the overflow this test is about: {lp:?}");
        let ln_p = m.as_ref().log_density(&x, &mut lp, &mut work).unwrap();
        assert_eq!(ln_p, lp[1]);
        assert_eq!(m.as_ref().predict(&x, &mut lp, &mut work).unwrap(), 1);
        assert_eq!(m.as_ref().predict_proba(&x, &mut lp, &mut work).unwrap(), ln_p);
        assert_eq!(lp, [0.0, 1.0]);

        let (mut shift, mut n, mut s1, mut s2, mut worst) =
            ([0.0f32; 4], [0.0f32; 2], [0.0f32; 4], [0.0f32; 8], [0.0f32; 2]);
        let mut totals = Totals::default();
        let mut stats =
            StatsMut::new(shape, &mut shift, &mut n, &mut s1, &mut s2, &mut worst, &mut totals).unwrap();
        stats.reset(&[0.0, 0.0, 1e36, 1e36]).unwrap();
        assert_eq!(stats.accumulate(&m.as_ref(), &x, &mut lp, &mut work).unwrap(), ln_p);
        assert_eq!(stats.as_ref().resp_sums(), &[0.0, 1.0]);
        assert_eq!(stats.as_ref().s2(), &[0.0; 8]);

        let before = [m.as_ref().weights()[0], m.as_ref().weights()[1]];
        assert_eq!(online_step(&mut m, &x, 0.5, 1e-6, &mut lp, &mut work).unwrap(), ln_p);
        assert!(m.as_ref().weights()[1] > before[1], "{:?} → {:?}", before, m.as_ref().weights());
    }
}
