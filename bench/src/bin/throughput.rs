//! Throughput of one EM iteration against peers measured in the same run: scikit-learn's
//! `GaussianMixture` and linfa-clustering's GMM on the CPU (and PyTorch on the GPU when present).
//!
//! `scripts/bench.sh` prepares the peers (a Python virtual environment with scikit-learn, the
//! linfa peer binary) and calls this program with their commands. For every (D, K) of the grid it
//! writes the workload (raw f64 + starting parameters), times crabmix's iteration (f32 and f64,
//! one thread through the kernels and all threads through the host), runs the peers on the same
//! files, cross-checks the f64 iteration against scikit-learn's, and reports ratios — a table on
//! stdout, `throughput.json` with the machine named, and `throughput.svg`.
//!
//! "All threads" is the E-step `Mixture::fit` runs on the CPU ([`HostEStep`]: the blocked pass for
//! these full-covariance workloads), so the ratios describe what users get.

use clap::Parser;
use crabmix::gmm::HostEStep;
use crabmix::gmm::{Mixture, Stats};
use crabmix::io::plot::{Chart, Series};
use crabmix_bench::gmm_workload::GmmWorkload;
use crabmix_bench::machine::MachineInfo;
use crabmix_kernels::Real;
use crabmix_kernels::gmm::{CovarianceKind, EStep, SerialEStep};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const REG: f64 = 1e-6;

fn one_iteration<T: Real, E: EStep<T>>(
    model: &Mixture<T>,
    stats: &mut Stats<T>,
    estep: &mut E,
) -> (Mixture<T>, f64) {
    let mut next = model.clone();
    let mut s = stats.view_mut();
    s.reset(model.means()).expect("shapes");
    estep.accumulate(&model.view(), &mut s).expect("finite workload");
    let ll = s.totals().mean_log_likelihood().expect("samples").to_f64();
    s.finish(&mut next.view_mut(), T::from_f64(REG), true).expect("M-step");
    (next, ll)
}

/// Median of `repeats` timings (after one warm-up) of one EM iteration; returns (seconds, result).
fn time_iteration<T: Real>(w: &GmmWorkload, threads: bool, repeats: usize) -> (f64, Mixture<T>, f64) {
    let data = w.data::<T>();
    let model = w.start::<T>(CovarianceKind::Full);
    let mut stats = Stats::new(model.shape());
    let mut lp = vec![T::ZERO; w.k];
    let mut work = vec![T::ZERO; 2 * w.d];
    let mut run = |stats: &mut Stats<T>| {
        if threads {
            one_iteration(&model, stats, &mut HostEStep::new(&data, w.d))
        } else {
            one_iteration(&model, stats, &mut SerialEStep::new(&data, &mut lp, &mut work))
        }
    };
    let (mut next, mut ll) = run(&mut stats);
    let mut times = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        (next, ll) = run(&mut stats);
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], next, ll)
}

#[derive(Serialize, Default, Clone)]
struct Row {
    d: usize,
    k: usize,
    n: usize,
    crabmix_f64_threads: f64,
    crabmix_f32_threads: f64,
    crabmix_f64_serial: f64,
    crabmix_f32_serial: f64,
    sklearn: Option<f64>,
    linfa: Option<f64>,
    speedup_vs_sklearn: Option<f64>,
    speedup_vs_linfa: Option<f64>,
    /// max relative deviation of crabmix's f64 iteration (weights, means, mean ℓ) from scikit-learn's
    crosscheck_vs_sklearn: Option<f64>,
}

