//! The lecture's eq 14 evaluated literally in f64: the KL divergence between two multivariate
//! normals from their covariance matrices, with a dense inverse and determinants (`nalgebra`
//! LU), independent of the kernels' Cholesky factors and non-negative-term rewriting.

use nalgebra::{DMatrix, DVector};

/// KL(N(μ₁, Σ₁) ‖ N(μ₂, Σ₂)) = ½ [tr(Σ₂⁻¹Σ₁) + (μ₂−μ₁)ᵀΣ₂⁻¹(μ₂−μ₁) − d + ln(|Σ₂| / |Σ₁|)].
///
/// `sigma1`, `sigma2` are d×d row-major. Returns `None` when Σ₂ is singular or a determinant is
/// not positive (the formula is then undefined).
pub fn kl_eq14(mu1: &[f64], sigma1: &[f64], mu2: &[f64], sigma2: &[f64]) -> Option<f64> {
    let d = mu1.len();
    let s1 = DMatrix::from_row_slice(d, d, sigma1);
    let s2 = DMatrix::from_row_slice(d, d, sigma2);
    let s2_inv = s2.clone().try_inverse()?;
    let (det1, det2) = (s1.determinant(), s2.determinant());
    if !(det1 > 0.0 && det2 > 0.0) {
        return None;
    }
    let dm = DVector::from_column_slice(mu2) - DVector::from_column_slice(mu1);
    let trace = (&s2_inv * &s1).trace();
    let maha = (dm.transpose() * &s2_inv * &dm)[(0, 0)];
    Some(0.5 * (trace + maha - d as f64 + (det2 / det1).ln()))
}

/// Σ = L Lᵀ for a d×d row-major `l` (only its lower triangle is read), row-major.
pub fn covariance_from_factor(l: &[f64], d: usize) -> Vec<f64> {
    let lm = DMatrix::from_row_slice(d, d, l).lower_triangle();
    let s = &lm * lm.transpose();
    // nalgebra is column-major; Σ is symmetric, so its column-major slice is also row-major.
    s.as_slice().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn univariate_closed_form() {
        // KL(N(1, 4) ‖ N(0, 1)) = ½ (4 + 1 − 1 − ln 4) = 2 − ln 2.
        let kl = kl_eq14(&[1.0], &[4.0], &[0.0], &[1.0]).unwrap();
        assert!((kl - (2.0 - 2f64.ln())).abs() < 1e-15);
        assert_eq!(kl_eq14(&[0.0], &[1.0], &[0.0], &[0.0]), None);
    }
}
