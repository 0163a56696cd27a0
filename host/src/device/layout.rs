//! Launch shapes and statistics layout shared by the CUDA backend ([`crate::device::cuda`]) and the CPU
//! shim that runs the same kernels in tests (`device::shim`, feature `cuda-shim`).
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
/// (`crate::device::mlp::chunk_rows_for`): each chunk's partial ∂L/∂W is summed by one thread per
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

/// Most blocks of the registers E-step kernel: 1024 × 256 threads, so each thread accumulates
/// ≈ 40 rows at N = 10⁷ before the block's reduction tree (which costs as much as a few rows).
pub const REGS_MAX_BLOCKS: u32 = 1024;

/// Most 32-bit registers a thread of the registers kernel may spend on its statistics,
/// E · elem / 4 (E f32 or 2E f64 values). Of the 61 shapes with D ≤ 8 between 64 and 128 (all
/// f64; 128 was the limit when it counted entries, E ≤ 64), 46 spill at every rows-per-step and
/// register bound and the rest need ≥ 194 registers, one block per SM (sm_90,
/// scripts/nvrtc_regs_sweep.py), so those shapes take the tiled or generic kernel.
pub const REGS_MAX_ENTRIES: usize = 64;

/// Accumulator registers (E · elem / 4) up to which the registers kernel loads 4 rows per step
/// under a 2-blocks-per-SM bound (≤ 128 registers) without spilling (f64 at 26–30 spilled);
/// above it, 2 rows per step and no bound.
pub const REGS_FOUR_ROWS_MAX: usize = 24;

/// Shared-memory budget of U in the tiled kernel (K · [`tiled_u_len`] values): the rest of the
/// 40 KiB is the tile.
pub const TILED_MAX_U_BYTES: usize = 24 * 1024;

/// Rows per tile of the tiled kernel at least: on an H200 at D = K = 16, 128-row tiles made the
/// E-step pass 6.99 ms against 8.00 ms with 64 (fewer barriers and partial updates per row; the
/// 2-rows-per-thread, 3-blocks-per-SM variants were no faster: bench/results/gpu-em-h200.json).
pub const TILED_MIN_ROWS: usize = 128;

/// Values of one U_k in the tiled kernel's shared memory (`GMM_UCOL(D)` in
/// `host/cuda/gmm_estep_fixed.cu`): column j of the upper triangle (j + 1 values) padded to
/// 4 · ⌈(j + 1)/4⌉, so that every column starts 16-byte aligned for vector loads; 160 for D = 16
/// against 136 packed.
pub fn tiled_u_len(d: usize) -> usize {
    (0..d).map(|j| 4 * (j / 4 + 1)).sum()
}

/// Which E-step kernel a pass launches (all write the same partial layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EStepKernel {
    /// `gmm_estep_{full,diag}_T` (gmm_estep.cu): any K, D ≤ 64; tiles of rows, one statistics
    /// entry per thread.
    Generic,
    /// `gmm_estep_regs_{kind}_d{D}_k{K}_r{RPI}_b{B}_T` (gmm_estep_fixed.cu): E = K·(1 + D + P)
    /// with E · elem/4 ≤ [`REGS_MAX_ENTRIES`]; per-thread statistics in registers, grid-stride
    /// rows, RPI loaded per step.
    Registers,
    /// `gmm_estep_tiled_full_d{D}_r{RPT}_b{B}_T` (gmm_estep_fixed.cu): full covariances with 64 ≤ K·B(B+1)/2
    /// ≤ 256 (B = ⌈D/4⌉) and U in ≤ [`TILED_MAX_U_BYTES`]; register-tiled phases over row tiles.
    TiledFull,
}

/// The launch of one E-step pass over N samples of a K × D mixture with `elem` bytes per scalar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EStepLaunch {
    /// The kernel.
    pub kernel: EStepKernel,
    /// Rows staged per tile (Generic: min(64, 40 KiB / ((D + K) · elem)); TiledFull: a multiple
    /// of 4, see [`EStepLaunch::new`]; Registers: 0, no tiles).
    pub tile_rows: u32,
    /// Blocks: Generic and TiledFull min(⌈N / tile_rows⌉, [`MAX_BLOCKS`]); Registers
    /// min(⌈N / 256⌉, [`REGS_MAX_BLOCKS`]); at least 1.
    pub grid: u32,
    /// Dynamic shared memory in bytes (Generic: tile_rows · (D + K) · elem; TiledFull: the tile,
    /// its log-probabilities, U and the means; Registers: 0).
    pub shared_bytes: u32,
    /// Statistics entries per component: 1 + D + P, P = D(D+1)/2 (full) or D (diag).
    pub entries_per_component: usize,
    /// Statistics entries per block: K · (1 + D + P).
    pub entries: usize,
    /// TiledFull: rows per thread in phase A (4, 2 or 1); Registers: rows loaded per step (4, 2
    /// or 1); 0 for the generic kernel.
    pub rows_per_thread: u32,
    /// TiledFull and Registers: blocks that must fit on one SM (the kernel's register bound); 0
    /// for the generic kernel.
    pub min_blocks: u32,
}

