//! The kernels' test vectors, run on the target (QEMU mps2-an386 for thumbv7em-none-eabihf,
//! QEMU microbit for thumbv6m-none-eabi) by defmt-test: `cargo test --release` here, or
//! `cargo test-m0 --release` for the Cortex-M0. A failing assertion panics → HardFault →
//! semihosting exit(1), so the runner and CI fail. Every test also logs its stack high-water mark
//! (`stack <test> <bytes>`), which run-tests.sh collects into golden/stack.txt.
#![no_std]
#![no_main]

use crabmix_firmware::measure_stack;

/// Runs a test body under stack measurement and logs the high-water mark.
pub fn stack(name: &str, f: impl FnOnce()) {
    let ((), bytes) = measure_stack(f);
    defmt::info!("stack {=str} {=usize}", name, bytes);
}

/// A lower-triangular factor with dyadic entries: A = L Lᵀ is exact in f32, and so is every
/// step of Cholesky on it (the pivots are perfect squares 4, 9, 2.25, 0.25), so the factor
/// must come back bit for bit.
pub const L4: [f32; 16] = [
    2.0, 0.0, 0.0, 0.0, //
    1.0, 3.0, 0.0, 0.0, //
    0.5, -1.0, 1.5, 0.0, //
    -1.0, 0.25, 2.0, 0.5,
];

pub fn llt(l: &[f32; 16]) -> [f32; 16] {
    let mut a = [0.0f32; 16];
    for i in 0..4 {
        for j in 0..4 {
            for k in 0..4 {
                a[i * 4 + j] += l[i * 4 + k] * l[j * 4 + k];
            }
        }
    }
    a
}


#[defmt_test::tests]
mod tests {
    use super::{L4, llt, stack};
    use crabmix_kernels::gaussian::standard_normal;
    use crabmix_kernels::linalg::{cholesky_in_place, lower_inverse_transpose, solve_lower_in_place};
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn cholesky_recovers_exact_factor_f32_and_f64() {
        stack("cholesky_recovers_exact_factor_f32_and_f64", || {
            let a = llt(&L4);
            // Spot-check the product itself: A[3][3] = 1 + 1/16 + 4 + 1/4.
            assert_eq!(a[15], 5.3125);
            let mut l = a;
            assert_eq!(cholesky_in_place(&mut l, 4), Ok(()));
            assert_eq!(l, L4);
            let mut l64 = [0.0f64; 16];
            for (d, s) in l64.iter_mut().zip(a.iter()) {
                *d = *s as f64;
            }
            assert_eq!(cholesky_in_place(&mut l64, 4), Ok(()));
            for (x, y) in l64.iter().zip(L4.iter()) {
                assert_eq!(*x, *y as f64);
            }
        });
    }

    #[test]
    fn cholesky_rejects_indefinite_nan_and_short_input() {
        stack("cholesky_rejects_indefinite_nan_and_short_input", || {
            // det = 1 − 4 < 0: the second pivot is 1 − 4 = −3.
            let mut m = [1.0f32, 2.0, 2.0, 1.0];
            assert_eq!(cholesky_in_place(&mut m, 2), Err(1));
            let mut n = [f32::NAN, 0.0, 0.0, 1.0];
            assert_eq!(cholesky_in_place(&mut n, 2), Err(0));
            let mut short = [1.0f32; 3];
            assert_eq!(cholesky_in_place(&mut short, 2), Err(0));
        });
    }

    #[test]
    fn triangular_solve_and_precision_factor() {
        stack("triangular_solve_and_precision_factor", || {
            // L y = b with b = L·(1, −2, 4, 0.5): forward substitution returns that vector exactly
            // (all quantities dyadic).
            let want = [1.0f32, -2.0, 4.0, 0.5];
            let mut b = [0.0f32; 4];
            for i in 0..4 {
                for k in 0..4 {
                    b[i] += L4[i * 4 + k] * want[k];
                }
            }
            solve_lower_in_place(&L4, &mut b, 4);
            assert_eq!(b, want);
            // U = L⁻ᵀ: A·U·Uᵀ = I to f32 rounding (entries of L⁻¹ are not dyadic: 1/3, 1/1.5).
            let a = llt(&L4);
            let mut u = [0.0f32; 16];
            lower_inverse_transpose(&L4, &mut u, 4);
            let mut prec = [0.0f32; 16];
            for i in 0..4 {
                for j in 0..4 {
                    for k in 0..4 {
                        prec[i * 4 + j] += u[i * 4 + k] * u[j * 4 + k];
                    }
                }
            }
            for i in 0..4 {
                for j in 0..4 {
                    let mut s = 0.0f32;
                    for k in 0..4 {
                        s += a[i * 4 + k] * prec[k * 4 + j];
                    }
                    let want = if i == j { 1.0 } else { 0.0 };
                    // Condition number of A ≈ 10³ → a few ulps × 10³.
                    assert!((s - want).abs() < 2e-4, "A·P[{}][{}] = {}", i, j, s);
                }
            }
        });
    }

    #[test]
    fn standard_normal_moments_f32() {
        stack("standard_normal_moments_f32", || {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(42);
            let n = 20_000;
            let (mut s1, mut s2) = (0.0f64, 0.0f64);
            for _ in 0..n {
                let z: f32 = standard_normal(&mut rng);
                assert!(z.is_finite());
                s1 += z as f64;
                s2 += (z as f64) * (z as f64);
            }
            let mean = s1 / n as f64;
            let var = s2 / n as f64 - mean * mean;
            // 5 standard errors: mean 1/√n = 7.1e-3, variance √(2/n) = 1.0e-2.
            assert!(mean.abs() < 0.036, "mean {}", mean);
            assert!((var - 1.0).abs() < 0.05, "var {}", var);
        });
    }

    #[test]
    fn standard_normal_is_a_pure_function_of_the_seed() {
        stack("standard_normal_is_a_pure_function_of_the_seed", || {
            let mut a = Xoshiro256PlusPlus::seed_from_u64(7);
            let mut b = Xoshiro256PlusPlus::seed_from_u64(7);
            for _ in 0..64 {
                let x: f64 = standard_normal(&mut a);
                let y: f64 = standard_normal(&mut b);
                assert_eq!(x.to_bits(), y.to_bits());
            }
        });
    }
}
