//! The blocked E-step for full covariances: the same statistics as the kernels' per-sample
//! streaming pass ([`crate::gmm::streaming::ParallelEStep`]), computed a block of rows at a time so the
//! inner loops run over many samples at once.
//!
//! The streaming pass handles one sample at a time: its inner loops have length D (2 to 16 here),
//! too short to vectorize well, and every sample re-reads U_k, μ_k and the K·D² statistics. Here a
//! block of [`BLOCK_ROWS`] rows is transposed to feature-major order (one contiguous run of
//! samples per feature) and, per component k,
//!
//! 1. Δ = X − μ_k and the Mahalanobis terms ‖U_kᵀ δ‖² for every row of the block, as the
//!    triangular product Y = Δ U_k over strips of [`LANES`] samples held in registers;
//! 2. responsibilities for the whole block, the kernels' `responsibilities_in_place` formula
//!    computed a component at a time over all rows with a vectorizable exponential
//!    ([`crabmix_kernels::Real::exp_nonpositive`], within 2 ulp of libm's, also in builds where
//!    the kernels' `fast_exp` is micromath's); a block with a bad row
//!    (non-finite sample, zero density) goes row by row through the kernels' function itself,
//!    so the error and its row are the streaming pass's (the products above add the same terms
//!    in the same order as `component_log_probs`);
//! 3. n_k += Σ r, s1_k += Rᵀ Δ, s2_k += Δᵀ diag(r) Δ as lane-parallel dot products over the block
//!    (s2: upper triangle, per-lane sums kept over the chunk, then added and mirrored into the
//!    full square the kernels' layout keeps before merging).
//!
//! Determinism: rows are split into fixed chunks of [`BLOCKED_CHUNK_ROWS`] (independent of the thread
//! count), each chunk accumulated into its own statistics on a rayon worker, the chunks merged in
//! order; every sum inside a chunk has a fixed order too. The AVX path (chosen at run time) and the
//! portable path execute the same IEEE operations in the same order (no FMA contraction), so the
//! result is bitwise the same on any x86-64 machine and thread count.
//!
//! `gmm::estep::HostEStep` is the E-step `Mixture` uses: blocked for full covariances with at
//! least `BLOCKED_MIN_ROWS` rows, the streaming pass otherwise (see `gmm::estep::uses_blocked`).

use super::streaming::ParallelEStep;
use crabmix_kernels::gmm::{
    CovarianceKind, EStep, MixtureRef, Shape, StatsMut, Totals, sample_responsibilities,
};
use crabmix_kernels::{Error, Real, Result};
use rayon::prelude::*;

/// Samples per register strip: two AVX registers of `f32`, four of `f64` — independent add chains
/// that hide the adder's latency (measured: 16 lanes 1.2–1.5× faster than 8, 32 no better).
pub const LANES: usize = 16;

/// Rows per block: the block's transposed data, deviations and K log-probabilities stay in L1/L2
/// (at D = K = 16, f64: 3 · 16 · 256 · 8 B + 16 · 256 · 8 B ≈ 128 KiB). A multiple of [`LANES`].
pub const BLOCK_ROWS: usize = 256;

/// Rows per parallel task (a multiple of [`BLOCK_ROWS`]). Fixed, not derived from the thread count,
/// so the merge order — and every rounding — is the same on any machine; small enough that
/// N = 100 000 gives 49 tasks and two threads stay balanced.
pub const BLOCKED_CHUNK_ROWS: usize = 2048;

/// The blocked multithreaded E-step (see the module documentation). For `diag`/`spherical`
/// models it runs the streaming [`ParallelEStep`] instead.
#[derive(Debug)]
pub struct BlockedEStep<'a, T> {
    data: &'a [T],
    d: usize,
}

impl<'a, T: Real> BlockedEStep<'a, T> {
    /// Over `data` (N × D row-major).
    pub fn new(data: &'a [T], d: usize) -> Self {
        Self { data, d }
    }
}

