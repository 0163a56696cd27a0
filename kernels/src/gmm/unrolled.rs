//! The per-sample kernels of [`GaussianMixture`](super::GaussianMixture) and
//! [`SufficientStats`](super::SufficientStats) at compile-time K and D: the component
//! densities, the responsibilities, the E-step's accumulation, the online-EM step, the refresh
//! of the cached factors and the M-step, written over the inline arrays with their loops
//! unrolled ([`unroll!`]), so that no loop control and no length check is left inside them
//! (the link-time no-panic proof, `firmware/panic-paths.sh`, covers them through the
//! fixed-size entry points).
//!
//! Each performs the same floating-point operations, in the same order, as its runtime-sized
//! counterpart ([`MixtureRef::component_log_probs`], [`responsibilities_in_place`],
//! [`StatsMut::accumulate`], [`online_step`](super::online_step), [`MixtureMut::refresh`],
//! [`StatsRef::finish`](super::StatsRef::finish)), so the results are equal bit for bit (tests
//! below) and the firmware computes what the host computes. Two differences cost no bits: the
//! projection Uᵀδ reads only the upper triangle of U (the runtime core adds the zeros below it,
//! which changes nothing but the sign of a zero that is then squared), and the online step
//! reuses the deviations δ_k = x − μ_k of the density instead of recomputing them.

use super::CovarianceKind;
use super::model::MixtureInner;
use super::model::{normalize_weights, overflow_is_zero_density, responsibilities_after_overflow};
use super::stats::StatsInner;
use super::stats::empty_below;
use super::storage::Arrays;
#[cfg(doc)]
use super::{MixtureMut, MixtureRef, StatsMut, responsibilities_in_place};
use crate::linalg::{cholesky_fixed_in_place, lower_inverse_transpose_fixed_in_place};
use crate::{Error, Real, Result};

// The fixed types by their definitions, not through `fixed.rs` (which calls into this file):
// `fixed::GaussianMixture` and `fixed::SufficientStats` are these aliases.
type GaussianMixture<T, const K: usize, const D: usize> = MixtureInner<Arrays<T, K, D>>;
type SufficientStats<T, const K: usize, const D: usize> = StatsInner<Arrays<T, K, D>>;

// `unroll!` (src/unroll.rs): the per-component and per-feature loops as straight-line code.

/// `Err(NonFiniteSample)` for the first NaN/±∞ entry of `x`.
#[inline(always)]
pub(super) fn check_sample<T: Real, const D: usize>(x: &[T; D]) -> Result<()> {
    unroll!(i in D => {
        if !x[i].is_finite() {
            return Err(Error::NonFiniteSample { sample: 0, feature: i });
        }
    });
    Ok(())
}

/// ln α_k + ln N(x; μ_k, Σ_k) = log_norm_k − ½‖U_kᵀ δ_k‖² for every k, with the deviations
/// δ_k = x − μ_k left in `dev`. `full`/`tied`: y_j = Σ_{i ≤ j} δ_i U_ij (U upper triangular,
/// D(D+1)/2 multiply-adds); `diag`/`spherical`: y_i = δ_i U_ii. The kind is matched once, outside
/// the unrolled loops.
#[inline(always)]
pub(super) fn log_probs<T: Real, const K: usize, const D: usize>(
    m: &GaussianMixture<T, K, D>,
    x: &[T; D],
    dev: &mut [[T; D]; K],
) -> [T; K] {
    let half = T::from_f64(0.5);
    let mut lp = [T::ZERO; K];
    if m.shape.is_full_matrix() {
        unroll!(k in K => {
            let (mu, u, d) = (&m.means[k], &m.precisions_cholesky[k], &mut dev[k]);
            unroll!(i in D => { d[i] = x[i] - mu[i]; });
            let mut maha = T::ZERO;
            unroll!(j in D => {
                let mut y = d[0] * u[0][j];
                unroll!(i in 1, j + 1 => { y += d[i] * u[i][j]; });
                // The first term as is: 0 + y² = y² in every rounding (y² ≥ +0 or NaN).
                maha = if j == 0 { y * y } else { maha + y * y };
            });
            lp[k] = m.log_norm[k] - half * maha;
        });
    } else {
        unroll!(k in K => {
            let (mu, u, d) = (&m.means[k], &m.precisions_cholesky[k], &mut dev[k]);
            let mut maha = T::ZERO;
            unroll!(i in D => {
                d[i] = x[i] - mu[i];
                let y = d[i] * u[i][i];
                maha = if i == 0 { y * y } else { maha + y * y };
            });
            lp[k] = m.log_norm[k] - half * maha;
        });
    }
    lp
}

