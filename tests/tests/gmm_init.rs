//! The four initializations (scikit-learn's `init_params`) against f64 references written here.

use crabmix::gmm::Mixture;
use crabmix_kernels::gaussian::standard_normal;
use crabmix_kernels::gmm::{
    CovarianceKind, FitConfig, InitMethod, MixtureMut, Shape, StatsMut, Totals, choose_centres, initialize,
};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Three blobs in 2-D (600 points), deterministic.
fn blobs() -> Vec<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    let centres = [[0.0, 0.0], [6.0, 1.0], [2.0, 7.0]];
    let mut out = Vec::new();
    for i in 0..600 {
        let c = centres[i % 3];
        let (a, b): (f64, f64) = (standard_normal(&mut rng), standard_normal(&mut rng));
        out.extend([c[0] + a, c[1] + 0.5 * b]);
    }
    out
}

/// Runs the kernels' `initialize` on `data` (N × D) and returns (weights, means, covariances).
fn init(
    data: &[f64],
    d: usize,
    k: usize,
    kind: CovarianceKind,
    method: InitMethod,
    seed: u64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let shape = Shape::new(k, d, kind);
    let (mut w, mut m, mut c, mut p, mut ln) =
        (vec![0.0; k], vec![0.0; k * d], vec![0.0; k * d * d], vec![0.0; k * d * d], vec![0.0; k]);
    let (mut sh, mut n, mut s1, mut s2, mut worst) =
        (vec![0.0; k * d], vec![0.0; k], vec![0.0; k * d], vec![0.0; k * d * d], vec![0.0; d]);
    let mut totals = Totals::default();
    let mut model = MixtureMut::new(shape, &mut w, &mut m, &mut c, &mut p, &mut ln).unwrap();
    let mut stats = StatsMut::new(shape, &mut sh, &mut n, &mut s1, &mut s2, &mut worst, &mut totals).unwrap();
    let mut work = vec![0.0; d];
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    initialize(data, &mut model, &mut stats, method, 1e-6, &mut rng, &mut work, None).unwrap();
    (w, m, c)
}

fn nearest(x: &[f64], centres: &[Vec<f64>]) -> usize {
    let dist = |c: &Vec<f64>| x.iter().zip(c).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
    (0..centres.len()).fold(0, |best, k| if dist(&centres[k]) < dist(&centres[best]) { k } else { best })
}

/// Textbook Lloyd (scikit-learn's stopping rule: Σ‖Δc‖² ≤ 1e-4 · mean feature variance, 300
/// iterations), then the full-covariance M-step of the final labels (+ reg on the diagonal).
fn reference_kmeans(
    data: &[f64],
    d: usize,
    seeds: &[f64],
    reg: f64,
) -> (Vec<f64>, Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let rows: Vec<&[f64]> = data.chunks(d).collect();
    let n = rows.len() as f64;
    let mut centres: Vec<Vec<f64>> = seeds.chunks(d).map(|c| c.to_vec()).collect();
    let k = centres.len();
    let mean: Vec<f64> = (0..d).map(|j| rows.iter().map(|x| x[j]).sum::<f64>() / n).collect();
    let var = rows.iter().map(|x| (0..d).map(|j| (x[j] - mean[j]).powi(2)).sum::<f64>()).sum::<f64>()
        / (n * d as f64);
    for _ in 0..300 {
        let labels: Vec<usize> = rows.iter().map(|x| nearest(x, &centres)).collect();
        let mut shift = 0.0;
        for c in 0..k {
            let members: Vec<&&[f64]> =
                rows.iter().zip(&labels).filter(|(_, l)| **l == c).map(|(x, _)| x).collect();
            if members.is_empty() {
                continue;
            }
            for j in 0..d {
                let new = members.iter().map(|x| x[j]).sum::<f64>() / members.len() as f64;
                shift += (new - centres[c][j]).powi(2);
                centres[c][j] = new;
            }
        }
        if shift <= 1e-4 * var {
            break;
        }
    }
    let labels: Vec<usize> = rows.iter().map(|x| nearest(x, &centres)).collect();
    let (mut w, mut mu, mut cov) = (vec![], vec![], vec![]);
    for c in 0..k {
        let members: Vec<&&[f64]> =
            rows.iter().zip(&labels).filter(|(_, l)| **l == c).map(|(x, _)| x).collect();
        let nk = members.len() as f64;
        let m: Vec<f64> = (0..d).map(|j| members.iter().map(|x| x[j]).sum::<f64>() / nk).collect();
        let mut s = vec![0.0; d * d];
        for x in &members {
            for i in 0..d {
                for j in 0..d {
                    s[i * d + j] += (x[i] - m[i]) * (x[j] - m[j]) / nk;
                }
            }
        }
        for i in 0..d {
            s[i * d + i] += reg;
        }
        w.push(nk / n);
        mu.push(m);
        cov.push(s);
    }
    (w, mu, cov)
}

