//! Shared helpers for the crabmix criterion benches (`benches/*.rs`).
//!
//! Group names start with the backend (`cpu_`, later `cuda_`), and every group reports
//! `Throughput::Elements` so that results read per element or per sample.
#![deny(missing_docs)]

pub mod gmm_workload;

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// The generator every bench uses, seeded so that inputs are the same from run to run.
pub fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// `N` deterministic values spread over [lo, hi) (a fixed irrational stride, no RNG needed).
pub fn spread<const N: usize>(lo: f64, hi: f64) -> [f64; N] {
    // Fractional parts of k·(√5 − 1)/2 are equidistributed in [0, 1) (Weyl).
    core::array::from_fn(|k| lo + (hi - lo) * ((k as f64 + 1.0) * 0.618_033_988_749_895).fract())
}
