//! The lecture's own claims about EM (§2 of SEED-NOTES.md), checked on the kernels.

use crabmix::gmm::Mixture;
use crabmix_kernels::gmm::{CovarianceKind, FitConfig, InitMethod};
use crabmix_tests::fixtures::{pearson_crabs, sklearn_case};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Pearson's crabs (Fig. 4), two components, EM on the 1000 bin centres as points (not the
/// grouped-data likelihood). Fitted from k-means++ to a tight tolerance, the fit lands on the
/// same maximum as scikit-learn run for 5000 iterations from its own start, and separates the
/// two populations as Pearson did (means ≈ 0.632 and 0.654, standard deviations ≈ 0.018 and
/// 0.013, the smaller-ratio component weighing ≈ 0.41).
#[test]
fn pearson_crabs_two_component_fit() {
    let x = pearson_crabs();
    assert_eq!(x.len(), 1000);
    let config = FitConfig { tol: 1e-12, max_iter: 20_000, n_init: 3, ..FitConfig::default() };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1894);
    let (m, report) = Mixture::<f64>::fit(&x, 1, 2, &config, &mut rng, false).unwrap();
    assert!(report.converged, "{report:?}");
    // Order components by mean.
    let (lo, hi) = if m.means()[0] < m.means()[1] { (0, 1) } else { (1, 0) };
    let sk = sklearn_case("crabs_full_converged").expected;
    let (slo, shi) = if sk.means[0][0] < sk.means[1][0] { (0, 1) } else { (1, 0) };
    let close = |a: f64, b: f64, tol: f64, what: &str| assert!((a - b).abs() <= tol, "{what}: {a} vs {b}");
    close(m.weights()[lo], sk.weights[slo], 2e-3, "weight (low component)");
    close(m.means()[lo], sk.means[slo][0], 2e-5, "mean (low)");
    close(m.means()[hi], sk.means[shi][0], 2e-5, "mean (high)");
    close(m.covariances()[lo].sqrt(), sk.covariances[slo][0][0].as_f64().unwrap().sqrt(), 2e-5, "sd (low)");
    close(m.covariances()[hi].sqrt(), sk.covariances[shi][0][0].as_f64().unwrap().sqrt(), 2e-5, "sd (high)");
    close(m.weights()[lo], 0.413, 0.01, "weight vs Pearson's ≈ 0.41");
    close(m.means()[lo], 0.6311, 1e-3, "mean low");
    close(m.means()[hi], 0.6542, 1e-3, "mean high");
    // The fit never scores below scikit-learn's 5000-iteration optimum by more than rounding.
    assert!(report.mean_log_likelihood >= sk.score - 1e-9, "{} < {}", report.mean_log_likelihood, sk.score);
}

