//! The branch-free `f32` exp/log pair of the EM hot paths (issue 19): eˣ for x ≤ 0
//! ([`exp_neg_f32`]: the responsibilities' e^{a_k − m}, the log-sum-exps, the online step size
//! e^(−α ln(n + n0))) and ln(1 + t) for t ≥ 0 ([`ln_1p_nonneg_f32`]: the E-step's
//! ln p = m + ln(1 + t)). Each is a range reduction and a short polynomial in Horner form (one
//! `vmla.f32` per degree on a Cortex-M4F), with no call and no branch; both are tested on every
//! `f32` of their domain against the `f64` functions (tests below; ≈ 30 s each at the test
//! profile's opt-level 2 on two loaded cores): eˣ within 1.35 ulp, ln(1 + t) within 1.25 ulp. The host and the device run this same code, so their results stay
//! equal bit for bit; the `f64` kernels keep libm.

use super::exp_nonpositive::{F32_ZERO_BELOW, reduce_f32, scale_f32};

/// Below this argument [`exp_neg_f32`] returns exactly 0 (its clamp; e⁻¹⁰⁴ < 2⁻¹⁵⁰ rounds to 0).
const EXP_NEG_CLAMP: f32 = F32_ZERO_BELOW;

/// Coefficients c₀ … c₆ of p(r) ≈ eʳ on |r| ≤ ln 2 / 2, highest degree first: the degree-6
/// polynomial of least maximal relative error (Remez, |p(r)/eʳ − 1| ≤ 1.86e-9 before rounding
/// the coefficients to `f32`, which moves it by < 1.3e-8; half an ulp is ≥ 2.98e-8).
const EXP_POLY: [f32; 7] = [
    f32::from_bits(0x3ab5_5cb7), // 1.3836835e-3
    f32::from_bits(0x3c09_368f), // 8.374824e-3
    f32::from_bits(0x3d2a_ac4d), // 4.1668225e-2
    f32::from_bits(0x3e2a_aa05), // 1.666642e-1
    f32::from_bits(0x3eff_fffd), // 4.9999991e-1
    1.0,
    1.0,
];

/// eˣ for x ≤ 0, branch-free: the largest error is **1.35 ulp** (measured: 1.3411 ulp, at
/// x = −5.1952667, against the `f64` eˣ on every `f32` in [−104, 0]; subnormal results are
/// counted in units of 2⁻¹⁴⁹, the spacing there; libm's `expf` is < 1 ulp). The bound is the
/// two roundings of each Horner step and of r: no fused multiply-add on stable `core`, and
/// `vmla.f32` rounds twice as well, which keeps the host and the device on the same bits. e^±0 = 1 exactly; x < −104 (−∞ included) gives
/// exactly 0, as libm's `expf` does below −103.972084; NaN gives NaN; x > 0 is outside the domain
/// (a finite or infinite value, never a panic).
///
/// x = n ln 2 + r with n = round(x log₂e) (the 1.5·2²³ shift) and |r| ≤ ln 2 / 2 (Cody–Waite:
/// ln 2 = ln2_hi + ln2_lo, ln2_hi with 9 significant bits so that n·ln2_hi is exact); eʳ by the
/// degree-6 minimax polynomial [`EXP_POLY`] in Horner form; 2ⁿ applied in two halves
/// 2^⌊n/2⌋ · 2^(n−⌊n/2⌋), each a normal power of two for n ≥ −150, so that a subnormal result is
/// rounded once. ≈ 25 Cortex-M4 instructions (libm's `expf`, branch-free: ≈ 90).
#[inline]
pub(super) fn exp_neg_f32(x: f32) -> f32 {
    // A select, not a branch; keeps n in [−150, 0] (NaN passes through and stays NaN).
    let x = if x < EXP_NEG_CLAMP { EXP_NEG_CLAMP } else { x };
    let (n, r) = reduce_f32(x);
    // Horner written out: at opt-level "s" LLVM keeps a loop over the array (and copies it).
    let [c6, c5, c4, c3, c2, c1, c0] = EXP_POLY;
    let p = ((((((c6 * r + c5) * r + c4) * r + c3) * r + c2) * r + c1) * r) + c0;
    scale_f32(p, n)
}

/// ln(1 + t) for finite t ≥ 0, branch-free: the largest error is **1.25 ulp** (measured:
/// 1.2314 ulp, at t = 0.27583852, against the `f64` ln(1 + t) on every finite `f32` t ≥ 0;
/// libm's `log1pf` is < 1 ulp). ln(1 + 0) = +0; t < 2⁻²⁴ gives t.
/// Negative, infinite or NaN t are outside the domain (some value, never a panic).
///
/// u = 1 + t rounded, ln(1 + t) = ln u + ln(1 + e/u) ≈ ln u + e/u with e = (1 + t) − u, exact
/// (t − (u − 1) for u ≤ 2, 1 − (u − t) above, both differences exact by Sterbenz' lemma), the
/// dropped term (e/u)²/2 ≤ 2⁻⁵⁰. ln u is libm's `logf` for the normal u ≥ 1 (`logf::logf`'s normal path,
/// FreeBSD's reduction and polynomial, < 1 ulp; equal to libm bit for bit). ≈ 30 Cortex-M4
/// instructions (libm's `log1pf`, branch-free: ≈ 80).
#[inline]
pub(super) fn ln_1p_nonneg_f32(t: f32) -> f32 {
    let u = 1.0 + t;
    let e = if u <= 2.0 { t - (u - 1.0) } else { 1.0 - (u - t) };
    // `logf` itself (its positive-normal path, u ≥ 1): one copy of the core in an image.
    super::logf::logf(u) + e / u
}

