//! [`Real`]: the scalar trait every kernel is written against, implemented for `f32` and `f64`
//! with libm supplying the accurate functions.

use super::backend::fast_exp_impl;
use super::exp_ln::{exp_neg_f32, ln_1p_nonneg_f32};
use super::exp_nonpositive::{F32_ZERO_BELOW, F64_ZERO_BELOW, exp_nonpositive_f32, exp_nonpositive_f64};
use super::{expf::expf, log1pf::log1pf, logf::logf};
use core::fmt::{Debug, Display};
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

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
    /// √ε, correctly rounded (the tolerance on Σ α_k = 1): a constant, so that no `sqrt` runs
    /// for it.
    const SQRT_EPSILON: Self;
    /// Largest finite value.
    const MAX: Self;
    /// Smallest positive normal value.
    const MIN_POSITIVE: Self;
    /// −∞, the log of a zero probability.
    const NEG_INFINITY: Self;
    /// ln(2π).
    const LN_2PI: Self;
    /// Below this argument `exp` and `fast_exp` return exactly 0 (libm `expf`: x ≤ −103.972084,
    /// `exp`: x < −745.133219; the `f32` exp/log pair's exp, `fast_exp` by default: x < −104;
    /// micromath's f32 exp is cut at −87), so callers may skip the call:
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
    /// `n` rounded to nearest, equal to `from_f64(n as f64)` for every `n` (the counts of
    /// samples): through `u32` when it fits, one `vcvt` on a Cortex-M4F instead of the
    /// soft-double conversions of `u64 → f64 → f32`, the same value because below 2⁵³ the
    /// detour through f64 is exact.
    fn from_u64(n: u64) -> Self;
    /// eˣ (libm's; for `f32` its branch-free copy, equal bit for bit).
    fn exp(self) -> Self;
    /// eˣ for responsibilities (x ≤ 0): for `f32` the exp/log pair's exp ([`Real::exp_neg`]'s,
    /// within 1.35 ulp), or micromath's under the `micromath` feature; for `f64` libm's `exp`.
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
    /// eˣ for x ≤ 0 in the EM hot paths (the log-sum-exps, the responsibilities' `fast_exp` by
    /// default, the online step size): for `f32` the branch-free exp of the kernels' exp/log pair
    /// (`math/exp_ln.rs`: within 1.35 ulp of eˣ on every `f32` in [−104, 0], exactly 1 at ±0,
    /// exactly 0 below −104, NaN → NaN), for `f64` libm's `exp`. Above 0 the `f32` value is
    /// unspecified (never a panic).
    fn exp_neg(self) -> Self;
    /// ln(1 + t) for finite t ≥ 0 (the E-step's ln p = m + ln(1 + t)): for `f32` the pair's
    /// `ln_1p_nonneg_f32` (`math/exp_ln.rs`: within 1.25 ulp on every finite `f32` t ≥ 0), for
    /// `f64` libm's `log1p`. Outside that domain the `f32` value is unspecified (never a panic).
    fn ln_1p_nonneg(self) -> Self;
    /// Natural logarithm (libm's; for `f32` its copy without calls, equal bit for bit).
    fn ln(self) -> Self;
    /// ln(1 + x), accurate for small x (libm's; for `f32` its branch-free copy, equal bit for bit).
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
    ($t:ty, $name:literal, $sqrt_eps:expr, $zero_below:expr, $exp:path, $exp_np:path, $exp_neg:path, $ln1p_nn:path, $ln:path, $ln1p:path, $sqrt:path, $pow:path, $tanh:path, $fabs:path) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const EPSILON: Self = <$t>::EPSILON;
            const SQRT_EPSILON: Self = $sqrt_eps;
            const MAX: Self = <$t>::MAX;
            const MIN_POSITIVE: Self = <$t>::MIN_POSITIVE;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            // ln(2π) to 21 digits (OEIS A061444), rounded by the compiler to each type.
            #[allow(clippy::excessive_precision)]
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
            fn from_u64(n: u64) -> Self {
                match u32::try_from(n) {
                    // u32 → f64 is exact, so rounding it once to $t is what the detour gives.
                    Ok(small) => small as $t,
                    Err(_) => (n as f64) as $t,
                }
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
            fn exp_neg(self) -> Self {
                $exp_neg(self)
            }
            #[inline(always)]
            fn ln_1p_nonneg(self) -> Self {
                $ln1p_nn(self)
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

// exp, ln and ln_1p of f32: libm's functions without calls (`expf.rs`, `logf.rs`, `log1pf.rs`;
// `logf` keeps one branch for its rare inputs), equal to them bit for bit on every input. exp_neg
// and ln_1p_nonneg of f32: the branch-free exp/log pair (`exp_ln.rs`, within 1.35 / 1.25 ulp, not
// libm's bits; the same code on host and device, so the same bits on both). sqrt of f32: VSQRT.F32 on Arm hard-float
// targets (crabmix-fpu), libm's sqrtf elsewhere; both correctly rounded, so the same bits.
impl_real!(
    f32,
    "f32",
    f32::from_bits(0x39b5_04f3), // √(2⁻²³) = √2·2⁻¹², rounded to nearest
    F32_ZERO_BELOW,
    expf,
    exp_nonpositive_f32,
    exp_neg_f32,
    ln_1p_nonneg_f32,
    logf,
    log1pf,
    crabmix_fpu::sqrtf,
    libm::powf,
    libm::tanhf,
    libm::fabsf
);
impl_real!(
    f64,
    "f64",
    1.0 / 67_108_864.0, // √(2⁻⁵²) = 2⁻²⁶, exact
    F64_ZERO_BELOW,
    libm::exp,
    exp_nonpositive_f64,
    libm::exp,
    libm::log1p,
    libm::log,
    libm::log1p,
    libm::sqrt,
    libm::pow,
    libm::tanh,
    libm::fabs
);

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

    #[test]
    fn from_u64_equals_the_detour_through_f64() {
        let mut n = 1u64;
        for _ in 0..200_000 {
            for v in [n, n.wrapping_add(1), n.wrapping_sub(1), n | 0xffff, n.wrapping_mul(3)] {
                assert_eq!(
                    <f32 as Real>::from_u64(v).to_bits(),
                    <f32 as Real>::from_f64(v as f64).to_bits(),
                    "{v}"
                );
                assert_eq!(
                    <f64 as Real>::from_u64(v).to_bits(),
                    <f64 as Real>::from_f64(v as f64).to_bits(),
                    "{v}"
                );
            }
            n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) >> (n % 40);
        }
        assert_eq!(<f32 as Real>::from_u64(u64::MAX), 18_446_744_073_709_551_615u64 as f64 as f32);
    }

    #[test]
    fn sqrt_epsilon_is_the_rounded_root_of_epsilon() {
        assert_eq!(<f32 as Real>::SQRT_EPSILON, libm::sqrtf(f32::EPSILON));
        assert_eq!(<f64 as Real>::SQRT_EPSILON, libm::sqrt(f64::EPSILON));
        // Correctly rounded: the neighbours square farther from ε (in f64, exactly).
        let r = <f32 as Real>::SQRT_EPSILON;
        let err = |v: f32| ((v as f64) * (v as f64) - f32::EPSILON as f64).abs();
        assert!(
            err(r) < err(f32::from_bits(r.to_bits() + 1)) && err(r) < err(f32::from_bits(r.to_bits() - 1))
        );
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
}
