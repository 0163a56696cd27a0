//! The firmware's runs, shared by the device binary and the host tests: the sensor run with its
//! score, the crab runs, and the one-line crab report compared between host and device.

use crate::crabs;
use crate::source::{CrabStream, SampleSource, SyntheticSensor};
use core::fmt::{self, Write};
use crabmix_kernels::Result;
use crabmix_kernels::gmm::{CovarianceKind, FitConfig, FitReport, GaussianMixture, InitMethod, OnlineConfig};
use crabmix_kernels::monitor::{Alarm, DensityMonitor, MonitorConfig, MonitorStats, Verdict};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Window of the sensor monitor (128 × 2 × 4 B = 1 KiB).
pub const SENSOR_WINDOW: usize = 128;
/// Window of the crab monitor.
pub const CRAB_WINDOW: usize = 128;
/// The sensor monitor's target false-alarm rate.
pub const SENSOR_FALSE_ALARM_RATE: f32 = 0.001;
/// Seed of the warm-up k-means++ in both monitors.
pub const MONITOR_SEED: u64 = 2024;

/// The sensor monitor: K = 4, D = 2, full covariance (the budget case).
pub type SensorMonitor = DensityMonitor<f32, 4, 2, SENSOR_WINDOW>;
/// The crab monitor: K = 2, D = 1.
pub type CrabMonitor = DensityMonitor<f32, 2, 1, CRAB_WINDOW>;

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

