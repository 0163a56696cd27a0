//! eˣ in `f32` without a branch: libm's `expf` (FreeBSD `e_expf.c`) with its special cases
//! turned into selects, bit for bit the same function.

/* origin: libm 0.2.16 src/math/expf.rs, from FreeBSD /usr/src/lib/msun/src/e_expf.c
 * (Copyright (C) 1993 by Sun Microsystems, Inc.; freely distributable with this notice). */
const LN2_HI: f32 = f32::from_bits(0x3f31_7200); // 6.9314575195e-01
const LN2_LO: f32 = f32::from_bits(0x35bf_be8e); // 1.4286067653e-06
const INV_LN2: f32 = f32::from_bits(0x3fb8_aa3b); // 1.4426950216e+00
// |x·(eˣ + 1)/(eˣ − 1) − p(x)| < 2^−27.74 on [−0.34568, 0.34568] (FreeBSD's remez fit).
const P1: f32 = f32::from_bits(0x3e2a_aa8f); // 1.6666625440e-1
const P2: f32 = f32::from_bits(0xbb35_5215); // -2.7667332906e-3

/// eˣ for every `f32` (NaN, ±∞ and subnormal results included), equal bit for bit to
/// `libm::expf` (error < 1 ulp, FreeBSD's bound for `e_expf.c`; checked against libm on every
/// `f32` by the ignored test `expf_equals_libm_on_every_f32`, on a stride of every binade in CI).
///
/// libm branches on |x| to pick the reduction x = k·ln 2 + r (k = 0 for |x| ≤ ½ ln 2, ±1 up to
/// 1.5 ln 2, round(x/ln 2) beyond; 1 + x below 2⁻¹⁴) and on the overflow, underflow and NaN
/// cases; here every case is computed and the right one selected, so the function has no branch
/// and no call (its cost is the same for every x, ≈ 30 Cortex-M4 instructions with one `vdiv`).
/// 2ᵏ is applied in two halves, 2^⌊k/2⌋ then 2^(k−⌊k/2⌋): the first product is exact and the second
/// rounds once, as libm's `scalbnf` does, so subnormal results round the same.
#[inline]
pub(super) fn expf(x: f32) -> f32 {
    let ix = x.to_bits();
    let negative = (ix >> 31) != 0;
    let hx = ix & 0x7fff_ffff;
    // Clamped so that k stays within [−151, 129] whatever x is; for the x libm computes with,
    // the clamp changes nothing (the results outside [−104, 89] are selected below).
    let xc = x.clamp(-104.0, 89.0);
    let kr = (INV_LN2 * xc + if negative { -0.5 } else { 0.5 }) as i32;
    let k: i32 = if hx > 0x3f85_1592 {
        kr
    } else if hx > 0x3eb1_7218 {
        if negative { -1 } else { 1 }
    } else {
        0
    };
    let kf = k as f32;
    let hi = xc - kf * LN2_HI; // k·ln2_hi is exact here
    let lo = kf * LN2_LO;
    let r = hi - lo;
    let rr = r * r;
    let c = r - rr * (P1 + rr * P2);
    let y = 1.0 + (r * c / (2.0 - c) - lo + hi);
    // k ∈ [−151, 129]: both halves are normal powers of two.
    let k1 = k >> 1;
    // Wrapping: the optimizer cannot bound a float-to-int conversion, and an overflow check
    // would be a panic path (firmware/panic-paths.sh); the values never wrap.
    let s1 = f32::from_bits((k1.wrapping_add(127) as u32) << 23);
    let s2 = f32::from_bits((k.wrapping_sub(k1).wrapping_add(127) as u32) << 23);
    let scaled = y * s1 * s2;
    if hx > 0x7f80_0000 {
        x // NaN
    } else if !negative && hx >= 0x42b1_7218 {
        f32::INFINITY // x ≥ 88.722839: overflow (libm: x·2¹²⁷)
    } else if negative && hx >= 0x42cf_f1b5 {
        0.0 // x ≤ −103.972084 (−∞ included)
    } else if hx <= 0x3900_0000 {
        1.0 + x // |x| ≤ 2⁻¹⁴
    } else {
        scaled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::bit_check::same;

    /// Checks `expf` against `libm::expf` on the patterns `0, step, 2·step, …` of both signs.
    fn check_stride(step: u32) -> u64 {
        crate::math::bit_check::check_stride("expf", expf, libm::expf, step)
    }

    /// A stride of 4099 patterns (a prime, so every mantissa residue and every binade of both
    /// signs is visited: ≈ 1.05 million inputs), plus the thresholds where libm switches case
    /// and their neighbours.
    #[test]
    fn expf_equals_libm_on_a_stride_of_every_binade_and_at_each_threshold() {
        assert!(check_stride(4099) > 1_000_000);
        for t in
            [0x3900_0000u32, 0x3eb1_7218, 0x3f85_1592, 0x42ae_ac50, 0x42b1_7218, 0x42cf_f1b5, 0x7f80_0000]
        {
            for b in t - 64..=t + 64 {
                for x in [f32::from_bits(b), -f32::from_bits(b)] {
                    assert!(same(expf(x), libm::expf(x)), "expf({x:e} = {:#010x})", x.to_bits());
                }
            }
        }
        assert_eq!(expf(0.0), 1.0);
        assert_eq!(expf(f32::NEG_INFINITY), 0.0);
        assert_eq!(expf(f32::INFINITY), f32::INFINITY);
        assert!(expf(f32::NAN).is_nan());
    }

    /// All 2³² inputs (≈ 1 min in release on one core):
    /// `cargo test -p crabmix-kernels --release expf_equals_libm_on_every_f32 -- --ignored`.
    #[test]
    #[ignore = "exhaustive: 2^32 inputs, run in release"]
    fn expf_equals_libm_on_every_f32() {
        assert_eq!(check_stride(1), 1u64 << 32);
    }
}
