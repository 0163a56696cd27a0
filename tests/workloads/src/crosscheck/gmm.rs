//! `gmm_em_iteration` and `log_density`: N samples from a well-conditioned 4-component, 3-D
//! mixture, and an EM start away from the truth.

use crate::InputDigest;
use crabmix_kernels::Result;
use crabmix_kernels::gmm::{CovarianceKind, GaussianMixture};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Samples.
pub const N: usize = 2000;
/// Components.
pub const K: usize = 4;
/// Dimensions.
pub const D: usize = 3;
/// Seed of the samples.
pub const SEED: u64 = 7;

/// The mixture the samples come from (full covariances, condition numbers below 10).
pub fn truth() -> Result<GaussianMixture<f64, K, D>> {
    GaussianMixture::new(
        CovarianceKind::Full,
        [0.1, 0.2, 0.3, 0.4],
        [[0.0, 0.0, 0.0], [3.0, 1.0, -1.0], [-2.0, 3.0, 1.0], [1.0, -3.0, 2.0]],
        [
            [[1.0, 0.3, 0.0], [0.3, 0.8, 0.1], [0.0, 0.1, 0.6]],
            [[0.5, 0.0, 0.1], [0.0, 0.7, 0.0], [0.1, 0.0, 0.9]],
            [[1.2, -0.4, 0.0], [-0.4, 1.0, 0.2], [0.0, 0.2, 0.5]],
            [[0.6, 0.1, 0.1], [0.1, 0.6, 0.1], [0.1, 0.1, 0.6]],
        ],
    )
}

/// The EM start, away from the truth: means shifted, unit covariances, equal weights.
pub fn start() -> Result<GaussianMixture<f64, K, D>> {
    GaussianMixture::new(
        CovarianceKind::Full,
        [0.25; K],
        [[0.5, 0.5, 0.0], [2.5, 1.5, -0.5], [-1.5, 2.5, 0.5], [1.5, -2.5, 1.5]],
        [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]; K],
    )
}

/// The [`N`] samples of [`truth`] from [`SEED`], streamed (nothing is stored), with the digest of
/// those drawn so far.
pub struct Samples {
    truth: GaussianMixture<f64, K, D>,
    rng: Xoshiro256PlusPlus,
    left: usize,
    digest: InputDigest,
}

impl Samples {
    /// From the first sample.
    pub fn new() -> Result<Self> {
        Ok(Samples { truth: truth()?, rng: super::rng(SEED), left: N, digest: InputDigest::new() })
    }

    /// Digest of the samples drawn so far (all [`N`] once the iterator is exhausted).
    pub fn digest(&self) -> u64 {
        self.digest.value()
    }
}

impl Iterator for Samples {
    type Item = [f64; D];

    fn next(&mut self) -> Option<[f64; D]> {
        self.left = self.left.checked_sub(1)?;
        let x = self.truth.sample(&mut self.rng).0;
        self.digest.f64s(&x);
        Some(x)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}
