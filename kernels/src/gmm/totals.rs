//! The scalar totals of a statistics block: sample count, compensated log-likelihood sum and
//! the worst sample's log-likelihood.

use crate::{Error, Real, Result};

/// Scalar totals of a statistics block.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Totals<T> {
    /// Number of samples accumulated, N.
    pub samples: u64,
    /// Σ ln p(x) under the model used while accumulating (Neumaier-compensated with `compensation`).
    pub log_likelihood: T,
    /// Running compensation term of the log-likelihood sum.
    pub compensation: T,
    /// The smallest ln p(x) seen (`T::MAX` when none); its sample is kept for re-seeding.
    pub worst_log_likelihood: T,
    /// Σ (w_i − 1) over the samples' weights w_i: the total weight is N + this. Kept as the
    /// excess over 1 so that unweighted data (every w = 1) leaves it exactly 0 and N an exact
    /// count in any precision.
    pub weight_excess: T,
}

impl<T: Real> Default for Totals<T> {
    fn default() -> Self {
        Self {
            samples: 0,
            log_likelihood: T::ZERO,
            compensation: T::ZERO,
            worst_log_likelihood: T::MAX,
            weight_excess: T::ZERO,
        }
    }
}

impl<T: Real> Totals<T> {
    /// Σ ln p(x) including the compensation.
    pub fn log_likelihood_sum(&self) -> T {
        self.log_likelihood + self.compensation
    }

    /// Total weight W = N + Σ (w − 1) = Σ w (N for unweighted data).
    pub fn total_weight(&self) -> T {
        T::from_u64(self.samples) + self.weight_excess
    }

    /// Weighted mean log-likelihood (1/W) Σ w ln p(x) (the plain mean for unweighted data);
    /// `Err(EmptyData)` when N = 0 or W = 0.
    pub fn mean_log_likelihood(&self) -> Result<T> {
        let w = self.total_weight();
        if self.samples == 0 || !(w > T::ZERO) {
            return Err(Error::EmptyData);
        }
        Ok(self.log_likelihood_sum() / w)
    }

    /// Adds `other`'s totals, as [`StatsMut::merge`](super::StatsMut::merge) does: N and the
    /// weight excess summed, `other`'s log-likelihood sum and then its compensation added
    /// compensated, the lower worst ln p(x) kept. Returns whether `other`'s worst is the new one
    /// (its sample should then replace the caller's).
    pub fn merge(&mut self, other: &Self) -> bool {
        self.samples = self.samples.saturating_add(other.samples);
        self.add_log_likelihood(other.log_likelihood);
        self.add_log_likelihood(other.compensation);
        self.weight_excess += other.weight_excess;
        let lower = other.worst_log_likelihood < self.worst_log_likelihood;
        if lower {
            self.worst_log_likelihood = other.worst_log_likelihood;
        }
        lower
    }

    /// Neumaier's compensated addition of `v` to the log-likelihood sum: t = s + v, the
    /// compensation gains the rounding error of t ((s − t) + v when |s| ≥ |v|, else (v − t) + s).
    pub fn add_log_likelihood(&mut self, v: T) {
        let s = self.log_likelihood;
        let t = s + v;
        if s.abs() >= v.abs() {
            self.compensation += (s - t) + v;
        } else {
            self.compensation += (v - t) + s;
        }
        self.log_likelihood = t;
    }
}
