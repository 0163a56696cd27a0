//! On-device density monitoring: learn p(x) from a sensor stream and flag unlikely samples, in
//! fixed memory, with no allocator and no reachable panic.
//!
//! A firmware holds one [`DensityMonitor`] (in a `static`: it is the RAM budget), pushes every
//! sample into it and acts on the [`Verdict`]. This is `kernels/examples/monitor.rs`, which the
//! test suite builds for `thumbv7em-none-eabihf` and `thumbv6m-none-eabi` and tests on the host:
//!
//! ```rust,ignore
#![doc = include_str!("../../examples/monitor.rs")]
//! ```
//!
//! What happens inside:
//!
//! * Warm-up: the first W samples fill a window; a batch EM fit (k-means++) over it gives the
//!   first model.
//! * Then, per sample: ln p(x) under the current model; below the threshold the sample is flagged
//!   and kept out of the model and the window (an anomaly must not teach the model that it is
//!   normal); otherwise one online-EM step (stochastic approximation, step (n + n0)^−α) absorbs it
//!   and it enters the window.
//! * Every `refit_every` accepted samples, batch EM over the window starting from the current
//!   model corrects what the noisy online steps have drifted into; a refit that fails (a window
//!   degenerate in working precision) keeps the online model and is counted.
//!
//! Memory is fixed: the model, its online state, one set of sufficient statistics for the batch
//! fits and a W-sample ring buffer, all inline. The batch fits run in place in that storage
//! ([`OnlineEm::fit`], [`OnlineEm::refine`]), so the stack holds no model or statistics copies:
//! that is what keeps the firmware's K = 4, D = 2 loop within its 2 KiB stack budget.

mod tail;
mod window;

use crate::gmm::{FitConfig, GaussianMixture, OnlineConfig, OnlineEm, SufficientStats};
use crate::{Error, Real, Result};
use rand_core::Rng;
pub use tail::{LowestValues, Tail};
use window::Window;

/// Values of ln p the calibration keeps (the lowest of the window): a rate-calibrated monitor
/// needs `rate · W < TAIL_VALUES − 1`, so that the tail's level lies inside the window.
pub const TAIL_VALUES: usize = 32;

/// When a sample is flagged.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Alarm<T> {
    /// When ln p(x) is below this fixed value.
    LogDensityBelow(T),
    /// At this rate among normal samples (0 < rate, rate · W < [`TAIL_VALUES`] − 1): the
    /// threshold is the rate-quantile of ln p over the window, estimated after the warm-up fit
    /// and again after every refit ([`LowestValues::quantile`]: an exponential tail over the
    /// window's lowest values).
    FalseAlarmRate(T),
}

/// How the monitor learns and when it flags.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MonitorConfig<T> {
    /// When to flag a sample.
    pub alarm: Alarm<T>,
    /// Accepted samples between two batch refits over the window.
    pub refit_every: u32,
    /// Online-EM schedule. With α = 1 and `n0` = W the step after a (re)fit over W samples is
    /// 1/(W + n): each new sample weighs like one more among the W the fit saw. (α = 0.6 with the
    /// same n0 gives steps ≈ 0.05, an effective memory of ≈ 5 samples per component, and
    /// covariance estimates noisy enough to raise false alarms tenfold.) `average_from` is not
    /// used: the monitor keeps no Polyak average (that storage is its batch fits' scratch).
    pub online: OnlineConfig<T>,
    /// Batch EM settings for the warm-up fit and the refits (`init` is used by the warm-up only).
    /// `n_init` must be 1: the warm-up fit runs in place and keeps no second model.
    pub batch: FitConfig<T>,
}

/// What the monitor made of one sample.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict<T> {
    /// Still filling the warm-up window; no model yet.
    WarmingUp,
    /// ln p(x) at or above the threshold: absorbed into the model.
    Normal {
        /// ln p(x) under the model before the update.
        log_density: T,
    },
    /// ln p(x) below the threshold: flagged, not learned from.
    Anomalous {
        /// ln p(x) under the current model.
        log_density: T,
    },
}

