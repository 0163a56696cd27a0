//! The Gaussian-mixture workload every EM benchmark and cross-check uses: N samples from a
//! random K-component, D-dimensional mixture (well-separated means, random full covariances),
//! and a starting model near — not at — the truth, so an EM iteration does real work.
//!
//! Host-only, so it stays here rather than in `tests/workloads` (the no_std crate of workloads
//! that the firmware shares): it allocates N × D samples (N = 10⁵ in the throughput run) and
//! builds host `Mixture`s, and only the throughput harness and the criterion benches run it.

use crabmix::gmm::Mixture;
use crabmix_kernels::Real;
use crabmix_kernels::gaussian::standard_normal;
use crabmix_kernels::gmm::{CovarianceKind, GaussianMixture};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Data (N × D row-major, f64) and the starting model for an EM iteration benchmark.
pub struct GmmWorkload {
    /// Samples, N × D row-major.
    pub data: Vec<f64>,
    /// Starting parameters of the iteration (full-shaped covariances, row-major).
    pub weights: Vec<f64>,
    /// Means, K × D.
    pub means: Vec<f64>,
    /// Covariances, K × D × D.
    pub covariances: Vec<f64>,
    /// N, D, K.
    pub n: usize,
    /// D.
    pub d: usize,
    /// K.
    pub k: usize,
}

impl GmmWorkload {
    /// Deterministic for a given (n, d, k, seed).
    pub fn new(n: usize, d: usize, k: usize, seed: u64) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut normal = || standard_normal::<f64, _>(&mut rng);
        let means: Vec<f64> = (0..k * d).map(|_| 4.0 * normal()).collect();
        // Covariance factors A_k = 0.5 I + 0.2 G (G Gaussian): A Aᵀ is well conditioned.
        let factors: Vec<f64> = (0..k * d * d)
            .map(|i| {
                let (r, c) = ((i / d) % d, i % d);
                0.2 * normal() + if r == c { 0.5 } else { 0.0 }
            })
            .collect();
        let mut data = Vec::with_capacity(n * d);
        let mut z = vec![0.0; d];
        for i in 0..n {
            let c = i % k;
            for v in z.iter_mut() {
                *v = normal();
            }
            for r in 0..d {
                let a = &factors[c * d * d + r * d..c * d * d + (r + 1) * d];
                data.push(means[c * d + r] + a.iter().zip(&z).map(|(x, y)| x * y).sum::<f64>());
            }
        }
        // Start: means nudged by 0.3, covariances 1.5·I, uniform weights.
        let start_means = means.iter().map(|m| m + 0.3 * normal()).collect();
        let mut covariances = vec![0.0; k * d * d];
        for c in 0..k {
            for r in 0..d {
                covariances[c * d * d + r * d + r] = 1.5;
            }
        }
        Self { data, weights: vec![1.0 / k as f64; k], means: start_means, covariances, n, d, k }
    }

    /// The starting model in precision `T` with covariance `kind` (diagonal start works for all).
    pub fn start<T: Real>(&self, kind: CovarianceKind) -> Mixture<T> {
        let c = |v: &[f64]| v.iter().map(|&x| T::from_f64(x)).collect::<Vec<T>>();
        Mixture::new(kind, self.d, c(&self.weights), c(&self.means), c(&self.covariances))
            .expect("the workload's start is a valid model")
    }

    /// The data in precision `T`.
    pub fn data<T: Real>(&self) -> Vec<T> {
        self.data.iter().map(|&x| T::from_f64(x)).collect()
    }

    /// The starting model as a fixed-size mixture (K, D must match).
    pub fn start_fixed<T: Real, const K: usize, const D: usize>(
        &self,
        kind: CovarianceKind,
    ) -> Option<GaussianMixture<T, K, D>> {
        if K != self.k || D != self.d {
            return None;
        }
        let w = core::array::from_fn(|k| T::from_f64(self.weights[k]));
        let m = core::array::from_fn(|k| core::array::from_fn(|i| T::from_f64(self.means[k * D + i])));
        let c = core::array::from_fn(|k| {
            core::array::from_fn(|i| {
                core::array::from_fn(|j| T::from_f64(self.covariances[k * D * D + i * D + j]))
            })
        });
        GaussianMixture::new(kind, w, m, c).ok()
    }
}
