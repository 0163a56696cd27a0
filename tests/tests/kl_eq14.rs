//! The kernels' KL divergences agree with a literal f64 evaluation of eq 14
//! (`crabmix_tests::kl_reference`), on random full and diagonal Gaussians.

use crabmix_kernels::gaussian::{kl_diag, kl_diag_std_normal, kl_full, kl_full_cov};
use crabmix_tests::kl_reference::{covariance_from_factor, kl_eq14};
use proptest::prelude::*;

/// A lower-triangular 3×3 factor with diagonal in [0.3, 2.5], so Σ is well conditioned
/// (condition number ≲ 10³) and eq 14's dense inverse loses at most ~1e-13 relative.
fn factor() -> impl Strategy<Value = [[f64; 3]; 3]> {
    (proptest::array::uniform3(0.3f64..2.5), proptest::array::uniform3(-1.0f64..1.0))
        .prop_map(|(d, o)| [[d[0], 0.0, 0.0], [o[0], d[1], 0.0], [o[1], o[2], d[2]]])
}

fn as_matrix(flat: &[f64]) -> [[f64; 3]; 3] {
    [[flat[0], flat[1], flat[2]], [flat[3], flat[4], flat[5]], [flat[6], flat[7], flat[8]]]
}

proptest! {
    #[test]
    fn full_kl_agrees_with_eq_14(
        l1 in factor(),
        l2 in factor(),
        mu1 in proptest::array::uniform3(-3.0f64..3.0),
        mu2 in proptest::array::uniform3(-3.0f64..3.0),
    ) {
        let s1 = covariance_from_factor(l1.as_flattened(), 3);
        let s2 = covariance_from_factor(l2.as_flattened(), 3);
        let want = kl_eq14(&mu1, &s1, &mu2, &s2).unwrap();
        let from_factors = kl_full(&mu1, &l1, &mu2, &l2).unwrap();
        let from_covs = kl_full_cov(&mu1, &as_matrix(&s1), &mu2, &as_matrix(&s2)).unwrap();
        // eq 14 sums terms of either sign (tr − d + ln det ratio), so its own rounding is
        // absolute, about ε·(tr + |ln det| + maha); 1e-10·(1 + KL) bounds it with margin.
        let tol = 1e-10 * (1.0 + want.abs());
        prop_assert!((from_factors - want).abs() < tol, "{} vs {}", from_factors, want);
        prop_assert!((from_covs - want).abs() < tol, "{} vs {}", from_covs, want);
    }

    #[test]
    fn diagonal_kls_agree_with_eq_14(
        mu1 in proptest::array::uniform3(-3.0f64..3.0),
        lv1 in proptest::array::uniform3(-3.0f64..3.0),
        mu2 in proptest::array::uniform3(-3.0f64..3.0),
        lv2 in proptest::array::uniform3(-3.0f64..3.0),
    ) {
        let diag = |lv: &[f64; 3]| {
            let mut s = vec![0.0; 9];
            for i in 0..3 {
                s[i * 4] = lv[i].exp();
            }
            s
        };
        let want = kl_eq14(&mu1, &diag(&lv1), &mu2, &diag(&lv2)).unwrap();
        let tol = 1e-10 * (1.0 + want.abs());
        prop_assert!((kl_diag(&mu1, &lv1, &mu2, &lv2) - want).abs() < tol);
        let want_std = kl_eq14(&mu1, &diag(&lv1), &[0.0; 3], &diag(&[0.0; 3])).unwrap();
        prop_assert!((kl_diag_std_normal(&mu1, &lv1) - want_std).abs() < 1e-10 * (1.0 + want_std));
    }
}
