//! `crabmix vae …` and `crabmix wgan …`: the lecture's two generative networks from the command
//! line, at any shape (subcommands and their handlers; `main.rs` only dispatches here).
//!
//! Order of work in every training command: parse and bound the options (clap), check every
//! output path, read and check the data, train, check the result is finite, then write. An
//! error at any point writes nothing.

use super::output::{CliResult, check_output_path, stdout_error, write_atomically as write_file};
use clap::{Args, Subcommand, ValueEnum};
use crabmix::io::csv::{CsvRows, Table, read_csv};
use crabmix::io::plot;
use crabmix::kernels::gaussian::standard_normal;
use crabmix::kernels::models::WganConfig;
use crabmix::train::data::{Standardization, check_unit_interval, gather, validation_split};
use crabmix::train::params::params_f32;
use crabmix::train::vae_model::{
    self, LikelihoodKind, VaeArch, VaeJson, VaeModel, VaeTrainConfig, VaeTrainInfo, check_widths,
};
use crabmix::train::wgan;
use crabmix::train::wgan_model::{self, WganArch, WganJson, WganModel};
use indicatif::{ProgressBar, ProgressStyle};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum VaeCommand {
    /// Train a VAE on a CSV (rows = samples) and write the model as JSON.
    Train(VaeTrainArgs),
    /// Decode N draws z ~ N(0, I): one row of decoded means per sample, as CSV (streamed).
    Sample(SampleArgs),
    /// Encode each CSV row: μ_1..μ_Z, then ln σ²_1..ln σ²_Z, as CSV.
    Encode(DataArgs),
    /// Decode each CSV row of latent points (Z columns): decoded means, as CSV.
    Decode(DataArgs),
    /// Write the latent-traversal grid (lecture Fig. 7) of a trained model as SVG.
    Traverse(VaeTraverseArgs),
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub enum LikelihoodArg {
    /// Values in [0, 1] as Bernoulli probabilities (decoder outputs logits).
    Bernoulli,
    /// Unit-variance Gaussian (eq 16–17; decoder outputs means).
    Gaussian,
    /// Gaussian with a learned variance per feature.
    GaussianLearned,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Debug)]
pub enum BackendArg {
    /// All CPU cores (rayon; the same result for any thread count).
    Cpu,
    /// The CUDA pipeline; an error when no device answers or the model has no device kernels.
    Cuda,
    /// CUDA when a device answers and the model has device kernels, else the CPU.
    Auto,
}

#[derive(Args)]
pub struct VaeTrainArgs {
    /// Numeric CSV, one sample per row (an optional header row is skipped).
    data: PathBuf,
    /// Latent dimension Z (1 to 65 536).
    #[arg(long, default_value_t = 2, value_parser = bounded(1, MAX_WIDTH))]
    latent: usize,
    /// Hidden widths, comma-separated (`256,128`: X → 256 → 128 → Z, decoder mirrored); each 1
    /// to 65 536, at most 16 layers.
    #[arg(long, default_value = "64", value_parser = widths)]
    hidden: Widths,
    /// Passes over the data (1 to 10⁶).
    #[arg(long, default_value_t = 100, value_parser = bounded(1, MAX_EPOCHS))]
    epochs: usize,
    /// Minibatch size (1 to 65 536; above the training rows it is clamped to them, with a note).
    #[arg(long, default_value_t = 32, value_parser = bounded(1, MAX_BATCH))]
    batch: usize,
    /// Adam learning rate (finite, > 0).
    #[arg(long, default_value_t = 1e-3, value_parser = positive_finite::<f64>)]
    lr: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, value_enum, default_value = "bernoulli")]
    likelihood: LikelihoodArg,
    /// Standardize each feature to mean 0, variance 1 on the training rows (stored in the model;
    /// Gaussian likelihoods only).
    #[arg(long)]
    standardize: bool,
    /// Fraction of rows held out (deterministic for a seed); their ELBO is printed per epoch and
    /// kept in the model file.
    #[arg(long, default_value_t = 0.0, value_parser = fraction)]
    validation: f64,
    /// Where training runs (the choice is printed on stderr).
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendArg,
    /// Model JSON to write.
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Also write the training-ELBO curve here (SVG).
    #[arg(long)]
    curve: Option<PathBuf>,
    /// Also write the latent-traversal grid here (SVG; square images only).
    #[arg(long)]
    traversal: Option<PathBuf>,
}

