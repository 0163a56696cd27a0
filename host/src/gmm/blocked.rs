//! The blocked E-step: the same statistics as the kernels' per-sample streaming pass
//! ([`crate::gmm::streaming::ParallelEStep`]), computed a block of rows at a time so that every
//! inner loop runs over many samples at once, for every covariance kind.
//!
//! The streaming pass handles one sample at a time: its inner loops have length D (2 to 16 here),
//! too short to vectorize well, and every sample re-reads U_k, μ_k and the K·D² statistics. Here a
//! block of [`BLOCK_ROWS`] rows is transposed to feature-major order (one contiguous run of
//! samples per feature) and, per component k,
//!
//! 1. the Mahalanobis terms: `full`/`tied`, Δ = X − μ_k and the matrix product Y = Δ U_k (U_k
//!    upper triangular, so only its D(D+1)/2 entries are multiplied) with ‖y_b‖² summed as each
//!    column of Y is made, over strips of L samples held in registers (a register-blocked
//!    micro-kernel: two columns of Y per pass over Δ's rows); `diag`/`spherical`,
//!    Σ_i ((x_i − μ_ki) u_ii)² for four components per pass over the block's rows (each strip
//!    of x loaded once for four components' multiply-adds), or from K = 4 on
//!    Σ_i (u_ii (x_i − c_i) − u_ii (μ_ki − c_i))² on the block centred once by the components'
//!    mean c, eight components per pass;
//! 2. responsibilities for the whole block, the kernels' `responsibilities_in_place` formula (up
//!    to where the maximal term's 1 is added) computed a component at a time over all rows with
//!    the branch-free eˣ and ln(1 + t) of [`crate::math`] (f32 at 16 lanes, f64 at 8 under
//!    AVX-512, half that under AVX2); a block with a bad row (non-finite
//!    sample, zero density) goes row by row through the kernels' function itself, so the error
//!    and its row are the streaming pass's;
//! 3. n_k += Σ r, s1_k += Rᵀ Δ, and the weighted Gram matrix s2_k += (r ⊙ Δ)ᵀ Δ as a
//!    lane-parallel matrix product over the block (`full`/`tied`: all three at once as the
//!    symmetric Gram matrix VᵀV of the D + 1 rows V = [√r ⊙ Δ; √r], the responsibilities pass
//!    yielding √r directly, its upper triangle in register tiles of 4 × 4 entries (AVX-512, and
//!    4 × 5 or 5 × 5 where five are left) or 2 × 4, per-lane sums kept over the chunk, then
//!    added pairwise ([`crate::math::lane_sums`]); `diag`/`spherical`: n_k, s1_k and the
//!    diagonal of s2_k in one fused pass per component, nothing stored but per-lane sums, and
//!    no r = 0 guard on blocks where x − μ_k cannot overflow; or, in `f64` with every component
//!    within ~16 of its widths of the centre c, as the product Rᵀ [X̃, X̃ ⊙ X̃] of the centred
//!    block in register tiles, moved from c to each μ_k once per chunk).
//!
//! The `full`/`tied` deviations and every statistic are taken from each component's own mean
//! (x − μ_k), not as X U_k − μ_k U_k from one global centre: the latter subtracts two large
//! numbers when a component sits far from the centre relative to its width, and f32 would lose
//! the digits the shifted statistics keep (`tests/tests/gmm_precision.rs`). Forming Δ costs D
//! per sample and component against the product's D(D+1)/2. The centred `diag` E-step takes
//! that risk only in a log-density, where a term is off by ε times the distance in widths
//! (bound and argument at `log_probs_diag_all`), and saves a third of its operations.
//!
//! Instruction sets: the pass is compiled three times (see [`crate::math::isa`]), portable (two
//! roundings per multiply-add), with AVX2 and FMA (one rounding, 256-bit vectors) and with
//! AVX-512 besides (512-bit vectors, twice the lanes per E-step strip and M-step entry:
//! [`E_LANES_F64_WIDE`], [`M_LANES_F64_WIDE`] and their `f32` counterparts; the `diag` strips stay
//! at 8, where 16 left the loop scalar), the widest the CPU has chosen at run time. The builds
//! agree within rounding, not bitwise. Scratch rows start on cache lines ([`AlignedBuf`]): a
//! full-width store that straddles two lines made the deviations loop alone a tenth of the
//! D = K = 16 pass.
//!
//! Determinism: rows are split into fixed chunks of [`BLOCKED_CHUNK_ROWS`] (independent of the
//! thread count), each chunk accumulated into its own statistics on a rayon worker, the chunks'
//! sums (all about the model's means) added in chunk order and the total mirrored into the
//! kernels' layout and merged once; every sum inside a chunk has a fixed order too. So on one
//! machine the result is bitwise the same for any thread count, one thread included.
//!
//! `gmm::estep::HostEStep` is the E-step `Mixture` uses: blocked for every kind with at least
//! `BLOCKED_MIN_ROWS` rows and no sample weights, the streaming pass otherwise (see
//! `gmm::estep::uses_blocked`).

use crate::math::SimdReal;
use crate::math::aligned::AlignedBuf;
use crate::math::isa::Isa;
use crate::math::lane_sums::{lane_sums, pairwise};
use crate::math::transpose::{to_feature_major, to_feature_major_centred};
use crabmix_kernels::gmm::{EStep, MixtureRef, Shape, StatsMut, Totals, sample_responsibilities};
use crabmix_kernels::{Error, Real, Result};
use rayon::prelude::*;

/// Samples per register strip of the E-step's product for `f64`: four 256-bit registers per
/// column of Y, two columns at once (8 independent FMA chains, which hide its latency; `f32`
/// with AVX-512 takes four, see `log_probs_full`).
/// Measured at D = 16 on one core of the development VM (AMD EPYC, AVX2+FMA, a block in L1,
/// 4 runs under load average ≈ 5 from other builds; useful GFLOP/s, that core's FMA peak 41.5):
/// 16 lanes 20–35, 8 lanes 17–35; `matrixmultiply` 0.3's dgemm for the same product (the full
/// square, then ‖y‖²) 10–17.
pub const E_LANES_F64: usize = 16;
/// [`E_LANES_F64`] for `f32`: the same registers at twice the lanes.
pub const E_LANES_F32: usize = 32;
/// [`E_LANES_F64`] in the AVX-512 build ([`Isa::Avx512`]).
pub const E_LANES_F64_WIDE: usize = 32;
/// [`E_LANES_F32`] in the AVX-512 build.
pub const E_LANES_F32_WIDE: usize = 64;
/// Per-sum lanes of the `diag`/`spherical` M-step's statistics for `f64` (two 256-bit
/// registers), and the strips of the responsibilities' maxima and of the block's
/// log-likelihoods. The `full`/`tied` Gram matrix, first measured with these lanes in 2 × 2
/// tiles (8 lanes 20–36 GFLOP/s, 16 lanes 10–24, `matrixmultiply`'s dgemm of the full square
/// 9–13; as above), now keeps one register of lanes per entry in larger tiles
/// (`second_moments_full`).
pub const M_LANES_F64: usize = 8;
/// [`M_LANES_F64`] for `f32`.
pub const M_LANES_F32: usize = 16;
/// [`M_LANES_F64`] in the AVX-512 build.
pub const M_LANES_F64_WIDE: usize = 16;
/// [`M_LANES_F32`] in the AVX-512 build.
pub const M_LANES_F32_WIDE: usize = 32;

/// Rows per block: the block's transposed data, deviations and K log-probabilities stay in L1/L2
/// (at D = K = 16, f64: 3 · 16 · 256 · 8 B + 16 · 256 · 8 B ≈ 128 KiB). A multiple of the lanes.
pub const BLOCK_ROWS: usize = 256;

/// Rows per block for D features of `T`: [`BLOCK_ROWS`], or half of it for `full`/`tied` when a
/// row is wider than 64 bytes (`f64` at D > 8, `f32` at D > 16), so that the block's
/// transposed data, deviations and weighted deviations (3 · D · rows values) stay nearer L1.
/// The scratch rows are then that far apart too (the block's stride, a constant of each
/// compiled block pass): with half blocks at a [`BLOCK_ROWS`] stride, only half of L1's sets
/// held the block. Measured on one core (Intel Xeon VM, AVX-512, N = 10⁵, `f64`, D = 16,
/// alternating builds): half blocks 3–6 % faster for `full` at K = 2, 8, 16, and the tight
/// stride 4–9 % more; `diag` (one value per sample and feature in the M-step) 0–2 % slower
/// with half blocks, so it keeps whole ones.
fn block_rows<T>(d: usize, full: bool) -> usize {
    if full && d * size_of::<T>() > 64 { BLOCK_ROWS / 2 } else { BLOCK_ROWS }
}

/// Rows per parallel task (a multiple of [`BLOCK_ROWS`]). Fixed, not derived from the thread count,
/// so the merge order — and every rounding — is the same on any machine; small enough that
/// N = 100 000 gives 49 tasks and two threads stay balanced.
pub const BLOCKED_CHUNK_ROWS: usize = 2048;

/// The blocked multithreaded E-step (see the module documentation), for every covariance kind.
#[derive(Debug)]
pub struct BlockedEStep<'a, T> {
    data: &'a [T],
    d: usize,
    isa: Isa,
}

impl<'a, T: Real> BlockedEStep<'a, T> {
    /// Over `data` (N × D row-major), with the instruction set [`Isa::detect`] picks.
    pub fn new(data: &'a [T], d: usize) -> Self {
        Self { data, d, isa: Isa::detect() }
    }
    /// The same pass with instruction set `isa`, or the widest build below it this CPU runs
    /// ([`Isa::or_supported`]).
    pub fn with_isa(mut self, isa: Isa) -> Self {
        self.isa = isa.or_supported();
        self
    }
}

