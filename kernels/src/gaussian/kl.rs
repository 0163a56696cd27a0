//! Kullback–Leibler divergences between Gaussians (lecture eq 14–15), with gradients.
//!
//! Every divergence is evaluated as a sum of terms that are each non-negative in floating point,
//! so KL ≥ 0 holds for the computed value and KL = 0 exactly when the two distributions are given
//! by identical parameters:
//!
//! * a variance ratio r = σ₁²/σ₂² enters as g(ln r) with g(x) = eˣ − 1 − x ≥ 0, evaluated by a
//!   series near 0 where the direct form cancels ([`exp_excess`]);
//! * a mean difference enters as a squared (whitened) norm;
//! * for full covariances, with A = L₂⁻¹L₁ (lower triangular, A_ii = L₁,ii / L₂,ii),
//!   tr(Σ₂⁻¹Σ₁) − d − ln|Σ₁|/|Σ₂| = Σᵢ g(ln A_ii²) + Σ_{i>j} A_ij², so eq 14 is
//!   ½ [Σᵢ g(2 ln L₁,ii − 2 ln L₂,ii) + Σ_{i>j} A_ij² + ‖L₂⁻¹(μ₂ − μ₁)‖²].
//!
//! NaN contract: the diagonal kernels are hot per-element loops and propagate NaN/∞ from their
//! inputs into the result (IEEE arithmetic; no panic). The full-covariance kernels validate their
//! O(d²) inputs before the O(d³) work and return a typed [`Error`].

use crate::linalg::{cholesky_in_place, solve_lower_in_place};
use crate::{Error, Real, Result};

/// g(x) = eˣ − 1 − x, the divergence contributed by a log-variance ratio x; g ≥ 0, g(0) = 0.
///
/// For |x| ≤ ¼ the Taylor series x² Σ_{n≥2} xⁿ⁻²/n! (12 terms, truncation below 2⁻⁵³ relative)
/// avoids the cancellation of eˣ − 1 − x; the inner sum is then ≥ ½ − ¼/6·(1 + ¼ + …) > 0, so
/// the result is ≥ 0 and exactly 0 only at x = 0. Outside, g(x) ≥ 0.028 and the direct form
/// loses at most ~40 ulp. NaN propagates.
#[inline]
pub fn exp_excess<T: Real>(x: T) -> T {
    let quarter = T::from_f64(0.25);
    if x.abs() <= quarter {
        // 1/n! for n = 13 down to 2, Horner from the highest order.
        const INV_FACT: [f64; 12] = [
            1.0 / 6_227_020_800.0,
            1.0 / 479_001_600.0,
            1.0 / 39_916_800.0,
            1.0 / 3_628_800.0,
            1.0 / 362_880.0,
            1.0 / 40_320.0,
            1.0 / 5_040.0,
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
        ];
        let mut s = T::ZERO;
        for c in INV_FACT {
            s = s * x + T::from_f64(c);
        }
        x * x * s
    } else {
        x.exp() - T::ONE - x
    }
}

/// KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σᵢ (σᵢ² + μᵢ² − 1 − ln σᵢ²) (eq 15), parameterized by μ and
/// ln σ² as a VAE encoder outputs them.
///
/// Cost: one `exp` per element (two near ln σ² = 0: none, the series is used). NaN/∞ propagate.
#[inline]
pub fn kl_diag_std_normal<T: Real, const D: usize>(mu: &[T; D], log_var: &[T; D]) -> T {
    kl_diag_std_normal_slice(mu, log_var)
}

/// [`kl_diag_std_normal`] at a runtime dimension (μ and ln σ² of equal length; extra entries of
/// the longer one are ignored).
#[inline]
pub fn kl_diag_std_normal_slice<T: Real>(mu: &[T], log_var: &[T]) -> T {
    let mut s = T::ZERO;
    for (m, l) in mu.iter().zip(log_var) {
        s += exp_excess(*l) + *m * *m;
    }
    s * T::from_f64(0.5)
}

