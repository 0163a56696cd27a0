//! Row-major samples to a feature-major block, the layout the blocked E-step's lane-parallel
//! loops read (one contiguous run of samples per feature).
//!
//! Element by element, the transpose is a strided load and a store per value; at D = 16 it was
//! half of the `diag` pass at K = 2 (the rest being 3·K·D flops per sample). Here 4 × 4 tiles go
//! through registers: four rows' runs of four features are loaded whole, shuffled, and stored as
//! four features' runs of four samples (AVX for `f64`, SSE — the x86-64 baseline — for `f32`).
//! A transpose only moves values, so every path gives the same bits.

use core::any::TypeId;

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
    #[cfg(target_arch = "x86_64")]
    {
        if TypeId::of::<T>() == TypeId::of::<f64>() && std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: T is f64 (equal `TypeId`s), so the casts reinterpret the same memory with
            // the same type; the sizes were checked above; AVX was detected on this CPU.
            unsafe {
                let rows = core::slice::from_raw_parts(rows.as_ptr().cast::<f64>(), rows.len());
                let out = core::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<f64>(), out.len());
                return tiles_f64_avx(rows, d, n, out, stride);
            }
        }
        if TypeId::of::<T>() == TypeId::of::<f32>() {
            // SAFETY: T is f32, as above; SSE is part of the x86-64 baseline.
            unsafe {
                let rows = core::slice::from_raw_parts(rows.as_ptr().cast::<f32>(), rows.len());
                let out = core::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<f32>(), out.len());
                return tiles_f32_sse(rows, d, n, out, stride);
            }
        }
    }
    scalar(rows, d, 0, n, 0, out, stride);
}

/// The element-by-element transpose of samples b0 … n − 1 and features i0 … d − 1 (the tiles'
/// remainders, and the whole block where no tile path applies).
#[inline(always)]
fn scalar<T: Copy>(rows: &[T], d: usize, b0: usize, n: usize, i0: usize, out: &mut [T], stride: usize) {
    for i in i0..d {
        for (o, x) in out[i * stride + b0..i * stride + n].iter_mut().zip(rows[b0 * d..].chunks_exact(d)) {
            *o = x[i];
        }
    }
}

/// Every whole 4 × 4 tile through `tile(src, dst)` — `src` at sample b, feature i of `rows`
/// (rows of `d` values), `dst` at feature i, sample b of `out` (features `stride` apart) — then
/// the remainders element by element. Safety: `rows` holds n · d values, `out`
/// (d − 1) · stride + n, n ≤ stride; `tile` reads 4 values at src + r · d (r < 4) and writes 4 at
/// dst + f · stride (f < 4), nothing else.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn tiles<T: Copy>(
    rows: &[T],
    d: usize,
    n: usize,
    out: &mut [T],
    stride: usize,
    tile: impl Fn(*const T, *mut T),
) {
    let (n4, d4) = (n / 4 * 4, d / 4 * 4);
    let (src, dst) = (rows.as_ptr(), out.as_mut_ptr());
    for b in (0..n4).step_by(4) {
        for i in (0..d4).step_by(4) {
            // SAFETY: b + 3 < n and i + 3 < d, so the tile's loads are inside rows[..n·d] and its
            // stores inside out[..(i + 3) · stride + b + 4], at most (d − 1) · stride + n.
            unsafe { tile(src.add(b * d + i), dst.add(i * stride + b)) };
        }
    }
    scalar(rows, d, 0, n4, d4, out, stride);
    scalar(rows, d, n4, n, 0, out, stride);
}

/// 4 × 4 tiles of `f64` in AVX registers. Safety: AVX available, and as [`tiles`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn tiles_f64_avx(rows: &[f64], d: usize, n: usize, out: &mut [f64], stride: usize) {
    use core::arch::x86_64::*;
    let tile = |src: *const f64, dst: *mut f64| {
        // SAFETY: `tiles`'s contract on src and dst; AVX enabled here.
        unsafe {
            let (r0, r1) = (_mm256_loadu_pd(src), _mm256_loadu_pd(src.add(d)));
            let (r2, r3) = (_mm256_loadu_pd(src.add(2 * d)), _mm256_loadu_pd(src.add(3 * d)));
            // t0 = [r0₀ r1₀ r0₂ r1₂], t1 = [r0₁ r1₁ r0₃ r1₃], t2, t3 the same of r2, r3.
            let (t0, t1) = (_mm256_unpacklo_pd(r0, r1), _mm256_unpackhi_pd(r0, r1));
            let (t2, t3) = (_mm256_unpacklo_pd(r2, r3), _mm256_unpackhi_pd(r2, r3));
            _mm256_storeu_pd(dst, _mm256_permute2f128_pd::<0x20>(t0, t2));
            _mm256_storeu_pd(dst.add(stride), _mm256_permute2f128_pd::<0x20>(t1, t3));
            _mm256_storeu_pd(dst.add(2 * stride), _mm256_permute2f128_pd::<0x31>(t0, t2));
            _mm256_storeu_pd(dst.add(3 * stride), _mm256_permute2f128_pd::<0x31>(t1, t3));
        }
    };
    // SAFETY: the caller's contract.
    unsafe { tiles(rows, d, n, out, stride, tile) }
}

/// 4 × 4 tiles of `f32` in SSE registers (the x86-64 baseline). Safety: as [`tiles`].
#[cfg(target_arch = "x86_64")]
unsafe fn tiles_f32_sse(rows: &[f32], d: usize, n: usize, out: &mut [f32], stride: usize) {
    use core::arch::x86_64::*;
    let tile = |src: *const f32, dst: *mut f32| {
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
    unsafe { tiles(rows, d, n, out, stride, tile) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (samples, D) up to 9 × 9 and a block-sized one, f64 and f32, against the definition;
    /// the padding past the samples and the gaps between features are left untouched.
    fn check<T: Copy + 'static + PartialEq + core::fmt::Debug>(from: impl Fn(usize) -> T, fill: T) {
        for (n, d) in (0..=9).flat_map(|n| (1..=9).map(move |d| (n, d))).chain([(256, 16), (253, 13)]) {
            let stride = n + 3;
            let rows: Vec<T> = (0..n * d).map(&from).collect();
            let mut out = vec![fill; d * stride];
            to_feature_major(&rows, d, &mut out, stride);
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

    /// A stride whose (D − 1) · stride wraps around: refused, not a store out of bounds.
    #[test]
    #[should_panic(expected = "feature-major block too small")]
    fn refuses_a_wrapping_stride() {
        let rows = vec![1.0f64; 16 * 4];
        let mut out = vec![0.0f64; 6];
        to_feature_major(&rows, 4, &mut out, usize::MAX / 3 + 1);
    }
}