impl<T: Real> EStep<T> for BlockedEStep<'_, T> {
    fn accumulate(&mut self, model: &MixtureRef<'_, T>, stats: &mut StatsMut<'_, T>) -> Result<()> {
        let shape = model.shape();
        shape.validate()?;
        let d = shape.features;
        if d != self.d || self.data.len() % d != 0 {
            return Err(Error::ShapeMismatch {
                what: "data length (a multiple of D)",
                expected: (self.data.len() / d + 1) * d,
                found: self.data.len(),
            });
        }
        let factors = Factors::new(model);
        let isa = self.isa;
        let partials: Vec<Result<ChunkSums<T>>> = self
            .data
            .par_chunks(BLOCKED_CHUNK_ROWS * d)
            .enumerate()
            .map_init(
                || Scratch::new(shape),
                |scratch, (c, chunk)| {
                    accumulate_chunk(isa, &factors, chunk, scratch)
                        .map_err(|e| e.offset_sample(c * BLOCKED_CHUNK_ROWS))
                },
            )
            .collect();
        // In chunk order: the first error is the one of the lowest row, as in the streaming pass,
        // and the statistics then hold the chunks before it. Every chunk's sums are about the
        // same shifts (the model's means), so they add entry by entry, in their compact layout,
        // and only their total is laid out and merged (merged one by one, the D × D squares'
        // shifted merges took a twentieth of the two-thread D = K = 16 pass, on one thread).
        let mut total: Option<ChunkSums<T>> = None;
        let mut failed = None;
        for c in partials {
            match (c, &mut total) {
                (Ok(c), Some(t)) => t.add(&c),
                (Ok(c), None) => total = Some(c),
                (Err(e), _) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(t) = total {
            let mut merged = Partial::new(&factors);
            merged.load(&factors, &t);
            stats.merge(&merged.view(shape).as_ref())?;
        }
        failed.map_or(Ok(()), Err)
    }
}

/// The model in the form the block kernels read: per component the upper triangle of U_k packed
/// column by column (column j holds U_0j … U_jj, the terms of y_j in the order the streaming
/// kernel adds them; `diag`/`spherical`: the diagonal u_00 … u_(D−1)(D−1)), μ_k and log_norm_k.
struct Factors<'m, T> {
    shape: Shape,
    /// `full`/`tied`: the Mahalanobis terms are a triangular product, and s2 a whole Gram matrix.
    full: bool,
    ucols: Vec<T>,
    means: &'m [T],
    log_norm: &'m [T],
    /// Every |μ_ki| ≤ [`Factors::BOUND`]: with a block's samples bounded too, x − μ_k cannot
    /// overflow, and the `diag` statistics need no guard against 0 · ∞.
    means_bounded: bool,
    /// `diag`/`spherical`: c_i, the mean over k of μ_ki, which the centred E-step shifts a
    /// block by ([`log_probs_diag_all`]).
    centre: Vec<T>,
    /// `diag`/`spherical`, feature-major (entry i · K + k): [u_kii, −u_kii (μ_ki − c_i)].
    diag_terms: Vec<[T; 2]>,
    /// `diag`/`spherical`: (max |u_kii|, max |μ_ki − c_i|), NaN if any is.
    diag_scale: (T, T),
    /// `diag`/`spherical`: whether the statistics may be taken about the centre c on blocks
    /// where the centred E-step runs ([`moments_diag_shared`]): ε (1 + w²) ≤
    /// [`SHARED_SHIFT_ERROR`], w = max_ki |μ_ki − c_i| u_kii, every component's distance from c
    /// in its own widths: `f64` within ~16 widths, never `f32`.
    shared_shift: bool,
    /// Where `shared_shift` and every |μ_ki| ≤ [`Factors::bound`]: the largest |x − c| a
    /// centred block may hold for its E-step terms to stay finite, ½ T::MAX / 4 / max u − max
    /// |μ − c| (so that [`Factors::centred_ok`] holds with room for rounding).
    shared_limit: Option<T>,
}

/// The bound on ε (1 + w²) under which the `diag` statistics may be accumulated about the
/// components' common centre c instead of each component's mean ([`moments_diag_shared`]):
/// 2⁻⁴⁴, so `f64` components within √255 ≈ 16 of their widths of c, never `f32`. The variance
/// then moves by ~5 ε (1 + w²) ≤ 3·10⁻¹³ (measured: 1.1·10⁻¹² at w = 31), inside the 10⁻¹² that
/// `host/tests/gmm_blocked.rs` holds the blocked pass to against the streaming one.
const SHARED_SHIFT_ERROR: f64 = 1.0 / (1u64 << 44) as f64;

impl<'m, T: Real> Factors<'m, T> {
    fn new(model: &MixtureRef<'m, T>) -> Self {
        let shape = model.shape();
        let (k_n, d) = (shape.components, shape.features);
        let full = shape.kind.is_full_matrix();
        let u = model.precisions_cholesky();
        let mut ucols = Vec::with_capacity(k_n * d * (d + 1) / 2);
        for k in 0..k_n {
            for j in 0..d {
                if full {
                    for i in 0..=j {
                        ucols.push(u[k * d * d + i * d + j]);
                    }
                } else {
                    ucols.push(u[k * d * d + j * d + j]);
                }
            }
        }
        let means = model.means();
        let means_bounded = means.iter().all(|m| m.abs() <= Self::bound());
        let (mut centre, mut diag_terms, mut diag_scale) = (Vec::new(), Vec::new(), (T::ZERO, T::ZERO));
        // The largest |μ_ki − c_i| u_kii (NaN if any is: then no shared shift).
        let mut widths = T::ZERO;
        if !full {
            let kf = T::from_f64(k_n as f64);
            centre = (0..d).map(|i| (0..k_n).fold(T::ZERO, |a, k| a + means[k * d + i] / kf)).collect();
            for i in 0..d {
                for k in 0..k_n {
                    let (ui, mu) = (ucols[k * d + i], means[k * d + i] - centre[i]);
                    diag_terms.push([ui, -(ui * mu)]);
                    diag_scale.0 =
                        if ui.abs() > diag_scale.0 || ui.is_nan() { ui.abs() } else { diag_scale.0 };
                    diag_scale.1 =
                        if mu.abs() > diag_scale.1 || mu.is_nan() { mu.abs() } else { diag_scale.1 };
                    let w = (ui * mu).abs();
                    widths = if w > widths || w.is_nan() { w } else { widths };
                }
            }
        }
        let widths = widths.to_f64();
        let shared_shift = !full && T::EPSILON.to_f64() * (1.0 + widths * widths) <= SHARED_SHIFT_ERROR;
        let limit = Self::bound() * T::from_f64(0.5) / diag_scale.0 - diag_scale.1;
        let shared_limit =
            (shared_shift && means_bounded && limit > T::ZERO && limit.is_finite()).then_some(limit);
        Self {
            shape,
            full,
            ucols,
            means,
            log_norm: model.log_norm(),
            means_bounded,
            centre,
            diag_terms,
            diag_scale,
            shared_shift,
            shared_limit,
        }
    }

    /// Whether the centred E-step may run on a block whose centred samples are at most `x_max`
    /// in magnitude: |u| (|x − c| + |μ − c|) ≤ T::MAX / 4 for every term, so u (x − c) and
    /// u (μ − c) are finite and their difference cannot be ∞ − ∞ (false on a NaN).
    fn centred_ok(&self, x_max: T) -> bool {
        let (u, m) = self.diag_scale;
        u * (x_max + m) <= Self::bound()
    }

    /// T::MAX / 4: |x|, |μ| ≤ this keeps x − μ finite (with a wide margin).
    fn bound() -> T {
        T::MAX * T::from_f64(0.25)
    }

    /// Entries of s2_k the block kernels compute: the upper triangle, or the diagonal.
    fn s2_entries(&self) -> usize {
        let d = self.shape.features;
        if self.full { d * (d + 1) / 2 } else { d }
    }

    /// Lane sums kept per component while a chunk runs: `full`/`tied`, the upper triangle of
    /// the (D + 1)-row Gram matrix that holds n_k, s1_k and s2_k at once
    /// ([`scaled_deviations`]); `diag`/`spherical`, s2_k's diagonal (n_k and s1_k have their
    /// own lanes).
    fn lane_entries(&self) -> usize {
        let d = self.shape.features;
        if self.full { (d + 1) * (d + 2) / 2 } else { d }
    }

    /// Component k's packed U entries.
    fn u(&self, k: usize) -> &[T] {
        let n = self.s2_entries();
        &self.ucols[k * n..(k + 1) * n]
    }
}

/// One chunk's statistics as the block kernels leave them: n_k, s1_k and the entries of s2_k
/// they compute ([`Factors::s2_entries`] per component: the upper triangle in row order, or the
/// diagonal), shifts = the model's means; with the chunk's totals and worst-explained row. A
/// few KiB (the lanes the sums are kept in while the chunk runs are the worker's, in
/// [`Scratch`]): allocated per chunk as the whole kernels' layout with those lanes, up to
/// 0.3 MiB at D = K = 16, each chunk's fresh pages cost a tenth of the pass in page faults.
struct ChunkSums<T> {
    resp: Vec<T>,
    s1: Vec<T>,
    s2: Vec<T>,
    worst: Vec<T>,
    totals: Totals<T>,
}

impl<T: Real> ChunkSums<T> {
    fn new(f: &Factors<'_, T>) -> Self {
        let (k, d) = (f.shape.components, f.shape.features);
        Self {
            resp: vec![T::ZERO; k],
            s1: vec![T::ZERO; k * d],
            s2: vec![T::ZERO; k * f.s2_entries()],
            worst: vec![T::ZERO; d],
            totals: Totals::default(),
        }
    }

    /// Adds a later chunk's sums (about the same shifts): n_k, s1_k and s2_k entry by entry,
    /// the totals as [`Totals::merge`], its worst row kept if lower.
    fn add(&mut self, o: &Self) {
        for (a, b) in [(&mut self.resp, &o.resp), (&mut self.s1, &o.s1), (&mut self.s2, &o.s2)] {
            for (a, &b) in a.iter_mut().zip(b.iter()) {
                *a += b;
            }
        }
        if self.totals.merge(&o.totals) {
            self.worst.copy_from_slice(&o.worst);
        }
    }
}

/// A chunk's statistics in the kernels' `StatsMut` layout (the full square of s2_k, or its
/// diagonal in it), shifts = the model's means, for [`StatsMut::merge`]; one per pass, loaded
/// with each chunk's [`ChunkSums`] in turn.
struct Partial<T> {
    shift: Vec<T>,
    resp: Vec<T>,
    s1: Vec<T>,
    s2: Vec<T>,
    worst: Vec<T>,
    totals: Totals<T>,
}

impl<T: Real> Partial<T> {
    fn new(f: &Factors<'_, T>) -> Self {
        let (k, d) = (f.shape.components, f.shape.features);
        Self {
            shift: f.means.to_vec(),
            resp: vec![T::ZERO; k],
            s1: vec![T::ZERO; k * d],
            s2: vec![T::ZERO; k * d * d],
            worst: vec![T::ZERO; d],
            totals: Totals::default(),
        }
    }

    /// Takes chunk `c`'s sums: s2_k's upper triangle mirrored into the full square, or its
    /// diagonal (the square's other entries stay 0, as the kernels keep them for these kinds).
    fn load(&mut self, f: &Factors<'_, T>, c: &ChunkSums<T>) {
        let (k_n, d, entries) = (f.shape.components, f.shape.features, f.s2_entries());
        self.resp.copy_from_slice(&c.resp);
        self.s1.copy_from_slice(&c.s1);
        self.worst.copy_from_slice(&c.worst);
        self.totals = c.totals;
        for k in 0..k_n {
            let s2 = &mut self.s2[k * d * d..(k + 1) * d * d];
            let mut e = c.s2[k * entries..(k + 1) * entries].iter();
            for i in 0..d {
                if !f.full {
                    s2[i * d + i] = *e.next().expect("diagonal entries");
                    continue;
                }
                for j in i..d {
                    s2[i * d + j] = *e.next().expect("tri entries");
                }
                for j in 0..i {
                    s2[i * d + j] = s2[j * d + i];
                }
            }
        }
    }

    fn view(&mut self, shape: Shape) -> StatsMut<'_, T> {
        StatsMut::new(
            shape,
            &mut self.shift,
            &mut self.resp,
            &mut self.s1,
            &mut self.s2,
            &mut self.worst,
            &mut self.totals,
        )
        .expect("storage sized from the shape")
    }
}

