//! Reparameterized Gaussian sampling (lecture eq 18) and its backward pass.
//!
//! z = μ + σ ⊙ ε with ε ~ N(0, I) makes z a differentiable function of (μ, ln σ²) for a fixed ε,
//! so gradients of a loss in z reach the encoder. The forward pass hands ε back to the caller,
//! who keeps it for the backward pass: nothing is cached inside the kernels.
//!
//! Backward passes *add* into their gradient buffers (a VAE's μ also receives the KL gradient).
//! NaN contract: no input is checked; NaN/∞ propagate through the arithmetic, never a panic.

use super::normal::fill_standard_normal;
use crate::Real;
use rand_core::Rng;

/// z = μ + e^{½ ln σ²} ⊙ ε for a given ε (eq 18). One `exp` per element.
#[inline]
pub fn reparam_diag<T: Real, const D: usize>(mu: &[T; D], log_var: &[T; D], eps: &[T; D], z: &mut [T; D]) {
    reparam_diag_slice(mu, log_var, eps, z);
}

/// [`reparam_diag`] at a runtime dimension (slices of equal length; the shortest bounds the loop).
#[inline]
pub fn reparam_diag_slice<T: Real>(mu: &[T], log_var: &[T], eps: &[T], z: &mut [T]) {
    let half = T::from_f64(0.5);
    for (((zi, m), l), e) in z.iter_mut().zip(mu).zip(log_var).zip(eps) {
        *zi = *m + (half * *l).exp() * *e;
    }
}

/// Draws ε ~ N(0, I) into `eps` (Marsaglia polar, see
/// [`standard_normal`](super::normal::standard_normal)) and writes
/// z = μ + σ ⊙ ε into `z`.
#[inline]
pub fn sample_diag<T: Real, R: Rng + ?Sized, const D: usize>(
    mu: &[T; D],
    log_var: &[T; D],
    rng: &mut R,
    eps: &mut [T; D],
    z: &mut [T; D],
) {
    fill_standard_normal(rng, eps);
    reparam_diag(mu, log_var, eps, z);
}

/// Backward of [`reparam_diag`]: given g = ∂L/∂z and the ε used, adds ∂L/∂μ = g and
/// ∂L/∂ln σ² = ½ g ⊙ σ ⊙ ε into `grad_mu` and `grad_log_var`.
#[inline]
pub fn reparam_diag_backward<T: Real, const D: usize>(
    log_var: &[T; D],
    eps: &[T; D],
    grad_z: &[T; D],
    grad_mu: &mut [T; D],
    grad_log_var: &mut [T; D],
) {
    reparam_diag_backward_slice(log_var, eps, grad_z, grad_mu, grad_log_var);
}

/// [`reparam_diag_backward`] at a runtime dimension (slices of equal length; the shortest bounds
/// the loop).
#[inline]
pub fn reparam_diag_backward_slice<T: Real>(
    log_var: &[T],
    eps: &[T],
    grad_z: &[T],
    grad_mu: &mut [T],
    grad_log_var: &mut [T],
) {
    let half = T::from_f64(0.5);
    let grads = grad_mu.iter_mut().zip(grad_log_var.iter_mut());
    for (((l, e), g), (gm, gl)) in log_var.iter().zip(eps).zip(grad_z).zip(grads) {
        let sigma = (half * *l).exp();
        *gm += *g;
        *gl += half * *g * sigma * *e;
    }
}

/// z = μ + L ε for a lower-triangular factor L of the covariance (strict upper triangle ignored);
/// Cov z = L Lᵀ. d(d+1)/2 multiply-adds.
#[inline]
pub fn reparam_full<T: Real, const D: usize>(mu: &[T; D], l: &[[T; D]; D], eps: &[T; D], z: &mut [T; D]) {
    for i in 0..D {
        let mut acc = mu[i];
        for j in 0..=i {
            acc += l[i][j] * eps[j];
        }
        z[i] = acc;
    }
}

/// Draws ε ~ N(0, I) into `eps` and writes z = μ + L ε into `z` (see [`reparam_full`]).
#[inline]
pub fn sample_full<T: Real, R: Rng + ?Sized, const D: usize>(
    mu: &[T; D],
    l: &[[T; D]; D],
    rng: &mut R,
    eps: &mut [T; D],
    z: &mut [T; D],
) {
    fill_standard_normal(rng, eps);
    reparam_full(mu, l, eps, z);
}

