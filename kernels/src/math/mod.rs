//! The floating-point scalar the kernels are generic over, and the math backend behind it:
//! [`Real`] (`real.rs`), the libm | micromath switch for `fast_exp` (`backend.rs`), the
//! branch-free [`Real::exp_nonpositive`] (`exp_nonpositive.rs`), the branch-free `f32` exp/log
//! pair of the EM hot paths ([`Real::exp_neg`], [`Real::ln_1p_nonneg`]: `exp_ln.rs`, within
//! 1.35 and 1.25 ulp, tested on every `f32` of their domains), and copies of libm's `expf`,
//! `logf` and `log1pf` without its calls (`expf.rs`, `logf.rs`, `log1pf.rs`: equal to libm bit
//! for bit on every `f32`; `expf` and `log1pf` branch-free, `logf` with one branch for the rare
//! inputs: zero, negative, infinite, NaN, subnormal), which on a Cortex-M4 cost more than the
//! arithmetic.
//!
//! Every kernel is written once for `T: Real` and instantiated for `f32` and `f64`. The accurate
//! functions (`exp`, `ln`, `sqrt`, …) always come from `libm` (or equal it bit for bit), and
//! Cholesky factors use only those. For `f32` the log densities' log-sum-exps, the
//! responsibilities with the E-step's ln p = m + ln(1 + t) and the online step size use the
//! exp/log pair instead, whose results differ from libm's by an ulp or so; `ln` there is still
//! libm's `logf` (the pair's ln(1 + t) calls it too). `f64` keeps libm everywhere. `f32::sqrt` is `crabmix_fpu::sqrtf`:
//! one `VSQRT.F32` on Arm hard-float targets (the Cortex-M4F), libm's `sqrtf` elsewhere; both are
//! correctly rounded, hence equal (the one `unsafe` block lives in that leaf crate, so this crate
//! keeps `forbid(unsafe_code)`). `fast_exp` (by default the pair's exp for `f32`) is the one place
//! a faster, less accurate backend may enter: with the `micromath` feature, `f32::fast_exp` is
//! micromath's `exp` (≈1e-3 relative, up to 2.3e-3 measured
//! error, per its documentation) and is used only to turn log-responsibilities into
//! responsibilities. [`BACKEND`] records which backend a build uses, and fit reports carry it.

mod backend;
#[cfg(test)]
mod bit_check;
mod exp_ln;
mod exp_nonpositive;
mod expf;
mod log1pf;
mod logf;
mod real;

pub use backend::{BACKEND, MathBackend};
pub use exp_nonpositive::{EXP_TAYLOR_F32, EXP_TAYLOR_F64};
pub use real::Real;