impl<T: Real> EStep<T> for BlockedEStep<'_, T> {
    fn accumulate(&mut self, model: &MixtureRef<'_, T>, stats: &mut StatsMut<'_, T>) -> Result<()> {
        let shape = model.shape();
        if shape.kind != CovarianceKind::Full {
            return ParallelEStep::new(self.data, self.d).accumulate(model, stats);
        }
        let d = shape.features;
        if d != self.d || self.data.len() % d != 0 {
            return Err(Error::ShapeMismatch {
                what: "data length (a multiple of D)",
                expected: (self.data.len() / d + 1) * d,
                found: self.data.len(),
            });
        }
        let factors = Factors::new(model);
        let partials: Vec<Result<Partial<T>>> = self
            .data
            .par_chunks(BLOCKED_CHUNK_ROWS * d)
            .enumerate()
            .map_init(
                || Scratch::new(shape),
                |scratch, (c, chunk)| {
                    accumulate_chunk(&factors, chunk, scratch)
                        .map_err(|e| e.offset_sample(c * BLOCKED_CHUNK_ROWS))
                },
            )
            .collect();
        // In chunk order: the first error is the one of the lowest row, as in the streaming pass,
        // and the statistics then hold the chunks before it.
        for p in partials {
            let mut p = p?;
            stats.merge(&p.view(shape).as_ref())?;
        }
        Ok(())
    }
}

/// The model in the form the block kernels read: per component the upper triangle of U_k packed
/// column by column (column j holds U_0j … U_jj, the terms of y_j in the order the streaming
/// kernel adds them), μ_k and log_norm_k.
struct Factors<'m, T> {
    shape: Shape,
    ucols: Vec<T>,
    means: &'m [T],
    log_norm: &'m [T],
}

impl<'m, T: Real> Factors<'m, T> {
    fn new(model: &MixtureRef<'m, T>) -> Self {
        let shape = model.shape();
        let (k_n, d) = (shape.components, shape.features);
        let u = model.precisions_cholesky();
        let mut ucols = Vec::with_capacity(k_n * d * (d + 1) / 2);
        for k in 0..k_n {
            for j in 0..d {
                for i in 0..=j {
                    ucols.push(u[k * d * d + i * d + j]);
                }
            }
        }
        Self { shape, ucols, means: model.means(), log_norm: model.log_norm() }
    }
}

