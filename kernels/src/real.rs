//! The floating-point scalar the kernels are generic over, and the math backend behind it.
//!
//! Every kernel is written once for `T: Real` and instantiated for `f32` and `f64`. The accurate
//! functions (`exp`, `ln`, `sqrt`, …) always come from `libm`: Cholesky factors, log-densities and
//! likelihood sums use only those. `fast_exp` is the one place a faster, approximate backend may
//! enter: with the `micromath` feature, `f32::fast_exp` is micromath's `exp` (≈1e-3 relative, up to 2.3e-3 measured
//! error, per its documentation) and is used only to turn log-responsibilities into
//! responsibilities. [`BACKEND`] records which backend a build uses, and fit reports carry it.

use core::fmt::{Debug, Display};
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// Which implementation supplies `fast_exp` for `f32` in this build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MathBackend {
    /// `libm` everywhere (the default): correctly rounded to within 1 ulp.
    Libm,
    /// `micromath` for `f32::fast_exp` (≈1e-3 relative error), `libm` for everything else.
    Micromath,
}

impl MathBackend {
    /// Lower-case name, as written into reports (`"libm"`, `"micromath"`).
    pub const fn name(self) -> &'static str {
        match self {
            MathBackend::Libm => "libm",
            MathBackend::Micromath => "micromath",
        }
    }
}

/// The backend compiled into this build of the kernels.
#[cfg(not(feature = "micromath"))]
pub const BACKEND: MathBackend = MathBackend::Libm;
/// The backend compiled into this build of the kernels.
#[cfg(feature = "micromath")]
pub const BACKEND: MathBackend = MathBackend::Micromath;

/// A real floating-point scalar: `f32` or `f64`.
///
/// Contract: the functions follow IEEE 754 / libm semantics, so NaN propagates; the kernels check
/// their inputs so that NaN never reaches them from finite data.
pub trait Real:
    Copy
    + PartialEq
    + PartialOrd
    + Debug
    + Display
    + Default
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Send
    + Sync
    + 'static
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// Machine epsilon (distance from 1 to the next representable number).
    const EPSILON: Self;
    /// Largest finite value.
    const MAX: Self;
    /// Smallest positive normal value.
    const MIN_POSITIVE: Self;
    /// −∞, the log of a zero probability.
    const NEG_INFINITY: Self;
    /// ln(2π).
    const LN_2PI: Self;
    /// Below this argument `exp` and `fast_exp` return exactly 0 (libm `expf`: x ≤ −103.972084,
    /// `exp`: x < −745.133219; micromath's f32 exp is cut at −87), so callers may skip the call:
    /// libm reaches that 0 through a division by a subnormal, ≈ 10 ns on x86-64.
    const EXP_ZERO_BELOW: Self;
    /// Name of the type, `"f32"` or `"f64"`.
    const NAME: &'static str;

    /// Nearest value to `x` (rounding to nearest for `f32`).
    fn from_f64(x: f64) -> Self;
    /// Exact widening to `f64`.
    fn to_f64(self) -> f64;
    /// `n` as a float (exact below 2^24 for `f32`, 2^53 for `f64`).
    fn from_usize(n: usize) -> Self;
    /// eˣ (libm).
    fn exp(self) -> Self;
    /// eˣ for responsibilities; micromath for `f32` under the `micromath` feature, else libm.
    fn fast_exp(self) -> Self;
    /// eˣ for `EXP_ZERO_BELOW ≤ x ≤ 0` with no branch and no call, so that a loop over many x
    /// vectorizes (libm's `exp` is a call per value): x = n·ln 2 + r with |r| ≤ ln 2 / 2
    /// (Cody–Waite, ln 2 in two parts), the Taylor polynomial of eʳ to degree 7 (`f32`) or 13
    /// (`f64`), times 2ⁿ built from exponent bits in two halves so that subnormal results come
    /// out right. Within 2 ulp of libm's `exp` on [`EXP_ZERO_BELOW`, 0] (tested on a dense
    /// grid, subnormal results included); e⁰ = 1 exactly. Below `EXP_ZERO_BELOW` (−∞ included)
    /// x is clamped to it, which gives 0 or the smallest subnormal; above 0 the value is
    /// unspecified (never a panic).
    ///
    /// [`EXP_ZERO_BELOW`]: Real::EXP_ZERO_BELOW
    fn exp_nonpositive(self) -> Self;
    /// Natural logarithm (libm).
    fn ln(self) -> Self;
    /// ln(1 + x), accurate for small x (libm).
    fn ln_1p(self) -> Self;
    /// Square root (libm).
    fn sqrt(self) -> Self;
    /// xʸ (libm).
    fn powf(self, y: Self) -> Self;
    /// tanh (libm).
    fn tanh(self) -> Self;
    /// |x|.
    fn abs(self) -> Self;
    /// `true` unless NaN or ±∞.
    fn is_finite(self) -> bool;
    /// `true` for NaN.
    fn is_nan(self) -> bool;
    /// `a·b + self` with one rounding where the target has FMA, else two.
    #[inline(always)]
    fn mul_add_to(self, a: Self, b: Self) -> Self {
        self + a * b
    }
    /// The larger of two values (NaN-ignoring like `f64::max`).
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        if self >= other || other.is_nan() { self } else { other }
    }
    /// The smaller of two values (NaN-ignoring like `f64::min`).
    #[inline(always)]
    fn min(self, other: Self) -> Self {
        if self <= other || other.is_nan() { self } else { other }
    }
}

