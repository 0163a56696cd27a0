//! Row-major samples to a feature-major block, the layout the blocked E-step's lane-parallel
//! loops read (one contiguous run of samples per feature).
//!
//! Element by element, the transpose is a strided load and a store per value; at D = 16 it was
//! half of the `diag` pass at K = 2 (the rest being 3·K·D flops per sample). Here square tiles
//! go through registers: rows' runs of features are loaded whole, shuffled, and stored as
//! features' runs of samples. `f32` takes 8 × 8 tiles in AVX registers whose first stage is
//! done by the loads (a register takes its halves from two rows, a 128-bit insert from memory,
//! which runs beside the arithmetic), 4 × 4 in SSE (the x86-64 baseline) for the edges and
//! where AVX is missing; `f64` 4 × 4 tiles in AVX registers. Measured on one core (Intel Xeon
//! VM, blocks of 256 samples in cache, per 10⁵ samples): `f32` D = 16 0.20 → 0.12 ms, D = 8
//! 0.10 → 0.075 ms, D = 13 0.18 → 0.14–0.16 ms against SSE 4 × 4 tiles. For `f64`, 8 × 8
//! AVX-512 tiles (0.35–0.40 → 0.40–0.65 ms at D = 16) and halves loaded from two rows
//! (→ 0.44–0.46 ms) were slower than 4 × 4 register tiles and were dropped; through this
//! module's shared tile loop the `f64` tiles run within 3–10 % of their own loop of before
//! (D = 16 0.34–0.41 → 0.37–0.45 ms), under 2 % of the smallest `f64` pass. Whole-array
//! transposes at N = 10⁵ are memory-bound and take the same time on every path.
//! A transpose only moves values, so every path gives the same bits.

use core::any::TypeId;
use core::ops::Range;

/// out[i · stride + b] = rows[b · d + i] for every sample b < rows.len() / d and feature i < d.
///
/// Panics when `d` is 0, `rows.len()` is not a multiple of `d`, the block has more samples than
/// `stride`, or `out` is shorter than (d − 1) · stride + samples (callers size it from the same
/// shape: a panic is a bug in the caller, never a consequence of the data).
#[inline]
pub fn to_feature_major<T: Copy + 'static>(rows: &[T], d: usize, out: &mut [T], stride: usize) {
    assert!(d > 0 && rows.len() % d == 0, "rows: {} values, not a multiple of D = {d}", rows.len());
    let n = rows.len() / d;
    // Checked arithmetic: a wrapped product would let the tiles below store out of bounds.
    let need = (d - 1).checked_mul(stride).and_then(|v| v.checked_add(n));
    assert!(n <= stride && need.is_some_and(|need| out.len() >= need), "feature-major block too small");
    let block = Block { d, stride, samples: 0..n, features: 0..d };
    #[cfg(target_arch = "x86_64")]
    {
        if TypeId::of::<T>() == TypeId::of::<f64>() && std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: T is f64 (equal `TypeId`s), so the casts reinterpret the same memory with
            // the same type; the sizes were checked above; AVX was detected on this CPU.
            unsafe {
                let rows = core::slice::from_raw_parts(rows.as_ptr().cast::<f64>(), rows.len());
                let out = core::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<f64>(), out.len());
                return f64_avx::<false>(rows, out, block.d, block.stride, &[]);
            }
        }
        if TypeId::of::<T>() == TypeId::of::<f32>() {
            // SAFETY: T is f32, as above; SSE is part of the x86-64 baseline, AVX was detected.
            unsafe {
                let rows = core::slice::from_raw_parts(rows.as_ptr().cast::<f32>(), rows.len());
                let out = core::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<f32>(), out.len());
                if std::arch::is_x86_feature_detected!("avx") {
                    return f32_avx(rows, out, block);
                }
                return f32_sse(rows, out, block);
            }
        }
    }
    scalar(rows, out, block);
}

