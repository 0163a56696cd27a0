//! Bad input never panics and never yields a NaN model: a typed error, or a documented recovery.

use crabmix::gmm::Mixture;
use crabmix_kernels::Error;
use crabmix_kernels::gmm::{CovarianceKind, FitConfig, GaussianMixture, InitMethod};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

fn rng() -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(3)
}

fn all_finite(m: &Mixture<f64>) -> bool {
    m.weights().iter().chain(m.means()).chain(m.covariances()).all(|v| v.is_finite())
}

#[test]
fn non_finite_samples_are_named() {
    let mut data = vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
    data[3] = f64::NAN;
    let e = Mixture::fit(&data, 2, 1, &FitConfig::default(), &mut rng(), false).unwrap_err();
    assert_eq!(e, Error::NonFiniteSample { sample: 1, feature: 1 });
    data[3] = f64::INFINITY;
    let e = Mixture::fit(&data, 2, 1, &FitConfig::default(), &mut rng(), false).unwrap_err();
    assert_eq!(e, Error::NonFiniteSample { sample: 1, feature: 1 });
    // Past the first chunk of the parallel E-step, the row index is still global.
    let mut big = vec![0.5f64; 2 * 10_000];
    for (i, v) in big.iter_mut().enumerate() {
        *v = (i % 17) as f64;
    }
    let model =
        Mixture::new(CovarianceKind::Full, 2, vec![1.0], vec![8.0, 8.0], vec![25.0, 0.0, 0.0, 25.0]).unwrap();
    big[2 * 9_000 + 1] = f64::NEG_INFINITY;
    let e = model.em_step(&big, 1e-6).unwrap_err();
    assert_eq!(e, Error::NonFiniteSample { sample: 9_000, feature: 1 });
    // The fixed-size API reports it for single samples too.
    let g = GaussianMixture::<f32, 1, 2>::new(
        CovarianceKind::Diag,
        [1.0],
        [[0.0, 0.0]],
        [[[1.0, 0.0], [0.0, 1.0]]],
    )
    .unwrap();
    assert_eq!(g.log_density(&[f32::NAN, 0.0]), Err(Error::NonFiniteSample { sample: 0, feature: 0 }));
}

#[test]
fn more_components_than_samples() {
    let e = Mixture::fit(&[1.0, 2.0], 1, 3, &FitConfig::default(), &mut rng(), false).unwrap_err();
    assert_eq!(e, Error::TooFewSamples { samples: 2, components: 3 });
    assert_eq!(
        Mixture::<f64>::fit(&[], 1, 1, &FitConfig::default(), &mut rng(), false).unwrap_err(),
        Error::EmptyData
    );
    let e = Mixture::fit(&[1.0, 2.0, 3.0], 2, 1, &FitConfig::default(), &mut rng(), false).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e:?}");
    let e = Mixture::fit(&[1.0; 10], 1, 65, &FitConfig::default(), &mut rng(), false).unwrap_err();
    assert!(matches!(e, Error::CapacityExceeded { what: "components", .. }), "{e:?}");
}

#[test]
fn zero_variance_data_recovers_with_reg_and_errors_without() {
    let data = vec![7.0; 50];
    for kind in [CovarianceKind::Full, CovarianceKind::Diag, CovarianceKind::Spherical] {
        let config = FitConfig { kind, ..FitConfig::default() };
        let (m, _) = Mixture::fit(&data, 1, 2, &config, &mut rng(), false).unwrap();
        assert!(all_finite(&m));
        assert!((m.covariances()[0] - 1e-6).abs() < 1e-15, "covariance is exactly reg_covar");
        assert!(m.score(&data).unwrap().is_finite());
        let config = FitConfig { kind, reg_covar: 0.0, ..FitConfig::default() };
        let e = Mixture::fit(&data, 1, 2, &config, &mut rng(), false).unwrap_err();
        assert!(matches!(e, Error::NotPositiveDefinite { pivot: 0, .. }), "{e:?}");
    }
}