/// Per-worker buffers, fully overwritten before each use (so reuse across chunks cannot change a
/// result), each on a cache-line boundary ([`AlignedBuf`]). Feature-major blocks: entry (i, b)
/// of a D × block matrix is at `i * stride + b`, the stride being the block's rows
/// ([`block_rows`], at most [`BLOCK_ROWS`]).
struct Scratch<T> {
    xt: AlignedBuf<T>,
    /// `full`/`tied`: one component's deviations x − μ_k for its E-step, then (D + 1 rows) its
    /// √r (x − μ_k) and √r for its M-step ([`scaled_deviations`]), never needed at once;
    /// `diag`/`spherical`: the centred block x − c.
    dev: AlignedBuf<T>,
    lp: AlignedBuf<T>,
    lse: AlignedBuf<T>,
    row: Vec<T>,
    max: AlignedBuf<T>,
    inv: AlignedBuf<T>,
    /// Per lane entry of each component ([`Factors::lane_entries`]), its L partial sums over the
    /// chunk so far (entry e of component k at `(k · entries + e) · L`): the lanes are added
    /// into the chunk's sums once per chunk, not once per block. Sized on the worker's first
    /// chunk; zeroed per chunk (`diag`/`spherical`) or set by the chunk's first block (`full`).
    s2_lanes: Vec<T>,
    /// `full`/`tied`: a component's entries' lane sums ([`lane_sums`]) when the chunk ends.
    sums: Vec<T>,
    /// `diag`/`spherical`: the L partial sums of s1_ki (at `(k · D + i) · L`) and of n_k (at
    /// `k · L`), added once per chunk like `s2_lanes`.
    s1_lanes: Vec<T>,
    n_lanes: Vec<T>,
    /// `diag`/`spherical`, blocks summed about the centre c ([`moments_diag_shared`]): the
    /// partial sums of n_k (at `k · L`), Σ r (x − c) and Σ r (x − c)² (at `(k · D + i) · L`),
    /// L that pass's lanes; turned into sums about μ_k once per chunk.
    n_shared: Vec<T>,
    s1_shared: Vec<T>,
    s2_shared: Vec<T>,
}

impl<T: Real> Scratch<T> {
    fn new(shape: Shape) -> Self {
        let (k, d) = (shape.components, shape.features);
        Self {
            xt: AlignedBuf::new(d * BLOCK_ROWS, T::ZERO),
            dev: AlignedBuf::new((d + usize::from(shape.kind.is_full_matrix())) * BLOCK_ROWS, T::ZERO),
            lp: AlignedBuf::new(k * BLOCK_ROWS, T::ZERO),
            lse: AlignedBuf::new(BLOCK_ROWS, T::ZERO),
            row: vec![T::ZERO; k],
            max: AlignedBuf::new(BLOCK_ROWS, T::ZERO),
            inv: AlignedBuf::new(BLOCK_ROWS, T::ZERO),
            s2_lanes: Vec::new(),
            sums: Vec::new(),
            s1_lanes: Vec::new(),
            n_lanes: Vec::new(),
            n_shared: Vec::new(),
            s1_shared: Vec::new(),
            s2_shared: Vec::new(),
        }
    }
}

