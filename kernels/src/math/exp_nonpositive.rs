//! eˣ for x ≤ 0 without a branch or a call (Cody–Waite reduction, Taylor polynomial, 2ⁿ from
//! exponent bits): what `Real::exp_nonpositive` computes.

/// Below this `f32` argument libm's `expf` returns exactly 0 (x ≤ −103.972084): the clamp of
/// [`exp_nonpositive_f32`] and `F32_ZERO_BELOW`.
pub(super) const F32_ZERO_BELOW: f32 = -104.0;
/// Below this `f64` argument libm's `exp` returns exactly 0 (x < −745.133219).
pub(super) const F64_ZERO_BELOW: f64 = -746.0;

/// Horner coefficients of the degree-7 Taylor polynomial of eʳ, highest degree first:
/// 1/7!, 1/6!, …, 1/1!, 1 (the `f32` reduction; shared with the host's SIMD exp).
pub const EXP_TAYLOR_F32: [f32; 8] =
    [1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0];

/// Horner coefficients of the degree-13 Taylor polynomial of eʳ, highest degree first:
/// 1/13!, 1/12!, …, 1/1!, 1 (the `f64` reduction; shared with the host's SIMD exp).
pub const EXP_TAYLOR_F64: [f64; 14] = [
    1.0 / 6_227_020_800.0,
    1.0 / 479_001_600.0,
    1.0 / 39_916_800.0,
    1.0 / 3_628_800.0,
    1.0 / 362_880.0,
    1.0 / 40_320.0,
    1.0 / 5040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
    1.0,
    1.0,
];

/// `Real::exp_nonpositive` for `f32`. n = round(x·log₂e) by the 1.5·2²³ shift (exact for
/// |x·log₂e| < 2²²); r = x − n·ln2_hi − n·ln2_lo, with ln2_hi's 9 significant bits making n·ln2_hi
/// exact; eʳ ≈ Σ_{i≤7} rⁱ/i! (truncation ≤ 0.35⁸/8! ≈ 5e-9, below half an ulp); 2ⁿ = 2^⌊n/2⌋ ·
/// 2^(n−⌊n/2⌋), each a normal number for n ≥ −150.
#[inline(always)]
pub(super) fn exp_nonpositive_f32(x: f32) -> f32 {
    // The clamp (a select, not a branch) keeps n within i32 arithmetic for any x ≤ 0.
    let x = if x < F32_ZERO_BELOW { F32_ZERO_BELOW } else { x };
    let (n, r) = reduce_f32(x);
    let [lead, rest @ ..] = EXP_TAYLOR_F32;
    let mut p = lead;
    for c in rest {
        p = p * r + c;
    }
    scale_f32(p, n)
}

/// The `f32` reduction x = n·ln 2 + r, |r| ≤ ln 2 / 2, for x ∈ [−104, 0] (NaN gives a NaN r):
/// n = round(x·log₂e) by the 1.5·2²³ shift (exact for |x·log₂e| < 2²²), r = x − n·ln2_hi − n·ln2_lo
/// with ln2_hi's 9 significant bits making n·ln2_hi exact. Shared with `exp_ln::exp_neg_f32`.
#[inline(always)]
pub(super) fn reduce_f32(x: f32) -> (i32, f32) {
    const SHIFT: f32 = 12_582_912.0; // 1.5 · 2²³
    const LN2_HI: f32 = f32::from_bits(0x3f31_8000); // 0.693359375
    const LN2_LO: f32 = f32::from_bits(0xb95e_8083); // −2.1219444e-4
    let t = x * core::f32::consts::LOG2_E + SHIFT;
    // Wrapping: the values never wrap for x in [−104, 0], and an overflow check would be a
    // panic path (firmware/panic-paths.sh).
    let n = (t.to_bits() as i32).wrapping_sub(SHIFT.to_bits() as i32);
    let nf = t - SHIFT;
    (n, (x - nf * LN2_HI) - nf * LN2_LO)
}

