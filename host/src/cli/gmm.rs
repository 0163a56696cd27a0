//! `crabmix gmm fit|score|predict|predict-proba|sample|select` (and `export`, `import-log`, in
//! [`super::export`]).

use super::output::{CliResult, check_output_path, stdout_error, write_atomically};
use clap::{Args, Subcommand, ValueEnum};
use crabmix::backend::{self, Backend, FitHooks, GpuScalar};
use crabmix::gmm::degenerate::degenerate_components;
use crabmix::gmm::json::parse_kind;
use crabmix::gmm::json::{FitInfo, ModelJson, load_model};
use crabmix::gmm::start::{InitModel, Start};
use crabmix::gmm::stream::{CsvEStep, STREAM_CHUNK_ROWS, online_pass, reservoir_rows};
use crabmix::gmm::{LowerBounds, Mixture};
use crabmix::io::csv::{CsvRows, Table, read_csv};
use crabmix::io::file::{MAX_MODEL_BYTES, read_to_string_limited};
use crabmix::io::plot::{Chart, Series};
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
    /// Print the K component probabilities (responsibilities, summing to 1) per input row, as CSV.
    PredictProba(ModelArgs),
    /// Draw samples from a model, as CSV.
    Sample(SampleArgs),
    /// Write a model for a firmware: Rust `const`s or a checksummed binary blob.
    Export(super::export::ExportArgs),
    /// Read the model a firmware printed (its `gmm-model` log line) back as JSON.
    ImportLog(super::export::ImportLogArgs),
    /// Model selection: fit every (covariance kind, K), print BIC and AIC, mark the best, and
    /// optionally draw the BIC curves (scikit-learn's model-selection example).
    Select(SelectArgs),
}

#[derive(Args)]
pub(super) struct SelectArgs {
    /// Numeric CSV, one sample per row (held in memory).
    data: PathBuf,
    /// Component counts: `A..B` (inclusive) or one number.
    #[arg(long, default_value = "1..6", value_parser = parse_range)]
    components: (usize, usize),
    /// `all`, or a comma-separated list of full, diag, spherical, tied.
    #[arg(long, default_value = "all")]
    covariance: String,
    #[command(flatten)]
    em: EmArgs,
    /// Write the BIC curves (one per kind, against K) as SVG here.
    #[arg(long)]
    svg: Option<PathBuf>,
}

/// `A..B` (inclusive, 1 ≤ A ≤ B) or `A`.
fn parse_range(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s.split_once("..").unwrap_or((s, s));
    let num = |t: &str| t.trim().parse::<usize>().map_err(|e| format!("{t:?}: {e}"));
    let (a, b) = (num(a)?, num(b)?);
    if a == 0 || a > b || b > 64 {
        return Err(format!("{s}: need 1 ≤ A ≤ B ≤ 64"));
    }
    Ok((a, b))
}

