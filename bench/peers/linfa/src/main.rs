//! Times linfa-clustering's Gaussian-mixture EM on the harness's data.
//!
//! Usage: crabmix-peer-linfa MANIFEST.json > RESULT.json. The manifest lists workloads
//! `{name, path, n, d, k}` (raw little-endian f64, N × D row-major). linfa has no way to start EM
//! from given parameters, so one EM iteration is timed as (t(1 + m iterations) − t(1)) / m with the
//! same seed and initialization (random), tolerance 1e-300 so every iteration runs.
use linfa::prelude::*;
use linfa_clustering::{GaussianMixtureModel, GmmInitMethod};
use ndarray::Array2;
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::SeedableRng;
use std::time::Instant;

fn fit_seconds(data: &Array2<f64>, k: usize, iters: u64) -> Option<f64> {
    let ds = DatasetBase::from(data.clone());
    let start = Instant::now();
    let r = GaussianMixtureModel::params_with_rng(k, Xoshiro256Plus::seed_from_u64(7))
        .n_runs(1)
        // linfa rejects 0; 1e-300 is never met, so every iteration runs.
        .tolerance(1e-300)
        .max_n_iterations(iters)
        .init_method(GmmInitMethod::Random)
        .fit(&ds);
    let t = start.elapsed().as_secs_f64();
    // linfa reports non-convergence within max_n_iterations as an error: the work was still done.
    match r {
        Ok(_) => Some(t),
        Err(e) if format!("{e}").contains("converge") => Some(t),
        Err(e) => {
            eprintln!("linfa: k={k}: {e}");
            None
        }
    }
}

fn main() {
    let manifest = std::env::args().nth(1).expect("usage: crabmix-peer-linfa MANIFEST.json");
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let extra: u64 = m["linfa_extra_iterations"].as_u64().unwrap_or(5);
    let mut out = Vec::new();
    for w in m["workloads"].as_array().unwrap() {
        let (n, d, k) = (w["n"].as_u64().unwrap() as usize, w["d"].as_u64().unwrap() as usize, w["k"].as_u64().unwrap() as usize);
        let bytes = std::fs::read(w["path"].as_str().unwrap()).unwrap();
        let v: Vec<f64> = bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect();
        let data = Array2::from_shape_vec((n, d), v).unwrap();
        let t1 = fit_seconds(&data, k, 1);
        let tm = fit_seconds(&data, k, 1 + extra);
        let per_iter = match (t1, tm) {
            (Some(a), Some(b)) => Some(((b - a) / extra as f64).max(0.0)),
            _ => None,
        };
        eprintln!("linfa {}: {:?} s/iteration", w["name"], per_iter);
        out.push(serde_json::json!({"name": w["name"], "seconds_per_iteration": per_iter}));
    }
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
