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
    /// `lower_bound_`.
    pub lower_bound: f64,
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
    /// `full`, `diag` or `spherical`.
    pub covariance_type: String,
    /// K.
    pub n_components: usize,
    /// EM iterations run.
    pub n_iter: u32,
    /// `reg_covar`.
    pub reg_covar: f64,
    /// N × D.
    pub data: Vec<Vec<f64>>,
    /// Initial parameters.
    pub init: SkParams,
    /// scikit-learn's results.
    pub expected: SkExpected,
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