#[derive(Args)]
pub struct SampleArgs {
    /// Model JSON.
    #[arg(long)]
    model: PathBuf,
    /// Rows to print (1 to 10⁹; streamed, so memory does not grow with it).
    #[arg(short = 'n', long = "n-samples", value_parser = bounded(1, MAX_SAMPLES))]
    n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
pub struct DataArgs {
    /// Numeric CSV (data rows for encode and critic, latent rows for decode); streamed.
    data: PathBuf,
    /// Model JSON.
    #[arg(long)]
    model: PathBuf,
}

#[derive(Args)]
pub struct VaeTraverseArgs {
    /// Model JSON from `crabmix vae train`.
    #[arg(long)]
    model: PathBuf,
    /// SVG to write.
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Values per latent coordinate, evenly spaced over [−3, 3] (2 to 33).
    #[arg(long, default_value_t = 9, value_parser = bounded(2, MAX_STEPS))]
    steps: usize,
}

#[derive(Subcommand)]
pub enum WganCommand {
    /// Train a WGAN on a CSV (or the built-in 8-Gaussian ring, `--demo ring`) and write the model.
    Train(WganTrainArgs),
    /// Print N generated rows G(z), z ~ N(0, I), as CSV (streamed).
    Sample(SampleArgs),
    /// Print the critic's value D(x) for each CSV row, one per line.
    Critic(DataArgs),
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub enum LipschitzArg {
    /// Gradient penalty λ = 10, two-time-scale Adam (see `wgan::ring_config_gp`).
    Gp,
    /// Weight clipping, the WGAN paper's settings: c = 0.01, RMSProp 5e-5.
    Clip,
    /// Spectral normalization (projection), Adam 1e-4, β = (0.5, 0.9).
    Sn,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub enum DemoArg {
    /// The 8-Gaussian ring (radius 2, σ 0.02), networks 2 → 64 → 64 → 2 and 2 → 64 → 64 → 1.
    Ring,
}

#[derive(Args)]
pub struct WganTrainArgs {
    /// Numeric CSV, one sample per row (omit with --demo).
    #[arg(required_unless_present = "demo", conflicts_with = "demo")]
    data: Option<PathBuf>,
    /// Train on built-in data instead of a file.
    #[arg(long, value_enum)]
    demo: Option<DemoArg>,
    #[arg(long, value_enum, default_value = "gp")]
    lipschitz: LipschitzArg,
    /// Latent dimension Z (1 to 65 536).
    #[arg(long, default_value_t = 2, value_parser = bounded(1, MAX_WIDTH))]
    latent: usize,
    /// Hidden widths of both networks, comma-separated (each 1 to 65 536, at most 16 layers).
    #[arg(long, default_value = "64,64", value_parser = widths)]
    hidden: Widths,
    /// Standardize each feature to mean 0, variance 1 (stored in the model).
    #[arg(long)]
    standardize: bool,
    /// Generator iterations, each after 5 critic steps (1 to 10⁷).
    #[arg(long, default_value_t = 4000, value_parser = bounded(1, MAX_ITERATIONS))]
    iterations: usize,
    /// Minibatch size (1 to 65 536; above the rows it is clamped to them, with a note).
    #[arg(long, default_value_t = 64, value_parser = bounded(1, MAX_BATCH))]
    batch: usize,
    /// Override the learning rate of both networks (finite, > 0).
    #[arg(long, value_parser = positive_finite::<f32>)]
    lr: Option<f32>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where training runs, printed on stderr: the device pipeline (every Lipschitz rule) on a
    /// build with `--features cuda`; `auto` falls back to the CPU when no device answers.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendArg,
    /// Model JSON to write.
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Also write a scatter plot of real vs generated samples, first two features (SVG).
    #[arg(long)]
    scatter: Option<PathBuf>,
    /// Also write the critic's W₁ estimate per iteration (SVG).
    #[arg(long)]
    curve: Option<PathBuf>,
}

/// Runs one `crabmix vae` subcommand.
pub fn run_vae(cmd: VaeCommand) -> CliResult {
    match cmd {
        VaeCommand::Train(a) => vae_train(&a),
        VaeCommand::Sample(a) => vae_sample(&a),
        VaeCommand::Encode(a) => vae_encode(&a),
        VaeCommand::Decode(a) => vae_decode(&a),
        VaeCommand::Traverse(a) => {
            check_output_path("--output", &a.output)?;
            let model = load_vae(&a.model)?;
            write_file(&a.output, traversal_svg(&model, a.steps)?.as_bytes())
        }
    }
}

/// Runs one `crabmix wgan` subcommand.
pub fn run_wgan(cmd: WganCommand) -> CliResult {
    match cmd {
        WganCommand::Train(a) => wgan_train(&a),
        WganCommand::Sample(a) => wgan_sample(&a),
        WganCommand::Critic(a) => wgan_critic(&a),
    }
}

/// Largest `--epochs`: 10⁶ passes (an hour-long run on the digits is ~10⁵).
const MAX_EPOCHS: u64 = 1_000_000;
/// Largest `--iterations` of the WGAN.
const MAX_ITERATIONS: u64 = 10_000_000;
/// Largest `--batch`: the minibatch's activations are held at once.
const MAX_BATCH: u64 = 65_536;
/// Largest `-n` of `sample`: rows are streamed, so this bounds time, not memory.
const MAX_SAMPLES: u64 = 1_000_000_000;
/// Largest `traverse --steps`: the SVG holds Z × steps images.
const MAX_STEPS: u64 = 33;
/// Largest latent size a traversal shows (one row of images per coordinate).
const MAX_TRAVERSAL_ROWS: usize = 64;
/// Largest width of a layer, features or latent size.
const MAX_WIDTH: u64 = vae_model::MAX_WIDTH as u64;
/// Largest model file read (a model at the parameter limit is ≈ 400 MB of JSON).
const MAX_MODEL_BYTES: u64 = 1 << 30;
/// Rows per chunk when streaming a CSV through a model.
const STREAM_ROWS: usize = 1 << 14;

/// A `usize` option within [lo, hi], with clap's message naming the option and the range.
fn bounded(lo: u64, hi: u64) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(lo..=hi)
}

/// A learning rate: finite and > 0 (0 or a negative rate trains nothing, or diverges).
fn positive_finite<T: std::str::FromStr + Into<f64> + Copy>(s: &str) -> Result<T, String> {
    let v: T = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    let x: f64 = v.into();
    if x.is_finite() && x > 0.0 { Ok(v) } else { Err(format!("must be finite and > 0, not {s}")) }
}

/// A fraction in [0, 1).
fn fraction(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..1.0).contains(&v) { Ok(v) } else { Err(format!("must be in [0, 1), not {s}")) }
}

/// Hidden widths from the command line.
#[derive(Clone, Debug)]
pub struct Widths(Vec<usize>);

/// `256,128` → [256, 128]; each width 1 to [`MAX_WIDTH`], at most 16 layers.
fn widths(s: &str) -> Result<Widths, String> {
    let v: Vec<usize> = s
        .split(',')
        .map(|t| t.trim().parse::<usize>().map_err(|_| format!("`{t}` is not a layer width (e.g. 256,128)")))
        .collect::<Result<_, _>>()?;
    check_widths("widths", &v)?;
    Ok(Widths(v))
}

fn print_rows(out: &mut impl Write, row: &[f32]) -> CliResult {
    let mut line = String::with_capacity(row.len() * 16);
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&format!("{v:.9e}"));
    }
    writeln!(out, "{line}").map_err(stdout_error)
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
fn progress(total: usize, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total as u64);
    let style = ProgressStyle::with_template(&format!(
        "{{bar:30}} {{pos}}/{{len}} {what} {{msg}} [{{elapsed}}<{{eta}}]"
    ))
    .expect("a valid template");
    pb.set_style(style);
    pb
}

