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
}

impl<T: Real> Default for Totals<T> {
    fn default() -> Self {
        Self { samples: 0, log_likelihood: T::ZERO, compensation: T::ZERO, worst_log_likelihood: T::MAX }
    }
}

impl<T: Real> Totals<T> {
    /// Σ ln p(x) including the compensation.
    pub fn log_likelihood_sum(&self) -> T {
        self.log_likelihood + self.compensation
    }

    /// Mean log-likelihood (1/N) Σ ln p(x); `Err(EmptyData)` when N = 0.
    pub fn mean_log_likelihood(&self) -> Result<T> {
        if self.samples == 0 {
            return Err(Error::EmptyData);
        }
        Ok(self.log_likelihood_sum() / T::from_f64(self.samples as f64))
    }

    /// Neumaier's compensated addition of `v` to the log-likelihood sum.
    pub(super) fn add_log_likelihood(&mut self, v: T) {
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
