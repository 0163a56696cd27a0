//! Gaussian building blocks: standard-normal variates (and, with the VAE work, KL divergences and
//! reparameterized sampling).

pub mod normal;

pub use normal::standard_normal;