fn read_table(path: &Path) -> Result<Table<f32>, String> {
    read_csv::<f32>(path).map_err(|e| e.to_string())
}

/// Reads a model file (at most [`MAX_MODEL_BYTES`]: `--model /dev/zero` fails at once).
fn read_model_text(path: &Path) -> Result<String, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut text = String::new();
    f.take(MAX_MODEL_BYTES + 1).read_to_string(&mut text).map_err(|e| format!("{}: {e}", path.display()))?;
    if text.len() as u64 > MAX_MODEL_BYTES {
        return Err(format!("{}: larger than {MAX_MODEL_BYTES} bytes, not a model file", path.display()));
    }
    Ok(text)
}

/// Clamps `batch` to `rows`, saying so on stderr (the documented rule for a batch larger than
/// the data).
fn clamp_batch(batch: usize, rows: usize) -> usize {
    if batch > rows {
        eprintln!("crabmix: note: --batch {batch} is larger than the {rows} training rows; using {rows}");
        rows
    } else {
        batch
    }
}

fn vae_train(a: &VaeTrainArgs) -> CliResult {
    let sides = [("--curve", &a.curve), ("--traversal", &a.traversal)];
    check_output_path("--output", &a.output)?;
    for (option, p) in sides {
        if let Some(p) = p {
            check_output_path(option, p)?;
        }
    }
    let likelihood = match a.likelihood {
        LikelihoodArg::Bernoulli => LikelihoodKind::Bernoulli,
        LikelihoodArg::Gaussian => LikelihoodKind::Gaussian,
        LikelihoodArg::GaussianLearned => LikelihoodKind::GaussianLearned,
    };
    if a.standardize && likelihood == LikelihoodKind::Bernoulli {
        return Err(
            "--standardize needs a Gaussian likelihood (standardized values are not in [0, 1])".into()
        );
    }
    let table = read_table(&a.data)?;
    let name = a.data.display().to_string();
    if likelihood == LikelihoodKind::Bernoulli {
        check_unit_interval(&table, &name)?;
    }
    let arch = VaeArch { features: table.cols, hidden: a.hidden.0.clone(), latent: a.latent, likelihood };
    arch.validate()?;
    if a.traversal.is_some() {
        traversal_side(table.cols, a.latent)?;
    }
    let (train_idx, val_idx) = validation_split(table.rows, a.validation, a.seed)?;
    let train = gather(&table.data, table.cols, &train_idx);
    let validation = gather(&table.data, table.cols, &val_idx);
    let standardize = a.standardize.then(|| Standardization::fit(&train, table.cols));
    let batch = clamp_batch(a.batch, train_idx.len());
    let config = VaeTrainConfig { epochs: a.epochs, batch, lr: a.lr };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(a.seed);
    let mut model = VaeModel::new(arch, standardize, &mut rng)?;
    let device = select_device(a.backend)?;
    let pb = progress(a.epochs, "epochs");
    let quiet = pb.is_hidden();
    let mut on_epoch = |e: usize, elbo: f64, val: Option<f64>| {
        pb.set_position(e as u64 + 1);
        match val {
            Some(v) => {
                let line = format!("epoch {}/{}: ELBO {elbo:.4}, validation ELBO {v:.4}", e + 1, a.epochs);
                if quiet {
                    eprintln!("{line}")
                } else {
                    pb.println(line)
                }
                pb.set_message(format!("ELBO {elbo:.4} (validation {v:.4})"));
            }
            None => pb.set_message(format!("ELBO {elbo:.4}")),
        }
    };
    let val_seed = a.seed ^ 0x5641_4c5f_454c_424f;
    let curves = match device {
        None => vae_model::train(&mut model, &train, &validation, &config, &mut rng, val_seed, &mut on_epoch),
        Some(dev) => {
            vae_train_device(dev, &mut model, &train, &validation, &config, &mut rng, val_seed, &mut on_epoch)
        }
    }
    .map_err(|e| format!("{name}: {e}; nothing written"))?;
    pb.finish_and_clear();
    if let Some(last) = curves.elbo_per_epoch.last() {
        let val = curves
            .validation_elbo_per_epoch
            .last()
            .map(|v| format!(", validation ELBO {v:.4}"))
            .unwrap_or_default();
        eprintln!(
            "trained {} epochs on {} rows; final epoch ELBO {last:.4} nats/sample{val}",
            a.epochs,
            train_idx.len()
        );
    }
    let info = VaeTrainInfo { config, seed: a.seed, validation: a.validation, curves: curves.clone() };
    let json = model.to_json(Some(info)).ok_or("training left a non-finite parameter; nothing written")?;
    let text = serde_json::to_string(&json).map_err(|e| e.to_string())? + "\n";
    write_file(&a.output, text.as_bytes())?;
    if let Some(p) = &a.curve {
        let svg =
            plot::line_chart("VAE training ELBO (nats per sample)", "epoch", "ELBO", &curves.elbo_per_epoch);
        write_file(p, svg.as_bytes())?;
    }
    if let Some(p) = &a.traversal {
        write_file(p, traversal_svg(&model, 9)?.as_bytes())?;
    }
    Ok(())
}

