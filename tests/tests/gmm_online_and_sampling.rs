//! Online EM approaches the batch fit on a long stationary stream; `sample` draws from the model.

use crabmix::gmm::Mixture;
use crabmix_kernels::gmm::{CovarianceKind, FitConfig, GaussianMixture, OnlineConfig, OnlineEm};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

fn truth() -> GaussianMixture<f64, 2, 2> {
    GaussianMixture::new(
        CovarianceKind::Full,
        [0.3, 0.7],
        [[-2.0, 1.0], [1.5, -0.5]],
        [[[0.5, 0.2], [0.2, 0.3]], [[0.4, -0.1], [-0.1, 0.6]]],
    )
    .unwrap()
}

#[test]
fn online_em_approaches_batch_fit_on_a_long_stream() {
    let truth = truth();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2009);
    let n = 200_000;
    let stream: Vec<[f64; 2]> = (0..n).map(|_| truth.sample(&mut rng).0).collect();
    let flat: Vec<f64> = stream.iter().flatten().copied().collect();
    let (batch, _) =
        Mixture::<f64>::fit(&flat, 2, 2, &FitConfig { tol: 1e-8, ..FitConfig::default() }, &mut rng, false)
            .unwrap();
    // Start far from the answer: unit covariances, equal weights, rough means.
    let start = GaussianMixture::<f64, 2, 2>::new(
        CovarianceKind::Full,
        [0.5, 0.5],
        [[-1.0, 0.0], [1.0, 0.0]],
        [[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]],
    )
    .unwrap();
    for alpha in [0.6, 1.0] {
        let config = OnlineConfig { alpha, average_from: Some(n as u64 / 4), ..OnlineConfig::default() };
        let mut online = OnlineEm::new(start, config).unwrap();
        for x in &stream {
            let lp = online.update(x).unwrap();
            assert!(lp.is_finite());
        }
        // For α < 1 the Polyak–Ruppert average carries the estimate; for α = 1 both coincide
        // closely (γ = 1/(n + n0) is already an average).
        let averaged = online.averaged().unwrap();
        let m = if alpha < 1.0 { &averaged } else { online.model() };
        // Match components to the batch fit by nearest mean.
        for k in 0..2 {
            let b = (0..2)
                .min_by(|&a, &c| {
                    let da = (batch.means()[a * 2] - m.means()[k][0]).abs();
                    let dc = (batch.means()[c * 2] - m.means()[k][0]).abs();
                    da.partial_cmp(&dc).unwrap()
                })
                .unwrap();
            let tol = 0.01;
            assert!(
                (m.weights()[k] - batch.weights()[b]).abs() < tol,
                "α={alpha} weight {} vs {}",
                m.weights()[k],
                batch.weights()[b]
            );
            for i in 0..2 {
                assert!(
                    (m.means()[k][i] - batch.means()[b * 2 + i]).abs() < tol,
                    "α={alpha} mean {k}{i}: {} vs {}",
                    m.means()[k][i],
                    batch.means()[b * 2 + i]
                );
                for j in 0..2 {
                    let want = batch.covariances()[b * 4 + i * 2 + j];
                    assert!(
                        (m.covariances()[k][i][j] - want).abs() < tol,
                        "α={alpha} cov {i}{j}: {} vs {want}",
                        m.covariances()[k][i][j]
                    );
                }
            }
        }
        // And the stream's mean log-likelihood is as good as the batch fit's to 1e-2.
        let s_online = m.score(&stream).unwrap();
        let s_batch = batch.score(&flat).unwrap();
        assert!(s_online > s_batch - 1e-2, "α={alpha}: online {s_online} vs batch {s_batch}");
        assert_eq!(online.samples(), n as u64);
    }
}

#[test]
fn online_em_rejects_bad_samples_without_changing_the_model() {
    let mut online = OnlineEm::new(truth(), OnlineConfig::default()).unwrap();
    let before = *online.model();
    assert!(online.update(&[f64::NAN, 0.0]).is_err());
    assert_eq!(*online.model(), before);
    assert_eq!(online.samples(), 0);
    assert!(OnlineEm::new(truth(), OnlineConfig { alpha: 0.5, ..OnlineConfig::default() }).is_err());
}

#[test]
fn samples_have_the_mixture_moments() {
    let truth = truth();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let n = 400_000;
    let mut counts = [0usize; 2];
    let mut mean = [0.0f64; 2];
    let mut second = [[0.0f64; 2]; 2];
    for _ in 0..n {
        let (x, k) = truth.sample(&mut rng);
        counts[k] += 1;
        for i in 0..2 {
            mean[i] += x[i] / n as f64;
            for j in 0..2 {
                second[i][j] += x[i] * x[j] / n as f64;
            }
        }
    }
    assert!((counts[0] as f64 / n as f64 - 0.3).abs() < 4e-3);
    // E[x] = Σ α μ; E[x xᵀ] = Σ α (Σ + μ μᵀ).
    for i in 0..2 {
        let want: f64 = (0..2).map(|k| truth.weights()[k] * truth.means()[k][i]).sum();
        assert!((mean[i] - want).abs() < 8e-3, "mean {i}: {} vs {want}", mean[i]);
        for j in 0..2 {
            let want: f64 = (0..2)
                .map(|k| {
                    truth.weights()[k]
                        * (truth.covariances()[k][i][j] + truth.means()[k][i] * truth.means()[k][j])
                })
                .sum();
            assert!((second[i][j] - want).abs() < 2e-2, "second moment {i}{j}: {} vs {want}", second[i][j]);
        }
    }
    // The host sampler draws the same stream.
    let host = Mixture::new(
        CovarianceKind::Full,
        2,
        truth.weights().to_vec(),
        truth.means().concat(),
        truth.covariances().iter().flat_map(|c| c.concat()).collect(),
    )
    .unwrap();
    let (xs, ks) = host.sample(3, &mut Xoshiro256PlusPlus::seed_from_u64(11));
    let mut r = Xoshiro256PlusPlus::seed_from_u64(11);
    for t in 0..3 {
        let (x, k) = truth.sample(&mut r);
        assert_eq!(ks[t], k);
        assert_eq!(&xs[t * 2..t * 2 + 2], &x);
    }
}
