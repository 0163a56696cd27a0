//! Dense linear algebra over row-major slices with runtime size `d`, allocation-free.
//!
//! Matrices are `d × d`, row-major, `a[i * d + j]`. Runtime sizes keep one instantiation per scalar
//! type for every D (the host fits any D ≤ 64 without compiling a copy per D); the fixed-size types
//! wrap these routines.

pub mod cholesky;
pub(crate) mod rows;

pub use cholesky::{
    cholesky_fixed_in_place, cholesky_in_place, lower_inverse_transpose_fixed_in_place,
    lower_inverse_transpose_in_place, solve_lower_in_place,
};
