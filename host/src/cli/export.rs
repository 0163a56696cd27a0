//! `crabmix gmm export MODEL.json --format rust|bin`: a fitted model, ready for a firmware; and
//! back: `crabmix gmm import-log LOG`, the model a firmware printed, as MODEL.json.
//!
//! * `rust`: a source file of `const` parameters for `GaussianMixture<S, K, D>` and a `model()`
//!   constructor, meant for `include!`; every value printed so that it parses back to the same
//!   bits of S (Rust's shortest round-trip float formatting).
//! * `bin`: the kernels' checksummed blob (`crabmix_kernels::gmm::encode_blob`, layout in
//!   `kernels/src/gmm/blob.rs`), which a firmware checks with `GaussianMixture::from_blob`.
//!
//! Both round the model's f64 parameters to S (`--scalar`, f32 by default: a Cortex-M4F's
//! single-precision FPU) in the same way (`as`: to nearest), so the two exports hold the same
//! bits.

use super::output::{CliResult, stdout_error, write_atomically};
use clap::{Args, ValueEnum};
use crabmix::gmm::Mixture;
use crabmix::gmm::json::load_model;
use crabmix::gmm::json::{ModelJson, parse_kind};
use crabmix::kernels::Real;
use crabmix::kernels::gmm::{blob_len, encode_blob};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// A Rust source file of `const` parameters (for `include!`).
    Rust,
    /// The checksummed little-endian blob.
    Bin,
}

#[derive(Clone, Copy, ValueEnum)]
enum Scalar {
    F32,
    F64,
}

#[derive(Args)]
pub(super) struct ExportArgs {
    /// Model JSON from `crabmix gmm fit`.
    model: PathBuf,
    #[arg(long, value_enum)]
    format: Format,
    /// The firmware's scalar type.
    #[arg(long, value_enum, default_value = "f32")]
    scalar: Scalar,
    /// Write here instead of stdout (written to a temporary file, then renamed).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
}

#[derive(Args)]
pub(super) struct ImportLogArgs {
    /// A firmware's log (decoded defmt text) holding a `gmm-model` line; the last one is read.
    log: PathBuf,
    /// Write the model JSON here instead of stdout (written to a temporary file, then renamed).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
}

/// Runs `gmm import-log`: the last `gmm-model k=K d=D kind=KIND w=… mu=… cov=…` line of the log
/// (f32 bits, 8 hex digits each, comma-separated: weights, means, dense covariances) becomes a
/// model JSON: each f32 exactly as an f64, but the weights renormalized in f64.
pub(super) fn import_log(a: &ImportLogArgs) -> CliResult {
    let text = std::fs::read_to_string(&a.log).map_err(|e| format!("{}: {e}", a.log.display()))?;
    let (number, line) = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| l.find("gmm-model ").map(|at| (i + 1, &l[at..])))
        .last()
        .ok_or_else(|| format!("{}: no `gmm-model` line", a.log.display()))?;
    let model = parse_model_line(line).map_err(|e| format!("{}:{number}: {e}", a.log.display()))?;
    let text = serde_json::to_string_pretty(&ModelJson::from_mixture(&model, None))
        .map_err(|e| e.to_string())?
        + "\n";
    match &a.output {
        Some(path) => write_atomically(path, text.as_bytes()),
        None => std::io::stdout().write_all(text.as_bytes()).map_err(stdout_error),
    }
}

