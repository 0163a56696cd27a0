//! A Gaussian-mixture fit from Rust, without the CLI: read a numeric CSV, fit K components by EM
//! on the CPU threads (or on CUDA when the crate is built with `--features cuda` and a device
//! answers), print the parameters and the model JSON the CLI would write.
//!
//! `cargo run --release -p crabmix --example fit_csv -- [FILE.csv] [K]`
//! (default: Pearson's crabs, K = 2).
use crabmix::backend::{self, Backend};
use crabmix::gmm::json::{FitInfo, ModelJson};
use crabmix::io::csv::read_csv;
use crabmix::kernels::gmm::{CovarianceKind, FitConfig};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::path::PathBuf;

fn main() {
    // Errors print as their message (file:line:column for a bad cell), not as Debug.
    if let Err(e) = run() {
        eprintln!("fit_csv: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../data/pearson_crabs.csv")));
    let k: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2);

    // Every cell is checked: a bad one is an error naming its line and column.
    let table = read_csv::<f64>(&path)?;
    let config = FitConfig { kind: CovarianceKind::Full, n_init: 3, ..FitConfig::default() };
    let selected = backend::select(Backend::Auto, config.kind)?;
    eprintln!("{}", selected.describe());
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1894);
    let (model, report) =
        backend::fit(&selected, &table.data, table.cols, k, &config, &mut rng, &mut Default::default())?;

    println!(
        "{} rows × {} columns, K = {k}: {} EM iterations, converged {}, mean ln p = {:.6}",
        table.rows, table.cols, report.n_iter, report.converged, report.mean_log_likelihood
    );
    for (c, w) in model.weights().iter().enumerate() {
        let mean = &model.means()[c * table.cols..(c + 1) * table.cols];
        println!("component {c}: weight {w:.4}, mean {mean:.5?}");
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&ModelJson::from_mixture(
            &model,
            Some(FitInfo::from_report(&model, &report))
        ))?
    );
    Ok(())
}
