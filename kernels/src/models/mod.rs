//! The lecture's two generative networks assembled from the kernels: the variational autoencoder
//! (§3, [`vae`]) and the Wasserstein GAN (§4, [`wgan`]).
//!
//! Each has a fixed-size form ([`vae`], [`wgan`]: const generics, for firmware) and a
//! runtime-sized form over flat slices ([`vae_net`], [`wgan_net`]: any shape, for the host),
//! which agree bit for bit at the same shape.
//!
//! Both are training *steps*, not training loops: the caller owns the data, the batches and the
//! random generator, so the same step runs on a host and on a Cortex-M. Nothing allocates.

pub mod vae;
pub mod vae_net;
pub mod wgan;
pub mod wgan_net;

pub use vae::{ElboTerms, GaussianHead, Likelihood, Vae, VaeCaches, VaeTrainer};
pub use wgan::{
    Critic, CriticSpectralNorm, CriticStats, Lipschitz, Optimizer, OptimizerKind, WganConfig, WganTrainer,
    critic_input_gradient, critic_zeros, gradient_penalty, ring_modes, ring_sample,
};
