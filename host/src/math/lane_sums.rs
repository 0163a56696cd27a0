//! Sums of runs of L lanes: the blocked passes keep each statistic as L partial sums (one
//! vector register's lanes) while a chunk runs, and add each run into one value when it ends.
//!
//! Every sum is [`pairwise`]: a_l + a_(l + L/2) for l < L/2, then the same on those halves, down
//! to one. [`lane_sums`] forms those same sums (the same bits) for many runs at once: summed run
//! by run, the additions stayed scalar (LLVM did not vectorize the tree across one run's lanes,
//! nor a transposed tree written over arrays), and the `full` pass's 153 · K runs per chunk at
//! D = 16 took a twentieth of it on one core. With AVX-512, L runs of L lanes (`f32` 16, `f64` 8)
//! go through registers as a transposed tree: level w (L, L/2, … 2) adds pairs of vectors that
//! hold their runs' partial sums in blocks of w lanes, a's block positions p < w/2 as
//! a_p + a_(p + w/2) and b's p ≥ w/2 as b_p + b_(p − w/2) (a blend and a two-source permute of
//! the two, then one addition), until one vector holds the L sums, run e in lane
//! bitreverse(e), permuted into order as it is stored.

use crabmix_kernels::Real;

/// Σ_l a_l, pairwise (L a power of two): a_l + a_(l + L/2) for l < L/2, then the same on those
/// L/2 values, down to one.
#[inline(always)]
pub fn pairwise<T: Real, const L: usize>(a: &[T; L]) -> T {
    const { assert!(L.is_power_of_two()) };
    let mut v = *a;
    let mut w = L;
    while w > 1 {
        w /= 2;
        for l in 0..w {
            let h = v[l + w];
            v[l] += h;
        }
    }
    v[0]
}