/// out[i · stride + b] = rows[b · d + i] − centre[i]: [`to_feature_major`] with each feature
/// shifted by `centre` (D values), rounded once per value. `f64` with AVX subtracts inside the
/// tiles; elsewhere the block is transposed, then shifted. Panics as [`to_feature_major`], and
/// when `centre` does not hold D values.
#[inline]
pub fn to_feature_major_centred<T: Copy + core::ops::Sub<Output = T> + 'static>(
    rows: &[T],
    d: usize,
    out: &mut [T],
    stride: usize,
    centre: &[T],
) {
    assert_eq!(centre.len(), d, "centre: one value per feature");
    #[cfg(target_arch = "x86_64")]
    if TypeId::of::<T>() == TypeId::of::<f64>() && std::arch::is_x86_feature_detected!("avx") {
        assert!(d > 0 && rows.len() % d == 0, "rows: {} values, not a multiple of D = {d}", rows.len());
        let n = rows.len() / d;
        let need = (d - 1).checked_mul(stride).and_then(|v| v.checked_add(n));
        assert!(n <= stride && need.is_some_and(|need| out.len() >= need), "feature-major block too small");
        // SAFETY: T is f64 (equal `TypeId`s), so the casts reinterpret the same memory with the
        // same type; the sizes and `centre`'s length were checked above; AVX was detected.
        unsafe {
            let rows = core::slice::from_raw_parts(rows.as_ptr().cast::<f64>(), rows.len());
            let out = core::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<f64>(), out.len());
            let centre = core::slice::from_raw_parts(centre.as_ptr().cast::<f64>(), d);
            return f64_avx::<true>(rows, out, d, stride, centre);
        }
    }
    to_feature_major(rows, d, out, stride);
    centre_part(out, Block { d, stride, samples: 0..rows.len() / d, features: 0..d }, centre);
}

/// A rectangle of the transpose: `samples` × `features` of rows of `d` values, into features
/// `stride` values apart.
#[derive(Clone)]
struct Block {
    d: usize,
    stride: usize,
    samples: Range<usize>,
    features: Range<usize>,
}

impl Block {
    /// The same rows and stride over other samples and features.
    fn part(&self, samples: Range<usize>, features: Range<usize>) -> Self {
        Self { samples, features, ..self.clone() }
    }
}

/// The block element by element (the tiles' edges, and the whole block where no tile path
/// applies).
#[inline(always)]
fn scalar<T: Copy>(rows: &[T], out: &mut [T], b: Block) {
    let (d, stride) = (b.d, b.stride);
    for i in b.features {
        let out = &mut out[i * stride + b.samples.start..i * stride + b.samples.end];
        for (o, x) in out.iter_mut().zip(rows[b.samples.start * d..].chunks_exact(d)) {
            *o = x[i];
        }
    }
}

/// Every whole S × S tile of the block through `tile(src, dst, i)` — `src` at sample b, feature
/// i of `rows`, `dst` at feature i, sample b of `out` — then the edges through `edge`: the
/// features past the whole tiles for every sample, and the samples past them for the tiles'
/// features. Safety: the block lies inside `rows` (its samples' rows of `d` values) and `out`
/// (its features' rows up to the last sample); `tile` reads S values at src + r · d (r < S) and
/// writes S at dst + f · stride (f < S), nothing else.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn tiles<T: Copy, const S: usize>(
    rows: &[T],
    out: &mut [T],
    b: Block,
    tile: impl Fn(*const T, *mut T, usize),
    mut edge: impl FnMut(&[T], &mut [T], Block),
) {
    let (d, stride) = (b.d, b.stride);
    let (ns, nf) = (b.samples.len() / S * S, b.features.len() / S * S);
    let (bs, fs) = (b.samples.start + ns, b.features.start + nf);
    // One pointer per direction stepped by hand: indexed from the block's start, LLVM kept a
    // pointer per row and per feature in the inner loop.
    // `wrapping_add`: an empty edge's corner may lie past the end, and is then never read.
    let src = rows.as_ptr().wrapping_add(b.samples.start * d + b.features.start);
    let dst = out.as_mut_ptr().wrapping_add(b.features.start * stride + b.samples.start);
    for s in (0..ns).step_by(S) {
        // SAFETY: s + S ≤ ns and i + S ≤ nf for every tile, inside the block, which the caller
        // vouches for.
        unsafe {
            let (mut from, mut to) = (src.add(s * d), dst.add(s));
            for t in 0..nf / S {
                tile(from, to, b.features.start + t * S);
                (from, to) = (from.add(S), to.add(S * stride));
            }
        }
    }
    edge(rows, out, b.part(b.samples.clone(), fs..b.features.end));
    edge(rows, out, b.part(bs..b.samples.end, b.features.start..fs));
}