/// Counters the monitor keeps (saturating).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MonitorStats {
    /// Samples seen.
    pub seen: u32,
    /// Samples flagged.
    pub flagged: u32,
    /// Batch refits done (the warm-up fit not included).
    pub refits: u32,
    /// Refits that failed and were skipped.
    pub failed_refits: u32,
}

/// Online density estimation with a K-component, D-dimensional mixture and a W-sample window.
pub struct DensityMonitor<T, const K: usize, const D: usize, const W: usize> {
    /// Holds a placeholder model until the warm-up fit succeeds (`fitted`), so that the fit can
    /// run in its storage.
    online: OnlineEm<T, K, D>,
    fitted: bool,
    /// Scratch statistics of the batch fits (inline, not on the stack).
    batch_stats: SufficientStats<T, K, D>,
    window: Window<T, D, W>,
    since_refit: u32,
    /// Flag below this ln p: the fixed value, or the calibrated one.
    threshold: T,
    /// Calibration only: the lowest predictive ln p at or above `floor` since the last restart.
    tail: LowestValues<T, TAIL_VALUES>,
    /// Calibration only: scores below this are left out of `tail` (anomalies, far below the
    /// threshold), scores between it and the threshold are kept (flagged, but they are the
    /// false alarms the rate is about).
    floor: T,
    config: MonitorConfig<T>,
    stats: MonitorStats,
}

impl<T: Real, const K: usize, const D: usize, const W: usize> DensityMonitor<T, K, D, W> {
    /// The warm-up window must be able to hold K samples for k-means++ to start.
    const WINDOW_OK: () = assert!(W >= K, "the window must hold at least K samples");

    /// An empty monitor. Errors: invalid online or batch configuration, `batch.n_init` ≠ 1, a
    /// NaN threshold, a rate outside 0 < rate, rate · W < [`TAIL_VALUES`] − 1.
    pub fn new(config: MonitorConfig<T>) -> Result<Self> {
        let () = Self::WINDOW_OK;
        let threshold = match config.alarm {
            Alarm::LogDensityBelow(t) if !t.is_nan() => t,
            Alarm::LogDensityBelow(_) => {
                return Err(Error::InvalidParameter { name: "alarm", reason: "the threshold is NaN" });
            }
            Alarm::FalseAlarmRate(q)
                if q > T::ZERO && q * T::from_usize(W) < T::from_usize(TAIL_VALUES - 1) =>
            {
                // Until the warm-up fit calibrates it there is no model to flag against.
                T::from_f64(f64::NEG_INFINITY)
            }
            Alarm::FalseAlarmRate(_) => {
                return Err(Error::InvalidParameter {
                    name: "alarm",
                    reason: "the false-alarm rate must be > 0 and below (TAIL_VALUES - 1) / W",
                });
            }
        };
        config.online.validate()?;
        config.batch.validate()?;
        if config.batch.n_init != 1 {
            return Err(Error::InvalidParameter {
                name: "n_init",
                reason: "the monitor's warm-up fit runs one initialization, in place",
            });
        }
        // Any valid model of the right kind will do: the warm-up fit overwrites all of it.
        let placeholder = GaussianMixture::standard(config.batch.kind);
        Ok(Self {
            online: OnlineEm::new(placeholder, config.online)?,
            fitted: false,
            batch_stats: SufficientStats::new(config.batch.kind),
            window: Window::new(),
            since_refit: 0,
            threshold,
            tail: LowestValues::new(),
            floor: T::from_f64(f64::NEG_INFINITY),
            config,
            stats: MonitorStats::default(),
        })
    }

    /// The current model (`None` during warm-up).
    pub fn model(&self) -> Option<&GaussianMixture<T, K, D>> {
        self.fitted.then(|| self.online.model())
    }

    /// Counters so far.
    pub fn stats(&self) -> MonitorStats {
        self.stats
    }

