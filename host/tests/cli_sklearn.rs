//! `crabmix gmm fit` against scikit-learn 1.9.1 fixtures where the command line is the thing
//! under test: warm start and user initialization (`--init-model`), the ConvergenceWarning,
//! `--max-iter 0`, sample weights against repeated rows, `tied` (fixtures from
//! `scripts/sklearn_fixtures.py`; the library-level comparisons are in
//! `tests/tests/gmm_sklearn.rs`).

use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/sklearn/").to_owned() + name + ".json";
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A file under this test process's own scratch folder, with `text` in it.
fn scratch(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("crabmix-cli-sklearn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p: PathBuf = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

/// The case's data as a CSV file (full precision).
fn data_csv(case: &Value, name: &str) -> String {
    let text: String = case["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| format!("{:e}", v.as_f64().unwrap()))
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        })
        .collect();
    scratch(name, &text)
}

/// `gmm fit` with `args`; (model JSON, stderr).
fn fit(args: &[&str]) -> (Value, String) {
    let o =
        Command::new(env!("CARGO_BIN_EXE_crabmix")).args([&["gmm", "fit"], args].concat()).output().unwrap();
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(o.status.success(), "{err}");
    (serde_json::from_slice(&o.stdout).unwrap(), err)
}

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        _ => panic!("{v}"),
    }
}

/// Element-wise |got − want| ≤ rtol·(|want| + 1e-6·max|want|).
fn close(what: &str, got: &Value, want: &Value, rtol: f64) {
    let (g, w) = (flat(got), flat(want));
    assert_eq!(g.len(), w.len(), "{what}: lengths");
    let scale = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!((a - b).abs() <= rtol * (b.abs() + 1e-6 * scale), "{what}[{i}]: {a:e} vs {b:e}");
    }
}

/// The case's parameters after EM, compared with the fitted JSON.
fn assert_expected(name: &str, model: &Value, case: &Value) {
    let e = &case["expected"];
    for key in ["weights", "means", "covariances"] {
        close(&format!("{name} {key}"), &model[key], &e[key], 1e-6);
    }
    close(&format!("{name} lower_bounds"), &model["lower_bounds"], &e["lower_bounds"], 1e-6);
    assert_eq!(model["n_iter"], e["n_iter"], "{name}");
    assert_eq!(model["converged"], e["converged"], "{name}");
}

/// The start of a case as an `--init-model` file (weights, means, covariances).
fn init_model(case: &Value, name: &str) -> String {
    let init = &case["init"];
    let json = json!({
        "covariance_type": case["covariance_type"],
        "weights": init["weights"], "means": init["means"], "covariances": init["covariances"],
    });
    scratch(name, &json.to_string())
}

fn common(case: &Value) -> Vec<String> {
    vec![
        "-k".into(),
        case["n_components"].to_string(),
        "--covariance".into(),
        case["covariance_type"].as_str().unwrap().into(),
        "--max-iter".into(),
        case["n_iter"].to_string(),
        "--tol".into(),
        format!("{:e}", case["tol"].as_f64().unwrap()),
        "--reg-covar".into(),
        format!("{:e}", case["reg_covar"].as_f64().unwrap()),
    ]
}

fn run_from_init(name: &str, extra: &[&str]) -> (Value, String, Value) {
    let case = fixture(name);
    let data = data_csv(&case, &format!("{name}.csv"));
    let start = init_model(&case, &format!("{name}.init.json"));
    let c = common(&case);
    let mut args: Vec<&str> = vec![&data, "--init-model", &start];
    args.extend(c.iter().map(String::as_str));
    args.extend(extra);
    let (model, err) = fit(&args);
    assert_expected(name, &model, &case);
    (model, err, case)
}

#[test]
fn the_convergence_warning_case_warns_as_scikit_learn() {
    let (model, err, case) = run_from_init("blobs_full_2d_not_converged", &[]);
    assert_eq!(case["expected"]["convergence_warning"], Value::Bool(true));
    assert!(err.contains("crabmix: warning: ConvergenceWarning"), "{err}");
    assert_eq!(model["converged"], Value::Bool(false));
    assert!(
        model["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("ConvergenceWarning"))
    );
}

#[test]
fn tied_from_a_start_is_scikit_learns() {
    let (model, ..) = run_from_init("blobs_tied_2d", &[]);
    assert_eq!(model["covariance_type"], "tied");
}

#[test]
fn warm_start_with_precisions_continues_em_as_scikit_learn() {
    // The first warm fit's model as weights, means and precisions (scikit-learn's
    // weights_init/means_init/precisions_init): one more iteration is the second warm fit.
    let name = "warm_start_full_2d";
    let case = fixture(name);
    let data = data_csv(&case, "warm.csv");
    let start = scratch("warm.init.json", &case["init_model"].to_string());
    let c = common(&case);
    let mut args: Vec<&str> = vec![&data, "--init-model", &start];
    args.extend(c.iter().map(String::as_str));
    let (model, _) = fit(&args);
    assert_expected(name, &model, &case);
    for key in ["weights", "means", "covariances"] {
        close(&format!("cold {key}"), &model[key], &case["cold"][key], 1e-6);
    }
}

#[test]
fn max_iter_zero_returns_the_given_means() {
    // scikit-learn's test_max_iter_zero: means_init with max_iter 0 comes back as given.
    let ports: Value = fixture("ports");
    let x = &ports["random_data"]["5"]["X"]["full"];
    let data = data_csv(&json!({ "data": x }), "zero.csv");
    let means = &ports["max_iter_zero"]["means_init"];
    let start = scratch("zero.init.json", &json!({ "means": means }).to_string());
    let (model, err) = fit(&[&data, "-k", "2", "--init-model", &start, "--max-iter", "0", "--tol", "1e-6"]);
    assert_eq!(flat(&model["means"]), flat(means));
    assert_eq!(flat(&model["means"]), flat(&ports["max_iter_zero"]["means"]));
    assert_eq!((model["n_iter"].as_u64(), model["converged"].as_bool()), (Some(0), Some(false)));
    assert!(!err.contains("ConvergenceWarning"), "{err}");
}

#[test]
fn sample_weights_equal_scikit_learns_fit_of_the_repeated_rows() {
    for name in ["weighted_full_2d", "weighted_tied_2d"] {
        let case = fixture(name);
        let weights: String = flat(&case["sample_weight"]).iter().map(|w| format!("{w}\n")).collect();
        let weights = scratch(&format!("{name}.w"), &weights);
        let (model, ..) = run_from_init(name, &["--sample-weight", &weights]);
        let e = &case["expected"];
        assert_eq!(model["total_weight"].as_f64(), case["repeated_rows"].as_f64());
        for key in ["bic", "aic", "lower_bound"] {
            close(&format!("{name} {key}"), &model[key], &e[key], 1e-6);
        }
        close(&format!("{name} score"), &model["mean_log_likelihood"], &e["score"], 1e-6);
    }
}
