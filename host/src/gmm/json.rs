//! The JSON form of a fitted mixture, as `crabmix gmm fit` writes it and `score`, `predict`
//! and `sample` read it. Covariances follow scikit-learn's shapes: `full` `[K][D][D]`, `diag`
//! `[K][D]`, `spherical` `[K]`, `tied` `[D][D]` (one matrix, scikit-learn's shape).

use super::mixture::Mixture;
use crabmix_kernels::Real;
use crabmix_kernels::gmm::{CovarianceKind, FitReport};
use serde::{Deserialize, Serialize};

/// Covariances in the shape of their kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Covariances {
    /// `full`: K × D × D.
    Full(Vec<Vec<Vec<f64>>>),
    /// `diag`: K × D; also `tied`: D × D (the same nesting).
    Diag(Vec<Vec<f64>>),
    /// `spherical`: K.
    Spherical(Vec<f64>),
}

/// How a model was fitted (absent from hand-written models).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitInfo {
    /// Mean log-likelihood of the training data under the returned model.
    pub mean_log_likelihood: f64,
    /// scikit-learn's `lower_bound_` (mean log-likelihood at the last E-step).
    pub lower_bound: f64,
    /// EM iterations of the kept run.
    pub n_iter: u32,
    /// Whether the kept run met `tol` (false with `max_iter` 0).
    pub converged: bool,
    /// The kept run's lower bound after each iteration (scikit-learn's `lower_bounds_`).
    #[serde(default)]
    pub lower_bounds: Vec<f64>,
    /// Bayesian information criterion on the training data.
    pub bic: f64,
    /// Akaike information criterion on the training data.
    pub aic: f64,
    /// Training samples N (rows).
    pub n_samples: u64,
    /// Their total weight W = Σ w (N without sample weights): BIC's and AIC's sample size.
    #[serde(default)]
    pub total_weight: f64,
    /// Components re-seeded by the initialization (a centre that won no sample); EM iterations
    /// never re-seed.
    pub reseeded: u32,
    /// Components of the returned model left without responsibility (weight ≈ 0): kept, not
    /// re-seeded, so that the lower bound stays monotone.
    #[serde(default)]
    pub empty_components: u32,
    /// What a user should know about this fit, one sentence each (also printed on stderr).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// `f32` or `f64`: the precision the fit ran in.
    pub precision: String,
    /// Math backend of the kernels (`libm` or `micromath`).
    pub backend: String,
}

/// A mixture model as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelJson {
    /// `full`, `diag` or `spherical`.
    pub covariance_type: String,
    /// Mixing weights `[K]`.
    pub weights: Vec<f64>,
    /// Means `[K][D]`.
    pub means: Vec<Vec<f64>>,
    /// Covariances, shaped by `covariance_type`.
    pub covariances: Covariances,
    /// Fit information, when the model came from `gmm fit` (flattened into the top level).
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub fit: Option<FitInfo>,
}

/// Parses `full`, `diag`, `spherical`.
pub fn parse_kind(s: &str) -> Result<CovarianceKind, String> {
    match s {
        "full" => Ok(CovarianceKind::Full),
        "diag" => Ok(CovarianceKind::Diag),
        "spherical" => Ok(CovarianceKind::Spherical),
        "tied" => Ok(CovarianceKind::Tied),
        other => Err(format!("unknown covariance type {other:?} (expected full, diag, spherical or tied)")),
    }
}

/// The weights in f64, divided by their f64 sum: an f32 fit's weights sum to 1 within f32
/// rounding (≈ 5e-8 off), which the f64 model that `score`, `predict` and `sample` load rejects
/// (it allows √ε₆₄ ≈ 1.5e-8). Each weight moves by at most that relative rounding.
fn normalized_f64<T: Real>(w: &[T]) -> Vec<f64> {
    let w: Vec<f64> = w.iter().map(|x| x.to_f64()).collect();
    let total: f64 = w.iter().sum();
    w.iter().map(|x| x / total).collect()
}

