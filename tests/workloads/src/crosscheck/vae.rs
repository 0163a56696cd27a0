//! `vae_training_step`: the tiny VAE of [`crate::tiny`] in f64 (Xavier-uniform weights from
//! [`SEED`], N(0, 0.1²) biases so that bias gradients matter), then [`STEPS`] batches of
//! [`BATCH`] parabola points and [`BATCH`] ε, drawn after it from the same generator.

use crate::InputDigest;
use crate::tiny::{TinyVae, parabola_sample, tiny_vae_zeros};
use crabmix_kernels::gaussian::standard_normal;
use crabmix_kernels::mlp::{Init, Layer};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Adam steps, one batch each.
pub const STEPS: usize = 3;
/// Points (and ε) per batch.
pub const BATCH: usize = 8;
/// Seed of the generator.
pub const SEED: u64 = 13;

/// One step's inputs.
#[derive(Clone, Copy, Debug)]
pub struct Batch {
    /// Parabola points (t + 0.05 n₁, t² − 1 + 0.05 n₂).
    pub x: [[f64; 2]; BATCH],
    /// ε ~ N(0, 1), one per point (latent dimension 1).
    pub eps: [f64; BATCH],
}

/// The VAE and its [`STEPS`] batches.
pub fn inputs() -> (TinyVae<f64>, Batches) {
    let mut rng = super::rng(SEED);
    let mut vae = tiny_vae_zeros::<f64>();
    vae.init(Init::XavierUniform, &mut rng);
    let mut bias = |p: &mut f64| {
        if *p == 0.0 {
            *p = 0.1 * standard_normal::<f64, _>(&mut rng);
        }
    };
    vae.encoder.for_each_param(&mut bias);
    vae.decoder.for_each_param(&mut bias);
    let mut digest = InputDigest::new();
    vae.encoder.visit_params(&mut |p| digest.word(p.to_bits()));
    vae.decoder.visit_params(&mut |p| digest.word(p.to_bits()));
    (vae, Batches { rng, left: STEPS, digest })
}

/// The batches, streamed; the digest covers the VAE's parameters (encoder, then decoder), then
/// each batch drawn so far (points, then ε).
pub struct Batches {
    rng: Xoshiro256PlusPlus,
    left: usize,
    digest: InputDigest,
}

impl Batches {
    /// Digest of the VAE and the batches drawn so far.
    pub fn digest(&self) -> u64 {
        self.digest.value()
    }
}

impl Iterator for Batches {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        self.left = self.left.checked_sub(1)?;
        let rng = &mut self.rng;
        let x: [[f64; 2]; BATCH] = core::array::from_fn(|_| parabola_sample(rng));
        let eps: [f64; BATCH] = core::array::from_fn(|_| standard_normal(rng));
        x.iter().for_each(|x| self.digest.f64s(x));
        self.digest.f64s(&eps);
        Some(Batch { x, eps })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}
