//! A firmware's density monitor: fit a mixture to a warm-up window, then score every sample of a
//! stream, flag the unlikely ones and learn from the rest with online EM — no allocator, no panic,
//! fixed memory (K = 2, D = 2: one model and its Cholesky factors, ≈ 100 bytes of f32).
//!
//! It is a library, as a firmware's module would be: the test suite builds it for
//! `thumbv7em-none-eabihf` and `thumbv6m-none-eabi`, and runs its test on the host
//! (`cargo test -p crabmix-kernels --example monitor`).
#![cfg_attr(not(test), no_std)]

use crabmix_kernels::Result;
use crabmix_kernels::gmm::{FitConfig, GaussianMixture, OnlineConfig, OnlineEm};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

/// Components and dimensions of the monitored stream.
pub const K: usize = 2;
/// Dimensions of one sample.
pub const D: usize = 2;

/// What the monitor says of one sample: its ln p(x) under the model before the sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// ln p(x) at or above the threshold; the model learned from it.
    Normal(f32),
    /// ln p(x) below the threshold; the model was left unchanged.
    Unlikely(f32),
}

/// A fitted mixture that follows the stream: ln p(x) ≥ `threshold` is normal.
pub struct Monitor {
    online: OnlineEm<f32, K, D>,
    threshold: f32,
}

impl Monitor {
    /// Batch EM (k-means++ start, seeded) on `window`, then online EM from that model.
    /// Errors: the window's (too few, non-finite or degenerate samples) or the fit's.
    pub fn warm_up(window: &[[f32; D]], threshold: f32, seed: u64) -> Result<Self> {
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
        let (model, _report) = GaussianMixture::<f32, K, D>::fit(window, &FitConfig::default(), &mut rng)?;
        Ok(Self { online: OnlineEm::new(model, OnlineConfig::default())?, threshold })
    }

    /// Scores `x`; learns from it only when it is normal, so anomalies do not drag the model.
    pub fn feed(&mut self, x: &[f32; D]) -> Result<Verdict> {
        let log_p = self.online.model().log_density(x)?;
        if log_p < self.threshold {
            return Ok(Verdict::Unlikely(log_p));
        }
        self.online.update(x)?;
        Ok(Verdict::Normal(log_p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_the_outlier_and_only_it() {
        // Two tight clusters at (0, 0) and (5, 5), points on a small deterministic grid.
        let mut window = [[0.0f32; D]; 64];
        for (i, x) in window.iter_mut().enumerate() {
            let c = if i % 2 == 0 { 0.0 } else { 5.0 };
            *x = [c + 0.1 * ((i % 5) as f32 - 2.0), c + 0.1 * ((i % 7) as f32 - 3.0)];
        }
        let mut monitor = Monitor::warm_up(&window, -10.0, 7).expect("warm-up fit");
        for x in &window[..16] {
            assert!(matches!(monitor.feed(x).expect("score"), Verdict::Normal(_)));
        }
        match monitor.feed(&[2.5, 2.5]).expect("score") {
            Verdict::Unlikely(lp) => assert!(lp < -10.0, "ln p = {lp}"),
            v => panic!("the midpoint between the clusters was {v:?}"),
        }
        assert!(monitor.feed(&[f32::NAN, 0.0]).is_err(), "a NaN sample is an error, not a verdict");
    }
}