/// The device for `--backend` of `vae train` and `wgan train` (None: the CPU), printing the
/// choice on stderr. Every VAE likelihood and WGAN Lipschitz rule has device kernels, so only a
/// missing or failing device makes `auto` fall back.
fn select_device(b: BackendArg) -> Result<Option<DeviceHandle>, String> {
    if b == BackendArg::Cpu {
        eprintln!("crabmix: backend: cpu");
        return Ok(None);
    }
    match open_device() {
        Ok(d) => {
            eprintln!("crabmix: backend: {}", d.describe());
            Ok(Some(d))
        }
        Err(e) if b == BackendArg::Cuda => Err(format!("--backend cuda: {e}")),
        Err(e) => {
            eprintln!("crabmix: backend: cpu ({e})");
            Ok(None)
        }
    }
}

/// An opened CUDA device.
type DeviceHandle = std::sync::Arc<crabmix::device::cuda::CudaDevice>;

trait Describe {
    fn describe(&self) -> String;
}

impl Describe for DeviceHandle {
    fn describe(&self) -> String {
        format!("cuda ({}, {})", self.name(), self.arch())
    }
}

fn open_device() -> Result<DeviceHandle, String> {
    crabmix::device::cuda::CudaDevice::open(0).map_err(|e| e.to_string())
}

