//! Training on the CPU. At any shape (what the CLI runs): runtime-shaped networks ([`net`]),
//! flat-slice optimizers ([`optim`]), thread-count-independent minibatch gradients
//! ([`parallel`]), data preparation ([`data`]), the VAE ([`vae_model`]) and the WGAN
//! ([`wgan_model`]). At compiled shapes (the kernels' const-generic types, as on the firmware):
//! [`vae`] and the 8-Gaussian ring's [`wgan`], with the flat parameter vectors of [`params`].

pub mod data;
pub mod net;
pub mod optim;
pub mod parallel;
pub mod params;
pub mod vae;
pub mod vae_model;
pub mod wgan;
pub mod wgan_model;
