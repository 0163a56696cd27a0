//! Textbook Gaussian-mixture EM in f64 (the lecture's §2 formulas, literally).
//!
//! Densities use dense inverses and determinants (`nalgebra::DMatrix`), the M-step a two-pass
//! mean then covariance: independent of the kernels' Cholesky factors and shifted sums.

use nalgebra::{DMatrix, DVector};

/// A mixture in plain f64 form.
#[derive(Clone, Debug)]
pub struct RefGmm {
    /// `full`, `diag` or `spherical` (only the M-step depends on it).
    pub kind: &'static str,
    /// α_k.
    pub weights: Vec<f64>,
    /// μ_k.
    pub means: Vec<DVector<f64>>,
    /// Σ_k.
    pub covs: Vec<DMatrix<f64>>,
}

impl RefGmm {
    /// From flat storage: weights K, means K·D, full-shaped covariances K·D·D.
    pub fn from_flat(kind: &'static str, d: usize, weights: &[f64], means: &[f64], covs: &[f64]) -> Self {
        let k = weights.len();
        Self {
            kind,
            weights: weights.to_vec(),
            means: (0..k).map(|c| DVector::from_column_slice(&means[c * d..(c + 1) * d])).collect(),
            covs: (0..k).map(|c| DMatrix::from_row_slice(d, d, &covs[c * d * d..(c + 1) * d * d])).collect(),
        }
    }

    /// ln α_k + ln N(x; μ_k, Σ_k) = ln α_k − ½ (D ln 2π + ln|Σ_k| + (x−μ_k)ᵀ Σ_k⁻¹ (x−μ_k)).
    pub fn component_log_probs(&self, x: &[f64]) -> Vec<f64> {
        let d = x.len();
        let x = DVector::from_column_slice(x);
        (0..self.weights.len())
            .map(|k| {
                let inv = self.covs[k].clone().try_inverse().expect("invertible covariance");
                let diff = &x - &self.means[k];
                let maha = (diff.transpose() * inv * &diff)[(0, 0)];
                self.weights[k].ln()
                    - 0.5
                        * (d as f64 * (2.0 * std::f64::consts::PI).ln()
                            + self.covs[k].determinant().ln()
                            + maha)
            })
            .collect()
    }

    /// ln p(x) by log-sum-exp.
    pub fn log_density(&self, x: &[f64]) -> f64 {
        let lp = self.component_log_probs(x);
        let m = lp.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        m + lp.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
    }

    /// Mean log-likelihood over `data` (rows of length D).
    pub fn mean_log_likelihood(&self, data: &[f64], d: usize) -> f64 {
        data.chunks(d).map(|x| self.log_density(x)).sum::<f64>() / (data.len() / d) as f64
    }

    /// One EM step: responsibilities q_ik, then α_k = Σ_i q_ik / n, μ_k = Σ_i q_ik x_i / Σ_i q_ik,
    /// Σ_k = Σ_i q_ik (x_i − μ_k)(x_i − μ_k)ᵀ / Σ_i q_ik + reg·I (diagonal part for `diag`,
    /// its mean for `spherical`; for `tied` the one Σ = Σ_k Σ_i q_ik (x_i − μ_k)(x_i − μ_k)ᵀ / n
    /// + reg·I shared by every component).
    pub fn em_step(&self, data: &[f64], d: usize, reg: f64) -> RefGmm {
        let n = data.len() / d;
        let k_n = self.weights.len();
        let resp: Vec<Vec<f64>> = data
            .chunks(d)
            .map(|x| {
                let lp = self.component_log_probs(x);
                let lse = self.log_density(x);
                lp.iter().map(|v| (v - lse).exp()).collect()
            })
            .collect();
        let mut out = self.clone();
        for k in 0..k_n {
            let nk: f64 = resp.iter().map(|r| r[k]).sum();
            let mut mu = DVector::zeros(d);
            for (i, x) in data.chunks(d).enumerate() {
                mu += DVector::from_column_slice(x) * resp[i][k];
            }
            mu /= nk;
            let mut cov = DMatrix::zeros(d, d);
            for (i, x) in data.chunks(d).enumerate() {
                let diff = DVector::from_column_slice(x) - &mu;
                cov += &diff * diff.transpose() * resp[i][k];
            }
            cov /= nk;
            match self.kind {
                "full" | "tied" => {}
                "diag" => cov = DMatrix::from_diagonal(&cov.diagonal()),
                "spherical" => cov = DMatrix::identity(d, d) * (cov.trace() / d as f64),
                other => panic!("unknown kind {other}"),
            }
            out.weights[k] = nk / n as f64;
            out.means[k] = mu;
            out.covs[k] = cov;
        }
        if self.kind == "tied" {
            // Σ_k (n_k / n) Σ_k = the pooled scatter / n (each Σ_k without reg yet).
            let mut pooled = DMatrix::zeros(d, d);
            for k in 0..k_n {
                pooled += &out.covs[k] * out.weights[k];
            }
            pooled += DMatrix::identity(d, d) * reg;
            for k in 0..k_n {
                out.covs[k] = pooled.clone();
            }
        } else {
            for k in 0..k_n {
                out.covs[k] += DMatrix::identity(d, d) * reg;
            }
        }
        out
    }
}