/// [`responsibilities_in_place`] over K values, unrolled (the same operations in the same
/// order): q_k = e^{a_k − m} / (1 + t) with m = max a_k, t = Σ_{k ≠ argmax} e^{a_k − m}; returns
/// ln p = m + ln(1 + t), `None` (a unchanged) when every term is −∞ or one is NaN.
#[inline(always)]
fn responsibilities<T: Real, const K: usize>(a: &mut [T; K]) -> Option<T> {
    let mut m = T::NEG_INFINITY;
    let mut top = 0;
    unroll!(k in K => {
        let v = a[k];
        if v.is_nan() {
            return None;
        }
        if v > m {
            m = v;
            top = k;
        }
    });
    if m == T::NEG_INFINITY || !m.is_finite() {
        return None;
    }
    let mut t = T::ZERO;
    unroll!(k in K => {
        if k != top {
            let x = a[k] - m;
            a[k] = if x < T::EXP_ZERO_BELOW { T::ZERO } else { x.fast_exp() };
            t += a[k];
        }
    });
    let inv = T::ONE / (T::ONE + t);
    unroll!(k in K => {
        a[k] = if k == top { inv } else { a[k] * inv };
    });
    Some(m + t.ln_1p_nonneg())
}

/// [`responsibilities`], with a NaN term from an overflowed Mahalanobis sum at a finite `x`
/// counted as zero density, as [`super::sample_responsibilities`].
#[inline(always)]
fn sample_responsibilities<T: Real, const K: usize, const D: usize>(x: &[T; D], a: &mut [T; K]) -> Option<T> {
    match responsibilities(a) {
        Some(lse) => Some(lse),
        None => responsibilities_after_overflow(x, a),
    }
}

/// ln p(x) = logsumexp_k(ln α_k N_k(x)), as [`MixtureRef::log_density`].
#[inline]
pub(super) fn log_density<T: Real, const K: usize, const D: usize>(
    m: &GaussianMixture<T, K, D>,
    x: &[T; D],
) -> Result<T> {
    check_sample(x)?;
    let mut dev = [[T::ZERO; D]; K];
    let mut lp = log_probs(m, x, &mut dev);
    overflow_is_zero_density(x, &mut lp);
    Ok(log_sum_exp(&lp))
}

/// [`super::log_sum_exp`] over K values, unrolled, the same bits: the maximal term's e⁰ = 1 is
/// not computed (exp(+0) is exactly 1 there).
#[inline(always)]
fn log_sum_exp<T: Real, const K: usize>(a: &[T; K]) -> T {
    let mut m = T::NEG_INFINITY;
    unroll!(k in K => {
        if a[k] > m || a[k].is_nan() {
            m = a[k];
        }
    });
    if m == T::NEG_INFINITY || m.is_nan() {
        return m;
    }
    let mut s = T::ZERO;
    unroll!(k in K => {
        s += if a[k] == m { T::ONE } else { (a[k] - m).exp_neg() };
    });
    m + s.ln()
}

/// Responsibilities q_k(x) into `proba` (the log-probabilities on `ZeroDensity`); ln p(x).
#[inline]
pub(super) fn predict_proba<T: Real, const K: usize, const D: usize>(
    m: &GaussianMixture<T, K, D>,
    x: &[T; D],
    proba: &mut [T; K],
) -> Result<T> {
    check_sample(x)?;
    let mut dev = [[T::ZERO; D]; K];
    *proba = log_probs(m, x, &mut dev);
    sample_responsibilities(x, proba).ok_or(Error::ZeroDensity { sample: 0 })
}

