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
use crabmix_kernels::gmm::{EStep, MixtureRef, OnlineConfig, StatsMut, online_step, uniform_below};
use crabmix_kernels::{Error, Real, Result};
use rand_core::Rng;
use std::path::{Path, PathBuf};

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

/// What `fit --stream` initializes on: a uniform sample of at most `capacity` rows of the
/// whole file, read in one pass in memory `capacity`·D (Vitter's Algorithm R: the first
/// `capacity` rows, then row t ≥ `capacity` (0-based) replaces slot `uniform_below(t + 1)`
/// when that is below `capacity`). A file of at most `capacity` rows is returned whole, in
/// order, and draws nothing from `rng`, so the streamed fit then starts exactly as the
/// in-memory one does. Returns the rows (row-major), D and the file's row count. Errors: the
/// CSV's, with line and column.
pub fn reservoir_rows<T: Real, R: Rng + ?Sized>(
    path: &Path,
    capacity: usize,
    rng: &mut R,
) -> std::result::Result<(Vec<T>, usize, usize), String> {
    let mut rows = CsvRows::<T, _>::open(path).map_err(|e| e.to_string())?;
    let mut sample = Vec::new();
    let mut chunk = Vec::new();
    // The first `capacity` rows fill the reservoir.
    rows.next_chunk(capacity, &mut sample).map_err(|e| e.to_string())?;
    let d = rows.cols().max(1);
    let mut seen = sample.len() / d;
    loop {
        let n = rows.next_chunk(STREAM_CHUNK_ROWS, &mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok((sample, rows.cols(), seen));
        }
        for x in chunk.chunks_exact(d) {
            let slot = uniform_below(rng, seen + 1).map_err(|e| format!("{}: {e}", path.display()))?;
            if let Some(dst) = sample.get_mut(slot * d..(slot + 1) * d) {
                dst.copy_from_slice(x);
            }
            seen += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn file(name: &str, rows: usize) -> PathBuf {
        let p = std::env::temp_dir().join(format!("crabmix-reservoir-{}-{name}.csv", std::process::id()));
        let text: String = (0..rows).map(|i| format!("{i},{}\n", 2 * i)).collect();
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_short_file_is_returned_whole_without_draws() {
        let p = file("short", 10);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let (rows, d, n) = reservoir_rows::<f64, _>(&p, 16, &mut rng).unwrap();
        assert_eq!((d, n), (2, 10));
        assert_eq!(rows, (0..10).flat_map(|i| [i as f64, 2.0 * i as f64]).collect::<Vec<_>>());
        // No draw was made: the generator is where a fresh one is.
        assert_eq!(rng.next_u64(), Xoshiro256PlusPlus::seed_from_u64(1).next_u64());
    }

    #[test]
    fn a_long_file_is_sampled_uniformly_over_its_whole_length() {
        // 2 000 rows into 100 slots, 200 seeds: each row is kept with probability 1/20, so the
        // mean row index of the sample is ≈ 999.5 (the first 100 rows alone would give 49.5),
        // and rows are whole (column 2 = 2 × column 1).
        let p = file("long", 2000);
        let mut mean = 0.0;
        for seed in 0..200 {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let (rows, d, n) = reservoir_rows::<f64, _>(&p, 100, &mut rng).unwrap();
            assert_eq!((d, n, rows.len()), (2, 2000, 200));
            assert!(rows.chunks(2).all(|r| r[1] == 2.0 * r[0]));
            mean += rows.chunks(2).map(|r| r[0]).sum::<f64>() / 100.0 / 200.0;
        }
        // Standard error of the mean: 577 / √(100·200) ≈ 4.1; 5 of them.
        assert!((mean - 999.5).abs() < 21.0, "mean row index {mean}");
    }
}