#[allow(clippy::too_many_arguments)]
fn vae_train_device(
    dev: DeviceHandle,
    model: &mut VaeModel,
    train: &[f32],
    validation: &[f32],
    config: &VaeTrainConfig,
    rng: &mut Xoshiro256PlusPlus,
    val_seed: u64,
    on_epoch: &mut dyn FnMut(usize, f64, Option<f64>),
) -> Result<vae_model::VaeCurves, String> {
    #[cfg(feature = "cuda")]
    {
        vae_model::train_on_device(&dev, model, train, validation, config, rng, val_seed, on_epoch)
    }
    #[cfg(not(feature = "cuda"))]
    {
        // The stub's device cannot be opened, so this is never reached without the feature.
        let _ = (dev, model, train, validation, config, rng, val_seed, on_epoch);
        Err("built without the cuda feature".into())
    }
}

#[allow(clippy::too_many_arguments)]
fn wgan_train_device(
    dev: DeviceHandle,
    model: &mut WganModel,
    data: &[f32],
    config: &WganConfig<f32>,
    iterations: usize,
    batch: usize,
    rng: &mut Xoshiro256PlusPlus,
    on_iteration: impl FnMut(usize, f64),
) -> Result<Vec<f64>, String> {
    #[cfg(feature = "cuda")]
    {
        wgan_model::train_on_device(&dev, model, data, config, iterations, batch, rng, on_iteration)
    }
    #[cfg(not(feature = "cuda"))]
    {
        // The stub's device cannot be opened, so this is never reached without the feature.
        let _ = (dev, model, data, config, iterations, batch, rng, on_iteration);
        Err("built without the cuda feature".into())
    }
}

fn load_vae(path: &Path) -> Result<VaeModel, String> {
    let text = read_model_text(path)?;
    let json: VaeJson = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    VaeModel::from_json(&json).map_err(|e| format!("{}: {e}", path.display()))
}