impl EStepLaunch {
    /// The launch for `shape` (full or diag) over `n` ≥ 1 samples of `elem`-byte scalars: the
    /// registers kernel when its statistics fit, else the tiled kernel for full covariances
    /// when its constraints hold, else the generic one.
    ///
    /// Errors: `InvalidParameter` for spherical (no kernel: it is diag with tied variances, and the
    /// CPU path serves it) and `EmptyData` for n = 0.
    pub fn new(shape: Shape, n: usize, elem: usize) -> Result<Self> {
        let generic = Self::generic(shape, n, elem)?;
        if let Some(l) = Self::registers(shape, n, elem) {
            return Ok(l);
        }
        Ok(Self::tiled_full(shape, n, elem).unwrap_or(generic))
    }

    /// The registers kernel's launch, when its statistics fit (E · elem/4 ≤
    /// [`REGS_MAX_ENTRIES`] registers): up to [`REGS_FOUR_ROWS_MAX`] of them, 4 rows per step
    /// and 2 blocks per SM (≤ 128 registers: ptxas fits the D = 2, K = 4 f32 kernel in 100
    /// without spills, where a bound of 3 blocks, 80 registers, spills); beyond that 2 rows per
    /// step and no bound. Both rules come from compiling every full and diag shape with D ≤ 8
    /// that qualifies, in f32 and f64, at each setting (scripts/nvrtc_regs_sweep.py).
    pub fn registers(shape: Shape, n: usize, elem: usize) -> Option<Self> {
        let entries = Self::generic(shape, n, elem).ok()?.entries;
        let (rpi, min_blocks) = if entries * elem / 4 <= REGS_FOUR_ROWS_MAX { (4, 2) } else { (2, 1) };
        Self::registers_with(shape, n, elem, rpi, min_blocks)
    }

    /// The registers kernel with a chosen number of rows loaded per step (1, 2 or 4; every sum
    /// is the same for all three, only the loads' scheduling differs) and blocks per SM (1, 2
    /// or 3: the register bound 65536 / (256 · `min_blocks`)). `None` when `shape` does not
    /// qualify. The grid is min(⌈N / 256⌉, [`REGS_MAX_BLOCKS`]) either way.
    pub fn registers_with(shape: Shape, n: usize, elem: usize, rpi: u32, min_blocks: u32) -> Option<Self> {
        let generic = Self::generic(shape, n, elem).ok()?;
        if generic.entries * elem / 4 > REGS_MAX_ENTRIES
            || ![1, 2, 4].contains(&rpi)
            || !(1..=3).contains(&min_blocks)
        {
            return None;
        }
        Some(Self {
            kernel: EStepKernel::Registers,
            tile_rows: 0,
            grid: n.div_ceil(BLOCK_THREADS as usize).min(REGS_MAX_BLOCKS as usize) as u32,
            shared_bytes: 0,
            rows_per_thread: rpi,
            min_blocks,
            ..generic
        })
    }

