//! `reparam_sampling`: [`DRAWS`] draws z = μ + σ ε of one diagonal Gaussian, judged on their
//! standardized moments.

use crate::InputDigest;

/// Dimensions.
pub const L: usize = 4;
/// μ.
pub const MU: [f64; L] = [0.5, -1.0, 2.0, 0.0];
/// ln σ².
pub const LOG_VAR: [f64; L] = [0.0, -1.0, 0.7, -2.0];
/// Draws (standard errors of the moments 1/√n = 2.2e-3 and 1/√(2n) = 1.6e-3).
pub const DRAWS: usize = 200_000;
/// Seed of the ε stream.
pub const SEED: u64 = 3;

/// Digest of the inputs ([`MU`], then [`LOG_VAR`]).
pub fn digest() -> u64 {
    let mut d = InputDigest::new();
    d.f64s(&MU);
    d.f64s(&LOG_VAR);
    d.value()
}