/// [`kl_diag_std_normal`] and its gradient, written (not added) into `grad_mu` and
/// `grad_log_var`: ∂KL/∂μᵢ = μᵢ, ∂KL/∂ln σᵢ² = ½ (σᵢ² − 1). NaN/∞ propagate.
#[inline]
pub fn kl_diag_std_normal_grad<T: Real, const D: usize>(
    mu: &[T; D],
    log_var: &[T; D],
    grad_mu: &mut [T; D],
    grad_log_var: &mut [T; D],
) -> T {
    kl_diag_std_normal_grad_slice(mu, log_var, grad_mu, grad_log_var)
}

/// [`kl_diag_std_normal_grad`] at a runtime dimension (all four slices of equal length; the
/// shortest bounds the loop).
#[inline]
pub fn kl_diag_std_normal_grad_slice<T: Real>(
    mu: &[T],
    log_var: &[T],
    grad_mu: &mut [T],
    grad_log_var: &mut [T],
) -> T {
    let half = T::from_f64(0.5);
    let mut s = T::ZERO;
    for (((m, l), gm), gl) in mu.iter().zip(log_var).zip(grad_mu.iter_mut()).zip(grad_log_var.iter_mut()) {
        s += exp_excess(*l) + *m * *m;
        *gm = *m;
        *gl = half * (l.exp() - T::ONE);
    }
    s * half
}

/// KL(N(μ₁, diag e^{ℓ₁}) ‖ N(μ₂, diag e^{ℓ₂})) = ½ Σᵢ [e^{ℓ₁ᵢ−ℓ₂ᵢ} − 1 − (ℓ₁ᵢ − ℓ₂ᵢ)
/// + (μ₁ᵢ − μ₂ᵢ)² e^{−ℓ₂ᵢ}] with ℓ = ln σ² (eq 14 with diagonal covariances).
///
/// Cost: two `exp` per element. NaN/∞ propagate (∞ − ∞ gives NaN, never a panic).
#[inline]
pub fn kl_diag<T: Real, const D: usize>(
    mu1: &[T; D],
    log_var1: &[T; D],
    mu2: &[T; D],
    log_var2: &[T; D],
) -> T {
    let mut s = T::ZERO;
    for i in 0..D {
        let dm = mu1[i] - mu2[i];
        s += exp_excess(log_var1[i] - log_var2[i]) + dm * dm * (-log_var2[i]).exp();
    }
    s * T::from_f64(0.5)
}

/// Gradient of [`kl_diag`] with respect to all four parameter vectors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiagKlGrad<T, const D: usize> {
    /// ∂KL/∂μ₁ = (μ₁ − μ₂) e^{−ℓ₂}.
    pub mu1: [T; D],
    /// ∂KL/∂ℓ₁ = ½ (e^{ℓ₁−ℓ₂} − 1).
    pub log_var1: [T; D],
    /// ∂KL/∂μ₂ = −∂KL/∂μ₁.
    pub mu2: [T; D],
    /// ∂KL/∂ℓ₂ = ½ (1 − e^{ℓ₁−ℓ₂} − (μ₁ − μ₂)² e^{−ℓ₂}).
    pub log_var2: [T; D],
}

impl<T: Real, const D: usize> DiagKlGrad<T, D> {
    /// All-zero gradient, to be overwritten by [`kl_diag_grad`].
    pub fn zeros() -> Self {
        Self { mu1: [T::ZERO; D], log_var1: [T::ZERO; D], mu2: [T::ZERO; D], log_var2: [T::ZERO; D] }
    }
}

/// [`kl_diag`] and its gradient, written (not added) into `grad`; formulas on [`DiagKlGrad`].
/// NaN/∞ propagate.
#[inline]
pub fn kl_diag_grad<T: Real, const D: usize>(
    mu1: &[T; D],
    log_var1: &[T; D],
    mu2: &[T; D],
    log_var2: &[T; D],
    grad: &mut DiagKlGrad<T, D>,
) -> T {
    let half = T::from_f64(0.5);
    let mut s = T::ZERO;
    for i in 0..D {
        let dm = mu1[i] - mu2[i];
        let r = log_var1[i] - log_var2[i];
        let inv_var2 = (-log_var2[i]).exp();
        let maha = dm * dm * inv_var2;
        s += exp_excess(r) + maha;
        let ratio = r.exp();
        grad.mu1[i] = dm * inv_var2;
        grad.mu2[i] = -(dm * inv_var2);
        grad.log_var1[i] = half * (ratio - T::ONE);
        grad.log_var2[i] = half * (T::ONE - ratio - maha);
    }
    s * half
}