/// Accumulates one chunk (rows × D, row-major) with the build `isa` names.
fn accumulate_chunk<T: Real>(
    isa: Isa,
    f: &Factors<'_, T>,
    chunk: &[T],
    s: &mut Scratch<T>,
) -> Result<ChunkSums<T>> {
    #[cfg(target_arch = "x86_64")]
    match isa {
        // SAFETY: the wrappers only differ from the portable function by being compiled with
        // more target features; `isa` names a build only when `Isa::is_supported` found its
        // features on this CPU (`BlockedEStep::new` / `with_isa`).
        Isa::Avx512 => return unsafe { accumulate_chunk_avx512(f, chunk, s) },
        Isa::Avx2Fma => return unsafe { accumulate_chunk_avx2_fma(f, chunk, s) },
        Isa::Portable => {}
    }
    let _ = isa;
    accumulate_chunk_generic::<T, false, false>(f, chunk, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,avx2,fma")]
unsafe fn accumulate_chunk_avx2_fma<T: Real>(
    f: &Factors<'_, T>,
    chunk: &[T],
    s: &mut Scratch<T>,
) -> Result<ChunkSums<T>> {
    accumulate_chunk_generic::<T, true, false>(f, chunk, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,avx2,fma,avx512f,avx512vl,avx512dq")]
unsafe fn accumulate_chunk_avx512<T: Real>(
    f: &Factors<'_, T>,
    chunk: &[T],
    s: &mut Scratch<T>,
) -> Result<ChunkSums<T>> {
    accumulate_chunk_generic::<T, true, true>(f, chunk, s)
}

/// [`accumulate_chunk_lanes`] with the lanes of `T` and the vector width (`WIDE`: 512-bit
/// registers, [`E_LANES_F64_WIDE`] and the rest; else 256-bit, [`E_LANES_F64`] and the rest).
// `inline(always)` down the whole call tree so each target-feature wrapper gets its own copy.
#[inline(always)]
fn accumulate_chunk_generic<T: Real, const FMA: bool, const WIDE: bool>(
    f: &Factors<'_, T>,
    chunk: &[T],
    s: &mut Scratch<T>,
) -> Result<ChunkSums<T>> {
    // The shared-shift `diag` statistics and the `full` Gram matrix: one register of lanes per
    // sum; tiles of four components (16 accumulators of 32 registers) and Gram tiles of 4 × 4
    // entries (16 accumulators, 8 strips loaded) with 512-bit vectors, of two components and
    // 2 × 4 entries (8 accumulators, 6 strips) with 256-bit (16 registers).
    // The `full` E-step's product: two columns a pass, four in f32 with 512-bit vectors (four
    // measured 3–6 % slower in f64 at D = 16 and 8, K = 8 and 16, one core, alternating builds;
    // f32 5 % faster).
    match (WIDE, size_of::<T>() <= 4) {
        (false, true) => accumulate_chunk_lanes::<T, FMA, E_LANES_F32, M_LANES_F32, 8, 2, 2, 2>(f, chunk, s),
        (false, false) => accumulate_chunk_lanes::<T, FMA, E_LANES_F64, M_LANES_F64, 4, 2, 2, 2>(f, chunk, s),
        (true, true) => {
            accumulate_chunk_lanes::<T, FMA, E_LANES_F32_WIDE, M_LANES_F32_WIDE, 16, 4, 4, 4>(f, chunk, s)
        }
        (true, false) => {
            accumulate_chunk_lanes::<T, FMA, E_LANES_F64_WIDE, M_LANES_F64_WIDE, 8, 4, 4, 2>(f, chunk, s)
        }
    }
}

/// The chunk with E-step strips of `LE` samples and M-step lanes `LM` (`LE` a multiple of `LM`);
/// the shared-shift `diag` statistics ([`moments_diag_shared`]) in `LS` lanes, tiles of `GS`
/// components; the `full` Gram matrix ([`second_moments_full`]) in `LS` lanes, tiles of `TILE`
/// rows; its E-step ([`log_probs_full`]) `COLS` columns of the product a pass.
#[inline(always)]
fn accumulate_chunk_lanes<
    T: Real,
    const FMA: bool,
    const LE: usize,
    const LM: usize,
    const LS: usize,
    const GS: usize,
    const TILE: usize,
    const COLS: usize,
>(
    f: &Factors<'_, T>,
    chunk: &[T],
    s: &mut Scratch<T>,
) -> Result<ChunkSums<T>> {
    let shape = f.shape;
    let d = shape.features;
    const { assert!(LE % LM == 0 && LE % LS == 0 && BLOCK_ROWS % LE == 0) };
    let mut p = ChunkSums::new(f);
    let (k_n, entries) = (shape.components, f.lane_entries());
    let zeroed = |v: &mut Vec<T>, len: usize| {
        v.clear();
        v.resize(len, T::ZERO);
    };
    // `full`: the chunk's first block sets every Gram lane ([`second_moments_full`]), so they
    // are not zeroed first (a memset of 0.15 MiB per chunk at D = K = 16 in f32).
    if f.full {
        s.s2_lanes.resize(k_n * entries * LS, T::ZERO);
    } else {
        zeroed(&mut s.s2_lanes, k_n * entries * LM);
    }
    zeroed(&mut s.s1_lanes, if f.full { 0 } else { k_n * d * LM });
    zeroed(&mut s.n_lanes, if f.full { 0 } else { k_n * LM });
    let shared = if f.shared_shift { k_n } else { 0 };
    zeroed(&mut s.n_shared, shared * LS);
    zeroed(&mut s.s1_shared, shared * d * LS);
    zeroed(&mut s.s2_shared, shared * d * LS);
    s.sums.resize(if f.full { entries } else { 0 }, T::ZERO);
    let rows = block_rows::<T>(d, f.full);
    for (b, block) in chunk.chunks(rows * d).enumerate() {
        if rows == BLOCK_ROWS {
            accumulate_block::<T, FMA, LE, LM, LS, GS, TILE, COLS, BLOCK_ROWS>(f, block, b == 0, s, &mut p)
        } else {
            accumulate_block::<T, FMA, LE, LM, LS, GS, TILE, COLS, { BLOCK_ROWS / 2 }>(
                f,
                block,
                b == 0,
                s,
                &mut p,
            )
        }
        .map_err(|e| e.offset_sample(b * rows))?;
    }
    // The lanes of each computed entry summed ([`pairwise`], many at once by [`lane_sums`]);
    // the shared-shift sums (zero where no block took them) moved to μ_k: with m = μ_ki − c_i,
    // Σ r (x − μ) = Σ r x̃ − n m and Σ r (x − μ)² = Σ r x̃² − m (Σ r x̃ + Σ r (x − μ)).
    for k in 0..k_n {
        if !f.full {
            p.resp[k] = pairwise(&lanes_at::<T, LM>(&s.n_lanes, k * LM));
            lane_sums::<T, LM>(&s.s1_lanes[k * d * LM..(k + 1) * d * LM], &mut p.s1[k * d..(k + 1) * d]);
        }
        let lanes = &s.s2_lanes;
        if f.full {
            // The (D + 1)-row Gram's upper triangle in row order: row i < D is s2_k's row i
            // (j = i … D − 1), then s1_ki (j = D); the last entry, (D, D), is n_k.
            let tri = d * (d + 1) / 2;
            let sums = &mut s.sums[..entries];
            lane_sums::<T, LS>(&lanes[k * entries * LS..(k + 1) * entries * LS], sums);
            let (mut e, mut t) = (0, 0);
            for i in 0..=d {
                for j in i..=d {
                    let v = sums[e];
                    e += 1;
                    if i == d {
                        p.resp[k] = v;
                    } else if j == d {
                        p.s1[k * d + i] = v;
                    } else {
                        p.s2[k * tri + t] = v;
                        t += 1;
                    }
                }
            }
        } else {
            let out = &mut p.s2[k * entries..(k + 1) * entries];
            lane_sums::<T, LM>(&lanes[k * entries * LM..(k + 1) * entries * LM], out);
        }
        if shared > 0 {
            let n = pairwise(&lanes_at::<T, LS>(&s.n_shared, k * LS));
            p.resp[k] += n;
            for i in 0..d {
                let m = f.means[k * d + i] - f.centre[i];
                let a1 = pairwise(&lanes_at::<T, LS>(&s.s1_shared, (k * d + i) * LS));
                let a2 = pairwise(&lanes_at::<T, LS>(&s.s2_shared, (k * d + i) * LS));
                let s1 = T::madd::<FMA>(-n, m, a1);
                p.s1[k * d + i] += s1;
                p.s2[k * d + i] += T::madd::<FMA>(-m, a1 + s1, a2);
            }
        }
    }
    Ok(p)
}

/// A strip of L consecutive entries of row `i` of a feature-major block, from sample `s`.
#[inline(always)]
fn lane<T, const L: usize>(m: &[T], stride: usize, i: usize, s: usize) -> &[T; L] {
    m[i * stride + s..i * stride + s + L].try_into().expect("L entries")
}

#[inline(always)]
fn accumulate_block<
    T: Real,
    const FMA: bool,
    const LE: usize,
    const LM: usize,
    const LS: usize,
    const GS: usize,
    const TILE: usize,
    const COLS: usize,
    const STRIDE: usize,
>(
    f: &Factors<'_, T>,
    block: &[T],
    first: bool,
    s: &mut Scratch<T>,
    p: &mut ChunkSums<T>,
) -> Result<()> {
    // A constant, so that the strided offsets below fold into the instructions' displacements
    // (passed at run time, the address arithmetic cost 5 % at f32 D = K = 16).
    let stride = STRIDE;
    let (k_n, d) = (f.shape.components, f.shape.features);
    let nb = block.len() / d;
    // Whole strips; the padding samples are zeros, get zero responsibility and are never observed.
    let np = nb.div_ceil(LE) * LE;
    // With the `diag` statistics about c ([`Factors::shared_shift`]), the block is centred as it
    // is transposed and only the centred copy made: every |x − c| ≤ `shared_limit` (false on a
    // NaN) keeps the centred E-step's terms finite and implies finite samples. A block that
    // fails it takes the general path below, from a plain transpose.
    let mut shared = false;
    if let Some(limit) = f.shared_limit {
        to_feature_major_centred(block, d, &mut s.dev, stride, &f.centre);
        shared =
            (0..d).all(|i| strip_row(&s.dev, stride, i, nb).iter().fold(true, |a, v| a & (v.abs() <= limit)));
    }
    let (finite, bounded);
    if shared {
        // `bounded` stands for what the general path derives from it below: no NaN
        // log-probability (the terms are finite, squares summed) and no overflowing deviation.
        (finite, bounded) = (true, true);
        for i in 0..d {
            s.dev[i * stride + nb..i * stride + np].fill(T::ZERO);
        }
    } else {
        to_feature_major(block, d, &mut s.xt, stride);
        // Checked on the transposed rows, where the test vectorizes (checked per element while
        // transposing, it stayed scalar and cost a sixth of the f32 diag pass): |x| ≤ T::MAX / 4
        // implies finite, and only a block that fails it looks for the non-finite entries.
        let bound = Factors::<T>::bound();
        let within =
            (0..d).all(|i| strip_row(&s.xt, stride, i, nb).iter().fold(true, |a, v| a & (v.abs() <= bound)));
        finite = within || block.iter().all(|v| v.is_finite());
        bounded = within && f.means_bounded;
        for i in 0..d {
            s.xt[i * stride + nb..i * stride + np].fill(T::ZERO);
        }
    }
    if f.full {
        for k in 0..k_n {
            let mu = &f.means[k * d..(k + 1) * d];
            let out = &mut s.lp[k * stride..k * stride + np];
            deviations(&s.xt, stride, mu, np, &mut s.dev);
            log_probs_full::<T, FMA, LE, COLS>(f.u(k), d, &s.dev, stride, f.log_norm[k], out);
        }
    }
    if !f.full {
        // At most 32 accumulated values per strip (four components × 8 f64 or × 8 f32), in every
        // build: with 64 (f32 at 16 lanes, or f64 at 16 under AVX-512) LLVM left the loop
        // scalar, the accumulators on the stack.
        // From K = 4 components the centred form's saving (one operation per term) outweighs
        // centring the block (measured: K = 2 was 6–30 % slower with it, K = 8 and 16 5–15 %
        // faster; one core, alternating builds, D = 8 and 16).
        // Blocks with the statistics about c were centred while transposed, at every K.
        let centred = shared
            || (k_n >= 4
                && bounded
                && f.centred_ok(centre_block::<T, 8>(&s.xt, stride, &f.centre, np, &mut s.dev)));
        shared = centred && f.shared_shift;
        let x = if centred { &s.dev } else { &s.xt };
        log_probs_diag_all::<T, FMA, 8, 16>(f, x, centred, stride, np, &mut s.lp);
    }
    // Responsibilities strip by strip (vectorized); when a row is bad (non-finite sample, zero
    // density, a NaN log-probability from an overflowed Mahalanobis sum), row by row through the
    // kernels' functions instead, in row order, so that the first failing row is the one
    // reported (a non-finite row yields NaN log-probabilities, caught before any statistic is
    // added) and an overflow counts as zero density, as in the streaming pass.
    // NaN log-probabilities need a non-finite sample (caught by `finite`) or, in `full`, partial
    // products U_ij δ_i overflowing to +∞ and −∞ in one sum: bounded samples and means keep δ
    // finite, but a product can still overflow where each multiply is rounded on its own (the
    // portable build); a fused multiply-add never overflows its exact product, and `diag` sums
    // only squares. So the NaN test is left out only where neither can happen.
    let no_nan = bounded && (FMA || !f.full);
    let maxima_ok = finite
        && if no_nan {
            strip_maxima::<T, LM, false>(&s.lp, stride, k_n, nb, np, &mut s.max)
        } else {
            strip_maxima::<T, LM, true>(&s.lp, stride, k_n, nb, np, &mut s.max)
        };
    if !maxima_ok {
        for (b, x) in block.chunks_exact(d).enumerate() {
            if !finite && let Some(feature) = x.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFiniteSample { sample: b, feature });
            }
            for (k, a) in s.row.iter_mut().enumerate() {
                *a = s.lp[k * stride + b];
            }
            s.lse[b] = sample_responsibilities(x, &mut s.row).ok_or(Error::ZeroDensity { sample: b })?;
            for (k, &a) in s.row.iter().enumerate() {
                s.lp[k * stride + b] = if f.full { a.sqrt_simd() } else { a };
            }
        }
    } else if f.full {
        // The `full` M-step takes √r ([`scaled_deviations`]).
        responsibilities::<T, FMA, true>(s, stride, k_n, np);
    } else {
        responsibilities::<T, FMA, false>(s, stride, k_n, np);
    }
    for k in 0..k_n {
        s.lp[k * stride + nb..k * stride + np].fill(T::ZERO);
    }
    let entries = f.lane_entries();
    if shared {
        moments_diag_shared::<T, FMA, LS, GS>(
            &s.dev,
            stride,
            &s.lp,
            k_n,
            d,
            np,
            &mut s.n_shared,
            &mut s.s1_shared,
            &mut s.s2_shared,
        );
    } else if !f.full {
        for k in 0..k_n {
            let r = &s.lp[k * stride..k * stride + np];
            let (n, s1, s2) = (
                &mut s.n_lanes[k * LM..(k + 1) * LM],
                &mut s.s1_lanes[k * d * LM..(k + 1) * d * LM],
                &mut s.s2_lanes[k * d * LM..(k + 1) * d * LM],
            );
            let mu = &f.means[k * d..(k + 1) * d];
            if bounded {
                moments_diag::<T, FMA, LM, false>(&s.xt, stride, mu, r, n, s1, s2);
            } else {
                moments_diag::<T, FMA, LM, true>(&s.xt, stride, mu, r, n, s1, s2);
            }
        }
    }
    for k in (0..k_n).filter(|_| f.full) {
        let root = &s.lp[k * stride..k * stride + np];
        let mu = &f.means[k * d..(k + 1) * d];
        // Bounded samples and means keep δ finite, and r = 0 then gives √r δ = 0 exactly;
        // otherwise δ may be ±∞ where r = 0, and the zero is selected.
        if bounded {
            scaled_deviations::<T, false>(&s.xt, stride, mu, root, &mut s.dev);
        } else {
            scaled_deviations::<T, true>(&s.xt, stride, mu, root, &mut s.dev);
        }
        let lanes = &mut s.s2_lanes[k * entries * LS..(k + 1) * entries * LS];
        second_moments_full::<T, FMA, LS, TILE, 4>(&s.dev, stride, d + 1, np, first, lanes);
    }
    observe_block::<T, LM>(block, d, &s.lse[..nb], &mut p.totals, &mut p.worst);
    Ok(())
}

/// The block's rows into the totals, as `StatsMut::observe` row by row: N += rows, Σ ln p(x)
/// Neumaier-compensated, and the worst-explained row (the first with the lowest ln p(x), if
/// lower than the worst so far) kept. Row by row, the compensated sum is one dependent chain
/// of four additions per row (a tenth of the diag pass at K = 2); here it is L interleaved
/// compensated sums, each lane's sum and compensation then added into the totals in lane
/// order — the same accuracy (each term's rounding error is kept), a fixed order, so the
/// result does not depend on the thread count.
#[inline(always)]
fn observe_block<T: Real, const L: usize>(
    block: &[T],
    d: usize,
    lse: &[T],
    totals: &mut Totals<T>,
    worst: &mut [T],
) {
    let (mut s, mut c) = ([T::ZERO; L], [T::ZERO; L]);
    let mut strips = lse.chunks_exact(L);
    for v in &mut strips {
        for l in 0..L {
            let t = s[l] + v[l];
            c[l] += if s[l].abs() >= v[l].abs() { (s[l] - t) + v[l] } else { (v[l] - t) + s[l] };
            s[l] = t;
        }
    }
    for l in 0..L {
        totals.add_log_likelihood(s[l]);
        totals.compensation += c[l];
    }
    for &v in strips.remainder() {
        totals.add_log_likelihood(v);
    }
    totals.samples = totals.samples.saturating_add(lse.len() as u64);
    // Lane-wise minima, then the lanes': one dependent `min` per row cost ~0.1 ms per core per
    // 10⁵ rows (diag f64 D = 16, K = 2: 1.82 → 1.72 ms). The values are finite (the caller has checked every row), so the order
    // of the comparisons cannot change which value is lowest.
    let mut low = [totals.worst_log_likelihood; L];
    let mut strips = lse.chunks_exact(L);
    for v in &mut strips {
        for l in 0..L {
            low[l] = if v[l] < low[l] { v[l] } else { low[l] };
        }
    }
    let lowest = strips.remainder().iter().chain(&low).fold(low[0], |m, &v| if v < m { v } else { m });
    if lowest < totals.worst_log_likelihood
        && let Some(b) = lse.iter().position(|&v| v == lowest)
    {
        totals.worst_log_likelihood = lowest;
        worst.copy_from_slice(&block[b * d..(b + 1) * d]);
    }
}

/// dev(i, b) = xt(i, b) − μ_i for the first `np` samples.
#[inline(always)]
fn deviations<T: Real>(xt: &[T], stride: usize, mu: &[T], np: usize, dev: &mut [T]) {
    for (i, &m) in mu.iter().enumerate() {
        let (x, o) = (&xt[i * stride..i * stride + np], &mut dev[i * stride..i * stride + np]);
        for (o, &x) in o.iter_mut().zip(x) {
            *o = x - m;
        }
    }
}

/// out_b = log_norm − ½ Σ_j (Σ_{i ≤ j} U_ij δ_ib)²: the product Y = Δ U over strips of L
/// samples, the strip's y_j and running sum in registers. `ucol` is U's upper triangle packed by
/// columns. Each y_j adds its terms in the order i = 0 … j, as `MixtureRef::component_log_probs`
/// does (which also adds the exact zeros below U's diagonal), and the squares go into the sum
/// in the order j = 0 … D − 1; with `FMA` each term is one fused multiply-add. Columns go J at
/// a time ([`product_columns`]; the last ones two or one at a time).
#[inline(always)]
fn log_probs_full<T: Real, const FMA: bool, const L: usize, const J: usize>(
    ucol: &[T],
    d: usize,
    dev: &[T],
    stride: usize,
    log_norm: T,
    out: &mut [T],
) {
    let half = T::from_f64(0.5);
    assert!(ucol.len() >= d * (d + 1) / 2 && (d - 1) * stride + out.len() <= dev.len(), "U and Δ in bounds");
    for (st, o) in out.chunks_exact_mut(L).enumerate() {
        // SAFETY: i < d and the strip ends within `out.len()` samples, so it lies inside `dev`
        // (asserted above); `[T; L]` has the alignment of `T`. Unchecked: the bounds check of
        // every strip cost a fifth of the inner loop's instructions.
        let x = |i: usize| unsafe { dev.as_ptr().add(i * stride + st * L).cast::<[T; L]>().read() };
        let mut m = [T::ZERO; L];
        let mut j = 0;
        while j < d {
            j += match d - j {
                c if c >= J => product_columns::<T, FMA, L, J>(ucol, j, &x, &mut m),
                c if c >= 2 => product_columns::<T, FMA, L, 2>(ucol, j, &x, &mut m),
                _ => product_columns::<T, FMA, L, 1>(ucol, j, &x, &mut m),
            };
        }
        for l in 0..L {
            o[l] = log_norm - half * m[l];
        }
    }
}

/// Columns j … j + J − 1 of Y = Δ U for one strip (`x(i)` its row i of Δ), their squares added
/// into `m` in column order; returns J. Rows i ≤ j feed all J columns, each strip of Δ loaded
/// once for J multiply-adds (J independent add chains per lane); rows j + 1 … j + J − 1 the
/// triangle's remaining terms. `ucol` holds at least the first j + J columns (checked by the
/// caller).
#[inline(always)]
fn product_columns<T: Real, const FMA: bool, const L: usize, const J: usize>(
    ucol: &[T],
    j: usize,
    x: &impl Fn(usize) -> [T; L],
    m: &mut [T; L],
) -> usize {
    let madd = T::madd::<FMA>;
    // Column c of U starts at c (c + 1) / 2 of the packed triangle.
    let start: [usize; J] = core::array::from_fn(|t| (j + t) * (j + t + 1) / 2);
    // SAFETY: i ≤ c for column c < j + J, inside the first (j + J)(j + J + 1) / 2 entries,
    // which `ucol` holds (the caller's assertion).
    let u = |t: usize, i: usize| unsafe { *ucol.as_ptr().add(start[t] + i) };
    // Index loops of constant bounds (unrolled whole, y in registers; see `gram_tile`).
    let mut y = [[T::ZERO; L]; J];
    for i in 0..=j {
        let xi = x(i);
        for t in 0..J {
            let u = u(t, i);
            for l in 0..L {
                y[t][l] = madd(xi[l], u, y[t][l]);
            }
        }
    }
    for r in 1..J {
        let xi = x(j + r);
        for t in r..J {
            let u = u(t, j + r);
            for l in 0..L {
                y[t][l] = madd(xi[l], u, y[t][l]);
            }
        }
    }
    for t in 0..J {
        for l in 0..L {
            m[l] = madd(y[t][l], y[t][l], m[l]);
        }
    }
    J
}

/// xc(i, b) = x(i, b) − c_i for the first `np` samples (a multiple of L); returns max |xc|.
/// For bounded samples and centre (a NaN would be passed over: the caller checked first).
/// Two loops: fused into one, LLVM stored each difference on its own.
#[inline(always)]
fn centre_block<T: Real, const L: usize>(
    xt: &[T],
    stride: usize,
    centre: &[T],
    np: usize,
    xc: &mut [T],
) -> T {
    let mut top = [T::ZERO; L];
    for (i, &c) in centre.iter().enumerate() {
        let (x, o) = (&xt[i * stride..i * stride + np], &mut xc[i * stride..i * stride + np]);
        for (o, &x) in o.iter_mut().zip(x) {
            *o = x - c;
        }
        for o in o.chunks_exact(L) {
            for l in 0..L {
                let a = o[l].abs();
                top[l] = if a > top[l] { a } else { top[l] };
            }
        }
    }
    top.iter().fold(T::ZERO, |m, &a| if a > m { a } else { m })
}

/// `diag`/`spherical`: lp(k, b) = log_norm_k − ½ Σ_i y_kib² for every component, terms added
/// in order i = 0 … D−1 as in `MixtureRef::component_log_probs`, over strips of L samples and
/// groups of components, so each strip of x loaded from the block feeds several components'
/// multiply-adds (independent add chains) instead of one; groups of one or two components take
/// strips of L2 samples (with L, at K = 2, the loop's address checks cost as much as its four
/// multiply-adds per feature). Two forms:
///
/// - `x` the block itself: y = (x_ib − μ_ki) u_kii, a subtract and a multiply, four components
///   per group;
/// - `centred`, `x` the block centred by [`centre_block`]: y = u_kii (x_ib − c_i) − u_kii
///   (μ_ki − c_i), one multiply-add ([`Factors::diag_terms`]), eight components per group
///   (with four, the two-operation loop waited on the adder's latency).
///
/// Numerics of the centred form: shifting every block once by c keeps the offset of data far
/// from zero out of the products, as the per-component shift does (`host/tests/gmm_blocked.rs`,
/// f32 at 10⁴). What is left is |y − u(x − μ)| ≲ 2ε |u| (|x − c| + |μ − c|), against ε |y| for
/// the per-component form: ε times how many of the component's widths sample and component lie
/// from c. It is large only for a component far (in its widths) from where a sample is, and
/// such a component gets no responsibility for that sample. The statistics keep the
/// per-component shift ([`moments_diag`]) or a bounded error ([`moments_diag_shared`]).
#[inline(always)]
fn log_probs_diag_all<T: Real, const FMA: bool, const L: usize, const L2: usize>(
    f: &Factors<'_, T>,
    x: &[T],
    centred: bool,
    stride: usize,
    np: usize,
    lp: &mut [T],
) {
    let k_n = f.shape.components;
    let mut k = 0;
    while k < k_n {
        k += match (k_n - k, centred) {
            (1, false) => log_probs_diag::<T, FMA, L2, 1, false>(f, k, x, stride, np, lp),
            (2 | 3, false) => log_probs_diag::<T, FMA, L2, 2, false>(f, k, x, stride, np, lp),
            (_, false) => log_probs_diag::<T, FMA, L, 4, false>(f, k, x, stride, np, lp),
            (1, true) => log_probs_diag::<T, FMA, L2, 1, true>(f, k, x, stride, np, lp),
            (2 | 3, true) => log_probs_diag::<T, FMA, L2, 2, true>(f, k, x, stride, np, lp),
            (4..=7, true) => log_probs_diag::<T, FMA, L, 4, true>(f, k, x, stride, np, lp),
            (_, true) => log_probs_diag::<T, FMA, L, 8, true>(f, k, x, stride, np, lp),
        };
    }
}

/// [`log_probs_diag_all`] for components k0 … k0 + G − 1; returns G.
#[inline(always)]
fn log_probs_diag<T: Real, const FMA: bool, const L: usize, const G: usize, const CENTRED: bool>(
    f: &Factors<'_, T>,
    k0: usize,
    x: &[T],
    stride: usize,
    np: usize,
    lp: &mut [T],
) -> usize {
    let (k_n, d) = (f.shape.components, f.shape.features);
    let half = T::from_f64(0.5);
    let madd = T::madd::<FMA>;
    let u: [&[T]; G] = core::array::from_fn(|g| &f.u(k0 + g)[..d]);
    let mu: [&[T]; G] = core::array::from_fn(|g| &f.means[(k0 + g) * d..(k0 + g + 1) * d]);
    for s in (0..np).step_by(L) {
        let mut m = [[T::ZERO; L]; G];
        for i in 0..d {
            let x = lane::<T, L>(x, stride, i, s);
            if CENTRED {
                let t: &[[T; 2]; G] =
                    f.diag_terms[i * k_n + k0..i * k_n + k0 + G].try_into().expect("G terms");
                for (m, &[ui, oi]) in m.iter_mut().zip(t) {
                    for l in 0..L {
                        let y = madd(x[l], ui, oi);
                        m[l] = madd(y, y, m[l]);
                    }
                }
            } else {
                for (m, (u, mu)) in m.iter_mut().zip(u.iter().zip(&mu)) {
                    let (ui, mi) = (u[i], mu[i]);
                    for l in 0..L {
                        let y = (x[l] - mi) * ui;
                        m[l] = madd(y, y, m[l]);
                    }
                }
            }
        }
        for (g, m) in m.iter().enumerate() {
            let (o, ln) = (&mut lp[(k0 + g) * stride + s..(k0 + g) * stride + s + L], f.log_norm[k0 + g]);
            for l in 0..L {
                o[l] = ln - half * m[l];
            }
        }
    }
    G
}

/// `diag`/`spherical` statistics of one component over the block, fused (nothing stored but the
/// lanes): with δ_ib = x_ib − μ_i, lane l of n += r_b, of s1_i += r_b δ_ib and of s2_i +=
/// r_b δ_ib² for b ≡ l (mod L), strip by strip in sample order. `GUARD`: δ is taken as 0 where
/// r_b = 0, as the streaming pass skips those samples, for blocks where δ may overflow to ±∞
/// (then 0 · ∞ would be NaN); elsewhere r_b = 0 adds exact zeros and the select is left out.
#[inline(always)]
fn moments_diag<T: Real, const FMA: bool, const L: usize, const GUARD: bool>(
    xt: &[T],
    stride: usize,
    mu: &[T],
    r: &[T],
    n: &mut [T],
    s1: &mut [T],
    s2: &mut [T],
) {
    let mut acc = lanes_at::<T, L>(n, 0);
    for rs in r.chunks_exact(L) {
        for l in 0..L {
            acc[l] += rs[l];
        }
    }
    n.copy_from_slice(&acc);
    for (i, &m) in mu.iter().enumerate() {
        let (mut a1, mut a2) = (lanes_at::<T, L>(s1, i * L), lanes_at::<T, L>(s2, i * L));
        for (x, rs) in strip_row(xt, stride, i, r.len()).chunks_exact(L).zip(r.chunks_exact(L)) {
            for l in 0..L {
                let dv = if !GUARD || rs[l] > T::ZERO { x[l] - m } else { T::ZERO };
                let w = rs[l] * dv;
                a1[l] += w;
                a2[l] = T::madd::<FMA>(w, dv, a2[l]);
            }
        }
        s1[i * L..(i + 1) * L].copy_from_slice(&a1);
        s2[i * L..(i + 1) * L].copy_from_slice(&a2);
    }
}

/// `diag`/`spherical` statistics of every component over a block centred by [`centre_block`]
/// (x̃ = x − c), about c rather than μ_k: lane l of n_k += r_kb, of A1_ki += r_kb x̃_ib and of
/// A2_ki += r_kb x̃_ib² for b ≡ l (mod L), strip by strip in sample order; the chunk then moves
/// A1, A2 to μ_k (`accumulate_chunk_lanes`). The sums are the matrix product Rᵀ [X̃, X̃ ⊙ X̃]:
/// two multiply-adds per sample, component and feature where [`moments_diag`] takes a subtract,
/// a multiply, an add and a multiply-add, in register tiles of G components × 2 features (each
/// strip of r and x̃ loaded once for 2 G products, x̃² formed once per tile).
///
/// Numerics: moving a sum to μ_k cancels n_k (m² + σ²) down to n_k σ² (m = μ_k − c, σ the
/// component's width), so the relative error of the variance grows from a few ε to a few
/// ε (1 + (m / σ)²). [`Factors::shared_shift`] allows it only where that stays under
/// [`SHARED_SHIFT_ERROR`], and the centred block's entries are finite (`centred_ok`), so
/// r = 0 adds exact zeros.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn moments_diag_shared<T: Real, const FMA: bool, const L: usize, const G: usize>(
    xc: &[T],
    stride: usize,
    r: &[T],
    k_n: usize,
    d: usize,
    np: usize,
    n: &mut [T],
    a1: &mut [T],
    a2: &mut [T],
) {
    for k in 0..k_n {
        let mut acc = lanes_at::<T, L>(n, k * L);
        for rs in strip_row(r, stride, k, np).chunks_exact(L) {
            for l in 0..L {
                acc[l] += rs[l];
            }
        }
        n[k * L..(k + 1) * L].copy_from_slice(&acc);
    }
    let mut k = 0;
    while k < k_n {
        let g = if k_n - k >= G {
            G
        } else if k_n - k >= 2 {
            2
        } else {
            1
        };
        // Features per tile: 2 at G components, up to 4 for a narrower group (the same 2 G F
        // accumulators at most; at K = 2 two features per tile left the loop's address checks
        // as costly as its multiply-adds).
        let wide = 2 * G / g >= 4;
        let mut i = 0;
        while i < d {
            let fw = if wide && d - i >= 4 {
                4
            } else if d - i >= 2 {
                2
            } else {
                1
            };
            debug_assert!(fw <= 2 || g < G, "4-feature tiles only for narrower groups");
            match (g, fw) {
                (1, 1) => moments_shared_tile::<T, FMA, L, 1, 1>(xc, stride, r, k, i, d, np, a1, a2),
                (1, 2) => moments_shared_tile::<T, FMA, L, 1, 2>(xc, stride, r, k, i, d, np, a1, a2),
                (1, _) => moments_shared_tile::<T, FMA, L, 1, 4>(xc, stride, r, k, i, d, np, a1, a2),
                (2, 1) => moments_shared_tile::<T, FMA, L, 2, 1>(xc, stride, r, k, i, d, np, a1, a2),
                (2, 2) => moments_shared_tile::<T, FMA, L, 2, 2>(xc, stride, r, k, i, d, np, a1, a2),
                (2, _) => moments_shared_tile::<T, FMA, L, 2, 4>(xc, stride, r, k, i, d, np, a1, a2),
                (_, 1) => moments_shared_tile::<T, FMA, L, G, 1>(xc, stride, r, k, i, d, np, a1, a2),
                (_, _) => moments_shared_tile::<T, FMA, L, G, 2>(xc, stride, r, k, i, d, np, a1, a2),
            }
            i += fw;
        }
        k += g;
    }
}

/// One tile of [`moments_diag_shared`]: components k0 … k0 + G − 1 × features i0 … i0 + F − 1.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn moments_shared_tile<T: Real, const FMA: bool, const L: usize, const G: usize, const F: usize>(
    xc: &[T],
    stride: usize,
    r: &[T],
    k0: usize,
    i0: usize,
    d: usize,
    np: usize,
    a1: &mut [T],
    a2: &mut [T],
) {
    let madd = T::madd::<FMA>;
    let at = |g: usize, f: usize| ((k0 + g) * d + i0 + f) * L;
    // Plain loops rather than `array::from_fn`, which LLVM left as calls (a seventh of the pass).
    let (mut s1, mut s2) = ([[[T::ZERO; L]; F]; G], [[[T::ZERO; L]; F]; G]);
    for g in 0..G {
        for f in 0..F {
            s1[g][f].copy_from_slice(&a1[at(g, f)..at(g, f) + L]);
            s2[g][f].copy_from_slice(&a2[at(g, f)..at(g, f) + L]);
        }
    }
    for s in (0..np).step_by(L) {
        let (mut x, mut x2) = ([[T::ZERO; L]; F], [[T::ZERO; L]; F]);
        for f in 0..F {
            x[f] = *lane::<T, L>(xc, stride, i0 + f, s);
            for l in 0..L {
                x2[f][l] = x[f][l] * x[f][l];
            }
        }
        for g in 0..G {
            let rs = lane::<T, L>(r, stride, k0 + g, s);
            for f in 0..F {
                for l in 0..L {
                    s1[g][f][l] = madd(rs[l], x[f][l], s1[g][f][l]);
                }
                for l in 0..L {
                    s2[g][f][l] = madd(rs[l], x2[f][l], s2[g][f][l]);
                }
            }
        }
    }
    for g in 0..G {
        for f in 0..F {
            a1[at(g, f)..at(g, f) + L].copy_from_slice(&s1[g][f]);
            a2[at(g, f)..at(g, f) + L].copy_from_slice(&s2[g][f]);
        }
    }
}

