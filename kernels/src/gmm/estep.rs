//! The E-step as a trait: one pass of accumulate over the whole data set, however it is
//! executed (serially here; on threads, blocked, or on a GPU in the host crate).
//! [`em_loop`](super::em_loop) drives any implementation.

use super::model::MixtureRef;
use super::stats::StatsMut;
use crate::{Real, Result};

/// One full pass over a data set: accumulate every sample's statistics under `model` into
/// `stats` (already reset to the model's means as shifts). Implementations may split the pass
/// and merge partial statistics (threads, GPU blocks); results must not depend on scheduling
/// beyond rounding.
pub trait EStep<T: Real> {
    /// Accumulates the whole data set; a non-finite sample is reported with its row index.
    fn accumulate(&mut self, model: &MixtureRef<'_, T>, stats: &mut StatsMut<'_, T>) -> Result<()>;
}

/// The single-threaded pass over an in-memory data set (N × D row-major).
#[derive(Debug)]
pub struct SerialEStep<'a, T> {
    data: &'a [T],
    log_probs: &'a mut [T],
    work: &'a mut [T],
}

impl<'a, T: Real> SerialEStep<'a, T> {
    /// `log_probs` needs length ≥ K and `work` ≥ 2·D (checked on use).
    pub fn new(data: &'a [T], log_probs: &'a mut [T], work: &'a mut [T]) -> Self {
        Self { data, log_probs, work }
    }
}

impl<T: Real> EStep<T> for SerialEStep<'_, T> {
    fn accumulate(&mut self, model: &MixtureRef<'_, T>, stats: &mut StatsMut<'_, T>) -> Result<()> {
        stats.accumulate_batch(model, self.data, self.log_probs, self.work)
    }
}
