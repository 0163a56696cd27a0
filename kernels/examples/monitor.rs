//! A firmware's density monitor: learn the sensor's density, raise an alarm on unlikely samples.
#![cfg_attr(not(test), no_std)]

use crabmix_kernels::gmm::{CovarianceKind, FitConfig, InitMethod, OnlineConfig};
use crabmix_kernels::monitor::{Alarm, DensityMonitor, MonitorConfig, Verdict};
use rand_xoshiro::Xoshiro128PlusPlus;

/// K = 2 components, D = 2 dimensions, a 64-sample window: ≈ 1.1 KiB, kept in a `static`.
pub type Monitor = DensityMonitor<f32, 2, 2, 64>;

/// Flag below ln p = −9, refit every 32 accepted samples; online steps 1/(64 + n).
pub fn config() -> MonitorConfig<f32> {
    let batch = FitConfig {
        kind: CovarianceKind::Full,
        init: InitMethod::KMeansPlusPlus,
        n_init: 1,
        ..FitConfig::default()
    };
    let online = OnlineConfig { alpha: 1.0, n0: 64.0, ..OnlineConfig::default() };
    MonitorConfig { alarm: Alarm::LogDensityBelow(-9.0), refit_every: 32, online, batch }
}

/// Called from the sensor's interrupt or main loop: returns true when `x` should raise the alarm.
pub fn on_sample(monitor: &mut Monitor, x: [f32; 2], rng: &mut Xoshiro128PlusPlus) -> bool {
    match monitor.push(&x, rng) {
        Ok(Verdict::WarmingUp) | Ok(Verdict::Normal { .. }) => false,
        Ok(Verdict::Anomalous { log_density: _ }) => true,
        // A NaN from a broken sensor, or a degenerate warm-up window: an alarm of its own kind.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    #[test]
    fn flags_the_outlier_and_only_it() {
        let mut monitor = Monitor::new(config()).expect("valid configuration");
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(7);
        // Two tight clusters at (0, 0) and (5, 5), points on a small deterministic grid.
        let grid = |i: usize| {
            let c = if i % 2 == 0 { 0.0 } else { 5.0 };
            [c + 0.1 * ((i % 5) as f32 - 2.0), c + 0.1 * ((i % 7) as f32 - 3.0)]
        };
        for i in 0..96 {
            assert!(!on_sample(&mut monitor, grid(i), &mut rng), "sample {i}");
        }
        assert!(monitor.model().is_some());
        assert!(on_sample(&mut monitor, [2.5, 2.5], &mut rng), "the midpoint between the clusters");
        assert!(on_sample(&mut monitor, [f32::NAN, 0.0], &mut rng), "a NaN sample");
        assert_eq!(monitor.stats().flagged, 1);
    }
}
