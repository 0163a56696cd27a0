//! eˣ for x ≤ 0, branch-free, in an FMA and a two-rounding form: the kernels'
//! `exp_nonpositive` (Cody–Waite reduction, Taylor polynomial, 2ⁿ from exponent bits; see
//! `crabmix_kernels::Real::exp_nonpositive`) with every multiply-add a [`SimdReal::madd`].
//!
//! Error bound (tested below on a dense grid of [`Real::EXP_ZERO_BELOW`], 0] and at every switch
//! of n, both forms): within 2 ulp of the correctly rounded eˣ (for `f32`: f64's `exp` rounded to
//! `f32`; for `f64`: std's `exp`, itself within 1 ulp), subnormal results counted in units of the
//! smallest subnormal (measured: at most 1 ulp on a grid of 2·10⁶ points, both forms, both
//! types). e⁰ = 1 exactly. Below `EXP_ZERO_BELOW` (−∞ included) x is clamped to it,
//! giving 0 or the smallest subnormal; above 0 the value is unspecified (never a panic).
//!
//! [`SimdReal::madd`]: super::SimdReal::madd
//! [`Real::EXP_ZERO_BELOW`]: crabmix_kernels::Real::EXP_ZERO_BELOW

use super::SimdReal;
use crabmix_kernels::math::{EXP_TAYLOR_F32, EXP_TAYLOR_F64};

/// eˣ for `f32`, x ≤ 0: n = round(x·log₂e) by the 1.5·2²³ shift (exact for |x·log₂e| < 2²²,
/// which the clamp at −104 ensures), r = x − n·ln2_hi − n·ln2_lo (ln2_hi's 9 significant bits
/// make n·ln2_hi exact), eʳ ≈ Σ_{i≤7} rⁱ/i! (|r| ≤ ln 2 / 2 + 2⁻²³: truncation ≤ 0.35⁸/8! ≈
/// 5e-9, below half an ulp), 2ⁿ = 2^⌊n/2⌋ · 2^(n−⌊n/2⌋), each a normal number for n ≥ −150.
#[inline(always)]
pub fn exp_nonpositive_f32<const FMA: bool>(x: f32) -> f32 {
    // `libm::expf` is exactly 0 below −103.972084; the clamp (a select) keeps n within i32.
    let x = if x < -104.0 { -104.0 } else { x };
    let (p, n) = reduced_f32::<FMA>(x);
    let n1 = n >> 1;
    let s1 = f32::from_bits(((n1 + 127) as u32) << 23);
    let s2 = f32::from_bits(((n - n1 + 127) as u32) << 23);
    p * s1 * s2
}

/// (eʳ, n) with eˣ = eʳ · 2ⁿ, for −104 ≤ x ≤ 0 (see [`exp_nonpositive_f32`]).
#[inline(always)]
fn reduced_f32<const FMA: bool>(x: f32) -> (f32, i32) {
    const SHIFT: f32 = 12_582_912.0; // 1.5 · 2²³
    const LN2_HI: f32 = f32::from_bits(0x3f31_8000); // 0.693359375
    const LN2_LO: f32 = f32::from_bits(0xb95e_8083); // −2.1219444e-4
    let madd = f32::madd::<FMA>;
    let t = madd(x, core::f32::consts::LOG2_E, SHIFT);
    let n = t.to_bits() as i32 - SHIFT.to_bits() as i32;
    let nf = t - SHIFT;
    let r = madd(-nf, LN2_LO, madd(-nf, LN2_HI, x));
    let [lead, rest @ ..] = EXP_TAYLOR_F32;
    let mut p = lead;
    for c in rest {
        p = madd(p, r, c);
    }
    (p, n)
}

/// eˣ for `f64`, x ≤ 0: as [`exp_nonpositive_f32`] with the 1.5·2⁵² shift, fdlibm's ln 2 split
/// (e_exp.c) and the Taylor polynomial to degree 13 (truncation ≤ 0.35¹⁴/14! ≈ 4e-18); clamped
/// at −746 (`exp` is exactly 0 below −745.133219).
#[inline(always)]
pub fn exp_nonpositive_f64<const FMA: bool>(x: f64) -> f64 {
    let x = if x < -746.0 { -746.0 } else { x };
    let (p, n) = reduced_f64::<FMA>(x);
    let n1 = n >> 1;
    let s1 = f64::from_bits(((n1 + 1023) as u64) << 52);
    let s2 = f64::from_bits(((n - n1 + 1023) as u64) << 52);
    p * s1 * s2
}

/// (eʳ, n) with eˣ = eʳ · 2ⁿ, for −746 ≤ x ≤ 0 (see [`exp_nonpositive_f64`]).
#[inline(always)]
fn reduced_f64<const FMA: bool>(x: f64) -> (f64, i64) {
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 · 2⁵²
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000); // 6.93147180369123816490e-01
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76); // 1.90821492927058770002e-10
    let madd = f64::madd::<FMA>;
    let t = madd(x, core::f64::consts::LOG2_E, SHIFT);
    let n = t.to_bits() as i64 - SHIFT.to_bits() as i64;
    let nf = t - SHIFT;
    let r = madd(-nf, LN2_LO, madd(-nf, LN2_HI, x));
    let [lead, rest @ ..] = EXP_TAYLOR_F64;
    let mut p = lead;
    for c in rest {
        p = madd(p, r, c);
    }
    (p, n)
}