    /// Samples with ln p below this are flagged: the fixed threshold, or the calibrated one (−∞
    /// until the warm-up fit).
    pub fn threshold(&self) -> T {
        self.threshold
    }

    /// The configuration in use.
    pub fn config(&self) -> &MonitorConfig<T> {
        &self.config
    }

    /// Forgets the model, the window and the counters; keeps the configuration.
    pub fn reset(&mut self) {
        self.fitted = false;
        self.window.clear();
        self.since_refit = 0;
        self.stats = MonitorStats::default();
        self.tail.clear();
        self.floor = T::from_f64(f64::NEG_INFINITY);
        if let Alarm::FalseAlarmRate(_) = self.config.alarm {
            self.threshold = self.floor;
        }
    }

    /// Takes one sample. `rng` drives the warm-up fit's k-means++ only.
    ///
    /// Errors: a non-finite sample (`NonFiniteSample`), or a warm-up fit that fails (e.g. a
    /// window of identical samples with `reg_covar` = 0); the monitor stays usable either way.
    pub fn push<R: Rng + ?Sized>(&mut self, x: &[T; D], rng: &mut R) -> Result<Verdict<T>> {
        self.stats.seen = self.stats.seen.saturating_add(1);
        if !self.fitted {
            return self.warm_up(x, rng);
        }
        let log_density = score(self.online.model(), x)?;
        if matches!(self.config.alarm, Alarm::FalseAlarmRate(_)) && log_density >= self.floor {
            // Scored before the model learns from it: what a new sample's ln p looks like.
            self.tail.push(log_density);
        }
        if log_density < self.threshold {
            self.stats.flagged = self.stats.flagged.saturating_add(1);
            return Ok(Verdict::Anomalous { log_density });
        }
        self.absorb(x)?;
        Ok(Verdict::Normal { log_density })
    }

    // The paths below are kept out of line: with LTO, LLVM would otherwise merge the temporaries
    // of the warm-up fit, the online step and the refit into one frame and the per-sample stack
    // would carry all of them at once (measured on the M4F: 5.3 KiB instead of < 2 KiB).

    /// Fills the window; when full, fits the first model by batch EM with k-means++.
    #[inline(never)]
    fn warm_up<R: Rng + ?Sized>(&mut self, x: &[T; D], rng: &mut R) -> Result<Verdict<T>> {
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFiniteSample { sample: 0, feature: i });
        }
        self.window.write(*x);
        if self.window.is_full() {
            self.online.fit(self.window.as_slice(), &self.config.batch, &mut self.batch_stats, rng)?;
            self.fitted = true;
            self.calibrate_on_window();
        }
        Ok(Verdict::WarmingUp)
    }

    /// One online-EM step on a sample judged normal; a batch refit every `refit_every`.
    #[inline(never)]
    fn absorb(&mut self, x: &[T; D]) -> Result<()> {
        self.online_step(x)?;
        self.window.write(*x);
        self.since_refit = self.since_refit.saturating_add(1);
        if self.since_refit >= self.config.refit_every {
            self.since_refit = 0;
            self.refit();
        }
        Ok(())
    }

    /// The online-EM update, out of line so that its transactional model copy (inside
    /// `OnlineEm::update`) is not in `absorb`'s frame while the refit runs.
    #[inline(never)]
    fn online_step(&mut self, x: &[T; D]) -> Result<T> {
        self.online.update_runtime_sized(x)
    }

    /// Batch EM over the window from the current model, in place; on failure keeps the online
    /// model (`OnlineEm::refine` leaves it unchanged).
    #[inline(never)]
    fn refit(&mut self) {
        let batch = FitConfig { kind: self.online.model().kind(), ..self.config.batch };
        match self.online.refine(self.window.as_slice(), &batch, &mut self.batch_stats) {
            Ok(_) => {
                self.stats.refits = self.stats.refits.saturating_add(1);
                self.calibrate();
            }
            Err(_) => self.stats.failed_refits = self.stats.failed_refits.saturating_add(1),
        }
    }

    /// With a target false-alarm rate, after the warm-up fit: the threshold becomes the
    /// rate-quantile of ln p over the window under the model just fitted (there are no other
    /// scores yet). Kept at −∞ if the tail cannot say (it always can for a valid rate and a full
    /// window of finite samples).
    #[inline(never)]
    fn calibrate_on_window(&mut self) {
        let Alarm::FalseAlarmRate(rate) = self.config.alarm else {
            return;
        };
        self.tail.clear();
        let model = self.online.model();
        for x in self.window.as_slice() {
            if let Ok(lp) = score(model, x) {
                self.tail.push(lp);
            }
        }
        self.adopt(rate * T::from_f64(WINDOW_RATE_FACTOR));
        self.tail.clear();
    }

    /// With a target false-alarm rate, after a refit: the threshold becomes the rate-quantile of
    /// the ln p that the samples accepted since the last restart had when they arrived, scored
    /// before the model learned from them (the window's own ln p under a model fitted to it are
    /// optimistic: measured on the firmware's sensor, its 1 % quantile sat at the predictive
    /// 10 %). Those scores were cut at the threshold, which the tail fit accounts for. Waits for
    /// W scores; restarts the count once the tail's level m/n would fall below twice the rate,
    /// so that the estimate follows a changing stream and the extrapolation stays short.
    #[inline(never)]
    fn calibrate(&mut self) {
        let Alarm::FalseAlarmRate(rate) = self.config.alarm else {
            return;
        };
        if (self.tail.count() as usize) < MIN_SCORES {
            return;
        }
        self.adopt(rate);
        let m = T::from_usize(TAIL_VALUES - 1);
        if T::from_usize(self.tail.count() as usize) * rate * T::from_f64(2.0) >= m {
            self.tail.clear();
        }
    }
}

