//! `crabmix gmm fit|score|predict|sample` (and `export`, in [`super::export`]).

use super::output::{CliResult, check_output_path, stdout_error, write_atomically};
use clap::{Args, Subcommand, ValueEnum};
use crabmix::backend::{self, Backend, GpuScalar};
use crabmix::gmm::degenerate::degenerate_components;
use crabmix::gmm::json::{FitInfo, ModelJson, parse_model};
use crabmix::gmm::{LowerBounds, Mixture};
use crabmix::io::csv::{CsvRows, read_csv};
use crabmix::io::file::{MAX_MODEL_BYTES, read_to_string_limited};
use crabmix::kernels::Error;
use crabmix::kernels::gmm::{CovarianceKind, FitConfig, InitMethod};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub(super) enum GmmCommand {
    /// Fit a mixture by EM and print (or write) it as JSON.
    Fit(FitArgs),
    /// Print one log density ln p(x) per input row.
    Score(ModelArgs),
    /// Print the most probable component (0-based) per input row.
    Predict(ModelArgs),
    /// Draw samples from a model, as CSV.
    Sample(SampleArgs),
    /// Write a model for a firmware: Rust `const`s or a checksummed binary blob.
    Export(super::export::ExportArgs),
    /// Read the model a firmware printed (its `gmm-model` log line) back as JSON.
    ImportLog(super::export::ImportLogArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Covariance {
    Full,
    Diag,
    Spherical,
}

/// scikit-learn's `init_params` names (`kmeans++` kept as an alias of `k-means++`).
#[derive(Clone, Copy, ValueEnum)]
enum Init {
    /// k-means++ seeds, Lloyd's k-means, then the M-step of the hard labels (scikit-learn's default).
    Kmeans,
    /// k-means++ seeds, then the M-step of the nearest-seed labels.
    #[value(name = "k-means++", alias = "kmeans++")]
    KmeansPlusPlus,
    /// K distinct samples as centres, then the M-step of the nearest-centre labels.
    #[value(name = "random_from_data")]
    RandomFromData,
    /// Random responsibilities (uniform, normalized per sample), then the M-step.
    Random,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Precision {
    F64,
    F32,
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    Cpu,
    Cuda,
    Auto,
}

#[derive(Args)]
pub(super) struct FitArgs {
    /// Numeric CSV, one sample per row (an optional header row is skipped). Held in memory
    /// whole: every EM pass revisits every row.
    data: PathBuf,
    /// Number of mixture components K (1 to 64).
    #[arg(long, short = 'k', value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    components: usize,
    #[arg(long, value_enum, default_value = "full")]
    covariance: Covariance,
    #[arg(long, value_enum, default_value = "kmeans")]
    init: Init,
    /// Initializations; the best final lower bound is kept.
    #[arg(long, default_value_t = 1)]
    n_init: u32,
    /// EM iterations per initialization; 0 returns the initialization itself (n_iter 0).
    #[arg(long, default_value_t = 100)]
    max_iter: u32,
    /// One stderr line per EM iteration: initialization, iteration, lower bound, change.
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Convergence threshold on the change of the mean log-likelihood.
    #[arg(long, default_value_t = 1e-3)]
    tol: f64,
    /// Added to each covariance diagonal.
    #[arg(long, default_value_t = 1e-6)]
    reg_covar: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, value_enum, default_value = "f64")]
    precision: Precision,
    /// Where the E-step runs: cpu (all cores), cuda (error if no device answers), auto (CUDA
    /// when a device answers, else the CPU; the choice is printed on stderr).
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendArg,
    /// Write the model here instead of stdout (written to a temporary file, then renamed).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
}

#[derive(Args)]
pub(super) struct ModelArgs {
    /// Numeric CSV, one sample per row; streamed in chunks, so any length fits in memory.
    data: PathBuf,
    /// Model JSON from `crabmix gmm fit`.
    #[arg(long)]
    model: PathBuf,
}

#[derive(Args)]
pub(super) struct SampleArgs {
    /// Model JSON from `crabmix gmm fit`.
    #[arg(long)]
    model: PathBuf,
    /// Number of samples (1 to 10¹²; streamed, so memory does not grow with it).
    #[arg(short = 'n', long = "n-samples", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_SAMPLES))]
    n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Most rows `gmm sample -n` draws: 10¹² (≈ 10 days of output at 10⁶ rows/s; a bound on a
/// typo such as 2⁶¹, not on memory, which `sample` holds constant).
const MAX_SAMPLES: u64 = 1_000_000_000_000;

fn fit<T: GpuScalar>(a: &FitArgs) -> CliResult {
    if let Some(path) = &a.output {
        check_output_path("--output", path)?;
    }
    let table = read_csv::<T>(&a.data).map_err(|e| e.to_string())?;
    let config = FitConfig {
        kind: match a.covariance {
            Covariance::Full => CovarianceKind::Full,
            Covariance::Diag => CovarianceKind::Diag,
            Covariance::Spherical => CovarianceKind::Spherical,
        },
        init: match a.init {
            Init::Kmeans => InitMethod::KMeans,
            Init::KmeansPlusPlus => InitMethod::KMeansPlusPlus,
            Init::RandomFromData => InitMethod::RandomFromData,
            Init::Random => InitMethod::Random,
        },
        n_init: a.n_init,
        max_iter: a.max_iter,
        tol: T::from_f64(a.tol),
        reg_covar: T::from_f64(a.reg_covar),
        reseed_empty: true,
    };
    let requested = match a.backend {
        BackendArg::Cpu => Backend::Cpu,
        BackendArg::Cuda => Backend::Cuda,
        BackendArg::Auto => Backend::Auto,
    };
    let selected = backend::select(requested, config.kind).map_err(|e| format!("--backend cuda: {e}"))?;
    if requested != Backend::Cpu {
        eprintln!("crabmix: {}", selected.describe());
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(a.seed);
    let progress = std::io::stderr().is_terminal();
    // The progress line and the per-iteration lines would interleave: --verbose replaces it.
    let progress = progress && !a.verbose;
    let mut trace = LowerBounds::new(a.verbose);
    let (model, report): (Mixture<T>, _) = backend::fit(
        &selected,
        &table.data,
        table.cols,
        a.components,
        &config,
        &mut rng,
        progress,
        &mut trace,
    )
    .map_err(|e| match e {
        // Finite data whose spread overflows T (e.g. ±1e308: variance 1e616) makes EM's
        // own parameters non-finite; say that it is the data's scale, not a model file.
        backend::BackendError::Kernels(Error::NonFiniteParameter { .. }) => format!(
            "{}: {e}: EM overflowed {} arithmetic (the data's range is too large for this \
                     precision; rescale the columns)",
            a.data.display(),
            T::NAME
        ),
        e => format!("{}: {e}", a.data.display()),
    })?;
    let mut info = FitInfo::from_report(&model, &report);
    info.lower_bounds = trace.run(report.best_init).to_vec();
    info.warnings.extend(degenerate_components(&model, &table.data, a.reg_covar).iter().map(|g| g.message()));
    for w in &info.warnings {
        eprintln!("crabmix: warning: {w}");
    }
    let json = ModelJson::from_mixture(&model, Some(info));
    let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())? + "\n";
    match &a.output {
        Some(path) => write_atomically(path, text.as_bytes()),
        None => std::io::stdout().write_all(text.as_bytes()).map_err(stdout_error),
    }
}

pub(super) fn load_model(path: &Path) -> Result<Mixture<f64>, String> {
    let text = read_to_string_limited(path, MAX_MODEL_BYTES)?;
    parse_model(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs one `gmm` subcommand.
pub(super) fn run(c: GmmCommand) -> CliResult {
    match c {
        GmmCommand::Fit(a) => match a.precision {
            Precision::F64 => fit::<f64>(&a),
            Precision::F32 => fit::<f32>(&a),
        },
        GmmCommand::Score(a) => score(&a),
        GmmCommand::Predict(a) => predict(&a),
        GmmCommand::Sample(a) => sample(&a),
        GmmCommand::Export(a) => super::export::run(&a),
        GmmCommand::ImportLog(a) => super::export::import_log(&a),
    }
}

/// Rows per chunk of `score`/`predict`: 64 Ki rows × D ≤ 64 values bounds the data held at once
/// (≤ 32 MiB in f64) whatever the file's length; big enough that the parallel per-sample work
/// of each chunk keeps every core busy.
const STREAM_ROWS: usize = 1 << 16;

/// Streams `data` through `model` chunk by chunk and prints one line per row. Memory is bounded
/// by [`STREAM_ROWS`]; a bad row far into the file ends the run with its line and column after
/// the lines of the rows before it were printed (exit status 1).
fn stream_rows<U>(
    a: &ModelArgs,
    per_chunk: impl Fn(&Mixture<f64>, &[f64]) -> crabmix::kernels::Result<Vec<U>>,
    format: impl Fn(&U) -> String,
) -> CliResult {
    let model = load_model(&a.model)?;
    let d = model.shape().features;
    let mut rows = CsvRows::<f64, _>::open(&a.data).map_err(|e| e.to_string())?.expect_columns(d);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut chunk = Vec::new();
    loop {
        let first_row = rows.rows_read();
        let n = rows.next_chunk(STREAM_ROWS, &mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        let values = per_chunk(&model, &chunk)
            .map_err(|e| format!("{}: {}", a.data.display(), e.offset_sample(first_row)))?;
        for v in &values {
            writeln!(out, "{}", format(v)).map_err(stdout_error)?;
        }
    }
    out.flush().map_err(stdout_error)
}

/// `score` prints no non-finite number: a log density that is −∞ in f64 (a point ~10¹⁵⁴ σ
/// from every component) is [`Error::ZeroDensity`] naming the sample (0-based data row).
fn score(a: &ModelArgs) -> CliResult {
    stream_rows(
        a,
        |m, x| {
            let s = m.score_samples(x)?;
            match s.iter().position(|v| !v.is_finite()) {
                Some(sample) => Err(Error::ZeroDensity { sample }),
                None => Ok(s),
            }
        },
        |s| format!("{s:.17e}"),
    )
}

fn predict(a: &ModelArgs) -> CliResult {
    stream_rows(a, |m, x| m.predict(x), |l| l.to_string())
}

fn sample(a: &SampleArgs) -> CliResult {
    let model = load_model(&a.model)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(a.seed);
    let d = model.shape().features;
    // In chunks, so that `-n` is bounded by time, not memory; draws are sequential in one
    // generator, so the output is the same as drawing all `n` at once.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut left = a.n;
    while left > 0 {
        let n = left.min(STREAM_ROWS);
        left -= n;
        let (x, _) = model.sample(n, &mut rng);
        // Finite parameters can still draw beyond f64 (a mean near 1.8e308); never print ±∞.
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "{}: sample {} overflows f64 (the model's means or covariances are too large)",
                a.model.display(),
                (a.n - left - n) + i / d
            ));
        }
        for row in x.chunks(d) {
            let line = row.iter().map(|v| format!("{v:.17e}")).collect::<Vec<_>>().join(",");
            writeln!(out, "{line}").map_err(stdout_error)?;
        }
    }
    out.flush().map_err(stdout_error)
}
