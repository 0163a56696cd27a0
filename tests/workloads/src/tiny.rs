//! Device-sized VAE and WGAN runs, shared by the host tests and the firmware's on-target tests so
//! that both execute the *same* code from the same seed (host/device parity); the cross-check's
//! `vae_training_step` trains the same VAE in f64 and f32 ([`crate::crosscheck::vae`]).
//!
//! * [`tiny_vae_run`]: 2-D data → 16 ReLU → (μ, ln σ²) ∈ ℝ¹ × ℝ¹, decoder 1 → 16 ReLU → 2, unit-
//!   variance Gaussian; data (t, t² − 1) + 0.05·noise, t ~ N(0, 1); Adam 1e-2, batch 8.
//! * [`tiny_wgan_run`]: generator 2 → 16 ReLU → 16 ReLU → 2, critic 2 → 16 → 16 → 1 (leaky ReLU
//!   0.2); the ring of 8 Gaussians; gradient penalty λ = 10 with Adam (1e-3, 2e-4), batch 16,
//!   n_critic 5.
//!
//! All state lives in the returned values and the trainer (≈ 2.4 KB for the VAE, ≈ 11 KB for the
//! WGAN in f32), so both fit a 64 KiB Cortex-M4F with room to spare. f32 arithmetic in Rust is
//! not contracted into FMA and the math comes from `libm` on every target, so the host and an
//! FPU-equipped Cortex-M4F compute the same bits; [`ParamDigest`] summarizes parameters for the
//! comparison.

use crabmix_kernels::gaussian::standard_normal;
use crabmix_kernels::mlp::{Act, Dense, Init, Layer, Relu};
use crabmix_kernels::models::{
    Critic, GaussianHead, Likelihood, OptimizerKind, Vae, VaeTrainer, WganConfig, WganTrainer, critic_zeros,
    ring_sample,
};
use crabmix_kernels::{Real, Result, chain, chain_type};
use rand_core::Rng;

/// Encoder of the tiny VAE (f32 unless named).
pub type TinyEncoder<T = f32> = chain_type!(Dense<T, 2, 16>, Act<Relu, 16>, GaussianHead<T, 16, 1>);
/// Decoder of the tiny VAE.
pub type TinyDecoder<T = f32> = chain_type!(Dense<T, 1, 16>, Act<Relu, 16>, Dense<T, 16, 2>);
/// The tiny VAE.
pub type TinyVae<T = f32> = Vae<TinyEncoder<T>, TinyDecoder<T>>;
/// Generator of the tiny WGAN.
pub type TinyGenerator =
    chain_type!(Dense<f32, 2, 16>, Act<Relu, 16>, Dense<f32, 16, 16>, Act<Relu, 16>, Dense<f32, 16, 2>);
/// Critic of the tiny WGAN.
pub type TinyCritic = Critic<f32, 2, 16>;

/// Sum, sum of absolute values (both accumulated in f64, in `for_each_param` order) and the first
/// four parameters: a compact fingerprint of a network for host/device comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ParamDigest {
    /// Σ θ.
    pub sum: f64,
    /// Σ |θ|.
    pub abs_sum: f64,
    /// θ₀..θ₃.
    pub first: [f32; 4],
}

impl ParamDigest {
    /// The digest of `net`'s parameters.
    pub fn of<L: Layer<f32>>(net: &L) -> Self {
        let mut d = ParamDigest { sum: 0.0, abs_sum: 0.0, first: [0.0; 4] };
        let mut i = 0;
        net.visit_params(&mut |p| {
            d.sum += p as f64;
            d.abs_sum += (p as f64).abs();
            if i < 4 {
                d.first[i] = p;
            }
            i += 1;
        });
        d
    }
}

/// The tiny VAE with zero parameters, unit-variance Gaussian likelihood.
pub fn tiny_vae_zeros<T: Real>() -> TinyVae<T> {
    Vae {
        encoder: chain!(Dense::zeros(), Act(Relu), GaussianHead::zeros()),
        decoder: chain!(Dense::zeros(), Act(Relu), Dense::zeros()),
        likelihood: Likelihood::GaussianUnit,
    }
}

/// One draw of the tiny VAE's data: (t, t² − 1) + 0.05·(n₁, n₂), t, n ~ N(0, 1), drawn in that
/// order in precision `T`.
pub fn parabola_sample<T: Real, R: Rng + ?Sized>(rng: &mut R) -> [T; 2] {
    let t: T = standard_normal(rng);
    let n1: T = standard_normal(rng);
    let n2: T = standard_normal(rng);
    // 0.05 and 1 are the same f32 whether written as f32 or cast from f64.
    let c = T::from_f64(0.05);
    [t + c * n1, t * t - T::ONE + c * n2]
}