/// Gradient of [`kl_full`] with respect to both means and both Cholesky factors.
///
/// Only the lower triangles of `l1`, `l2` are parameters; their strict upper triangles are 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FullKlGrad<T, const D: usize> {
    /// ∂KL/∂μ₁ = −Σ₂⁻¹(μ₂ − μ₁).
    pub mu1: [T; D],
    /// ∂KL/∂L₁ = tril(Σ₂⁻¹ L₁) − diag(1/L₁,ii).
    pub l1: [[T; D]; D],
    /// ∂KL/∂μ₂ = Σ₂⁻¹(μ₂ − μ₁).
    pub mu2: [T; D],
    /// ∂KL/∂L₂ = −tril(L₂⁻ᵀ (A Aᵀ + m mᵀ)) + diag(1/L₂,ii), A = L₂⁻¹L₁, m = L₂⁻¹(μ₂ − μ₁).
    pub l2: [[T; D]; D],
}

impl<T: Real, const D: usize> FullKlGrad<T, D> {
    /// All-zero gradient, to be overwritten by [`kl_full_grad`].
    pub fn zeros() -> Self {
        Self { mu1: [T::ZERO; D], l1: [[T::ZERO; D]; D], mu2: [T::ZERO; D], l2: [[T::ZERO; D]; D] }
    }
}

/// Checks a mean vector: every entry finite.
fn check_mean<T: Real, const D: usize>(mu: &[T; D], name: &'static str) -> Result<()> {
    match mu.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(Error::NonFiniteParameter { name, index }),
        None => Ok(()),
    }
}

/// Checks a Cholesky factor: diagonal finite and > 0 (else `NotPositiveDefinite` with the row),
/// strict lower triangle finite (else `NonFiniteParameter` with the flat row-major index).
fn check_factor<T: Real, const D: usize>(
    l: &[[T; D]; D],
    name: &'static str,
    component: usize,
) -> Result<()> {
    for (i, row) in l.iter().enumerate() {
        // `!(x > 0)` also rejects NaN.
        if !(row[i] > T::ZERO) || !row[i].is_finite() {
            return Err(Error::NotPositiveDefinite { component, pivot: i });
        }
        if let Some(j) = row[..i].iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFiniteParameter { name, index: i * D + j });
        }
    }
    Ok(())
}

/// Validates the inputs of [`kl_full`] in argument order; errors as documented there.
fn check_full_inputs<T: Real, const D: usize>(
    mu1: &[T; D],
    l1: &[[T; D]; D],
    mu2: &[T; D],
    l2: &[[T; D]; D],
) -> Result<()> {
    check_mean(mu1, "mu1")?;
    check_factor(l1, "l1", 0)?;
    check_mean(mu2, "mu2")?;
    check_factor(l2, "l2", 1)
}

/// The shared part of the full-covariance KL: A = L₂⁻¹L₁ (lower triangular), m = L₂⁻¹(μ₂ − μ₁)
/// and the divergence. Inputs are already validated.
fn full_parts<T: Real, const D: usize>(
    mu1: &[T; D],
    l1: &[[T; D]; D],
    mu2: &[T; D],
    l2: &[[T; D]; D],
    a: &mut [[T; D]; D],
    m: &mut [T; D],
) -> T {
    let mut s = T::ZERO;
    // Column c of A solves L₂ x = L₁[:, c]; x is 0 above row c because both are lower triangular.
    for c in 0..D {
        for i in 0..D {
            a[i][c] = T::ZERO;
        }
        for i in c..D {
            let mut acc = l1[i][c];
            for k in c..i {
                acc -= l2[i][k] * a[k][c];
            }
            a[i][c] = acc / l2[i][i];
        }
        // The diagonal enters through logs (see the module docs), the strict lower part squared.
        s += exp_excess(T::from_f64(2.0) * (l1[c][c].ln() - l2[c][c].ln()));
        for row in a.iter().skip(c + 1) {
            s += row[c] * row[c];
        }
    }
    for i in 0..D {
        m[i] = mu2[i] - mu1[i];
    }
    solve_lower_in_place(l2.as_flattened(), m, D);
    for v in m.iter() {
        s += *v * *v;
    }
    s * T::from_f64(0.5)
}

