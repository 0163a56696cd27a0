//! Helpers of the scikit-learn comparisons (`tests/tests/gmm_sklearn*.rs`): fixture cases as
//! crabmix mixtures, EM from a case's start with its settings, and the element-wise checks.

use crate::fixtures::{SkCase, SkParams, full_covariances};
use crabmix::gmm::{HostEStep, Mixture, Stats};
use crabmix_kernels::gmm::{CovarianceKind, FitConfig, FitReport, em_loop_observed};

/// The covariance kind of scikit-learn's `covariance_type` name. Panics on an unknown name.
pub fn kind(s: &str) -> CovarianceKind {
    match s {
        "full" => CovarianceKind::Full,
        "diag" => CovarianceKind::Diag,
        "spherical" => CovarianceKind::Spherical,
        "tied" => CovarianceKind::Tied,
        _ => panic!("unknown covariance_type {s}"),
    }
}

/// Asserts |got − want| ≤ rtol·|want| + rtol·1e-6·max|want| element-wise (a relative bound
/// with a floor far below the array's scale, for entries such as near-zero correlations).
pub fn assert_close(what: &str, got: &[f64], want: &[f64], rtol: f64) {
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

/// The case's data (N × D row-major) and D.
pub fn data_of(case: &SkCase) -> (Vec<f64>, usize) {
    (case.data.concat(), case.data[0].len())
}

/// A mixture of the case's kind from scikit-learn-shaped parameters `p`.
pub fn mixture(case: &SkCase, p: &SkParams) -> Mixture<f64> {
    mixture_of(&case.covariance_type, case.data[0].len(), p)
}

/// A mixture of covariance type `kind_name` in D = `d` from scikit-learn-shaped parameters.
pub fn mixture_of(kind_name: &str, d: usize, p: &SkParams) -> Mixture<f64> {
    let k = p.weights.len();
    Mixture::<f64>::new(
        kind(kind_name),
        d,
        p.weights.clone(),
        p.means.concat(),
        full_covariances(kind_name, &p.covariances, k, d),
    )
    .expect("a fixture's parameters are a valid model")
}

/// Asserts that `model` has the parameters `p` (scikit-learn-shaped, the case's kind) to `rtol`.
pub fn assert_params(what: &str, case: &SkCase, model: &Mixture<f64>, p: &SkParams, rtol: f64) {
    assert_params_of(what, &case.covariance_type, model, p, rtol);
}

/// [`assert_params`] for covariance type `kind_name`.
pub fn assert_params_of(what: &str, kind_name: &str, model: &Mixture<f64>, p: &SkParams, rtol: f64) {
    let (k, d) = (model.shape().components, model.shape().features);
    assert_close(&format!("{what} weights"), model.weights(), &p.weights, rtol);
    assert_close(&format!("{what} means"), model.means(), &p.means.concat(), rtol);
    assert_close(
        &format!("{what} covariances"),
        model.covariances(),
        &full_covariances(kind_name, &p.covariances, k, d),
        rtol,
    );
}

/// scikit-learn's fitted parameters of the case.
pub fn expected_params(case: &SkCase) -> SkParams {
    let e = &case.expected;
    SkParams { weights: e.weights.clone(), means: e.means.clone(), covariances: e.covariances.clone() }
}

/// EM from `start` with the case's max_iter, tol and reg_covar (and sample weights, when the
/// case has them), through the host's E-step: the model, the report and the lower bound of
/// each iteration.
pub fn refine(case: &SkCase, start: &Mixture<f64>) -> (Mixture<f64>, FitReport<f64>, Vec<f64>) {
    let (data, d) = data_of(case);
    let config = FitConfig {
        kind: kind(&case.covariance_type),
        max_iter: case.n_iter,
        tol: case.tol,
        reg_covar: case.reg_covar,
        ..FitConfig::default()
    };
    let mut model = start.clone();
    let mut stats = Stats::new(model.shape());
    let mut estep = HostEStep::new(&data, d).with_weights(case.sample_weight.as_deref());
    let mut bounds = Vec::new();
    let report =
        em_loop_observed(&mut model.view_mut(), &mut stats.view_mut(), &mut estep, &config, &mut |_, lb| {
            bounds.push(lb)
        })
        .expect("EM from a fixture's start");
    (model, report, bounds)
}

/// Runs EM from `start` and asserts every expected value of the case to 1e-6 relative:
/// iterations, convergence, parameters, lower bounds, score, score_samples, predict,
/// predict_proba, BIC and AIC (total weight as sample size). Returns the fitted model.
pub fn check_em(case: &SkCase, start: &Mixture<f64>) -> Mixture<f64> {
    let name = &case.name;
    let (data, d) = data_of(case);
    let (model, report, bounds) = refine(case, start);
    let e = &case.expected;
    let (k, kd) = (case.n_components, kind(&case.covariance_type));
    assert_eq!(report.n_iter, e.n_iter, "{name}: iterations");
    assert_eq!(report.converged, e.converged, "{name}: converged");
    // scikit-learn warns exactly when the kept run did not converge (and max_iter > 0); the
    // CLI's warning follows `converged` the same way (host/tests/cli_sklearn.rs).
    assert_eq!(e.convergence_warning, !e.converged && case.n_iter > 0, "{name}: the fixture's warning");
    assert_eq!(report.reseeded, 0, "{name}: no component may be re-seeded");
    assert_params(name, case, &model, &expected_params(case), 1e-6);
    if let Some(lb) = e.lower_bound {
        assert_close(&format!("{name} lower_bound"), &[report.lower_bound], &[lb], 1e-6);
    }
    assert_close(&format!("{name} lower_bounds"), &bounds, &e.lower_bounds, 1e-6);
    assert_close(&format!("{name} score"), &[report.mean_log_likelihood], &[e.score], 1e-6);
    let samples = model.score_samples(&data).expect("score_samples");
    assert_close(&format!("{name} score_samples"), &samples, &e.score_samples, 1e-6);
    assert_eq!(model.predict(&data).expect("predict"), e.predict, "{name}: predict");
    let proba = model.predict_proba(&data).expect("predict_proba");
    assert_close(&format!("{name} predict_proba"), &proba, &e.predict_proba.concat(), 1e-6);
    assert_close(&format!("{name} bic"), &[report.bic(kd, k, d)], &[e.bic], 1e-6);
    assert_close(&format!("{name} aic"), &[report.aic(kd, k, d)], &[e.aic], 1e-6);
    if case.sample_weight.is_none() {
        assert_close(&format!("{name} bic(data)"), &[model.bic(&data).expect("bic")], &[e.bic], 1e-6);
        assert_close(&format!("{name} aic(data)"), &[model.aic(&data).expect("aic")], &[e.aic], 1e-6);
    }
    model
}
