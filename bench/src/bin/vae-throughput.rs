//! VAE training throughput against PyTorch eager on the CPU, measured in the same run
//! (issue 16): samples per second of a training epoch (median of `--epochs`), same
//! architecture, batch, thread count and data for both.
//!
//! Shapes: the digits (`data/digits.csv`, 1797 rows) with 64 → 256 → 128 → (8 + 8) and the
//! decoder mirrored, and a 30-feature shape 30 → 64 → 32 → (4 + 4) on 2000 seeded rows in
//! [0, 1]; Bernoulli likelihood, Adam 1e-3, f32. crabmix runs `crabmix::train::vae_model::train`
//! (the CLI's trainer: fixed-block gradients on all threads); the peer is
//! `bench/peers/torch_vae.py`. `scripts/bench-vae.sh` prepares the peer and calls this program.
//! Writes a table on stdout and `vae-throughput.json` (with the machine) under `--out`.

use clap::Parser;
use crabmix::io::csv::read_csv;
use crabmix::train::vae_model::{LikelihoodKind, VaeArch, VaeModel, VaeTrainConfig, train};
use crabmix_bench::machine::MachineInfo;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::Serialize;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "out/vae-throughput")]
    out: PathBuf,
    /// The PyTorch peer's command (a program and its leading arguments; the manifest is added).
    #[arg(long)]
    torch: Option<String>,
    /// Timed epochs per shape (the median is reported).
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 64)]
    batch: usize,
}

#[derive(Serialize)]
struct Row {
    name: String,
    hidden: Vec<usize>,
    latent: usize,
    rows: usize,
    batch: usize,
    threads: usize,
    crabmix_samples_per_s: f64,
    torch_samples_per_s: Option<f64>,
    ratio: Option<f64>,
}

fn main() {
    let a = Args::parse();
    std::fs::create_dir_all(&a.out).expect("output folder");
    let threads = rayon::current_num_threads();
    let digits = read_csv::<f32>(&PathBuf::from("data/digits.csv")).expect("data/digits.csv");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(30);
    let f30: Vec<f32> = (0..2000 * 30).map(|_| (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32).collect();
    let f30_path = a.out.join("features30.csv");
    let text: String = f30
        .chunks(30)
        .map(|r| r.iter().map(|v| format!("{v}")).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    std::fs::write(&f30_path, text).expect("write the 30-feature data");
    let shapes = [
        (
            "digits 64-256-128-(8+8)",
            digits.data.clone(),
            64,
            vec![256, 128],
            8,
            PathBuf::from("data/digits.csv"),
            digits.header.is_some(),
        ),
        ("30-64-32-(4+4)", f30, 30, vec![64, 32], 4, f30_path, false),
    ];
    let mut rows = Vec::new();
    let mut manifest = Vec::new();
    for (name, data, x, hidden, z, path, header) in &shapes {
        let arch = VaeArch {
            features: *x,
            hidden: hidden.clone(),
            latent: *z,
            likelihood: LikelihoodKind::Bernoulli,
        };
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
        let mut model = VaeModel::new(arch, None, &mut rng).expect("shape");
        let n = data.len() / x;
        let config = VaeTrainConfig { epochs: 1, batch: a.batch, lr: 1e-3 };
        let mut times = Vec::new();
        for _ in 0..a.epochs {
            let t = Instant::now();
            train(&mut model, data, &[], &config, &mut rng, 0, |_, _, _| {}).expect("training");
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let sps = n as f64 / times[times.len() / 2];
        rows.push(Row {
            name: name.to_string(),
            hidden: hidden.clone(),
            latent: *z,
            rows: n,
            batch: a.batch,
            threads,
            crabmix_samples_per_s: sps,
            torch_samples_per_s: None,
            ratio: None,
        });
        manifest.push(serde_json::json!({
            "name": name, "path": path, "hidden": hidden, "latent": z, "batch": a.batch,
            "epochs": a.epochs, "threads": threads, "header": header,
        }));
    }
    if let Some(cmd) = &a.torch {
        let m = a.out.join("torch-manifest.json");
        std::fs::write(&m, serde_json::json!({ "workloads": manifest }).to_string()).expect("manifest");
        let mut parts = cmd.split_whitespace();
        let out = Command::new(parts.next().expect("a command"))
            .args(parts)
            .arg(&m)
            .output()
            .expect("run the PyTorch peer");
        assert!(out.status.success(), "torch peer: {}", String::from_utf8_lossy(&out.stderr));
        let res: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("peer JSON");
        for (r, p) in rows.iter_mut().zip(&res) {
            let t = p["samples_per_s"].as_f64();
            r.torch_samples_per_s = t;
            r.ratio = t.map(|t| r.crabmix_samples_per_s / t);
        }
    }
    println!(
        "{:<26} {:>8} {:>7} {:>16} {:>16} {:>8}",
        "shape", "batch", "threads", "crabmix samp/s", "torch samp/s", "ratio"
    );
    for r in &rows {
        let t = r.torch_samples_per_s.map(|t| format!("{t:.0}")).unwrap_or("-".into());
        let q = r.ratio.map(|q| format!("{q:.2}×")).unwrap_or("-".into());
        println!(
            "{:<26} {:>8} {:>7} {:>16.0} {:>16} {:>8}",
            r.name, r.batch, r.threads, r.crabmix_samples_per_s, t, q
        );
    }
    let json = serde_json::json!({ "machine": MachineInfo::collect(), "epochs": a.epochs, "rows": rows });
    let path = a.out.join("vae-throughput.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json).expect("json") + "\n").expect("write results");
    println!("→ {}", path.display());
}
