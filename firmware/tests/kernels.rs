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

/// Reference values from tools/gen_vectors.py (host, float64): never computed by the kernels.
#[path = "vectors/mlp_reparam.rs"]
mod vectors;

use crabmix_kernels::Real;
use crabmix_kernels::mlp::{Act, Dense, Layer, Sigmoid, Tanh, loss::mse};

/// The reference network 3 → 4 (tanh) → 2 (sigmoid) in scalar `T` (its weights are dyadic, so
/// the f32 and f64 networks hold the same values).
pub type Net<T> = crabmix_kernels::chain_type!(Dense<T, 3, 4>, Act<Tanh, 4>, Dense<T, 4, 2>, Act<Sigmoid, 2>);

pub fn cast<T: Real, const N: usize>(v: &[f64; N]) -> [T; N] {
    v.map(T::from_f64)
}

pub fn net<T: Real>() -> Net<T> {
    crabmix_kernels::chain!(
        Dense { w: vectors::W1.map(|r| cast(&r)), b: cast(&vectors::B1) },
        Act(Tanh),
        Dense { w: vectors::W2.map(|r| cast(&r)), b: cast(&vectors::B2) },
        Act(Sigmoid)
    )
}

/// |got − want| ≤ rel·|want| + abs for every entry; prints the first offender.
pub fn close<T: Real, const N: usize>(what: &str, got: &[T; N], want: &[f64; N], rel: f64, abs: f64) {
    for i in 0..N {
        let (g, w) = (got[i].to_f64(), want[i]);
        assert!((g - w).abs() <= rel * w.abs() + abs, "{}[{}]: got {}, want {}", what, i, g, w);
    }
}

/// Forward, MSE and backward of the reference network against the float64 vectors; `rel`/`abs`
/// is the scalar type's tolerance. A second backward must add exactly the same gradient again.
pub fn mlp_matches_reference<T: Real>(rel: f64, abs: f64) {
    let net = net::<T>();
    let mut cache = net.new_cache_of();
    let mut grads = net.zeros_like();
    let y = net.forward(&cast(&vectors::X), &mut cache);
    close("y", &y, &vectors::Y, rel, abs);
    let mut dy = [T::ZERO; 2];
    let loss = mse(&y, &cast(&vectors::TARGET), &mut dy);
    close("loss", &[loss], &[vectors::LOSS], rel, abs);
    let dx = net.backward(&cache, &dy, &mut grads);
    close("dx", &dx, &vectors::GRAD_X, rel, abs);
    let Chain(d1, Chain(_, Chain(d2, _))) = &grads;
    for o in 0..4 {
        close("dW1", &d1.w[o], &vectors::GRAD_W1[o], rel, abs);
    }
    close("db1", &d1.b, &vectors::GRAD_B1, rel, abs);
    for o in 0..2 {
        close("dW2", &d2.w[o], &vectors::GRAD_W2[o], rel, abs);
    }
    close("db2", &d2.b, &vectors::GRAD_B2, rel, abs);
    // `backward` adds into `grads` (minibatch accumulation): g + g = 2g exactly in binary.
    // An explicit clone, as measured: `golden/stack.txt` holds this test's stack figure.
    #[allow(clippy::clone_on_copy)]
    let once = grads.clone();
    let _ = net.backward(&cache, &dy, &mut grads);
    let Chain(e1, Chain(_, Chain(e2, _))) = &grads;
    let Chain(o1, Chain(_, Chain(o2, _))) = &once;
    assert!(e1.b.iter().zip(o1.b.iter()).all(|(a, b)| *a == *b + *b));
    assert!(e2.w.iter().zip(o2.w.iter()).all(|(a, b)| a.iter().zip(b.iter()).all(|(x, y)| *x == *y + *y)));
}

use crabmix_kernels::mlp::Chain;

