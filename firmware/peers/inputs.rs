//! The fixed model and samples of the instruction counts: shared by `src/bin/insn_count.rs` (on
//! the emulated core) and `peers/export` (host), which writes them into the C peers' header, so
//! crabmix and its C peers are counted on the same inputs.

use crabmix_kernels::gmm::{CovarianceKind, GaussianMixture};

/// A well-separated mixture: means on a line 4 apart, unit covariances, equal weights.
pub fn model<const K: usize, const D: usize>(kind: CovarianceKind) -> Option<GaussianMixture<f32, K, D>> {
    let mut means = [[0.0f32; D]; K];
    let mut covs = [[[0.0f32; D]; D]; K];
    for k in 0..K {
        means[k][0] = 4.0 * k as f32;
        for i in 0..D {
            covs[k][i][i] = 1.0;
        }
    }
    GaussianMixture::new(kind, [1.0 / K as f32; K], means, covs).ok()
}

/// Sample `i`: cycles through the components with a small deterministic offset.
pub fn sample<const K: usize, const D: usize>(i: u32) -> [f32; D] {
    let mut x = [0.25f32; D];
    x[0] = 4.0 * (i as usize % K) as f32 + 0.125 * (i % 7) as f32 - 0.375;
    x
}