#[cfg(test)]
mod tests {
    use super::*;

    /// |got − want| in units of the `f32` spacing at `want` (2⁻¹⁴⁹ below the normal range): the
    /// spacing of the binade [2^e, 2^(e+1)) holding `want`, from its `f64` exponent bits.
    fn ulps(got: f32, want: f64) -> f64 {
        let e = ((want.to_bits() >> 52) & 0x7ff) as i64 - 1023;
        let spacing = f64::from_bits(((e.max(-126) - 23 + 1023) as u64) << 52);
        (got as f64 - want).abs() / spacing
    }

    /// ln(1 + t) in `f64` for t ≥ 0, fast: 1 + t is exact in `f64` for 2⁻¹² ≤ t < 2²⁹ (and
    /// rounds by 2⁻⁵³ relative above, which moves the log by < 2⁻⁵³); below 2⁻¹², the series to
    /// t³/3 (truncation < t⁴/4 ≤ 2⁻³⁸ t).
    fn ln_1p_f64(t: f64) -> f64 {
        if t < 1.0 / 4096.0 { t - t * t * 0.5 + t * t * t / 3.0 } else { (1.0 + t).ln() }
    }

    /// The worst error of `f` against `reference` over the `f32` bit patterns `lo..=hi`, split over
    /// the host's threads; returns (worst ulps, its input).
    fn worst_over(lo: u32, hi: u32, f: fn(f32) -> f32, reference: fn(f64) -> f64) -> (f64, f32) {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8) as u32;
        let span = (hi - lo) / threads + 1;
        std::thread::scope(|s| {
            let handles: std::vec::Vec<_> = (0..threads)
                .map(|i| {
                    s.spawn(move || {
                        let a = lo.saturating_add(i * span);
                        let b = a.saturating_add(span - 1).min(hi);
                        let mut worst = (0.0f64, 0.0f32);
                        let mut bits = a;
                        while a <= hi && bits <= b {
                            let x = f32::from_bits(bits);
                            let u = ulps(f(x), reference(x as f64));
                            if !(u <= worst.0) {
                                worst = (u, x);
                            }
                            if bits == b {
                                break;
                            }
                            bits += 1;
                        }
                        worst
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .fold((0.0, 0.0), |w, v| if v.0 > w.0 { v } else { w })
        })
    }

    /// Every `f32` in [−104, 0] (−0 included: 1.12·10⁹ inputs): within 1.35 ulp of eˣ (worst 1.3411 ulp, at
    /// x = −5.1952667).
    #[test]
    // These functions do not depend on the backend: the default build's run covers them, and the
    // `micromath` run (scripts/test-all.sh) would repeat ~22 s of exhaustive work.
    #[cfg_attr(feature = "micromath", ignore = "backend-independent; exhaustive run in the default build")]
    fn exp_neg_is_within_1_35_ulp_on_every_f32_of_its_domain() {
        let (worst, at) = worst_over(0x8000_0000, EXP_NEG_CLAMP.to_bits(), exp_neg_f32, f64::exp);
        std::println!("exp_neg_f32: worst {worst:.4} ulp at {at:e}");
        assert!(worst <= 1.35, "exp_neg_f32: {worst} ulp at {at:e} = {:#010x}", at.to_bits());
        assert_eq!(exp_neg_f32(0.0).to_bits(), 1.0f32.to_bits());
        assert_eq!(exp_neg_f32(-0.0).to_bits(), 1.0f32.to_bits());
        // Below the clamp (−∞ included): exactly 0; NaN stays NaN.
        for x in [-104.0f32, -104.000_01, -1e7, -1.2e7, f32::MIN, f32::NEG_INFINITY] {
            assert_eq!(exp_neg_f32(x).to_bits(), 0, "{x}");
        }
        assert!(exp_neg_f32(f32::NAN).is_nan());
        // Nearly libm's: the same 0 threshold within its rounding (e⁻¹⁰³·⁹⁷ ≈ 2⁻¹⁵⁰).
        assert!(exp_neg_f32(-103.9) > 0.0);
    }

    /// Every finite `f32` t ≥ 0 (2.14·10⁹ inputs): within 1.25 ulp of ln(1 + t) (worst 1.2314 ulp, at
    /// t = 0.27583852).
    #[test]
    // These functions do not depend on the backend: the default build's run covers them, and the
    // `micromath` run (scripts/test-all.sh) would repeat ~22 s of exhaustive work.
    #[cfg_attr(feature = "micromath", ignore = "backend-independent; exhaustive run in the default build")]
    fn ln_1p_nonneg_is_within_1_25_ulp_on_every_f32_of_its_domain() {
        let (worst, at) = worst_over(0, f32::MAX.to_bits(), ln_1p_nonneg_f32, ln_1p_f64);
        std::println!("ln_1p_nonneg_f32: worst {worst:.4} ulp at {at:e}");
        assert!(worst <= 1.25, "ln_1p_nonneg_f32: {worst} ulp at {at:e} = {:#010x}", at.to_bits());
        assert_eq!(ln_1p_nonneg_f32(0.0).to_bits(), 0);
        assert_eq!(ln_1p_nonneg_f32(1e-30), 1e-30);
        assert_eq!(ln_1p_nonneg_f32(f32::MIN_POSITIVE / 4.0), f32::MIN_POSITIVE / 4.0);
    }
}
