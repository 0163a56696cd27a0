//! The one switch between math backends: `f32::fast_exp` is the exp of the kernels' `f32`
//! exp/log pair (`exp_ln.rs`, within 1.35 ulp of eˣ on [−104, 0]) by default and micromath's
//! `exp` under the `micromath` feature; nothing else depends on the feature.

/// Which implementation supplies `fast_exp` for `f32` in this build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MathBackend {
    /// The default: `f32::fast_exp` is the exp/log pair's exp (within 1.35 ulp; `f64`: libm's
    /// `exp`), the rest as in every build.
    Libm,
    /// `micromath` for `f32::fast_exp` (≈1e-3 relative error), the rest as in every build.
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

/// Dispatch for `fast_exp`: `f64` is libm's `exp`; `f32` the exp/log pair's exp, or micromath's.
pub(super) trait FastExp {
    fn fast_exp_impl(self) -> Self;
}
#[inline(always)]
pub(super) fn fast_exp_impl<T: FastExp>(x: T) -> T {
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
        // The exp of the kernels' exp/log pair (`exp_ln.rs`): the callers pass
        // EXP_ZERO_BELOW ≤ x ≤ 0, where it is within 1.35 ulp of eˣ.
        super::exp_ln::exp_neg_f32(self)
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
    fn fast_exp_within_backend_tolerance() {
        // micromath documents ~1e-3 relative error for exp; measured here up to 2.3e-3 on [-20, 0].
        let tol = match BACKEND {
            MathBackend::Libm => 1e-6,
            MathBackend::Micromath => 5e-3,
        };
        for i in 0..200 {
            let x = -20.0 + 0.1 * i as f32;
            let got = fast_exp_impl(x) as f64;
            let want = (x as f64).exp();
            assert!((got - want).abs() <= tol * want, "x={x} got={got} want={want}");
        }
        if BACKEND == MathBackend::Micromath {
            assert_eq!(fast_exp_impl(-100.0f32), 0.0);
        }
    }
}
