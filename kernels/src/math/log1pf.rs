//! ln(1 + x) in `f32` without a branch: libm's `log1pf` (FreeBSD `s_log1pf.c`) with its cases
//! turned into selects, bit for bit the same function.

/* origin: libm 0.2.16 src/math/log1pf.rs, from FreeBSD /usr/src/lib/msun/src/s_log1pf.c
 * (Copyright (C) 1993 by Sun Microsystems, Inc.; freely distributable with this notice). */
use super::logf::{LN2_HI, LN2_LO, tail};

/// ln(1 + x) for every `f32`, equal bit for bit to `libm::log1pf` (error < 1 ulp, FreeBSD's
/// bound; checked against libm on every `f32` by the ignored test
/// `log1pf_equals_libm_on_every_f32`, on a stride of every binade in CI): −∞ at x = −1, NaN
/// below, x itself for |x| < 2⁻²⁴.
///
/// For x ∈ [√2/2 − 1, √2 − 1) it is the `logf` tail of f = x; otherwise of the reduced mantissa of
/// u = 1 + x, plus the correction c = (x − (u − 1))/u (or (1 − (u − x))/u for u ≥ 2) for the
/// rounding of u, dropped when u ≥ 2²⁵. The mixture's responsibilities take ln p = m + ln(1 + t)
/// with t ≥ 0 from here. No branch and no call (≈ 40 Cortex-M4 instructions, two `vdiv`).
#[inline]
pub(super) fn log1pf(x: f32) -> f32 {
    let ix = x.to_bits();
    let negative = (ix >> 31) != 0;
    let u = 1.0 + x;
    let iu = u.to_bits().wrapping_add(0x3f80_0000 - 0x3f35_04f3);
    let ku = ((iu >> 23) as i32).wrapping_sub(0x7f);
    let c = if ku >= 2 { 1.0 - (u - x) } else { x - (u - 1.0) };
    let c = if ku < 25 { c / u } else { 0.0 };
    let fu = f32::from_bits((iu & 0x007f_ffff) + 0x3f35_04f3) - 1.0;
    // √2/2 − 1 ≤ x < √2 − 1: no reduction (k = 0, c = 0, f = x).
    let direct = ix < 0x3ed4_13d0 || (negative && ix <= 0xbe95_f619);
    let (k, c, f) = if direct { (0, 0.0, x) } else { (ku, c, fu) };
    let (s_part, hfsq) = tail(f);
    let dk = k as f32;
    let y = s_part + (dk * LN2_LO + c) - hfsq + f + dk * LN2_HI;
    if ix >= 0xbf80_0000 {
        // x ≤ −1 or a negative NaN
        if x == -1.0 { f32::NEG_INFINITY } else { f32::NAN }
    } else if (ix << 1) < (0x3380_0000 << 1) || (!negative && ix >= 0x7f80_0000) {
        x // |x| < 2⁻²⁴, +∞, NaN
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::bit_check::same;

    /// Checks `log1pf` against `libm::log1pf` on the patterns `0, step, 2·step, …` of both signs.
    fn check_stride(step: u32) -> u64 {
        crate::math::bit_check::check_stride("log1pf", log1pf, libm::log1pf, step)
    }

    /// A prime stride (≈ 1.05 million inputs, every binade of both signs) plus the
    /// neighbourhoods of each case boundary: |x| = 2⁻²⁴, x = √2/2 − 1, √2 − 1, 1 (u = 2), 2²⁵ − 1
    /// (the correction dropped), −1 and ∞.
    #[test]
    fn log1pf_equals_libm_on_a_stride_of_every_binade_and_at_each_threshold() {
        assert!(check_stride(4099) > 1_000_000);
        for t in
            [0x3380_0000u32, 0xb380_0000, 0xbe95_f619, 0x3ed4_13d0, 0x3f80_0000, 0x4bff_ffff, 0xbf80_0000]
        {
            for b in t - 64..=t + 64 {
                let x = f32::from_bits(b);
                assert!(same(log1pf(x), libm::log1pf(x)), "log1pf({x:e} = {b:#010x})");
            }
        }
        assert_eq!(log1pf(-1.0), f32::NEG_INFINITY);
        assert_eq!(log1pf(0.0).to_bits(), 0);
        assert_eq!(log1pf(f32::INFINITY), f32::INFINITY);
        assert!(log1pf(-2.0).is_nan() && log1pf(f32::NAN).is_nan());
    }

    /// All 2³² inputs: `cargo test -p crabmix-kernels --release log1pf_equals_libm_on_every_f32 -- --ignored`.
    #[test]
    #[ignore = "exhaustive: 2^32 inputs, run in release"]
    fn log1pf_equals_libm_on_every_f32() {
        assert_eq!(check_stride(1), 1u64 << 32);
    }
}
