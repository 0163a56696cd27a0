//! The Gaussian-mixture EM against scikit-learn: same data, same initial parameters, same number
//! of iterations (fixtures from `scripts/sklearn_fixtures.py`). f64 agreement to 1e-6 relative.

use crabmix::gmm::Mixture;
use crabmix_kernels::gmm::{CovarianceKind, FitConfig};
use crabmix_tests::fixtures::{SkCase, full_covariances, sklearn_case};

fn kind(s: &str) -> CovarianceKind {
    match s {
        "full" => CovarianceKind::Full,
        "diag" => CovarianceKind::Diag,
        "spherical" => CovarianceKind::Spherical,
        _ => panic!("{s}"),
    }
}

/// |got − want| ≤ rtol·|want| + rtol·1e-6·max|want| (a relative bound with a floor far below
/// the array's scale, for entries such as near-zero correlations).
fn assert_close(what: &str, got: &[f64], want: &[f64], rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let bound = rtol * w.abs() + rtol * 1e-6 * scale;
        assert!(
            (g - w).abs() <= bound,
            "{what}[{i}]: got {g:e}, want {w:e}, |diff| {:e} > {bound:e}",
            (g - w).abs()
        );
    }
}

fn run_case(name: &str) {
    let case: SkCase = sklearn_case(name);
    let k = case.n_components;
    let d = case.data[0].len();
    let data: Vec<f64> = case.data.concat();
    let kd = kind(&case.covariance_type);
    let init = Mixture::<f64>::new(
        kd,
        d,
        case.init.weights.clone(),
        case.init.means.concat(),
        full_covariances(&case.covariance_type, &case.init.covariances, k, d),
    )
    .unwrap();
    let config = FitConfig {
        kind: kd,
        max_iter: case.n_iter,
        tol: 0.0,
        reg_covar: case.reg_covar,
        ..FitConfig::default()
    };
    let (model, report) = init.refine(&data, &config).unwrap();
    let e = &case.expected;
    assert_eq!(report.n_iter, e.n_iter, "{name}: iterations");
    assert_eq!(report.reseeded, 0, "{name}: no component may be re-seeded");
    assert_close(&format!("{name} weights"), model.weights(), &e.weights, 1e-6);
    assert_close(&format!("{name} means"), model.means(), &e.means.concat(), 1e-6);
    assert_close(
        &format!("{name} covariances"),
        model.covariances(),
        &full_covariances(&case.covariance_type, &e.covariances, k, d),
        1e-6,
    );
    assert_close(&format!("{name} lower_bound"), &[report.lower_bound], &[e.lower_bound], 1e-6);
    assert_close(&format!("{name} score"), &[report.mean_log_likelihood], &[e.score], 1e-6);
    assert_close(
        &format!("{name} score_samples"),
        &model.score_samples(&data).unwrap(),
        &e.score_samples,
        1e-6,
    );
    assert_eq!(model.predict(&data).unwrap(), e.predict, "{name}: predict");
    assert_close(&format!("{name} bic"), &[model.bic(&data).unwrap()], &[e.bic], 1e-6);
    assert_close(&format!("{name} aic"), &[model.aic(&data).unwrap()], &[e.aic], 1e-6);
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
