//! # crabmix (host)
//!
//! The std side of crabmix: runtime-sized Gaussian mixtures over the `crabmix-kernels` slice
//! routines with a multithreaded E-step ([`gmm`]), numeric CSV input ([`csv_data`]), the model's
//! JSON form ([`model_json`]) and the `crabmix` command-line tool (`src/main.rs`).
#![deny(missing_docs)]

pub mod csv_data;
pub mod gmm;
pub mod model_json;

pub use crabmix_kernels as kernels;