/// Per row b of the block (first `nb`, rounded up to whole strips), the largest log-probability
/// m_b = max_k lp(k, b); `false` when a row among the first `nb` has no finite maximum or a NaN,
/// which the kernels' `responsibilities_in_place` reports (the caller then takes that path).
/// `NAN`: look for NaNs (a NaN is then taken as the maximum); without it the caller knows there
/// are none, and a compare and a select per value are saved.
#[inline(always)]
fn strip_maxima<T: Real, const L: usize, const NAN: bool>(
    lp: &[T],
    stride: usize,
    k_n: usize,
    nb: usize,
    np: usize,
    max: &mut [T],
) -> bool {
    let max = &mut max[..np];
    // Strip by strip with the running maxima in registers, stored once: updating them in memory
    // component by component made LLVM emit masked stores (microcoded on AMD), and so did strips
    // of 32 f32 under AVX2 (the caller passes the M-step's lanes: 8 f64 or 16 f32 there, two
    // registers each; 16 / 32 under AVX-512, again two registers).
    for (st, ms) in max.chunks_exact_mut(L).enumerate() {
        let mut m = [T::NEG_INFINITY; L];
        for k in 0..k_n {
            let v = lane::<T, L>(lp, stride, k, st * L);
            for l in 0..L {
                // A NaN is taken as the maximum and then kept (nothing compares above it), so
                // the finiteness check below sees it.
                let take = v[l] > m[l] || (NAN && v[l].is_nan());
                m[l] = if take { v[l] } else { m[l] };
            }
        }
        ms.copy_from_slice(&m);
    }
    max[..nb].iter().all(|m| m.is_finite())
}

