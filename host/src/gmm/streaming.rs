//! The streaming multithreaded E-step: the kernels' per-sample pass over fixed chunks of rows,
//! one chunk per rayon task, merged in chunk order.

use super::stats::Stats;
use crabmix_kernels::gmm::{EStep, MixtureRef, StatsMut};
use crabmix_kernels::{Error, Real, Result};
use rayon::prelude::*;

/// Rows per chunk of the parallel E-step. Fixed (not derived from the thread count) so that the
/// merge order, and hence every rounding, is the same on any machine.
pub const STREAMING_CHUNK_ROWS: usize = 4096;

/// The multithreaded E-step: rows in chunks of [`STREAMING_CHUNK_ROWS`], each accumulated into its own
/// statistics on a rayon worker, then merged into the caller's statistics in chunk order.
#[derive(Debug)]
pub struct ParallelEStep<'a, T> {
    data: &'a [T],
    d: usize,
    weights: Option<&'a [T]>,
}

impl<'a, T: Real> ParallelEStep<'a, T> {
    /// Over `data` (N × D row-major). Progress reporting is [`crate::gmm::estep::HostEStep`]'s.
    pub fn new(data: &'a [T], d: usize) -> Self {
        Self { data, d, weights: None }
    }
    /// Sample weights (N, each finite and ≥ 0): row i counts as `weights[i]` rows
    /// (the kernels' `StatsMut::accumulate_weighted`).
    pub fn with_weights(mut self, weights: Option<&'a [T]>) -> Self {
        self.weights = weights;
        self
    }
}

impl<T: Real> EStep<T> for ParallelEStep<'_, T> {
    fn accumulate(&mut self, model: &MixtureRef<'_, T>, stats: &mut StatsMut<'_, T>) -> Result<()> {
        let shape = model.shape();
        let d = self.d;
        let shifts = model.means();
        let partials: Vec<Result<Stats<T>>> = self
            .data
            .par_chunks(STREAMING_CHUNK_ROWS * d)
            .enumerate()
            .map(|(c, chunk)| {
                let mut s = Stats::new(shape);
                let mut lp = vec![T::ZERO; shape.components];
                let mut work = vec![T::ZERO; 2 * d];
                let mut v = s.view_mut();
                v.reset(shifts)?;
                let first = c * STREAMING_CHUNK_ROWS;
                match self.weights {
                    None => v
                        .accumulate_batch(model, chunk, &mut lp, &mut work)
                        .map_err(|e| e.offset_sample(first))?,
                    Some(w) => {
                        let w = w.get(first..).unwrap_or(&[]);
                        if w.len() * d < chunk.len() {
                            return Err(Error::ShapeMismatch {
                                what: "sample weights",
                                expected: self.data.len() / d,
                                found: first + w.len(),
                            });
                        }
                        for (i, (x, &wi)) in chunk.chunks_exact(d).zip(w).enumerate() {
                            v.accumulate_weighted(model, x, wi, &mut lp, &mut work)
                                .map_err(|e| e.offset_sample(first + i))?;
                        }
                    }
                }
                Ok(s)
            })
            .collect();
        for p in partials {
            let mut p = p?;
            stats.merge(&p.view_mut().as_ref())?;
        }
        Ok(())
    }
}