/// 4 × 4 tiles of `f64` in AVX registers, all four shuffles in registers (loading halves from
/// two rows, as the `f32` tiles do, was slower: see the module's note); with `CENTRED`, feature
/// i's values less `centre[i]` (a subtract per stored register, free beside the loads).
/// Safety: AVX available, `centre` holds D values where `CENTRED`, and as [`tiles`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn f64_avx<const CENTRED: bool>(
    rows: &[f64],
    out: &mut [f64],
    d: usize,
    stride: usize,
    centre: &[f64],
) {
    use core::arch::x86_64::*;
    // The whole block, built here so that its corner is a constant 0 inside the loops (passed
    // in, LLVM kept a pointer per row).
    let b = Block { d, stride, samples: 0..rows.len() / d, features: 0..d };
    let tile = |src: *const f64, dst: *mut f64, i: usize| {
        // SAFETY: `tiles`'s contract on src and dst (i + 4 ≤ D, so `centre[i..i + 4]` exists
        // where `CENTRED`); AVX enabled here.
        unsafe {
            let (r0, r1) = (_mm256_loadu_pd(src), _mm256_loadu_pd(src.add(d)));
            let (r2, r3) = (_mm256_loadu_pd(src.add(2 * d)), _mm256_loadu_pd(src.add(3 * d)));
            // t0 = [r0₀ r1₀ r0₂ r1₂], t1 = [r0₁ r1₁ r0₃ r1₃], t2, t3 the same of r2, r3.
            let (t0, t1) = (_mm256_unpacklo_pd(r0, r1), _mm256_unpackhi_pd(r0, r1));
            let (t2, t3) = (_mm256_unpacklo_pd(r2, r3), _mm256_unpackhi_pd(r2, r3));
            let f = [
                _mm256_permute2f128_pd::<0x20>(t0, t2),
                _mm256_permute2f128_pd::<0x20>(t1, t3),
                _mm256_permute2f128_pd::<0x31>(t0, t2),
                _mm256_permute2f128_pd::<0x31>(t1, t3),
            ];
            for (j, v) in f.into_iter().enumerate() {
                let v =
                    if CENTRED { _mm256_sub_pd(v, _mm256_set1_pd(*centre.get_unchecked(i + j))) } else { v };
                _mm256_storeu_pd(dst.add(j * stride), v);
            }
        }
    };
    let edge = |r: &[f64], o: &mut [f64], e: Block| {
        scalar(r, o, e.clone());
        if CENTRED {
            centre_part(o, e, centre);
        }
    };
    // SAFETY: the caller's contract.
    unsafe { tiles::<f64, 4>(rows, out, b, tile, edge) }
}

/// Feature i of the part `b` of `out` less `centre[i]`.
#[inline(always)]
fn centre_part<T: Copy + core::ops::Sub<Output = T>>(out: &mut [T], b: Block, centre: &[T]) {
    for i in b.features {
        for o in &mut out[i * b.stride + b.samples.start..i * b.stride + b.samples.end] {
            *o = *o - centre[i];
        }
    }
}