/// The block's responsibilities (√r with `ROOT`) in place of its log-probabilities and its
/// ln p(x) in `lse`, from the maxima in `max`: [`two_responsibilities`] at K = 2, else
/// [`strip_responsibilities`].
#[inline(always)]
fn responsibilities<T: Real, const FMA: bool, const ROOT: bool>(
    s: &mut Scratch<T>,
    stride: usize,
    k_n: usize,
    np: usize,
) {
    if k_n == 2 {
        two_responsibilities::<T, FMA, ROOT>(&mut s.lp, stride, np, &s.max, &mut s.lse);
    } else {
        strip_responsibilities::<T, FMA, ROOT>(&mut s.lp, stride, k_n, np, &s.max, &mut s.inv, &mut s.lse);
    }
}

/// The kernels' `responsibilities_in_place` for every row of the block at once, up to rounding:
/// with m_b from [`strip_maxima`], S_b = Σ_k e^{lp(k,b) − m_b} (every component, so S_b ≥ 1: a
/// maximal one adds e⁰ = 1 exactly), q(k, b) = e^{lp(k,b) − m_b} / S_b in place of lp, and
/// ln p(x_b) = m_b + ln(1 + (S_b − 1)). The kernels add the maximal component's 1 last (t = S − 1
/// summed without it): here it sits in the sum, so each term added after it is rounded at the
/// scale of S ∈ [1, K] — ln p(x) moves by at most (K − 1)·ε/2 from the kernels' value, the
/// responsibilities by as much relatively — and no record is kept of which component is
/// maximal (a select per row and component in the maxima and a compare and a select in the
/// sum). eˣ and ln(1 + t) are [`crate::math`]'s branch-free functions (within 2 ulp), one
/// vectorized loop per component, rather than one libm call per (row, component) and per row,
/// which cost as much as the rest of the pass at small D.
///
/// `ROOT` (the `full`/`tied` M-step, which needs only √q: [`scaled_deviations`]): √q in place
/// of q, as t = e^{(lp − m)/2} (same cut on lp − m), S = Σ t², and √q = t · √(1/S): one eˣ per
/// row and component as before and one square root per row, not one per row and component.
/// S then carries t²'s rounding (≤ ~5 ulp a term against eˣ's 2): ln p(x) and the square of
/// √q within (2K + 24) ε of the kernels' where the plain form is within (K + 8) ε (tested).
#[inline(always)]
fn strip_responsibilities<T: Real, const FMA: bool, const ROOT: bool>(
    lp: &mut [T],
    stride: usize,
    k_n: usize,
    np: usize,
    max: &[T],
    inv: &mut [T],
    lse: &mut [T],
) {
    let (max, inv, sum) = (&max[..np], &mut inv[..np], &mut lse[..np]);
    sum.fill(T::ZERO);
    let (below, half) = (normal_exp_below::<T>(k_n), T::from_f64(0.5));
    for k in 0..k_n {
        let v = &mut lp[k * stride..k * stride + np];
        for ((v, &m), s) in v.iter_mut().zip(max).zip(sum.iter_mut()) {
            let x = *v - m;
            // Evaluated on the clamped argument, then selected: the loop computes eˣ in every
            // lane, and a subnormal one, even discarded, would still cost the microcode assist.
            // `below` = ⌈ln(K · MIN_POSITIVE)⌉ ≥ −708 (`f32`: −87), so the clamped argument is in
            // the normal-range exponential's domain.
            let c = if x < below { below } else { x };
            let e = (if ROOT { c * half } else { c }).exp_normal_simd::<FMA>();
            let e = if x < below { T::ZERO } else { e };
            *v = e;
            *s += if ROOT { e * e } else { e };
        }
    }
    for (inv, &s) in inv.iter_mut().zip(sum.iter()) {
        *inv = if ROOT { (T::ONE / s).sqrt_simd() } else { T::ONE / s };
    }
    for k in 0..k_n {
        let v = &mut lp[k * stride..k * stride + np];
        for (v, &inv) in v.iter_mut().zip(inv.iter()) {
            *v *= inv;
        }
    }
    // `sum` then takes the log-likelihoods. S ≥ 1, so S − 1 ≥ 0 (and exact for S ≤ 2).
    for (s, &m) in sum.iter_mut().zip(max) {
        *s = m + (*s - T::ONE).ln_1p_nonnegative::<FMA>();
    }
}