fn peer(cmd: &[String], manifest: &Path) -> Option<Vec<serde_json::Value>> {
    let (prog, args) = cmd.split_first()?;
    let out = Command::new(prog).args(args).arg(manifest).output().ok()?;
    if !out.status.success() {
        eprintln!("peer {prog} failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).ok()
}

/// One EM iteration (N samples, D ∈ {2, 8, 16} × K ∈ {2, 8, 16}, full covariance) timed in
/// crabmix and in the peers, on the same workload files.
#[derive(Parser)]
#[command(args_override_self = true)]
struct Args {
    /// Output directory: workload files, manifest.json, throughput.json, throughput.svg.
    #[arg(long, value_name = "DIR", default_value = "out/throughput")]
    out: PathBuf,
    /// scikit-learn peer: a command line (split on whitespace), run with the manifest's path.
    #[arg(long, value_name = "CMD")]
    sklearn: Option<String>,
    /// linfa peer: a command line (split on whitespace), run with the manifest's path.
    #[arg(long, value_name = "CMD")]
    linfa: Option<String>,
    /// Samples per workload.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    n: usize,
    /// Timed repeats per crabmix configuration (the median is reported).
    #[arg(long, value_name = "R", default_value_t = 5)]
    repeats: usize,
}

fn main() {
    let Args { out, sklearn, linfa, n, repeats } = Args::parse();
    let words = |cmd: Option<String>| -> Vec<String> {
        cmd.map(|c| c.split_whitespace().map(String::from).collect()).unwrap_or_default()
    };
    let (sklearn_cmd, linfa_cmd) = (words(sklearn), words(linfa));
    std::fs::create_dir_all(&out).expect("output directory");
    let grid: Vec<(usize, usize)> =
        [2usize, 8, 16].iter().flat_map(|&d| [2usize, 8, 16].map(|k| (d, k))).collect();
    let mut workloads = Vec::new();
    let mut rows = Vec::new();
    for &(d, k) in &grid {
        let w = GmmWorkload::new(n, d, k, 42);
        let path = out.join(format!("data_d{d}_k{k}.f64"));
        let bytes: Vec<u8> = w.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&path, bytes).expect("write workload");
        workloads.push(serde_json::json!({
            "name": format!("d{d}_k{k}"), "path": path.canonicalize().unwrap(), "n": n, "d": d, "k": k,
            "weights": w.weights, "means": w.means, "covariances": w.covariances, "reg_covar": REG,
        }));
        eprintln!("crabmix d={d} k={k} …");
        let (t64, m64, ll64) = time_iteration::<f64>(&w, true, repeats);
        let (t32, _, _) = time_iteration::<f32>(&w, true, repeats);
        let (s64, _, _) = time_iteration::<f64>(&w, false, repeats.min(3));
        let (s32, _, _) = time_iteration::<f32>(&w, false, repeats.min(3));
        rows.push((
            Row {
                d,
                k,
                n,
                crabmix_f64_threads: t64,
                crabmix_f32_threads: t32,
                crabmix_f64_serial: s64,
                crabmix_f32_serial: s32,
                ..Row::default()
            },
            m64,
            ll64,
        ));
    }
    let manifest = out.join("manifest.json");
    let manifest_json =
        serde_json::json!({"workloads": workloads, "repeats": 3, "linfa_extra_iterations": 5});
    std::fs::write(&manifest, serde_json::to_string(&manifest_json).unwrap()).expect("manifest");
    let sk = if sklearn_cmd.is_empty() { None } else { peer(&sklearn_cmd, &manifest) };
    let li = if linfa_cmd.is_empty() { None } else { peer(&linfa_cmd, &manifest) };

    let mut final_rows = Vec::new();
    for (i, (mut row, m64, ll64)) in rows.into_iter().enumerate() {
        let best = row.crabmix_f32_threads.min(row.crabmix_f64_threads);
        if let Some(s) = sk.as_ref().and_then(|v| v.get(i)) {
            row.sklearn = s["seconds_per_iteration"].as_f64();
            row.speedup_vs_sklearn = row.sklearn.map(|t| t / best);
            let mut dev = ((s["mean_log_likelihood"].as_f64().unwrap_or(f64::NAN) - ll64) / ll64).abs();
            for (a, b) in m64.weights().iter().zip(s["weights"].as_array().into_iter().flatten()) {
                dev = dev.max(((a - b.as_f64().unwrap_or(f64::NAN)) / a).abs());
            }
            for (a, b) in m64.means().iter().zip(s["means"].as_array().into_iter().flatten()) {
                dev = dev.max(((a - b.as_f64().unwrap_or(f64::NAN)) / a.abs().max(1.0)).abs());
            }
            row.crosscheck_vs_sklearn = Some(dev);
        }
        if let Some(l) = li.as_ref().and_then(|v| v.get(i)) {
            row.linfa = l["seconds_per_iteration"].as_f64();
            row.speedup_vs_linfa = row.linfa.map(|t| t / best);
        }
        final_rows.push(row);
    }

    let machine = MachineInfo::collect();
    println!(
        "One EM iteration (E-step + M-step), N = {n}, full covariance; median of {repeats} (crabmix), best of 3 (scikit-learn)"
    );
    println!("machine: {}", machine.summary());
    println!("goal: ≥ 20× scikit-learn, ≥ 5× linfa (best crabmix precision, all threads)");
    println!(
        "{:>3} {:>3} | {:>9} {:>9} {:>9} {:>9} | {:>9} {:>9} | {:>8} {:>8} | {:>9}",
        "D",
        "K",
        "f64 thr",
        "f32 thr",
        "f64 1thr",
        "f32 1thr",
        "sklearn",
        "linfa",
        "×sklearn",
        "×linfa",
        "Δ vs sk"
    );
    let ms = |t: f64| format!("{:.1} ms", t * 1e3);
    let opt = |t: Option<f64>| t.map_or("—".to_string(), ms);
    let ratio = |r: Option<f64>, goal: f64| {
        r.map_or("—".into(), |r| format!("{r:.1}{}", if r >= goal { "✓" } else { "✗" }))
    };
    for r in &final_rows {
        println!(
            "{:>3} {:>3} | {:>9} {:>9} {:>9} {:>9} | {:>9} {:>9} | {:>8} {:>8} | {:>9}",
            r.d,
            r.k,
            ms(r.crabmix_f64_threads),
            ms(r.crabmix_f32_threads),
            ms(r.crabmix_f64_serial),
            ms(r.crabmix_f32_serial),
            opt(r.sklearn),
            opt(r.linfa),
            ratio(r.speedup_vs_sklearn, 20.0),
            ratio(r.speedup_vs_linfa, 5.0),
            r.crosscheck_vs_sklearn.map_or("—".into(), |d| format!("{d:.1e}")),
        );
    }

    let series = |label: &str, color: &str, f: &dyn Fn(&Row) -> Option<f64>| Series::Line {
        label: label.into(),
        color: color.into(),
        width: 2.0,
        dash: String::new(),
        points: final_rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| f(r).map(|t| (i as f64, n as f64 / t)))
            .collect(),
    };
    let chart = Chart {
        title: format!(
            "One EM iteration, N = {n}, full covariance: samples per second (x: D,K = 2,2 … 16,16)"
        ),
        x_label: "workload index (D ∈ {2, 8, 16} × K ∈ {2, 8, 16})".into(),
        y_label: "samples / s".into(),
        x_range: (-0.5, final_rows.len() as f64 - 0.5),
        y_range: (1e4, 1e9),
        series: vec![
            series("crabmix f32, all threads", "#d62728", &|r| Some(r.crabmix_f32_threads)),
            series("crabmix f64, all threads", "#ff9896", &|r| Some(r.crabmix_f64_threads)),
            series("crabmix f32, 1 thread", "#9467bd", &|r| Some(r.crabmix_f32_serial)),
            series("scikit-learn", "#1f77b4", &|r| r.sklearn),
            series("linfa", "#2ca02c", &|r| r.linfa),
        ],
        log_y: true,
    };
    std::fs::write(out.join("throughput.svg"), chart.to_svg()).expect("svg");
    let report = serde_json::json!({
        "machine": machine,
        "target": "cpu",
        "workload": format!("one EM iteration, N={n}, full covariance, GmmWorkload seed 42"),
        "peers": {
            "sklearn": sk.as_ref().and_then(|v| v.first()).map(|s| s["version"].clone()),
            "linfa": if li.is_some() { Some("linfa-clustering 0.8 (per iteration = (t(6) − t(1))/5)") } else { None },
        },
        "rows": final_rows,
    });
    std::fs::write(out.join("throughput.json"), serde_json::to_string_pretty(&report).unwrap() + "\n")
        .expect("json");
    println!(
        "figures: {}, plot: {}",
        out.join("throughput.json").display(),
        out.join("throughput.svg").display()
    );
}