/// 8 × 8 tiles of `f32` in AVX registers, the edges as [`f32_sse`]: register j < 4 takes row
/// j's features i … i + 3 and row j + 4's (a 128-bit insert from memory); an unpack and a
/// shuffle per output finish the tile, in both 128-bit halves at once. Safety: AVX available,
/// and as [`tiles`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn f32_avx(rows: &[f32], out: &mut [f32], b: Block) {
    use core::arch::x86_64::*;
    let (d, stride) = (b.d, b.stride);
    let tile = |src: *const f32, dst: *mut f32, _| {
        // SAFETY: `tiles`'s contract on src and dst; AVX enabled here.
        unsafe {
            for half in [0, 4] {
                let a: [__m256; 4] = core::array::from_fn(|j| {
                    let lo = _mm_loadu_ps(src.add(j * d + half));
                    _mm256_insertf128_ps::<1>(
                        _mm256_castps128_ps256(lo),
                        _mm_loadu_ps(src.add((j + 4) * d + half)),
                    )
                });
                // t0 = [x0f0 x1f0 x0f1 x1f1 | x4f0 x5f0 x4f1 x5f1], t1 of f2, f3; t2, t3 of
                // samples 2, 3, 6, 7.
                let (t0, t1) = (_mm256_unpacklo_ps(a[0], a[1]), _mm256_unpackhi_ps(a[0], a[1]));
                let (t2, t3) = (_mm256_unpacklo_ps(a[2], a[3]), _mm256_unpackhi_ps(a[2], a[3]));
                let f = dst.add(half * stride);
                _mm256_storeu_ps(f, _mm256_shuffle_ps::<0x44>(t0, t2));
                _mm256_storeu_ps(f.add(stride), _mm256_shuffle_ps::<0xEE>(t0, t2));
                _mm256_storeu_ps(f.add(2 * stride), _mm256_shuffle_ps::<0x44>(t1, t3));
                _mm256_storeu_ps(f.add(3 * stride), _mm256_shuffle_ps::<0xEE>(t1, t3));
            }
        }
    };
    // SAFETY: the caller's contract; the edges are parts of the block.
    unsafe { tiles::<f32, 8>(rows, out, b, tile, |r, o, e| f32_sse(r, o, e)) }
}