    /// The generic kernel's launch (any full or diag shape); errors as [`Self::new`].
    pub fn generic(shape: Shape, n: usize, elem: usize) -> Result<Self> {
        let (k, d) = (shape.components, shape.features);
        let p = match shape.kind {
            CovarianceKind::Full => d * (d + 1) / 2,
            CovarianceKind::Diag => d,
            CovarianceKind::Spherical | CovarianceKind::Tied => {
                return Err(Error::InvalidParameter {
                    name: "kind",
                    reason: "the CUDA E-step has full and diag kernels; spherical and tied run on the CPU",
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
            kernel: EStepKernel::Generic,
            tile_rows,
            grid,
            shared_bytes: tile_rows * row_bytes,
            entries_per_component: 1 + d + p,
            entries: k * (1 + d + p),
            rows_per_thread: 0,
            min_blocks: 0,
        })
    }

    /// The tiled kernel's launch, when `shape` qualifies: RPT (rows per phase-A thread) 4, 2 or
    /// 1 as D · elem/4 ≤ 16, ≤ 32 or more, 2 blocks per SM, and tile_rows = max(RPT · ⌈256 / K⌉,
    /// [`TILED_MIN_ROWS`]) rounded up to a multiple of 4 (so phase A has ≥ 256 items), at most
    /// 256 and within the 40 KiB budget.
    pub fn tiled_full(shape: Shape, n: usize, elem: usize) -> Option<Self> {
        let words = shape.features * elem / 4;
        let rpt = if words <= 16 {
            4
        } else if words <= 32 {
            2
        } else {
            1
        };
        Self::tiled_full_with(shape, n, elem, rpt, 2, TILED_MIN_ROWS)
    }

    /// The tiled kernel with a chosen RPT (1, 2 or 4), blocks per SM (the register bound
    /// 65536 / (256 · `min_blocks`)) and at least `min_tile_rows` rows per tile. `None` when
    /// `shape` does not qualify. Instantiations are compiled at run time for any D; the CI spill
    /// check (scripts/nvrtc_check.py) covers D = 8, 16 and 32 and the variants the GPU benchmark
    /// compares, not every D.
    pub fn tiled_full_with(
        shape: Shape,
        n: usize,
        elem: usize,
        rpt: usize,
        min_blocks: u32,
        min_tile_rows: usize,
    ) -> Option<Self> {
        let generic = Self::generic(shape, n, elem).ok()?;
        let (k, d) = (shape.components, shape.features);
        let (b, pu) = (d.div_ceil(4), tiled_u_len(d));
        let items = k * b * (b + 1) / 2;
        if shape.kind != CovarianceKind::Full || !(64..=BLOCK_THREADS as usize).contains(&items) {
            return None;
        }
        if k * pu * elem > TILED_MAX_U_BYTES || ![1, 2, 4].contains(&rpt) || min_blocks == 0 {
            return None;
        }
        let (xs, lps) = (4 * b + 4, k | 1);
        let fixed = (k * pu + k * 4 * b) * elem;
        let per_row = (xs + lps) * elem;
        let budget = (DYNAMIC_SHARED_BYTES as usize).checked_sub(fixed)? / per_row / 4 * 4;
        let want =
            (rpt * (BLOCK_THREADS as usize).div_ceil(k)).max(min_tile_rows).next_multiple_of(4).min(256);
        let tile_rows = want.min(budget);
        if tile_rows < 4 {
            return None;
        }
        Some(Self {
            kernel: EStepKernel::TiledFull,
            tile_rows: tile_rows as u32,
            grid: n.div_ceil(tile_rows).min(MAX_BLOCKS as usize) as u32,
            shared_bytes: (fixed + tile_rows * per_row) as u32,
            rows_per_thread: rpt as u32,
            min_blocks,
            ..generic
        })
    }

    /// Whether this launch is one the layout produces for `shape` over `n` samples of `elem`-byte
    /// scalars (the layout's choice, the generic launch, or a [`Self::tiled_full_with`] or
    /// [`Self::registers_with`] variant):
    /// the kernels index shared memory and rows by these fields and check none of them.
    pub fn is_valid_for(&self, shape: Shape, n: usize, elem: usize) -> bool {
        let rebuilt = match self.kernel {
            EStepKernel::Generic => Self::generic(shape, n, elem).ok(),
            EStepKernel::Registers => {
                Self::registers_with(shape, n, elem, self.rows_per_thread, self.min_blocks)
            }
            EStepKernel::TiledFull => Self::tiled_full_with(
                shape,
                n,
                elem,
                self.rows_per_thread as usize,
                self.min_blocks,
                self.tile_rows as usize,
            ),
        };
        rebuilt == Some(*self)
    }

    /// The kernel's entry point name and, for the specialized kernels, the line that
    /// instantiates it in gmm_estep_fixed.cu (appended to the source before NVRTC compiles it).
    pub fn entry_point(&self, shape: Shape, suffix: &str) -> (String, Option<String>) {
        let (k, d) = (shape.components, shape.features);
        let full = shape.kind == CovarianceKind::Full;
        let kind = if full { "full" } else { "diag" };
        let ctype = if suffix == "f32" { "float" } else { "double" };
        match self.kernel {
            EStepKernel::Generic => (format!("gmm_estep_{kind}_{suffix}"), None),
            EStepKernel::Registers => {
                let (r, b) = (self.rows_per_thread, self.min_blocks);
                (
                    format!("gmm_estep_regs_{kind}_d{d}_k{k}_r{r}_b{b}_{suffix}"),
                    Some(format!(
                        "GMM_ESTEP_REGS_ENTRY({ctype}, {suffix}, {full}, {kind}, {d}, {k}, {r}, {b})\n"
                    )),
                )
            }
            EStepKernel::TiledFull => {
                let (r, b) = (self.rows_per_thread, self.min_blocks);
                (
                    format!("gmm_estep_tiled_full_d{d}_r{r}_b{b}_{suffix}"),
                    Some(format!("GMM_ESTEP_TILED_ENTRY({ctype}, {suffix}, {d}, {r}, {b})\n")),
                )
            }
        }
    }
}

/// Σ v in the order of `gmm_pass_summary` (host/cuda/gmm_estep.cu): [`BLOCK_THREADS`] partial
/// sums, the t-th over `v[t]`, `v[t + 256]`, …, then added in a fixed tree (`red[t] +=
/// red[t + s]` for s = 128, 64, …, 1). The CUDA E-step sums its block log-likelihoods this way on the host and the
/// resident loop on the device, so the two agree bit for bit.
pub fn tree_sum(v: &[f64]) -> f64 {
    let lanes = BLOCK_THREADS as usize;
    let mut red = vec![0.0f64; lanes];
    for (i, &x) in v.iter().enumerate() {
        red[i % lanes] += x;
    }
    let mut half = lanes / 2;
    while half > 0 {
        for t in 0..half {
            red[t] += red[t + half];
        }
        half /= 2;
    }
    red[0]
}

/// Blocks of `gmm_reduce_partials` for `entries` statistics: 32 entries per block.
pub fn reduce_blocks(entries: usize) -> u32 {
    entries.div_ceil(32).max(1) as u32
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
    if let Some((w, row, _)) = worst
        && w == f64::NEG_INFINITY
    {
        return Err(Error::ZeroDensity { sample: row });
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
        // The device path fits unweighted data only.
        weight_excess: T::ZERO,
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
        let l = EStepLaunch::generic(Shape::new(16, 16, CovarianceKind::Full), 10_000_000, 4).unwrap();
        assert_eq!(
            l,
            EStepLaunch {
                kernel: EStepKernel::Generic,
                tile_rows: 64,
                grid: 2048,
                shared_bytes: 64 * 32 * 4,
                entries_per_component: 153,
                entries: 2448,
                rows_per_thread: 0,
                min_blocks: 0,
            }
        );
        // D = K = 64, f64: 40960 / (128 · 8) = 40 rows; a 100-row input needs 3 tiles.
        let l = EStepLaunch::new(Shape::new(64, 64, CovarianceKind::Diag), 100, 8).unwrap();
        assert_eq!((l.kernel, l.tile_rows, l.grid, l.entries), (EStepKernel::Generic, 40, 3, 64 * 129));
        // The benchmark shapes: D = 2, K = 4 full in registers (E = 4 · 6 = 24) ...
        // with 4 rows per step and 2 blocks per SM (24 accumulator registers ≤ REGS_FOUR_ROWS_MAX) ...
        let l = EStepLaunch::new(Shape::new(4, 2, CovarianceKind::Full), 10_000_000, 4).unwrap();
        assert_eq!((l.kernel, l.grid, l.shared_bytes, l.entries), (EStepKernel::Registers, 1024, 0, 24));
        assert_eq!((l.rows_per_thread, l.min_blocks), (4, 2));
        let name = l.entry_point(Shape::new(4, 2, CovarianceKind::Full), "f32");
        assert_eq!(name.0, "gmm_estep_regs_full_d2_k4_r4_b2_f32");
        assert_eq!(name.1.as_deref(), Some("GMM_ESTEP_REGS_ENTRY(float, f32, true, full, 2, 4, 4, 2)\n"));
        // ... in f64 the 24 accumulators take 48 registers: 2 rows per step, no bound.
        let l = EStepLaunch::new(Shape::new(4, 2, CovarianceKind::Full), 10_000_000, 8).unwrap();
        assert_eq!((l.kernel, l.rows_per_thread, l.min_blocks), (EStepKernel::Registers, 2, 1));
        assert!(l.is_valid_for(Shape::new(4, 2, CovarianceKind::Full), 10_000_000, 8));
        // f64 at K = 3, D = 4: 45 entries, 90 registers > 64, so not the registers kernel.
        let l = EStepLaunch::new(Shape::new(3, 4, CovarianceKind::Full), 1000, 8).unwrap();
        assert_eq!(l.kernel, EStepKernel::Generic);
        assert_eq!(
            EStepLaunch::new(Shape::new(3, 4, CovarianceKind::Full), 1000, 4).unwrap().kernel,
            EStepKernel::Registers
        );
        let v = EStepLaunch::registers_with(Shape::new(4, 2, CovarianceKind::Full), 100, 4, 1, 1).unwrap();
        assert!(v.is_valid_for(Shape::new(4, 2, CovarianceKind::Full), 100, 4));
        assert!(EStepLaunch::registers_with(Shape::new(4, 2, CovarianceKind::Full), 100, 4, 3, 1).is_none());
        assert!(
            EStepLaunch::registers_with(Shape::new(16, 16, CovarianceKind::Full), 100, 4, 1, 1).is_none()
        );
        // ... D = K = 16 full tiled: 160 phase-C items, 128 rows (≥ 4 · ⌈256/16⌉), shared memory
        // (16·160 + 16·16 + 128·(20 + 17)) · 4 bytes (U padded: 160 values, not 136).
        let l = EStepLaunch::new(Shape::new(16, 16, CovarianceKind::Full), 10_000_000, 4).unwrap();
        assert_eq!((l.kernel, l.tile_rows, l.grid), (EStepKernel::TiledFull, 128, 2048));
        assert_eq!((l.rows_per_thread, l.min_blocks), (4, 2));
        assert_eq!(l.shared_bytes, (16 * 160 + 16 * 16 + 128 * 37) * 4);
        assert_eq!((tiled_u_len(16), tiled_u_len(1), tiled_u_len(5), tiled_u_len(32)), (160, 4, 24, 576));
        let name = l.entry_point(Shape::new(16, 16, CovarianceKind::Full), "f32");
        assert_eq!(name.0, "gmm_estep_tiled_full_d16_r4_b2_f32");
        assert_eq!(name.1.as_deref(), Some("GMM_ESTEP_TILED_ENTRY(float, f32, 16, 4, 2)\n"));
        // A variant: 2 rows per phase-A thread, 3 blocks per SM, tiles of ≥ 64 rows.
        let v = EStepLaunch::tiled_full_with(Shape::new(16, 16, CovarianceKind::Full), 1000, 4, 2, 3, 64)
            .unwrap();
        assert_eq!((v.tile_rows, v.rows_per_thread, v.min_blocks), (64, 2, 3));
        // f64 at D = 16: 2 rows per phase-A thread; the 40 KiB budget allows
        // (40960 − (16·160 + 16·16)·8) / (37·8) = 62 → 60 rows (a multiple of 4).
        let l = EStepLaunch::new(Shape::new(16, 16, CovarianceKind::Full), 1000, 8).unwrap();
        assert_eq!((l.kernel, l.tile_rows, l.rows_per_thread), (EStepKernel::TiledFull, 60, 2));
        // U over budget (K = 64, D = 16: 64 · 160 · 4 bytes > 24 KiB) → generic.
        let l = EStepLaunch::new(Shape::new(64, 16, CovarianceKind::Full), 1000, 4).unwrap();
        assert_eq!(l.kernel, EStepKernel::Generic);
        assert!(EStepLaunch::new(Shape::new(2, 2, CovarianceKind::Spherical), 10, 4).is_err());
        assert!(EStepLaunch::new(Shape::new(2, 2, CovarianceKind::Full), 0, 4).is_err());
    }

    #[test]
    fn tree_sum_adds_in_the_kernels_order() {
        // 1 + 2⁻⁵³ + … is order-sensitive: the lanes' sums then the tree, not left to right.
        let mut v = vec![1.0f64];
        v.extend(std::iter::repeat_n(f64::EPSILON / 2.0, 600));
        let lanes: Vec<f64> = (0..256).map(|t| v.iter().skip(t).step_by(256).sum()).collect();
        let mut red = lanes.clone();
        for half in [128, 64, 32, 16, 8, 4, 2, 1] {
            for t in 0..half {
                red[t] += red[t + half];
            }
        }
        assert_eq!(tree_sum(&v), red[0]);
        assert_ne!(tree_sum(&v), v.iter().sum::<f64>(), "the example must tell the orders apart");
        assert_eq!(tree_sum(&[]), 0.0);
    }

    #[test]
    fn worst_row_is_the_lowest_value_then_the_lowest_row() {
        let w = [-3.0, f64::INFINITY, -5.0, -5.0];
        assert_eq!(worst_of_blocks(&w, &[7, -1, 9, 4]), Some((-5.0, 4)));
        assert_eq!(worst_of_blocks(&[f64::INFINITY], &[-1]), None);
    }
}
