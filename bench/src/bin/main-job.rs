//! The main job's report: Pearson's crabs fitted with two components on every target, compared.
//!
//! `scripts/main-job.sh` builds and runs the firmware on the emulated Cortex-M4F first and passes
//! its log here; this program fits the same data on the CPU (f64 and f32, multithreaded host path
//! and the fixed-size kernels the firmware runs), on the GPU when one is present, prints one table
//! of parameters, log-likelihoods, deviations from f64 and cost, and writes the picture of the fit
//! (the lecture's Fig. 4) and a JSON file of every figure.

use clap::Parser;
use crabmix::gmm::Mixture;
use crabmix::io::csv::read_csv;
use crabmix::io::plot::{Chart, Series};
use crabmix_bench::machine::MachineInfo;
use crabmix_kernels::gmm::{CovarianceKind, FitConfig, GaussianMixture, InitMethod};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// The firmware's fit (firmware/app/src/crabs.rs): k-means++ from seed 1894, a fixed 3000 EM
/// iterations (EM creeps on these overlapping components; a tolerance stops f32 early).
const SEED: u64 = 1894;
const ITERATIONS: u32 = 3000;

#[derive(Serialize, Clone)]
struct Fit {
    target: String,
    precision: String,
    weights: [f64; 2],
    means: [f64; 2],
    sds: [f64; 2],
    mean_log_likelihood: f64,
    max_abs_dev_vs_f64: Option<f64>,
    cost: String,
    seconds: Option<f64>,
}

fn config<T: crabmix_kernels::Real>() -> FitConfig<T> {
    FitConfig {
        kind: CovarianceKind::Full,
        init: InitMethod::KMeansPlusPlus,
        n_init: 1,
        max_iter: ITERATIONS,
        tol: T::ZERO,
        reg_covar: T::from_f64(1e-6),
        reseed_empty: true,
    }
}

/// Components ordered by mean, so targets compare component by component.
fn ordered(w: [f64; 2], mu: [f64; 2], var: [f64; 2]) -> ([f64; 2], [f64; 2], [f64; 2]) {
    if mu[0] <= mu[1] {
        (w, mu, [var[0].sqrt(), var[1].sqrt()])
    } else {
        ([w[1], w[0]], [mu[1], mu[0]], [var[1].sqrt(), var[0].sqrt()])
    }
}

fn host_fit<T: crabmix_kernels::Real>(data: &[f64]) -> (Fit, Mixture<T>) {
    let x: Vec<T> = data.iter().map(|&v| T::from_f64(v)).collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(SEED);
    let start = Instant::now();
    let (m, r) = Mixture::<T>::fit(&x, 1, 2, &config::<T>(), &mut rng, false).expect("crab fit");
    let secs = start.elapsed().as_secs_f64();
    let f = |v: &[T]| [v[0].to_f64(), v[1].to_f64()];
    let (w, mu, sd) = ordered(f(m.weights()), f(m.means()), f(m.covariances()));
    let threads = rayon::current_num_threads();
    (
        Fit {
            target: format!("CPU, host path ({threads} threads)"),
            precision: T::NAME.into(),
            weights: w,
            means: mu,
            sds: sd,
            mean_log_likelihood: r.mean_log_likelihood.to_f64(),
            max_abs_dev_vs_f64: None,
            cost: format!("{:.1} ms wall", secs * 1e3),
            seconds: Some(secs),
        },
        m,
    )
}

fn fixed_fit(data: &[f64]) -> Fit {
    let rows: Vec<[f32; 1]> = data.iter().map(|&v| [v as f32]).collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(SEED);
    let start = Instant::now();
    let (m, r) = GaussianMixture::<f32, 2, 1>::fit(&rows, &config::<f32>(), &mut rng).expect("crab fit");
    let secs = start.elapsed().as_secs_f64();
    let g = |k: usize| (m.weights()[k] as f64, m.means()[k][0] as f64, m.covariances()[k][0][0] as f64);
    let (w, mu, sd) = ordered([g(0).0, g(1).0], [g(0).1, g(1).1], [g(0).2, g(1).2]);
    Fit {
        target: "CPU, fixed-size kernels (1 thread, as the firmware)".into(),
        precision: "f32".into(),
        weights: w,
        means: mu,
        sds: sd,
        mean_log_likelihood: r.mean_log_likelihood as f64,
        max_abs_dev_vs_f64: None,
        cost: format!("{:.1} ms wall", secs * 1e3),
        seconds: Some(secs),
    }
}