/// [`strip_responsibilities`] for K = 2 in one loop and with one eˣ per row: one of the two
/// terms is the maximal one, e⁰ = 1, so S = 1 + e with e = e^{min − m}, the maximal
/// component's responsibility 1 / S and the other's e / S — the same bits (ties give e = 1 and
/// ½ each, as there) — and ln p = m + ln(1 + e), from e itself where the strips take
/// ln(1 + (S − 1)) of the rounded S: the same or closer (e below ε/2 is lost in S there).
/// `ROOT`: √(1/S) and t √(1/S) with t = e^{(min − m)/2}, e = t², as in [`strip_responsibilities`].
#[inline(always)]
fn two_responsibilities<T: Real, const FMA: bool, const ROOT: bool>(
    lp: &mut [T],
    stride: usize,
    np: usize,
    max: &[T],
    lse: &mut [T],
) {
    let (below, half) = (normal_exp_below::<T>(2), T::from_f64(0.5));
    let (first, second) = lp.split_at_mut(stride);
    let rows = first[..np].iter_mut().zip(&mut second[..np]).zip(&max[..np]).zip(&mut lse[..np]);
    for (((a, b), &m), out) in rows {
        let first_max = *a >= *b;
        let x = (if first_max { *b } else { *a }) - m;
        let c = if x < below { below } else { x };
        let t = (if ROOT { c * half } else { c }).exp_normal_simd::<FMA>();
        let t = if x < below { T::ZERO } else { t };
        let e = if ROOT { t * t } else { t };
        let inv = T::ONE / (T::ONE + e);
        let (hi, lo) = if ROOT {
            let q = inv.sqrt_simd();
            (q, t * q)
        } else {
            (inv, e * inv)
        };
        (*a, *b) = if first_max { (hi, lo) } else { (lo, hi) };
        *out = m + e.ln_1p_nonnegative::<FMA>();
    }
}

/// The block pass's cut-off for e^{lp − m} with K components: ⌈ln(K · MIN_POSITIVE)⌉ (K = 2:
/// −86 for `f32`, −707 for `f64`), below which the responsibility is taken as exactly 0. At and
/// above it e ≥ K · MIN_POSITIVE and 1 + t ≤ K, so the responsibility e / (1 + t) is a normal
/// number, never a subnormal one. Each dropped responsibility is below e^cut < e · K · MIN_POSITIVE
/// (f32, K = 16: 5·10⁻³⁷), and ln p(x) = m + ln(1 + t) moves by less than K times
/// that. Subnormal operands and results cost a microcode assist of ~100 cycles on Intel cores,
/// and made the `f32` pass 10–20× slower there on data where distant components get
/// responsibilities of 10⁻⁴⁰. The streaming pass (and the firmware) keeps eˣ down to −104 / −746.
/// (Products in the statistics, r·δ with a small r and δ, can still be subnormal.)
#[inline(always)]
fn normal_exp_below<T: Real>(components: usize) -> T {
    T::from_f64((components.max(1) as f64 * T::MIN_POSITIVE.to_f64()).ln().ceil())
}

/// v(i, b) = √r_b (x(i, b) − μ_i) for i < D and v(D, b) = √r_b, from `root` = √r (which the
/// responsibilities pass makes, `ROOT`) for the samples of `root`: the Gram matrix VᵀV of these
/// D + 1 rows holds s2_k = Σ r δ δᵀ (rows and columns < D), s1_k = Σ r δ (column D) and
/// n_k = Σ r (entry (D, D)), so one symmetric product ([`second_moments_full`]) over one array
/// makes all three, where r δ, its sum, Σ r and the product (r ⊙ Δ)ᵀ Δ took four passes over two.
/// Each product v_i v_j is r δ_i δ_j within a few roundings, as the streaming pass's (r δ_i) δ_j.
///
/// `MASK`: samples with r = 0 get v = 0 by a select, for blocks where δ may be ±∞ there (x − μ_k
/// overflowing for finite x and μ_k far apart), where 0 · ∞ would be NaN; the streaming pass
/// skips them. Without it (δ finite), 0 · δ = 0 exactly. The select is made while v is
/// computed, so every store is of a computed value: zeroing in place afterwards made LLVM emit
/// masked stores (microcoded on AMD) or keep the loop scalar.
#[inline(always)]
fn scaled_deviations<T: Real, const MASK: bool>(xt: &[T], stride: usize, mu: &[T], root: &[T], v: &mut [T]) {
    let (np, d) = (root.len(), mu.len());
    let (rows, last) = v.split_at_mut(d * stride);
    last[..np].copy_from_slice(root);
    for (i, &m) in mu.iter().enumerate() {
        let (x, o) = (&xt[i * stride..i * stride + np], &mut rows[i * stride..i * stride + np]);
        if MASK {
            for ((o, &x), &q) in o.iter_mut().zip(x).zip(root) {
                *o = if q > T::ZERO { q * (x - m) } else { T::ZERO };
            }
        } else {
            for ((o, &x), &q) in o.iter_mut().zip(x).zip(root) {
                *o = q * (x - m);
            }
        }
    }
}

/// The symmetric Gram matrix VᵀV of the `n` rows of a feature-major block (the `full` pass's
/// [`scaled_deviations`]), upper triangle: lane l of entry (i, j), j ≥ i, accumulates
/// Σ_{b ≡ l (mod L)} v(i, b) v(j, b), strip by strip in sample order (entries in row order, L
/// values each in `lanes`; L one register). Rows go in groups of R: the group's diagonal R × R
/// block (its upper triangle), then its columns to the right in R × C tiles, the last ones cut
/// to fit, so every entry is computed once ([`gram_tile`]). An R × C tile loads R + C strips
/// for R · C multiply-adds; 2 × 2 tiles of two-register lanes loaded one strip per
/// multiply-add, and L1's two loads a cycle bound them (the D = K = 16 M-step took 45 % of the
/// pass, the E-step with as many multiply-adds 25 %). The lanes are summed once per chunk
/// (`accumulate_chunk_lanes`): summed per block, their L dependent scalar adds cost more than
/// the product itself. `fresh` (the chunk's first block): the lanes start from 0, whatever
/// `lanes` held.
#[inline(always)]
fn second_moments_full<T: Real, const FMA: bool, const L: usize, const R: usize, const C: usize>(
    v: &[T],
    stride: usize,
    n: usize,
    np: usize,
    fresh: bool,
    lanes: &mut [T],
) {
    const { assert!(R <= 4 && C <= 4) };
    // With 4 × 4 tiles (32 registers), five rows or columns left go in one tile of five, not
    // four and a cut one: at D = 16 (n = 17) and D = 8 every group's last tile was 4 × 1, five
    // strips loaded for four multiply-adds.
    let five = R == 4 && C == 4;
    let mut i = 0;
    while i < n {
        // Only the last group has fewer than R rows (or five), and nothing to the right of its
        // diagonal.
        let rows = if five && n - i == 5 { 5 } else { (n - i).min(R) };
        match rows {
            1 => gram_tile::<T, FMA, L, 1, 1, true>(v, stride, n, (i, i), np, fresh, lanes),
            2 => gram_tile::<T, FMA, L, 2, 2, true>(v, stride, n, (i, i), np, fresh, lanes),
            3 => gram_tile::<T, FMA, L, 3, 3, true>(v, stride, n, (i, i), np, fresh, lanes),
            5 => gram_tile::<T, FMA, L, 5, 5, true>(v, stride, n, (i, i), np, fresh, lanes),
            _ => gram_tile::<T, FMA, L, R, R, true>(v, stride, n, (i, i), np, fresh, lanes),
        }
        let mut j = i + rows;
        while j < n {
            let cols = if five && n - j == 5 { 5 } else { (n - j).min(C) };
            match cols {
                1 => gram_tile::<T, FMA, L, R, 1, false>(v, stride, n, (i, j), np, fresh, lanes),
                2 => gram_tile::<T, FMA, L, R, 2, false>(v, stride, n, (i, j), np, fresh, lanes),
                3 => gram_tile::<T, FMA, L, R, 3, false>(v, stride, n, (i, j), np, fresh, lanes),
                5 => gram_tile::<T, FMA, L, R, 5, false>(v, stride, n, (i, j), np, fresh, lanes),
                _ => gram_tile::<T, FMA, L, R, C, false>(v, stride, n, (i, j), np, fresh, lanes),
            }
            j += cols;
        }
        i += rows;
    }
}

/// One tile of [`second_moments_full`]: entries (i0 + r, j0 + c) for r < R, c < C (`DIAG`: the
/// diagonal block, j0 = i0, R = C, only c ≥ r), their R · C (or R (R + 1) / 2) lane sums held in
/// registers over the block's strips of L samples.
#[inline(always)]
fn gram_tile<T: Real, const FMA: bool, const L: usize, const R: usize, const C: usize, const DIAG: bool>(
    v: &[T],
    stride: usize,
    n: usize,
    (i0, j0): (usize, usize),
    np: usize,
    fresh: bool,
    lanes: &mut [T],
) {
    // Offset of entry (i, j), j ≥ i, among the upper triangle's entries in row order (row i
    // starts at i (2n + 1 − i) / 2); also taken for j < i in a diagonal tile's rows, as where
    // their entries would start (never read there).
    let at = |i: usize, j: usize| (i * (2 * n - 1 - i) / 2 + j) * L;
    let kept = |r: usize, c: usize| !DIAG || c >= r;
    let m = np / L;
    // The strips are read through one pointer per tile side at offsets the compiler knows
    // (the stride is a constant of the block pass): as R + C checked slices, their pointers
    // and lengths took more general registers than there are, and were reloaded every strip.
    let last = |first: usize, count: usize| (first + count - 1) * stride + m * L;
    assert!(last(i0, R) <= v.len() && last(j0, C) <= v.len(), "tile inside the block");
    let (xv, yv) = (v[i0 * stride..].as_ptr(), v[j0 * stride..].as_ptr());
    let strip = |base: *const T, row: usize, b: usize| -> [T; L] {
        // SAFETY: row < R (or C) and b < m, so the L values lie before `last`, inside `v`
        // (asserted above); `[T; L]` has the alignment of `T`.
        unsafe { base.add(row * stride + b * L).cast::<[T; L]>().read() }
    };
    // Index loops of constant bounds, which LLVM unrolls whole (the accumulators then live in
    // registers; as iterator chains they were kept on the stack).
    // The tile's entries of row r are consecutive from (i0 + r, j0), and its last entry is the
    // last of the triangle's it touches: one check, then unchecked (checked one by one, the
    // accumulators' loads and stores took a third as many instructions as the tile's product
    // over a block's 16 strips).
    assert!(at(i0 + R - 1, j0 + C - 1) + L <= lanes.len(), "tile's entries inside the lanes");
    let first: [usize; R] = core::array::from_fn(|r| at(i0 + r, j0));
    let entry = lanes.as_mut_ptr();
    // SAFETY: entry (i0 + r, j0 + c) is at first[r] + c · L, at most the asserted last offset.
    let acc_at = |r: usize, c: usize| unsafe { entry.add(first[r] + c * L).cast::<[T; L]>() };
    let mut acc = [[[T::ZERO; L]; C]; R];
    for r in 0..R {
        for c in 0..C {
            if kept(r, c) && !fresh {
                // SAFETY: inside `lanes` (above); `[T; L]` has the alignment of `T`.
                acc[r][c] = unsafe { acc_at(r, c).read() };
            }
        }
    }
    for b in 0..m {
        let x: [[T; L]; R] = core::array::from_fn(|r| strip(xv, r, b));
        let y: [[T; L]; C] = core::array::from_fn(|c| strip(yv, c, b));
        for r in 0..R {
            for c in 0..C {
                if kept(r, c) {
                    mac::<T, FMA, L>(&mut acc[r][c], &x[r], &y[c]);
                }
            }
        }
    }
    for r in 0..R {
        for c in 0..C {
            if kept(r, c) {
                // SAFETY: as the reads above; nothing else refers to `lanes` meanwhile.
                unsafe { acc_at(r, c).write(acc[r][c]) };
            }
        }
    }
}

/// The first `np` samples of row `i` of a feature-major block.
#[inline(always)]
fn strip_row<T>(m: &[T], stride: usize, i: usize, np: usize) -> &[T] {
    &m[i * stride..i * stride + np]
}