/// Backward of [`reparam_full`]: adds ∂L/∂μ = g and ∂L/∂L_ij = g_i ε_j (j ≤ i; the strict upper
/// triangle of `grad_l` is left unchanged) for g = ∂L/∂z.
#[inline]
pub fn reparam_full_backward<T: Real, const D: usize>(
    eps: &[T; D],
    grad_z: &[T; D],
    grad_mu: &mut [T; D],
    grad_l: &mut [[T; D]; D],
) {
    for i in 0..D {
        grad_mu[i] += grad_z[i];
        for j in 0..=i {
            grad_l[i][j] += grad_z[i] * eps[j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn diag_backward_matches_finite_differences() {
        let mu = [0.5, -1.0, 2.0];
        let lv = [0.3, -1.2, 0.8];
        let eps = [1.1, -0.4, 0.7];
        let w = [0.9, -1.7, 0.25];
        // L(z) = Σ w_i z_i² so that ∂L/∂z = 2 w ⊙ z.
        let loss = |mu: &[f64; 3], lv: &[f64; 3]| {
            let mut z = [0.0; 3];
            reparam_diag(mu, lv, &eps, &mut z);
            (0..3).map(|i| w[i] * z[i] * z[i]).sum::<f64>()
        };
        let mut z = [0.0; 3];
        reparam_diag(&mu, &lv, &eps, &mut z);
        let gz = [0, 1, 2].map(|i| 2.0 * w[i] * z[i]);
        let (mut gm, mut gl) = ([1.0; 3], [-1.0; 3]);
        reparam_diag_backward(&lv, &eps, &gz, &mut gm, &mut gl);
        let h = 1e-6;
        for i in 0..3 {
            let (mut p, mut m) = (mu, mu);
            p[i] += h;
            m[i] -= h;
            let dmu = (loss(&p, &lv) - loss(&m, &lv)) / (2.0 * h);
            let (mut p, mut m) = (lv, lv);
            p[i] += h;
            m[i] -= h;
            let dlv = (loss(&mu, &p) - loss(&mu, &m)) / (2.0 * h);
            // The buffers started at 1 and −1: backward adds.
            assert!((gm[i] - 1.0 - dmu).abs() < 1e-7);
            assert!((gl[i] + 1.0 - dlv).abs() < 1e-7);
        }
    }

    #[test]
    fn full_backward_matches_finite_differences() {
        let mu = [0.5, -1.0];
        let l = [[1.3, 0.0], [-0.6, 0.8]];
        let eps = [0.9, -1.4];
        let w = [0.7, 1.9];
        let loss = |mu: &[f64; 2], l: &[[f64; 2]; 2]| {
            let mut z = [0.0; 2];
            reparam_full(mu, l, &eps, &mut z);
            w[0] * z[0] * z[0] + w[1] * z[1].sin()
        };
        let mut z = [0.0; 2];
        reparam_full(&mu, &l, &eps, &mut z);
        let gz = [2.0 * w[0] * z[0], w[1] * z[1].cos()];
        let mut gm = [0.0; 2];
        let mut gl = [[0.0; 2]; 2];
        reparam_full_backward(&eps, &gz, &mut gm, &mut gl);
        let h = 1e-6;
        for i in 0..2 {
            let (mut p, mut m) = (mu, mu);
            p[i] += h;
            m[i] -= h;
            assert!((gm[i] - (loss(&p, &l) - loss(&m, &l)) / (2.0 * h)).abs() < 1e-7);
            for j in 0..=i {
                let (mut p, mut m) = (l, l);
                p[i][j] += h;
                m[i][j] -= h;
                let want = (loss(&mu, &p) - loss(&mu, &m)) / (2.0 * h);
                assert!((gl[i][j] - want).abs() < 1e-7);
            }
        }
        assert_eq!(gl[0][1], 0.0);
    }

    #[test]
    fn full_samples_have_the_requested_covariance() {
        // Σ = L Lᵀ = [[4, 2], [2, 5]] for L = [[2, 0], [1, 2]]; 2·10⁵ draws, tolerance ≈ 5 s.e.
        let mu = [1.0, -2.0];
        let l = [[2.0, 0.0], [1.0, 2.0]];
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let n = 200_000;
        let (mut s, mut ss) = ([0.0; 2], [[0.0; 2]; 2]);
        let (mut eps, mut z) = ([0.0; 2], [0.0; 2]);
        for _ in 0..n {
            sample_full(&mu, &l, &mut rng, &mut eps, &mut z);
            for i in 0..2 {
                s[i] += z[i];
                for j in 0..2 {
                    ss[i][j] += (z[i] - mu[i]) * (z[j] - mu[j]);
                }
            }
        }
        let nf = n as f64;
        let want = [[4.0, 2.0], [2.0, 5.0]];
        for i in 0..2 {
            assert!((s[i] / nf - mu[i]).abs() < 0.03);
            for j in 0..2 {
                assert!((ss[i][j] / nf - want[i][j]).abs() < 0.08, "{i}{j}");
            }
        }
    }

    #[test]
    fn diag_samples_have_the_requested_moments() {
        let mu = [3.0f32, -1.0];
        let lv = [2.0f32.ln() * 2.0, -2.0]; // σ = 2 and e^{-1}
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let n = 200_000;
        let (mut s, mut ss) = ([0.0f64; 2], [0.0f64; 2]);
        let (mut eps, mut z) = ([0.0f32; 2], [0.0f32; 2]);
        for _ in 0..n {
            sample_diag(&mu, &lv, &mut rng, &mut eps, &mut z);
            for i in 0..2 {
                s[i] += z[i] as f64;
                ss[i] += ((z[i] - mu[i]) as f64).powi(2);
            }
        }
        let nf = n as f64;
        let var = [4.0, (-2.0f64).exp()];
        for i in 0..2 {
            assert!((s[i] / nf - mu[i] as f64).abs() < 5.0 * (var[i] / nf).sqrt());
            assert!((ss[i] / nf / var[i] - 1.0).abs() < 0.02);
        }
    }

    #[test]
    fn nan_propagates_without_panic() {
        let mut z = [0.0; 2];
        reparam_diag(&[f64::NAN, 0.0], &[0.0, f64::INFINITY], &[1.0, 0.0], &mut z);
        assert!(z[0].is_nan());
        assert!(z[1].is_nan()); // ∞ · 0
    }
}