fn vae_sample(a: &SampleArgs) -> CliResult {
    let model = load_vae(&a.model)?;
    let z_dim = model.arch().latent;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(a.seed);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut z = vec![0.0f32; z_dim];
    for i in 0..a.n {
        z.iter_mut().for_each(|v| *v = standard_normal(&mut rng));
        let x = model.decode(&z).map_err(|e| format!("sample {}: {e}", i + 1))?;
        print_rows(&mut out, &x)?;
    }
    out.flush().map_err(stdout_error)
}

/// Streams the rows of `path` (each `cols` wide) through `f`, printing one CSV line per row;
/// errors name the file's line.
fn stream_csv(
    path: &Path,
    cols: usize,
    what: &str,
    mut f: impl FnMut(&[f32]) -> Result<Vec<f32>, String>,
) -> CliResult {
    let mut rows = CsvRows::<f32, _>::open(path).map_err(|e| e.to_string())?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut chunk = Vec::new();
    loop {
        let first = rows.rows_read();
        let n = rows.next_chunk(STREAM_ROWS, &mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        if rows.cols() != cols {
            return Err(format!(
                "{}: {} columns, the model has {cols} {what} (it was trained on {cols}-column rows)",
                path.display(),
                rows.cols()
            ));
        }
        let header = usize::from(rows.header().is_some());
        for (i, r) in chunk.chunks_exact(cols).enumerate() {
            let line = first + i + 1 + header;
            let y = f(r).map_err(|e| format!("{}:{line}: {e}", path.display()))?;
            print_rows(&mut out, &y)?;
        }
    }
    out.flush().map_err(stdout_error)
}

fn vae_encode(a: &DataArgs) -> CliResult {
    let model = load_vae(&a.model)?;
    let bernoulli = model.arch().likelihood == LikelihoodKind::Bernoulli;
    stream_csv(&a.data, model.arch().features, "features", |r| {
        if bernoulli && let Some(j) = r.iter().position(|v| !(0.0..=1.0).contains(v)) {
            return Err(format!(
                "column {}: {} is outside [0, 1] (the model's likelihood is Bernoulli)",
                j + 1,
                r[j]
            ));
        }
        model.encode(r).map(|(mu, lv)| mu.into_iter().chain(lv).collect())
    })
}

fn vae_decode(a: &DataArgs) -> CliResult {
    let model = load_vae(&a.model)?;
    stream_csv(&a.data, model.arch().latent, "latent dimensions", |z| model.decode(z))
}

/// The side of a square image of `x` features, checked for a traversal of `z_dim` rows.
fn traversal_side(x: usize, z_dim: usize) -> Result<usize, String> {
    let side = (x as f64).sqrt().round() as usize;
    if side * side != x {
        return Err(format!("a traversal grid needs square images; the model has {x} features"));
    }
    if z_dim > MAX_TRAVERSAL_ROWS {
        return Err(format!(
            "a traversal shows at most {MAX_TRAVERSAL_ROWS} latent coordinates; the model has {z_dim}"
        ));
    }
    Ok(side)
}

/// Lecture Fig. 7: row i varies latent coordinate i over `steps` values in [−3, 3] with the
/// others at 0, each cell the decoded mean shown as an image. Needs square images (X = s²).
fn traversal_svg(model: &VaeModel, steps: usize) -> Result<String, String> {
    let (x, z_dim) = (model.arch().features, model.arch().latent);
    let side = traversal_side(x, z_dim)?;
    let values: Vec<f32> = (0..steps).map(|k| -3.0 + 6.0 * k as f32 / (steps - 1) as f32).collect();
    let mut images = Vec::with_capacity(z_dim * steps);
    for i in 0..z_dim {
        for &v in &values {
            let mut z = vec![0.0f32; z_dim];
            z[i] = v;
            images.push(model.decode(&z)?);
        }
    }
    let rows: Vec<String> = (0..z_dim).map(|i| format!("z{}", i + 1)).collect();
    let cols: Vec<String> = values.iter().map(|v| format!("{v:.1}")).collect();
    Ok(plot::image_grid(
        "Latent traversal: one coordinate varied, others 0",
        &images,
        side,
        steps,
        &rows,
        &cols,
    ))
}

fn lipschitz_name(l: LipschitzArg) -> &'static str {
    match l {
        LipschitzArg::Gp => "gp",
        LipschitzArg::Clip => "clip",
        LipschitzArg::Sn => "sn",
    }
}

