//! Shared helpers for the crabmix bench programs (`src/bin/`) and criterion benches
//! (`bench/criterion/benches/*.rs`).
//!
//! Group names start with the backend (`cpu_`, later `cuda_`), and every group reports
//! `Throughput::Elements` so that results read per element or per sample.
#![deny(missing_docs)]

pub mod crosscheck;
pub mod firmware_log;
pub mod gmm_workload;
pub mod machine;

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

/// Pearson's crab bins from `data/pearson_crabs_bins.csv` as (left, right, count); the open first
/// and last bins are drawn with the common width 0.004.
pub fn crab_bins() -> Vec<(f64, f64, f64)> {
    let text = std::fs::read_to_string("data/pearson_crabs_bins.csv").expect("data/pearson_crabs_bins.csv");
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let centre: f64 = f[1].parse().expect("centre");
            let count: f64 = f[2].parse().expect("count");
            (centre - 0.002, centre + 0.002, count)
        })
        .collect()
}

/// Whether a GPU path can run here, in words (the CUDA backend, when compiled in, says more).
pub fn gpu_status() -> String {
    if std::path::Path::new("/proc/driver/nvidia/version").exists() {
        "NVIDIA driver present; the CUDA backend is not part of this build".into()
    } else {
        "no GPU on this machine (no NVIDIA driver): skipped".into()
    }
}
