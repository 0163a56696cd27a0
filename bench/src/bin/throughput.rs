//! Throughput of one EM iteration against peers measured in the same run, in the same precision:
//! scikit-learn's `GaussianMixture` (float64 and float32), linfa-clustering's GMM (float64, full
//! covariance only: linfa has no other kind) and, when it is installed, torchgmm on the CPU
//! (float64 and float32).
//!
//! `scripts/bench.sh` prepares the peers (Python virtual environments, the linfa peer binary) and
//! calls this program with their commands. For every covariance kind (full, diag, spherical,
//! tied) and every (D, K) of the grid it writes the workload (raw f64 + starting parameters),
//! times crabmix's iteration (f32 and f64; all threads and one thread, both through the E-step
//! `Mixture::fit` runs, [`HostEStep`], the one-thread figure in a one-thread rayon pool), runs
//! the peers on the same files, cross-checks the f64 iteration against scikit-learn's, and
//! reports same-precision ratios — a table on stdout, `throughput.json` with the machine named,
//! and `throughput.svg`. The headline is the lowest same-precision ratio to scikit-learn over the
//! goal's kinds (full and diag), never a ratio across precisions.
//!
//! The FMA peak printed with the D = K = 16 full result is cores × clock × flops per cycle of the
//! instruction set the run detected ([`Isa::peak_flops_per_cycle`]); the clock is measured with
//! every core busy ([`measured_clock_ghz`]), since /proc/cpuinfo's `cpu MHz` is the nominal
//! clock under a hypervisor (2.6 GHz on the development VM, which runs at 3.9). Useful flops of a full/tied iteration:
//! 2·N·K·D(D+1) (the E-step's triangular product and the M-step's Gram triangle, D(D+1)/2
//! multiply-adds each per sample and component).

use clap::Parser;
use crabmix::gmm::HostEStep;
use crabmix::gmm::{Mixture, Stats};
use crabmix::io::plot::{Chart, Series};
use crabmix::math::isa::Isa;
use crabmix_bench::gmm_workload::GmmWorkload;
use crabmix_bench::machine::{MachineInfo, measured_clock_ghz};
use crabmix_kernels::Real;
use crabmix_kernels::gmm::{CovarianceKind, EStep};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const REG: f64 = 1e-6;
const KINDS: [CovarianceKind; 4] =
    [CovarianceKind::Full, CovarianceKind::Diag, CovarianceKind::Spherical, CovarianceKind::Tied];
/// The goals: ≥ 20× scikit-learn (same precision, full and diag), ≥ 5× linfa, ≥ 40 % of
/// the FMA peak at D = K = 16 full.
const GOAL_SKLEARN: f64 = 20.0;
const GOAL_LINFA: f64 = 5.0;
const GOAL_PEAK: f64 = 0.4;

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

/// One precision of one benchmark case: the data, the starting model and the statistics'
/// storage, reused by every timed iteration.
struct Timed<T: Real> {
    data: std::sync::Arc<Vec<T>>,
    model: Mixture<T>,
    stats: Stats<T>,
    d: usize,
}

impl<T: Real> Timed<T> {
    fn new(w: &GmmWorkload, data: &std::sync::Arc<Vec<T>>, kind: CovarianceKind) -> Self {
        let model = w.start::<T>(kind);
        Self { data: data.clone(), stats: Stats::new(model.shape()), model, d: w.d }
    }

    /// One EM iteration inside `pool`: (seconds, result, mean log-likelihood).
    fn once(&mut self, pool: &rayon::ThreadPool) -> (f64, Mixture<T>, f64) {
        let Self { data, model, stats, d } = self;
        pool.install(|| {
            let t = Instant::now();
            let (next, ll) = one_iteration(model, stats, &mut HostEStep::new(data.as_slice(), *d));
            (t.elapsed().as_secs_f64(), next, ll)
        })
    }
}

/// (best, median) of a case's timings.
fn best_and_median(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    (times[0], times[times.len() / 2])
}

