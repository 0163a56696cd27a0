//! Pearson's crabs (forehead-to-body-length ratios of 1000 crabs) fitted on the host with the same
//! fixed-size type the firmware uses: two components in one dimension, f64.
//!
//! `cargo run --release -p crabmix-kernels --example fit_crabs` (from the repository root).
use crabmix_kernels::gmm::{FitConfig, GaussianMixture};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/pearson_crabs.csv");
    let text = std::fs::read_to_string(path)?;
    // One column with a header ("ratio").
    let data: Vec<[f64; 1]> =
        text.lines().skip(1).map(|l| l.trim().parse().map(|x| [x])).collect::<Result<_, _>>()?;
    let config = FitConfig { tol: 1e-8, max_iter: 5000, ..FitConfig::default() };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1894);
    let (model, report) = GaussianMixture::<f64, 2, 1>::fit(&data, &config, &mut rng)?;
    println!(
        "{} samples, {} iterations, mean ln p = {:.6}",
        data.len(),
        report.n_iter,
        report.mean_log_likelihood
    );
    for k in 0..2 {
        let (w, mu, var) = (model.weights()[k], model.means()[k][0], model.covariances()[k][0][0]);
        println!("component {k}: weight {w:.4}, mean {mu:.5}, sd {:.5}", var.sqrt());
    }
    Ok(())
}