/// 4 × 4 tiles of `f32` in SSE registers (the x86-64 baseline). Safety: as [`tiles`].
#[cfg(target_arch = "x86_64")]
unsafe fn f32_sse(rows: &[f32], out: &mut [f32], b: Block) {
    use core::arch::x86_64::*;
    let (d, stride) = (b.d, b.stride);
    let tile = |src: *const f32, dst: *mut f32, _| {
        // SAFETY: `tiles`'s contract on src and dst.
        unsafe {
            let (r0, r1) = (_mm_loadu_ps(src), _mm_loadu_ps(src.add(d)));
            let (r2, r3) = (_mm_loadu_ps(src.add(2 * d)), _mm_loadu_ps(src.add(3 * d)));
            // t0 = [r0₀ r1₀ r0₁ r1₁], t1 = [r2₀ r3₀ r2₁ r3₁], t2, t3 the same of features 2, 3.
            let (t0, t1) = (_mm_unpacklo_ps(r0, r1), _mm_unpacklo_ps(r2, r3));
            let (t2, t3) = (_mm_unpackhi_ps(r0, r1), _mm_unpackhi_ps(r2, r3));
            _mm_storeu_ps(dst, _mm_movelh_ps(t0, t1));
            _mm_storeu_ps(dst.add(stride), _mm_movehl_ps(t1, t0));
            _mm_storeu_ps(dst.add(2 * stride), _mm_movelh_ps(t2, t3));
            _mm_storeu_ps(dst.add(3 * stride), _mm_movehl_ps(t3, t2));
        }
    };
    // SAFETY: the caller's contract.
    unsafe { tiles::<f32, 4>(rows, out, b, tile, scalar) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transpose path: (rows, D, out, stride), as [`to_feature_major`].
    type Path<T> = dyn Fn(&[T], usize, &mut [T], usize);

    /// The public function through [`check_path`], in f64, f32 and an integer type.
    fn check<T: Copy + 'static + PartialEq + core::fmt::Debug>(from: impl Fn(usize) -> T, fill: T) {
        check_path(from, fill, &to_feature_major);
    }

    /// `transpose` against the definition on every (samples, D) up to 17 × 17 (whole 8 × 8 and
    /// 4 × 4 tiles, and every edge of both) and on block-sized shapes; the padding past the
    /// samples and the gaps between features are left untouched.
    fn check_path<T: Copy + PartialEq + core::fmt::Debug>(
        from: impl Fn(usize) -> T,
        fill: T,
        transpose: &Path<T>,
    ) {
        let small = (0..=17).flat_map(|n| (1..=17).map(move |d| (n, d)));
        for (n, d) in small.chain([(256, 16), (253, 13), (128, 12), (251, 20)]) {
            let stride = n + 3;
            let rows: Vec<T> = (0..n * d).map(&from).collect();
            let mut out = vec![fill; d * stride];
            transpose(&rows, d, &mut out, stride);
            for i in 0..d {
                for b in 0..stride {
                    let want = if b < n { rows[b * d + i] } else { fill };
                    assert_eq!(out[i * stride + b], want, "n {n} d {d}: feature {i} sample {b}");
                }
            }
        }
    }

    #[test]
    fn transposes_every_shape() {
        check::<f64>(|v| v as f64 + 0.5, -1.0);
        check::<f32>(|v| v as f32 + 0.25, -1.0);
        check::<u16>(|v| v as u16, u16::MAX);
    }

    /// Each tile path this CPU can run, called directly (the public function takes the widest).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn every_tile_path_transposes_every_shape() {
        fn whole(rows: &[f32], d: usize, stride: usize) -> Block {
            Block { d, stride, samples: 0..rows.len() / d, features: 0..d }
        }
        // SAFETY (all calls): the block covers `rows` and `out` as `check_path` sizes them, and
        // each path runs only where its features were detected.
        if std::arch::is_x86_feature_detected!("avx") {
            check_path(|v| v as f64 + 0.5, -1.0, &|r, d, o, s| unsafe { f64_avx::<false>(r, o, d, s, &[]) });
            check_path(|v| v as f32 + 0.25, -1.0, &|r: &[f32], d, o, s| unsafe {
                f32_avx(r, o, whole(r, d, s))
            });
        }
        check_path(|v| v as f32 + 0.25, -1.0, &|r: &[f32], d, o, s| unsafe { f32_sse(r, o, whole(r, d, s)) });
    }

    /// The centred transpose against the definition, in f64 (the AVX tiles, where the CPU has
    /// them) and f32 (transpose, then shift), on every shape [`check_path`] covers: x − c rounded
    /// once, the same bits as the subtraction itself.
    #[test]
    fn centred_transpose_subtracts_each_feature_s_centre() {
        fn check_centred<T: Copy + core::ops::Sub<Output = T> + PartialEq + core::fmt::Debug + 'static>(
            from: fn(usize) -> T,
            fill: T,
        ) {
            let centred = move |rows: &[T], d: usize, out: &mut [T], stride: usize| {
                let centre: Vec<T> = (0..d).map(|i| from(7 * i + 3)).collect();
                to_feature_major_centred(rows, d, out, stride, &centre);
                // Undo the shift where it was applied, so `check_path` sees the plain transpose;
                // the forward value is checked first against x − c itself.
                let n = rows.len() / d;
                for i in 0..d {
                    for b in 0..n {
                        assert_eq!(out[i * stride + b], rows[b * d + i] - centre[i], "D {d} sample {b}");
                        out[i * stride + b] = rows[b * d + i];
                    }
                }
            };
            check_path(from, fill, &centred);
        }
        check_centred::<f64>(|v| (v as f64 + 0.5) * 1.37e3, -1.0);
        check_centred::<f32>(|v| (v as f32 + 0.25) * 1.37e3, -1.0);
    }

    /// A stride whose (D − 1) · stride wraps around: refused, not a store out of bounds.
    #[test]
    #[should_panic(expected = "feature-major block too small")]
    fn refuses_a_wrapping_stride() {
        let rows = vec![1.0f64; 16 * 4];
        let mut out = vec![0.0f64; 6];
        to_feature_major(&rows, 4, &mut out, usize::MAX / 3 + 1);
    }
}
