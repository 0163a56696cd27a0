//! Training on the CPU: the VAE ([`vae`]) and the WGAN on the ring ([`wgan`]), with the flat
//! parameter vectors of their JSON forms ([`params`]).

pub mod params;
pub mod vae;
pub mod wgan;
