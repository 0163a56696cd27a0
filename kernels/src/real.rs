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
    ($t:ty, $name:literal, $zero_below:literal, $exp:path, $ln:path, $ln1p:path, $sqrt:path, $pow:path, $tanh:path, $fabs:path) => {
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
    libm::log,
    libm::log1p,
    libm::sqrt,
    libm::pow,
    libm::tanh,
    libm::fabs
);

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