/// Initializes the tiny VAE from `rng` (Xavier-uniform) and runs `steps` Adam steps on fresh
/// batches of 8 drawn from `rng`; returns the VAE and the last batch ELBO. Errors as
/// [`VaeTrainer::step`].
pub fn tiny_vae_run<R: Rng + ?Sized>(rng: &mut R, steps: usize) -> Result<(TinyVae, f32)> {
    let mut vae: TinyVae = tiny_vae_zeros();
    vae.init(Init::XavierUniform, rng);
    let mut trainer = VaeTrainer::new(&vae, 1e-2);
    let mut batch = [[0.0f32; 2]; 8];
    let mut elbo = f32::NAN;
    for _ in 0..steps {
        for x in batch.iter_mut() {
            *x = parabola_sample(rng);
        }
        elbo = trainer.step(&mut vae, &batch, rng)?.elbo();
    }
    Ok((vae, elbo))
}

/// The tiny WGAN's configuration: gradient penalty λ = 10, n_critic 5, Adam β = (0.5, 0.9),
/// critic η = 1e-3, generator η = 2e-4 (two time scales, as the host's ring recipe).
pub fn tiny_wgan_config() -> WganConfig<f32> {
    let mut c = WganConfig::gradient_penalty();
    c.critic_opt = OptimizerKind::Adam { lr: 1e-3, beta1: 0.5, beta2: 0.9 };
    c.generator_opt = OptimizerKind::Adam { lr: 2e-4, beta1: 0.5, beta2: 0.9 };
    c
}

/// Initializes the tiny WGAN from `rng` (He-normal) and runs `iterations` generator steps, each
/// after 5 critic steps on fresh ring batches of 16; returns both networks and the last critic
/// W₁ estimate. Errors as the trainer's steps.
pub fn tiny_wgan_run<R: Rng + ?Sized>(
    rng: &mut R,
    iterations: usize,
) -> Result<(TinyGenerator, TinyCritic, f32)> {
    let mut generator: TinyGenerator =
        chain!(Dense::zeros(), Act(Relu), Dense::zeros(), Act(Relu), Dense::zeros());
    generator.init(Init::HeNormal, rng);
    let mut critic: TinyCritic = critic_zeros(0.2);
    critic.init(Init::HeNormal, rng);
    let config = tiny_wgan_config();
    let mut trainer = WganTrainer::new(&generator, &critic, config, rng);
    let mut real = [[0.0f32; 2]; 16];
    let mut w = f32::NAN;
    for _ in 0..iterations {
        for _ in 0..config.n_critic {
            for x in real.iter_mut() {
                *x = ring_sample(rng);
            }
            w = trainer.critic_step(&generator, &mut critic, &real, rng)?.wasserstein_estimate();
        }
        trainer.generator_step(&mut generator, &critic, real.len(), rng)?;
    }
    Ok((generator, critic, w))
}

/// Seed of the parity runs' xoshiro256++ generator (what the firmware test executes).
pub const PARITY_SEED: u64 = 2026;
/// VAE steps in the parity run.
pub const PARITY_VAE_STEPS: usize = 200;
/// WGAN generator iterations in the parity run (each with 5 critic steps).
pub const PARITY_WGAN_ITERATIONS: usize = 20;

/// The host's f32 results of the parity runs (x86-64, recorded by this module's test; recorded
/// when this module was `crabmix_kernels::models::tiny`, unchanged by the move): encoder,
/// decoder, generator and critic digests after [`PARITY_VAE_STEPS`] / [`PARITY_WGAN_ITERATIONS`]
/// from [`PARITY_SEED`]. The firmware test compares its own run with these; the expected
/// difference is zero (same code, same IEEE f32 operations, libm on both).
pub const PARITY_HOST: [ParamDigest; 4] = [
    ParamDigest {
        sum: 3.375614490127191,
        abs_sum: 17.430734566180035,
        first: [-0.17719215, 0.028293699, 0.15195031, 0.3180718],
    },
    ParamDigest {
        sum: -1.6737652261508629,
        abs_sum: 11.951850750832818,
        first: [0.4384351, -0.27522394, -0.27607778, -0.2585893],
    },
    ParamDigest {
        sum: 9.71535362675786,
        abs_sum: 108.23846138978843,
        first: [1.9192424, -0.6205441, -0.6729542, 0.23699984],
    },
    ParamDigest {
        sum: 10.976207859697752,
        abs_sum: 98.26036962412763,
        first: [0.56102616, -0.77393425, 1.4470229, 0.70348984],
    },
];

/// Runs both parity runs from [`PARITY_SEED`] (a fresh generator each) and returns the four
/// digests in the order of [`PARITY_HOST`].
pub fn parity_digests<R: Rng + rand_core::SeedableRng>() -> Result<[ParamDigest; 4]> {
    let mut rng = R::seed_from_u64(PARITY_SEED);
    let (vae, _) = tiny_vae_run(&mut rng, PARITY_VAE_STEPS)?;
    let mut rng = R::seed_from_u64(PARITY_SEED);
    let (g, c, _) = tiny_wgan_run(&mut rng, PARITY_WGAN_ITERATIONS)?;
    Ok([
        ParamDigest::of(&vae.encoder),
        ParamDigest::of(&vae.decoder),
        ParamDigest::of(&g),
        ParamDigest::of(&c),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn host_parity_run_reproduces_recorded_digests() {
        // Bit-for-bit: the constants are this very computation's output.
        assert_eq!(parity_digests::<Xoshiro256PlusPlus>().unwrap(), PARITY_HOST);
    }
}