/// One chunk's statistics (the kernels' `StatsMut` layout), shifts = the model's means.
struct Partial<T> {
    shift: Vec<T>,
    resp: Vec<T>,
    s1: Vec<T>,
    s2: Vec<T>,
    /// Per upper-triangle entry of each s2_k, its [`LANES`] partial sums over the chunk so far
    /// (entry e of component k at `(k · D(D+1)/2 + e) · LANES`): the lanes are added into s2
    /// once per chunk, not once per block.
    s2_lanes: Vec<T>,
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
            s2_lanes: vec![T::ZERO; k * d * (d + 1) / 2 * LANES],
            worst: vec![T::ZERO; d],
            totals: Totals::default(),
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
/// result). Feature-major blocks: entry (i, b) of a D × block matrix is at `i * BLOCK_ROWS + b`.
struct Scratch<T> {
    xt: Vec<T>,
    dev: Vec<T>,
    wdev: Vec<T>,
    lp: Vec<T>,
    lse: Vec<T>,
    row: Vec<T>,
    max: Vec<T>,
    top: Vec<T>,
}

impl<T: Real> Scratch<T> {
    fn new(shape: Shape) -> Self {
        let (k, d) = (shape.components, shape.features);
        Self {
            xt: vec![T::ZERO; d * BLOCK_ROWS],
            dev: vec![T::ZERO; d * BLOCK_ROWS],
            wdev: vec![T::ZERO; d * BLOCK_ROWS],
            lp: vec![T::ZERO; k * BLOCK_ROWS],
            lse: vec![T::ZERO; BLOCK_ROWS],
            row: vec![T::ZERO; k],
            max: vec![T::ZERO; BLOCK_ROWS],
            top: vec![T::ZERO; BLOCK_ROWS],
        }
    }
}

/// Accumulates one chunk (rows × D, row-major). Runs the AVX build of the same code when the CPU
/// has it: the portable build only gets SSE2 (no `target-cpu` is set for the workspace), half the
/// vector width.
fn accumulate_chunk<T: Real>(f: &Factors<'_, T>, chunk: &[T], s: &mut Scratch<T>) -> Result<Partial<T>> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: `accumulate_chunk_avx2` only differs from the portable function by being compiled
        // with AVX/AVX2 enabled; the check above guarantees this CPU executes those instructions.
        return unsafe { accumulate_chunk_avx2(f, chunk, s) };
    }
    accumulate_chunk_portable(f, chunk, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,avx2")]
unsafe fn accumulate_chunk_avx2<T: Real>(
    f: &Factors<'_, T>,
    chunk: &[T],
    s: &mut Scratch<T>,
) -> Result<Partial<T>> {
    accumulate_chunk_portable(f, chunk, s)
}

// `inline(always)` down the whole call tree so the AVX wrapper above gets its own, wider copy.
#[inline(always)]
fn accumulate_chunk_portable<T: Real>(
    f: &Factors<'_, T>,
    chunk: &[T],
    s: &mut Scratch<T>,
) -> Result<Partial<T>> {
    let shape = f.shape;
    let d = shape.features;
    let mut p = Partial::new(f);
    for (b, block) in chunk.chunks(BLOCK_ROWS * d).enumerate() {
        accumulate_block(f, block, s, &mut p).map_err(|e| e.offset_sample(b * BLOCK_ROWS))?;
    }
    // The kernels keep the full square; the block kernels computed the upper triangle's lanes.
    let (k_n, d) = (shape.components, shape.features);
    let tri = d * (d + 1) / 2;
    for k in 0..k_n {
        let s2 = &mut p.s2[k * d * d..(k + 1) * d * d];
        let mut lanes = p.s2_lanes[k * tri * LANES..(k + 1) * tri * LANES].chunks_exact(LANES);
        for i in 0..d {
            for j in i..d {
                let acc: &[T; LANES] = lanes.next().expect("tri entries").try_into().expect("LANES");
                s2[i * d + j] = hsum(acc);
            }
            for j in 0..i {
                s2[i * d + j] = s2[j * d + i];
            }
        }
    }
    Ok(p)
}

/// A strip of [`LANES`] consecutive entries of row `i` of a feature-major block, from sample `s`.
#[inline(always)]
fn lane<T>(m: &[T], i: usize, s: usize) -> &[T; LANES] {
    m[i * BLOCK_ROWS + s..i * BLOCK_ROWS + s + LANES].try_into().expect("LANES entries")
}

#[inline(always)]
fn accumulate_block<T: Real>(
    f: &Factors<'_, T>,
    block: &[T],
    s: &mut Scratch<T>,
    p: &mut Partial<T>,
) -> Result<()> {
    let (k_n, d) = (f.shape.components, f.shape.features);
    let nb = block.len() / d;
    // Whole strips; the padding samples are zeros, get zero responsibility and are never observed.
    let np = nb.div_ceil(LANES) * LANES;
    let mut finite = true;
    for (b, x) in block.chunks_exact(d).enumerate() {
        for (i, &v) in x.iter().enumerate() {
            finite &= v.is_finite();
            s.xt[i * BLOCK_ROWS + b] = v;
        }
    }
    for i in 0..d {
        s.xt[i * BLOCK_ROWS + nb..i * BLOCK_ROWS + np].fill(T::ZERO);
    }
    let tri = d * (d + 1) / 2;
    for k in 0..k_n {
        deviations(&s.xt, &f.means[k * d..(k + 1) * d], np, &mut s.dev);
        let out = &mut s.lp[k * BLOCK_ROWS..k * BLOCK_ROWS + np];
        log_probs(&f.ucols[k * tri..(k + 1) * tri], d, &s.dev, f.log_norm[k], out);
    }
    // Responsibilities strip by strip (vectorized); when a row is bad (non-finite sample, zero
    // density, a NaN log-probability from an overflowed Mahalanobis sum), row by row through the
    // kernels' functions instead, in row order, so that the first failing row is the one
    // reported (a non-finite row yields NaN log-probabilities, caught before any statistic is
    // added) and an overflow counts as zero density, as in the streaming pass.
    if !finite || !strip_maxima(&s.lp, k_n, nb, &mut s.max, &mut s.top) {
        for (b, x) in block.chunks_exact(d).enumerate() {
            if !finite {
                if let Some(feature) = x.iter().position(|v| !v.is_finite()) {
                    return Err(Error::NonFiniteSample { sample: b, feature });
                }
            }
            for (k, a) in s.row.iter_mut().enumerate() {
                *a = s.lp[k * BLOCK_ROWS + b];
            }
            s.lse[b] = sample_responsibilities(x, &mut s.row).ok_or(Error::ZeroDensity { sample: b })?;
            for (k, &a) in s.row.iter().enumerate() {
                s.lp[k * BLOCK_ROWS + b] = a;
            }
        }
    } else {
        strip_responsibilities(&mut s.lp, k_n, np, &s.max, &mut s.top, &mut s.lse);
    }
    for k in 0..k_n {
        s.lp[k * BLOCK_ROWS + nb..k * BLOCK_ROWS + np].fill(T::ZERO);
    }
    for k in 0..k_n {
        let r = &s.lp[k * BLOCK_ROWS..k * BLOCK_ROWS + np];
        p.resp[k] += weigh(
            &s.xt,
            &f.means[k * d..(k + 1) * d],
            r,
            np,
            &mut s.dev,
            &mut s.wdev,
            &mut p.s1[k * d..(k + 1) * d],
        );
        second_moments(&s.wdev, &s.dev, d, np, &mut p.s2_lanes[k * tri * LANES..(k + 1) * tri * LANES]);
    }
    let mut v = p.view(f.shape);
    for (b, x) in block.chunks_exact(d).enumerate() {
        v.observe(x, s.lse[b]);
    }
    Ok(())
}

/// dev(i, b) = xt(i, b) − μ_i for the first `np` samples.
#[inline(always)]
fn deviations<T: Real>(xt: &[T], mu: &[T], np: usize, dev: &mut [T]) {
    for (i, &m) in mu.iter().enumerate() {
        let (x, o) =
            (&xt[i * BLOCK_ROWS..i * BLOCK_ROWS + np], &mut dev[i * BLOCK_ROWS..i * BLOCK_ROWS + np]);
        for (o, &x) in o.iter_mut().zip(x) {
            *o = x - m;
        }
    }
}

/// out_b = log_norm − ½ Σ_j (Σ_{i ≤ j} U_ij δ_ib)², strip by strip with the strip's y_j and running
/// sum in registers. `ucol` is U's upper triangle packed by columns. Same additions in the same
/// order as `MixtureRef::component_log_probs` (which also adds the exact zeros below U's diagonal).
#[inline(always)]
fn log_probs<T: Real>(ucol: &[T], d: usize, dev: &[T], log_norm: T, out: &mut [T]) {
    let half = T::from_f64(0.5);
    for (st, o) in out.chunks_exact_mut(LANES).enumerate() {
        let s = st * LANES;
        let mut m = [T::ZERO; LANES];
        let mut col = ucol;
        let mut j = 0;
        // Columns j and j + 1 together: two independent add chains per lane (each y_j's terms
        // still added in order i = 0 … j), where one chain waits on the adder's latency.
        while j + 1 < d {
            let (cj, rest) = col.split_at(j + 1);
            let (cj1, rest) = rest.split_at(j + 2);
            col = rest;
            let (mut y0, mut y1) = ([T::ZERO; LANES], [T::ZERO; LANES]);
            for (i, (&u0, &u1)) in cj.iter().zip(cj1).enumerate() {
                let x = lane(dev, i, s);
                for l in 0..LANES {
                    y0[l] += x[l] * u0;
                }
                for l in 0..LANES {
                    y1[l] += x[l] * u1;
                }
            }
            let (x, u1) = (lane(dev, j + 1, s), cj1[j + 1]);
            for l in 0..LANES {
                y1[l] += x[l] * u1;
            }
            for l in 0..LANES {
                m[l] += y0[l] * y0[l];
            }
            for l in 0..LANES {
                m[l] += y1[l] * y1[l];
            }
            j += 2;
        }
        if j < d {
            let mut y = [T::ZERO; LANES];
            for (i, &u) in col.iter().take(j + 1).enumerate() {
                let x = lane(dev, i, s);
                for l in 0..LANES {
                    y[l] += x[l] * u;
                }
            }
            for l in 0..LANES {
                m[l] += y[l] * y[l];
            }
        }
        for l in 0..LANES {
            o[l] = log_norm - half * m[l];
        }
    }
}

/// Per row b of the block (first `nb`, rounded up to whole strips), the largest log-probability
/// m_b = max_k lp(k, b) and the first k attaining it (as a float, so the loops vectorize); `false`
/// when a row among the first `nb` has no finite maximum or a NaN, which the kernels'
/// `responsibilities_in_place` reports (the caller then takes that path).
#[inline(always)]
fn strip_maxima<T: Real>(lp: &[T], k_n: usize, nb: usize, max: &mut [T], top: &mut [T]) -> bool {
    let np = nb.div_ceil(LANES) * LANES;
    let (max, top) = (&mut max[..np], &mut top[..np]);
    // Strip by strip with the running maxima in registers, stored once: updating them in memory
    // component by component made LLVM emit masked stores (microcoded on AMD).
    for (st, (ms, ts)) in max.chunks_exact_mut(LANES).zip(top.chunks_exact_mut(LANES)).enumerate() {
        let (mut m, mut t) = ([T::NEG_INFINITY; LANES], [T::ZERO; LANES]);
        for k in 0..k_n {
            let kf = T::from_usize(k);
            let v = lane(lp, k, st * LANES);
            for l in 0..LANES {
                // A NaN is taken as the maximum and then kept (nothing compares above it), so
                // the finiteness check below sees it.
                let take = v[l] > m[l] || v[l].is_nan();
                m[l] = if take { v[l] } else { m[l] };
                t[l] = if take { kf } else { t[l] };
            }
        }
        ms.copy_from_slice(&m);
        ts.copy_from_slice(&t);
    }
    max[..nb].iter().all(|m| m.is_finite())
}

/// The kernels' `responsibilities_in_place` for every row of the block at once (see there): with
/// m_b and its component k*_b from [`strip_maxima`], t_b = Σ_{k≠k*} e^{lp(k,b) − m_b}, q(k, b) =
/// e^{lp(k,b) − m_b} / (1 + t_b) in place of lp, ln p(x_b) = m_b + ln(1 + t_b). The exponentials
/// are [`Real::exp_nonpositive`] (within 2 ulp of libm's, one vectorized loop per component)
/// rather than one libm call per (row, component), which cost as much as the rest of the pass at
/// small D.
#[inline(always)]
fn strip_responsibilities<T: Real>(
    lp: &mut [T],
    k_n: usize,
    np: usize,
    max: &[T],
    top: &mut [T],
    lse: &mut [T],
) {
    let (max, top, t) = (&max[..np], &mut top[..np], &mut lse[..np]);
    t.fill(T::ZERO);
    for k in 0..k_n {
        let kf = T::from_usize(k);
        let v = &mut lp[k * BLOCK_ROWS..k * BLOCK_ROWS + np];
        for (((v, &m), &tp), t) in v.iter_mut().zip(max).zip(top.iter()).zip(t.iter_mut()) {
            let x = *v - m;
            let e = if x < T::EXP_ZERO_BELOW { T::ZERO } else { x.exp_nonpositive() };
            *v = e;
            *t += if kf == tp { T::ZERO } else { e };
        }
    }
    // `top` is done with: it takes 1 / (1 + t_b), then `t` the log-likelihoods.
    let inv = top;
    for (inv, &t) in inv.iter_mut().zip(t.iter()) {
        *inv = T::ONE / (T::ONE + t);
    }
    for k in 0..k_n {
        let v = &mut lp[k * BLOCK_ROWS..k * BLOCK_ROWS + np];
        for (v, &inv) in v.iter_mut().zip(inv.iter()) {
            *v *= inv;
        }
    }
    for (t, &m) in t.iter_mut().zip(max) {
        *t = m + t.ln_1p();
    }
}

/// δ(i, b) = x(i, b) − μ_i where r_b > 0 and 0 elsewhere, w(i, b) = r_b δ(i, b); s1_i += Σ_b
/// w(i, b); returns Σ_b r_b. Per-lane partial sums, reduced in a fixed order.
///
/// Samples with r = 0 get δ = 0: the streaming pass skips them, and δ may be ±∞ there (x − μ_k
/// overflowing for finite x and μ_k far apart), where 0 · ∞ would be NaN. The zero is selected
/// while δ is computed, so every store is of a computed value: zeroing δ in place afterwards
/// made LLVM emit masked stores (microcoded on AMD) or keep the loop scalar.
#[inline(always)]
fn weigh<T: Real>(xt: &[T], mu: &[T], r: &[T], np: usize, dev: &mut [T], w: &mut [T], s1: &mut [T]) -> T {
    let r = &r[..np];
    let mut n = [T::ZERO; LANES];
    for rs in r.chunks_exact(LANES) {
        for l in 0..LANES {
            n[l] += rs[l];
        }
    }
    for ((i, &m), s1) in mu.iter().enumerate().zip(s1.iter_mut()) {
        let span = i * BLOCK_ROWS..i * BLOCK_ROWS + np;
        let (x, dv, o) = (&xt[span.clone()], &mut dev[span.clone()], &mut w[span]);
        for ((dv, &x), &r) in dv.iter_mut().zip(x).zip(r) {
            *dv = if r > T::ZERO { x - m } else { T::ZERO };
        }
        for ((o, &dv), &r) in o.iter_mut().zip(dv.iter()).zip(r) {
            *o = r * dv;
        }
        let mut acc = [T::ZERO; LANES];
        for ws in o.chunks_exact(LANES) {
            for l in 0..LANES {
                acc[l] += ws[l];
            }
        }
        *s1 += hsum(&acc);
    }
    hsum(&n)
}

#[inline(always)]
fn hsum<T: Real>(a: &[T; LANES]) -> T {
    a.iter().fold(T::ZERO, |s, &v| s + v)
}

/// Lane l of s2(i, j) += Σ_{b ≡ l (mod LANES)} w(i, b) δ(j, b) for j ≥ i (the upper triangle,
/// entries in row order, [`LANES`] values each in `s2_lanes`), a lane-parallel dot product per
/// entry, strip by strip in sample order. Entries go in 2 × 2 tiles (rows i, i + 1 × columns j,
/// j + 1): each strip of w and δ loaded feeds two multiply-adds instead of one, and the tile's
/// four accumulators are four independent add chains. The lanes are summed once per chunk
/// (`accumulate_chunk_portable`): summed per block, their 16 dependent scalar adds cost more than
/// the dot product itself.
#[inline(always)]
fn second_moments<T: Real>(w: &[T], dev: &[T], d: usize, np: usize, s2_lanes: &mut [T]) {
    // Offset of entry (i, j), j ≥ i, among the upper triangle's entries in row order.
    let at = |i: usize, j: usize| (i * (2 * d + 1 - i) / 2 + (j - i)) * LANES;
    let mut i = 0;
    while i < d {
        let two_rows = i + 1 < d;
        let (w0, w1) = (strip_row(w, i, np), strip_row(w, if two_rows { i + 1 } else { i }, np));
        let mut j = i;
        while j < d {
            let two_cols = j + 1 < d;
            let (d0, d1) = (strip_row(dev, j, np), strip_row(dev, if two_cols { j + 1 } else { j }, np));
            // (i + 1, j) is below the diagonal on a diagonal tile; (i + 1, ·) and (·, j + 1) do
            // not exist past the last row or column.
            let (has01, has10, has11) = (two_cols, two_rows && j > i, two_rows && two_cols);
            let mut a00 = lanes_at(s2_lanes, at(i, j));
            let mut a01 = if has01 { lanes_at(s2_lanes, at(i, j + 1)) } else { [T::ZERO; LANES] };
            let mut a10 = if has10 { lanes_at(s2_lanes, at(i + 1, j)) } else { [T::ZERO; LANES] };
            let mut a11 = if has11 { lanes_at(s2_lanes, at(i + 1, j + 1)) } else { [T::ZERO; LANES] };
            for (((x0, x1), y0), y1) in w0
                .chunks_exact(LANES)
                .zip(w1.chunks_exact(LANES))
                .zip(d0.chunks_exact(LANES))
                .zip(d1.chunks_exact(LANES))
            {
                let (x0, x1): (&[T; LANES], &[T; LANES]) =
                    (x0.try_into().expect("LANES"), x1.try_into().expect("LANES"));
                let (y0, y1): (&[T; LANES], &[T; LANES]) =
                    (y0.try_into().expect("LANES"), y1.try_into().expect("LANES"));
                mac(&mut a00, x0, y0);
                mac(&mut a01, x0, y1);
                mac(&mut a10, x1, y0);
                mac(&mut a11, x1, y1);
            }
            s2_lanes[at(i, j)..at(i, j) + LANES].copy_from_slice(&a00);
            if has01 {
                s2_lanes[at(i, j + 1)..at(i, j + 1) + LANES].copy_from_slice(&a01);
            }
            if has10 {
                s2_lanes[at(i + 1, j)..at(i + 1, j) + LANES].copy_from_slice(&a10);
            }
            if has11 {
                s2_lanes[at(i + 1, j + 1)..at(i + 1, j + 1) + LANES].copy_from_slice(&a11);
            }
            j += 2;
        }
        i += 2;
    }
}

/// The first `np` samples of row `i` of a feature-major block.
#[inline(always)]
fn strip_row<T>(m: &[T], i: usize, np: usize) -> &[T] {
    &m[i * BLOCK_ROWS..i * BLOCK_ROWS + np]
}

/// The [`LANES`] values of `v` from `at`.
#[inline(always)]
fn lanes_at<T: Real>(v: &[T], at: usize) -> [T; LANES] {
    v[at..at + LANES].try_into().expect("LANES")
}

/// acc += x ⊙ y, lane by lane.
#[inline(always)]
fn mac<T: Real>(acc: &mut [T; LANES], x: &[T; LANES], y: &[T; LANES]) {
    for l in 0..LANES {
        acc[l] += x[l] * y[l];
    }
}