/// Monitor settings for the synthetic sensor: alarms calibrated to 0.1 % of the clean samples
/// (`Alarm::FalseAlarmRate`; the test below measures 1.31 × that over 95 000 samples). The fixed
/// threshold this replaces, ln p = −10, was derived from the true model (a cluster of weight ¼
/// and σ = 0.4 has peak ln p = −1.39; −10 is r² = 17.2, 0.02 % under it) and measured 0.14 % on
/// the estimated one; the calibrated threshold settles near −11. The injected anomalies sit at
/// r ≈ 10, ln p ≈ −50.
pub fn sensor_config() -> MonitorConfig<f32> {
    MonitorConfig {
        alarm: Alarm::FalseAlarmRate(SENSOR_FALSE_ALARM_RATE),
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
pub fn crab_config() -> MonitorConfig<f32> {
    MonitorConfig {
        alarm: Alarm::LogDensityBelow(-2.5),
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
    monitor: &mut DensityMonitor<f32, K, D, W>,
    source: &mut impl SampleSource<D>,
    mut hook: impl FnMut(u32, &[f32; D], Verdict<f32>, &DensityMonitor<f32, K, D, W>),
) -> Result<Score> {
    monitor.reset();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(MONITOR_SEED);
    let (mut injected, mut tp, mut fp) = (0, 0, 0);
    let mut t = 0;
    while let Some(s) = source.next_sample() {
        let v = monitor.push(&s.x, &mut rng)?;
        let flagged = matches!(v, Verdict::Anomalous { .. });
        injected = u32::saturating_add(injected, s.injected_anomaly as u32);
        tp = u32::saturating_add(tp, (flagged && s.injected_anomaly) as u32);
        fp = u32::saturating_add(fp, (flagged && !s.injected_anomaly) as u32);
        hook(t, &s.x, v, monitor);
        t = t.saturating_add(1);
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

/// Bytes a [`Line`] holds: room for the longest possible [`crab_line`] (checked by a host test).
pub const LINE_CAPACITY: usize = 384;

/// A line of text in a fixed buffer. [`fmt::Write`] appends whole pieces: one that does not fit is
/// dropped and reported as `fmt::Error`, so the text stays valid UTF-8. (A small stand-in for
/// `heapless::String`, without its arithmetic-overflow panic paths: the app is proven panic-free
/// at link time, `panic-paths.sh`.)
#[derive(Clone)]
pub struct Line {
    buf: [u8; LINE_CAPACITY],
    len: usize,
}

impl Line {
    /// An empty line.
    pub const fn new() -> Self {
        Self { buf: [0; LINE_CAPACITY], len: 0 }
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.buf.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// 10⁰ … 10⁹.
const POW10: [u64; 10] =
    [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];

/// `Fixed(v, p)` displays `v` with `p` ≤ 9 digits after the point exactly as `format!("{v:.p$}")`
/// does (the exact binary value correctly rounded, ties to even; `-` for every negative value,
/// `-0` included; `NaN`, `inf`, `-inf`), without core's float formatting, whose digit-generation
/// code keeps panic paths that the link-time proof cannot rule out. An f32 is m·2^e with m < 2²⁴,
/// so u128 integer arithmetic is exact: for e ≥ 0 the value is the integer m·2^e < 2¹²⁸, for
/// e < 0 it is m·10^p / 2^−e (m·10^p < 2⁵⁴) rounded to an integer count of 10^−p. A host test
/// compares it with `format!` on millions of values.
#[derive(Clone, Copy, Debug)]
pub struct Fixed(pub f32, pub usize);

/// Writes `x` in decimal with at least `min_digits` digits (leading zeros).
fn write_decimal(f: &mut fmt::Formatter<'_>, mut x: u128, min_digits: usize) -> fmt::Result {
    // u128::MAX has 39 digits.
    let mut buf = [b'0'; 40];
    let mut start = buf.len();
    let first = buf.len().saturating_sub(min_digits);
    while x > 0 || start > first {
        let Some(i) = start.checked_sub(1) else {
            break;
        };
        start = i;
        if let Some(b) = buf.get_mut(i) {
            *b = b'0' + (x % 10) as u8;
        }
        x /= 10;
    }
    f.write_str(core::str::from_utf8(buf.get(start..).unwrap_or(&[])).unwrap_or(""))
}

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Fixed(v, p) = *self;
        if v.is_nan() {
            return f.write_str("NaN");
        }
        if v.is_sign_negative() {
            f.write_str("-")?;
        }
        if v.is_infinite() {
            return f.write_str("inf");
        }
        let p = p.min(POW10.len() - 1);
        let scale = POW10.get(p).copied().unwrap_or(1);
        let bits = v.to_bits();
        let biased = (bits >> 23) & 0xff;
        let fraction = bits & 0x7f_ffff;
        // v = m · 2^(e − 150) with e ≤ 254 here (255 is inf/NaN).
        let (m, e) = if biased == 0 { (fraction, 1) } else { (fraction | 0x80_0000, biased) };
        let (int, frac) = if e >= 150 {
            ((m as u128).checked_shl(e - 150).unwrap_or(0), 0)
        } else {
            let shift = 150 - e;
            // < 2²⁴ · 10⁹ < 2⁵⁴: no overflow.
            let n = (m as u128).wrapping_mul(scale as u128);
            let (mut q, r, half) = match (n.checked_shr(shift), 1u128.checked_shl(shift - 1)) {
                (Some(q), Some(half)) => (q, n & (half.wrapping_shl(1).wrapping_sub(1)), half),
                // 2^shift ≥ 2¹²⁸ > 2n: rounds to 0.
                _ => (0, n, u128::MAX),
            };
            if r > half || (r == half && q & 1 == 1) {
                q = q.wrapping_add(1);
            }
            (q / scale as u128, (q % scale as u128) as u64)
        };
        write_decimal(f, int, 1)?;
        if p > 0 {
            f.write_str(".")?;
            write_decimal(f, frac as u128, p)?;
        }
        Ok(())
    }
}

/// One line with the fitted crab mixture, decimal for people and IEEE bits for the comparison;
/// components in increasing order of mean. The host and the device format it with the same code.
pub fn crab_line(m: &GaussianMixture<f32, 2, 1>, r: &FitReport<f32>) -> Line {
    let mut s = Line::new();
    let w = m.weights();
    let mu = [m.means()[0][0], m.means()[1][0]];
    let var = [m.covariances()[0][0][0], m.covariances()[1][0][0]];
    // 384 bytes hold the longest possible line (checked by a host test); a full buffer only
    // truncates the text, so the error is ignored. Decimals through `Fixed` (= `{:.5}`).
    let _ = write!(
        s,
        "crab-fit {} {} n_iter={} converged={} w=[{} {}] mu=[{} {}] sd=[{} {}] \
         mean_ll={} bits w=[{:08x} {:08x}] mu=[{:08x} {:08x}] var=[{:08x} {:08x}] mean_ll={:08x}",
        <f32 as crabmix_kernels::Real>::NAME,
        r.backend.name(),
        r.n_iter,
        r.converged,
        Fixed(w[0], 5),
        Fixed(w[1], 5),
        Fixed(mu[0], 5),
        Fixed(mu[1], 5),
        Fixed(libm::sqrtf(var[0]), 5),
        Fixed(libm::sqrtf(var[1]), 5),
        Fixed(r.mean_log_likelihood, 6),
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

    /// `Fixed` against core's `{:.p}` on every kind of f32: specials, ties (k/2^j), every binade,
    /// subnormals and pseudo-random bit patterns, for every precision 0 … 9.
    #[test]
    fn fixed_matches_core_float_formatting() {
        use rand_core::Rng;
        let check = |v: f32| {
            for p in 0..=9 {
                assert_eq!(
                    Fixed(v, p).to_string(),
                    format!("{v:.p$}"),
                    "{v:e} ({:#010x}) p={p}",
                    v.to_bits()
                );
            }
        };
        for v in [0.0, -0.0, f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN] {
            check(v);
        }
        for v in [f32::MIN_POSITIVE, f32::EPSILON, 1e-45, 0.5, 1.5, 2.5, 0.125, 0.375, 9.999995, 0.0000005] {
            check(v);
            check(-v);
        }
        // Ties at every precision: odd multiples of 2^−j.
        for j in 1..40 {
            for k in (1..200u32).step_by(2) {
                check(k as f32 / (1u64 << j) as f32);
            }
        }
        // Every binade and the subnormals, a few mantissas each.
        for biased in 0..255u32 {
            for m in [0, 1, 2, 0x40_0000, 0x55_5555, 0x7f_fffe, 0x7f_ffff] {
                check(f32::from_bits(biased << 23 | m));
            }
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(8);
        for _ in 0..100_000 {
            check(f32::from_bits(rng.next_u32()));
            // Values of the crab line's magnitude.
            check(f32::from_bits(rng.next_u32() % 0x4200_0000));
        }
    }

    /// The longest line `crab_line` can print fits in a `Line` (nothing truncated).
    #[test]
    fn longest_crab_line_fits() {
        let big = f32::MAX;
        let m = GaussianMixture::new(CovarianceKind::Full, [0.5, 0.5], [[-big], [-big]], [[[big]], [[big]]])
            .unwrap();
        let r = FitReport {
            n_iter: u32::MAX,
            converged: false,
            lower_bound: -big,
            mean_log_likelihood: -big,
            samples: u64::MAX,
            total_weight: big,
            reseeded: u32::MAX,
            empty: u32::MAX,
            best_init: u32::MAX,
            backend: crabmix_kernels::MathBackend::Micromath,
        };
        let line = crab_line(&m, &r);
        assert!(line.as_str().ends_with(&format!("mean_ll={:08x}", (-big).to_bits())), "{line}");
        println!("longest crab line: {} of {LINE_CAPACITY} bytes", line.as_str().len());
    }

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
    fn flags_injected_anomalies_on_drifting_sensor() {
        let (score, m) = run_sensor(&mut SyntheticSensor::new(11, 2000)).unwrap();
        // 37 anomalies injected, each ≥ 7 σ from every cluster: all caught; the clean clusters
        // are flagged at about the target rate (0.1 % of 1835 scored ≈ 2), allow 0.5 %.
        assert_eq!(score.injected, 37);
        assert_eq!(score.true_positives, 37, "{score:?}");
        assert!(score.false_positives <= 10, "{score:?}");
        // The model followed the drift: every final centre is within 0.3 of a drifted truth.
        for truth in SyntheticSensor::CENTRES {
            let t = [truth[0] + 2.0, truth[1] - 1.0];
            let best = m
                .means()
                .iter()
                .map(|mu| ((mu[0] - t[0]).powi(2) + (mu[1] - t[1]).powi(2)).sqrt())
                .fold(f32::MAX, f32::min);
            assert!(best < 0.3, "no centre near {t:?}: {:?}", m.means());
        }
    }

    /// Calibrated alarms on the sensor: with a target false-alarm rate of 1 % and of 0.1 %, the
    /// rate measured on the clean samples of ten 10 000-sample streams (≈ 95 000 clean samples
    /// after the warm-ups: 950 and 95 alarms expected) is within a factor 1.5 of the target, and
    /// every injected anomaly is caught. Measured: 1.17 × and 1.31 × the target, 1970/1970.
    #[test]
    fn calibrated_alarms_hit_the_target_rate_on_the_sensor() {
        for rate in [0.01f32, 0.001] {
            let config = MonitorConfig { alarm: Alarm::FalseAlarmRate(rate), ..sensor_config() };
            let mut monitor = SensorMonitor::new(config).unwrap();
            let (mut clean, mut false_alarms, mut injected, mut caught) = (0u32, 0u32, 0u32, 0u32);
            for seed in 100..110 {
                let s = run_monitor(&mut monitor, &mut SyntheticSensor::new(seed, 10_000), |_, _, _, _| {})
                    .unwrap();
                clean += 10_000 - SENSOR_WINDOW as u32 - s.injected;
                false_alarms += s.false_positives;
                injected += s.injected;
                caught += s.true_positives;
            }
            let ratio = false_alarms as f64 / clean as f64 / rate as f64;
            println!("target {rate}: {false_alarms}/{clean} false alarms = {ratio:.2} × the target");
            assert!((1.0 / 1.5..=1.5).contains(&ratio), "target {rate}: {false_alarms}/{clean}");
            assert_eq!(caught, injected);
            assert_eq!(injected, 10 * 197);
        }
    }

    /// The calibrated alarms right after the warm-up ("hot after warm-up", issue 18): the
    /// false-alarm rate over the first 192 clean samples after the 128-sample warm-up (thresholds
    /// from the window's own scores at q/10, then from 64 and 128 predictive scores), against
    /// the rate from sample 512 to 1 023, over 400 streams (75 600 and 200 800 clean samples:
    /// 76 and 201 alarms expected at 0.1 %). Measured at 1 %: 1 023 alarms early = 1.35 × the
    /// target, 2 245 later = 1.12 ×; at 0.1 %: 183 = 2.42 × early, 343 = 1.71 × later (and
    /// 1.31 × over whole 10 000-sample streams, the test above). The excess is real (183 against
    /// 76 expected is 12 σ of a Poisson count) and transient: the first thresholds extrapolate
    /// a 0.1 % quantile from the window's own scores and then from 64–128 predictive ones, and
    /// it fades as the predictive scores accumulate (docs/firmware.md).
    #[test]
    fn calibrated_alarms_after_the_warm_up() {
        let early_end = SENSOR_WINDOW as u32 + 192;
        for (rate, early_max, late_max) in [(0.01f32, 2.0, 1.4), (0.001, 4.0, 2.2)] {
            let config = MonitorConfig { alarm: Alarm::FalseAlarmRate(rate), ..sensor_config() };
            let mut monitor = SensorMonitor::new(config).unwrap();
            let (mut early, mut early_alarms, mut late, mut late_alarms) = (0u32, 0u32, 0u32, 0u32);
            for seed in 1000..1400 {
                let mut source = SyntheticSensor::new(seed, 1024);
                run_monitor(&mut monitor, &mut source, |t, _, v, _| {
                    if t < SENSOR_WINDOW as u32 || SyntheticSensor::is_anomaly(t) {
                        return;
                    }
                    let flagged = matches!(v, Verdict::Anomalous { .. }) as u32;
                    if t < early_end {
                        early += 1;
                        early_alarms += flagged;
                    } else if t >= 512 {
                        late += 1;
                        late_alarms += flagged;
                    }
                })
                .unwrap();
            }
            let early_ratio = early_alarms as f64 / early as f64 / rate as f64;
            let late_ratio = late_alarms as f64 / late as f64 / rate as f64;
            println!(
                "target {rate}: first 192 after warm-up {early_alarms}/{early} = {early_ratio:.2} ×, \
                 from 512 on {late_alarms}/{late} = {late_ratio:.2} ×"
            );
            assert!(early_ratio > late_ratio, "target {rate}: no early excess");
            assert!(early_ratio < early_max && late_ratio < late_max, "target {rate}");
        }
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
