//! `kl_diag_batch` and `kl_full`: [`DIAG_PAIRS`] diagonal Gaussians against N(0, I), then
//! [`FULL_PAIRS`] pairs of full 3-D Gaussians given by Cholesky factors, all from one generator.

use crate::InputDigest;
use core::cmp::Ordering;
use crabmix_kernels::gaussian::standard_normal;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Latent dimension of the diagonal pairs.
pub const L: usize = 8;
/// Diagonal Gaussians, drawn first.
pub const DIAG_PAIRS: usize = 1000;
/// Full pairs, drawn after the diagonal ones from the same generator.
pub const FULL_PAIRS: usize = 200;
/// Seed of the generator.
pub const SEED: u64 = 11;

/// A diagonal Gaussian: μ ~ N(0, I), ln σ² ~ N(0, ¼ I).
#[derive(Clone, Copy, Debug)]
pub struct DiagPair {
    /// μ.
    pub mu: [f64; L],
    /// ln σ².
    pub log_var: [f64; L],
}

/// Two full Gaussians N(m₁, L₁L₁ᵀ), N(m₂, L₂L₂ᵀ): factors with N(0, 0.3²) below the diagonal and
/// 0.5 + 0.5 |N(0, 1)| on it, means N(0, I).
#[derive(Clone, Copy, Debug)]
pub struct FullPair {
    /// L₁, lower triangular, row-major.
    pub l1: [[f64; 3]; 3],
    /// L₂.
    pub l2: [[f64; 3]; 3],
    /// m₁.
    pub m1: [f64; 3],
    /// m₂.
    pub m2: [f64; 3],
}

/// The generator of both workloads: [`DIAG_PAIRS`] calls of [`KlInputs::diag_pair`], then
/// [`FULL_PAIRS`] of [`KlInputs::full_pair`] (in that order: they share the random stream).
pub struct KlInputs {
    rng: Xoshiro256PlusPlus,
    digest: InputDigest,
}

impl Default for KlInputs {
    fn default() -> Self {
        Self::new()
    }
}

impl KlInputs {
    /// From [`SEED`].
    pub fn new() -> Self {
        KlInputs { rng: super::rng(SEED), digest: InputDigest::new() }
    }

    /// The next diagonal Gaussian.
    pub fn diag_pair(&mut self) -> DiagPair {
        let rng = &mut self.rng;
        let mu: [f64; L] = core::array::from_fn(|_| standard_normal(rng));
        let log_var: [f64; L] = core::array::from_fn(|_| 0.5 * standard_normal::<f64, _>(rng));
        self.digest.f64s(&mu);
        self.digest.f64s(&log_var);
        DiagPair { mu, log_var }
    }

    /// The next full pair.
    pub fn full_pair(&mut self) -> FullPair {
        let rng = &mut self.rng;
        let mut factor = || -> [[f64; 3]; 3] {
            core::array::from_fn(|i| {
                core::array::from_fn(|j| match i.cmp(&j) {
                    Ordering::Greater => 0.3 * standard_normal::<f64, _>(rng),
                    Ordering::Equal => 0.5 + 0.5 * standard_normal::<f64, _>(rng).abs(),
                    Ordering::Less => 0.0,
                })
            })
        };
        let (l1, l2) = (factor(), factor());
        let m1: [f64; 3] = core::array::from_fn(|_| standard_normal(rng));
        let m2: [f64; 3] = core::array::from_fn(|_| standard_normal(rng));
        for v in [l1.as_flattened(), l2.as_flattened(), &m1[..], &m2[..]] {
            self.digest.f64s(v);
        }
        FullPair { l1, l2, m1, m2 }
    }

    /// Digest of the inputs drawn since the last call (or since [`KlInputs::new`]), then a fresh
    /// digest: call it after the diagonal pairs (`kl_diag_batch`) and after the full ones
    /// (`kl_full`).
    pub fn take_digest(&mut self) -> u64 {
        core::mem::take(&mut self.digest).value()
    }
}
