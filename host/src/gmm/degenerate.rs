//! Degenerate components: a covariance eigenvalue within 10× of `reg_covar` in a direction where
//! the data's variance is far larger (≥ 1000× that eigenvalue). Such a component has collapsed
//! onto samples that are identical in that direction (repeated values), and its likelihood is
//! inflated by 1/√reg_covar: EM's unbounded-likelihood failure, which `reg_covar` only caps.
//! `crabmix gmm fit` names each one on stderr and in the JSON's `warnings`.

use super::mixture::Mixture;
use crabmix_kernels::Real;
use crabmix_kernels::gmm::CovarianceKind;

/// An eigenvalue at most this many times `reg_covar` is "at the regularization floor".
pub const FLOOR_FACTOR: f64 = 10.0;

/// The data's variance along the direction must be at least this many times the eigenvalue.
pub const SPREAD_FACTOR: f64 = 1000.0;

/// One degenerate component: its smallest qualifying eigenvalue λ, the unit eigenvector v and
/// the data's variance vᵀ C v along it.
#[derive(Clone, Debug, PartialEq)]
pub struct Degenerate {
    /// Component index k (0-based).
    pub component: usize,
    /// Eigenvalue λ of Σ_k (reg_covar included).
    pub eigenvalue: f64,
    /// Unit eigenvector (length D); a coordinate axis for diag and spherical.
    pub direction: Vec<f64>,
    /// vᵀ C v, C the covariance of the whole data set.
    pub data_variance: f64,
}

impl Degenerate {
    /// One sentence naming the component and the direction (its largest coordinate's feature).
    pub fn message(&self) -> String {
        let (feature, _) = self
            .direction
            .iter()
            .enumerate()
            .fold((0, 0.0f64), |best, (i, &v)| if v.abs() > best.1 { (i, v.abs()) } else { best });
        let v: Vec<String> = self.direction.iter().map(|x| format!("{x:.3}")).collect();
        format!(
            "component {} is degenerate: covariance eigenvalue {:.3e} (within {FLOOR_FACTOR}× of reg_covar) \
             along direction [{}] (mostly feature {feature}), where the data's variance is {:.3e}: it \
             has collapsed onto repeated values; try more --n-init, another --init, or a larger --reg-covar",
            self.component,
            self.eigenvalue,
            v.join(", "),
            self.data_variance
        )
    }
}

/// The degenerate components of `model` fitted to `data` (N × D row-major) with `reg_covar`
/// (see the module docs), in component order.
pub fn degenerate_components<T: Real>(model: &Mixture<T>, data: &[T], reg_covar: f64) -> Vec<Degenerate> {
    let s = model.shape();
    let (k, d) = (s.components, s.features);
    let c = data_covariance(data, d);
    let mut out = Vec::new();
    for comp in 0..k {
        let sigma: Vec<f64> =
            model.covariances()[comp * d * d..(comp + 1) * d * d].iter().map(|v| v.to_f64()).collect();
        let (values, vectors) = match s.kind {
            // Axis-aligned: the eigenvectors are the coordinate axes.
            CovarianceKind::Diag | CovarianceKind::Spherical => {
                let values = (0..d).map(|i| sigma[i * d + i]).collect::<Vec<_>>();
                let mut axes = vec![0.0; d * d];
                for i in 0..d {
                    axes[i * d + i] = 1.0;
                }
                (values, axes)
            }
            CovarianceKind::Full | CovarianceKind::Tied => symmetric_eigen(&sigma, d),
        };
        let mut found: Option<Degenerate> = None;
        for (j, &lambda) in values.iter().enumerate() {
            let v: Vec<f64> = (0..d).map(|i| vectors[i * d + j]).collect();
            let spread = quadratic_form(&c, &v, d);
            let smaller = found.as_ref().is_none_or(|f| lambda < f.eigenvalue);
            if lambda <= FLOOR_FACTOR * reg_covar && spread >= SPREAD_FACTOR * lambda && smaller {
                found = Some(Degenerate {
                    component: comp,
                    eigenvalue: lambda,
                    direction: v,
                    data_variance: spread,
                });
            }
        }
        out.extend(found);
    }
    out
}

/// vᵀ M v for a D × D row-major M.
fn quadratic_form(m: &[f64], v: &[f64], d: usize) -> f64 {
    (0..d).map(|i| v[i] * (0..d).map(|j| m[i * d + j] * v[j]).sum::<f64>()).sum()
}

