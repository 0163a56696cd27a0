//! f64 reference implementations and fixtures shared by the cross-crate tests.
//!
//! The references are written for clarity, not speed, and independently of the kernels: dense
//! `nalgebra` inverses and determinants instead of Cholesky factors, two-pass means and
//! covariances instead of shifted sums. Tests compare the kernels against them.
#![deny(missing_docs)]

pub mod assignment;
pub mod fixtures;
pub mod gmm_reference;
pub mod kl_reference;
pub mod sklearn;
