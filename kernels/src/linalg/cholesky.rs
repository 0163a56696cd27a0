//! Cholesky factorization A = L Lᵀ of a symmetric positive-definite matrix, and the triangular
//! solves built on it.
//!
//! No regularization happens here: callers add theirs to the diagonal first (the mixture M-step
//! adds `reg_covar`, as scikit-learn does) so that the factor is of exactly the stated matrix.

use crate::Real;

/// Overwrites the lower triangle of `a` (`d × d`, row-major, symmetric; only the lower triangle is
/// read) with L such that A = L Lᵀ, and zeroes the strict upper triangle.
///
/// Returns `Err(pivot)` when the pivot `A_jj − Σ_k L_jk²` at row `pivot` is not strictly positive or
/// not finite (A is not positive definite in working precision); `a` is then partly overwritten.
/// Cost: d³/3 multiply-adds. Panics never: `a.len() < d*d` returns `Err(0)`.
pub fn cholesky_in_place<T: Real>(a: &mut [T], d: usize) -> Result<(), usize> {
    if a.len() < d * d {
        return Err(0);
    }
    for j in 0..d {
        let mut diag = a[j * d + j];
        for k in 0..j {
            let l = a[j * d + k];
            diag -= l * l;
        }
        // `!(diag > 0)` also catches NaN.
        if !(diag > T::ZERO) || !diag.is_finite() {
            return Err(j);
        }
        let ljj = diag.sqrt();
        a[j * d + j] = ljj;
        for i in (j + 1)..d {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = s / ljj;
        }
        for k in (j + 1)..d {
            a[j * d + k] = T::ZERO;
        }
    }
    Ok(())
}

/// Solves L y = b in place (`b` becomes y) for lower-triangular `l` with non-zero diagonal.
///
/// Forward substitution, d²/2 multiply-adds. Slices shorter than `d*d` / `d` leave `b` unchanged.
pub fn solve_lower_in_place<T: Real>(l: &[T], b: &mut [T], d: usize) {
    if l.len() < d * d || b.len() < d {
        return;
    }
    for i in 0..d {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * d + k] * b[k];
        }
        b[i] = s / l[i * d + i];
    }
}

/// Replaces a lower-triangular L (strict upper part ignored) by U = L⁻ᵀ, upper triangular, in place.
///
/// With Σ = L Lᵀ, the precision is Σ⁻¹ = U Uᵀ and ‖Uᵀ(x − μ)‖² is the squared Mahalanobis
/// distance; scikit-learn calls U `precisions_cholesky_`. Column c of L⁻¹ (x with L x = e_c) is
/// written into row c of the strict upper triangle while L still occupies the lower one; the
/// diagonal is inverted last. Cost d³/6 multiply-adds, no scratch. Short slices are left unchanged.
pub fn lower_inverse_transpose_in_place<T: Real>(a: &mut [T], d: usize) {
    if a.len() < d * d {
        return;
    }
    for c in 0..d {
        let inv_lcc = T::ONE / a[c * d + c];
        for i in (c + 1)..d {
            // x_i = −(Σ_{k=c}^{i−1} l_ik x_k) / l_ii with x_c = 1/l_cc.
            let mut s = -a[i * d + c] * inv_lcc;
            for k in (c + 1)..i {
                s -= a[i * d + k] * a[c * d + k];
            }
            a[c * d + i] = s / a[i * d + i];
        }
    }
    for c in 0..d {
        a[c * d + c] = T::ONE / a[c * d + c];
        for i in 0..c {
            a[c * d + i] = T::ZERO;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matmul(a: &[f64], b: &[f64], d: usize) -> [f64; 16] {
        let mut c = [0.0; 16];
        for i in 0..d {
            for j in 0..d {
                for k in 0..d {
                    c[i * d + j] += a[i * d + k] * b[k * d + j];
                }
            }
        }
        c
    }

    fn transpose(a: &[f64], d: usize) -> [f64; 16] {
        let mut t = [0.0; 16];
        for i in 0..d {
            for j in 0..d {
                t[j * d + i] = a[i * d + j];
            }
        }
        t
    }

    const A: [f64; 16] = [
        4.0, 2.0, 0.4, -1.0, //
        2.0, 5.0, 1.0, 0.5, //
        0.4, 1.0, 3.0, 0.2, //
        -1.0, 0.5, 0.2, 2.0,
    ];

    #[test]
    fn factor_reconstructs_matrix() {
        let mut l = A;
        cholesky_in_place(&mut l, 4).unwrap();
        let llt = matmul(&l, &transpose(&l, 4), 4);
        for (x, y) in llt.iter().zip(A.iter()) {
            assert!((x - y).abs() < 1e-14, "{x} vs {y}");
        }
        for i in 0..4 {
            for j in (i + 1)..4 {
                assert_eq!(l[i * 4 + j], 0.0);
            }
        }
    }

    #[test]
    fn inverse_transpose_gives_precision() {
        let mut l = A;
        cholesky_in_place(&mut l, 4).unwrap();
        let mut u = l;
        lower_inverse_transpose_in_place(&mut u, 4);
        for i in 1..4 {
            for j in 0..i {
                assert_eq!(u[i * 4 + j], 0.0, "U must be upper triangular");
            }
        }
        // A · (U Uᵀ) = I
        let prec = matmul(&u, &transpose(&u, 4), 4);
        let id = matmul(&A, &prec, 4);
        for i in 0..4 {
            for j in 0..4 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((id[i * 4 + j] - want).abs() < 1e-13);
            }
        }
    }

    #[test]
    fn solve_lower_matches_substitution() {
        let mut l = A;
        cholesky_in_place(&mut l, 4).unwrap();
        let b = [1.0, -2.0, 0.5, 3.0];
        let mut y = b;
        solve_lower_in_place(&l, &mut y, 4);
        let ly = matmul(&l, &[y[0], 0., 0., 0., y[1], 0., 0., 0., y[2], 0., 0., 0., y[3], 0., 0., 0.], 4);
        for i in 0..4 {
            assert!((ly[i * 4] - b[i]).abs() < 1e-14);
        }
    }

    #[test]
    fn rejects_indefinite_and_nan() {
        let mut m = [1.0, 2.0, 2.0, 1.0];
        assert_eq!(cholesky_in_place(&mut m, 2), Err(1));
        let mut z = [0.0f32; 4];
        assert_eq!(cholesky_in_place(&mut z, 2), Err(0));
        let mut n = [f64::NAN, 0.0, 0.0, 1.0];
        assert_eq!(cholesky_in_place(&mut n, 2), Err(0));
        let mut short = [1.0f64; 3];
        assert_eq!(cholesky_in_place(&mut short, 2), Err(0));
    }
}