fn wgan_config(a: &WganTrainArgs) -> WganConfig<f32> {
    let mut config = match a.lipschitz {
        LipschitzArg::Gp => wgan::ring_config_gp(),
        LipschitzArg::Clip => WganConfig::paper_clip(),
        LipschitzArg::Sn => WganConfig::spectral_norm(),
    };
    if let Some(lr) = a.lr {
        config = config.with_lr(lr);
    }
    config
}

fn wgan_train(a: &WganTrainArgs) -> CliResult {
    let sides = [("--scatter", &a.scatter), ("--curve", &a.curve)];
    check_output_path("--output", &a.output)?;
    for (option, p) in sides {
        if let Some(p) = p {
            check_output_path(option, p)?;
        }
    }
    let Some(data) = &a.data else {
        match a.backend {
            BackendArg::Cuda => {
                return Err("--backend cuda: --demo ring trains the compiled networks on the CPU; \
                            give a data file (e.g. `wgan sample` of a ring model) for the device"
                    .into());
            }
            BackendArg::Auto => eprintln!("crabmix: backend: cpu (--demo ring runs the compiled networks)"),
            BackendArg::Cpu => {}
        }
        return wgan_train_ring(a);
    };
    let name = data.display().to_string();
    let table = read_table(data)?;
    let arch = WganArch { features: table.cols, latent: a.latent, hidden: a.hidden.0.clone(), slope: 0.2 };
    let standardize = a.standardize.then(|| Standardization::fit(&table.data, table.cols));
    let batch = clamp_batch(a.batch, table.rows);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(a.seed);
    let mut model = WganModel::new(arch, standardize, &mut rng)?;
    let config = wgan_config(a);
    let device = select_device(a.backend)?;
    let pb = progress(a.iterations, "iterations");
    let on_iteration = |i: usize, w1: f64| {
        if (i + 1) % 50 == 0 || i + 1 == a.iterations {
            pb.set_position(i as u64 + 1);
            pb.set_message(format!("critic W1 estimate {w1:.4}"));
        }
    };
    let (iters, rows) = (a.iterations, &table.data);
    let curve = match device {
        None => wgan_model::train(&mut model, rows, &config, iters, batch, &mut rng, on_iteration),
        Some(dev) => wgan_train_device(dev, &mut model, rows, &config, iters, batch, &mut rng, on_iteration),
    }
    .map_err(|e| format!("{name}: {e}; nothing written"))?;
    pb.finish_and_clear();
    if let Some(last) = curve.last() {
        eprintln!(
            "trained {} iterations on {} rows; final critic W1 estimate {last:.4}",
            a.iterations, table.rows
        );
    }
    let json = model
        .to_json(lipschitz_name(a.lipschitz), curve.clone())
        .ok_or("training left a non-finite parameter; nothing written")?;
    let text = serde_json::to_string(&json).map_err(|e| e.to_string())? + "\n";
    write_file(&a.output, text.as_bytes())?;
    if let Some(p) = &a.scatter {
        let real: Vec<[f64; 2]> = table.data.chunks(table.cols).take(1000).map(first_two).collect();
        let mut fake = Vec::with_capacity(1000);
        for _ in 0..real.len() {
            let z: Vec<f32> = (0..a.latent).map(|_| standard_normal(&mut rng)).collect();
            fake.push(first_two(&model.generate(&z)?));
        }
        let svg = plot::scatter(&format!("{name}: real vs generated"), ("real", &real), ("generated", &fake));
        write_file(p, svg.as_bytes())?;
    }
    if let Some(p) = &a.curve {
        let svg = plot::line_chart("Critic W1 estimate", "generator iteration", "E D(x) - E D(G(z))", &curve);
        write_file(p, svg.as_bytes())?;
    }
    Ok(())
}

