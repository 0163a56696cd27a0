//! The Gaussian-mixture EM against scikit-learn 1.9.1: same data, same initial parameters, same
//! number of iterations (fixtures from `scripts/sklearn_fixtures.py`). f64 agreement to 1e-6
//! relative after EM; the initialization's M-step of the same labels to 1e-10.
//!
//! Cases: every covariance kind including `tied`; the `kmeans` initialization (scikit-learn's
//! default) given scikit-learn's k-means labels; user initialization (means_init, weights_init,
//! precisions_init alone) and warm start; sample weights against repeated rows (scikit-learn
//! has no sample weights); `max_iter` 0 with several initializations (the last is kept); the
//! ConvergenceWarning case.

use crabmix::gmm::start::InitModel;
use crabmix::gmm::{Mixture, Stats};
use crabmix_kernels::gmm::{CovarianceKind, FitConfig, InitMethod, hard_m_step, initialize};
use crabmix_tests::fixtures::{SkCase, sklearn_case};
use crabmix_tests::sklearn::{assert_params, check_em, data_of, expected_params, kind, mixture, refine};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

fn run_case(name: &str) {
    let case: SkCase = sklearn_case(name);
    assert!(case.source.starts_with("scikit-learn 1.9.1 "), "{name}: made by {}", case.source);
    check_em(&case, &mixture(&case, &case.init));
}

#[test]
fn full_2d_matches_sklearn() {
    run_case("blobs_full_2d");
}
#[test]
fn diag_3d_matches_sklearn() {
    run_case("blobs_diag_3d");
}
#[test]
fn spherical_2d_matches_sklearn() {
    run_case("blobs_spherical_2d");
}
#[test]
fn full_8d_matches_sklearn() {
    run_case("correlated_full_8d");
}
#[test]
fn diag_8d_matches_sklearn() {
    run_case("correlated_diag_8d");
}
#[test]
fn offset_data_full_matches_sklearn() {
    run_case("offset100_full_2d");
}
#[test]
fn pearson_crabs_20_iterations_match_sklearn() {
    run_case("crabs_full_20_iter");
}
#[test]
fn pearson_crabs_5000_iterations_match_sklearn() {
    run_case("crabs_full_converged");
}
#[test]
fn tied_2d_matches_sklearn() {
    run_case("blobs_tied_2d");
}
#[test]
fn tied_8d_matches_sklearn() {
    run_case("correlated_tied_8d");
}
#[test]
fn an_unconverged_fit_is_scikit_learns_convergence_warning_case() {
    let case = sklearn_case("blobs_full_2d_not_converged");
    assert!(!case.expected.converged && case.expected.convergence_warning);
    run_case("blobs_full_2d_not_converged");
}

/// A valid placeholder model of the case's shape (uniform weights, zero means, identity
/// covariances): storage whose means are the first shifts of the labels' statistics.
fn placeholder(case: &SkCase) -> Mixture<f64> {
    let (k, d) = (case.n_components, case.data[0].len());
    let eye: Vec<f64> = (0..k * d * d).map(|i| if i % (d * d) % (d + 1) == 0 { 1.0 } else { 0.0 }).collect();
    Mixture::new(kind(&case.covariance_type), d, vec![1.0 / k as f64; k], vec![0.0; k * d], eye).unwrap()
}

/// crabmix's M-step of hard labels (what its `kmeans` initialization ends with), then the
/// user-given fields of `init_model` applied as `--init-model` applies them.
fn from_labels(case: &SkCase, labels: &[usize]) -> Mixture<f64> {
    let (data, d) = data_of(case);
    let mut model = placeholder(case);
    let mut stats = Stats::new(model.shape());
    let reseeded = hard_m_step(
        &data,
        case.sample_weight.as_deref(),
        labels,
        &mut model.view_mut(),
        &mut stats.view_mut(),
        case.reg_covar,
        &mut vec![0.0; d],
    )
    .unwrap();
    assert_eq!(reseeded, 0, "{}: every label has rows", case.name);
    if let Some(user) = case.init_model.as_ref().filter(|u| u.as_object().is_some_and(|o| !o.is_empty())) {
        let start: InitModel = serde_json::from_value(user.clone()).unwrap();
        let start = start.resolve(kind(&case.covariance_type), case.n_components, d).unwrap();
        start.apply(&mut model.view_mut()).unwrap();
    }
    model
}