/// out_e = [`pairwise`] sum of lanes[e · L .. (e + 1) · L] for every e < out.len(), the same
/// bits on every path. Panics when `lanes` holds fewer than out.len() · L values (a caller's
/// sizing bug, never the data's).
#[inline(always)]
pub fn lane_sums<T: Real, const L: usize>(lanes: &[T], out: &mut [T]) {
    assert!(lanes.len() >= out.len() * L, "{} lanes for {} runs of {L}", lanes.len(), out.len());
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        use core::any::TypeId;
        let groups = out.len() / L * L;
        // SAFETY: AVX-512F was detected; T is the routine's type (equal `TypeId`s), so the casts
        // reinterpret the same memory with the same layout, lengths as asserted above.
        unsafe {
            if TypeId::of::<T>() == TypeId::of::<f32>() && L == 16 {
                let src = core::slice::from_raw_parts(lanes.as_ptr().cast::<f32>(), groups * L);
                let dst = core::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<f32>(), groups);
                avx512::f32x16(src, dst);
                done = groups;
            } else if TypeId::of::<T>() == TypeId::of::<f64>() && L == 8 {
                let src = core::slice::from_raw_parts(lanes.as_ptr().cast::<f64>(), groups * L);
                let dst = core::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<f64>(), groups);
                avx512::f64x8(src, dst);
                done = groups;
            }
        }
    }
    for (e, o) in out.iter_mut().enumerate().skip(done) {
        *o = pairwise::<T, L>(lanes[e * L..(e + 1) * L].try_into().expect("L lanes"));
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use core::arch::x86_64::*;

    /// Level w's two-source permute: lane l takes a_(l + w/2) where l mod w < w/2, else
    /// b_(l − w/2) (index L + l − w/2 in `permutex2var`).
    const fn level_index<const L: usize>(w: usize) -> [i64; L] {
        let mut idx = [0i64; L];
        let mut l = 0;
        while l < L {
            idx[l] = if l % w < w / 2 { (l + w / 2) as i64 } else { (L + l - w / 2) as i64 };
            l += 1;
        }
        idx
    }

    /// Level w's blend: b's lanes where l mod w ≥ w/2.
    const fn level_mask(lanes: usize, w: usize) -> u16 {
        let mut m = 0u16;
        let mut l = 0;
        while l < lanes {
            if l % w >= w / 2 {
                m |= 1 << l;
            }
            l += 1;
        }
        m
    }

    /// Run e's sum ends in lane bitreverse(e): out_e = v[bitreverse(e)].
    const fn reversed<const L: usize>() -> [i64; L] {
        let bits = L.trailing_zeros();
        let mut idx = [0i64; L];
        let mut e = 0;
        while e < L {
            idx[e] = (e.reverse_bits() >> (usize::BITS - bits)) as i64;
            e += 1;
        }
        idx
    }

    const fn narrow<const L: usize>(a: [i64; L]) -> [i32; L] {
        let mut r = [0i32; L];
        let mut l = 0;
        while l < L {
            r[l] = a[l] as i32;
            l += 1;
        }
        r
    }

    const F32_INDEX: [[i32; 16]; 4] = [
        narrow(level_index::<16>(16)),
        narrow(level_index::<16>(8)),
        narrow(level_index::<16>(4)),
        narrow(level_index::<16>(2)),
    ];
    const F32_MASK: [u16; 4] = [level_mask(16, 16), level_mask(16, 8), level_mask(16, 4), level_mask(16, 2)];
    const F32_ORDER: [i32; 16] = narrow(reversed::<16>());
    const F64_INDEX: [[i64; 8]; 3] = [level_index::<8>(8), level_index::<8>(4), level_index::<8>(2)];
    const F64_MASK: [u16; 3] = [level_mask(8, 8), level_mask(8, 4), level_mask(8, 2)];
    const F64_ORDER: [i64; 8] = reversed::<8>();

    /// `$name(lanes, out)`: out_e = Σ of lanes[L e .. L e + L] (pairwise), L = `$l` lanes of
    /// `$t` in `$v`, out.len() a multiple of L and lanes.len() = L · out.len().
    macro_rules! tree {
        ($name:ident, $t:ty, $v:ty, $l:literal, $index:ident, $mask:ident, $order:ident,
         $load:ident, $add:ident, $blend:ident, $permute2:ident, $permute:ident, $store:ident, $m:ty) => {
            #[target_feature(enable = "avx512f")]
            pub(super) unsafe fn $name(lanes: &[$t], out: &mut [$t]) {
                assert!(out.len() % $l == 0 && lanes.len() == $l * out.len());
                // SAFETY: the constant tables hold 64 bytes each (unaligned loads).
                let order = unsafe { _mm512_loadu_si512($order.as_ptr().cast()) };
                for (g, o) in out.chunks_exact_mut($l).enumerate() {
                    let base = lanes[g * $l * $l..].as_ptr();
                    // SAFETY: run g · L + e's L lanes lie inside `lanes` (the length asserted).
                    let mut v: [$v; $l] = core::array::from_fn(|e| unsafe { $load(base.add($l * e)) });
                    let mut count = $l;
                    for (index, &mask) in $index.iter().zip(&$mask) {
                        // SAFETY: as `order`.
                        let index = unsafe { _mm512_loadu_si512(index.as_ptr().cast()) };
                        for q in 0..count / 2 {
                            let (a, b) = (v[2 * q], v[2 * q + 1]);
                            v[q] = $add($blend(mask as $m, a, b), $permute2(a, index, b));
                        }
                        count /= 2;
                    }
                    // SAFETY: `o` holds L values.
                    unsafe { $store(o.as_mut_ptr(), $permute(order, v[0])) };
                }
            }
        };
    }

    tree!(
        f32x16,
        f32,
        __m512,
        16,
        F32_INDEX,
        F32_MASK,
        F32_ORDER,
        _mm512_loadu_ps,
        _mm512_add_ps,
        _mm512_mask_blend_ps,
        _mm512_permutex2var_ps,
        _mm512_permutexvar_ps,
        _mm512_storeu_ps,
        u16
    );
    tree!(
        f64x8,
        f64,
        __m512d,
        8,
        F64_INDEX,
        F64_MASK,
        F64_ORDER,
        _mm512_loadu_pd,
        _mm512_add_pd,
        _mm512_mask_blend_pd,
        _mm512_permutex2var_pd,
        _mm512_permutexvar_pd,
        _mm512_storeu_pd,
        u8
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// Uniform on [0, 1).
    fn uniform(rng: &mut Xoshiro256PlusPlus) -> f64 {
        (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Every path gives pairwise's bits, run by run, for run counts around the vector groups;
    /// and the sums are the f64 sums within L − 1 roundings.
    fn check<T: Real, const L: usize>() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(L as u64);
        for runs in [0, 1, L - 1, L, L + 1, 3 * L + 5, 153] {
            // Magnitudes over six decades and both signs, so that the order of the additions
            // shows in the bits.
            let lanes: Vec<T> = (0..runs * L)
                .map(|_| {
                    let decade = (uniform(&mut rng) * 6.0).floor() as i32 - 3;
                    T::from_f64((2.0 * uniform(&mut rng) - 1.0) * 10f64.powi(decade))
                })
                .collect();
            let mut out = vec![T::ZERO; runs];
            lane_sums::<T, L>(&lanes, &mut out);
            for (e, &o) in out.iter().enumerate() {
                let run = &lanes[e * L..(e + 1) * L];
                let want = pairwise::<T, L>(run.try_into().unwrap());
                assert!(
                    o.to_f64().to_bits() == want.to_f64().to_bits(),
                    "L={L} runs={runs} e={e}: {o:?} vs {want:?}"
                );
                let exact: f64 = run.iter().map(|v| v.to_f64()).sum();
                let scale: f64 = run.iter().map(|v| v.to_f64().abs()).sum();
                let bound = (L as f64) * T::EPSILON.to_f64() * scale;
                assert!((o.to_f64() - exact).abs() <= bound, "L={L} e={e}: {o:?} vs {exact}");
            }
        }
    }

    #[test]
    fn lane_sums_are_the_pairwise_sums_on_every_path() {
        check::<f32, 16>();
        check::<f64, 8>();
        check::<f32, 8>();
        check::<f64, 4>();
        check::<f64, 16>();
        check::<f32, 2>();
    }

    #[test]
    fn pairwise_adds_halves() {
        let a = [1.0f64, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];
        assert_eq!(pairwise(&a), 255.0);
        // (1e16 − 1e16) + (1 + 1): lane l with lane l + 2; in lane order, 1e16 + 1 rounds to 1e16
        // and one of the ones is lost.
        assert_eq!(pairwise(&[1e16f64, 1.0, -1e16, 1.0]), 2.0);
    }
}
