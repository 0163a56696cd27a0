//! # crabmix-kernels
//!
//! Numerical kernels for generative models that run unchanged on a Cortex-M microcontroller, a
//! CPU and (through the host crate) next to a GPU: Gaussian-mixture EM with streaming sufficient
//! statistics, Gaussian KL, reparameterized sampling and small-MLP building blocks.
//!
//! * `#![no_std]`, no `alloc`: the caller owns every buffer; sizes are const generics in the
//!   fixed-size types and runtime `usize` in the slice routines they wrap.
//! * `f32` and `f64` through [`Real`]; `libm` supplies the math, except in the `f32` EM hot paths
//!   (responsibilities, log-sum-exps, online step size), which use a branch-free exp/log pair
//!   within 1.35 ulp; `micromath` optionally supplies a faster `f32` exp for responsibilities
//!   ([`BACKEND`] says which).
//! * Fallible work returns [`Result`] with the typed [`Error`]; bad input never panics.
//! * Every EM computation has the shape accumulate → merge → finish: see [`gmm::SufficientStats`].
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[macro_use]
mod unroll;

pub mod error;
pub mod gaussian;
pub mod gmm;
pub mod linalg;
pub mod math;
pub mod mlp;
pub mod models;
pub mod monitor;

pub use error::{Error, Result};
pub use math::{BACKEND, MathBackend, Real};
