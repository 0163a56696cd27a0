//! User-given starting parameters (`crabmix gmm fit --init-model MODEL.json`): scikit-learn's
//! `weights_init`, `means_init` and `precisions_init`. A full model JSON is a warm start (EM
//! continues from it); a JSON with only some of `weights`, `means`, `covariances` or
//! `precisions` sets those, and the initialization (`--init`) supplies the rest, as
//! scikit-learn's `_initialize` does.

use super::json::{Covariances, ModelJson, parse_kind};
use crabmix_kernels::gmm::{CovarianceKind, MixtureMut};
use crabmix_kernels::linalg::{cholesky_in_place, lower_inverse_transpose_in_place};
use crabmix_kernels::{Real, Result};
use serde::Deserialize;

/// The JSON of `--init-model`: a model JSON whose parameter fields are all optional, plus
/// `precisions` (Σ⁻¹, in the covariances' shapes) as an alternative to `covariances`.
#[derive(Clone, Debug, Deserialize)]
pub struct InitModel {
    /// `full`, `diag` or `spherical`; when given, must equal the fit's `--covariance`.
    pub covariance_type: Option<String>,
    /// Weights `[K]` (≥ 0, summing to 1).
    pub weights: Option<Vec<f64>>,
    /// Means `[K][D]`.
    pub means: Option<Vec<Vec<f64>>>,
    /// Covariances, shaped by the covariance type.
    pub covariances: Option<Covariances>,
    /// Precisions Σ⁻¹, shaped as covariances (scikit-learn's `precisions_init`).
    pub precisions: Option<Covariances>,
}

/// Starting parameters, checked: each present field has the fit's K and D and is valid.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Start {
    /// Weights (K).
    pub weights: Option<Vec<f64>>,
    /// Means (K × D row-major).
    pub means: Option<Vec<f64>>,
    /// Covariances (K × D × D row-major, full-shaped).
    pub covariances: Option<Vec<f64>>,
}

/// Σ = P⁻¹ for each symmetric positive-definite D × D block of `p` (K × D × D): 1/p on the
/// diagonal for diag and spherical; for full P = L Lᵀ, U = L⁻ᵀ, Σ = U Uᵀ. Err(k) names a block
/// that is not positive definite.
fn invert_blocks(kind: CovarianceKind, p: &[f64], d: usize) -> std::result::Result<Vec<f64>, usize> {
    let mut out = vec![0.0; p.len()];
    if !kind.is_full_matrix() {
        for (i, (s, &v)) in out.iter_mut().zip(p).enumerate() {
            if i % (d * d) % (d + 1) == 0 {
                *s = 1.0 / v;
            }
        }
        return Ok(out);
    }
    for (k, (block, sigma)) in p.chunks(d * d).zip(out.chunks_mut(d * d)).enumerate() {
        let mut a = block.to_vec();
        cholesky_in_place(&mut a, d).map_err(|_| k)?;
        lower_inverse_transpose_in_place(&mut a, d);
        for i in 0..d {
            for j in 0..d {
                // U is upper triangular: (U Uᵀ)_ij = Σ_{l ≥ max(i, j)} U_il U_jl.
                sigma[i * d + j] = (i.max(j)..d).map(|l| a[i * d + l] * a[j * d + l]).sum();
            }
        }
    }
    Ok(out)
}

impl InitModel {
    /// Checks the given fields against the fit's covariance `kind`, K and D, with the errors
    /// `score` gives for a bad model (shapes, unnormalized weights, non-PD matrices): the
    /// missing fields are filled with valid placeholders and the whole goes through
    /// [`ModelJson::to_mixture`]; only the given fields are kept.
    pub fn resolve(&self, kind: CovarianceKind, k: usize, d: usize) -> std::result::Result<Start, String> {
        if let Some(t) = &self.covariance_type {
            let given = parse_kind(t)?;
            if given != kind {
                return Err(format!("covariance_type {t:?}, but the fit's --covariance is {}", kind.name()));
            }
        }
        if self.covariances.is_some() && self.precisions.is_some() {
            return Err("give `covariances` or `precisions`, not both".into());
        }
        let rows = self.weights.as_ref().map(Vec::len).or(self.means.as_ref().map(Vec::len));
        if let Some(rows) = rows.filter(|&r| r != k) {
            return Err(format!("{rows} components, but --components is {k}"));
        }
        if let Some(m) = self.means.as_ref().and_then(|m| m.first()).filter(|m| m.len() != d) {
            return Err(format!("`means[0]` has {} entries, but the data has {d} columns", m.len()));
        }
        let placeholder = |v: f64| match kind {
            CovarianceKind::Full => Covariances::Full(
                (0..k)
                    .map(|_| (0..d).map(|i| (0..d).map(|j| if i == j { v } else { 0.0 }).collect()).collect())
                    .collect(),
            ),
            CovarianceKind::Diag => Covariances::Diag(vec![vec![v; d]; k]),
            CovarianceKind::Tied => Covariances::Diag(
                (0..d).map(|i| (0..d).map(|j| if i == j { v } else { 0.0 }).collect()).collect(),
            ),
            CovarianceKind::Spherical => Covariances::Spherical(vec![v; k]),
        };
        let covariances = match &self.precisions {
            // Checked as covariances first (the precisions must be valid SPD matrices of the
            // right shape), then inverted.
            Some(p) => {
                let json = self.filled(kind, k, d, Some(p.clone()), &placeholder);
                let m = json.to_mixture::<f64>().map_err(|e| format!("`precisions`: {e}"))?;
                let sigma = invert_blocks(kind, m.covariances(), d)
                    .map_err(|c| format!("`precisions[{c}]` is not positive definite"))?;
                Some(sigma)
            }
            None => None,
        };
        let json = self.filled(kind, k, d, self.covariances.clone(), &placeholder);
        let m = json.to_mixture::<f64>()?;
        Ok(Start {
            weights: self.weights.as_ref().map(|_| m.weights().to_vec()),
            means: self.means.as_ref().map(|_| m.means().to_vec()),
            covariances: covariances.or(self.covariances.as_ref().map(|_| m.covariances().to_vec())),
        })
    }