/// The (biased, 1/N) covariance of `data`, two passes in f64.
fn data_covariance<T: Real>(data: &[T], d: usize) -> Vec<f64> {
    let n = (data.len() / d).max(1) as f64;
    let mut mean = vec![0.0; d];
    for x in data.chunks_exact(d) {
        for (m, v) in mean.iter_mut().zip(x) {
            *m += v.to_f64();
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut c = vec![0.0; d * d];
    for x in data.chunks_exact(d) {
        for i in 0..d {
            let di = x[i].to_f64() - mean[i];
            for j in 0..d {
                c[i * d + j] += di * (x[j].to_f64() - mean[j]);
            }
        }
    }
    c.iter_mut().for_each(|v| *v /= n);
    c
}

/// Eigenvalues and eigenvectors (columns of a D × D row-major matrix) of a symmetric matrix, by
/// cyclic Jacobi rotations (Golub & Van Loan, Matrix Computations, §8.5): sweeps until the
/// off-diagonal mass is below 1e-30 of the total, at most 100. D ≤ 64 here, so O(D³) a sweep is
/// nothing next to a fit.
pub fn symmetric_eigen(m: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = m.to_vec();
    let mut v = vec![0.0; d * d];
    for i in 0..d {
        v[i * d + i] = 1.0;
    }
    for _ in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * d + j].powi(2))
            .sum();
        let total: f64 = a.iter().map(|x| x * x).sum();
        if off <= 1e-30 * total || off == 0.0 {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                // signum(0) = 1: θ = 0 rotates by 45°.
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..d).map(|i| a[i * d + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_matches_the_closed_form_2x2() {
        // [[2, 1], [1, 2]]: eigenvalues 1 and 3, eigenvectors (1, −1)/√2 and (1, 1)/√2.
        let (values, vectors) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        let mut pairs: Vec<(f64, [f64; 2])> =
            (0..2).map(|j| (values[j], [vectors[j], vectors[2 + j]])).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!((pairs[0].0 - 1.0).abs() < 1e-14 && (pairs[1].0 - 3.0).abs() < 1e-14, "{pairs:?}");
        let h = std::f64::consts::FRAC_1_SQRT_2;
        assert!((pairs[0].1[0].abs() - h).abs() < 1e-14 && (pairs[0].1[0] + pairs[0].1[1]).abs() < 1e-14);
        assert!((pairs[1].1[0] - pairs[1].1[1]).abs() < 1e-14);
    }

    fn spread_data() -> Vec<f64> {
        // Four corners of a square of side 2 around the origin: variance 1 in every direction.
        vec![-1.0, -1.0, -1.0, 1.0, 1.0, -1.0, 1.0, 1.0]
    }

    #[test]
    fn a_collapsed_full_component_is_named_with_its_direction() {
        // Σ = R diag(2e-6, 0.5) Rᵀ, R a rotation by 45°: collapsed along (1, −1)/√2.
        let (l, h) = (2e-6, 0.5);
        let (a, b) = ((l + h) / 2.0, (h - l) / 2.0);
        let covs = vec![a, b, b, a, 1.0, 0.0, 0.0, 1.0];
        let m = Mixture::new(CovarianceKind::Full, 2, vec![0.5, 0.5], vec![0.0; 4], covs).unwrap();
        let found = degenerate_components(&m, &spread_data(), 1e-6);
        assert_eq!(found.len(), 1);
        let g = &found[0];
        assert_eq!(g.component, 0);
        assert!((g.eigenvalue - l).abs() < 1e-15, "{}", g.eigenvalue);
        let h2 = std::f64::consts::FRAC_1_SQRT_2;
        assert!((g.direction[0].abs() - h2).abs() < 1e-12 && (g.direction[0] + g.direction[1]).abs() < 1e-12);
        assert!((g.data_variance - 1.0).abs() < 1e-12);
        assert!(
            g.message().starts_with("component 0 is degenerate: covariance eigenvalue 2.000e-6"),
            "{}",
            g.message()
        );
    }

    #[test]
    fn diag_component_at_the_floor_along_a_constant_column_is_not_degenerate() {
        // Feature 1 is constant in the data: a variance of reg_covar there is the truth.
        let data = vec![-1.0, 3.0, 1.0, 3.0, 0.0, 3.0];
        let m = Mixture::new(CovarianceKind::Diag, 2, vec![1.0], vec![0.0, 3.0], vec![0.6, 0.0, 0.0, 1e-6])
            .unwrap();
        assert!(degenerate_components(&m, &data, 1e-6).is_empty());
        // The same component on data spread along feature 1 is degenerate there.
        let m = Mixture::new(CovarianceKind::Diag, 2, vec![1.0], vec![0.0, 0.0], vec![0.6, 0.0, 0.0, 1e-6])
            .unwrap();
        let found = degenerate_components(&m, &spread_data(), 1e-6);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].direction, vec![0.0, 1.0]);
        assert!(found[0].message().contains("mostly feature 1"));
    }
}