#[defmt_test::tests]
mod tests {
    use super::{L4, cast, close, llt, mlp_matches_reference, stack, vectors};
    use crabmix_kernels::Real;
    use crabmix_kernels::gaussian::kl_diag_std_normal;
    use crabmix_kernels::gaussian::reparam::{
        reparam_diag, reparam_diag_backward, reparam_full, reparam_full_backward, sample_diag,
    };
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
    fn vsqrt_equals_libm_sqrtf_bit_for_bit() {
        stack("vsqrt_equals_libm_sqrtf_bit_for_bit", || {
            // crabmix-fpu's sqrtf is one VSQRT.F32 on the M4F (libm's sqrtf on the M0): both
            // correctly rounded, so equal on every non-NaN input. A sweep of bit patterns over
            // every binade, subnormals included, then the special values.
            let mut bits = 0u32;
            while bits < 0x7f80_0000 {
                let x = f32::from_bits(bits);
                assert_eq!(crabmix_fpu::sqrtf(x).to_bits(), libm::sqrtf(x).to_bits());
                bits += 65_521;
            }
            for x in [0.0f32, -0.0, 1.0, 2.0, 4.0, f32::MIN_POSITIVE, f32::MAX, f32::INFINITY] {
                assert_eq!(crabmix_fpu::sqrtf(x).to_bits(), libm::sqrtf(x).to_bits());
            }
            assert!(crabmix_fpu::sqrtf(-1.0).is_nan());
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

    #[test]
    fn mlp_forward_backward_matches_float64_reference() {
        stack("mlp_forward_backward_matches_float64_reference", || {
            // f32: a few ulps through two layers and libm's tanhf/expf (rounding of sums of
            // products and of the activations): 1e-5 relative, 1e-7 absolute for entries near 0.
            mlp_matches_reference::<f32>(1e-5, 1e-7);
            // f64 (software float on this target) against Python's float64: the same formulas,
            // libm's tanh/exp vs glibc's, both within an ulp or two.
            mlp_matches_reference::<f64>(1e-13, 1e-16);
        });
    }

    #[test]
    fn reparameterized_sampling_matches_float64_reference() {
        stack("reparameterized_sampling_matches_float64_reference", || {
            let (mu, lv, eps, gz) = (
                cast::<f32, 3>(&vectors::MU),
                cast::<f32, 3>(&vectors::LOG_VAR),
                cast::<f32, 3>(&vectors::EPS),
                cast::<f32, 3>(&vectors::GRAD_Z),
            );
            let mut z = [0.0f32; 3];
            reparam_diag(&mu, &lv, &eps, &mut z);
            close("z diag", &z, &vectors::Z_DIAG, 1e-6, 0.0);
            // Backward adds: start the buffers at 1 and expect 1 + gradient.
            let (mut gmu, mut glv) = ([1.0f32; 3], [1.0f32; 3]);
            reparam_diag_backward(&lv, &eps, &gz, &mut gmu, &mut glv);
            close("dμ diag", &gmu, &vectors::GRAD_Z.map(|g| 1.0 + g), 0.0, 0.0);
            close("d ln σ²", &glv, &vectors::GRAD_LOG_VAR.map(|g| 1.0 + g), 1e-6, 0.0);
            // Full: μ + L ε with dyadic L and ε is exact; so is every ∂L/∂L_ij = g_i ε_j.
            let l = vectors::L.map(|r| cast::<f32, 3>(&r));
            reparam_full(&mu, &l, &eps, &mut z);
            close("z full", &z, &vectors::Z_FULL, 0.0, 0.0);
            let mut gl = [[-2.0f32; 3]; 3];
            let mut gmu = [0.0f32; 3];
            reparam_full_backward(&eps, &gz, &mut gmu, &mut gl);
            close("dμ full", &gmu, &vectors::GRAD_Z, 0.0, 0.0);
            for i in 0..3 {
                for j in 0..3 {
                    // The strict upper triangle is not a parameter: left as it was.
                    let want = if j <= i { vectors::GRAD_L[i][j] - 2.0 } else { -2.0 };
                    assert_eq!(gl[i][j] as f64, want, "dL[{}][{}]", i, j);
                }
            }
        });
    }

    #[test]
    fn sample_diag_draws_have_the_requested_moments() {
        stack("sample_diag_draws_have_the_requested_moments", || {
            // z = μ + σ ε with μ = (1, −2), σ² = (4, 0.25); ε is handed back and must be the
            // seed's standard normals, and z must be exactly the reparameterization of that ε.
            let (mu, lv) = ([1.0f32, -2.0], [4.0f32.ln(), 0.25f32.ln()]);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(18);
            let mut twin = Xoshiro256PlusPlus::seed_from_u64(18);
            let n = 8_000;
            let (mut s1, mut s2) = ([0.0f64; 2], [0.0f64; 2]);
            let (mut eps, mut z, mut z2) = ([0.0f32; 2], [0.0f32; 2], [0.0f32; 2]);
            for _ in 0..n {
                sample_diag(&mu, &lv, &mut rng, &mut eps, &mut z);
                let e: [f32; 2] = [standard_normal(&mut twin), standard_normal(&mut twin)];
                assert_eq!(eps, e);
                reparam_diag(&mu, &lv, &eps, &mut z2);
                assert_eq!(z, z2);
                for i in 0..2 {
                    s1[i] += z[i] as f64;
                    s2[i] += (z[i] as f64) * (z[i] as f64);
                }
            }
            let var = [4.0f64, 0.25];
            for i in 0..2 {
                let mean = s1[i] / n as f64;
                let v = s2[i] / n as f64 - mean * mean;
                // 5 standard errors: σ/√n for the mean, σ²·√(2/n) for the variance.
                let se_mean = (var[i] / n as f64).sqrt();
                let se_var = var[i] * (2.0 / n as f64).sqrt();
                assert!((mean - mu[i] as f64).abs() < 5.0 * se_mean, "mean[{}] {}", i, mean);
                assert!((v - var[i]).abs() < 5.0 * se_var, "var[{}] {}", i, v);
            }
        });
    }
}