#[derive(Clone, Copy, ValueEnum)]
enum Covariance {
    Full,
    Diag,
    Spherical,
    Tied,
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

/// The EM options `fit` and `select` share (scikit-learn's `GaussianMixture` arguments).
#[derive(Args)]
struct EmArgs {
    #[arg(long, value_enum, default_value = "kmeans")]
    init: Init,
    /// Initializations; the best final lower bound is kept.
    #[arg(long, default_value_t = 1)]
    n_init: u32,
    /// EM iterations per initialization; 0 returns the initialization itself (n_iter 0).
    #[arg(long, default_value_t = 100)]
    max_iter: u32,
    /// Convergence threshold on the change of the mean log-likelihood.
    #[arg(long, default_value_t = 1e-3)]
    tol: f64,
    /// Added to each covariance diagonal.
    #[arg(long, default_value_t = 1e-6)]
    reg_covar: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

impl EmArgs {
    /// The kernels' settings for a fit of `kind`.
    fn config<T: GpuScalar>(&self, kind: CovarianceKind) -> FitConfig<T> {
        FitConfig {
            kind,
            init: match self.init {
                Init::Kmeans => InitMethod::KMeans,
                Init::KmeansPlusPlus => InitMethod::KMeansPlusPlus,
                Init::RandomFromData => InitMethod::RandomFromData,
                Init::Random => InitMethod::Random,
            },
            n_init: self.n_init,
            max_iter: self.max_iter,
            tol: T::from_f64(self.tol),
            reg_covar: T::from_f64(self.reg_covar),
            reseed_empty: true,
        }
    }
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
    #[command(flatten)]
    em: EmArgs,
    /// One stderr line per EM iteration: initialization, iteration, lower bound, change.
    #[arg(long, short = 'v')]
    verbose: bool,
    #[arg(long, value_enum, default_value = "f64")]
    precision: Precision,
    /// Where the E-step runs: cpu (all cores), cuda (error if no device answers), auto (CUDA
    /// when a device answers, else the CPU; the choice is printed on stderr).
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendArg,
    /// Start from this model JSON (scikit-learn's weights_init/means_init/precisions_init): a
    /// whole model continues EM from it (warm start); a JSON with only some of `weights`,
    /// `means`, `covariances` or `precisions` sets those after each initialization.
    #[arg(long)]
    init_model: Option<PathBuf>,
    /// Sample weights, one number per line (finite, ≥ 0; optional header), one per data row: a
    /// row of weight w counts as w rows (statistics, lower bound, BIC, AIC).
    #[arg(long, conflicts_with = "weight_column")]
    sample_weight: Option<PathBuf>,
    /// Take the sample weights from this column of DATA (0-based), which is then not a feature.
    #[arg(long)]
    weight_column: Option<usize>,
    /// Do not hold the file: initialize on a uniform sample of 65 536 of its rows (all of them
    /// when it has no more; one reading pass), then re-read it in chunks on every EM pass
    /// (memory independent of the number of rows; CPU, no sample weights).
    #[arg(long, conflicts_with_all = ["sample_weight", "weight_column"])]
    stream: bool,
    /// Fit the first 65 536 rows by EM, then run the kernels' online EM once over the rest of
    /// the file (one pass, memory one chunk), then one streamed scoring pass.
    #[arg(long, conflicts_with_all = ["sample_weight", "weight_column", "stream"])]
    online: bool,
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

/// The sample weights of `--sample-weight` or `--weight-column` (that column is removed from
/// `data`, N × `cols`, whose new width is returned), checked finite and ≥ 0 with the row named.
fn sample_weights<T: GpuScalar>(
    a: &FitArgs,
    data: &mut Vec<T>,
    cols: usize,
) -> Result<(Option<Vec<f64>>, usize), String> {
    let weights = match (&a.sample_weight, a.weight_column) {
        (Some(path), _) => {
            let t = read_csv::<f64>(path).map_err(|e| e.to_string())?;
            if t.cols != 1 {
                return Err(format!("{}: {} columns, expected one weight per line", path.display(), t.cols));
            }
            let rows = data.len() / cols.max(1);
            if t.data.len() != rows {
                return Err(format!("{}: {} weights for {rows} data rows", path.display(), t.data.len()));
            }
            (t.data, cols)
        }
        (None, Some(c)) => {
            if c >= cols || cols < 2 {
                return Err(format!(
                    "--weight-column {c}: {} has {cols} columns (a feature must remain)",
                    a.data.display()
                ));
            }
            let w = data.chunks(cols).map(|r| r[c].to_f64()).collect();
            let kept: Vec<T> = data
                .chunks(cols)
                .flat_map(|r| r.iter().enumerate().filter(|(j, _)| *j != c).map(|(_, v)| *v))
                .collect();
            *data = kept;
            (w, cols - 1)
        }
        (None, None) => return Ok((None, cols)),
    };
    let (w, cols) = weights;
    if let Some(i) = w.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
        return Err(format!("sample weight of row {i} is {}: weights must be finite and ≥ 0", w[i]));
    }
    Ok((Some(w), cols))
}

/// The first [`STREAM_CHUNK_ROWS`] rows of `path` (what `--online` fits in batch) and D.
fn first_rows<T: GpuScalar>(path: &Path) -> Result<(Vec<T>, usize), String> {
    let mut rows = CsvRows::<T, _>::open(path).map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    rows.next_chunk(STREAM_CHUNK_ROWS, &mut head).map_err(|e| e.to_string())?;
    Ok((head, rows.cols()))
}

fn fit<T: GpuScalar>(a: &FitArgs) -> CliResult {
    if let Some(path) = &a.output {
        check_output_path("--output", path)?;
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(a.em.seed);
    let mut table = if a.stream {
        // A file of ≤ STREAM_CHUNK_ROWS rows is read whole and draws nothing, so the fit that
        // follows is the in-memory one's.
        let (data, cols, _) = reservoir_rows::<T, _>(&a.data, STREAM_CHUNK_ROWS, &mut rng)?;
        Table { rows: data.len() / cols.max(1), data, cols, header: None }
    } else if a.online {
        let (data, cols) = first_rows::<T>(&a.data)?;
        Table { rows: data.len() / cols.max(1), data, cols, header: None }
    } else {
        read_csv::<T>(&a.data).map_err(|e| e.to_string())?
    };
    let (sample_weight, cols) = sample_weights(a, &mut table.data, table.cols)?;
    table.cols = cols;
    let config = a.em.config::<T>(match a.covariance {
        Covariance::Full => CovarianceKind::Full,
        Covariance::Diag => CovarianceKind::Diag,
        Covariance::Spherical => CovarianceKind::Spherical,
        Covariance::Tied => CovarianceKind::Tied,
    });
    let requested = match a.backend {
        BackendArg::Cpu => Backend::Cpu,
        BackendArg::Cuda => Backend::Cuda,
        BackendArg::Auto => Backend::Auto,
    };
    let selected = backend::select(requested, config.kind).map_err(|e| format!("--backend cuda: {e}"))?;
    if requested != Backend::Cpu {
        eprintln!("crabmix: {}", selected.describe());
    }
    let progress = std::io::stderr().is_terminal();
    let start = match &a.init_model {
        Some(path) => Some(load_start(path, config.kind, a.components, table.cols)?),
        None => None,
    };
    // The progress line and the per-iteration lines would interleave: --verbose replaces it.
    let mut hooks = FitHooks {
        progress: progress && !a.verbose,
        trace: LowerBounds::new(a.verbose),
        start,
        sample_weight,
        stream: a.stream.then(|| a.data.clone()),
        stream_error: None,
    };
    let (model, report): (Mixture<T>, _) =
        backend::fit(&selected, &table.data, table.cols, a.components, &config, &mut rng, &mut hooks)
            .map_err(|e| match e {
                // Finite data whose spread overflows T (e.g. ±1e308: variance 1e616) makes EM's
                // own parameters non-finite; say that it is the data's scale, not a model file.
                backend::BackendError::Kernels(Error::NonFiniteParameter { .. }) => format!(
                    "{}: {e}: EM overflowed {} arithmetic (the data's range is too large for this \
                     precision; rescale the columns)",
                    a.data.display(),
                    T::NAME
                ),
                e => match hooks.stream_error.take() {
                    Some(csv) => csv,
                    None => format!("{}: {e}", a.data.display()),
                },
            })?;
    let (model, report) = if a.online {
        let mut model = model;
        online_pass(&mut model, &a.data, table.rows, config.reg_covar)?;
        // Score the result with one streamed pass (EM with max_iter 0: no iteration).
        let score = FitConfig { max_iter: 0, ..config };
        let mut csv = CsvEStep::<T>::new(a.data.clone(), table.cols);
        let report = model
            .refine_with(&score, &mut csv)
            .map_err(|e| csv.error.take().unwrap_or_else(|| format!("{}: {e}", a.data.display())))?;
        (report.0, report.1)
    } else {
        (model, report)
    };
    let mut info = FitInfo::from_report(&model, &report);
    // --online: the history of the initial batch fit on the first rows is not this model's.
    if !a.online {
        info.lower_bounds = hooks.trace.run(report.best_init).to_vec();
    }
    info.warnings
        .extend(degenerate_components(&model, &table.data, a.em.reg_covar).iter().map(|g| g.message()));
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

/// The `--init-model` file, checked against the fit's kind, K and D (errors name the file).
fn load_start(path: &Path, kind: CovarianceKind, k: usize, d: usize) -> Result<Start, String> {
    let text = read_to_string_limited(path, MAX_MODEL_BYTES)?;
    let json: InitModel = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    json.resolve(kind, k, d).map_err(|e| format!("{}: {e}", path.display()))
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
        GmmCommand::PredictProba(a) => predict_proba(&a),
        GmmCommand::Sample(a) => sample(&a),
        GmmCommand::Export(a) => super::export::run(&a),
        GmmCommand::ImportLog(a) => super::export::import_log(&a),
        GmmCommand::Select(a) => select(&a),
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

fn predict_proba(a: &ModelArgs) -> CliResult {
    stream_rows(
        a,
        |m, x| {
            let k = m.shape().components;
            Ok(m.predict_proba(x)?.chunks(k).map(<[f64]>::to_vec).collect())
        },
        |row: &Vec<f64>| row.iter().map(|p| format!("{p:.17e}")).collect::<Vec<_>>().join(","),
    )
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

/// `gmm select`: one fit per (kind, K) with the same seed, a table of BIC and AIC with the best
/// of each marked (`*`), and the BIC curves as SVG (lower is better).
fn select(a: &SelectArgs) -> CliResult {
    let kinds: Vec<CovarianceKind> = if a.covariance == "all" {
        vec![CovarianceKind::Full, CovarianceKind::Diag, CovarianceKind::Spherical, CovarianceKind::Tied]
    } else {
        a.covariance
            .split(',')
            .map(|t| parse_kind(t.trim()))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("--covariance: {e}"))?
    };
    if let Some(path) = &a.svg {
        check_output_path("--svg", path)?;
    }
    let table = read_csv::<f64>(&a.data).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for &kind in &kinds {
        for k in a.components.0..=a.components.1 {
            let config = a.em.config::<f64>(kind);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(a.em.seed);
            let (model, report) = Mixture::fit(&table.data, table.cols, k, &config, &mut rng, false)
                .map_err(|e| format!("{}: {} K = {k}: {e}", a.data.display(), kind.name()))?;
            let info = FitInfo::from_report(&model, &report);
            rows.push((kind, k, info.bic, info.aic, info.converged));
        }
    }
    let best = |f: fn(&(CovarianceKind, usize, f64, f64, bool)) -> f64| {
        rows.iter()
            .map(f)
            .enumerate()
            .fold((0, f64::INFINITY), |b, (i, v)| if v < b.1 { (i, v) } else { b })
            .0
    };
    let (best_bic, best_aic) = (best(|r| r.2), best(|r| r.3));
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(out, "{:<10} {:>3} {:>18}   {:>18}   converged", "covariance", "K", "BIC", "AIC")
        .map_err(stdout_error)?;
    for (i, (kind, k, bic, aic, converged)) in rows.iter().enumerate() {
        let mark = |j: usize| if i == j { "*" } else { " " };
        writeln!(
            out,
            "{:<10} {k:>3} {bic:>18.6} {} {aic:>18.6} {} {converged}",
            kind.name(),
            mark(best_bic),
            mark(best_aic)
        )
        .map_err(stdout_error)?;
    }
    let (kind, k, ..) = rows[best_bic];
    writeln!(out, "best by BIC: {} K = {k}", kind.name()).map_err(stdout_error)?;
    out.flush().map_err(stdout_error)?;
    if let Some(path) = &a.svg {
        write_atomically(
            path,
            bic_chart(&rows.iter().map(|r| (r.0, r.1, r.2)).collect::<Vec<_>>()).as_bytes(),
        )?;
    }
    Ok(())
}

/// BIC against K, one line per covariance kind, through the project's one SVG writer.
fn bic_chart(rows: &[(CovarianceKind, usize, f64)]) -> String {
    let colors = ["steelblue", "darkorange", "seagreen", "firebrick"];
    let kinds: Vec<CovarianceKind> = rows.iter().fold(Vec::new(), |mut v, r| {
        if !v.contains(&r.0) {
            v.push(r.0);
        }
        v
    });
    let series = kinds
        .iter()
        .enumerate()
        .map(|(i, &kind)| Series::Line {
            label: kind.name().into(),
            color: colors[i % colors.len()].into(),
            width: 1.5,
            dash: String::new(),
            points: rows
                .iter()
                .filter(|r| r.0 == kind && r.2.is_finite())
                .map(|r| (r.1 as f64, r.2))
                .collect(),
        })
        .collect();
    let finite = || rows.iter().map(|r| r.2).filter(|v| v.is_finite());
    let (lo, hi) = (finite().fold(f64::INFINITY, f64::min), finite().fold(f64::NEG_INFINITY, f64::max));
    let pad = ((hi - lo) * 0.05).max(1e-9);
    let (k_lo, k_hi) =
        (rows.iter().map(|r| r.1).min().unwrap_or(1), rows.iter().map(|r| r.1).max().unwrap_or(2));
    Chart {
        title: "BIC per covariance type (lower is better)".into(),
        x_label: "components K".into(),
        y_label: "BIC".into(),
        x_range: (k_lo as f64, k_hi.max(k_lo + 1) as f64),
        y_range: (lo - pad, hi + pad),
        series,
        log_y: false,
    }
    .to_svg()
}