#[test]
fn kmeans_init_equals_reference_lloyd_from_the_same_seeds() {
    let data = blobs();
    for seed in 0..5 {
        let mut seeds = vec![0.0; 6];
        choose_centres(
            &data,
            2,
            &mut seeds,
            InitMethod::KMeansPlusPlus,
            &mut Xoshiro256PlusPlus::seed_from_u64(seed),
            None,
        )
        .unwrap();
        let (w, m, c) = init(&data, 2, 3, CovarianceKind::Full, InitMethod::KMeans, seed);
        let (rw, rm, rc) = reference_kmeans(&data, 2, &seeds, 1e-6);
        for k in 0..3 {
            assert!((w[k] - rw[k]).abs() < 1e-14, "seed {seed} weight {k}: {} vs {}", w[k], rw[k]);
            for j in 0..2 {
                assert!((m[k * 2 + j] - rm[k][j]).abs() < 1e-12, "seed {seed} mean {k}");
            }
            for e in 0..4 {
                assert!((c[k * 4 + e] - rc[k][e]).abs() < 1e-12, "seed {seed} cov {k}");
            }
        }
        // Lloyd finds the three blobs from any k-means++ start here: weights 1/3 each.
        let mut sorted = w.clone();
        sorted.sort_by(f64::total_cmp);
        assert!(sorted.iter().all(|&v| (v - 1.0 / 3.0).abs() < 0.02), "seed {seed}: {w:?}");
    }
}

#[test]
fn random_responsibilities_give_every_component_the_pooled_moments() {
    // Uniform random responsibilities: every component's weight ≈ 1/K and mean ≈ the data's
    // mean (each is a random weighted average of all 600 points), weights sum to 1.
    let data = blobs();
    let (w, m, _) = init(&data, 2, 4, CovarianceKind::Diag, InitMethod::Random, 7);
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-15);
    let mean = [8.0 / 3.0, 8.0 / 3.0];
    for k in 0..4 {
        assert!((w[k] - 0.25).abs() < 0.03, "{w:?}");
        for j in 0..2 {
            assert!((m[k * 2 + j] - mean[j]).abs() < 0.4, "{m:?}");
        }
    }
    // Different seeds, different responsibilities.
    assert_ne!(init(&data, 2, 4, CovarianceKind::Diag, InitMethod::Random, 8).0, w);
}

#[test]
fn kmeans_is_the_default_and_fits_the_blobs() {
    assert_eq!(FitConfig::<f64>::default().init, InitMethod::KMeans);
    let data = blobs();
    let config = FitConfig::default();
    let (m, report) =
        Mixture::fit(&data, 2, 3, &config, &mut Xoshiro256PlusPlus::seed_from_u64(0), false).unwrap();
    assert!(report.converged);
    let mut means: Vec<[f64; 2]> = m.means().chunks(2).map(|c| [c[0], c[1]]).collect();
    means.sort_by(|a, b| a[0].total_cmp(&b[0]));
    for (got, want) in means.iter().zip([[0.0, 0.0], [2.0, 7.0], [6.0, 1.0]]) {
        assert!((got[0] - want[0]).abs() < 0.2 && (got[1] - want[1]).abs() < 0.2, "{means:?}");
    }
}

#[test]
fn names_are_scikit_learns() {
    let names =
        [InitMethod::KMeans, InitMethod::KMeansPlusPlus, InitMethod::RandomFromData, InitMethod::Random]
            .map(InitMethod::name);
    assert_eq!(names, ["kmeans", "k-means++", "random_from_data", "random"]);
}

#[test]
fn max_iter_zero_returns_the_initialization_itself() {
    // The firmware's fixed-size fit with max_iter 0 is `initialize` and a scoring pass.
    use crabmix_kernels::gmm::GaussianMixture;
    let data = blobs();
    let rows: Vec<[f64; 2]> = data.chunks(2).map(|c| [c[0], c[1]]).collect();
    let config = FitConfig { max_iter: 0, ..FitConfig::default() };
    let (m, report) =
        GaussianMixture::<f64, 3, 2>::fit(&rows, &config, &mut Xoshiro256PlusPlus::seed_from_u64(4)).unwrap();
    let (w, mu, c) = init(&data, 2, 3, CovarianceKind::Full, InitMethod::KMeans, 4);
    assert_eq!(m.weights().as_slice(), w.as_slice());
    assert_eq!(m.means().as_flattened(), mu.as_slice());
    assert_eq!(m.covariances().as_flattened().as_flattened(), c.as_slice());
    assert_eq!((report.n_iter, report.converged), (0, false));
    assert_eq!(report.lower_bound, report.mean_log_likelihood);
    assert_eq!(report.mean_log_likelihood, m.score(&rows).unwrap());
}