#[derive(Serialize, Default, Clone)]
struct Row {
    kind: String,
    d: usize,
    k: usize,
    n: usize,
    crabmix_f64_threads: f64,
    crabmix_f32_threads: f64,
    /// The medians of the same repeats (the figures above are the best), for how much the
    /// machine's other work moved them.
    crabmix_f64_threads_median: f64,
    crabmix_f32_threads_median: f64,
    crabmix_f64_serial: f64,
    crabmix_f32_serial: f64,
    sklearn_f64: Option<f64>,
    sklearn_f32: Option<f64>,
    /// scikit-learn f64 / crabmix f64 (all threads)
    speedup_vs_sklearn_f64: Option<f64>,
    /// scikit-learn f32 / crabmix f32 (all threads)
    speedup_vs_sklearn_f32: Option<f64>,
    /// linfa (f64, full only) / crabmix f64
    linfa: Option<f64>,
    speedup_vs_linfa: Option<f64>,
    torchgmm_f64: Option<f64>,
    torchgmm_f32: Option<f64>,
    speedup_vs_torchgmm_f64: Option<f64>,
    speedup_vs_torchgmm_f32: Option<f64>,
    /// Useful flops per second and the fraction of the FMA peak (full and tied rows).
    gflops_f64: Option<f64>,
    gflops_f32: Option<f64>,
    peak_fraction_f64: Option<f64>,
    peak_fraction_f32: Option<f64>,
    /// max relative deviation of crabmix's f64 iteration (weights, means, mean ℓ) from scikit-learn's
    crosscheck_vs_sklearn: Option<f64>,
}

/// The FMA peak of this run: cores × clock × flops per cycle of the detected instruction set.
#[derive(Serialize, Clone)]
struct Peak {
    isa: &'static str,
    cores: usize,
    clock_ghz: f64,
    clock_source: &'static str,
    /// The first `cpu MHz` of /proc/cpuinfo, for comparison (the nominal clock under a
    /// hypervisor).
    cpuinfo_ghz: f64,
    gflops_f64: f64,
    gflops_f32: f64,
}

impl Peak {
    fn measure() -> Self {
        let isa = Isa::detect();
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let cpuinfo_ghz = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("cpu MHz"))
                    .and_then(|l| l.split(':').nth(1).and_then(|v| v.trim().parse::<f64>().ok()))
            })
            .map_or(f64::NAN, |mhz| mhz / 1e3);
        let (ghz, clock_source) = match measured_clock_ghz(cores) {
            Some(ghz) => (ghz, "measured: dependent imul chains on every core at once"),
            None => (cpuinfo_ghz, "/proc/cpuinfo cpu MHz (first core, start of run)"),
        };
        let peak = |bytes| cores as f64 * ghz * isa.peak_flops_per_cycle(bytes);
        Self {
            isa: isa.name(),
            cores,
            clock_ghz: ghz,
            clock_source,
            cpuinfo_ghz,
            gflops_f64: peak(8),
            gflops_f32: peak(4),
        }
    }
}

/// Useful flops of one iteration of a full/tied model (see the module documentation); `None`
/// for the diagonal kinds, whose work is not a matrix product.
fn useful_flops(kind: CovarianceKind, n: usize, d: usize, k: usize) -> Option<f64> {
    kind.is_full_matrix().then(|| 2.0 * (n * k * d * (d + 1)) as f64)
}

