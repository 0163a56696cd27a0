//! Cholesky factorization A = L Lᵀ of a symmetric positive-definite matrix, and the triangular
//! solves built on it.
//!
//! No regularization happens here: callers add theirs to the diagonal first (the mixture M-step
//! adds `reg_covar`, as scikit-learn does) so that the factor is of exactly the stated matrix.

use crate::Real;
use crate::linalg::rows::{rows, rows_mut};

/// The first `d × d` entries of `a`, or `None` when `a` is shorter or `d²` overflows.
fn square<T>(a: &mut [T], d: usize) -> Option<&mut [T]> {
    a.get_mut(..d.checked_mul(d)?)
}

/// Overwrites the lower triangle of `a` (`d × d`, row-major, symmetric; only the lower triangle is
/// read) with L such that A = L Lᵀ, and zeroes the strict upper triangle.
///
/// Returns `Err(pivot)` when the pivot `A_jj − Σ_k L_jk²` at row `pivot` is not strictly positive or
/// not finite (A is not positive definite in working precision); `a` is then partly overwritten.
/// Cost: d³/3 multiply-adds. Panics never: `a.len() < d*d` returns `Err(0)`.
///
/// Row j of L needs only rows ≥ j, so the loop walks down the matrix splitting off one row at a
/// time: every index is into a row of exactly `d` entries at a position `< d`, which the compiler
/// checks once per row, not per access (the link-time panic-freedom proof relies on it).
pub fn cholesky_in_place<T: Real>(a: &mut [T], d: usize) -> Result<(), usize> {
    let Some(mut rest) = square(a, d) else {
        return Err(0);
    };
    for j in 0..d {
        let Some((row_j, below)) = rest.split_at_mut_checked(d) else {
            return Err(j);
        };
        let Some((l_j, diag_and_upper)) = row_j.split_at_mut_checked(j) else {
            return Err(j);
        };
        let Some((a_jj, upper)) = diag_and_upper.split_first_mut() else {
            return Err(j);
        };
        let mut diag = *a_jj;
        for &l in l_j.iter() {
            diag -= l * l;
        }
        // `!(diag > 0)` also catches NaN.
        if !(diag > T::ZERO) || !diag.is_finite() {
            return Err(j);
        }
        let ljj = diag.sqrt();
        *a_jj = ljj;
        for row_i in rows_mut(below, d) {
            let Some((l_i, a_ij)) = row_i.split_at_mut_checked(j) else {
                return Err(j);
            };
            let Some(a_ij) = a_ij.first_mut() else {
                return Err(j);
            };
            let mut s = *a_ij;
            for (&l_ik, &l_jk) in l_i.iter().zip(l_j.iter()) {
                s -= l_ik * l_jk;
            }
            *a_ij = s / ljj;
        }
        upper.fill(T::ZERO);
        rest = below;
    }
    Ok(())
}

/// Solves L y = b in place (`b` becomes y) for lower-triangular `l` with non-zero diagonal.
///
/// Forward substitution, d²/2 multiply-adds. Slices shorter than `d*d` / `d` leave `b` unchanged.
pub fn solve_lower_in_place<T: Real>(l: &[T], b: &mut [T], d: usize) {
    let (Some(l), Some(b)) = (d.checked_mul(d).and_then(|n| l.get(..n)), b.get_mut(..d)) else {
        return;
    };
    if d == 0 {
        return;
    }
    for (i, row) in (0..d).zip(rows(l, d)) {
        // Row i of L against the solved y_0 … y_{i−1}, then the diagonal.
        let Some((solved, rest)) = b.split_at_mut_checked(i) else {
            return;
        };
        let (Some(b_i), Some((l_ii, l_i))) = (rest.first_mut(), row.get(..=i).and_then(|r| r.split_last()))
        else {
            return;
        };
        let mut s = *b_i;
        for (&l_ik, &y_k) in l_i.iter().zip(solved.iter()) {
            s -= l_ik * y_k;
        }
        *b_i = s / *l_ii;
    }
}

/// Replaces a lower-triangular L (strict upper part ignored) by U = L⁻ᵀ, upper triangular, in place.
///
/// With Σ = L Lᵀ, the precision is Σ⁻¹ = U Uᵀ and ‖Uᵀ(x − μ)‖² is the squared Mahalanobis
/// distance; scikit-learn calls U `precisions_cholesky_`. Column c of L⁻¹ (x with L x = e_c) is
/// written into row c of the strict upper triangle while L still occupies the lower one; the
/// diagonal is inverted last. Cost d³/6 multiply-adds, no scratch. Short slices are left unchanged.
///
/// Column c reads only rows ≥ c (row c's upper part as it is written, rows below for L), so as in
/// [`cholesky_in_place`] the loop splits off one row at a time.
pub fn lower_inverse_transpose_in_place<T: Real>(a: &mut [T], d: usize) {
    let Some(a) = square(a, d) else {
        return;
    };
    if d == 0 {
        return;
    }
    let mut rest: &mut [T] = a;
    for c in 0..d {
        let Some((row_c, below)) = rest.split_at_mut_checked(d) else {
            return;
        };
        let Some(&l_cc) = row_c.get(c) else {
            return;
        };
        let inv_lcc = T::ONE / l_cc;
        for (i, row_i) in (c + 1..d).zip(rows(below, d)) {
            // x_i = −(Σ_{k=c}^{i−1} l_ik x_k) / l_ii with x_c = 1/l_cc.
            let (Some(&l_ic), Some(l_i), Some(&l_ii)) = (row_i.get(c), row_i.get(c + 1..i), row_i.get(i))
            else {
                return;
            };
            let Some((x_i, x_c)) = row_c.get_mut(c + 1..=i).and_then(|r| r.split_last_mut()) else {
                return;
            };
            let mut s = -l_ic * inv_lcc;
            for (&l_ik, &x_k) in l_i.iter().zip(x_c.iter()) {
                s -= l_ik * x_k;
            }
            *x_i = s / l_ii;
        }
        rest = below;
    }
    for (c, row) in (0..d).zip(rows_mut(a, d)) {
        let Some((lower, diag_and_upper)) = row.split_at_mut_checked(c) else {
            return;
        };
        if let Some(u_cc) = diag_and_upper.first_mut() {
            *u_cc = T::ONE / *u_cc;
        }
        lower.fill(T::ZERO);
    }
}

