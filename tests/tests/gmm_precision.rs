//! f32 against the f64 reference on data far from zero: the shifted sufficient statistics keep
//! f32 within a few parts in 10⁴ of f64 where the naive Σx² − nμ² loses every digit.

use crabmix::gmm::Mixture;
use crabmix_kernels::gaussian::standard_normal;
use crabmix_kernels::gmm::{CovarianceKind, FitConfig, GaussianMixture, SufficientStats};
use crabmix_tests::fixtures::pearson_crabs;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Two 2-D clusters at (100, 100) and (100.03, 100.02) with spreads 0.01 (N = 2000). The data are
/// rounded to f32 once, and both precisions fit those same values.
fn offset_data() -> Vec<f32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(100);
    let mut v = Vec::new();
    for i in 0..2000 {
        let (cx, cy, s) = if i % 2 == 0 { (100.0, 100.0, 0.01) } else { (100.03, 100.02, 0.008) };
        let x: f64 = cx + s * standard_normal::<f64, _>(&mut rng);
        let y: f64 = cy + s * standard_normal::<f64, _>(&mut rng);
        v.push(x as f32);
        v.push(y as f32);
    }
    v
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn f32_em_matches_f64_on_data_offset_by_100() {
    let data32 = offset_data();
    let data64: Vec<f64> = data32.iter().map(|&v| v as f64).collect();
    let init = Mixture::<f64>::new(
        CovarianceKind::Full,
        2,
        vec![0.5, 0.5],
        vec![100.005, 100.0, 100.025, 100.025],
        vec![1e-4, 0.0, 0.0, 1e-4, 1e-4, 0.0, 0.0, 1e-4],
    )
    .unwrap();
    let config64 = FitConfig { max_iter: 30, tol: 0.0, reg_covar: 1e-9, ..FitConfig::default() };
    let config32 = FitConfig { max_iter: 30, tol: 0.0, reg_covar: 1e-9f32, ..FitConfig::default() };
    let (m64, r64) = init.refine(&data64, &config64).unwrap();
    let (m32, r32) = init.cast::<f32>().unwrap().refine(&data32, &config32).unwrap();
    for k in 0..2 {
        assert!(rel(m32.weights()[k] as f64, m64.weights()[k]) < 1e-4, "weights");
        for i in 0..2 {
            // Means: f32 resolution at 100 is 7.6e-6, i.e. < 1e-7 relative.
            assert!(rel(m32.means()[k * 2 + i] as f64, m64.means()[k * 2 + i]) < 1e-7);
            // Variances ~1e-4 computed from deviations ~1e-2: f32 keeps ~4 significant digits.
            let c = k * 4 + i * 2 + i;
            assert!(rel(m32.covariances()[c] as f64, m64.covariances()[c]) < 1e-3, "variance {k},{i}");
        }
    }
    assert!((r32.mean_log_likelihood as f64 - r64.mean_log_likelihood).abs() < 1e-3);

    // The naive f32 one-pass variance Σx²/n − μ² on the same data: all digits lost.
    let xs: Vec<f32> = data32.iter().step_by(2).copied().collect();
    let n = xs.len() as f32;
    let mean = xs.iter().sum::<f32>() / n;
    let naive = xs.iter().map(|x| x * x).sum::<f32>() / n - mean * mean;
    let exact = {
        let m = data64.iter().step_by(2).sum::<f64>() / n as f64;
        data64.iter().step_by(2).map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64
    };
    assert!(rel(naive as f64, exact) > 0.5, "naive f32 variance {naive} unexpectedly close to {exact}");

    // The fixed-size firmware types, accumulating one sample at a time in f32, agree too.
    let model32 = GaussianMixture::<f32, 2, 2>::new(
        CovarianceKind::Full,
        [0.5, 0.5],
        [[100.005, 100.0], [100.025, 100.025]],
        [[[1e-4, 0.0], [0.0, 1e-4]], [[1e-4, 0.0], [0.0, 1e-4]]],
    )
    .unwrap();
    let mut stats = SufficientStats::<f32, 2, 2>::new(CovarianceKind::Full);
    stats.reset(&model32);
    for x in data32.chunks_exact(2) {
        stats.accumulate(&model32, &[x[0], x[1]]).unwrap();
    }
    let mut next = model32;
    stats.finish(&mut next, 1e-9, false).unwrap();
    let (ref64, _) = init.em_step(&data64, 1e-9).unwrap();
    for k in 0..2 {
        for i in 0..2 {
            assert!(rel(next.covariances()[k][i][i] as f64, ref64.covariances()[k * 4 + i * 2 + i]) < 1e-3);
        }
    }
}

#[test]
fn f32_crabs_fit_matches_f64() {
    let x64 = pearson_crabs();
    let x32: Vec<f32> = x64.iter().map(|&v| v as f32).collect();
    let init =
        Mixture::<f64>::new(CovarianceKind::Full, 1, vec![0.5, 0.5], vec![0.62, 0.67], vec![1e-4, 1e-4])
            .unwrap();
    let (m64, _) = init.refine(&x64, &FitConfig { max_iter: 200, tol: 0.0, ..FitConfig::default() }).unwrap();
    let (m32, _) = init
        .cast::<f32>()
        .unwrap()
        .refine(&x32, &FitConfig { max_iter: 200, tol: 0.0, ..FitConfig::default() })
        .unwrap();
    for k in 0..2 {
        assert!(rel(m32.means()[k] as f64, m64.means()[k]) < 1e-5, "mean {k}");
        assert!(rel(m32.covariances()[k] as f64, m64.covariances()[k]) < 2e-3, "variance {k}");
        assert!(rel(m32.weights()[k] as f64, m64.weights()[k]) < 2e-3, "weight {k}");
    }
}