macro_rules! impl_real {
    ($t:ty, $name:literal, $zero_below:literal, $exp:path, $exp_np:path, $ln:path, $ln1p:path, $sqrt:path, $pow:path, $tanh:path, $fabs:path) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const EPSILON: Self = <$t>::EPSILON;
            const MAX: Self = <$t>::MAX;
            const MIN_POSITIVE: Self = <$t>::MIN_POSITIVE;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            // ln(2π) to 21 digits.
            const LN_2PI: Self = 1.837_877_066_409_345_483_6;
            const NAME: &'static str = $name;
            const EXP_ZERO_BELOW: Self = $zero_below;

            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_usize(n: usize) -> Self {
                n as $t
            }
            #[inline(always)]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline(always)]
            fn fast_exp(self) -> Self {
                fast_exp_impl(self)
            }
            #[inline(always)]
            fn exp_nonpositive(self) -> Self {
                $exp_np(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                $ln(self)
            }
            #[inline(always)]
            fn ln_1p(self) -> Self {
                $ln1p(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                $sqrt(self)
            }
            #[inline(always)]
            fn powf(self, y: Self) -> Self {
                $pow(self, y)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                $fabs(self)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
    };
}

impl_real!(
    f32,
    "f32",
    -104.0,
    libm::expf,
    exp_nonpositive_f32,
    libm::logf,
    libm::log1pf,
    libm::sqrtf,
    libm::powf,
    libm::tanhf,
    libm::fabsf
);
impl_real!(
    f64,
    "f64",
    -746.0,
    libm::exp,
    exp_nonpositive_f64,
    libm::log,
    libm::log1p,
    libm::sqrt,
    libm::pow,
    libm::tanh,
    libm::fabs
);

/// [`Real::exp_nonpositive`] for `f32`. n = round(x·log₂e) by the 1.5·2²³ shift (exact for
/// |x·log₂e| < 2²²); r = x − n·ln2_hi − n·ln2_lo, with ln2_hi's 9 significant bits making n·ln2_hi
/// exact; eʳ ≈ Σ_{i≤7} rⁱ/i! (truncation ≤ 0.35⁸/8! ≈ 5e-9, below half an ulp); 2ⁿ = 2^⌊n/2⌋ ·
/// 2^(n−⌊n/2⌋), each a normal number for n ≥ −150.
#[inline(always)]
fn exp_nonpositive_f32(x: f32) -> f32 {
    // The clamp (a select, not a branch) keeps n within i32 arithmetic for any x ≤ 0.
    let x = if x < <f32 as Real>::EXP_ZERO_BELOW { <f32 as Real>::EXP_ZERO_BELOW } else { x };
    const SHIFT: f32 = 12_582_912.0; // 1.5 · 2²³
    const LN2_HI: f32 = f32::from_bits(0x3f31_8000); // 0.693359375
    const LN2_LO: f32 = f32::from_bits(0xb95e_8083); // −2.1219444e-4
    let t = x * core::f32::consts::LOG2_E + SHIFT;
    let n = t.to_bits() as i32 - SHIFT.to_bits() as i32;
    let nf = t - SHIFT;
    let r = (x - nf * LN2_HI) - nf * LN2_LO;
    let mut p = 1.0 / 5040.0;
    for c in [1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = p * r + c;
    }
    let n1 = n >> 1;
    let s1 = f32::from_bits(((n1 + 127) as u32) << 23);
    let s2 = f32::from_bits(((n - n1 + 127) as u32) << 23);
    p * s1 * s2
}

/// [`Real::exp_nonpositive`] for `f64`: as the `f32` one with the 1.5·2⁵² shift, fdlibm's ln 2
/// split and the Taylor polynomial to degree 13 (truncation ≤ 0.35¹⁴/14! ≈ 4e-18).
#[inline(always)]
fn exp_nonpositive_f64(x: f64) -> f64 {
    let x = if x < <f64 as Real>::EXP_ZERO_BELOW { <f64 as Real>::EXP_ZERO_BELOW } else { x };
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 · 2⁵²
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000); // 6.93147180369123816490e-01
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76); // 1.90821492927058770002e-10
    let t = x * core::f64::consts::LOG2_E + SHIFT;
    let n = t.to_bits() as i64 - SHIFT.to_bits() as i64;
    let nf = t - SHIFT;
    let r = (x - nf * LN2_HI) - nf * LN2_LO;
    let mut p = 1.0 / 6_227_020_800.0; // 1/13!
    for c in [
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
    ] {
        p = p * r + c;
    }
    let n1 = n >> 1;
    let s1 = f64::from_bits(((n1 + 1023) as u64) << 52);
    let s2 = f64::from_bits(((n - n1 + 1023) as u64) << 52);
    p * s1 * s2
}