fn peer(cmd: &[String], manifest: &Path) -> Option<Vec<serde_json::Value>> {
    let (prog, args) = cmd.split_first()?;
    let out = match Command::new(prog).args(args).arg(manifest).output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("peer {prog}: cannot run: {e}");
            return None;
        }
    };
    if !out.status.success() {
        eprintln!("peer {prog} failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).ok()
}

/// One EM iteration (N samples, D ∈ {2, 8, 16} × K ∈ {2, 8, 16}, full/diag/spherical/tied)
/// timed in crabmix and in the peers, on the same workload files, in the same precision.
#[derive(Parser)]
#[command(args_override_self = true)]
struct Args {
    /// Output directory: workload files, manifests, throughput.json, throughput.svg.
    #[arg(long, value_name = "DIR", default_value = "out/throughput")]
    out: PathBuf,
    /// scikit-learn peer: a command line (split on whitespace), run with the manifest's path.
    #[arg(long, value_name = "CMD")]
    sklearn: Option<String>,
    /// linfa peer (full covariance only): a command line, run with the full rows' manifest.
    #[arg(long, value_name = "CMD")]
    linfa: Option<String>,
    /// torchgmm peer (optional): a command line, run with the manifest's path; reported as
    /// skipped when absent or when it fails.
    #[arg(long, value_name = "CMD")]
    torchgmm: Option<String>,
    /// Why torchgmm is not run (printed and recorded instead of its figures).
    #[arg(long, value_name = "REASON")]
    torchgmm_skipped: Option<String>,
    /// A short run: N = 20 000 and 2 repeats unless --n / --repeats say otherwise.
    #[arg(long)]
    quick: bool,
    /// Samples per workload (default 100 000; 20 000 with --quick).
    #[arg(long, value_name = "N")]
    n: Option<usize>,
    /// Timed repeats per configuration, crabmix's and scikit-learn's, the best reported (default 5;
    /// 2 with --quick).
    #[arg(long, value_name = "R")]
    repeats: Option<usize>,
}

/// The smallest `f(row)` over the rows of `kinds`.
fn lowest(rows: &[Row], kinds: &[&str], f: impl Fn(&Row) -> Option<f64>) -> Option<f64> {
    rows.iter().filter(|r| kinds.contains(&r.kind.as_str())).filter_map(f).reduce(f64::min)
}

fn ratio(peer: Option<f64>, ours: f64) -> Option<f64> {
    peer.map(|t| t / ours)
}

fn main() {
    let args = Args::parse();
    let n = args.n.unwrap_or(if args.quick { 20_000 } else { 100_000 });
    let repeats = args.repeats.unwrap_or(if args.quick { 2 } else { 5 });
    let out = args.out;
    let words = |cmd: Option<String>| -> Vec<String> {
        cmd.map(|c| c.split_whitespace().map(String::from).collect()).unwrap_or_default()
    };
    let (sklearn_cmd, linfa_cmd, torchgmm_cmd) =
        (words(args.sklearn), words(args.linfa), words(args.torchgmm));
    std::fs::create_dir_all(&out).expect("output directory");
    let all = rayon::ThreadPoolBuilder::new().build().expect("thread pool");
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("one-thread pool");
    let peak = Peak::measure();
    let grid: Vec<(usize, usize)> =
        [2usize, 8, 16].iter().flat_map(|&d| [2usize, 8, 16].map(|k| (d, k))).collect();
    let mut workloads = Vec::new();
    let mut cases = Vec::new();
    for &(d, k) in &grid {
        let w = GmmWorkload::new(n, d, k, 42);
        let path = out.join(format!("data_d{d}_k{k}.f64"));
        let bytes: Vec<u8> = w.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&path, bytes).expect("write workload");
        let path = path.canonicalize().expect("workload path");
        let (x64, x32) = (std::sync::Arc::new(w.data::<f64>()), std::sync::Arc::new(w.data::<f32>()));
        for kind in KINDS {
            workloads.push(serde_json::json!({
                "name": format!("{}_d{d}_k{k}", kind.name()), "kind": kind.name(), "path": path,
                "n": n, "d": d, "k": k, "weights": w.weights, "means": w.means,
                "covariances": w.covariances, "reg_covar": REG,
            }));
            cases.push((kind, d, k, Timed::new(&w, &x64, kind), Timed::new(&w, &x32, kind)));
        }
    }
    // The repeats are spread over the run: the whole grid is timed once per pass (pass 0 is the
    // warm-up), and each case keeps its best. Back-to-back repeats of one case shared whatever
    // else the machine was doing at that moment, and a case could lose all of them at once.
    let serial_repeats = repeats.min(3);
    let mut times = vec![[const { Vec::new() }; 4]; cases.len()];
    let mut results = Vec::new();
    for pass in 0..=repeats {
        eprintln!("crabmix: pass {pass} of {repeats} over {} cases …", cases.len());
        for (c, (_, _, _, t64, t32)) in cases.iter_mut().enumerate() {
            let (a64, m64, ll64) = t64.once(&all);
            let (a32, _, _) = t32.once(&all);
            if pass == 0 {
                results.push((m64, ll64));
                continue;
            }
            times[c][0].push(a64);
            times[c][1].push(a32);
            if pass <= serial_repeats {
                times[c][2].push(t64.once(&one).0);
                times[c][3].push(t32.once(&one).0);
            }
        }
    }
    let mut rows = Vec::new();
    for (((kind, d, k, _, _), [f64_all, f32_all, f64_one, f32_one]), (m64, ll64)) in
        cases.iter().zip(times).zip(results)
    {
        let (kind, d, k) = (*kind, *d, *k);
        let ((t64, t64_median), (t32, t32_median)) = (best_and_median(f64_all), best_and_median(f32_all));
        let ((s64, _), (s32, _)) = (best_and_median(f64_one), best_and_median(f32_one));
        let flops = useful_flops(kind, n, d, k);
        rows.push((
            Row {
                kind: kind.name().into(),
                d,
                k,
                n,
                crabmix_f64_threads: t64,
                crabmix_f32_threads: t32,
                crabmix_f64_threads_median: t64_median,
                crabmix_f32_threads_median: t32_median,
                crabmix_f64_serial: s64,
                crabmix_f32_serial: s32,
                gflops_f64: flops.map(|f| f / t64 / 1e9),
                gflops_f32: flops.map(|f| f / t32 / 1e9),
                peak_fraction_f64: flops.map(|f| f / t64 / 1e9 / peak.gflops_f64),
                peak_fraction_f32: flops.map(|f| f / t32 / 1e9 / peak.gflops_f32),
                ..Row::default()
            },
            m64,
            ll64,
        ));
    }
    drop(cases);
    let write_manifest = |name: &str, ws: Vec<serde_json::Value>| {
        let path = out.join(name);
        let json = serde_json::json!({
            "workloads": ws, "repeats": repeats, "linfa_extra_iterations": 5, "torchgmm_extra_iterations": 5,
        });
        std::fs::write(&path, serde_json::to_string(&json).unwrap()).expect("manifest");
        path
    };
    let full_only: Vec<serde_json::Value> =
        workloads.iter().filter(|w| w["kind"] == "full").cloned().collect();
    let manifest = write_manifest("manifest.json", workloads);
    let manifest_full = write_manifest("manifest-full.json", full_only);
    let by_name =
        |v: Option<Vec<serde_json::Value>>| -> std::collections::HashMap<String, serde_json::Value> {
            v.into_iter().flatten().filter_map(|r| Some((r["name"].as_str()?.to_string(), r))).collect()
        };
    eprintln!("scikit-learn …");
    let sk = by_name(if sklearn_cmd.is_empty() { None } else { peer(&sklearn_cmd, &manifest) });
    eprintln!("linfa …");
    let li = by_name(if linfa_cmd.is_empty() { None } else { peer(&linfa_cmd, &manifest_full) });
    let torchgmm_skipped = if let Some(reason) = args.torchgmm_skipped {
        Some(reason)
    } else if torchgmm_cmd.is_empty() {
        Some("no --torchgmm command".to_string())
    } else {
        None
    };
    eprintln!("torchgmm …");
    let tg = by_name(if torchgmm_skipped.is_some() { None } else { peer(&torchgmm_cmd, &manifest) });
    let torchgmm_skipped = torchgmm_skipped.or_else(|| tg.is_empty().then(|| "the peer failed".to_string()));

    let mut final_rows = Vec::new();
    for (mut row, m64, ll64) in rows {
        let name = format!("{}_d{}_k{}", row.kind, row.d, row.k);
        if let Some(s) = sk.get(&name) {
            row.sklearn_f64 = s["seconds_per_iteration"].as_f64();
            row.sklearn_f32 = s["seconds_per_iteration_f32"].as_f64();
            row.speedup_vs_sklearn_f64 = ratio(row.sklearn_f64, row.crabmix_f64_threads);
            row.speedup_vs_sklearn_f32 = ratio(row.sklearn_f32, row.crabmix_f32_threads);
            let mut dev = ((s["mean_log_likelihood"].as_f64().unwrap_or(f64::NAN) - ll64) / ll64).abs();
            for (a, b) in m64.weights().iter().zip(s["weights"].as_array().into_iter().flatten()) {
                dev = dev.max(((a - b.as_f64().unwrap_or(f64::NAN)) / a).abs());
            }
            for (a, b) in m64.means().iter().zip(s["means"].as_array().into_iter().flatten()) {
                dev = dev.max(((a - b.as_f64().unwrap_or(f64::NAN)) / a.abs().max(1.0)).abs());
            }
            row.crosscheck_vs_sklearn = Some(dev);
        }
        if let Some(l) = li.get(&name) {
            row.linfa = l["seconds_per_iteration"].as_f64();
            row.speedup_vs_linfa = ratio(row.linfa, row.crabmix_f64_threads);
        }
        if let Some(t) = tg.get(&name) {
            row.torchgmm_f64 = t["seconds_f64"].as_f64();
            row.torchgmm_f32 = t["seconds_f32"].as_f64();
            row.speedup_vs_torchgmm_f64 = ratio(row.torchgmm_f64, row.crabmix_f64_threads);
            row.speedup_vs_torchgmm_f32 = ratio(row.torchgmm_f32, row.crabmix_f32_threads);
        }
        final_rows.push(row);
    }

    // The headline: the lowest same-precision ratio to scikit-learn over the goal's kinds.
    let goal_kinds = ["full", "diag"];
    let low64 = lowest(&final_rows, &goal_kinds, |r| r.speedup_vs_sklearn_f64);
    let low32 = lowest(&final_rows, &goal_kinds, |r| r.speedup_vs_sklearn_f32);
    let headline = match (low64, low32) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let big = final_rows.iter().find(|r| r.kind == "full" && r.d == 16 && r.k == 16).cloned();

    let machine = MachineInfo::collect();
    println!(
        "One EM iteration (E-step + M-step), N = {n}; best of {repeats} (crabmix and scikit-learn); same precision throughout"
    );
    println!("machine: {}", machine.summary());
    println!(
        "goals: ≥ {GOAL_SKLEARN}× scikit-learn in the same precision (full, diag), ≥ {GOAL_LINFA}× linfa, ≥ {:.0} % of the FMA peak at D = K = 16 full",
        GOAL_PEAK * 100.0
    );
    if let Some(reason) = &torchgmm_skipped {
        println!("torchgmm: skipped ({reason})");
    }
    println!(
        "{:>9} {:>3} {:>3} | {:>8} {:>8} {:>7} | {:>8} {:>8} {:>7} | {:>8} {:>8} | {:>8} {:>7} | {:>8} {:>8} | {:>7}",
        "kind",
        "D",
        "K",
        "f64",
        "sk f64",
        "×sk64",
        "f32",
        "sk f32",
        "×sk32",
        "f64 1thr",
        "f32 1thr",
        "linfa",
        "×linfa",
        "tg f64",
        "tg f32",
        "Δ vs sk"
    );
    let ms = |t: f64| format!("{:.1}ms", t * 1e3);
    let opt = |t: Option<f64>| t.map_or("—".to_string(), ms);
    // Only ratios with a goal get a mark (spherical and tied have none: no ✓ for every value).
    let mark = |r: Option<f64>, goal: Option<f64>| {
        r.map_or("—".into(), |r| match goal {
            Some(g) => format!("{r:.1}{}", if r >= g { "✓" } else { "✗" }),
            None => format!("{r:.1} "),
        })
    };
    for r in &final_rows {
        let goal = goal_kinds.contains(&r.kind.as_str()).then_some(GOAL_SKLEARN);
        println!(
            "{:>9} {:>3} {:>3} | {:>8} {:>8} {:>7} | {:>8} {:>8} {:>7} | {:>8} {:>8} | {:>8} {:>7} | {:>8} {:>8} | {:>7}",
            r.kind,
            r.d,
            r.k,
            ms(r.crabmix_f64_threads),
            opt(r.sklearn_f64),
            mark(r.speedup_vs_sklearn_f64, goal),
            ms(r.crabmix_f32_threads),
            opt(r.sklearn_f32),
            mark(r.speedup_vs_sklearn_f32, goal),
            ms(r.crabmix_f64_serial),
            ms(r.crabmix_f32_serial),
            opt(r.linfa),
            mark(r.speedup_vs_linfa, Some(GOAL_LINFA)),
            opt(r.torchgmm_f64),
            opt(r.torchgmm_f32),
            r.crosscheck_vs_sklearn.map_or("—".into(), |d| format!("{d:.0e}")),
        );
    }
    println!(
        "FMA peak: {} cores × {:.3} GHz ({}) × {} → {:.1} GFLOP/s f64, {:.1} GFLOP/s f32",
        peak.cores, peak.clock_ghz, peak.clock_source, peak.isa, peak.gflops_f64, peak.gflops_f32
    );
    if let Some(b) = &big {
        let pct = |f: Option<f64>| f.map_or("—".into(), |f| format!("{:.1} %", f * 100.0));
        println!(
            "D = K = 16 full: f64 {} = {:.1} GFLOP/s = {} of peak, f32 {} = {:.1} GFLOP/s = {} of peak (useful flops 2·N·K·D(D+1))",
            ms(b.crabmix_f64_threads),
            b.gflops_f64.unwrap_or(f64::NAN),
            pct(b.peak_fraction_f64),
            ms(b.crabmix_f32_threads),
            b.gflops_f32.unwrap_or(f64::NAN),
            pct(b.peak_fraction_f32),
        );
    }
    let x = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.1}×"));
    println!(
        "headline: {} scikit-learn (lowest same-precision ratio over full and diag: f64 {}, f32 {})",
        x(headline),
        x(low64),
        x(low32)
    );

    let series = |label: &str, color: &str, f: &dyn Fn(&Row) -> Option<f64>| Series::Line {
        label: label.into(),
        color: color.into(),
        width: 2.0,
        dash: String::new(),
        points: final_rows
            .iter()
            .filter(|r| r.kind == "full")
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
        x_range: (-0.5, grid.len() as f64 - 0.5),
        y_range: (1e4, 1e9),
        series: vec![
            series("crabmix f32, all threads", "#d62728", &|r| Some(r.crabmix_f32_threads)),
            series("crabmix f64, all threads", "#ff9896", &|r| Some(r.crabmix_f64_threads)),
            series("crabmix f32, 1 thread", "#9467bd", &|r| Some(r.crabmix_f32_serial)),
            series("scikit-learn f32", "#1f77b4", &|r| r.sklearn_f32),
            series("scikit-learn f64", "#aec7e8", &|r| r.sklearn_f64),
            series("linfa f64", "#2ca02c", &|r| r.linfa),
            series("torchgmm f32", "#8c564b", &|r| r.torchgmm_f32),
        ],
        log_y: true,
    };
    std::fs::write(out.join("throughput.svg"), chart.to_svg()).expect("svg");
    let first = |m: &std::collections::HashMap<String, serde_json::Value>| {
        m.values().next().map(|s| s["version"].clone())
    };
    let report = serde_json::json!({
        "machine": machine,
        "target": "cpu",
        "repeats": repeats,
        "workload": format!("one EM iteration, N={n}, full/diag/spherical/tied, GmmWorkload seed 42"),
        "peers": {
            "sklearn": first(&sk),
            "linfa": if li.is_empty() { None } else { Some("linfa-clustering 0.8, f64, full only (per iteration = (t(6) − t(1))/5)") },
            "torchgmm": first(&tg),
            "torchgmm_skipped": torchgmm_skipped,
        },
        "peak": peak,
        "headline": {
            "lowest_same_precision_vs_sklearn": headline,
            "lowest_f64_vs_sklearn": low64,
            "lowest_f32_vs_sklearn": low32,
            "kinds": goal_kinds,
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
