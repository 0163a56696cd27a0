//! Scalar functions for the host's vectorized CPU passes, written so that a loop over a slice of
//! them compiles to full-width SIMD: no branch, no call, integer work on the exponent bits only.
//!
//! Every function takes `const FMA: bool`: `true` evaluates each multiply-add `a·b + c` with one
//! rounding (`mul_add`, a single instruction inside a function compiled with the `fma` target
//! feature, see [`isa`]), `false` with two (a multiply and an add, what a CPU without FMA
//! executes). The two agree within the bounds stated per function; they are not bitwise equal.
//! Callers pick `FMA = true` only inside code compiled for [`isa::Isa::Avx2Fma`] or
//! [`isa::Isa::Avx512`]: elsewhere
//! `mul_add` is a libm call per value.
//!
//! - [`exp`]: eˣ for x ≤ 0 (the responsibilities' e^{lp − max});
//! - [`ln_1p`]: ln(1 + t) for t ≥ 0 (the log-likelihood m + ln(1 + Σ e^{lp − m}));
//! - [`lane_sums`]: sums of runs of L lanes, pairwise, many runs at once;
//! - [`aligned`]: buffers on a cache-line boundary, for full-width vector stores;
//! - [`isa`]: the run-time choice between the AVX-512, AVX2+FMA and portable builds, and the FMA
//!   peak each implies.

pub mod aligned;
pub mod exp;
pub mod isa;
pub mod lane_sums;
pub mod ln_1p;
pub mod transpose;

use core::any::TypeId;
use crabmix_kernels::Real;

/// [`Real`] plus the host's branch-free functions, each in an FMA and a two-rounding form.
///
/// Implemented for every [`Real`] (so generic code over `T: Real` can call it without a new
/// bound): `f32` and `f64` get the functions of [`exp`] and [`ln_1p`], picked at compile time
/// by type; any other `Real` falls back to its own `exp_nonpositive`, `ln_1p` and unfused
/// multiply-adds.
pub trait SimdReal: Real {
    /// a·b + c: one rounding when `FMA` (for `f32`/`f64`), two otherwise.
    fn madd<const FMA: bool>(a: Self, b: Self, c: Self) -> Self;
    /// eˣ within 2 ulp for −708 ≤ x ≤ 0 (`f64`; `f32`: −87), where eˣ is a normal number
    /// ([`exp::exp_normal_f64`]; unspecified below the range).
    fn exp_normal_simd<const FMA: bool>(self) -> Self;
    /// ln(1 + t) for finite t ≥ 0 ([`ln_1p`]: bound and special values there).
    fn ln_1p_nonnegative<const FMA: bool>(self) -> Self;
    /// √x, correctly rounded for `f32`/`f64` (IEEE 754 square root: one vector instruction
    /// over a slice; the kernels' `Real::sqrt` is libm's scalar call).
    fn sqrt_simd(self) -> Self;
}

/// `a` as a `B` when `A` and `B` are the same type, else `None`; after monomorphization the
/// test is a constant, so the generic code below compiles to the concrete type's code alone.
#[inline(always)]
fn same<A: 'static + Copy, B: 'static + Copy>(a: A) -> Option<B> {
    if TypeId::of::<A>() == TypeId::of::<B>() {
        // SAFETY: A and B are one type (equal `TypeId`s), so this copies a valid `B`.
        Some(unsafe { core::mem::transmute_copy::<A, B>(&a) })
    } else {
        None
    }
}

/// `f64(x)` or `f32(x)` when `T` is that type, else `other(x)`.
#[inline(always)]
fn by_type<T: Real>(x: T, f64: impl Fn(f64) -> f64, f32: impl Fn(f32) -> f32, other: impl Fn(T) -> T) -> T {
    if let Some(r) = same::<T, f64>(x).and_then(|x| same::<f64, T>(f64(x))) {
        return r;
    }
    if let Some(r) = same::<T, f32>(x).and_then(|x| same::<f32, T>(f32(x))) {
        return r;
    }
    other(x)
}

impl<T: Real> SimdReal for T {
    #[inline(always)]
    fn madd<const FMA: bool>(a: Self, b: Self, c: Self) -> Self {
        if FMA {
            if let (Some(a), Some(b), Some(c)) = (same::<T, f64>(a), same::<T, f64>(b), same::<T, f64>(c))
                && let Some(r) = same::<f64, T>(a.mul_add(b, c))
            {
                return r;
            }
            if let (Some(a), Some(b), Some(c)) = (same::<T, f32>(a), same::<T, f32>(b), same::<T, f32>(c))
                && let Some(r) = same::<f32, T>(a.mul_add(b, c))
            {
                return r;
            }
        }
        a * b + c
    }
    #[inline(always)]
    fn exp_normal_simd<const FMA: bool>(self) -> Self {
        by_type(self, exp::exp_normal_f64::<FMA>, exp::exp_normal_f32::<FMA>, T::exp_nonpositive)
    }
    #[inline(always)]
    fn ln_1p_nonnegative<const FMA: bool>(self) -> Self {
        by_type(self, ln_1p::ln_1p_nonnegative_f64::<FMA>, ln_1p::ln_1p_nonnegative_f32::<FMA>, T::ln_1p)
    }
    #[inline(always)]
    fn sqrt_simd(self) -> Self {
        by_type(self, f64::sqrt, f32::sqrt, T::sqrt)
    }
}
