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
    use crabmix_kernels::gaussian::kl_diag_std_normal;
    use crabmix_kernels::gaussian::standard_normal;
    use crabmix_kernels::gmm::{CovarianceKind, GaussianMixture, OnlineConfig, OnlineEm, SufficientStats};
    use crabmix_kernels::linalg::{
        cholesky_in_place, lower_inverse_transpose_in_place, solve_lower_in_place,
    };
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
            let mut u = L4;
            lower_inverse_transpose_in_place(&mut u, 4);
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

    #[test]
    fn mixture_log_density_matches_closed_form() {
        stack("mixture_log_density_matches_closed_form", || {
            // One component N(μ, Σ), Σ = [[4, 2], [2, 5]] (det 16), at x − μ = (2, 1):
            // Σ⁻¹ = [[5, −2], [−2, 4]]/16, Mahalanobis² = (20 − 8 + 4)/16 = 1,
            // ln p = −ln 2π − ½ ln 16 − ½ = −1.837877 − 1.386294 − 0.5 = −3.724171.
            let m = GaussianMixture::<f32, 1, 2>::new(
                CovarianceKind::Full,
                [1.0],
                [[1.0, -1.0]],
                [[[4.0, 2.0], [2.0, 5.0]]],
            )
            .unwrap();
            let lp = m.log_density(&[3.0, 0.0]).unwrap();
            assert!((lp - (-3.724_171)).abs() < 2e-6, "ln p = {}", lp);
            // Two equal components mirrored about 0: ln p(0) = ln N(0; 1, 1) = −½ ln 2π − ½.
            let m2 = GaussianMixture::<f32, 2, 1>::new(
                CovarianceKind::Full,
                [0.5, 0.5],
                [[-1.0], [1.0]],
                [[[1.0]], [[1.0]]],
            )
            .unwrap();
            let lp = m2.log_density(&[0.0]).unwrap();
            assert!((lp - (-1.418_939)).abs() < 2e-6, "ln p = {}", lp);
            let mut q = [0.0f32; 2];
            m2.predict_proba(&[0.0], &mut q).unwrap();
            assert_eq!(q, [0.5, 0.5]);
            assert_eq!(m2.predict(&[0.7]).unwrap(), 1);
            assert!(m2.log_density(&[f32::NAN]).is_err());
        });
    }

    #[test]
    fn em_steps_never_decrease_likelihood_on_crabs() {
        stack("em_steps_never_decrease_likelihood_on_crabs", || {
            // E-step (accumulate) + M-step (finish) by hand over the crab ratios from a poor
            // start; the lecture's monotonicity: ℓ(θ_{t+1}) ≥ ℓ(θ_t), up to f32 rounding of a
            // mean of 1000 terms (≈ 1e-6 of 2.5 nats).
            let data = &crabmix_app::crabs::RATIOS;
            let mut m = GaussianMixture::<f32, 2, 1>::new(
                CovarianceKind::Full,
                [0.5, 0.5],
                [[0.60], [0.67]],
                [[[1e-3]], [[1e-3]]],
            )
            .unwrap();
            let mut stats = SufficientStats::<f32, 2, 1>::new(CovarianceKind::Full);
            let mut last = f32::NEG_INFINITY;
            for _ in 0..20 {
                stats.reset(&m);
                for x in data.iter() {
                    stats.accumulate(&m, x).unwrap();
                }
                let ll = stats.totals().mean_log_likelihood().unwrap();
                assert!(ll >= last - 2e-6, "EM decreased the likelihood: {} -> {}", last, ll);
                last = ll;
                stats.finish(&mut m, 1e-6, false).unwrap();
            }
            // After 20 steps the likelihood has climbed from the poor start to near the optimum
            // (2.5675 at 3000 steps, see crabmix-app's crabs::fit_config).
            assert!(last > 2.55 && last < 2.5676, "ll = {}", last);
            let w = m.weights();
            assert!((w[0] + w[1] - 1.0).abs() < 1e-6);
        });
    }

    #[test]
    fn online_em_tracks_two_separated_clusters() {
        stack("online_em_tracks_two_separated_clusters", || {
            // Samples alternate between clusters at −2 and +3 (σ = 0.5 from the polar sampler);
            // starting from means ±1, online EM must move them to within 0.1 of the truth.
            let start = GaussianMixture::<f32, 2, 1>::new(
                CovarianceKind::Full,
                [0.5, 0.5],
                [[-1.0], [1.0]],
                [[[1.0]], [[1.0]]],
            )
            .unwrap();
            let mut em = OnlineEm::new(start, OnlineConfig::default()).unwrap();
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
            for i in 0..2000 {
                let z: f32 = standard_normal(&mut rng);
                let c = if i % 2 == 0 { -2.0 } else { 3.0 };
                let lp = em.update(&[c + 0.5 * z]).unwrap();
                assert!(lp.is_finite());
            }
            let m = em.model();
            assert!((m.means()[0][0] + 2.0).abs() < 0.1, "{:?}", m.means());
            assert!((m.means()[1][0] - 3.0).abs() < 0.1, "{:?}", m.means());
            assert!((m.weights()[0] - 0.5).abs() < 0.05, "{:?}", m.weights());
            assert!(em.update(&[f32::INFINITY]).is_err());
        });
    }

    #[test]
    fn kl_diag_against_standard_normal() {
        stack("kl_diag_against_standard_normal", || {
            // ½ Σ (σ² + μ² − 1 − ln σ²): zero at N(0, I); with μ = (1, 0), ln σ² = (0, ln 4):
            // ½ (1 + 0 + 4 − 1 − ln 4) = 2 − ln 2 = 1.306853.
            assert_eq!(kl_diag_std_normal(&[0.0f32; 3], &[0.0f32; 3]), 0.0);
            let kl = kl_diag_std_normal(&[1.0f32, 0.0], &[0.0f32, core::f32::consts::LN_2 * 2.0]);
            assert!((kl - 1.306_853).abs() < 1e-6, "kl = {}", kl);
        });
    }
}
