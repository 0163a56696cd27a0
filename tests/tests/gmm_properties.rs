//! Properties of EM that hold for any data and parameters (proptest).

use crabmix::gmm::Mixture;
use crabmix_kernels::gmm::CovarianceKind;
use crabmix_tests::gmm_reference::RefGmm;
use proptest::prelude::*;

const KINDS: [CovarianceKind; 3] = [CovarianceKind::Full, CovarianceKind::Diag, CovarianceKind::Spherical];

/// Random data (N × D), and random valid parameters: weights from positive draws, means inside
/// the data's range, covariances A Aᵀ + 0.05 I (full) or positive diagonals.
/// (K, D, kind index, data, weights, means, covariances).
type Case = (usize, usize, usize, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>);

fn case() -> impl Strategy<Value = Case> {
    (1usize..=3, 1usize..=3, 0usize..3).prop_flat_map(|(k, d, kind)| {
        let n = 40;
        (
            Just(k),
            Just(d),
            Just(kind),
            prop::collection::vec(-3.0f64..3.0, n * d),
            prop::collection::vec(0.1f64..1.0, k),
            prop::collection::vec(-2.0f64..2.0, k * d),
            prop::collection::vec(-1.0f64..1.0, k * d * d),
        )
    })
}

fn covariances(kind: CovarianceKind, a: &[f64], k: usize, d: usize) -> Vec<f64> {
    let mut out = vec![0.0; k * d * d];
    for c in 0..k {
        let a = &a[c * d * d..(c + 1) * d * d];
        for i in 0..d {
            for j in 0..d {
                let v = match kind {
                    CovarianceKind::Full => (0..d).map(|l| a[i * d + l] * a[j * d + l]).sum::<f64>(),
                    CovarianceKind::Diag if i == j => a[i * d + i] * a[i * d + i],
                    CovarianceKind::Spherical if i == j => a[0] * a[0],
                    _ => 0.0,
                };
                out[c * d * d + i * d + j] = v + if i == j { 0.05 } else { 0.0 };
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// ℓ(θ^(t+1)) ≥ ℓ(θ^(t)) for every exact EM step (reg_covar = 0), on random data and random
    /// starting parameters, for all three covariance kinds; the new mean log-likelihood is also
    /// checked against the f64 textbook reference step.
    #[test]
    fn em_step_never_decreases_likelihood((k, d, kind, data, w, means, a) in case()) {
        let kind = KINDS[kind];
        let total: f64 = w.iter().sum();
        let weights: Vec<f64> = w.iter().map(|v| v / total).collect();
        let covs = covariances(kind, &a, k, d);
        let model = Mixture::<f64>::new(kind, d, weights.clone(), means.clone(), covs.clone()).unwrap();
        let (next, before) = model.em_step(&data, 0.0).unwrap();
        let after = next.score(&data).unwrap();
        prop_assert!(after >= before - 1e-10 * before.abs().max(1.0), "ℓ went from {before} to {after}");

        let name = match kind { CovarianceKind::Full => "full", CovarianceKind::Diag => "diag", CovarianceKind::Spherical => "spherical" };
        let reference = RefGmm::from_flat(name, d, &weights, &means, &covs);
        let ref_before = reference.mean_log_likelihood(&data, d);
        prop_assert!((before - ref_before).abs() <= 1e-9 * ref_before.abs().max(1.0));
        let ref_next = reference.em_step(&data, d, 0.0);
        for c in 0..k {
            prop_assert!((next.weights()[c] - ref_next.weights[c]).abs() < 1e-9);
            for i in 0..d {
                prop_assert!((next.means()[c * d + i] - ref_next.means[c][i]).abs() < 1e-8 * (1.0 + ref_next.means[c][i].abs()));
                for j in 0..d {
                    let want = ref_next.covs[c][(i, j)];
                    prop_assert!((next.covariances()[c * d * d + i * d + j] - want).abs() < 1e-8 * (1.0 + want.abs()));
                }
            }
        }
    }

    /// Responsibilities are a probability vector and predict is their argmax.
    #[test]
    fn responsibilities_sum_to_one((k, d, kind, data, w, means, a) in case()) {
        let kind = KINDS[kind];
        let total: f64 = w.iter().sum();
        let weights: Vec<f64> = w.iter().map(|v| v / total).collect();
        let model = Mixture::<f64>::new(kind, d, weights, means, covariances(kind, &a, k, d)).unwrap();
        let proba = model.predict_proba(&data).unwrap();
        let labels = model.predict(&data).unwrap();
        for (row, &label) in proba.chunks(k).zip(&labels) {
            let s: f64 = row.iter().sum();
            prop_assert!((s - 1.0).abs() < 1e-12);
            prop_assert!(row.iter().all(|&p| (0.0..=1.0).contains(&p)));
            let best = row.iter().cloned().fold(0.0, f64::max);
            prop_assert!(row[label] == best);
        }
    }
}
