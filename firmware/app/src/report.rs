//! The firmware's runs, shared by the device binary and the host tests: the sensor run with its
//! score, the crab runs, and the one-line crab report compared between host and device.

use crate::crabs;
use crate::monitor::{DensityMonitor, MonitorConfig, MonitorStats, Verdict};
use crate::source::{CrabStream, SampleSource, SyntheticSensor};
use core::fmt::Write;
use crabmix_kernels::Result;
use crabmix_kernels::gmm::{CovarianceKind, FitConfig, FitReport, GaussianMixture, InitMethod, OnlineConfig};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Window of the sensor monitor (128 × 2 × 4 B = 1 KiB).
pub const SENSOR_WINDOW: usize = 128;
/// Window of the crab monitor.
pub const CRAB_WINDOW: usize = 128;
/// Seed of the warm-up k-means++ in both monitors.
pub const MONITOR_SEED: u64 = 2024;

/// The sensor monitor: K = 4, D = 2, full covariance (the budget case).
pub type SensorMonitor = DensityMonitor<4, 2, SENSOR_WINDOW>;
/// The crab monitor: K = 2, D = 1.
pub type CrabMonitor = DensityMonitor<2, 1, CRAB_WINDOW>;

fn batch(kind: CovarianceKind) -> FitConfig<f32> {
    FitConfig {
        kind,
        init: InitMethod::KMeansPlusPlus,
        n_init: 1,
        max_iter: 50,
        tol: 1e-4,
        reg_covar: 1e-6,
        reseed_empty: true,
    }
}

/// Monitor settings for the synthetic sensor. Threshold: a cluster of weight ¼ and σ = 0.4 has
/// peak ln p = ln ¼ − ln(2π·0.16) = −1.39; ln p = −10 is the squared Mahalanobis radius
/// r² = 2·(10 − 1.39) = 17.2, exceeded with probability e^(−17.2/2) = 0.02 % under the true
/// model. The model is estimated from a 128-sample window (≈ 32 samples per cluster, variances
/// off by ≈ √(2/32) = 25 %), which fattens that rate several times; −8.5 (0.1 % nominal)
/// measured 0.8 % false alarms. The injected anomalies sit at r ≈ 10, ln p ≈ −50.
pub fn sensor_config() -> MonitorConfig {
    MonitorConfig {
        threshold: -10.0,
        refit_every: 64,
        online: OnlineConfig {
            alpha: 1.0,
            n0: SENSOR_WINDOW as f32,
            reg_covar: 1e-6,
            // Fields the kernels may add later keep their defaults.
            ..OnlineConfig::default()
        },
        batch: batch(CovarianceKind::Full),
    }
}

/// Monitor settings for the crab stream: peak ln p ≈ ln(0.6 / (0.0125·√(2π))) ≈ 2.95; |z| > 3.29
/// has probability 0.1 %, at ln p ≈ 2.95 − 5.4, so −2.5.
pub fn crab_config() -> MonitorConfig {
    MonitorConfig {
        threshold: -2.5,
        refit_every: 100,
        online: OnlineConfig {
            alpha: 1.0,
            n0: CRAB_WINDOW as f32,
            reg_covar: 1e-6,
            // Fields the kernels may add later keep their defaults.
            ..OnlineConfig::default()
        },
        batch: batch(CovarianceKind::Full),
    }
}

/// How the monitor did on a stream with ground truth.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    /// Anomalies the source injected.
    pub injected: u32,
    /// Injected anomalies flagged.
    pub true_positives: u32,
    /// Clean samples flagged.
    pub false_positives: u32,
    /// The monitor's counters.
    pub stats: MonitorStats,
}

/// Runs a fresh monitor over a whole source; `hook` sees every sample, its verdict and the
/// monitor (the device logs flags and refitted models from it). The caller owns the monitor (the
/// device keeps it in a static, so the loop's stack holds no model or window); it is reset first.
pub fn run_monitor<const K: usize, const D: usize, const W: usize>(
    monitor: &mut DensityMonitor<K, D, W>,
    source: &mut impl SampleSource<D>,
    mut hook: impl FnMut(u32, &[f32; D], Verdict, &DensityMonitor<K, D, W>),
) -> Result<Score> {
    monitor.reset();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(MONITOR_SEED);
    let (mut injected, mut tp, mut fp) = (0, 0, 0);
    let mut t = 0;
    while let Some(s) = source.next_sample() {
        let v = monitor.push(&s.x, &mut rng)?;
        let flagged = matches!(v, Verdict::Anomalous { .. });
        injected += s.injected_anomaly as u32;
        tp += (flagged && s.injected_anomaly) as u32;
        fp += (flagged && !s.injected_anomaly) as u32;
        hook(t, &s.x, v, monitor);
        t += 1;
    }
    if monitor.model().is_none() {
        return Err(crabmix_kernels::Error::EmptyData);
    }
    Ok(Score { injected, true_positives: tp, false_positives: fp, stats: monitor.stats() })
}

/// The sensor run without a hook, with its monitor on the stack (host tests); returns the final
/// model too.
pub fn run_sensor(source: &mut SyntheticSensor) -> Result<(Score, GaussianMixture<f32, 4, 2>)> {
    let mut monitor = SensorMonitor::new(sensor_config())?;
    let score = run_monitor(&mut monitor, source, |_, _, _, _| {})?;
    Ok((score, *monitor.model().ok_or(crabmix_kernels::Error::EmptyData)?))
}

