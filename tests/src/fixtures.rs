//! Loading the committed fixtures (JSON from `scripts/*.py`) and the repository's data files.

use serde::Deserialize;
use std::path::PathBuf;

/// The repository root (parent of the `tests` crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

/// Parameters as scikit-learn shapes them: covariances `full` [K][D][D], `diag` [K][D],
/// `spherical` [K].
#[derive(Debug, Deserialize, Clone)]
pub struct SkParams {
    /// Weights [K].
    pub weights: Vec<f64>,
    /// Means [K][D].
    pub means: Vec<Vec<f64>>,
    /// Covariances, shaped by kind.
    pub covariances: serde_json::Value,
}

/// scikit-learn's results after `n_iter` iterations.
#[derive(Debug, Deserialize, Clone)]
pub struct SkExpected {
    /// Weights [K].
    pub weights: Vec<f64>,
    /// Means [K][D].
    pub means: Vec<Vec<f64>>,
    /// Covariances, shaped by kind.
    pub covariances: serde_json::Value,
    /// `lower_bound_` (None: −∞, what scikit-learn reports with `max_iter` 0).
    pub lower_bound: Option<f64>,
    /// `lower_bounds_`, one per iteration.
    #[serde(default)]
    pub lower_bounds: Vec<f64>,
    /// `converged_`.
    #[serde(default)]
    pub converged: bool,
    /// Whether `fit` raised its ConvergenceWarning.
    #[serde(default)]
    pub convergence_warning: bool,
    /// `predict_proba(X)` [N][K].
    #[serde(default)]
    pub predict_proba: Vec<Vec<f64>>,
    /// `fit_predict(X)` (the labels of the fit's final E-step), where recorded.
    #[serde(default)]
    pub fit_predict: Option<Vec<usize>>,
    /// `n_iter_`.
    pub n_iter: u32,
    /// `score(X)`.
    pub score: f64,
    /// `score_samples(X)`.
    pub score_samples: Vec<f64>,
    /// `predict(X)`.
    pub predict: Vec<usize>,
    /// `bic(X)`.
    pub bic: f64,
    /// `aic(X)`.
    pub aic: f64,
}

/// One scikit-learn fixture case.
#[derive(Debug, Deserialize, Clone)]
pub struct SkCase {
    /// Case name (file stem).
    pub name: String,
    /// The scikit-learn and numpy versions that made it.
    pub source: String,
    /// `full`, `diag` or `spherical`.
    pub covariance_type: String,
    /// K.
    pub n_components: usize,
    /// `max_iter`.
    pub n_iter: u32,
    /// `tol` (0: every iteration runs).
    #[serde(default)]
    pub tol: f64,
    /// `reg_covar`.
    pub reg_covar: f64,
    /// N × D.
    pub data: Vec<Vec<f64>>,
    /// The parameters EM starts from (for `kmeans` cases: scikit-learn's initial model).
    pub init: SkParams,
    /// scikit-learn's results.
    pub expected: SkExpected,
    /// `kmeans` cases: the KMeans labels scikit-learn's initial model is the M-step of.
    #[serde(default)]
    pub labels: Option<Vec<usize>>,
    /// The user-given fields (`weights`, `means`, `precisions`) as scikit-learn's
    /// `weights_init`/`means_init`/`precisions_init` took them, where the case has them.
    #[serde(default)]
    pub init_model: Option<serde_json::Value>,
    /// Sample weights (N), where the expected values are scikit-learn's fit of the rows
    /// repeated that many times.
    #[serde(default)]
    pub sample_weight: Option<Vec<f64>>,
    /// `n_init`, where not 1.
    #[serde(default)]
    pub n_init: Option<u32>,
    /// The KMeans labels of every initialization, where recorded (max_iter 0 with n_init > 1).
    #[serde(default)]
    pub all_labels: Option<Vec<Vec<usize>>>,
    /// The warm-start case: the cold fit of as many iterations in one go.
    #[serde(default)]
    pub cold: Option<SkParams>,
    /// True component of each row, where the data were drawn from a known mixture.
    #[serde(default, rename = "Y")]
    pub y: Option<Vec<usize>>,
    /// score_samples at the initial parameters, where recorded.
    #[serde(default)]
    pub init_score_samples: Option<Vec<f64>>,
    /// predict_proba at the initial parameters, where recorded.
    #[serde(default)]
    pub init_predict_proba: Option<Vec<Vec<f64>>>,
}

/// Loads `tests/fixtures/sklearn/ports.json` (data and results of the ported scikit-learn
/// tests, `scripts/sklearn_fixtures.py`'s `ports()`).
pub fn sklearn_ports() -> serde_json::Value {
    let path = repo_root().join("tests/fixtures/sklearn/ports.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Loads `tests/fixtures/sklearn/<name>.json`.
pub fn sklearn_case(name: &str) -> SkCase {
    let path = repo_root().join("tests/fixtures/sklearn").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Expands scikit-learn-shaped covariances to full-shaped K·D·D row-major.
pub fn full_covariances(kind: &str, v: &serde_json::Value, k: usize, d: usize) -> Vec<f64> {
    let mut out = vec![0.0; k * d * d];
    let num = |x: &serde_json::Value| x.as_f64().expect("number");
    for c in 0..k {
        for i in 0..d {
            match kind {
                "full" => {
                    for j in 0..d {
                        out[c * d * d + i * d + j] = num(&v[c][i][j]);
                    }
                }
                "diag" => out[c * d * d + i * d + i] = num(&v[c][i]),
                "spherical" => out[c * d * d + i * d + i] = num(&v[c]),
                // One [D][D] matrix, every component's.
                "tied" => {
                    for j in 0..d {
                        out[c * d * d + i * d + j] = num(&v[i][j]);
                    }
                }
                _ => panic!("unknown kind {kind}"),
            }
        }
    }
    out
}

/// Pearson's crab ratios: the 1000 bin centres of `data/pearson_crabs.csv`.
pub fn pearson_crabs() -> Vec<f64> {
    let path = repo_root().join("data/pearson_crabs.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().skip(1).map(|l| l.trim().parse().expect("number")).collect()
}
