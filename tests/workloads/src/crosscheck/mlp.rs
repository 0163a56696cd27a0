//! `mlp_forward_backward`: a 2-32-32-2 tanh network, Xavier-normal in f64, and [`PAIRS`] (x, t)
//! pairs drawn after it from the same generator.

use crate::InputDigest;
use crabmix_kernels::gaussian::standard_normal;
use crabmix_kernels::mlp::{Act, Dense, Init, Layer, Tanh};
use crabmix_kernels::{Real, chain, chain_type};
use rand_xoshiro::Xoshiro256PlusPlus;

/// The network.
pub type Mlp<T> =
    chain_type!(Dense<T, 2, 32>, Act<Tanh, 32>, Dense<T, 32, 32>, Act<Tanh, 32>, Dense<T, 32, 2>);
/// Its parameter count (2·32 + 32 + 32·32 + 32 + 32·2 + 2).
pub const PARAMS: usize = 1218;
/// (x, t) pairs.
pub const PAIRS: usize = 64;
/// Seed of the generator.
pub const SEED: u64 = 5;

/// The network with zero parameters (to copy parameters into).
pub fn zeros<T: Real>() -> Mlp<T> {
    chain!(Dense::zeros(), Act(Tanh), Dense::zeros(), Act(Tanh), Dense::zeros())
}

/// The network (Xavier-normal from [`SEED`]) and its [`PAIRS`] inputs, which continue the
/// network's generator.
pub fn inputs() -> (Mlp<f64>, Pairs) {
    let mut rng = super::rng(SEED);
    let net: Mlp<f64> = chain!(
        Dense::new_init(Init::XavierNormal, &mut rng),
        Act(Tanh),
        Dense::new_init(Init::XavierNormal, &mut rng),
        Act(Tanh),
        Dense::new_init(Init::XavierNormal, &mut rng),
    );
    let mut digest = InputDigest::new();
    net.visit_params(&mut |p| digest.word(p.to_bits()));
    (net, Pairs { rng, left: PAIRS, digest })
}

/// The (x, t) pairs, x, t ~ N(0, I₂), streamed; the digest covers the network's parameters
/// (`visit_params` order), then each pair drawn so far.
pub struct Pairs {
    rng: Xoshiro256PlusPlus,
    left: usize,
    digest: InputDigest,
}

impl Pairs {
    /// Digest of the network and the pairs drawn so far.
    pub fn digest(&self) -> u64 {
        self.digest.value()
    }
}

impl Iterator for Pairs {
    type Item = ([f64; 2], [f64; 2]);

    fn next(&mut self) -> Option<Self::Item> {
        self.left = self.left.checked_sub(1)?;
        let rng = &mut self.rng;
        let x = [standard_normal(rng), standard_normal(rng)];
        let t = [standard_normal(rng), standard_normal(rng)];
        self.digest.f64s(&x);
        self.digest.f64s(&t);
        Some((x, t))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}