/// Population EM update for 0.5·N(μ,1) + 0.5·N(−μ,1) with known variance and weights:
/// λ' = E_{x~N(μ,1)}[x tanh(λ x)], by composite Simpson on [μ − 12, μ + 12] (f64 reference).
fn population_update(lambda: f64, mu: f64) -> f64 {
    let (a, b, n) = (mu - 12.0, mu + 12.0, 24_000);
    let h = (b - a) / n as f64;
    let f = |x: f64| {
        let phi = (-(x - mu) * (x - mu) / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
        x * (lambda * x).tanh() * phi
    };
    let mut s = f(a) + f(b);
    for i in 1..n {
        s += f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    s * h / 3.0
}

/// One sample-EM step of the symmetric mixture through the kernels: accumulate responsibilities
/// under (½, ½; ±λ; variance 1) on a sign-symmetrized sample, then the M-step's mean of the
/// component at +λ — which equals (1/N) Σ x tanh(λx) because Σ x = 0 on symmetrized data.
fn sample_update(lambda: f64, data: &[f64]) -> f64 {
    let model =
        Mixture::<f64>::new(CovarianceKind::Full, 1, vec![0.5, 0.5], vec![lambda, -lambda], vec![1.0, 1.0])
            .unwrap();
    let (next, _) = model.em_step(data, 0.0).unwrap();
    next.means()[0]
}

fn erf(x: f64) -> f64 {
    // Abramowitz & Stegun 7.1.26 is too coarse here; use the series / continued fraction split.
    if x.abs() < 3.0 {
        let mut sum = x;
        let mut term = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        2.0 / std::f64::consts::PI.sqrt() * sum
    } else {
        1.0f64.copysign(x)
    }
}

/// Daskalakis, Tzamos & Zampetakis (2016): from λ = ∞ the first step gives E|x|, λ then decreases
/// monotonically to μ with |λ_{t+1} − μ| ≤ e^{−min(λ_t, μ)²/2}|λ_t − μ|; ten steps give < 1 %
/// relative error for μ = 0.5 (≈ 0.8 %) but ≈ 22 % for μ = 0.25. Sample EM through the kernels
/// on 2·10⁵ points tracks the population recursion.
#[test]
fn ten_steps_of_em_for_two_gaussians() {
    let n = 100_000;
    for &(mu, ten_step_error) in &[(1.0, 0.0), (0.5, 0.008), (0.25, 0.22)] {
        // Population recursion from λ = ∞ (λ₀ = 1e6: tanh(λx) = sign(x) to double precision
        // except on a set of measure < 1e-6).
        let first = mu * erf(mu / 2f64.sqrt()) + (2.0 / std::f64::consts::PI).sqrt() * (-mu * mu / 2.0).exp();
        let mut pop = vec![1e6];
        for t in 0..10 {
            let next = population_update(pop[t], mu);
            let prev = pop[t];
            assert!(next < prev, "μ={mu}: population λ must decrease ({prev} → {next})");
            assert!(next > mu, "μ={mu}: λ stays above μ");
            if t > 0 {
                let bound = (-(prev.min(mu)).powi(2) / 2.0).exp() * (prev - mu).abs();
                assert!((next - mu).abs() <= bound + 1e-12, "μ={mu}: contraction bound at step {t}");
            }
            pop.push(next);
        }
        assert!((pop[1] - first).abs() < 1e-9, "μ={mu}: first step {} vs E|x| {first}", pop[1]);
        let rel = (pop[10] - mu) / mu;
        if ten_step_error > 0.0 {
            assert!((rel - ten_step_error).abs() < 0.2 * ten_step_error, "μ={mu}: ten-step error {rel}");
        } else {
            assert!(rel < 1e-3, "μ={mu}: ten-step error {rel}");
        }

        // Sample EM through the kernels on a symmetrized sample from N(μ, 1).
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2016);
        let mut data = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let x = mu + crabmix_kernels::gaussian::standard_normal::<f64, _>(&mut rng);
            data.push(x);
            data.push(-x);
        }
        let mut lambda = 1e6;
        for t in 1..=10 {
            let next = sample_update(lambda, &data);
            assert!(next < lambda, "μ={mu}: sample λ decreases at step {t}");
            // Sampling error of a mean of 10⁵ terms of size O(1): ≈ 3e-3; allow 5 standard errors.
            assert!((next - pop[t]).abs() < 0.016, "μ={mu} step {t}: sample {next} vs population {}", pop[t]);
            lambda = next;
        }
    }
}

/// The fixed-size (firmware) and runtime-sized (host) paths compute the same fit.
#[test]
fn fixed_size_and_runtime_sized_fits_agree() {
    let x = pearson_crabs();
    let config = FitConfig { init: InitMethod::RandomFromData, ..FitConfig::default() };
    let mut r1 = Xoshiro256PlusPlus::seed_from_u64(5);
    let mut r2 = Xoshiro256PlusPlus::seed_from_u64(5);
    let (host, hr) = Mixture::<f64>::fit(&x, 1, 2, &config, &mut r1, false).unwrap();
    let rows: Vec<[f64; 1]> = x.iter().map(|&v| [v]).collect();
    let (fixed, fr) =
        crabmix_kernels::gmm::GaussianMixture::<f64, 2, 1>::fit(&rows, &config, &mut r2).unwrap();
    assert_eq!(hr.n_iter, fr.n_iter);
    for k in 0..2 {
        assert!((host.means()[k] - fixed.means()[k][0]).abs() < 1e-12);
        assert!((host.covariances()[k] - fixed.covariances()[k][0][0]).abs() < 1e-14);
        assert!((host.weights()[k] - fixed.weights()[k]).abs() < 1e-12);
    }
}