/// The firmware's crab fit from its `crab-fit … bits …` line (IEEE bits in hex, so the device's
/// values arrive exactly).
fn parse_firmware(log: &str) -> Option<Fit> {
    let fit = crabmix_bench::firmware_log::crab_fit(log)?;
    let (w, mu, sd) = ordered(fit.weights, fit.means, fit.variances);
    Some(Fit {
        target: "MCU, Cortex-M4F (QEMU mps2-an386)".into(),
        precision: "f32".into(),
        weights: w,
        means: mu,
        sds: sd,
        mean_log_likelihood: fit.mean_log_likelihood?,
        max_abs_dev_vs_f64: None,
        cost: String::new(),
        seconds: None,
    })
}

fn max_dev(a: &Fit, reference: &Fit) -> f64 {
    let mut m = (a.mean_log_likelihood - reference.mean_log_likelihood).abs();
    for k in 0..2 {
        m = m
            .max((a.weights[k] - reference.weights[k]).abs())
            .max((a.means[k] - reference.means[k]).abs())
            .max((a.sds[k] - reference.sds[k]).abs());
    }
    m
}

/// The MCU cost line from the firmware's instruction-count JSON, when it was measured.
fn mcu_cost(path: &PathBuf) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return "instructions: not measured (run firmware/run-tests.sh)".into();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return format!("instructions: unreadable {}", path.display());
    };
    let rows = v.as_array().cloned().or_else(|| v["rows"].as_array().cloned()).unwrap_or_default();
    let pick = |kernel: &str, field: &str| {
        rows.iter()
            .find(|r| r["kernel"] == kernel && r["k"] == 2 && r["d"] == 2 && r["kind"] == "full")
            .and_then(|r| r[field].as_f64())
    };
    match (
        pick("estep", "instructions_per_sample_per_component"),
        pick("mstep", "instructions_per_sample_per_component"),
        pick("estep", "floor_flops"),
    ) {
        (Some(e), Some(m), Some(floor)) => format!(
            "E-step {e:.0} insns/sample/component (floor {floor:.0} flops), M-step {m:.0} insns/component (QEMU count, D=2 K=2 full)"
        ),
        _ => "instructions: not measured (firmware/measure-mcu-cost.sh)".into(),
    }
}

fn crab_picture(bins: &[(f64, f64, f64)], fit: &Mixture<f64>) -> String {
    let n: f64 = bins.iter().map(|b| b.2).sum();
    // Component 1 is the one with the smaller mean, as in the table.
    let bars: Vec<(f64, f64, f64)> = bins.iter().map(|&(l, r, c)| (l, r, c / (n * (r - l)))).collect();
    let order = if fit.means()[0] <= fit.means()[1] { [0, 1] } else { [1, 0] };
    let density = |x: f64, k: Option<usize>| {
        (0..2)
            .filter(|&j| k.is_none_or(|k: usize| order[k] == j))
            .map(|j| {
                let (w, m, v) = (fit.weights()[j], fit.means()[j], fit.covariances()[j]);
                w * (-(x - m) * (x - m) / (2.0 * v)).exp() / (2.0 * std::f64::consts::PI * v).sqrt()
            })
            .sum::<f64>()
    };
    let xs: Vec<f64> = (0..=400).map(|i| 0.575 + 0.125 * i as f64 / 400.0).collect();
    let curve = |k| xs.iter().map(|&x| (x, density(x, k))).collect();
    let ymax = bars
        .iter()
        .map(|b| b.2)
        .fold(0.0, f64::max)
        .max(xs.iter().map(|&x| density(x, None)).fold(0.0, f64::max));
    Chart {
        title: "Pearson's crabs: forehead/body-length ratio, two-component mixture (Fig. 4)".into(),
        x_label: "ratio of forehead breadth to body length".into(),
        y_label: "density".into(),
        x_range: (0.575, 0.70),
        y_range: (0.0, ymax * 1.1),
        series: vec![
            Series::Bars { label: "1000 crabs (29 bins)".into(), color: "#c8d3e0".into(), bars },
            Series::Line {
                label: "mixture p(x)".into(),
                color: "black".into(),
                width: 2.5,
                dash: String::new(),
                points: curve(None),
            },
            Series::Line {
                label: "α₁ N(x; μ₁, σ₁²)".into(),
                color: "#d62728".into(),
                width: 2.0,
                dash: "6 4".into(),
                points: curve(Some(0)),
            },
            Series::Line {
                label: "α₂ N(x; μ₂, σ₂²)".into(),
                color: "#1f77b4".into(),
                width: 2.0,
                dash: "6 4".into(),
                points: curve(Some(1)),
            },
        ],
        log_y: false,
    }
    .to_svg()
}