impl ModelJson {
    /// The JSON form of `model`, with `fit` information when given.
    pub fn from_mixture<T: Real>(model: &Mixture<T>, fit: Option<FitInfo>) -> Self {
        let s = model.shape();
        let (k, d) = (s.components, s.features);
        let f = |v: &[T]| v.iter().map(|x| x.to_f64()).collect::<Vec<f64>>();
        let means = model.means().chunks(d).map(f).collect();
        let cov = model.covariances();
        let covariances = match s.kind {
            CovarianceKind::Full => Covariances::Full(
                (0..k)
                    .map(|c| (0..d).map(|i| f(&cov[c * d * d + i * d..c * d * d + (i + 1) * d])).collect())
                    .collect(),
            ),
            CovarianceKind::Diag => Covariances::Diag(
                (0..k).map(|c| (0..d).map(|i| cov[c * d * d + i * d + i].to_f64()).collect()).collect(),
            ),
            CovarianceKind::Spherical => {
                Covariances::Spherical((0..k).map(|c| cov[c * d * d].to_f64()).collect())
            }
            // Every component holds the shared matrix: write component 0's.
            CovarianceKind::Tied => Covariances::Diag((0..d).map(|i| f(&cov[i * d..(i + 1) * d])).collect()),
        };
        Self {
            covariance_type: s.kind.name().to_owned(),
            weights: normalized_f64(model.weights()),
            means,
            covariances,
            fit,
        }
    }

    /// Builds the mixture this JSON describes, checking every shape.
    pub fn to_mixture<T: Real>(&self) -> Result<Mixture<T>, String> {
        let kind = parse_kind(&self.covariance_type)?;
        let k = self.weights.len();
        if k == 0 {
            return Err("model has no components (`weights` is empty)".into());
        }
        if self.means.len() != k {
            return Err(format!("`means` has {} rows, `weights` has {k}", self.means.len()));
        }
        let d = self.means[0].len();
        if let Some((i, m)) = self.means.iter().enumerate().find(|(_, m)| m.len() != d) {
            return Err(format!("`means[{i}]` has {} entries, `means[0]` has {d}", m.len()));
        }
        // K and D come from the file: check them before allocating K·D·D (a 48 KB model declaring
        // D = 12 000 used to ask for 1.1 GiB before the D ≤ 64 check, D = 10⁶ for 8 TB).
        super::mixture::check_sizes(k, d).map_err(|e| format!("invalid model: {e}"))?;
        let mut cov = vec![0.0f64; k * d * d];
        let bad = |what: String| {
            Err(format!(
                "`covariances` {what} (covariance_type {:?}, K = {k}, D = {d})",
                self.covariance_type
            ))
        };
        match (&self.covariances, kind) {
            (Covariances::Full(c), CovarianceKind::Full) => {
                if c.len() != k || c.iter().any(|m| m.len() != d || m.iter().any(|r| r.len() != d)) {
                    return bad("must be K × D × D".into());
                }
                for (ci, m) in c.iter().enumerate() {
                    for (i, r) in m.iter().enumerate() {
                        cov[ci * d * d + i * d..ci * d * d + (i + 1) * d].copy_from_slice(r);
                    }
                }
            }
            (Covariances::Diag(c), CovarianceKind::Diag) => {
                if c.len() != k || c.iter().any(|r| r.len() != d) {
                    return bad("must be K × D".into());
                }
                for (ci, r) in c.iter().enumerate() {
                    for i in 0..d {
                        cov[ci * d * d + i * d + i] = r[i];
                    }
                }
            }
            (Covariances::Spherical(c), CovarianceKind::Spherical) => {
                if c.len() != k {
                    return bad("must have K entries".into());
                }
                for (ci, &v) in c.iter().enumerate() {
                    for i in 0..d {
                        cov[ci * d * d + i * d + i] = v;
                    }
                }
            }
            (Covariances::Diag(c), CovarianceKind::Tied) => {
                if c.len() != d || c.iter().any(|r| r.len() != d) {
                    return bad("must be D × D (one shared matrix)".into());
                }
                for ci in 0..k {
                    for (i, r) in c.iter().enumerate() {
                        cov[ci * d * d + i * d..ci * d * d + (i + 1) * d].copy_from_slice(r);
                    }
                }
            }
            _ => return bad("have the wrong nesting for this covariance_type".into()),
        }
        let c = |v: &[f64]| v.iter().map(|&x| T::from_f64(x)).collect::<Vec<T>>();
        let means: Vec<f64> = self.means.concat();
        Mixture::new(kind, d, c(&self.weights), c(&means), c(&cov)).map_err(|e| format!("invalid model: {e}"))
    }
}

