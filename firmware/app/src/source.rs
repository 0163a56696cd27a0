//! Where samples come from: one small trait, and the two sources the firmware runs.

use crabmix_kernels::gaussian::standard_normal;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// One sample and, for synthetic sources, whether it was injected as an anomaly (the ground
/// truth the detector is scored against; always `false` for real data).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample<const D: usize> {
    /// The measurement.
    pub x: [f32; D],
    /// Ground truth: this sample was generated off the model on purpose.
    pub injected_anomaly: bool,
}

/// A stream of D-dimensional samples arriving one at a time (a sensor driver on a real board).
pub trait SampleSource<const D: usize> {
    /// The next sample, or `None` when the stream has ended.
    fn next_sample(&mut self) -> Option<Sample<D>>;
}

/// Pearson's 1000 crab ratios, visited in a fixed pseudo-random order: index 617·t mod 1000
/// (617 is prime and coprime to 1000, so every crab comes exactly once). Sorted order would feed
/// online EM one tail first and make it chase the data; no RNG is needed for this permutation.
pub struct CrabStream {
    t: usize,
}

impl CrabStream {
    /// The permutation step (prime, coprime to 1000).
    pub const STRIDE: usize = 617;

    /// A stream at its first sample.
    pub const fn new() -> Self {
        Self { t: 0 }
    }
}

impl Default for CrabStream {
    fn default() -> Self {
        Self::new()
    }
}

impl SampleSource<1> for CrabStream {
    fn next_sample(&mut self) -> Option<Sample<1>> {
        if self.t >= crate::crabs::N {
            return None;
        }
        let i = (self.t * Self::STRIDE) % crate::crabs::N;
        self.t += 1;
        Some(Sample { x: crate::crabs::RATIOS[i], injected_anomaly: false })
    }
}

/// A 2-D "sensor": four Gaussian clusters (σ = 0.4, centres (±3, ±3)) whose centres all drift by
/// `DRIFT` per sample, and every `ANOMALY_PERIOD`-th sample replaced by an anomaly near the
/// drifting origin (≥ 7 σ from every cluster centre). Deterministic for a given seed.
pub struct SyntheticSensor {
    rng: Xoshiro256PlusPlus,
    t: u32,
    len: u32,
}

impl SyntheticSensor {
    /// Cluster centres at t = 0.
    pub const CENTRES: [[f32; 2]; 4] = [[3.0, 3.0], [-3.0, 3.0], [-3.0, -3.0], [3.0, -3.0]];
    /// Standard deviation of each coordinate within a cluster.
    pub const SIGMA: f32 = 0.4;
    /// Drift of every centre per sample (2 units in x over 2000 samples: 5 σ).
    pub const DRIFT: [f32; 2] = [1.0e-3, -0.5e-3];
    /// One sample in this many is an injected anomaly.
    pub const ANOMALY_PERIOD: u32 = 50;
    /// Spread of the anomalies around the drifting origin.
    pub const ANOMALY_SIGMA: f32 = 0.3;

    /// `len` samples from the generator seeded with `seed`.
    pub fn new(seed: u64, len: u32) -> Self {
        Self { rng: Xoshiro256PlusPlus::seed_from_u64(seed), t: 0, len }
    }

    /// No anomalies before this sample: the monitor's warm-up window (128 samples) must see the
    /// clusters only, or k-means++ (which favours far points) may spend a component on one.
    pub const CLEAN_PREFIX: u32 = 150;

    /// Whether sample number `t` (0-based) is an injected anomaly.
    pub const fn is_anomaly(t: u32) -> bool {
        t >= Self::CLEAN_PREFIX && t % Self::ANOMALY_PERIOD == Self::ANOMALY_PERIOD - 1
    }
}

impl SampleSource<2> for SyntheticSensor {
    fn next_sample(&mut self) -> Option<Sample<2>> {
        if self.t >= self.len {
            return None;
        }
        let t = self.t;
        self.t += 1;
        let tf = t as f32;
        let drift = [Self::DRIFT[0] * tf, Self::DRIFT[1] * tf];
        let anomaly = Self::is_anomaly(t);
        let (centre, sigma) = if anomaly {
            ([0.0, 0.0], Self::ANOMALY_SIGMA)
        } else {
            // Top two bits: exactly uniform over the four clusters.
            (Self::CENTRES[(self.rng.next_u32() >> 30) as usize], Self::SIGMA)
        };
        let mut x = [0.0f32; 2];
        for i in 0..2 {
            let z: f32 = standard_normal(&mut self.rng);
            x[i] = centre[i] + drift[i] + sigma * z;
        }
        Some(Sample { x, injected_anomaly: anomaly })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crab_stream_visits_every_crab_once() {
        let mut s = CrabStream::new();
        let mut sum = 0.0f64;
        let mut n = 0;
        while let Some(x) = s.next_sample() {
            sum += x.x[0] as f64;
            n += 1;
        }
        assert_eq!(n, 1000);
        let want: f64 = crate::crabs::RATIOS.iter().map(|x| x[0] as f64).sum();
        assert_eq!(sum, want);
    }

    #[test]
    fn sensor_injects_anomalies_on_schedule() {
        let mut s = SyntheticSensor::new(3, 2000);
        let mut anomalies = 0;
        let mut t = 0;
        while let Some(x) = s.next_sample() {
            assert_eq!(x.injected_anomaly, SyntheticSensor::is_anomaly(t));
            anomalies += x.injected_anomaly as u32;
            t += 1;
        }
        assert_eq!(t, 2000);
        // Samples 199, 249, …, 1999: 37.
        assert_eq!(anomalies, 37);
    }
}