fn kmeans_case(name: &str) {
    let case = sklearn_case(name);
    let labels = case.labels.clone().expect("kmeans cases carry their labels");
    let init = from_labels(&case, &labels);
    // Given the same labels, the initial model is scikit-learn's to 1e-10.
    assert_params(&format!("{name} init"), &case, &init, &case.init, 1e-10);
    check_em(&case, &init);
}

#[test]
fn kmeans_init_full_matches_sklearn_given_its_labels() {
    kmeans_case("kmeans_init_full_2d");
}
#[test]
fn kmeans_init_tied_matches_sklearn_given_its_labels() {
    kmeans_case("kmeans_init_tied_2d");
}
#[test]
fn kmeans_init_diag_matches_sklearn_given_its_labels() {
    kmeans_case("kmeans_init_diag_2d");
}
#[test]
fn kmeans_init_spherical_matches_sklearn_given_its_labels() {
    kmeans_case("kmeans_init_spherical_2d");
}
#[test]
fn means_init_alone_replaces_only_the_means() {
    kmeans_case("kmeans_means_init_full_2d");
}
#[test]
fn weights_init_alone_replaces_only_the_weights() {
    kmeans_case("kmeans_weights_init_diag_2d");
}
#[test]
fn precisions_init_alone_replaces_only_the_covariances() {
    kmeans_case("kmeans_precisions_init_tied_2d");
}

#[test]
fn crabmix_kmeans_finds_scikit_learns_partition_on_separated_blobs() {
    // Not the same draws (crabmix's generator is xoshiro256++, scikit-learn's numpy's
    // MT19937), but on these blobs Lloyd's k-means from either's k-means++ seeds ends in the
    // same partition: crabmix's nearest-centre labels equal scikit-learn's up to a relabelling.
    let case = sklearn_case("kmeans_init_full_2d");
    let sk = case.labels.clone().unwrap();
    let (data, d) = data_of(&case);
    let mut model = placeholder(&case);
    let mut stats = Stats::new(model.shape());
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
    let mut work = vec![0.0; d];
    initialize(
        &data,
        &mut model.view_mut(),
        &mut stats.view_mut(),
        InitMethod::KMeans,
        1e-6,
        &mut rng,
        &mut work,
        None,
    )
    .unwrap();
    let nearest = |x: &[f64]| {
        (0..3)
            .map(|k| (k, (0..d).map(|j| (x[j] - model.means()[k * d + j]).powi(2)).sum::<f64>()))
            .fold((0, f64::INFINITY), |b, (k, v)| if v < b.1 { (k, v) } else { b })
            .0
    };
    let ours: Vec<usize> = data.chunks(d).map(nearest).collect();
    let mut map = [usize::MAX; 3];
    for (&a, &b) in ours.iter().zip(&sk) {
        if map[a] == usize::MAX {
            map[a] = b;
        }
        assert_eq!(map[a], b, "crabmix cluster {a} spans scikit-learn clusters {} and {b}", map[a]);
    }
    // The M-step of those labels is then scikit-learn's initial model, up to the permutation.
    let permuted: Vec<usize> = ours.iter().map(|&a| map[a]).collect();
    assert_params("own labels", &case, &from_labels(&case, &permuted), &case.init, 1e-10);
}

