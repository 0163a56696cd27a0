//! `crabmix vae …` and `crabmix wgan …`: the lecture's two generative networks from the command
//! line (subcommands and their handlers; `main.rs` only dispatches here).

use clap::{Args, Subcommand, ValueEnum};
use crabmix::io::csv::read_csv;
use crabmix::io::plot;
use crabmix::kernels::models::WganConfig;
use crabmix::train::params::params_f32;
use crabmix::train::vae::{self, DynVae, TrainConfig, TrainInfo, VaeJson};
use crabmix::train::wgan::{self, WganJson};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

type CliResult = Result<(), String>;

#[derive(Subcommand)]
pub enum VaeCommand {
    /// Train a VAE on a CSV (rows = samples) and write the model as JSON.
    Train(VaeTrainArgs),
    /// Decode N draws z ~ N(0, I): one row of decoded means per sample, as CSV.
    Sample(VaeSampleArgs),
    /// Encode each CSV row: μ_1..μ_Z, then ln σ²_1..ln σ²_Z, as CSV.
    Encode(VaeDataArgs),
    /// Decode each CSV row of latent points (Z columns): decoded means, as CSV.
    Decode(VaeDataArgs),
    /// Write the latent-traversal grid (lecture Fig. 7) of a trained model as SVG.
    Traverse(VaeTraverseArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LikelihoodArg {
    /// Pixels in [0, 1] as Bernoulli probabilities (decoder outputs logits).
    Bernoulli,
    /// Unit-variance Gaussian (eq 16–17; decoder outputs means).
    Gaussian,
}

#[derive(Args)]
pub struct VaeTrainArgs {
    /// Numeric CSV, one sample per row (an optional header row is skipped).
    data: PathBuf,
    /// Latent dimension Z.
    #[arg(long, default_value_t = 2)]
    latent: usize,
    /// Hidden units H (encoder and decoder).
    #[arg(long, default_value_t = 64)]
    hidden: usize,
    /// Passes over the data (1 to 10⁶).
    #[arg(long, default_value_t = 100, value_parser = bounded(1, MAX_EPOCHS))]
    epochs: usize,
    /// Minibatch size (1 to 65 536).
    #[arg(long, default_value_t = 32, value_parser = bounded(1, MAX_BATCH))]
    batch: usize,
    /// Adam learning rate (finite, > 0).
    #[arg(long, default_value_t = 1e-3, value_parser = positive_finite::<f64>)]
    lr: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, value_enum, default_value = "bernoulli")]
    likelihood: LikelihoodArg,
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
pub struct VaeSampleArgs {
    /// Model JSON from `crabmix vae train`.
    #[arg(long)]
    model: PathBuf,
    #[arg(short = 'n', long = "n-samples")]
    n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
pub struct VaeDataArgs {
    /// Numeric CSV (data rows for encode, latent rows for decode).
    data: PathBuf,
    /// Model JSON from `crabmix vae train`.
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
    /// Values per latent coordinate, evenly spaced over [−3, 3].
    #[arg(long, default_value_t = 9)]
    steps: usize,
}

#[derive(Subcommand)]
pub enum WganCommand {
    /// Train a WGAN on the 8-Gaussian ring (radius 2, σ 0.02) and write the model as JSON.
    Train(WganTrainArgs),
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

#[derive(Args)]
pub struct WganTrainArgs {
    #[arg(long, value_enum, default_value = "gp")]
    lipschitz: LipschitzArg,
    /// Generator iterations, each after 5 critic steps (1 to 10⁷).
    #[arg(long, default_value_t = 4000, value_parser = bounded(1, MAX_ITERATIONS))]
    iterations: usize,
    /// Minibatch size (1 to 65 536).
    #[arg(long, default_value_t = 64, value_parser = bounded(1, MAX_BATCH))]
    batch: usize,
    /// Override the learning rate of both networks (finite, > 0).
    #[arg(long, value_parser = positive_finite::<f32>)]
    lr: Option<f32>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Model JSON to write.
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Also write a scatter plot of 1000 real vs 1000 generated samples (SVG).
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
            let model = load_vae(&a.model)?;
            write_file(&a.output, traversal_svg(model.as_ref(), a.steps)?.as_bytes())
        }
    }
}

/// Runs one `crabmix wgan` subcommand.
pub fn run_wgan(cmd: WganCommand) -> CliResult {
    match cmd {
        WganCommand::Train(a) => wgan_train(&a),
    }
}

/// Largest `--epochs`: 10⁶ passes (an hour-long run on the digits is ~10⁵).
const MAX_EPOCHS: u64 = 1_000_000;
/// Largest `--iterations` of the WGAN.
const MAX_ITERATIONS: u64 = 10_000_000;
/// Largest `--batch`: the minibatch's activations are held at once.
const MAX_BATCH: u64 = 65_536;

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

// `main.rs`'s atomic write (temporary file, then rename): never a half-written model.
use super::output::stdout_error;
use super::output::write_atomically as write_file;

fn print_rows<'a>(rows: impl Iterator<Item = Vec<f32>> + 'a) -> CliResult {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for r in rows {
        let line = r.iter().map(|v| format!("{v:.9e}")).collect::<Vec<_>>().join(",");
        writeln!(out, "{line}").map_err(stdout_error)?;
    }
    out.flush().map_err(stdout_error)
}

