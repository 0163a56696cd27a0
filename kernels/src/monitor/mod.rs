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

mod window;

use crate::gmm::{FitConfig, GaussianMixture, OnlineConfig, OnlineEm, SufficientStats};
use crate::{Error, Real, Result};
use rand_core::Rng;
use window::Window;

/// How the monitor learns and when it flags.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MonitorConfig<T> {
    /// Flag a sample when ln p(x) is below this.
    pub threshold: T,
    /// Accepted samples between two batch refits over the window.
    pub refit_every: u32,
    /// Online-EM schedule. With α = 1 and `n0` = W the step after a (re)fit over W samples is
    /// 1/(W + n): each new sample weighs like one more among the W the fit saw. (α = 0.6 with the
    /// same n0 gives steps ≈ 0.05, an effective memory of ≈ 5 samples per component, and
    /// covariance estimates noisy enough to raise false alarms tenfold.)
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
    config: MonitorConfig<T>,
    stats: MonitorStats,
}

impl<T: Real, const K: usize, const D: usize, const W: usize> DensityMonitor<T, K, D, W> {
    /// The warm-up window must be able to hold K samples for k-means++ to start.
    const WINDOW_OK: () = assert!(W >= K, "the window must hold at least K samples");

    /// An empty monitor. Errors: invalid online or batch configuration, `batch.n_init` ≠ 1.
    pub fn new(config: MonitorConfig<T>) -> Result<Self> {
        let () = Self::WINDOW_OK;
        config.online.validate()?;
        config.batch.validate()?;
        if config.batch.n_init != 1 {
            return Err(Error::InvalidParameter {
                name: "n_init",
                reason: "the monitor's warm-up fit runs one initialization, in place",
            });
        }
        // Any valid model of the right kind will do: the warm-up fit overwrites all of it.
        let eye: [[T; D]; D] =
            core::array::from_fn(|i| core::array::from_fn(|j| if i == j { T::ONE } else { T::ZERO }));
        let placeholder = GaussianMixture::new(
            config.batch.kind,
            [T::ONE / T::from_usize(K); K],
            [[T::ZERO; D]; K],
            [eye; K],
        )?;
        Ok(Self {
            online: OnlineEm::new(placeholder, config.online)?,
            fitted: false,
            batch_stats: SufficientStats::new(config.batch.kind),
            window: Window::new(),
            since_refit: 0,
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
        let log_density = self.online.model().log_density(x)?;
        if log_density < self.config.threshold {
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
        self.online.update(x)
    }

    /// Batch EM over the window from the current model, in place; on failure keeps the online
    /// model (`OnlineEm::refine` leaves it unchanged).
    #[inline(never)]
    fn refit(&mut self) {
        let batch = FitConfig { kind: self.online.model().kind(), ..self.config.batch };
        match self.online.refine(self.window.as_slice(), &batch, &mut self.batch_stats) {
            Ok(_) => self.stats.refits = self.stats.refits.saturating_add(1),
            Err(_) => self.stats.failed_refits = self.stats.failed_refits.saturating_add(1),
        }
    }
}

#[cfg(test)]
mod tests;
