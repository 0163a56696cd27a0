//! Weldon's 1000 Naples crabs (Pearson 1894, the lecture's Fig. 4): ratio of forehead breadth to
//! body length, as binned counts, expanded at compile time into 1000 bin-centre values.
//!
//! Source: the R package mixdist, dataset `pearson` (see the project's SEED-NOTES): 29 bins of
//! width 0.004 whose listed values are RIGHT boundaries 0.5835, 0.5875, …, 0.6915 and one open bin
//! above; a bin's centre is its right boundary − 0.002 (0.6935 for the open bin), i.e.
//! centre_i = 0.5815 + 0.004·i, i = 0..29. EM on these 1000 points as points is what the
//! firmware fits (not the grouped-data likelihood over intervals; the two differ by ≈ 0.02 in
//! the weights).

use crabmix_kernels::Real;
use crabmix_kernels::gmm::{CovarianceKind, FitConfig, FitReport, GaussianMixture, InitMethod};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Crabs per bin, in order of increasing ratio (sum 1000).
pub const COUNTS: [u16; 29] = [
    1, 3, 5, 2, 7, 10, 13, 19, 20, 25, 40, 31, 60, 62, 54, 74, 84, 86, 96, 85, 75, 47, 43, 24, 19, 9, 5, 0, 1,
];

/// Number of crabs.
pub const N: usize = 1000;

/// Centre of bin `i` in ten-thousandths: 5815 + 40·i (exact integers, so no rounding until the
/// single conversion to floating point).
pub const fn centre_e4(i: usize) -> u32 {
    5815 + 40 * i as u32
}

/// Centre of bin `i`, nearest f32 to the decimal value (f64 division is correctly rounded and the
/// decimal has 4 digits, so rounding that f64 to f32 equals parsing the decimal as f32; a host
/// test checks all 29).
pub const fn centre(i: usize) -> f32 {
    (centre_e4(i) as f64 / 10_000.0) as f32
}

const fn expand() -> [[f32; 1]; N] {
    let mut out = [[0.0f32; 1]; N];
    let mut bin = 0;
    let mut n = 0;
    while bin < COUNTS.len() {
        let mut c = 0;
        while c < COUNTS[bin] {
            out[n] = [centre(bin)];
            n += 1;
            c += 1;
        }
        bin += 1;
    }
    assert!(n == N, "COUNTS must sum to 1000");
    out
}

/// The 1000 ratios (each crab at its bin centre), sorted; 4000 bytes of flash.
pub static RATIOS: [[f32; 1]; N] = expand();

/// Seed of the k-means++ initialization, shared with the host's reference run.
pub const FIT_SEED: u64 = 1894;

/// The fit the firmware reports: two components, full (= scalar) covariance, k-means++ from
/// [`FIT_SEED`], and a fixed 3000 EM iterations (`tol` = 0, so `converged` reads false).
///
/// Why fixed: the two components overlap so much that EM creeps (the mean log-likelihood, ≈ 2.57,
/// still rises ≈ 1e-8 per iteration after 400 iterations while the weights are 0.03 from the
/// optimum). scikit-learn's stopping rule (tol = 1e-3) or even 1e-6 stops f32 at weights
/// 0.35/0.65; in f64, tol = 1e-9 stops after 1225 iterations at 0.413/0.587. Measured on the host:
/// 3000 iterations give weights 0.4130 (f32) vs 0.4133 (f64), means equal to 1e-5.
pub fn fit_config() -> FitConfig<f32> {
    FitConfig {
        kind: CovarianceKind::Full,
        init: InitMethod::KMeansPlusPlus,
        n_init: 1,
        max_iter: 3000,
        tol: 0.0,
        reg_covar: 1e-6,
        reseed_empty: true,
    }
}

/// Batch EM on the 1000 ratios, in the generic scalar the caller picks (f32 on the device).
pub fn fit<T: Real>(
    data: &[[T; 1]],
    config: &FitConfig<T>,
) -> crabmix_kernels::Result<(GaussianMixture<T, 2, 1>, FitReport<T>)> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(FIT_SEED);
    GaussianMixture::fit(data, config, &mut rng)
}

/// The crab fit as the device runs it: f32, [`fit_config`], components ordered by mean.
pub fn fit_f32() -> crabmix_kernels::Result<(GaussianMixture<f32, 2, 1>, FitReport<f32>)> {
    let (m, r) = fit(&RATIOS, &fit_config())?;
    Ok((sorted_by_mean(&m)?, r))
}

/// The same mixture with components in increasing order of mean, so reports compare as text.
pub fn sorted_by_mean<T: Real>(
    m: &GaussianMixture<T, 2, 1>,
) -> crabmix_kernels::Result<GaussianMixture<T, 2, 1>> {
    if m.means()[0][0] <= m.means()[1][0] {
        return Ok(*m);
    }
    let (w, mu, c) = (m.weights(), m.means(), m.covariances());
    GaussianMixture::new(m.kind(), [w[1], w[0]], [mu[1], mu[0]], [c[1], c[0]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_match_the_binned_counts() {
        assert_eq!(COUNTS.iter().map(|&c| c as usize).sum::<usize>(), 1000);
        assert_eq!(RATIOS[0][0], 0.5815f32);
        assert_eq!(RATIOS[999][0], 0.6935f32);
        // Bins 27 (count 0) and 28 (count 1): the largest two values are 0.6855 and 0.6935.
        assert_eq!(RATIOS[998][0], 0.6855f32);
        for i in 0..29 {
            let text = format!("0.{}", centre_e4(i));
            assert_eq!(centre(i), text.parse::<f32>().unwrap(), "bin {i}");
        }
        let mean = RATIOS.iter().map(|x| x[0] as f64).sum::<f64>() / 1000.0;
        // Σ count·centre / 1000 = 0.644696 exactly in decimal (SEED-NOTES: "mean ≈ 0.65"); the
        // f32 centres are off by < 3e-8 each.
        assert!((mean - 0.644696).abs() < 1e-7, "mean {mean}");
    }

    /// The repository's data/pearson_crabs.csv (what the host fits: one ratio a line after a
    /// header), when present, must hold exactly these 1000 f32 values, so host and device fit the
    /// same bits.
    #[test]
    fn ratios_match_the_repository_csv_when_present() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/pearson_crabs.csv");
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        let mut values: Vec<f32> =
            text.lines().filter_map(|l| l.split(',').next_back()?.trim().parse::<f32>().ok()).collect();
        values.sort_by(f32::total_cmp);
        let ours: Vec<f32> = RATIOS.iter().map(|x| x[0]).collect();
        assert_eq!(values, ours, "{path}");
    }
}