/// eˣ for `f64` on −708 ≤ x ≤ 0, inside the range of normal results (ln(`f64::MIN_POSITIVE`)
/// ≈ −708.40): [`exp_nonpositive_f64`] without its clamp and with 2ⁿ as one factor. There
/// n = round(x·log₂e) ≥ −1022, so 2ⁿ is a normal number, and so is the result (eˣ >
/// `MIN_POSITIVE`): the split of 2ⁿ into two factors, which only subnormal results need, is left
/// out (five vector operations of about thirty). Same error bound (within 2 ulp, tested below).
/// Below the range the value is unspecified (never a panic); callers clamp first, as the block
/// pass does at ⌈ln(K·MIN_POSITIVE)⌉.
#[inline(always)]
pub fn exp_normal_f64<const FMA: bool>(x: f64) -> f64 {
    let (p, n) = reduced_f64::<FMA>(x);
    p * f64::from_bits(((n + 1023) as u64) << 52)
}

/// [`exp_normal_f64`] for `f32`: −87 ≤ x ≤ 0 (ln(`f32::MIN_POSITIVE`) ≈ −87.34), n ≥ −126.
#[inline(always)]
pub fn exp_normal_f32<const FMA: bool>(x: f32) -> f32 {
    let (p, n) = reduced_f32::<FMA>(x);
    p * f32::from_bits(((n + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest bit distance to the reference over a dense grid of [lo, 0] and the points
    /// around every multiple of ln 2 / 2 (where the reduction switches n).
    fn worst_ulps(lo: f64, f: impl Fn(f64) -> (u64, u64)) -> u64 {
        let grid = (0..=400_000u32).map(|i| lo * i as f64 / 4e5);
        let switches = (0..2200)
            .flat_map(|n| [-1e-7, 0.0, 1e-7].map(|dx| -(n as f64) * core::f64::consts::LN_2 / 2.0 + dx));
        grid.chain(switches)
            .filter(|x| (lo..=0.0).contains(x))
            .map(|x| {
                let (got, want) = f(x);
                got.abs_diff(want)
            })
            .max()
            .unwrap()
    }

    fn check<const FMA: bool>() {
        let f32_ulps = worst_ulps(-104.0, |x| {
            let x = x as f32;
            (exp_nonpositive_f32::<FMA>(x).to_bits() as u64, ((x as f64).exp() as f32).to_bits() as u64)
        });
        let f64_ulps = worst_ulps(-746.0, |x| (exp_nonpositive_f64::<FMA>(x).to_bits(), x.exp().to_bits()));
        assert!(f32_ulps <= 2 && f64_ulps <= 2, "FMA {FMA}: worst ulps f32 {f32_ulps}, f64 {f64_ulps}");
        assert_eq!(exp_nonpositive_f32::<FMA>(0.0), 1.0);
        assert_eq!(exp_nonpositive_f64::<FMA>(-0.0), 1.0);
        for x in [-104.5f32, -1e7, -1.2e7, f32::NEG_INFINITY] {
            assert!(exp_nonpositive_f32::<FMA>(x).to_bits() <= 1, "f32 {x}");
        }
        for x in [-746.5f64, -5e15, f64::NEG_INFINITY] {
            assert!(exp_nonpositive_f64::<FMA>(x).to_bits() <= 1, "f64 {x}");
        }
    }

    #[test]
    fn exp_nonpositive_is_within_2_ulp_with_and_without_fma() {
        check::<false>();
        check::<true>();
    }

    /// The normal-range forms against the reference on their whole range, which ends next to
    /// ln(MIN_POSITIVE), and every result there a normal number.
    fn check_normal<const FMA: bool>() {
        let lo32 = -87.0f32;
        let f32_ulps = worst_ulps(f64::from(lo32), |x| {
            let x = (x as f32).max(lo32);
            let got = exp_normal_f32::<FMA>(x);
            assert!(got.is_normal(), "f32 {x}: {got}");
            (got.to_bits() as u64, ((x as f64).exp() as f32).to_bits() as u64)
        });
        let lo64 = -708.0;
        let f64_ulps = worst_ulps(lo64, |x| {
            let x = x.max(lo64);
            let got = exp_normal_f64::<FMA>(x);
            assert!(got.is_normal(), "f64 {x}: {got}");
            (got.to_bits(), x.exp().to_bits())
        });
        assert!(f32_ulps <= 2 && f64_ulps <= 2, "FMA {FMA}: worst ulps f32 {f32_ulps}, f64 {f64_ulps}");
        assert_eq!(exp_normal_f32::<FMA>(0.0), 1.0);
        assert_eq!(exp_normal_f64::<FMA>(-0.0), 1.0);
        // Where both forms apply they are one computation.
        for x in [-1.0f64, -87.0, -700.0, lo64] {
            assert_eq!(exp_normal_f64::<FMA>(x), exp_nonpositive_f64::<FMA>(x), "{x}");
        }
        for x in [-1.0f32, -50.0, -87.0, lo32] {
            assert_eq!(exp_normal_f32::<FMA>(x), exp_nonpositive_f32::<FMA>(x), "{x}");
        }
    }

    #[test]
    fn exp_normal_is_within_2_ulp_and_normal_with_and_without_fma() {
        check_normal::<false>();
        check_normal::<true>();
    }
}
