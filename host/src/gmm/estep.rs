//! The CPU E-step chooser: [`HostEStep`] runs the blocked pass ([`super::blocked`]) when there
//! are enough rows and no sample weights, and the streaming pass ([`super::streaming`]) otherwise.

use super::blocked::BlockedEStep;
use super::streaming::ParallelEStep;
use crabmix_kernels::gmm::{EStep, MixtureRef, Shape, StatsMut};
use crabmix_kernels::{Real, Result};

/// Below this many rows [`HostEStep`] keeps the streaming pass: a fit that small finishes in
/// microseconds either way, and the streaming pass needs no block scratch.
pub const BLOCKED_MIN_ROWS: usize = 64;

/// Whether [`HostEStep`] runs the blocked pass for `shape` on `rows` unweighted samples: at least
/// [`BLOCKED_MIN_ROWS`] rows, any covariance kind. The blocked pass vectorizes across samples,
/// which pays for `diag` and `spherical` too: their per-sample loops have length D, and the
/// responsibilities' K exponentials and one logarithm per row are most of their work.
pub fn uses_blocked(shape: Shape, rows: usize) -> bool {
    shape.validate().is_ok() && rows >= BLOCKED_MIN_ROWS
}

/// The E-step [`crate::gmm::Mixture`] runs on the CPU: [`BlockedEStep`] where [`uses_blocked`]
/// says so, the streaming [`ParallelEStep`] otherwise; decided per pass from the model's shape.
#[derive(Debug)]
pub struct HostEStep<'a, T> {
    data: &'a [T],
    d: usize,
    weights: Option<&'a [T]>,
    progress: bool,
    passes: u32,
}

impl<'a, T: Real> HostEStep<'a, T> {
    /// Over `data` (N × D row-major).
    pub fn new(data: &'a [T], d: usize) -> Self {
        Self { data, d, weights: None, progress: false, passes: 0 }
    }
    /// Sample weights (see [`ParallelEStep::with_weights`]); weighted passes always stream.
    pub fn with_weights(mut self, weights: Option<&'a [T]>) -> Self {
        self.weights = weights;
        self
    }
    /// Print one progress line per pass to stderr.
    pub fn with_progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }
    /// Ends the progress line.
    pub fn finish_progress(&self) {
        if self.progress && self.passes > 0 {
            eprintln!();
        }
    }
}

impl<T: Real> EStep<T> for HostEStep<'_, T> {
    fn accumulate(&mut self, model: &MixtureRef<'_, T>, stats: &mut StatsMut<'_, T>) -> Result<()> {
        let rows = self.data.len() / self.d.max(1);
        if self.weights.is_none() && uses_blocked(model.shape(), rows) {
            BlockedEStep::new(self.data, self.d).accumulate(model, stats)?;
        } else {
            ParallelEStep::new(self.data, self.d).with_weights(self.weights).accumulate(model, stats)?;
        }
        self.passes += 1;
        if self.progress {
            let mean = stats.totals().mean_log_likelihood()?;
            eprint!("\rEM pass {:4}  mean log-likelihood {:+.6}", self.passes, mean);
        }
        Ok(())
    }
}