#[test]
fn warm_start_continues_em_as_scikit_learn() {
    // scikit-learn's test_warm_start: two warm fits of one iteration equal one cold fit of two.
    // The first warm fit's model, given as weights, means and precisions (--init-model's
    // fields), then one crabmix iteration: the second warm fit's model, and the cold fit's.
    let case = sklearn_case("warm_start_full_2d");
    let d = case.data[0].len();
    let user: InitModel = serde_json::from_value(case.init_model.clone().unwrap()).unwrap();
    let start = user.resolve(CovarianceKind::Full, 2, d).unwrap();
    assert!(start.is_complete());
    let mut model = placeholder(&case);
    start.apply(&mut model.view_mut()).unwrap();
    // Precisions inverted back to the first fit's covariances.
    assert_params("warm start's start", &case, &model, &case.init, 1e-10);
    check_em(&case, &model);
    let (after, ..) = refine(&case, &model);
    assert_params("cold fit of two iterations", &case, &after, case.cold.as_ref().unwrap(), 1e-6);
}

#[test]
fn sample_weights_equal_repeated_rows_full() {
    let case = sklearn_case("weighted_full_2d");
    let w = case.sample_weight.clone().unwrap();
    assert!(w.iter().any(|&v| v > 1.0) && w.iter().all(|&v| v.fract() == 0.0));
    run_case("weighted_full_2d");
}
#[test]
fn sample_weights_equal_repeated_rows_tied() {
    run_case("weighted_tied_2d");
}

#[test]
fn max_iter_zero_with_several_inits_keeps_the_last_as_scikit_learn() {
    // scikit-learn 1.9.1 with max_iter 0 and n_init 3 returns its LAST initialization: its
    // parameters are the M-step of the third k-means labels (to 1e-10), not of the first.
    let case = sklearn_case("max_iter_zero_n_init_3");
    let all = case.all_labels.clone().unwrap();
    let e = &case.expected;
    assert_params("last init", &case, &from_labels(&case, &all[2]), &expected_params(&case), 1e-10);
    let first = from_labels(&case, &all[0]);
    assert!(
        first.means().iter().zip(e.means.concat()).any(|(a, b)| (a - b).abs() > 1e-3),
        "the first initialization differs, so the rule is observable"
    );
    assert_eq!((e.n_iter, e.converged, e.convergence_warning, e.lower_bound), (0, false, false, None));
    assert!(e.lower_bounds.is_empty());
    // crabmix keeps the last of its own initializations too: the same three initializations
    // from the same generator, done one by one.
    let (data, d) = data_of(&case);
    let config = FitConfig { max_iter: 0, n_init: 3, ..FitConfig::default() };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(17);
    let (kept, report) = Mixture::<f64>::fit(&data, d, 3, &config, &mut rng, false).unwrap();
    assert_eq!((report.n_iter, report.best_init, report.converged), (0, 2, false));
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(17);
    let mut inits = Vec::new();
    for _ in 0..3 {
        let mut model = placeholder(&case);
        let mut stats = Stats::new(model.shape());
        initialize(
            &data,
            &mut model.view_mut(),
            &mut stats.view_mut(),
            InitMethod::KMeans,
            1e-6,
            &mut rng,
            &mut vec![0.0; d],
            Some(&mut vec![0.0; data.len() / d]),
        )
        .unwrap();
        inits.push(model);
    }
    assert_eq!(kept, inits[2]);
    // The three differ (or the test could not tell the last from the best).
    let score = |m: &Mixture<f64>| m.score(&data).unwrap();
    assert!(inits[0] != inits[2] || inits[1] != inits[2]);
    // With iterations the best run is kept as before: never below any single one.
    let config = FitConfig { max_iter: 100, n_init: 3, ..FitConfig::default() };
    let (_, best) =
        Mixture::<f64>::fit(&data, d, 3, &config, &mut Xoshiro256PlusPlus::seed_from_u64(17), false).unwrap();
    assert!(best.lower_bound >= score(&inits[2]) - 1e-9);
}