impl<T: Real, const K: usize, const D: usize, const W: usize> DensityMonitor<T, K, D, W> {
    /// The tail's rate-quantile becomes the threshold; the floor goes FLOOR_DECADES decades of
    /// probability below it (ln 10⁻² = 4.6 β): far enough that the fit sees the whole region the
    /// false alarms come from, close enough to leave out gross anomalies.
    fn adopt(&mut self, rate: T) {
        if let Some(t) = self.tail.tail(rate, self.floor) {
            self.threshold = t.quantile;
            self.floor = t.quantile - t.scale * T::from_f64(FLOOR_DECADES * core::f64::consts::LN_10);
        }
    }
}

/// ln p(x) through the runtime-sized core ([`crate::gmm::MixtureRef::log_density`]), the same
/// bits and errors as [`GaussianMixture::log_density`]: the monitor's batch fits run on the slice routines,
/// so its scoring and online steps do too, and the image carries one copy of each kernel
/// instead of a slice one and one unrolled at K and D (issue 18: with the online step, 3 532 B
/// of flash on the Cortex-M0, 5 460 B on the M4F at K = 4, D = 2; the price, per normal sample
/// on the M4F: 6 107 instructions instead of 2 679, `firmware/golden/insns.txt`).
fn score<T: Real, const K: usize, const D: usize>(model: &GaussianMixture<T, K, D>, x: &[T; D]) -> Result<T> {
    // The slice routine returns NaN or −∞ for a non-finite x; the fixed one refuses it.
    if let Some(feature) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFiniteSample { sample: 0, feature });
    }
    let mut lp = [T::ZERO; K];
    let mut work = [[T::ZERO; D]; 2];
    model.view().log_density(x, &mut lp, work.as_flattened_mut())
}

/// How far below the calibrated threshold predictive scores still count for the calibration,
/// in decades of the fitted tail's probability.
const FLOOR_DECADES: f64 = 2.0;

/// The rate asked of the warm-up window's own ln p, relative to the target. ln p of samples under
/// a model fitted to them are optimistic in the tail.
const WINDOW_RATE_FACTOR: f64 = 0.1;

/// Predictive scores needed before they replace the window's calibration.
const MIN_SCORES: usize = 64;

#[cfg(test)]
mod tests;
