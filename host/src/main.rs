//! `crabmix`: fit, score, predict and sample Gaussian mixtures from CSV files (and train the VAE
//! and WGAN); the command line itself is `src/cli/`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
