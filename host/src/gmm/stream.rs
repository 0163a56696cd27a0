//! [`CsvEStep`]: the E-step of `crabmix gmm fit --stream`, which re-reads the CSV file in
//! chunks on every EM pass, so that memory is independent of the number of rows.
//!
//! Each chunk of [`STREAM_CHUNK_ROWS`] rows (a multiple of the parallel E-step's
//! [`STREAMING_CHUNK_ROWS`]) goes through [`ParallelEStep`], whose per-4096-row partial
//! statistics merge into the pass's statistics in row order: the merges are the in-memory
//! `ParallelEStep`'s, one for one, so the pass is bit for bit the in-memory streaming pass
//! (diag, spherical, tied, and full below the blocked E-step's threshold; full in memory runs the
//! blocked pass, whose summation order differs in the last bits).

use super::streaming::{ParallelEStep, STREAMING_CHUNK_ROWS};
use crate::io::csv::CsvRows;
use crabmix_kernels::gmm::{EStep, MixtureRef, OnlineConfig, StatsMut, online_step};
use crabmix_kernels::{Error, Real, Result};
use std::path::PathBuf;

/// Rows read at once: 16 parallel chunks (64 Ki rows; ≤ 32 MiB at D = 64 in f64).
pub const STREAM_CHUNK_ROWS: usize = 16 * STREAMING_CHUNK_ROWS;

/// Re-reads `path` on every pass. A read error ends the fit: it is kept in [`Self::error`]
/// (with its line and column) and the pass reports `ShapeMismatch { what: "CSV file" .. }`.
#[derive(Debug)]
pub struct CsvEStep<T> {
    path: PathBuf,
    d: usize,
    chunk: Vec<T>,
    /// The CSV error that stopped a pass, if any.
    pub error: Option<String>,
}

impl<T: Real> CsvEStep<T> {
    /// Over the file `path` with `d` columns.
    pub fn new(path: PathBuf, d: usize) -> Self {
        Self { path, d, chunk: Vec::new(), error: None }
    }
}

impl<T: Real> EStep<T> for CsvEStep<T> {
    fn accumulate(&mut self, model: &MixtureRef<'_, T>, stats: &mut StatsMut<'_, T>) -> Result<()> {
        let failed =
            |found: usize| Error::ShapeMismatch { what: "CSV file (re-read)", expected: self.d, found };
        let mut rows = match CsvRows::<T, _>::open(&self.path) {
            Ok(r) => r,
            Err(e) => {
                self.error = Some(e.to_string());
                return Err(failed(0));
            }
        };
        loop {
            let first = rows.rows_read();
            match rows.next_chunk(STREAM_CHUNK_ROWS, &mut self.chunk) {
                Ok(0) => return Ok(()),
                Ok(_) if rows.cols() != self.d => {
                    self.error =
                        Some(format!("{}: the file changed: {} columns", self.path.display(), rows.cols()));
                    return Err(failed(rows.cols()));
                }
                Ok(_) => ParallelEStep::new(&self.chunk, self.d)
                    .accumulate(model, stats)
                    .map_err(|e| e.offset_sample(first))?,
                Err(e) => {
                    self.error = Some(e.to_string());
                    return Err(failed(first));
                }
            }
        }
    }
}

/// `fit --online`: after `model` was fitted to the first `skip` rows of `path`, one pass of the
/// kernels' online EM ([`online_step`]) over the remaining rows, γ_n = (n + n0)^(−α) with
/// α = `OnlineConfig`'s default 0.6 and n0 = `skip` (the initial fit counts for the rows it
/// saw). Memory is one chunk. Errors: the CSV's (as text, with line and column) and the
/// kernels' (row named).
pub fn online_pass<T: Real>(
    model: &mut super::Mixture<T>,
    path: &std::path::Path,
    skip: usize,
    reg_covar: T,
) -> std::result::Result<(), String> {
    let shape = model.shape();
    let (k, d) = (shape.components, shape.features);
    let config = OnlineConfig { n0: T::from_f64(skip as f64), reg_covar, ..OnlineConfig::default() };
    let mut rows = CsvRows::<T, _>::open(path).map_err(|e| e.to_string())?;
    let (mut chunk, mut lp, mut work) = (Vec::new(), vec![T::ZERO; k], vec![T::ZERO; 2 * d]);
    let mut n = 0u64;
    loop {
        let first = rows.rows_read();
        if rows.next_chunk(STREAM_CHUNK_ROWS, &mut chunk).map_err(|e| e.to_string())? == 0 {
            return Ok(());
        }
        for (i, x) in chunk.chunks_exact(d).enumerate() {
            if first + i < skip {
                continue;
            }
            n += 1;
            let mut view = model.view_mut();
            online_step(&mut view, x, config.step_size(n), reg_covar, &mut lp, &mut work)
                .map_err(|e| format!("{}: {}", path.display(), e.offset_sample(first + i)))?;
        }
    }
}