/// The E-step of one sample and its accumulation, as [`StatsMut::accumulate`]: responsibilities
/// r_k, then n_k += r_k, s1_k += r_k δ, s2_k += (r_k δ_i) δ_j (the whole square for `full`, the
/// diagonal otherwise) with δ = x − c_k, and the totals. Returns ln p(x).
#[inline]
pub(super) fn accumulate<T: Real, const K: usize, const D: usize>(
    stats: &mut SufficientStats<T, K, D>,
    m: &GaussianMixture<T, K, D>,
    x: &[T; D],
) -> Result<T> {
    if m.shape != stats.shape {
        let kd = K.saturating_mul(D);
        return Err(Error::ShapeMismatch { what: "model shape vs stats shape", expected: kd, found: kd });
    }
    check_sample(x)?;
    let mut dev = [[T::ZERO; D]; K];
    let mut q = log_probs(m, x, &mut dev);
    let lse = sample_responsibilities(x, &mut q).ok_or(Error::ZeroDensity { sample: 0 })?;
    if stats.shape.is_full_matrix() {
        unroll!(k in K => {
            let r = q[k];
            if r > T::ZERO {
                let (c, s1, s2) = (&stats.shift[k], &mut stats.s1[k], &mut stats.s2[k]);
                let mut v = [T::ZERO; D];
                unroll!(i in D => {
                    v[i] = x[i] - c[i];
                    s1[i] += r * v[i];
                });
                unroll!(i in D => {
                    let rdi = r * v[i];
                    unroll!(j in D => { s2[i][j] += rdi * v[j]; });
                });
                stats.resp[k] += r;
            }
        });
    } else {
        unroll!(k in K => {
            let r = q[k];
            if r > T::ZERO {
                let (c, s1, s2) = (&stats.shift[k], &mut stats.s1[k], &mut stats.s2[k]);
                unroll!(i in D => {
                    let v = x[i] - c[i];
                    s1[i] += r * v;
                    s2[i][i] += r * v * v;
                });
                stats.resp[k] += r;
            }
        });
    }
    // `StatsMut::observe`: count, compensated sum, worst sample.
    let totals = &mut stats.totals;
    totals.samples = totals.samples.saturating_add(1);
    totals.add_log_likelihood(lse);
    if lse < totals.worst_log_likelihood {
        totals.worst_log_likelihood = lse;
        stats.worst = *x;
    }
    Ok(lse)
}

/// One online-EM step of `m` with sample `x` and step γ ∈ (0, 1], as [`super::online_step`]
/// (formulas there), then [`refresh`]. Returns ln p(x) before the update. On error `m` is partly
/// updated (the caller works on a copy).
#[inline]
pub(super) fn online_step<T: Real, const K: usize, const D: usize>(
    m: &mut GaussianMixture<T, K, D>,
    x: &[T; D],
    gamma: T,
    reg_covar: T,
) -> Result<T> {
    if !(gamma > T::ZERO && gamma <= T::ONE) {
        return Err(Error::InvalidParameter { name: "gamma", reason: "step size must lie in (0, 1]" });
    }
    check_sample(x)?;
    let mut dev = [[T::ZERO; D]; K];
    let mut q = log_probs(m, x, &mut dev);
    let lse = sample_responsibilities(x, &mut q).ok_or(Error::ZeroDensity { sample: 0 })?;
    let one = T::ONE;
    let kind = m.shape;
    unroll!(k in K => {
        let r = q[k];
        let w_new = (one - gamma) * m.weights[k] + gamma * r;
        m.weights[k] = w_new;
        if w_new > T::ZERO && r > T::ZERO {
            let eta = (gamma * r / w_new).min(one);
            // δ = x − μ_k(old): the density's own deviations.
            let (d, mu, cov) = (&dev[k], &mut m.means[k], &mut m.covariances[k]);
            unroll!(i in D => { mu[i] += eta * d[i]; });
            let keep = one - eta;
            let spread = eta * keep;
            match kind {
                CovarianceKind::Full | CovarianceKind::Tied => {
                    unroll!(i in D => {
                        unroll!(j in D => {
                            // di·dj first: Σ stays exactly symmetric (see `online_step`).
                            cov[i][j] = keep * cov[i][j] + spread * (d[i] * d[j]);
                        });
                    });
                }
                CovarianceKind::Diag => {
                    unroll!(i in D => { cov[i][i] = keep * cov[i][i] + spread * d[i] * d[i]; });
                }
                CovarianceKind::Spherical => {
                    let mut s = T::ZERO;
                    unroll!(i in D => { s += d[i] * d[i]; });
                    let v = keep * cov[0][0] + spread * s / T::from_usize(D);
                    unroll!(i in D => { cov[i][i] = v; });
                }
            }
            unroll!(i in D => { cov[i][i] += eta * reg_covar; });
        }
    });
    refresh(m)?;
    Ok(lse)
}

