//! `crabmix`: fit, score, predict and sample Gaussian mixtures from CSV files.

mod cli_models;

use clap::{Args, Parser, Subcommand, ValueEnum};
use crabmix::backend::{self, Backend, GpuScalar};
use crabmix::csv_data::read_csv;
use crabmix::gmm::Mixture;
use crabmix::kernels::gmm::{CovarianceKind, FitConfig, InitMethod};
use crabmix::model_json::{FitInfo, ModelJson};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "crabmix", version, about = "Gaussian mixtures (and more) from the crabmix kernels")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Gaussian mixture models.
    #[command(subcommand)]
    Gmm(GmmCommand),
    /// Variational autoencoders (lecture §3).
    #[command(subcommand)]
    Vae(cli_models::VaeCommand),
    /// Wasserstein GANs on the 8-Gaussian ring (lecture §4).
    #[command(subcommand)]
    Wgan(cli_models::WganCommand),
}

#[derive(Subcommand)]
enum GmmCommand {
    /// Fit a mixture by EM and print (or write) it as JSON.
    Fit(FitArgs),
    /// Print one log density ln p(x) per input row.
    Score(ModelArgs),
    /// Print the most probable component (0-based) per input row.
    Predict(ModelArgs),
    /// Draw samples from a model, as CSV.
    Sample(SampleArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Covariance {
    Full,
    Diag,
    Spherical,
}

#[derive(Clone, Copy, ValueEnum)]
enum Init {
    #[value(name = "kmeans++")]
    KmeansPlusPlus,
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
struct FitArgs {
    /// Numeric CSV, one sample per row (an optional header row is skipped).
    data: PathBuf,
    /// Number of mixture components K.
    #[arg(long, short = 'k')]
    components: usize,
    #[arg(long, value_enum, default_value = "full")]
    covariance: Covariance,
    #[arg(long, value_enum, default_value = "kmeans++")]
    init: Init,
    /// Initializations; the best final lower bound is kept.
    #[arg(long, default_value_t = 1)]
    n_init: u32,
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
struct ModelArgs {
    /// Numeric CSV, one sample per row.
    data: PathBuf,
    /// Model JSON from `crabmix gmm fit`.
    #[arg(long)]
    model: PathBuf,
}

#[derive(Args)]
struct SampleArgs {
    /// Model JSON from `crabmix gmm fit`.
    #[arg(long)]
    model: PathBuf,
    /// Number of samples.
    #[arg(short = 'n', long = "n-samples")]
    n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Gmm(GmmCommand::Fit(a)) => match a.precision {
            Precision::F64 => fit::<f64>(&a),
            Precision::F32 => fit::<f32>(&a),
        },
        Command::Gmm(GmmCommand::Score(a)) => score(&a),
        Command::Gmm(GmmCommand::Predict(a)) => predict(&a),
        Command::Gmm(GmmCommand::Sample(a)) => sample(&a),
        Command::Vae(c) => cli_models::run_vae(c),
        Command::Wgan(c) => cli_models::run_wgan(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crabmix: error: {e}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<(), String>;

fn fit<T: GpuScalar>(a: &FitArgs) -> CliResult {
    let table = read_csv::<T>(&a.data).map_err(|e| e.to_string())?;
    let config = FitConfig {
        kind: match a.covariance {
            Covariance::Full => CovarianceKind::Full,
            Covariance::Diag => CovarianceKind::Diag,
            Covariance::Spherical => CovarianceKind::Spherical,
        },
        init: match a.init {
            Init::KmeansPlusPlus => InitMethod::KMeansPlusPlus,
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
    let (model, report): (Mixture<T>, _) =
        backend::fit(&selected, &table.data, table.cols, a.components, &config, &mut rng, progress)
            .map_err(|e| format!("{}: {e}", a.data.display()))?;
    let json = ModelJson::from_mixture(&model, Some(FitInfo::from_report(&model, &report)));
    let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())? + "\n";
    match &a.output {
        Some(path) => write_atomically(path, text.as_bytes()),
        None => std::io::stdout().write_all(text.as_bytes()).map_err(|e| e.to_string()),
    }
}

/// Writes to `path.tmp` and renames, so a failure never leaves a half-written model.
fn write_atomically(path: &Path, bytes: &[u8]) -> CliResult {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

fn load_model(path: &Path) -> Result<Mixture<f64>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: ModelJson = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    json.to_mixture::<f64>().map_err(|e| format!("{}: {e}", path.display()))
}

fn load_data_for(model: &Mixture<f64>, data: &Path) -> Result<Vec<f64>, String> {
    let table = read_csv::<f64>(data).map_err(|e| e.to_string())?;
    let d = model.shape().features;
    if table.cols != d {
        return Err(format!("{}: {} columns, but the model has {d} features", data.display(), table.cols));
    }
    Ok(table.data)
}

fn print_lines<I: IntoIterator<Item = String>>(lines: I) -> CliResult {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for l in lines {
        writeln!(out, "{l}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

fn score(a: &ModelArgs) -> CliResult {
    let model = load_model(&a.model)?;
    let data = load_data_for(&model, &a.data)?;
    let scores = model.score_samples(&data).map_err(|e| e.to_string())?;
    print_lines(scores.into_iter().map(|s| format!("{s:.17e}")))
}

fn predict(a: &ModelArgs) -> CliResult {
    let model = load_model(&a.model)?;
    let data = load_data_for(&model, &a.data)?;
    let labels = model.predict(&data).map_err(|e| e.to_string())?;
    print_lines(labels.into_iter().map(|l| l.to_string()))
}

fn sample(a: &SampleArgs) -> CliResult {
    let model = load_model(&a.model)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(a.seed);
    let (x, _) = model.sample(a.n, &mut rng);
    let d = model.shape().features;
    print_lines(x.chunks(d).map(|row| row.iter().map(|v| format!("{v:.17e}")).collect::<Vec<_>>().join(",")))
}
