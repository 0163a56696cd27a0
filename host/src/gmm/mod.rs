//! Runtime-sized Gaussian mixtures on the host: `Vec` storage around the kernels' slice routines,
//! and a multithreaded E-step that merges per-chunk statistics in a fixed order.
//!
//! Any K, D ≤ [`MAX_RUNTIME_SIZE`](crabmix_kernels::gmm::MAX_RUNTIME_SIZE) is one instantiation per scalar type (no per-size
//! monomorphization), computing exactly what the fixed-size firmware types compute.

pub mod blocked;
pub mod degenerate;
pub mod estep;
pub mod heap;
pub mod json;
pub mod mixture;
pub mod start;
pub mod stats;
pub mod stream;
pub mod streaming;
pub mod trace;

pub use estep::HostEStep;
pub use mixture::Mixture;
pub use stats::Stats;
pub use streaming::ParallelEStep;
pub use trace::LowerBounds;