/// A one-line progress display on stderr, redrawn in place; only when stderr is a terminal.
struct Progress {
    on: bool,
    total: usize,
}

impl Progress {
    fn new(total: usize) -> Self {
        Self { on: std::io::stderr().is_terminal(), total }
    }
    fn show(&self, done: usize, what: &str) {
        if !self.on {
            return;
        }
        let width = 30;
        let filled = width * done / self.total.max(1);
        eprint!("\r[{}{}] {done}/{} {what}   ", "=".repeat(filled), " ".repeat(width - filled), self.total);
        if done == self.total {
            eprintln!();
        }
    }
}

fn vae_train(a: &VaeTrainArgs) -> CliResult {
    let table = read_csv::<f32>(&a.data).map_err(|e| e.to_string())?;
    let likelihood = match a.likelihood {
        LikelihoodArg::Bernoulli => crabmix::kernels::models::Likelihood::BernoulliLogits,
        LikelihoodArg::Gaussian => crabmix::kernels::models::Likelihood::GaussianUnit,
    };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(a.seed);
    let mut model = vae::new_dyn(table.cols, a.hidden, a.latent, likelihood, &mut rng)?;
    let config = TrainConfig { epochs: a.epochs, batch: a.batch, lr: a.lr };
    let progress = Progress::new(a.epochs);
    let curve = model
        .train(&table.data, table.cols, &config, &mut rng, &mut |e, elbo| {
            progress.show(e + 1, &format!("epoch ELBO {elbo:.4}"))
        })
        .map_err(|e| format!("{}: {e}", a.data.display()))?;
    if let Some(last) = curve.last() {
        eprintln!(
            "trained {} epochs on {} rows; final epoch ELBO {last:.4} nats/sample",
            a.epochs, table.rows
        );
    }
    let json = model.to_json(Some(TrainInfo { config, seed: a.seed, elbo_per_epoch: curve.clone() }));
    let text = serde_json::to_string(&json).map_err(|e| e.to_string())? + "\n";
    write_file(&a.output, text.as_bytes())?;
    if let Some(p) = &a.curve {
        write_file(
            p,
            plot::line_chart("VAE training ELBO (nats per sample)", "epoch", "ELBO", &curve).as_bytes(),
        )?;
    }
    if let Some(p) = &a.traversal {
        write_file(p, traversal_svg(model.as_ref(), 9)?.as_bytes())?;
    }
    Ok(())
}

fn load_vae(path: &Path) -> Result<Box<dyn DynVae>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: VaeJson = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    vae::from_json(&json).map_err(|e| format!("{}: {e}", path.display()))
}

fn vae_sample(a: &VaeSampleArgs) -> CliResult {
    let model = load_vae(&a.model)?;
    let (_, _, z_dim) = model.shape();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(a.seed);
    let mut rows = Vec::with_capacity(a.n);
    for _ in 0..a.n {
        let z: Vec<f32> = (0..z_dim).map(|_| crabmix::kernels::gaussian::standard_normal(&mut rng)).collect();
        rows.push(model.decode(&z)?);
    }
    print_rows(rows.into_iter())
}