/// The first two coordinates (the second 0 for one-feature data), for a scatter plot.
fn first_two(r: &[f32]) -> [f64; 2] {
    [r[0] as f64, r.get(1).copied().unwrap_or(0.0) as f64]
}

/// Fixed ring architecture: z ∈ ℝ², 64 hidden units in both networks.
const Z: usize = 2;
const H: usize = 64;

/// `--demo ring`: the compiled networks on fresh ring samples (every Lipschitz rule, including
/// spectral normalization), written in the runtime model format.
fn wgan_train_ring(a: &WganTrainArgs) -> CliResult {
    let config = wgan_config(a);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(a.seed);
    let mut g = wgan::new_generator::<f32, _, Z, H>(&mut rng);
    let mut c = wgan::new_critic::<f32, _, H>(&mut rng);
    let pb = progress(a.iterations, "iterations");
    let curve = wgan::train(&mut g, &mut c, config, a.iterations, a.batch, &mut rng, |i, s| {
        if (i + 1) % 50 == 0 || i + 1 == a.iterations {
            pb.set_position(i as u64 + 1);
            pb.set_message(format!("critic W1 estimate {:.4}", s.wasserstein_estimate()));
        }
    })
    .map_err(|e| format!("{e}; nothing written"))?;
    pb.finish_and_clear();
    let fake = wgan::generate(&g, 2000, &mut rng);
    let (shares, none) = wgan::mode_coverage(&fake, 0.25);
    let shares: Vec<String> = shares.iter().map(|s| format!("{:.1}%", 100.0 * s)).collect();
    eprintln!("mode shares (within 0.25): {}; unassigned {:.1}%", shares.join(" "), 100.0 * none);
    let json = WganJson {
        format: "crabmix-wgan".into(),
        features: 2,
        latent: Z,
        hidden: vae_model::Widths::Many(vec![H, H]),
        critic_slope: 0.2,
        lipschitz: lipschitz_name(a.lipschitz).into(),
        standardize: None,
        generator: params_f32(&g),
        critic: params_f32(&c),
        wasserstein_estimate: curve.clone(),
    };
    // Checks counts and finiteness, as any model file read back.
    WganModel::from_json(&json)
        .map_err(|e| format!("training left an invalid model ({e}); nothing written"))?;
    let text = serde_json::to_string(&json).map_err(|e| e.to_string())? + "\n";
    write_file(&a.output, text.as_bytes())?;
    if let Some(p) = &a.scatter {
        let real: Vec<[f64; 2]> = (0..1000).map(|_| wgan::ring_sample(&mut rng)).collect();
        let fake: Vec<[f64; 2]> = fake.iter().take(1000).map(|s| [s[0] as f64, s[1] as f64]).collect();
        let svg = plot::scatter("8-Gaussian ring: real vs generated", ("real", &real), ("generated", &fake));
        write_file(p, svg.as_bytes())?;
    }
    if let Some(p) = &a.curve {
        let svg = plot::line_chart("Critic W1 estimate", "generator iteration", "E D(x) - E D(G(z))", &curve);
        write_file(p, svg.as_bytes())?;
    }
    Ok(())
}

fn load_wgan(path: &Path) -> Result<WganModel, String> {
    let text = read_model_text(path)?;
    let json: WganJson = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    WganModel::from_json(&json).map_err(|e| format!("{}: {e}", path.display()))
}

fn wgan_sample(a: &SampleArgs) -> CliResult {
    let model = load_wgan(&a.model)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(a.seed);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut z = vec![0.0f32; model.arch().latent];
    for i in 0..a.n {
        z.iter_mut().for_each(|v| *v = standard_normal(&mut rng));
        let x = model.generate(&z).map_err(|e| format!("sample {}: {e}", i + 1))?;
        print_rows(&mut out, &x)?;
    }
    out.flush().map_err(stdout_error)
}

fn wgan_critic(a: &DataArgs) -> CliResult {
    let model = load_wgan(&a.model)?;
    stream_csv(&a.data, model.arch().features, "features", |r| model.score(r).map(|d| vec![d]))
}