/// Checks the parameters and recomputes U_k and log_norm_k, as [`MixtureMut::refresh`] (its
/// requirements and errors), with the D × D Cholesky factorization and triangular inverse
/// unrolled.
#[inline]
pub(super) fn refresh<T: Real, const K: usize, const D: usize>(
    m: &mut GaussianMixture<T, K, D>,
) -> Result<()> {
    // The first non-finite entry in the flattened order, as `check_finite` on the slices finds it
    // (unrolled: the slices' search loop cost the online step ≈ 80 instructions at K = D = 2).
    unroll!(k in K => {
        if !m.weights[k].is_finite() {
            return Err(Error::NonFiniteParameter { name: "weights", index: k });
        }
    });
    unroll!(k in K => {
        unroll!(i in D => {
            if !m.means[k][i].is_finite() {
                return Err(Error::NonFiniteParameter { name: "means", index: k * D + i });
            }
        });
    });
    unroll!(k in K => {
        unroll!(i in D => {
            unroll!(j in D => {
                if !m.covariances[k][i][j].is_finite() {
                    return Err(Error::NonFiniteParameter { name: "covariances", index: (k * D + i) * D + j });
                }
            });
        });
    });
    normalize_weights(&mut m.weights)?;
    let half_d_ln2pi = T::from_f64(0.5 * D as f64) * T::LN_2PI;
    for k in 0..K {
        let cov = &m.covariances[k];
        check_structure_fixed(m.shape, cov)?;
        let u = &mut m.precisions_cholesky[k];
        *u = *cov;
        cholesky_fixed_in_place(u).map_err(|pivot| Error::NotPositiveDefinite { component: k, pivot })?;
        lower_inverse_transpose_fixed_in_place(u);
        m.log_norm[k] = m.weights[k].ln() - half_d_ln2pi + log_det(u);
    }
    Ok(())
}

/// [`check_structure`](super::model::check_structure) over a D × D array, unrolled: the same
/// checks in the same order, so the same error. `full`/`tied`: |a_ij − a_ji| ≤ 10³ ε ·
/// max(|a_ij|, |a_ji|, MIN_POSITIVE) for j < i; `diag`/`spherical`: zero off the diagonal, and
/// `spherical` an equal diagonal. (The runtime-sized one walks the rows through slices, which
/// cost the online step ≈ 90 instructions per component on the Cortex-M4F.)
#[inline(always)]
fn check_structure_fixed<T: Real, const D: usize>(kind: CovarianceKind, cov: &[[T; D]; D]) -> Result<()> {
    let full = kind.is_full_matrix();
    let tol = T::from_f64(1e3) * T::EPSILON;
    unroll!(i in 1, D => {
        unroll!(j in i => {
            let (a, b) = (cov[i][j], cov[j][i]);
            if full {
                let scale = a.abs().max(b.abs()).max(T::MIN_POSITIVE);
                if (a - b).abs() > tol * scale {
                    return Err(Error::InvalidParameter {
                        name: "covariances",
                        reason: "covariance matrix is not symmetric",
                    });
                }
            } else if a != T::ZERO || b != T::ZERO {
                return Err(Error::InvalidParameter {
                    name: "covariances",
                    reason: "diag and spherical covariances must be zero off the diagonal",
                });
            }
        });
    });
    if kind == CovarianceKind::Spherical {
        unroll!(i in 1, D => {
            if cov[i][i] != cov[0][0] {
                return Err(Error::InvalidParameter {
                    name: "covariances",
                    reason: "spherical covariance needs equal diagonal entries",
                });
            }
        });
    }
    Ok(())
}

/// Σ_i ln U_ii from 0, in order.
#[inline(always)]
fn log_det<T: Real, const D: usize>(u: &[[T; D]; D]) -> T {
    let mut s = T::ZERO;
    unroll!(i in D => { s += u[i][i].ln(); });
    s
}