/// [`cholesky_in_place`] of a `D × D` array: the same operations in the same order (so the
/// same bits), with D known so that every loop unrolls and no index is checked at run time.
/// `Err(pivot)` as there.
#[inline]
pub fn cholesky_fixed_in_place<T: Real, const D: usize>(a: &mut [[T; D]; D]) -> Result<(), usize> {
    // `unroll!`: at opt-level "s" (the firmware) LLVM keeps these loops, and their control cost
    // the online step ≈ 90 instructions per 2 × 2 factorization on the Cortex-M4F.
    unroll!(j in D => {
        let mut diag = a[j][j];
        unroll!(k in j => { diag -= a[j][k] * a[j][k]; });
        // `!(diag > 0)` also catches NaN.
        if !(diag > T::ZERO) || !diag.is_finite() {
            return Err(j);
        }
        let ljj = diag.sqrt();
        a[j][j] = ljj;
        unroll!(i in j + 1, D => {
            let mut s = a[i][j];
            unroll!(k in j => { s -= a[i][k] * a[j][k]; });
            a[i][j] = s / ljj;
        });
        unroll!(k in j + 1, D => { a[j][k] = T::ZERO; });
    });
    Ok(())
}

/// [`lower_inverse_transpose_in_place`] of a `D × D` array: U = L⁻ᵀ by the same operations in
/// the same order, unrolled.
#[inline]
pub fn lower_inverse_transpose_fixed_in_place<T: Real, const D: usize>(a: &mut [[T; D]; D]) {
    unroll!(c in D => {
        let inv_lcc = T::ONE / a[c][c];
        unroll!(i in c + 1, D => {
            // x_i = −(Σ_{k=c}^{i−1} l_ik x_k) / l_ii with x_c = 1/l_cc, into row c.
            let mut s = -a[i][c] * inv_lcc;
            unroll!(k in c + 1, i => { s -= a[i][k] * a[c][k]; });
            a[c][i] = s / a[i][i];
        });
    });
    unroll!(c in D => {
        a[c][c] = T::ONE / a[c][c];
        unroll!(k in c => { a[c][k] = T::ZERO; });
    });
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

    /// The unrolled routines give the runtime-sized ones' bits, factor and inverse, on random
    /// SPD matrices of D = 1 … 4 (and the same failing pivot on a singular one).
    #[test]
    fn fixed_size_factorization_equals_the_slice_one_bit_for_bit() {
        fn check<const D: usize>(seed: u64) {
            let mut state = seed;
            let mut next = || {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) as f32
            };
            let b: [[f32; D]; D] = core::array::from_fn(|_| core::array::from_fn(|_| next()));
            // A = B Bᵀ + 0.1 I, symmetric positive definite.
            let a: [[f32; D]; D] = core::array::from_fn(|i| {
                core::array::from_fn(|j| {
                    let mut s = if i == j { 0.1 } else { 0.0 };
                    for k in 0..D {
                        s += b[i][k] * b[j][k];
                    }
                    s
                })
            });
            let (mut fixed, mut flat) = (a, a);
            assert_eq!(cholesky_fixed_in_place(&mut fixed), Ok(()));
            assert_eq!(cholesky_in_place(flat.as_flattened_mut(), D), Ok(()));
            assert_eq!(fixed, flat, "factor, D = {D}");
            assert!(fixed[D - 1][D - 1] > 0.0);
            lower_inverse_transpose_fixed_in_place(&mut fixed);
            lower_inverse_transpose_in_place(flat.as_flattened_mut(), D);
            assert_eq!(fixed, flat, "inverse, D = {D}");
            let mut singular = [[1.0f32; D]; D];
            let mut singular_flat = singular;
            let pivot = if D == 1 { Ok(()) } else { Err(1) };
            assert_eq!(cholesky_fixed_in_place(&mut singular), pivot);
            assert_eq!(cholesky_in_place(singular_flat.as_flattened_mut(), D), pivot);
        }
        for seed in 0..50 {
            check::<1>(seed);
            check::<2>(seed);
            check::<3>(seed);
            check::<4>(seed);
        }
    }
}