    /// A model JSON from the given fields and placeholders (uniform weights, zero means,
    /// identity covariances) for the missing ones.
    fn filled(
        &self,
        kind: CovarianceKind,
        k: usize,
        d: usize,
        covariances: Option<Covariances>,
        placeholder: &dyn Fn(f64) -> Covariances,
    ) -> ModelJson {
        ModelJson {
            covariance_type: kind.name().to_owned(),
            weights: self.weights.clone().unwrap_or(vec![1.0 / k as f64; k]),
            means: self.means.clone().unwrap_or(vec![vec![0.0; d]; k]),
            covariances: covariances.unwrap_or(placeholder(1.0)),
            fit: None,
        }
    }
}

impl Start {
    /// Whether every parameter is given (a warm start: the initialization's values are all
    /// replaced).
    pub fn is_complete(&self) -> bool {
        self.weights.is_some() && self.means.is_some() && self.covariances.is_some()
    }

    /// Overwrites the given parameters of an initialized `model` and refreshes its factors.
    /// Errors: those of `MixtureMut::refresh` (cannot occur for a [`Start`] from
    /// [`InitModel::resolve`] with the same shape).
    pub fn apply<T: Real>(&self, model: &mut MixtureMut<'_, T>) -> Result<()> {
        let cast = |dst: &mut [T], src: &[f64]| {
            for (t, &s) in dst.iter_mut().zip(src) {
                *t = T::from_f64(s);
            }
        };
        if let Some(w) = &self.weights {
            cast(model.weights_mut(), w);
        }
        if let Some(m) = &self.means {
            cast(model.means_mut(), m);
        }
        if let Some(c) = &self.covariances {
            cast(model.covariances_mut(), c);
        }
        model.refresh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> InitModel {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn precisions_are_inverted() {
        // P = [[2, 1], [1, 2]]: Σ = P⁻¹ = [[2, −1], [−1, 2]] / 3.
        let s = parse(r#"{"precisions": [[[2, 1], [1, 2]]]}"#).resolve(CovarianceKind::Full, 1, 2).unwrap();
        let want = [2.0 / 3.0, -1.0 / 3.0, -1.0 / 3.0, 2.0 / 3.0];
        for (a, b) in s.covariances.unwrap().iter().zip(want) {
            assert!((a - b).abs() < 1e-15, "{a} vs {b}");
        }
        assert_eq!((s.weights, s.means), (None, None));
        let diag = parse(r#"{"precisions": [[4, 0.5]]}"#).resolve(CovarianceKind::Diag, 1, 2).unwrap();
        assert_eq!(diag.covariances.unwrap(), vec![0.25, 0.0, 0.0, 2.0]);
    }

    #[test]
    fn bad_fields_get_scores_errors() {
        let full = CovarianceKind::Full;
        let e = parse(r#"{"weights": [0.5, 0.6]}"#).resolve(full, 2, 1).unwrap_err();
        assert!(e.starts_with("invalid model:") && e.contains("weights"), "{e}");
        let e = parse(r#"{"covariances": [[[1]], [[-1]]]}"#).resolve(full, 2, 1).unwrap_err();
        assert!(e.contains("positive definite"), "{e}");
        let e = parse(r#"{"means": [[0], [1], [2]]}"#).resolve(full, 2, 1).unwrap_err();
        assert_eq!(e, "3 components, but --components is 2");
        let e = parse(r#"{"means": [[0, 1], [1, 2]]}"#).resolve(full, 2, 1).unwrap_err();
        assert!(e.contains("data has 1 columns"), "{e}");
        let e = parse(r#"{"covariance_type": "diag"}"#).resolve(full, 2, 1).unwrap_err();
        assert!(e.contains("--covariance is full"), "{e}");
        let e = parse(r#"{"covariances": [[[1, 0], [0]]]}"#).resolve(full, 1, 2).unwrap_err();
        assert!(e.contains("must be K × D × D"), "{e}");
    }
}
