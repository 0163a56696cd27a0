//! Launch shapes and statistics layout shared by the CUDA backend ([`crate::cuda`]) and the CPU
//! shim that runs the same kernels in tests (`cuda_shim`, feature `cuda-shim`).
//!
//! The E-step kernel (`host/cuda/gmm_estep.cu`) writes per-block partial sufficient statistics;
//! a second kernel adds them in block order; [`merge_device_stats`] turns the reduced sums into
//! the kernels crate's statistics and merges them into the caller's ([`StatsMut::merge`]): the
//! GPU's accumulate → merge → finish is the CPU's, with blocks in place of chunks.
//!
//! Every launch parameter here depends only on (N, K, D, scalar size) — never on the device —
//! so the order of every floating-point sum, and hence the result, is the same on any card and
//! on the shim.

use crabmix_kernels::gmm::{CovarianceKind, MixtureRef, Shape, StatsMut, StatsRef, Totals};
use crabmix_kernels::{Error, Real, Result};

/// Threads per block (`CRABMIX_BLOCK` in `host/cuda/common.cuh`; a power of two).
pub const BLOCK_THREADS: u32 = 256;

/// Tile edge of the dense-layer kernels (`MLP_TILE` in `host/cuda/mlp.cu`): blocks of
/// 16 × 16 = [`BLOCK_THREADS`] threads, each computing one output of a 16 × 16 tile.
pub const MLP_TILE: u32 = 16;

/// Rows per chunk of the dense layers' parameter-gradient reduction for batches larger than it
/// (`crate::mlp_device::chunk_rows_for`): each chunk's partial ∂L/∂W is summed by one thread per
/// entry over its rows in order, then the partials are added in chunk order. 256 rows keep a
/// thread's loop short and the partials small (⌈B/256⌉ · OUT · IN values).
pub const MLP_CHUNK_ROWS: usize = 256;

/// Most blocks of one E-step launch; blocks loop over tiles (grid-stride). Enough for ≥ 6 waves
/// of resident blocks on a 132-SM H100, so the last wave's imbalance costs a few per cent, and
/// few enough that the block partials (≤ 2048 · E doubles) stay small next to the data.
pub const MAX_BLOCKS: u32 = 2048;

/// Rows per tile at most: 64 keeps one E-step phase (rows · K pairs) at ≥ 1 pair per thread
/// from K = 4 up.
pub const MAX_TILE_ROWS: u32 = 64;

/// Dynamic shared memory budget per block: 48 KiB (the limit without an opt-in attribute) less
/// the 6 KiB of static reduction arrays (3 × 256 × 8 bytes) of the E-step kernel.
pub const DYNAMIC_SHARED_BYTES: u32 = 40 * 1024;

/// The launch of one E-step pass over N samples of a K × D mixture with `elem` bytes per scalar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EStepLaunch {
    /// Rows staged per tile: min(64, 40 KiB / ((D + K) · elem)), at least 1.
    pub tile_rows: u32,
    /// Blocks: min(⌈N / tile_rows⌉, [`MAX_BLOCKS`]), at least 1.
    pub grid: u32,
    /// Dynamic shared memory: tile_rows · (D + K) · elem bytes (samples, then log-probabilities).
    pub shared_bytes: u32,
    /// Statistics entries per component: 1 + D + P, P = D(D+1)/2 (full) or D (diag).
    pub entries_per_component: usize,
    /// Statistics entries per block: K · (1 + D + P).
    pub entries: usize,
}

impl EStepLaunch {
    /// The launch for `shape` (full or diag) over `n` ≥ 1 samples of `elem`-byte scalars.
    ///
    /// Errors: `InvalidParameter` for spherical (no kernel: it is diag with tied variances, and the
    /// CPU path serves it) and `EmptyData` for n = 0.
    pub fn new(shape: Shape, n: usize, elem: usize) -> Result<Self> {
        let (k, d) = (shape.components, shape.features);
        let p = match shape.kind {
            CovarianceKind::Full => d * (d + 1) / 2,
            CovarianceKind::Diag => d,
            CovarianceKind::Spherical => {
                return Err(Error::InvalidParameter {
                    name: "kind",
                    reason: "the CUDA E-step has full and diag kernels; spherical runs on the CPU",
                });
            }
        };
        if n == 0 {
            return Err(Error::EmptyData);
        }
        let row_bytes = ((d + k) * elem) as u32;
        let tile_rows = (DYNAMIC_SHARED_BYTES / row_bytes).clamp(1, MAX_TILE_ROWS);
        let tiles = n.div_ceil(tile_rows as usize);
        let grid = tiles.min(MAX_BLOCKS as usize) as u32;
        Ok(Self {
            tile_rows,
            grid,
            shared_bytes: tile_rows * row_bytes,
            entries_per_component: 1 + d + p,
            entries: k * (1 + d + p),
        })
    }
}

/// The smallest per-block ln p(x) and its row: the lowest row among equal values, as the serial
/// pass keeps the first strictly lower one. Blocks without rows report (+∞, −1) and are skipped.
pub fn worst_of_blocks(block_worst: &[f64], block_rows: &[i64]) -> Option<(f64, usize)> {
    let mut best: Option<(f64, usize)> = None;
    for (&w, &r) in block_worst.iter().zip(block_rows) {
        if r < 0 {
            continue;
        }
        let r = r as usize;
        best = match best {
            Some((bw, br)) if bw < w || (bw == w && br < r) => Some((bw, br)),
            _ => Some((w, r)),
        };
    }
    best
}

