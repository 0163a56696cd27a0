//! ln x in `f32` without a branch: libm's `logf` (FreeBSD `e_logf.c`) with its special cases
//! turned into selects, bit for bit the same function.

/* origin: libm 0.2.16 src/math/logf.rs, from FreeBSD /usr/src/lib/msun/src/e_logf.c
 * (Copyright (C) 1993 by Sun Microsystems, Inc.; freely distributable with this notice). */
pub(super) const LN2_HI: f32 = f32::from_bits(0x3f31_7180); // 6.9313812256e-01
pub(super) const LN2_LO: f32 = f32::from_bits(0x3717_f7d1); // 9.0580006145e-06
// |(ln(1 + s) − ln(1 − s))/s − Lg(s)| < 2^−34.24 (FreeBSD).
pub(super) const LG1: f32 = f32::from_bits(0x3f2a_aaaa); // 0.66666662693
pub(super) const LG2: f32 = f32::from_bits(0x3ecc_ce13); // 0.40000972152
pub(super) const LG3: f32 = f32::from_bits(0x3e91_e9ee); // 0.28498786688
pub(super) const LG4: f32 = f32::from_bits(0x3e78_9e26); // 0.24279078841

/// ln(1 + f) − f + ½f² … the shared tail of `logf` and `log1pf`: with s = f/(2 + f),
/// s·(½f² + R(s²)) for f ∈ [√2/2 − 1, √2 − 1], R FreeBSD's polynomial; returns (that, ½f²).
#[inline(always)]
pub(super) fn tail(f: f32) -> (f32, f32) {
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * LG4);
    let t2 = z * (LG1 + w * LG3);
    let r = t2 + t1;
    let hfsq = 0.5 * f * f;
    (s * (hfsq + r), hfsq)
}

/// ln x for every `f32`, equal bit for bit to `libm::logf` (error < 1 ulp, FreeBSD's bound for
/// `e_logf.c`; checked against libm on every `f32` by the ignored test
/// `logf_equals_libm_on_every_f32`, on a stride of every binade in CI): ln(±0) = −∞,
/// ln(x < 0) = NaN, ln(+∞) = +∞, NaN → NaN.
///
/// x = 2ᵏ·m with m ∈ [√2/2, √2) (a subnormal x first scaled by 2²⁵, as libm does), then
/// ln x = k·ln2_hi + (f − ½f² + s·(½f² + R) + k·ln2_lo) with f = m − 1 ([`ln_normal`]). A
/// positive normal x (one integer compare on its bits) goes straight there, libm's own path with
/// nothing selected; the rare inputs take one branch to their case (x = 1 needs none: that path
/// gives +0 there, as libm's early return does). No call, ≈ 25 Cortex-M4 instructions with one
/// `vdiv` (the branch-free copy of every case that this replaced: ≈ 63 and a call).
#[inline]
pub(super) fn logf(x: f32) -> f32 {
    let ix0 = x.to_bits();
    // One copy of the core (flash on the Cortex-M0): the rare cases pick its arguments or return.
    let (ix, bias) = if ix0.wrapping_sub(0x0080_0000) < 0x7f80_0000 - 0x0080_0000 {
        (ix0, 0x7f)
    } else if ix0 << 1 == 0 {
        return f32::NEG_INFINITY; // ±0
    } else if (ix0 >> 31) != 0 {
        return f32::NAN; // x < 0 (libm: (x − x)/0)
    } else if ix0 >= 0x7f80_0000 {
        return x; // +∞, NaN
    } else {
        ((x * f32::from_bits(0x4c00_0000)).to_bits(), 0x7f + 25) // subnormal · 2²⁵
    };
    ln_normal(ix, bias)
}

/// libm's `logf` on the bits `ix` of a positive normal `f32` x·2^(bias − 127): k = exponent −
/// bias after moving m into [√2/2, √2), f = m − 1 (exact), then FreeBSD's tail and the
/// k·ln 2 terms in libm's order. For bits that are not a positive normal number the value is
/// unspecified (never a panic).
#[inline(always)]
pub(super) fn ln_normal(ix: u32, bias: i32) -> f32 {
    let ix = ix.wrapping_add(0x3f80_0000 - 0x3f35_04f3);
    let k = ((ix >> 23) as i32).wrapping_sub(bias);
    let m = f32::from_bits((ix & 0x007f_ffff) + 0x3f35_04f3);
    let f = m - 1.0;
    let (s_part, hfsq) = tail(f);
    let dk = k as f32;
    s_part + dk * LN2_LO - hfsq + f + dk * LN2_HI
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::bit_check::same;

    /// Checks `logf` against `libm::logf` on the patterns `0, step, 2·step, …` of both signs.
    fn check_stride(step: u32) -> u64 {
        crate::math::bit_check::check_stride("logf", logf, libm::logf, step)
    }

    /// A prime stride (≈ 1.05 million inputs, every binade of both signs, subnormals included)
    /// plus the neighbourhoods of 1, √2/2, the subnormal boundary, 0 and ∞.
    #[test]
    fn logf_equals_libm_on_a_stride_of_every_binade_and_at_each_threshold() {
        assert!(check_stride(4099) > 1_000_000);
        for t in [0x3f80_0000u32, 0x3f35_04f3, 0x0080_0000, 0x0000_0040, 0x7f7f_ffc0] {
            for b in t - 64..=t + 64 {
                let x = f32::from_bits(b);
                assert!(same(logf(x), libm::logf(x)), "logf({x:e} = {b:#010x})");
            }
        }
        assert_eq!(logf(0.0), f32::NEG_INFINITY);
        assert_eq!(logf(-0.0), f32::NEG_INFINITY);
        assert_eq!(logf(1.0).to_bits(), 0);
        assert_eq!(logf(f32::INFINITY), f32::INFINITY);
        assert!(logf(-1.0).is_nan() && logf(f32::NAN).is_nan());
    }

    /// All 2³² inputs: `cargo test -p crabmix-kernels --release logf_equals_libm_on_every_f32 -- --ignored`.
    #[test]
    #[ignore = "exhaustive: 2^32 inputs, run in release"]
    fn logf_equals_libm_on_every_f32() {
        assert_eq!(check_stride(1), 1u64 << 32);
    }
}
