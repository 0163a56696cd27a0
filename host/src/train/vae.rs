//! The VAE at compiled shapes, around the allocation-free kernel step
//! ([`crabmix_kernels::models::vae`]): data as fixed-size rows, epochs of shuffled minibatches,
//! test-set ELBO. The firmware's and the seed tests' form; the CLI trains any shape with
//! [`super::vae_model`], whose one-hidden-layer parameter layout is this one's.
//!
//! Architecture (one hidden layer each way, ReLU, as in `scripts/torch_vae_reference.py`):
//! encoder X → H ReLU → (μ ∈ ℝ^Z, ln σ² ∈ ℝ^Z), decoder Z → H ReLU → X (Gaussian means or
//! Bernoulli logits).

use crabmix_kernels::mlp::{Act, Dense, Init, Relu};
use crabmix_kernels::models::{ElboTerms, GaussianHead, Likelihood, Vae, VaeTrainer};
use crabmix_kernels::{Real, chain, chain_type};
use rand_core::Rng;
use serde::{Deserialize, Serialize};

/// Encoder X → H ReLU → (μ, ln σ²) ∈ ℝ^Z × ℝ^Z.
pub type Encoder<T, const X: usize, const H: usize, const Z: usize> =
    chain_type!(Dense<T, X, H>, Act<Relu, H>, GaussianHead<T, H, Z>);
/// Decoder Z → H ReLU → X.
pub type Decoder<T, const Z: usize, const H: usize, const X: usize> =
    chain_type!(Dense<T, Z, H>, Act<Relu, H>, Dense<T, H, X>);
/// The VAE of this module.
pub type MlpVae<T, const X: usize, const H: usize, const Z: usize> =
    Vae<Encoder<T, X, H, Z>, Decoder<T, Z, H, X>>;

/// A VAE with Xavier-uniform weights and zero biases (as the PyTorch reference), encoder drawn
/// first from `rng`.
pub fn new_vae<T: Real, R: Rng + ?Sized, const X: usize, const H: usize, const Z: usize>(
    likelihood: Likelihood,
    rng: &mut R,
) -> MlpVae<T, X, H, Z> {
    let mut v = Vae {
        encoder: chain!(Dense::zeros(), Act(Relu), GaussianHead::zeros()),
        decoder: chain!(Dense::zeros(), Act(Relu), Dense::zeros()),
        likelihood,
    };
    v.init(Init::XavierUniform, rng);
    v
}

/// Rows of a row-major table as fixed-size arrays; `None` when `cols != X`.
pub fn rows_as_arrays<T: Real, const X: usize>(data: &[T], cols: usize) -> Option<Vec<[T; X]>> {
    if cols != X {
        return None;
    }
    Some(data.chunks_exact(X).map(|r| r.try_into().expect("chunks_exact gives X")).collect())
}

/// Training hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// Minibatch size B (the last batch of an epoch may be smaller).
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
}

/// Trains `vae` with Adam on `data`: each epoch shuffles the row order (Fisher–Yates from
/// `rng`), then steps on consecutive minibatches. Returns the ELBO per epoch: the mean over the
/// epoch's samples of the per-sample estimates seen during training (before each update).
/// `on_epoch(epoch, elbo)` is called after each epoch (progress display).
///
/// Errors: the kernel step's (`EmptyData` for empty `data` or batch 0, `NonFiniteParameter` on
/// divergence), as text.
pub fn train<T: Real, R: Rng, const X: usize, const H: usize, const Z: usize>(
    vae: &mut MlpVae<T, X, H, Z>,
    data: &[[T; X]],
    config: &TrainConfig,
    rng: &mut R,
    mut on_epoch: impl FnMut(usize, f64),
) -> Result<Vec<f64>, String> {
    if data.is_empty() || config.batch == 0 {
        return Err("training needs at least one row and a batch size >= 1".into());
    }
    // The trainer holds 3 copies of the network (gradient + Adam's two moments): box it.
    let mut trainer = Box::new(VaeTrainer::new(vae, T::from_f64(config.lr)));
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut batch = Vec::with_capacity(config.batch);
    let mut curve = Vec::with_capacity(config.epochs);
    for epoch in 0..config.epochs {
        shuffle(&mut order, rng);
        let mut total = 0.0;
        for idx in order.chunks(config.batch) {
            batch.clear();
            batch.extend(idx.iter().map(|&i| data[i]));
            let t = trainer.step(vae, &batch, rng).map_err(|e| format!("epoch {}: {e}", epoch + 1))?;
            total += t.elbo().to_f64() * idx.len() as f64;
        }
        let elbo = total / data.len() as f64;
        curve.push(elbo);
        on_epoch(epoch, elbo);
    }
    Ok(curve)
}

pub use super::data::shuffle;

/// Mean over `data` of the ELBO terms, each averaged over `draws` draws of z (f64 sums).
pub fn mean_elbo<T: Real, R: Rng, const X: usize, const H: usize, const Z: usize>(
    vae: &MlpVae<T, X, H, Z>,
    data: &[[T; X]],
    draws: usize,
    rng: &mut R,
) -> ElboTerms<f64> {
    let mut s = ElboTerms { log_likelihood: 0.0, kl: 0.0 };
    for x in data {
        let t = vae.elbo(x, draws, rng);
        s.log_likelihood += t.log_likelihood.to_f64();
        s.kl += t.kl.to_f64();
    }
    let n = data.len().max(1) as f64;
    ElboTerms { log_likelihood: s.log_likelihood / n, kl: s.kl / n }
}