/// Merges one device pass into `stats` (reset by the caller to the model's means as shifts, as
/// `em_loop` does).
///
/// `reduced` holds the launch's `entries` sums in the kernel's layout (per component: n_k,
/// s1_k, then s2_k packed upper triangle for full — unpacked into the kernels crate's whole
/// symmetric square — or diagonal for diag), all with shift = the means of `model`; `log_likelihood` = Σ ln p(x) over the `samples` rows (summed in f64, stored
/// as its nearest T plus the rounding error as the compensation term); `worst` the smallest
/// ln p(x) with its sample (D values) and row.
///
/// Errors: `ZeroDensity { sample }` when the worst ln p(x) is −∞ (a sample with zero density
/// under every component: the kernel gave it no responsibilities), as the serial pass reports.
pub fn merge_device_stats<T: Real>(
    model: &MixtureRef<'_, T>,
    samples: u64,
    reduced: &[f64],
    log_likelihood: f64,
    worst: Option<(f64, usize, &[T])>,
    stats: &mut StatsMut<'_, T>,
) -> Result<()> {
    if let Some((w, row, _)) = worst {
        if w == f64::NEG_INFINITY {
            return Err(Error::ZeroDensity { sample: row });
        }
    }
    let shape = model.shape();
    let (k_n, d) = (shape.components, shape.features);
    let launch = EStepLaunch::new(shape, samples.max(1) as usize, core::mem::size_of::<T>())?;
    if reduced.len() != launch.entries {
        return Err(Error::ShapeMismatch {
            what: "device statistics",
            expected: launch.entries,
            found: reduced.len(),
        });
    }
    let full = shape.kind == CovarianceKind::Full;
    let mut resp = vec![T::ZERO; k_n];
    let mut s1 = vec![T::ZERO; k_n * d];
    let mut s2 = vec![T::ZERO; k_n * d * d];
    for k in 0..k_n {
        let e = &reduced[k * launch.entries_per_component..(k + 1) * launch.entries_per_component];
        resp[k] = T::from_f64(e[0]);
        for i in 0..d {
            s1[k * d + i] = T::from_f64(e[1 + i]);
        }
        let packed = &e[1 + d..];
        let s2k = &mut s2[k * d * d..(k + 1) * d * d];
        if full {
            let mut q = 0;
            for i in 0..d {
                for j in i..d {
                    // The kernels crate keeps the whole symmetric square for full covariances.
                    s2k[i * d + j] = T::from_f64(packed[q]);
                    s2k[j * d + i] = s2k[i * d + j];
                    q += 1;
                }
            }
        } else {
            for i in 0..d {
                s2k[i * d + i] = T::from_f64(packed[i]);
            }
        }
    }
    let ll = T::from_f64(log_likelihood);
    let mut worst_sample = vec![T::ZERO; d];
    let worst_log_likelihood = match worst {
        Some((w, _, x)) => {
            if x.len() != d {
                return Err(Error::ShapeMismatch { what: "worst sample", expected: d, found: x.len() });
            }
            worst_sample.copy_from_slice(x);
            T::from_f64(w)
        }
        None => T::MAX,
    };
    let totals = Totals {
        samples,
        log_likelihood: ll,
        compensation: T::from_f64(log_likelihood - ll.to_f64()),
        worst_log_likelihood,
    };
    let shift = model.means();
    let other = StatsRef::new(shape, shift, &resp, &s1, &s2, &worst_sample, &totals)?;
    stats.merge(&other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_shapes_follow_the_documented_rules() {
        // D = 16, K = 16, f32: 40 KiB / (32 · 4 B) = 320 → capped at 64 rows; E = 16 · (1 + 16 + 136).
        let l = EStepLaunch::new(Shape::new(16, 16, CovarianceKind::Full), 10_000_000, 4).unwrap();
        assert_eq!(
            l,
            EStepLaunch {
                tile_rows: 64,
                grid: 2048,
                shared_bytes: 64 * 32 * 4,
                entries_per_component: 153,
                entries: 2448
            }
        );
        // D = K = 64, f64: 40960 / (128 · 8) = 40 rows; a 100-row input needs 3 tiles.
        let l = EStepLaunch::new(Shape::new(64, 64, CovarianceKind::Diag), 100, 8).unwrap();
        assert_eq!((l.tile_rows, l.grid, l.entries), (40, 3, 64 * 129));
        assert!(EStepLaunch::new(Shape::new(2, 2, CovarianceKind::Spherical), 10, 4).is_err());
        assert!(EStepLaunch::new(Shape::new(2, 2, CovarianceKind::Full), 0, 4).is_err());
    }

    #[test]
    fn worst_row_is_the_lowest_value_then_the_lowest_row() {
        let w = [-3.0, f64::INFINITY, -5.0, -5.0];
        assert_eq!(worst_of_blocks(&w, &[7, -1, 9, 4]), Some((-5.0, 4)));
        assert_eq!(worst_of_blocks(&[f64::INFINITY], &[-1]), None);
    }
}