/// Solves L ᵀ x = b in place (back substitution) for lower-triangular `l` with non-zero diagonal.
fn solve_lower_transposed<T: Real, const D: usize>(l: &[[T; D]; D], b: &mut [T; D]) {
    for i in (0..D).rev() {
        let mut acc = b[i];
        for k in (i + 1)..D {
            acc -= l[k][i] * b[k];
        }
        b[i] = acc / l[i][i];
    }
}

/// KL(N(μ₁, L₁L₁ᵀ) ‖ N(μ₂, L₂L₂ᵀ)) (eq 14) from lower-triangular Cholesky factors:
/// ½ [tr(Σ₂⁻¹Σ₁) + (μ₂−μ₁)ᵀΣ₂⁻¹(μ₂−μ₁) − d + ln|Σ₂|/|Σ₁|], evaluated as the sum of non-negative
/// terms in the module docs. The strict upper triangles of `l1`, `l2` are ignored.
///
/// Errors: a diagonal entry of L₁ (L₂) that is ≤ 0 or not finite gives
/// `NotPositiveDefinite { component: 0 (1), pivot: row }`; a non-finite mean or off-diagonal
/// entry gives `NonFiniteParameter` (`"mu1"`, `"l1"`, `"mu2"`, `"l2"`, flat row-major index).
/// Cost: d³/6 + O(d²) multiply-adds, 2d `ln`, 2d² scalars of stack.
pub fn kl_full<T: Real, const D: usize>(
    mu1: &[T; D],
    l1: &[[T; D]; D],
    mu2: &[T; D],
    l2: &[[T; D]; D],
) -> Result<T> {
    check_full_inputs(mu1, l1, mu2, l2)?;
    let mut a = [[T::ZERO; D]; D];
    let mut m = [T::ZERO; D];
    Ok(full_parts(mu1, l1, mu2, l2, &mut a, &mut m))
}

/// [`kl_full`] and its gradient, written (not added) into `grad`; formulas on [`FullKlGrad`].
///
/// Same errors as [`kl_full`]; `grad` is untouched on error. Cost ≈ 5d³/6 multiply-adds.
pub fn kl_full_grad<T: Real, const D: usize>(
    mu1: &[T; D],
    l1: &[[T; D]; D],
    mu2: &[T; D],
    l2: &[[T; D]; D],
    grad: &mut FullKlGrad<T, D>,
) -> Result<T> {
    check_full_inputs(mu1, l1, mu2, l2)?;
    let mut a = [[T::ZERO; D]; D];
    let mut m = [T::ZERO; D];
    let kl = full_parts(mu1, l1, mu2, l2, &mut a, &mut m);

    // Means: Σ₂⁻¹(μ₂ − μ₁) = L₂⁻ᵀ m.
    let mut w = m;
    solve_lower_transposed(l2, &mut w);
    for i in 0..D {
        grad.mu2[i] = w[i];
        grad.mu1[i] = -w[i];
    }

    // L₁: L₂⁻ᵀ A column by column, lower triangle kept, minus 1/L₁,ii on the diagonal.
    let mut col = [T::ZERO; D];
    for c in 0..D {
        for i in 0..D {
            col[i] = a[i][c];
        }
        solve_lower_transposed(l2, &mut col);
        for i in 0..D {
            grad.l1[i][c] = if i >= c { col[i] } else { T::ZERO };
        }
        grad.l1[c][c] -= T::ONE / l1[c][c];
    }

    // L₂: −L₂⁻ᵀ B with B = A Aᵀ + m mᵀ (symmetric), lower triangle kept, plus 1/L₂,ii.
    for c in 0..D {
        for i in 0..D {
            // (A Aᵀ)_ic = Σ_k A_ik A_ck, both rows zero beyond their own index.
            let mut b = m[i] * m[c];
            for k in 0..=i.min(c) {
                b += a[i][k] * a[c][k];
            }
            col[i] = b;
        }
        solve_lower_transposed(l2, &mut col);
        for i in 0..D {
            grad.l2[i][c] = if i >= c { -col[i] } else { T::ZERO };
        }
        grad.l2[c][c] += T::ONE / l2[c][c];
    }
    Ok(kl)
}