/// p·2ⁿ for n ∈ [−150, 0], as 2^⌊n/2⌋ · 2^(n−⌊n/2⌋), each a normal power of two, so that a
/// subnormal result rounds once.
#[inline(always)]
pub(super) fn scale_f32(p: f32, n: i32) -> f32 {
    let n1 = n >> 1;
    let s1 = f32::from_bits((n1.wrapping_add(127) as u32) << 23);
    let s2 = f32::from_bits((n.wrapping_sub(n1).wrapping_add(127) as u32) << 23);
    p * s1 * s2
}

/// `Real::exp_nonpositive` for `f64`: as the `f32` one with the 1.5·2⁵² shift, fdlibm's ln 2
/// split and the Taylor polynomial to degree 13 (truncation ≤ 0.35¹⁴/14! ≈ 4e-18).
#[inline(always)]
pub(super) fn exp_nonpositive_f64(x: f64) -> f64 {
    let x = if x < F64_ZERO_BELOW { F64_ZERO_BELOW } else { x };
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 · 2⁵²
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000); // 6.93147180369123816490e-01
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76); // 1.90821492927058770002e-10
    let t = x * core::f64::consts::LOG2_E + SHIFT;
    let n = t.to_bits() as i64 - SHIFT.to_bits() as i64;
    let nf = t - SHIFT;
    let r = (x - nf * LN2_HI) - nf * LN2_LO;
    let [lead, rest @ ..] = EXP_TAYLOR_F64;
    let mut p = lead;
    for c in rest {
        p = p * r + c;
    }
    let n1 = n >> 1;
    let s1 = f64::from_bits(((n1 + 1023) as u64) << 52);
    let s2 = f64::from_bits(((n - n1 + 1023) as u64) << 52);
    p * s1 * s2
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ulps between a and b (same sign, both finite).
    fn ulps64(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn exp_nonpositive_is_within_2_ulp_of_libm() {
        // A dense grid over [EXP_ZERO_BELOW, 0] plus the points near every multiple of ln 2 / 2
        // (where the reduction switches n), against libm; bit distances count subnormal results
        // in units of the smallest subnormal.
        let mut worst = (0u64, 0u64);
        for i in 0..=2_000_000u32 {
            let x64 = -746.0 * i as f64 / 2e6;
            worst.1 = worst.1.max(ulps64(exp_nonpositive_f64(x64), libm::exp(x64)));
            let x32 = (-104.0 * i as f64 / 2e6) as f32;
            let u =
                (exp_nonpositive_f32(x32).to_bits() as i64 - libm::expf(x32).to_bits() as i64).unsigned_abs();
            worst.0 = worst.0.max(u);
        }
        for n in 0..2100 {
            for dx in [-1e-7, 0.0, 1e-7] {
                let x = -(n as f64) * core::f64::consts::LN_2 / 2.0 + dx;
                if (-746.0..=0.0).contains(&x) {
                    worst.1 = worst.1.max(ulps64(exp_nonpositive_f64(x), libm::exp(x)));
                }
                let x = x as f32;
                if (-104.0..=0.0).contains(&x) {
                    let u = (exp_nonpositive_f32(x).to_bits() as i64 - libm::expf(x).to_bits() as i64)
                        .unsigned_abs();
                    worst.0 = worst.0.max(u);
                }
            }
        }
        assert!(worst.0 <= 2 && worst.1 <= 2, "worst ulps f32 {} f64 {}", worst.0, worst.1);
        assert_eq!(exp_nonpositive_f32(0.0), 1.0);
        assert_eq!(exp_nonpositive_f64(0.0), 1.0);
        assert_eq!(exp_nonpositive_f64(-0.0), 1.0);
        // Below the threshold (and at −∞, and where the unclamped shift would overflow i32 or
        // i64): 0 or the smallest subnormal, no panic.
        for x in [-104.5f32, -1e7, -1.2e7, f32::NEG_INFINITY] {
            assert!(exp_nonpositive_f32(x).to_bits() <= 1, "f32 {x}");
        }
        for x in [-746.5f64, -5e15, f64::NEG_INFINITY] {
            assert!(exp_nonpositive_f64(x).to_bits() <= 1, "f64 {x}");
        }
    }
}