/// The L values of `v` from `at`.
#[inline(always)]
fn lanes_at<T: Real, const L: usize>(v: &[T], at: usize) -> [T; L] {
    v[at..at + L].try_into().expect("L")
}

/// acc += x ⊙ y, lane by lane (fused when `FMA`).
#[inline(always)]
fn mac<T: Real, const FMA: bool, const L: usize>(acc: &mut [T; L], x: &[T; L], y: &[T; L]) {
    for l in 0..L {
        acc[l] = T::madd::<FMA>(x[l], y[l], acc[l]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// K − 1 tied maximal components at −1.5 and a last one at −1.5 + o, for o = cut − 3, cut,
    /// cut + 1 (cut = [`normal_exp_below`]): below the cut the last responsibility is exactly 0,
    /// at and above it a normal number within a few ulp of e^o / (K − 1 + e^o) (with K − 1 ties,
    /// 1 + t = K − 1 + e^o: the case where e / (1 + t) would drop below MIN_POSITIVE if the cut
    /// ignored K), and ln p(x) = −1.5 + ln(K − 1 + e^o) either way; `ROOT`: the same of √q's
    /// square, √q itself normal.
    fn check<T: Real, const ROOT: bool>(k_n: usize) {
        let np = 8;
        let cut = normal_exp_below::<T>(k_n).to_f64();
        let offsets = [cut - 3.0, cut, cut + 1.0];
        let mut lp = vec![T::ZERO; k_n * BLOCK_ROWS];
        for (b, &o) in offsets.iter().cycle().take(np).enumerate() {
            for k in 0..k_n - 1 {
                lp[k * BLOCK_ROWS + b] = T::from_f64(-1.5);
            }
            lp[(k_n - 1) * BLOCK_ROWS + b] = T::from_f64(-1.5 + o);
        }
        let (mut max, mut inv, mut lse) = (vec![T::ZERO; np], vec![T::ZERO; np], vec![T::ZERO; np]);
        assert!(strip_maxima::<T, 8, true>(&lp, BLOCK_ROWS, k_n, np, np, &mut max));
        strip_responsibilities::<T, false, ROOT>(&mut lp, BLOCK_ROWS, k_n, np, &max, &mut inv, &mut lse);
        let what = format!("{} K = {k_n} ROOT {ROOT}", T::NAME);
        let (eps, ties) = (T::EPSILON.to_f64(), (k_n - 1) as f64);
        let square = |v: T| if ROOT { v.to_f64() * v.to_f64() } else { v.to_f64() };
        for (b, &o) in offsets.iter().cycle().take(np).enumerate() {
            let root = lp[(k_n - 1) * BLOCK_ROWS + b];
            let q = square(root);
            let (e, kept) = (o.exp(), o >= cut);
            if kept {
                let want = e / (ties + e);
                assert!(root >= T::MIN_POSITIVE, "{what} offset {o}: {q:e} is subnormal");
                assert!(q >= T::MIN_POSITIVE.to_f64(), "{what} offset {o}: {q:e} is below the normal range");
                assert!((q - want).abs() <= 8.0 * eps * want, "{what} offset {o}: {q:e} vs {want:e}");
            } else {
                assert_eq!(q, 0.0, "{what} offset {o}");
            }
            let q0 = square(lp[b]);
            assert!((q0 - 1.0 / ties).abs() <= 4.0 * eps, "{what} offset {o}: the maximal term {q0}");
            let want_lse = -1.5 + ties.ln();
            assert!((lse[b].to_f64() - want_lse).abs() <= 4.0 * eps * 2.0, "{what} offset {o}: ln p");
        }
    }

    #[test]
    fn responsibilities_are_zero_or_normal() {
        for k_n in [2, 3, 16] {
            check::<f32, false>(k_n);
            check::<f64, false>(k_n);
            check::<f32, true>(k_n);
            check::<f64, true>(k_n);
        }
    }

    /// Rows of K log-probabilities spread over ±30 around −20, the maximal one first, last or in
    /// between, and ties: q and ln p against the kernels' `sample_responsibilities` within the
    /// documented (K − 1)·ε/2 (times a few ulp of eˣ and ln(1 + t)), for both forms of the
    /// multiply-add and both maxima; `ROOT`: the square of √q against q, within twice that
    /// plus the squares' roundings.
    fn against_kernels<T: Real, const FMA: bool, const NAN: bool, const ROOT: bool>(k_n: usize) {
        let np = 64;
        let mut lp = vec![T::ZERO; k_n * BLOCK_ROWS];
        let mut want = vec![vec![T::ZERO; k_n]; np];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for b in 0..np {
            for k in 0..k_n {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                want[b][k] = T::from_f64(-20.0 + 60.0 * (u - 0.5));
            }
            let top = b % k_n;
            want[b][top] = T::from_f64(15.0);
            if b % 5 == 0 {
                want[b][(top + 1) % k_n] = T::from_f64(15.0);
            }
            for k in 0..k_n {
                lp[k * BLOCK_ROWS + b] = want[b][k];
            }
        }
        let (mut max, mut inv, mut lse) = (vec![T::ZERO; np], vec![T::ZERO; np], vec![T::ZERO; np]);
        assert!(strip_maxima::<T, 8, NAN>(&lp, BLOCK_ROWS, k_n, np, np, &mut max));
        strip_responsibilities::<T, FMA, ROOT>(&mut lp, BLOCK_ROWS, k_n, np, &max, &mut inv, &mut lse);
        let tol = if ROOT { 2.0 * k_n as f64 + 24.0 } else { k_n as f64 + 8.0 } * T::EPSILON.to_f64();
        for (b, row) in want.iter_mut().enumerate() {
            let want_lse = sample_responsibilities(&[T::ZERO], row).expect("finite row").to_f64();
            let what = format!("{} K = {k_n} FMA {FMA} ROOT {ROOT} row {b}", T::NAME);
            let got_lse = lse[b].to_f64();
            assert!(
                (got_lse - want_lse).abs() <= tol * want_lse.abs(),
                "{what}: ln p {got_lse} vs {want_lse}"
            );
            for (k, &q) in row.iter().enumerate() {
                let (got, q) = (lp[k * BLOCK_ROWS + b].to_f64(), q.to_f64());
                let got = if ROOT { got * got } else { got };
                assert!(
                    (got - q).abs() <= tol * q.max(T::MIN_POSITIVE.to_f64()),
                    "{what}: q_{k} {got:e} vs {q:e}"
                );
            }
        }
    }

    #[test]
    fn responsibilities_match_the_kernels_within_the_stated_bound() {
        for k_n in [2, 5, 16] {
            against_kernels::<f32, false, true, false>(k_n);
            against_kernels::<f32, true, false, false>(k_n);
            against_kernels::<f64, false, false, false>(k_n);
            against_kernels::<f64, true, true, false>(k_n);
            against_kernels::<f32, false, true, true>(k_n);
            against_kernels::<f32, true, false, true>(k_n);
            against_kernels::<f64, false, false, true>(k_n);
            against_kernels::<f64, true, true, true>(k_n);
        }
    }

    /// [`two_responsibilities`] against [`strip_responsibilities`] at K = 2 on ties, near ties,
    /// either component maximal, and gaps past the underflow cut, both forms: the same
    /// responsibilities bit for bit, ln p within 2 ε (m near 0 included, where e < ε/2 counts);
    /// `ROOT` the same for their square roots.
    fn two_against_strips<T: Real, const FMA: bool, const ROOT: bool>() {
        let np = 64;
        let cut = normal_exp_below::<T>(2).to_f64();
        let mut lp = vec![T::ZERO; 2 * BLOCK_ROWS];
        for b in 0..np {
            let gap = [0.0, 1e-9, 0.3, 2.5, 40.0, -cut - 1.0, -cut + 0.5, 1e5][b % 8];
            let base = if b % 3 == 0 { -1e-3 * b as f64 } else { -3.0 + 0.37 * b as f64 };
            let (hi, lo) = (T::from_f64(base), T::from_f64(base - gap));
            (lp[b], lp[BLOCK_ROWS + b]) = if b % 16 < 8 { (hi, lo) } else { (lo, hi) };
        }
        let mut max = vec![T::ZERO; np];
        assert!(strip_maxima::<T, 8, true>(&lp, BLOCK_ROWS, 2, np, np, &mut max));
        let (mut want, mut got) = (lp.clone(), lp);
        let (mut inv, mut want_lse, mut got_lse) = (vec![T::ZERO; np], vec![T::ZERO; np], vec![T::ZERO; np]);
        strip_responsibilities::<T, FMA, ROOT>(&mut want, BLOCK_ROWS, 2, np, &max, &mut inv, &mut want_lse);
        two_responsibilities::<T, FMA, ROOT>(&mut got, BLOCK_ROWS, np, &max, &mut got_lse);
        let bits = |v: &[T]| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
        for (b, (g, w)) in got_lse.iter().zip(&want_lse).enumerate() {
            let (g, w, eps) = (g.to_f64(), w.to_f64(), T::EPSILON.to_f64());
            assert!(
                (g - w).abs() <= 2.0 * eps * w.abs().max(1.0),
                "{} FMA {FMA} row {b}: ln p {g} vs {w}",
                T::NAME
            );
        }
        assert_eq!(bits(&got), bits(&want), "{} FMA {FMA}: responsibilities", T::NAME);
    }

    #[test]
    fn two_components_match_the_strip_responsibilities_bit_for_bit() {
        two_against_strips::<f32, false, false>();
        two_against_strips::<f32, true, false>();
        two_against_strips::<f64, false, false>();
        two_against_strips::<f64, true, false>();
        two_against_strips::<f32, false, true>();
        two_against_strips::<f32, true, true>();
        two_against_strips::<f64, false, true>();
        two_against_strips::<f64, true, true>();
    }

    /// The shared-shift gate ([`Factors::shared_shift`]): `diag` and `spherical` f64 components
    /// within √255 widths of their centre take it, 16.1 widths do not, `f32` never does, nor
    /// does `full`.
    #[test]
    fn shared_shift_only_within_sixteen_widths_in_f64() {
        use crate::gmm::Mixture;
        use crabmix_kernels::gmm::CovarianceKind::{self, Diag, Full, Spherical};
        fn gate<T: Real>(kind: CovarianceKind, widths: f64) -> bool {
            // Two components at c ± widths · σ_i (c = 10), σ = (0.5, 2) for `diag`, 1 otherwise.
            let sigma = if kind == Diag { [0.5, 2.0] } else { [1.0, 1.0] };
            let means = [1.0, 1.0, -1.0, -1.0].iter().enumerate();
            let means = means.map(|(e, s)| T::from_f64(10.0 + s * widths * sigma[e % 2])).collect();
            let mut covs = vec![T::ZERO; 8];
            for (k, i) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                covs[k * 4 + i * 3] = T::from_f64(sigma[i] * sigma[i]);
            }
            let m = Mixture::new(kind, 2, vec![T::from_f64(0.5); 2], means, covs).unwrap();
            Factors::new(&m.view()).shared_shift
        }
        assert!(gate::<f64>(Diag, 15.9));
        assert!(!gate::<f64>(Diag, 16.1));
        assert!(gate::<f64>(Spherical, 15.9));
        assert!(!gate::<f64>(Spherical, 16.1));
        assert!(!gate::<f32>(Diag, 0.5));
        assert!(!gate::<f64>(Full, 1.0));
    }
}