/// The M-step into `m` in place, as [`StatsRef::finish`](super::StatsRef::finish) followed by
/// the refresh, bit for bit, with the model left untouched on every error, and no copy of it on
/// the way: first the new weights, means and covariances are computed and checked in the order
/// `refresh` checks them, and each new covariance is factorized in the storage of its cached
/// factor U_k; only when all of that succeeded are the parameters written (the means and
/// covariances computed a second time, by the same operations, rather than kept in a second
/// model). On an error after some U_k were overwritten they are factorized again from the
/// untouched covariances, which reproduces them exactly. Tied models (pooled across components)
/// and M-steps that re-seed an empty component run on a copy through the runtime-sized core.
pub(super) fn finish<T: Real, const K: usize, const D: usize>(
    stats: &SufficientStats<T, K, D>,
    m: &mut GaussianMixture<T, K, D>,
    reg_covar: T,
    reseed: bool,
) -> Result<usize> {
    if m.shape != stats.shape {
        let kd = K.saturating_mul(D);
        return Err(Error::ShapeMismatch { what: "model shape vs stats shape", expected: kd, found: kd });
    }
    if !(reg_covar >= T::ZERO) || !reg_covar.is_finite() {
        return Err(Error::InvalidParameter { name: "reg_covar", reason: "must be finite and non-negative" });
    }
    if stats.totals.samples == 0 {
        return Err(Error::EmptyData);
    }
    let below = empty_below(&stats.totals);
    let kind = stats.shape;
    if kind == CovarianceKind::Tied || (reseed && stats.resp.iter().any(|&n| !(n > below))) {
        let mut candidate = *m;
        let reseeded = stats.view().finish(&mut candidate.view_mut(), reg_covar, reseed)?;
        *m = candidate;
        return Ok(reseeded);
    }
    let n_samples = stats.totals.total_weight();
    let mut w = [T::ZERO; K];
    for (w, &n) in w.iter_mut().zip(&stats.resp) {
        *w = if n > below { n / n_samples } else { n.max(T::ZERO) / n_samples };
    }
    let mut total = T::ZERO;
    for &v in &w {
        total += v;
    }
    if !(total > T::ZERO) {
        return Err(Error::EmptyData);
    }
    for v in w.iter_mut() {
        *v /= total;
    }
    // What `refresh` checks, in its order: weights, means, covariances, the weights' sum, then
    // per component the structure and the factorization.
    check_finite("weights", &w)?;
    for k in 0..K {
        let mu = new_mean(stats, m, k, below);
        if let Some(i) = mu.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFiniteParameter { name: "means", index: k * D + i });
        }
    }
    for k in 0..K {
        let cov = new_covariance(stats, m, k, below, reg_covar);
        if let Some(i) = cov.as_flattened().iter().position(|v| !v.is_finite()) {
            refactor(m, k);
            return Err(Error::NonFiniteParameter { name: "covariances", index: k * D * D + i });
        }
        m.precisions_cholesky[k] = cov;
    }
    if let Err(e) = normalize_weights(&mut w) {
        refactor(m, K);
        return Err(e);
    }
    for k in 0..K {
        let u = &mut m.precisions_cholesky[k];
        let factored = check_structure_fixed(kind, u).and_then(|()| {
            cholesky_fixed_in_place(u).map_err(|pivot| Error::NotPositiveDefinite { component: k, pivot })
        });
        if let Err(e) = factored {
            refactor(m, K);
            return Err(e);
        }
        lower_inverse_transpose_fixed_in_place(u);
    }
    let half_d_ln2pi = T::from_f64(0.5 * D as f64) * T::LN_2PI;
    for k in 0..K {
        m.means[k] = new_mean(stats, m, k, below);
        m.covariances[k] = new_covariance(stats, m, k, below, reg_covar);
        m.weights[k] = w[k];
        m.log_norm[k] = w[k].ln() - half_d_ln2pi + log_det(&m.precisions_cholesky[k]);
    }
    Ok(0)
}

/// μ_k = c_k + s1_k / n_k (the current μ_k for an empty component).
#[inline(always)]
fn new_mean<T: Real, const K: usize, const D: usize>(
    stats: &SufficientStats<T, K, D>,
    m: &GaussianMixture<T, K, D>,
    k: usize,
    below: T,
) -> [T; D] {
    let n = stats.resp[k];
    if !(n > below) {
        return m.means[k];
    }
    let inv_n = T::ONE / n;
    core::array::from_fn(|i| stats.shift[k][i] + stats.s1[k][i] * inv_n)
}

/// Σ_k = s2_k / n_k − m mᵀ (m = s1_k / n_k; the upper triangle, mirrored, for `full`; the
/// diagonal for `diag`, its mean for `spherical`) + reg·I (the current Σ_k for an empty
/// component), as the runtime-sized M-step computes it.
#[inline(always)]
fn new_covariance<T: Real, const K: usize, const D: usize>(
    stats: &SufficientStats<T, K, D>,
    m: &GaussianMixture<T, K, D>,
    k: usize,
    below: T,
    reg: T,
) -> [[T; D]; D] {
    let n = stats.resp[k];
    if !(n > below) {
        return m.covariances[k];
    }
    let (s1, s2) = (&stats.s1[k], &stats.s2[k]);
    let inv_n = T::ONE / n;
    let mut cov = [[T::ZERO; D]; D];
    let full = stats.shape.is_full_matrix();
    for i in 0..D {
        let mi = s1[i] * inv_n;
        if full {
            for j in i..D {
                cov[i][j] = s2[i][j] * inv_n - mi * (s1[j] * inv_n);
            }
        } else {
            cov[i][i] = s2[i][i] * inv_n - mi * (s1[i] * inv_n);
        }
    }
    if full {
        for i in 0..D {
            for j in i + 1..D {
                cov[j][i] = cov[i][j];
            }
        }
    }
    if stats.shape == CovarianceKind::Spherical {
        let mut s = T::ZERO;
        for i in 0..D {
            s += cov[i][i];
        }
        let v = s / T::from_usize(D);
        for i in 0..D {
            cov[i][i] = v;
        }
    }
    for i in 0..D {
        cov[i][i] += reg;
    }
    cov
}