/// The crab stream through the online monitor held by the caller.
pub fn run_crabs_online(monitor: &mut CrabMonitor) -> Result<Score> {
    run_monitor(monitor, &mut CrabStream::new(), |_, _, _, _| {})
}

/// Room for [`crab_line`].
pub type Line = heapless::String<384>;

/// One line with the fitted crab mixture, decimal for people and IEEE bits for the comparison;
/// components in increasing order of mean. The host and the device format it with the same code.
pub fn crab_line(m: &GaussianMixture<f32, 2, 1>, r: &FitReport<f32>) -> Line {
    let mut s = Line::new();
    let w = m.weights();
    let mu = [m.means()[0][0], m.means()[1][0]];
    let var = [m.covariances()[0][0][0], m.covariances()[1][0][0]];
    // 384 bytes hold the longest possible line (checked by a host test); a full buffer only
    // truncates the text, so the error is ignored.
    let _ = write!(
        s,
        "crab-fit {} {} n_iter={} converged={} w=[{:.5} {:.5}] mu=[{:.5} {:.5}] sd=[{:.5} {:.5}] \
         mean_ll={:.6} bits w=[{:08x} {:08x}] mu=[{:08x} {:08x}] var=[{:08x} {:08x}] mean_ll={:08x}",
        <f32 as crabmix_kernels::Real>::NAME,
        r.backend.name(),
        r.n_iter,
        r.converged,
        w[0],
        w[1],
        mu[0],
        mu[1],
        libm::sqrtf(var[0]),
        libm::sqrtf(var[1]),
        r.mean_log_likelihood,
        w[0].to_bits(),
        w[1].to_bits(),
        mu[0].to_bits(),
        mu[1].to_bits(),
        var[0].to_bits(),
        var[1].to_bits(),
        r.mean_log_likelihood.to_bits(),
    );
    s
}

/// The full crab fit and its line.
pub fn crab_fit_line() -> Result<Line> {
    let (m, r) = crabs::fit_f32()?;
    Ok(crab_line(&m, &r))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host half of the host/device bit-identity check: the line must equal the golden one
    /// that the device's output is also compared with (firmware/golden/crab-fit.txt). Set
    /// `UPDATE_GOLDEN=1` to rewrite it after an intended change.
    #[test]
    fn crab_fit_matches_golden_line() {
        let line = crab_fit_line().unwrap();
        println!("{line}");
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../golden/crab-fit.txt");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(path, format!("{line}\n")).unwrap();
        }
        let golden = std::fs::read_to_string(path).expect("golden/crab-fit.txt");
        assert_eq!(line.as_str(), golden.trim_end());
    }

    #[test]
    fn crab_fit_finds_pearsons_two_components() {
        let (m, r) = crabs::fit_f32().unwrap();
        assert_eq!(r.n_iter, 3000);
        // Pearson (1894): means ≈ 0.633 and 0.656, weights ≈ 0.41/0.59 (from the grouped data;
        // EM on bin centres lands within 0.003 of those).
        let (w, mu) = (m.weights(), m.means());
        assert!((mu[0][0] - 0.633).abs() < 3e-3 && (mu[1][0] - 0.656).abs() < 3e-3, "{mu:?}");
        assert!((w[0] - 0.41).abs() < 0.02, "{w:?}");
        let sd0 = m.covariances()[0][0][0].sqrt();
        let sd1 = m.covariances()[1][0][0].sqrt();
        assert!((0.008..0.025).contains(&sd0) && (0.008..0.025).contains(&sd1), "{sd0} {sd1}");
        // Against an f64 fit of the same points, same seed, same fixed iteration count.
        let data64: Vec<[f64; 1]> = crabs::RATIOS.iter().map(|x| [x[0] as f64]).collect();
        let c = crabs::fit_config();
        let c64 = FitConfig {
            kind: c.kind,
            init: c.init,
            n_init: c.n_init,
            max_iter: c.max_iter,
            tol: 0.0,
            reg_covar: 1e-6,
            reseed_empty: c.reseed_empty,
        };
        let (m64, _) = crabs::fit(&data64, &c64).unwrap();
        let m64 = crabs::sorted_by_mean(&m64).unwrap();
        println!("f64: {m64:?}");
        for k in 0..2 {
            // Measured: 9e-6 and 2.3e-4; the likelihood is flat along this ridge, so f32 rounding
            // moves the weights more than the means.
            assert!((m64.means()[k][0] - mu[k][0] as f64).abs() < 5e-5, "{m64:?}");
            assert!((m64.weights()[k] - w[k] as f64).abs() < 1e-3, "{m64:?}");
        }
    }

    #[test]
    fn crab_online_monitor_agrees_with_batch_fit() {
        let mut monitor = CrabMonitor::new(crab_config()).unwrap();
        let score = run_crabs_online(&mut monitor).unwrap();
        assert_eq!(score.stats.seen, 1000);
        let m = crabs::sorted_by_mean(monitor.model().unwrap()).unwrap();
        let (b, _) = crabs::fit_f32().unwrap();
        for k in 0..2 {
            assert!((m.means()[k][0] - b.means()[k][0]).abs() < 0.01, "{m:?} vs {b:?}");
        }
        // Few crabs lie beyond the 0.1 % contour.
        assert!(score.stats.flagged <= 10, "{:?}", score.stats);
    }
}
