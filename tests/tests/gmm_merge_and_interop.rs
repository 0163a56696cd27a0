//! accumulate → merge → finish: merging is associative and equals one pass, whatever the shifts;
//! nalgebra interop; runtime sizes up to K, D = 64.

use crabmix::gmm::Mixture;
use crabmix_kernels::gaussian::standard_normal;
use crabmix_kernels::gmm::{CovarianceKind, FitConfig, GaussianMixture, SufficientStats};
use crabmix_kernels::linalg::cholesky_in_place;
use nalgebra::{Matrix3, Vector3};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

fn model() -> GaussianMixture<f64, 2, 3> {
    GaussianMixture::new(
        CovarianceKind::Full,
        [0.4, 0.6],
        [[0.0, 1.0, -1.0], [2.0, 0.0, 1.0]],
        [
            [[1.0, 0.2, 0.0], [0.2, 0.5, 0.1], [0.0, 0.1, 0.8]],
            [[0.7, 0.0, 0.1], [0.0, 0.9, 0.0], [0.1, 0.0, 0.4]],
        ],
    )
    .unwrap()
}

#[test]
fn merge_is_associative_and_equals_one_pass_even_with_different_shifts() {
    let m = model();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    let data: Vec<[f64; 3]> = (0..3000).map(|_| m.sample(&mut rng).0).collect();
    let mut whole = SufficientStats::<f64, 2, 3>::new(CovarianceKind::Full);
    whole.reset(&m);
    for x in &data {
        whole.accumulate(&m, x).unwrap();
    }
    // Three blocks, the second and third accumulated around other shifts (as another device
    // holding a slightly different copy of the means would): re-centring on merge is exact.
    let mut blocks = [SufficientStats::<f64, 2, 3>::new(CovarianceKind::Full); 3];
    for (b, stats) in blocks.iter_mut().enumerate() {
        let mut view = stats.view_mut();
        let mut shifts = m.means().as_flattened().to_vec();
        for s in shifts.iter_mut() {
            *s += 0.37 * b as f64;
        }
        view.reset(&shifts).unwrap();
        let mut lp = [0.0; 2];
        let mut work = [0.0; 6];
        for x in &data[b * 1000..(b + 1) * 1000] {
            view.accumulate(&m.view(), x, &mut lp, &mut work).unwrap();
        }
    }
    let mut left = blocks[0];
    left.merge(&blocks[1]).unwrap();
    left.merge(&blocks[2]).unwrap();
    let mut right_tail = blocks[1];
    right_tail.merge(&blocks[2]).unwrap();
    let mut right = blocks[0];
    right.merge(&right_tail).unwrap();
    let finish = |s: &SufficientStats<f64, 2, 3>| {
        let mut next = m;
        s.finish(&mut next, 1e-6, false).unwrap();
        next
    };
    let (a, b, c) = (finish(&whole), finish(&left), finish(&right));
    for (x, (y, z)) in a.covariances().as_flattened().as_flattened().iter().zip(
        b.covariances()
            .as_flattened()
            .as_flattened()
            .iter()
            .zip(c.covariances().as_flattened().as_flattened()),
    ) {
        assert!((x - y).abs() < 1e-12 && (y - z).abs() < 1e-12, "{x} {y} {z}");
    }
    for k in 0..2 {
        for i in 0..3 {
            assert!((a.means()[k][i] - b.means()[k][i]).abs() < 1e-12);
            assert!((b.means()[k][i] - c.means()[k][i]).abs() < 1e-12);
        }
        assert!((a.weights()[k] - c.weights()[k]).abs() < 1e-14);
    }
    assert_eq!(left.totals().samples, 3000);
    let ll = |s: &SufficientStats<f64, 2, 3>| s.totals().mean_log_likelihood().unwrap();
    assert!((ll(&whole) - ll(&left)).abs() < 1e-13 && (ll(&left) - ll(&right)).abs() < 1e-13);
}

#[test]
fn nalgebra_interop_and_cholesky_agree() {
    let m = model();
    let mu: Vector3<f64> = m.mean_vector(1).unwrap();
    assert_eq!(mu, Vector3::new(2.0, 0.0, 1.0));
    let cov: Matrix3<f64> = m.covariance_matrix(0).unwrap();
    assert_eq!(cov[(0, 1)], 0.2);
    assert!(m.mean_vector(2).is_none());
    let back = GaussianMixture::<f64, 2, 3>::from_nalgebra(
        CovarianceKind::Full,
        *m.weights(),
        &[m.mean_vector(0).unwrap(), m.mean_vector(1).unwrap()],
        &[m.covariance_matrix(0).unwrap(), m.covariance_matrix(1).unwrap()],
    )
    .unwrap();
    assert_eq!(back, m);
    let x = Vector3::new(0.3, -0.2, 0.5);
    assert_eq!(m.log_density_vector(&x).unwrap(), m.log_density(&[0.3, -0.2, 0.5]).unwrap());
    // Our Cholesky factor equals nalgebra's.
    let mut ours = [0.0f64; 9];
    ours.copy_from_slice(m.covariances()[0].as_flattened());
    cholesky_in_place(&mut ours, 3).unwrap();
    let l = nalgebra::Cholesky::new(cov).unwrap().l();
    for i in 0..3 {
        for j in 0..3 {
            assert!((ours[i * 3 + j] - l[(i, j)]).abs() < 1e-15);
        }
    }
}

#[test]
fn runtime_sizes_up_to_64() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(64);
    // D = 64, K = 2 and D = 2, K = 64, chosen at run time, one instantiation.
    for (d, k, n) in [(64usize, 2usize, 400usize), (2, 64, 2000)] {
        let data: Vec<f64> =
            (0..n * d).map(|i| standard_normal::<f64, _>(&mut rng) + ((i / d) % k) as f64 * 3.0).collect();
        let config = FitConfig { max_iter: 5, kind: CovarianceKind::Diag, ..FitConfig::default() };
        let (m, report) = Mixture::<f64>::fit(&data, d, k, &config, &mut rng, false).unwrap();
        assert_eq!(m.shape().components, k);
        assert!(report.mean_log_likelihood.is_finite());
        let full = FitConfig { max_iter: 2, ..FitConfig::default() };
        let (m, _) = Mixture::<f64>::fit(&data, d, k, &full, &mut rng, false).unwrap();
        assert!(m.covariances().iter().all(|v| v.is_finite()));
    }
}