fn parse_model_line(line: &str) -> Result<Mixture<f64>, String> {
    let field = |name: &str| -> Result<&str, String> {
        line.split_whitespace()
            .find_map(|t| t.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .ok_or_else(|| format!("no `{name}=` in the gmm-model line"))
    };
    let size = |name: &str| -> Result<usize, String> {
        field(name)?.parse().map_err(|_| format!("`{name}=` is not a number"))
    };
    let bits = |name: &str, expected: usize| -> Result<Vec<f64>, String> {
        let v = field(name)?
            .split(',')
            .map(|h| {
                u32::from_str_radix(h, 16)
                    .ok()
                    .filter(|_| h.len() == 8)
                    .map(|b| f32::from_bits(b) as f64)
                    .ok_or_else(|| format!("`{name}=`: `{h}` is not 8 hex digits"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if v.len() != expected {
            return Err(format!("`{name}=` holds {} values, K and D need {expected}", v.len()));
        }
        Ok(v)
    };
    let (k, d) = (size("k")?, size("d")?);
    let kind = parse_kind(field("kind")?)?;
    // The device's f32 weights sum to 1 within f32 rounding (≈ 1e-7), not within the f64
    // model's √ε: renormalized in f64, they move by as much, ln p by ≤ 1e-7. Everything else is
    // the f32 value exactly.
    let mut w = bits("w", k)?;
    let total: f64 = w.iter().sum();
    w.iter_mut().for_each(|v| *v /= total);
    let mu = bits("mu", k.saturating_mul(d))?;
    let cov = bits("cov", k.saturating_mul(d).saturating_mul(d))?;
    Mixture::new(kind, d, w, mu, cov).map_err(|e| e.to_string())
}

/// Runs `gmm export`.
pub(super) fn run(a: &ExportArgs) -> CliResult {
    let model = load_model(&a.model)?;
    let shape = model.shape();
    let (k, d, kind) = (shape.components, shape.features, shape.kind);
    // The blob is made for both formats: its encoder checks that every value is finite in S
    // (a Rust literal `inf` would not even parse).
    let s = match a.scalar {
        Scalar::F32 => 4,
        Scalar::F64 => 8,
    };
    let mut blob = vec![0u8; blob_len(kind, k, d, s)];
    let (w, m, c) = (model.weights(), model.means(), model.covariances());
    let n = match a.scalar {
        Scalar::F32 => encode_blob::<f64, f32>(kind, k, d, w, m, c, &mut blob),
        Scalar::F64 => encode_blob::<f64, f64>(kind, k, d, w, m, c, &mut blob),
    }
    .map_err(|e| format!("{}: {e}", a.model.display()))?;
    blob.truncate(n);
    let bytes = match (a.format, a.scalar) {
        (Format::Rust, Scalar::F32) => rust_source::<f32>(a, &model).into_bytes(),
        (Format::Rust, Scalar::F64) => rust_source::<f64>(a, &model).into_bytes(),
        (Format::Bin, _) => blob,
    };
    match &a.output {
        Some(path) => write_atomically(path, &bytes),
        None => std::io::stdout().write_all(&bytes).map_err(stdout_error),
    }
}

/// `v` rounded to S, as a Rust literal that parses back to the same bits (Debug's shortest
/// round-trip form: `0.413`, `1e-6`, `-2.0`).
fn literal<S: Real + std::fmt::Debug>(v: f64) -> String {
    format!("{:?}", S::from_f64(v))
}

fn rust_source<S: Real + std::fmt::Debug>(a: &ExportArgs, model: &crabmix::gmm::Mixture<f64>) -> String {
    let shape = model.shape();
    let (k, d) = (shape.components, shape.features);
    let kind = match shape.kind.name() {
        "full" => "Full",
        "diag" => "Diag",
        "tied" => "Tied",
        _ => "Spherical",
    };
    let list = |v: &[f64]| v.iter().map(|&x| literal::<S>(x)).collect::<Vec<_>>().join(", ");
    let rows = |v: &[f64], n: usize| v.chunks(n).map(|r| format!("[{}]", list(r))).collect::<Vec<_>>();
    let means = rows(model.means(), d).join(", ");
    let covs = model
        .covariances()
        .chunks(d * d)
        .map(|c| format!("[{}]", rows(c, d).join(", ")))
        .collect::<Vec<_>>()
        .join(",\n    ");
    let name = a.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let t = S::NAME;
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        s,
        "// Generated by `crabmix gmm export {name} --format rust --scalar {t}` (crabmix {version}):\n\
         // a K = {k}, D = {d}, {kind_name} mixture in {t}. Include it with `include!(\"…\")` in a crate that\n\
         // depends on crabmix-kernels; `model()` computes the Cholesky factors (not a `const fn`).\n\
         /// Components.\n\
         pub const K: usize = {k};\n\
         /// Dimensions.\n\
         pub const D: usize = {d};\n\
         /// Covariance structure.\n\
         pub const KIND: crabmix_kernels::gmm::CovarianceKind = crabmix_kernels::gmm::CovarianceKind::{kind};\n\
         /// Mixing weights.\n\
         pub const WEIGHTS: [{t}; K] = [{weights}];\n\
         /// Means.\n\
         pub const MEANS: [[{t}; D]; K] = [{means}];\n\
         /// Covariances (dense D × D, `reg_covar` included).\n\
         pub const COVARIANCES: [[[{t}; D]; D]; K] = [\n    {covs},\n];\n\
         /// The exported mixture. Errors as `GaussianMixture::new` (none for an exported model).\n\
         pub fn model() -> crabmix_kernels::Result<crabmix_kernels::gmm::GaussianMixture<{t}, K, D>> {{\n    \
         crabmix_kernels::gmm::GaussianMixture::new(KIND, WEIGHTS, MEANS, COVARIANCES)\n}}\n",
        version = env!("CARGO_PKG_VERSION"),
        kind_name = shape.kind.name(),
        weights = list(model.weights()),
    );
    s
}