fn vae_encode(a: &VaeDataArgs) -> CliResult {
    let model = load_vae(&a.model)?;
    let table = read_csv::<f32>(&a.data).map_err(|e| e.to_string())?;
    let rows: Result<Vec<_>, _> = table
        .data
        .chunks(table.cols)
        .map(|r| model.encode(r).map(|(mu, lv)| mu.into_iter().chain(lv).collect::<Vec<f32>>()))
        .collect();
    print_rows(rows.map_err(|e| format!("{}: {e}", a.data.display()))?.into_iter())
}

fn vae_decode(a: &VaeDataArgs) -> CliResult {
    let model = load_vae(&a.model)?;
    let table = read_csv::<f32>(&a.data).map_err(|e| e.to_string())?;
    let rows: Result<Vec<_>, _> = table.data.chunks(table.cols).map(|z| model.decode(z)).collect();
    print_rows(rows.map_err(|e| format!("{}: {e}", a.data.display()))?.into_iter())
}

/// Lecture Fig. 7: row i varies latent coordinate i over `steps` values in [−3, 3] with the
/// others at 0, each cell the decoded mean shown as an image. Needs square images (X = s²).
fn traversal_svg(model: &dyn DynVae, steps: usize) -> Result<String, String> {
    let (x, _, z_dim) = model.shape();
    let side = (x as f64).sqrt().round() as usize;
    if side * side != x {
        return Err(format!("a traversal grid needs square images; the model has {x} features"));
    }
    let steps = steps.max(2);
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

/// Fixed CLI architecture: z ∈ ℝ², 64 hidden units in both networks.
const Z: usize = 2;
const H: usize = 64;

fn wgan_train(a: &WganTrainArgs) -> CliResult {
    let mut config = match a.lipschitz {
        LipschitzArg::Gp => wgan::ring_config_gp(),
        LipschitzArg::Clip => WganConfig::paper_clip(),
        LipschitzArg::Sn => WganConfig::spectral_norm(),
    };
    if let Some(lr) = a.lr {
        config = config.with_lr(lr);
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(a.seed);
    let mut g = wgan::new_generator::<f32, _, Z, H>(&mut rng);
    let mut c = wgan::new_critic::<f32, _, H>(&mut rng);
    let progress = Progress::new(a.iterations);
    let curve = wgan::train(&mut g, &mut c, config, a.iterations, a.batch, &mut rng, |i, s| {
        if (i + 1) % 50 == 0 || i + 1 == a.iterations {
            progress.show(i + 1, &format!("critic W1 estimate {:.4}", s.wasserstein_estimate()));
        }
    })?;
    let fake = wgan::generate(&g, 2000, &mut rng);
    let (shares, none) = wgan::mode_coverage(&fake, 0.25);
    let shares: Vec<String> = shares.iter().map(|s| format!("{:.1}%", 100.0 * s)).collect();
    eprintln!("mode shares (within 0.25): {}; unassigned {:.1}%", shares.join(" "), 100.0 * none);
    let json = WganJson {
        format: "crabmix-wgan".into(),
        latent: Z,
        hidden: H,
        lipschitz: match a.lipschitz {
            LipschitzArg::Gp => "gp",
            LipschitzArg::Clip => "clip",
            LipschitzArg::Sn => "sn",
        }
        .into(),
        generator: params_f32(&g),
        critic: params_f32(&c),
        wasserstein_estimate: curve.clone(),
    };
    let text = serde_json::to_string(&json).map_err(|e| e.to_string())? + "\n";
    write_file(&a.output, text.as_bytes())?;
    if let Some(p) = &a.scatter {
        let real: Vec<[f64; 2]> = (0..1000).map(|_| wgan::ring_sample(&mut rng)).collect();
        let fake: Vec<[f64; 2]> = fake.iter().take(1000).map(|s| [s[0] as f64, s[1] as f64]).collect();
        write_file(
            p,
            plot::scatter("8-Gaussian ring: real vs generated", ("real", &real), ("generated", &fake))
                .as_bytes(),
        )?;
    }
    if let Some(p) = &a.curve {
        write_file(
            p,
            plot::line_chart("Critic W1 estimate", "generator iteration", "E D(x) - E D(G(z))", &curve)
                .as_bytes(),
        )?;
    }
    Ok(())
}
