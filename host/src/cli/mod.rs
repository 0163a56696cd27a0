//! The `crabmix` command line: `gmm` subcommands in [`gmm`], `vae`/`wgan` in [`models`].

mod export;
mod gmm;
mod models;
mod output;

use clap::{Parser, Subcommand};
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
    Gmm(gmm::GmmCommand),
    /// Variational autoencoders (lecture §3).
    #[command(subcommand)]
    Vae(models::VaeCommand),
    /// Wasserstein GANs on a CSV or the 8-Gaussian ring (lecture §4).
    #[command(subcommand)]
    Wgan(models::WganCommand),
}

/// Parses the command line and runs it; errors go to stderr with exit status 1.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Gmm(c) => gmm::run(c),
        Command::Vae(c) => models::run_vae(c),
        Command::Wgan(c) => models::run_wgan(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crabmix: error: {e}");
            ExitCode::FAILURE
        }
    }
}