/// Reads and parses the model file at `path` ([`parse_model`]), at most
/// [`MAX_MODEL_BYTES`](crate::io::file::MAX_MODEL_BYTES) of it; every error names the file.
pub fn load_model(path: &std::path::Path) -> Result<Mixture<f64>, String> {
    let text = crate::io::file::read_to_string_limited(path, crate::io::file::MAX_MODEL_BYTES)?;
    parse_model(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses model JSON `text` into its f64 mixture, as `gmm score`, `predict` and `sample` load
/// a model (and the `cli_inputs` fuzz target): serde_json's errors name line and column;
/// [`ModelJson::to_mixture`] checks K and D before allocating, then every shape.
pub fn parse_model(text: &str) -> Result<Mixture<f64>, String> {
    let json: ModelJson = serde_json::from_str(text).map_err(|e| e.to_string())?;
    json.to_mixture::<f64>()
}

/// The warnings of a fit's report: no convergence (scikit-learn's `ConvergenceWarning`, not
/// given for `max_iter` 0, which asks for the initialization), components left empty.
pub fn fit_warnings<T: Real>(r: &FitReport<T>) -> Vec<String> {
    let mut w = Vec::new();
    if !r.converged && r.n_iter > 0 {
        w.push(format!(
            "ConvergenceWarning: the best of the initializations did not converge in {} iterations \
             (the lower bound still changed by tol or more); try a larger --max-iter or --tol, or \
             check the data",
            r.n_iter
        ));
    }
    if r.empty > 0 {
        w.push(format!(
            "{} component(s) ended with no responsibility (weight ≈ 0); they are kept, not re-seeded \
             (EM iterations never re-seed, so the lower bound stays monotone): fewer components may fit \
             as well",
            r.empty
        ));
    }
    w
}

impl FitInfo {
    /// Fit information from a kernels report and the fitted model.
    pub fn from_report<T: Real>(model: &Mixture<T>, r: &FitReport<T>) -> Self {
        let s = model.shape();
        // In f64 whatever T is: −2 N ℓ̄ reaches 10⁶ at N = 10⁵, beyond f32's 7 digits.
        let n = r.total_weight.to_f64();
        let p = s.kind.model_parameters(s.components, s.features) as f64;
        let fit_term = -2.0 * r.mean_log_likelihood.to_f64() * n;
        Self {
            mean_log_likelihood: r.mean_log_likelihood.to_f64(),
            lower_bound: r.lower_bound.to_f64(),
            n_iter: r.n_iter,
            converged: r.converged,
            lower_bounds: Vec::new(),
            bic: fit_term + p * n.ln(),
            aic: fit_term + 2.0 * p,
            n_samples: r.samples,
            total_weight: n,
            reseeded: r.reseeded,
            empty_components: r.empty,
            warnings: fit_warnings(r),
            precision: T::NAME.to_owned(),
            backend: r.backend.name().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every saved float reloads as the same bits: 0.41401025703687133 (a fitted crabs weight)
    /// was parsed 1 ulp off by serde_json's default parser, and a warm start then scored its
    /// model 1 ulp away from the saved fit's log-likelihood.
    #[test]
    fn model_floats_reload_as_the_same_bits() {
        let w0 = 0.41401025703687133f64;
        let weights = [w0, 1.0 - w0];
        let text = format!(
            r#"{{"covariance_type": "full", "weights": [{}, {}], "means": [[0.5815], [0.6547]],
                "covariances": [[[0.00032913046795417]], [[0.000308]]]}}"#,
            weights[0], weights[1]
        );
        let m = parse_model(&text).unwrap();
        assert_eq!(m.weights()[0].to_bits(), w0.to_bits());
        assert_eq!(m.covariances()[0].to_bits(), 0.00032913046795417f64.to_bits());
    }
}