/// Lower-triangular Cholesky factor of a covariance given by its lower triangle.
fn factor_covariance<T: Real, const D: usize>(
    cov: &[[T; D]; D],
    name: &'static str,
    component: usize,
) -> Result<[[T; D]; D]> {
    for (i, row) in cov.iter().enumerate() {
        if let Some(j) = row[..=i].iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFiniteParameter { name, index: i * D + j });
        }
    }
    let mut l = *cov;
    cholesky_in_place(l.as_flattened_mut(), D)
        .map_err(|pivot| Error::NotPositiveDefinite { component, pivot })?;
    Ok(l)
}

/// [`kl_full`] from covariance matrices: each is factored (lower triangle read) first.
///
/// Errors: a non-finite entry gives `NonFiniteParameter` (`"cov1"`/`"cov2"`, or the mean names of
/// [`kl_full`]); a covariance with no Cholesky factor gives `NotPositiveDefinite` with
/// `component` 0 for Σ₁, 1 for Σ₂ and the failing pivot. Cost d³/2 + O(d²) multiply-adds.
pub fn kl_full_cov<T: Real, const D: usize>(
    mu1: &[T; D],
    cov1: &[[T; D]; D],
    mu2: &[T; D],
    cov2: &[[T; D]; D],
) -> Result<T> {
    let l1 = factor_covariance(cov1, "cov1", 0)?;
    let l2 = factor_covariance(cov2, "cov2", 1)?;
    kl_full(mu1, &l1, mu2, &l2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Central finite difference of `f` at `x` in coordinate `i`; h chosen for f64 (≈ ε^⅓).
    fn fd<const N: usize>(f: impl Fn(&[f64; N]) -> f64, x: &[f64; N], i: usize) -> f64 {
        let h = 1e-5;
        let (mut p, mut m) = (*x, *x);
        p[i] += h;
        m[i] -= h;
        (f(&p) - f(&m)) / (2.0 * h)
    }

    #[test]
    fn exp_excess_matches_direct_form_and_is_nonnegative() {
        for k in -400..=400 {
            let x = k as f64 * 0.005;
            let g = exp_excess(x);
            assert!(g >= 0.0);
            // Reference: expm1 (std, < 1 ulp) minus x, itself off by ≤ ε|x| from the subtraction.
            // Allowed: that, plus 64 ulp of g for the direct branch's cancellation (≤ ~40 ulp).
            let want = x.exp_m1() - x;
            let tol = 2.0 * f64::EPSILON * x.abs() + 64.0 * f64::EPSILON * want;
            assert!((g - want).abs() <= tol, "x={x}: {g} vs {want}");
        }
        assert_eq!(exp_excess(0.0f64), 0.0);
        assert_eq!(exp_excess(0.0f32), 0.0);
        // Tiny x: g ≈ x²/2 to full relative precision, where eˣ − 1 − x would give 0 or noise.
        let x = 1e-9f64;
        assert!((exp_excess(x) / (x * x / 2.0) - 1.0).abs() < 1e-8);
        assert!(exp_excess(f64::NAN).is_nan());
    }

    #[test]
    fn std_normal_kl_known_values() {
        // μ = (1, 0), σ² = (1, e): ½[(1 + 1 − 1 − 0) + (e − 1 − 1)] = ½ (e − 1).
        let kl = kl_diag_std_normal(&[1.0, 0.0], &[0.0, 1.0]);
        assert!((kl - 0.5 * (core::f64::consts::E - 1.0)).abs() < 1e-15);
        assert_eq!(kl_diag_std_normal(&[0.0f32; 3], &[0.0f32; 3]), 0.0);
        assert!(kl_diag_std_normal(&[f64::NAN], &[0.0]).is_nan());
    }

    #[test]
    fn std_normal_kl_gradient_matches_finite_differences() {
        let mu = [0.3, -1.2, 2.0, 0.0];
        let lv = [0.1, -0.7, 1.5, -2.0];
        let (mut gm, mut gl) = ([0.0; 4], [0.0; 4]);
        let kl = kl_diag_std_normal_grad(&mu, &lv, &mut gm, &mut gl);
        assert_eq!(kl, kl_diag_std_normal(&mu, &lv));
        for i in 0..4 {
            let dm = fd(|m| kl_diag_std_normal(m, &lv), &mu, i);
            let dl = fd(|l| kl_diag_std_normal(&mu, l), &lv, i);
            assert!((gm[i] - dm).abs() < 1e-8, "mu {i}");
            assert!((gl[i] - dl).abs() < 1e-8, "log_var {i}");
        }
    }

    #[test]
    fn diag_kl_against_std_normal_reduces_to_eq_15() {
        let mu = [0.3, -1.2, 2.0];
        let lv = [0.1, -0.7, 1.5];
        let a = kl_diag(&mu, &lv, &[0.0; 3], &[0.0; 3]);
        let b = kl_diag_std_normal(&mu, &lv);
        assert!((a - b).abs() < 1e-15);
    }

    #[test]
    fn diag_kl_gradient_matches_finite_differences() {
        let mu1 = [0.3, -1.2, 2.0];
        let lv1 = [0.1, -0.7, 1.5];
        let mu2 = [-0.5, 0.4, 1.0];
        let lv2 = [0.6, 0.2, -1.1];
        let mut g = DiagKlGrad::zeros();
        let kl = kl_diag_grad(&mu1, &lv1, &mu2, &lv2, &mut g);
        assert_eq!(kl, kl_diag(&mu1, &lv1, &mu2, &lv2));
        for i in 0..3 {
            let checks = [
                (g.mu1[i], fd(|v| kl_diag(v, &lv1, &mu2, &lv2), &mu1, i)),
                (g.log_var1[i], fd(|v| kl_diag(&mu1, v, &mu2, &lv2), &lv1, i)),
                (g.mu2[i], fd(|v| kl_diag(&mu1, &lv1, v, &lv2), &mu2, i)),
                (g.log_var2[i], fd(|v| kl_diag(&mu1, &lv1, &mu2, v), &lv2, i)),
            ];
            for (k, (got, want)) in checks.into_iter().enumerate() {
                assert!((got - want).abs() < 1e-7, "param {k} index {i}: {got} vs {want}");
            }
        }
    }

    const L1: [[f64; 3]; 3] = [[1.2, 0.0, 0.0], [0.3, 0.8, 0.0], [-0.4, 0.5, 1.5]];
    const L2: [[f64; 3]; 3] = [[0.9, 0.0, 0.0], [-0.2, 1.1, 0.0], [0.6, 0.1, 0.7]];
    const MU1: [f64; 3] = [0.5, -1.0, 0.2];
    const MU2: [f64; 3] = [-0.3, 0.4, 1.0];

    #[test]
    fn full_kl_with_diagonal_factors_equals_diag_kl() {
        let s1 = [0.7, 1.3, 0.4];
        let s2 = [1.1, 0.6, 2.0];
        let mut l1 = [[0.0; 3]; 3];
        let mut l2 = [[0.0; 3]; 3];
        for i in 0..3 {
            l1[i][i] = s1[i];
            l2[i][i] = s2[i];
        }
        let lv1 = s1.map(|s: f64| 2.0 * s.ln());
        let lv2 = s2.map(|s: f64| 2.0 * s.ln());
        let full = kl_full(&MU1, &l1, &MU2, &l2).unwrap();
        let diag = kl_diag(&MU1, &lv1, &MU2, &lv2);
        assert!((full - diag).abs() < 1e-14, "{full} vs {diag}");
    }

    #[test]
    fn full_kl_gradient_matches_finite_differences() {
        let mut g = FullKlGrad::zeros();
        let kl = kl_full_grad(&MU1, &L1, &MU2, &L2, &mut g).unwrap();
        assert_eq!(kl, kl_full(&MU1, &L1, &MU2, &L2).unwrap());
        let f = |m1: &[f64; 3], l1: &[[f64; 3]; 3], m2: &[f64; 3], l2: &[[f64; 3]; 3]| {
            kl_full(m1, l1, m2, l2).unwrap()
        };
        for i in 0..3 {
            assert!((g.mu1[i] - fd(|v| f(v, &L1, &MU2, &L2), &MU1, i)).abs() < 1e-7);
            assert!((g.mu2[i] - fd(|v| f(&MU1, &L1, v, &L2), &MU2, i)).abs() < 1e-7);
            for j in 0..3 {
                let flat1 = *L1.as_flattened().first_chunk::<9>().unwrap();
                let flat2 = *L2.as_flattened().first_chunk::<9>().unwrap();
                let unflat = |v: &[f64; 9]| -> [[f64; 3]; 3] {
                    [[v[0], v[1], v[2]], [v[3], v[4], v[5]], [v[6], v[7], v[8]]]
                };
                let (w1, w2) = if j <= i {
                    (
                        fd(|v| f(&MU1, &unflat(v), &MU2, &L2), &flat1, i * 3 + j),
                        fd(|v| f(&MU1, &L1, &MU2, &unflat(v)), &flat2, i * 3 + j),
                    )
                } else {
                    (0.0, 0.0)
                };
                assert!((g.l1[i][j] - w1).abs() < 1e-7, "l1[{i}][{j}]");
                assert!((g.l2[i][j] - w2).abs() < 1e-7, "l2[{i}][{j}]");
            }
        }
    }

    #[test]
    fn full_kl_from_covariances_matches_factors() {
        let mut c1 = [[0.0; 3]; 3];
        let mut c2 = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                for k in 0..3 {
                    c1[i][j] += L1[i][k] * L1[j][k];
                    c2[i][j] += L2[i][k] * L2[j][k];
                }
            }
        }
        let a = kl_full_cov(&MU1, &c1, &MU2, &c2).unwrap();
        let b = kl_full(&MU1, &L1, &MU2, &L2).unwrap();
        assert!((a - b).abs() < 1e-13);
    }

    #[test]
    fn full_kl_rejects_bad_factors_with_typed_errors() {
        let set = |mut m: [[f64; 3]; 3], i: usize, j: usize, v: f64| {
            m[i][j] = v;
            m
        };
        let npd = |component, pivot| Error::NotPositiveDefinite { component, pivot };
        let non_finite = |name, index| Error::NonFiniteParameter { name, index };
        let cases = [
            (L1, MU2, set(L2, 2, 2, 0.0), npd(1, 2)),
            (set(L1, 1, 1, -0.5), MU2, L2, npd(0, 1)),
            (set(L1, 0, 0, f64::NAN), MU2, L2, npd(0, 0)),
            (set(L1, 2, 1, f64::INFINITY), MU2, L2, non_finite("l1", 7)),
            (L1, [MU2[0], f64::NAN, MU2[2]], L2, non_finite("mu2", 1)),
        ];
        for (l1, mu2, l2, want) in cases {
            assert_eq!(kl_full(&MU1, &l1, &mu2, &l2), Err(want));
            let mut g = FullKlGrad::zeros();
            assert_eq!(kl_full_grad(&MU1, &l1, &mu2, &l2, &mut g), Err(want));
        }
        // An indefinite covariance has no factor.
        let indefinite = [[1.0, 2.0], [2.0, 1.0]];
        let id = [[1.0, 0.0], [0.0, 1.0]];
        assert_eq!(
            kl_full_cov(&[0.0; 2], &id, &[0.0; 2], &indefinite),
            Err(Error::NotPositiveDefinite { component: 1, pivot: 1 })
        );
        // The upper triangle of a factor is ignored, even when not finite.
        let mut upper = L1;
        upper[0][2] = f64::NAN;
        assert_eq!(kl_full(&MU1, &upper, &MU2, &L2), kl_full(&MU1, &L1, &MU2, &L2));
    }

    #[test]
    fn f32_agrees_with_f64() {
        let l1 = L1.map(|r| r.map(|v| v as f32));
        let l2 = L2.map(|r| r.map(|v| v as f32));
        let m1 = MU1.map(|v| v as f32);
        let m2 = MU2.map(|v| v as f32);
        let a = kl_full(&m1, &l1, &m2, &l2).unwrap() as f64;
        let b = kl_full(&MU1, &L1, &MU2, &L2).unwrap();
        assert!((a - b).abs() < 1e-5 * b);
    }

    fn lower_factor() -> impl Strategy<Value = [[f64; 3]; 3]> {
        (proptest::array::uniform3(0.2f64..3.0), proptest::array::uniform3(-1.5f64..1.5))
            .prop_map(|(d, o)| [[d[0], 0.0, 0.0], [o[0], d[1], 0.0], [o[1], o[2], d[2]]])
    }

    proptest! {
        #[test]
        fn diag_kl_is_nonnegative_and_zero_only_when_equal(
            mu1 in proptest::array::uniform4(-5.0f64..5.0),
            lv1 in proptest::array::uniform4(-6.0f64..6.0),
            mu2 in proptest::array::uniform4(-5.0f64..5.0),
            lv2 in proptest::array::uniform4(-6.0f64..6.0),
            tiny in -1e-9f64..1e-9,
        ) {
            prop_assert!(kl_diag(&mu1, &lv1, &mu2, &lv2) >= 0.0);
            prop_assert!(kl_diag_std_normal(&mu1, &lv1) >= 0.0);
            prop_assert_eq!(kl_diag(&mu1, &lv1, &mu1, &lv1), 0.0);
            // Any change, however small, gives a strictly positive divergence.
            let mut lv = lv1;
            lv[2] += tiny;
            if lv != lv1 {
                prop_assert!(kl_diag(&mu1, &lv, &mu1, &lv1) > 0.0);
            }
            let mut mu = mu1;
            mu[0] += tiny;
            if mu != mu1 {
                prop_assert!(kl_diag(&mu, &lv1, &mu1, &lv1) > 0.0);
            }
            let f32_kl = kl_diag(
                &mu1.map(|v| v as f32), &lv1.map(|v| v as f32),
                &mu2.map(|v| v as f32), &lv2.map(|v| v as f32));
            prop_assert!(f32_kl >= 0.0);
        }

        #[test]
        fn full_kl_is_nonnegative_and_zero_only_when_equal(
            l1 in lower_factor(),
            l2 in lower_factor(),
            mu1 in proptest::array::uniform3(-3.0f64..3.0),
            mu2 in proptest::array::uniform3(-3.0f64..3.0),
            which in 0usize..9,
        ) {
            prop_assert!(kl_full(&mu1, &l1, &mu2, &l2).unwrap() >= 0.0);
            prop_assert_eq!(kl_full(&mu1, &l1, &mu1, &l1).unwrap(), 0.0);
            // Perturb one lower-triangular entry or mean entry by one relative ulp-ish step.
            let (i, j) = (which / 3, which % 3);
            if j <= i {
                let mut l = l1;
                l[i][j] += 1e-7;
                prop_assert!(kl_full(&mu1, &l, &mu1, &l1).unwrap() > 0.0);
            } else {
                let mut m = mu1;
                m[j] += 1e-7;
                prop_assert!(kl_full(&m, &l1, &mu1, &l1).unwrap() > 0.0);
            }
        }
    }
}