#[derive(Serialize)]
struct Report {
    machine: MachineInfo,
    workload: String,
    fits: Vec<Fit>,
    gpu: String,
}

/// Pearson's crabs fitted on every target (CPU f64/f32, fixed-size kernels, the firmware's log,
/// the GPU when present), compared in one table, with the picture of the fit.
#[derive(Parser)]
#[command(args_override_self = true)]
struct Args {
    /// The firmware app's log (its `crab-fit` line); without it the MCU row is skipped.
    #[arg(long, value_name = "LOG")]
    firmware_log: Option<PathBuf>,
    /// The instruction counts of firmware/measure-mcu-cost.sh, for the MCU row's cost.
    #[arg(
        long = "mcu-cost",
        value_name = "JSON",
        default_value = "firmware/target/measurements/mcu-cost.json"
    )]
    mcu_json: PathBuf,
    /// Output directory: crab-fit.svg, main-job.json.
    #[arg(long, value_name = "DIR", default_value = "out")]
    out: PathBuf,
}

fn main() {
    let Args { firmware_log, mcu_json, out } = Args::parse();
    std::fs::create_dir_all(&out).expect("create output directory");
    let table =
        read_csv::<f64>(std::path::Path::new("data/pearson_crabs.csv")).expect("data/pearson_crabs.csv");
    let data = table.data;

    let (f64_fit, model64) = host_fit::<f64>(&data);
    let (f32_fit, _) = host_fit::<f32>(&data);
    let mut fits = vec![f64_fit.clone(), f32_fit, fixed_fit(&data)];
    match firmware_log.as_ref().map(std::fs::read_to_string) {
        Some(Ok(log)) => match parse_firmware(&log) {
            Some(mut f) => {
                f.cost = mcu_cost(&mcu_json);
                fits.push(f);
            }
            None => eprintln!("main-job: no crab-fit line in the firmware log"),
        },
        Some(Err(e)) => eprintln!("main-job: firmware log: {e}"),
        None => eprintln!("main-job: no --firmware-log given; MCU column skipped"),
    }
    let gpu = crabmix_bench::gpu_status();
    for f in fits.iter_mut().skip(1) {
        f.max_abs_dev_vs_f64 = Some(max_dev(f, &f64_fit));
    }

    let machine = MachineInfo::collect();
    println!();
    println!(
        "Pearson's crabs (1000 bin centres, EM on the points), K = 2, full, k-means++ seed {SEED}, {ITERATIONS} EM iterations"
    );
    println!("machine: {}", machine.summary());
    println!();
    println!(
        "{:<52} {:>4} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>10} {:>10}  cost",
        "target", "prec", "α₁", "α₂", "μ₁", "μ₂", "σ₁", "σ₂", "mean ℓ", "max|Δf64|"
    );
    for f in &fits {
        println!(
            "{:<52} {:>4} {:>8.5} {:>8.5} {:>9.6} {:>9.6} {:>8.6} {:>8.6} {:>10.6} {:>10}  {}",
            f.target,
            f.precision,
            f.weights[0],
            f.weights[1],
            f.means[0],
            f.means[1],
            f.sds[0],
            f.sds[1],
            f.mean_log_likelihood,
            f.max_abs_dev_vs_f64.map_or("—".to_string(), |d| format!("{d:.1e}")),
            f.cost
        );
    }
    println!("{:<52} {}", "GPU", gpu);

    let bins = crabmix_bench::crab_bins();
    let svg = crab_picture(&bins, &model64);
    let svg_path = out.join("crab-fit.svg");
    std::fs::write(&svg_path, svg).expect("write SVG");
    let json_path = out.join("main-job.json");
    let report = Report {
        machine,
        workload: format!("pearson crabs K=2 full kmeans++ seed {SEED} iterations {ITERATIONS}"),
        fits,
        gpu,
    };
    std::fs::write(&json_path, serde_json::to_string_pretty(&report).unwrap() + "\n").expect("write JSON");
    println!();
    println!("picture: {}", svg_path.display());
    println!("figures: {}", json_path.display());
}