/// Factorizes the current covariances of components `..upto` again into their U_k (undoing
/// what a failed [`finish`] wrote there; they factorized before, so this cannot fail).
#[cold]
fn refactor<T: Real, const K: usize, const D: usize>(m: &mut GaussianMixture<T, K, D>, upto: usize) {
    for (u, cov) in m.precisions_cholesky.iter_mut().zip(&m.covariances).take(upto) {
        *u = *cov;
        if cholesky_fixed_in_place(u).is_ok() {
            lower_inverse_transpose_fixed_in_place(u);
        }
    }
}

fn check_finite<T: Real>(name: &'static str, v: &[T]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(Error::NonFiniteParameter { name, index }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gmm::online_step as slice_online_step;

    /// A small linear congruential generator: uniform in [−½, ½).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        }
    }

    const KINDS: [CovarianceKind; 4] =
        [CovarianceKind::Full, CovarianceKind::Diag, CovarianceKind::Spherical, CovarianceKind::Tied];

    fn model<T: Real, const K: usize, const D: usize>(
        kind: CovarianceKind,
        g: &mut Lcg,
    ) -> GaussianMixture<T, K, D> {
        let raw: [f64; K] = core::array::from_fn(|_| 0.6 + g.next());
        let total: f64 = raw.iter().sum();
        let weights = raw.map(|w| T::from_f64(w / total));
        let means = core::array::from_fn(|_| core::array::from_fn(|_| T::from_f64(3.0 * g.next())));
        let shared_b: [[f64; D]; D] = core::array::from_fn(|_| core::array::from_fn(|_| g.next()));
        let sph = 0.3 + g.next().abs();
        let covariances = core::array::from_fn(|_| {
            let b: [[f64; D]; D] = match kind {
                CovarianceKind::Tied => shared_b,
                _ => core::array::from_fn(|_| core::array::from_fn(|_| g.next())),
            };
            core::array::from_fn(|i| {
                core::array::from_fn(|j| {
                    let v = match kind {
                        CovarianceKind::Full | CovarianceKind::Tied => {
                            (0..D).map(|k| b[i][k] * b[j][k]).sum::<f64>() + if i == j { 0.2 } else { 0.0 }
                        }
                        CovarianceKind::Diag if i == j => 0.2 + b[i][0].abs(),
                        CovarianceKind::Spherical if i == j => sph,
                        _ => 0.0,
                    };
                    T::from_f64(v)
                })
            })
        });
        GaussianMixture::new(kind, weights, means, covariances).unwrap()
    }

    fn sample<T: Real, const D: usize>(g: &mut Lcg) -> [T; D] {
        core::array::from_fn(|_| T::from_f64(5.0 * g.next()))
    }

    /// Bit patterns, so that −0 ≠ +0 and NaN = NaN would show.
    fn bits<T: Real>(v: &[T]) -> [u64; 64] {
        let mut out = [0u64; 64];
        for (o, x) in out.iter_mut().zip(v) {
            *o = x.to_f64().to_bits();
        }
        out
    }

    /// Log densities, responsibilities, the E-step's statistics and online steps of the unrolled
    /// kernels against the runtime-sized ones, bit for bit, on random models of every kind.
    fn agree<T: Real, const K: usize, const D: usize>(seed: u64) {
        let mut g = Lcg(seed);
        for kind in KINDS {
            let m = model::<T, K, D>(kind, &mut g);
            let mut stats = SufficientStats::<T, K, D>::new(kind);
            stats.reset(&m);
            let mut slice_stats = stats;
            let mut online = m;
            let mut slice_online = m;
            for n in 0..20 {
                let x = sample::<T, D>(&mut g);
                let (mut lp, mut work) = ([T::ZERO; K], [[T::ZERO; D]; 2]);
                let want = m.view().log_density(&x, &mut lp, work.as_flattened_mut()).unwrap();
                let got = m.log_density(&x).unwrap();
                assert_eq!(
                    got.to_f64().to_bits(),
                    want.to_f64().to_bits(),
                    "log_density {kind:?} K={K} D={D}"
                );
                let mut proba = [T::ZERO; K];
                let want = m.view().predict_proba(&x, &mut lp, work.as_flattened_mut()).unwrap();
                assert_eq!(
                    m.predict_proba(&x, &mut proba).unwrap().to_f64().to_bits(),
                    want.to_f64().to_bits()
                );
                assert_eq!(bits(&proba), bits(&lp), "responsibilities {kind:?}");
                assert_eq!(
                    m.predict(&x).unwrap(),
                    m.view().predict(&x, &mut lp, work.as_flattened_mut()).unwrap()
                );

                let want = slice_stats.view_mut().accumulate(&m.view(), &x, &mut lp, work.as_flattened_mut());
                assert_eq!(stats.accumulate(&m, &x), want);
                assert_eq!(stats, slice_stats, "statistics {kind:?} K={K} D={D}");

                if kind != CovarianceKind::Tied {
                    let gamma = T::from_f64(1.0 / (n as f64 + 3.0));
                    let reg = T::from_f64(1e-6);
                    let want = slice_online_step(
                        &mut slice_online.view_mut(),
                        &x,
                        gamma,
                        reg,
                        &mut lp,
                        work.as_flattened_mut(),
                    );
                    assert_eq!(online_step(&mut online, &x, gamma, reg), want);
                    assert_eq!(online, slice_online, "online step {kind:?} K={K} D={D}");
                }
            }
            // The refresh alone, and its errors, as the runtime-sized one.
            let mut fixed = online;
            let mut slice = online;
            assert_eq!(refresh(&mut fixed), slice.view_mut().refresh());
            assert_eq!(fixed, slice);
            fixed.covariances[0][0][0] = -T::ONE;
            slice.covariances[0][0][0] = -T::ONE;
            let (a, b) = (refresh(&mut fixed), slice.view_mut().refresh());
            assert!(a.is_err());
            assert_eq!(a, b);
            // Structure errors (asymmetric, off-diagonal entries, unequal spherical diagonal)
            // as the runtime-sized check reports them.
            if D >= 2 {
                for (i, j, v) in [(1, 0, 0.5), (0, 1, 0.25), (1, 1, 7.0)] {
                    let (mut f, mut s) = (online, online);
                    f.covariances[K - 1][i][j] += T::from_f64(v);
                    s.covariances[K - 1][i][j] += T::from_f64(v);
                    let (a, b) = (refresh(&mut f), s.view_mut().refresh());
                    assert_eq!(a, b, "structure {kind:?} ({i}, {j})");
                    if i != j || kind == CovarianceKind::Spherical {
                        assert!(
                            matches!(a, Err(Error::InvalidParameter { .. })),
                            "{kind:?} ({i}, {j}): {a:?}"
                        );
                    }
                }
            }
            // A non-finite covariance entry, then weight: the same first index as the slices'.
            let (mut f2, mut s2) = (fixed, slice);
            f2.covariances[K - 1][D - 1][0] = T::NEG_INFINITY;
            s2.covariances[K - 1][D - 1][0] = T::NEG_INFINITY;
            let want = s2.view_mut().refresh();
            assert!(matches!(want, Err(Error::NonFiniteParameter { name: "covariances", .. })));
            assert_eq!(refresh(&mut f2), want);
            f2.weights[K - 1] = T::NEG_INFINITY;
            s2.weights[K - 1] = T::NEG_INFINITY;
            assert_eq!(refresh(&mut f2), s2.view_mut().refresh());
            fixed.means[K - 1][D - 1] = T::NEG_INFINITY;
            slice.means[K - 1][D - 1] = T::NEG_INFINITY;
            assert_eq!(refresh(&mut fixed), slice.view_mut().refresh());
        }
    }

    /// The in-place M-step against the runtime-sized one on a copy: same result, same model on
    /// success, the model untouched on every error.
    fn finish_agrees<T: Real, const K: usize, const D: usize>(seed: u64) {
        let mut g = Lcg(seed);
        for kind in KINDS {
            let m = model::<T, K, D>(kind, &mut g);
            let mut stats = SufficientStats::<T, K, D>::new(kind);
            stats.reset(&m);
            for _ in 0..(3 * K) {
                let _ = stats.accumulate(&m, &sample::<T, D>(&mut g));
            }
            for (reg, reseed) in [(1e-6, false), (1e-6, true), (0.0, false)] {
                let reg = T::from_f64(reg);
                let mut fixed = m;
                let mut slice = m;
                let want = stats.view().finish(&mut slice.view_mut(), reg, reseed);
                let got = finish(&stats, &mut fixed, reg, reseed);
                assert_eq!(got, want, "finish {kind:?} K={K} D={D}");
                if got.is_ok() {
                    assert_eq!(fixed, slice, "finished model {kind:?} K={K} D={D}");
                } else {
                    assert_eq!(fixed, m, "model after a failed finish {kind:?}");
                }
            }
            // Degenerate: zero scatter and no regularization: Σ_k = 0 has no Cholesky factor.
            let mut degenerate = stats;
            degenerate.s1 = [[T::ZERO; D]; K];
            degenerate.s2 = [[[T::ZERO; D]; D]; K];
            let mut fixed = m;
            let mut slice = m;
            let want = degenerate.view().finish(&mut slice.view_mut(), T::ZERO, false);
            assert_eq!(finish(&degenerate, &mut fixed, T::ZERO, false), want);
            assert!(matches!(want, Err(Error::NotPositiveDefinite { .. })), "{want:?}");
            assert_eq!(fixed, m, "model after a failed finish {kind:?}");
            // Overflowing statistics: non-finite parameters, reported as the slice M-step does.
            let mut huge = degenerate;
            huge.s2[0][0][0] = T::MAX;
            huge.s1[K - 1][0] = T::MAX;
            let mut fixed = m;
            let mut slice = m;
            let want = huge.view().finish(&mut slice.view_mut(), T::ZERO, false);
            assert_eq!(finish(&huge, &mut fixed, T::ZERO, false), want);
            assert!(want.is_err());
            assert_eq!(fixed, m);
        }
    }

    #[test]
    fn in_place_m_step_equals_the_runtime_sized_one_on_a_copy() {
        for seed in 0..8 {
            finish_agrees::<f32, 1, 1>(seed);
            finish_agrees::<f32, 2, 2>(seed);
            finish_agrees::<f32, 4, 2>(seed);
            finish_agrees::<f32, 3, 3>(seed);
            finish_agrees::<f64, 4, 3>(seed);
        }
    }

    #[test]
    fn unrolled_kernels_equal_the_runtime_sized_ones_bit_for_bit() {
        for seed in 0..8 {
            agree::<f32, 1, 1>(seed);
            agree::<f32, 2, 1>(seed);
            agree::<f32, 2, 2>(seed);
            agree::<f32, 4, 2>(seed);
            agree::<f32, 3, 3>(seed);
            agree::<f64, 2, 2>(seed);
            agree::<f64, 4, 3>(seed);
        }
    }

    /// The error paths of the fixed-size entry points report what the slice ones report.
    #[test]
    fn unrolled_kernels_reject_what_the_runtime_sized_ones_reject() {
        let mut g = Lcg(3);
        let m = model::<f32, 2, 2>(CovarianceKind::Full, &mut g);
        let x = [0.5f32, f32::NAN];
        assert_eq!(m.log_density(&x), Err(Error::NonFiniteSample { sample: 0, feature: 1 }));
        let mut stats = SufficientStats::<f32, 2, 2>::new(CovarianceKind::Full);
        stats.reset(&m);
        let before = stats;
        assert_eq!(stats.accumulate(&m, &x), Err(Error::NonFiniteSample { sample: 0, feature: 1 }));
        let mut diag_stats = SufficientStats::<f32, 2, 2>::new(CovarianceKind::Diag);
        assert!(matches!(diag_stats.accumulate(&m, &[0.0, 0.0]), Err(Error::ShapeMismatch { .. })));
        assert_eq!(stats, before);
        let mut copy = m;
        assert!(matches!(
            online_step(&mut copy, &[0.0, 0.0], 0.0, 1e-6),
            Err(Error::InvalidParameter { .. })
        ));
        assert!(matches!(
            online_step(&mut copy, &[0.0, 0.0], 1.5, 1e-6),
            Err(Error::InvalidParameter { .. })
        ));
        // Far from every component: zero density in f32, as the slice E-step says.
        let far = [1e30f32, -1e30];
        let (mut lp, mut work) = ([0.0f32; 2], [0.0f32; 4]);
        let mut slice_m = m;
        let want = slice_online_step(&mut slice_m.view_mut(), &far, 0.5, 1e-6, &mut lp, &mut work);
        assert_eq!(online_step(&mut copy, &far, 0.5, 1e-6), want);
    }
}