#[test]
fn duplicated_data_with_more_components_than_distinct_points() {
    // Two distinct points, four components: k-means++ and random init both end with coinciding
    // or re-seeded components, and the model stays finite.
    let data: Vec<f64> = (0..40).flat_map(|i| if i % 2 == 0 { [0.0, 0.0] } else { [1.0, 1.0] }).collect();
    for init in
        [InitMethod::KMeans, InitMethod::KMeansPlusPlus, InitMethod::RandomFromData, InitMethod::Random]
    {
        let config = FitConfig { init, n_init: 2, ..FitConfig::default() };
        let (m, report) = Mixture::fit(&data, 2, 4, &config, &mut rng(), false).unwrap();
        assert!(all_finite(&m), "{init:?}");
        assert!(report.mean_log_likelihood.is_finite());
        assert!((m.weights().iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}

#[test]
fn empty_component_is_reported_not_reseeded() {
    // Component 1 sits far from every sample: it receives no responsibility. EM iterations never
    // re-seed (that would break the monotone lower bound), so it keeps its mean and covariance
    // with weight 0, and the report counts it as empty.
    let data: Vec<f64> = (0..100).map(|i| (i % 10) as f64 * 0.1).collect();
    let model =
        Mixture::new(CovarianceKind::Full, 1, vec![0.5, 0.5], vec![0.45, 1e6], vec![0.1, 1e-3]).unwrap();
    let (m, report) =
        model.refine(&data, &FitConfig { max_iter: 3, tol: 0.0, ..FitConfig::default() }).unwrap();
    assert_eq!((report.reseeded, report.empty, report.n_iter), (0, 1, 3));
    assert!(all_finite(&m));
    assert_eq!(m.weights(), &[1.0, 0.0]);
    assert_eq!(m.means()[1], 1e6);
    assert_eq!(m.covariances()[1], 1e-3, "kept as it was");
    // Component 0 took everything: mean 0.45, variance of {0, 0.1, …, 0.9} + reg.
    assert!((m.means()[0] - 0.45).abs() < 1e-15);
    assert!((m.covariances()[0] - (0.0825 + 1e-6)).abs() < 1e-12);
    assert!(report.mean_log_likelihood.is_finite());
}

#[test]
fn initialization_reseeds_a_centre_that_wins_no_sample() {
    // Ten copies of one point and K = 2: k-means++ picks that point twice, the second centre
    // wins no sample in the nearest-centre M-step and is re-seeded there (the only place).
    let data = vec![0.25f64; 10];
    let config = FitConfig { max_iter: 5, ..FitConfig::default() };
    let (m, report) = Mixture::fit(&data, 1, 2, &config, &mut rng(), false).unwrap();
    assert_eq!(report.reseeded, 1);
    assert!(all_finite(&m));
    assert_eq!(m.means(), &[0.25, 0.25]);
}

#[test]
fn invalid_parameters_are_typed_errors() {
    let full = CovarianceKind::Full;
    let not_pd = Mixture::new(full, 2, vec![1.0], vec![0.0, 0.0], vec![1.0, 2.0, 2.0, 1.0]);
    assert_eq!(not_pd.unwrap_err(), Error::NotPositiveDefinite { component: 0, pivot: 1 });
    let asym = Mixture::new(full, 2, vec![1.0], vec![0.0, 0.0], vec![1.0, 0.5, 0.2, 1.0]);
    assert!(matches!(asym.unwrap_err(), Error::InvalidParameter { name: "covariances", .. }));
    let diag_off = Mixture::new(CovarianceKind::Diag, 2, vec![1.0], vec![0.0, 0.0], vec![1.0, 0.1, 0.1, 1.0]);
    assert!(matches!(diag_off.unwrap_err(), Error::InvalidParameter { name: "covariances", .. }));
    let weights = Mixture::new(full, 1, vec![0.5, 0.6], vec![0.0, 1.0], vec![1.0, 1.0]);
    assert!(matches!(weights.unwrap_err(), Error::InvalidParameter { name: "weights", .. }));
    let negative = Mixture::new(full, 1, vec![-0.5, 1.5], vec![0.0, 1.0], vec![1.0, 1.0]);
    assert!(matches!(negative.unwrap_err(), Error::InvalidParameter { name: "weights", .. }));
    let nan = Mixture::new(full, 1, vec![1.0], vec![f64::NAN], vec![1.0]);
    assert_eq!(nan.unwrap_err(), Error::NonFiniteParameter { name: "means", index: 0 });
    let data = [0.0, 1.0, 2.0];
    for config in [
        FitConfig { reg_covar: -1.0, ..FitConfig::default() },
        FitConfig { tol: f64::NAN, ..FitConfig::default() },
        FitConfig { n_init: 0, ..FitConfig::default() },
    ] {
        let e = Mixture::fit(&data, 1, 1, &config, &mut rng(), false).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { .. }), "{e:?}");
    }
}

#[test]
fn samples_beyond_the_float_range_of_the_model_are_typed_errors() {
    // (1e20 − 0)² / 1e-6 overflows f32: the density underflows to exactly zero.
    let g = GaussianMixture::<f32, 2, 1>::new(
        CovarianceKind::Full,
        [0.5, 0.5],
        [[0.0], [1.0]],
        [[[1e-6]], [[1e-6]]],
    )
    .unwrap();
    assert_eq!(g.log_density(&[1e20]).unwrap(), f32::NEG_INFINITY);
    let mut proba = [0.0f32; 2];
    assert_eq!(g.predict_proba(&[1e20], &mut proba), Err(Error::ZeroDensity { sample: 0 }));
    let data = [[0.1f32], [0.2], [1e20]];
    assert_eq!(g.score(&data), Err(Error::ZeroDensity { sample: 2 }));
}