/// Dispatch for `fast_exp`: only `f32` under `micromath` differs from libm.
trait FastExp {
    fn fast_exp_impl(self) -> Self;
}
#[inline(always)]
fn fast_exp_impl<T: FastExp>(x: T) -> T {
    x.fast_exp_impl()
}
impl FastExp for f64 {
    #[inline(always)]
    fn fast_exp_impl(self) -> Self {
        libm::exp(self)
    }
}
impl FastExp for f32 {
    #[cfg(not(feature = "micromath"))]
    #[inline(always)]
    fn fast_exp_impl(self) -> Self {
        libm::expf(self)
    }
    #[cfg(feature = "micromath")]
    #[inline(always)]
    fn fast_exp_impl(self) -> Self {
        // micromath's exp overflows to garbage far below f32's range; responsibilities only need
        // exp of non-positive arguments, where underflow to 0 is the right answer.
        if self < -87.0 { 0.0 } else { micromath::F32Ext::exp(self) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_2pi_matches_std() {
        // ln(2π) = 1.83787706640934548356… (OEIS A061444); the constant is the nearest double.
        assert_eq!(<f64 as Real>::LN_2PI, 1.837_877_066_409_345_6_f64);
        assert!((<f64 as Real>::LN_2PI - (2.0 * core::f64::consts::PI).ln()).abs() <= 4.5e-16);
        assert_eq!(<f32 as Real>::LN_2PI, 1.837_877_f32);
    }

    /// Skipping `fast_exp` below `EXP_ZERO_BELOW` changes no bit: every argument there gives 0.
    #[test]
    fn exp_is_exactly_zero_below_the_skip_threshold() {
        for step in [0.0f64, 1e-6, 1e-3, 0.5, 10.0, 1e3] {
            let x32 = <f32 as Real>::EXP_ZERO_BELOW - step as f32;
            assert_eq!(x32.fast_exp().to_bits(), 0, "f32 {x32}");
            assert_eq!(Real::exp(x32).to_bits(), 0, "f32 {x32}");
            let x64 = <f64 as Real>::EXP_ZERO_BELOW - step;
            assert_eq!(x64.fast_exp().to_bits(), 0, "f64 {x64}");
            assert_eq!(Real::exp(x64).to_bits(), 0, "f64 {x64}");
        }
        // …and the thresholds are tight to within 0.03: just above them exp is not 0 yet.
        assert!(Real::exp(-103.97f32) > 0.0);
        assert!(Real::exp(-745.13f64) > 0.0);
    }

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
            worst.1 = worst.1.max(ulps64(x64.exp_nonpositive(), libm::exp(x64)));
            let x32 = (-104.0 * i as f64 / 2e6) as f32;
            let u =
                (x32.exp_nonpositive().to_bits() as i64 - libm::expf(x32).to_bits() as i64).unsigned_abs();
            worst.0 = worst.0.max(u);
        }
        for n in 0..2100 {
            for dx in [-1e-7, 0.0, 1e-7] {
                let x = -(n as f64) * core::f64::consts::LN_2 / 2.0 + dx;
                if x <= 0.0 && x >= -746.0 {
                    worst.1 = worst.1.max(ulps64(x.exp_nonpositive(), libm::exp(x)));
                }
                let x = x as f32;
                if x <= 0.0 && x >= -104.0 {
                    let u = (x.exp_nonpositive().to_bits() as i64 - libm::expf(x).to_bits() as i64)
                        .unsigned_abs();
                    worst.0 = worst.0.max(u);
                }
            }
        }
        assert!(worst.0 <= 2 && worst.1 <= 2, "worst ulps f32 {} f64 {}", worst.0, worst.1);
        assert_eq!(0.0f32.exp_nonpositive(), 1.0);
        assert_eq!(0.0f64.exp_nonpositive(), 1.0);
        assert_eq!((-0.0f64).exp_nonpositive(), 1.0);
        // Below the threshold (and at −∞, and where the unclamped shift would overflow i32 or
        // i64): 0 or the smallest subnormal, no panic.
        for x in [-104.5f32, -1e7, -1.2e7, f32::NEG_INFINITY] {
            assert!(x.exp_nonpositive().to_bits() <= 1, "f32 {x}");
        }
        for x in [-746.5f64, -5e15, f64::NEG_INFINITY] {
            assert!(x.exp_nonpositive().to_bits() <= 1, "f64 {x}");
        }
    }

    #[test]
    fn fast_exp_within_backend_tolerance() {
        // micromath documents ~1e-3 relative error for exp; measured here up to 2.3e-3 on [-20, 0].
        let tol = match BACKEND {
            MathBackend::Libm => 1e-6,
            MathBackend::Micromath => 5e-3,
        };
        for i in 0..200 {
            let x = -20.0 + 0.1 * i as f32;
            let got = x.fast_exp() as f64;
            let want = (x as f64).exp();
            assert!((got - want).abs() <= tol * want, "x={x} got={got} want={want}");
        }
        if BACKEND == MathBackend::Micromath {
            assert_eq!((-100.0f32).fast_exp(), 0.0);
        }
    }
}
