//! VAE training on the host around the allocation-free kernel step
//! ([`crabmix_kernels::models::vae`]): data as fixed-size rows, epochs of shuffled minibatches,
//! test-set ELBO, the model's JSON form, and a runtime-shaped front end for the CLI.
//!
//! Architecture (one hidden layer each way, ReLU, as in `scripts/torch_vae_reference.py`):
//! encoder X → H ReLU → (μ ∈ ℝ^Z, ln σ² ∈ ℝ^Z), decoder Z → H ReLU → X (Gaussian means or
//! Bernoulli logits). The kernels are sized at compile time, so the CLI is compiled for the
//! shapes in [`SUPPORTED`]; [`DynVae`] hides which one is in use.

use crate::train::params::{load_params_f32, params_f32};
use crabmix_kernels::mlp::{Act, Dense, Init, Relu};
use crabmix_kernels::models::{ElboTerms, GaussianHead, Likelihood, Vae, VaeTrainer};
use crabmix_kernels::{Real, chain, chain_type};
use rand_core::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
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

/// In-place Fisher–Yates shuffle with `rng` (uniform index by 128-bit multiply-shift; the bias is
/// below 2⁻⁶⁴·n, irrelevant here).
pub fn shuffle<R: Rng>(v: &mut [usize], rng: &mut R) {
    for i in (1..v.len()).rev() {
        let j = ((rng.next_u64() as u128 * (i as u128 + 1)) >> 64) as usize;
        v.swap(i, j);
    }
}

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

/// The JSON form of a trained model (`crabmix vae train --output`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeJson {
    /// Always `"crabmix-vae"`.
    pub format: String,
    /// X, data columns.
    pub features: usize,
    /// H, hidden units (each way).
    pub hidden: usize,
    /// Z, latent dimensions.
    pub latent: usize,
    /// `"bernoulli"` or `"gaussian"`.
    pub likelihood: String,
    /// Encoder parameters in `Layer::for_each_param` order (per dense layer: W row-major, then b;
    /// the head: μ map, then ln σ² map).
    pub encoder: Vec<f32>,
    /// Decoder parameters, same order convention.
    pub decoder: Vec<f32>,
    /// How it was trained.
    pub train: Option<TrainInfo>,
}

/// Training record kept in the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainInfo {
    /// Hyperparameters.
    pub config: TrainConfig,
    /// Seed of the xoshiro256++ generator (initialization, shuffling, ε).
    pub seed: u64,
    /// Training ELBO per epoch (see [`train`]).
    pub elbo_per_epoch: Vec<f64>,
}

/// Parses `"bernoulli"` / `"gaussian"`.
pub fn parse_likelihood(s: &str) -> Result<Likelihood, String> {
    match s {
        "bernoulli" => Ok(Likelihood::BernoulliLogits),
        "gaussian" => Ok(Likelihood::GaussianUnit),
        _ => Err(format!("unknown likelihood {s:?} (bernoulli or gaussian)")),
    }
}

/// The name [`parse_likelihood`] reads back.
pub fn likelihood_name(l: Likelihood) -> &'static str {
    match l {
        Likelihood::BernoulliLogits => "bernoulli",
        Likelihood::GaussianUnit => "gaussian",
    }
}

/// A VAE whose shape is known only at run time (the CLI's view), all in f32.
pub trait DynVae {
    /// (X, H, Z).
    fn shape(&self) -> (usize, usize, usize);
    /// Trains on row-major `data` (`cols` must be X); see [`train`].
    fn train(
        &mut self,
        data: &[f32],
        cols: usize,
        config: &TrainConfig,
        rng: &mut Xoshiro256PlusPlus,
        on_epoch: &mut dyn FnMut(usize, f64),
    ) -> Result<Vec<f64>, String>;
    /// Mean ELBO over row-major `data` with `draws` draws each.
    fn mean_elbo(
        &self,
        data: &[f32],
        draws: usize,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<ElboTerms<f64>, String>;
    /// (μ, ln σ²) of one row (length X).
    fn encode(&self, x: &[f32]) -> Result<(Vec<f32>, Vec<f32>), String>;
    /// Mean of p(x | z) for one latent point (length Z).
    fn decode(&self, z: &[f32]) -> Result<Vec<f32>, String>;
    /// The model file contents.
    fn to_json(&self, train: Option<TrainInfo>) -> VaeJson;
    /// Overwrites every parameter (orders as in [`VaeJson`]); counts and finiteness checked.
    fn load_params(&mut self, encoder: &[f32], decoder: &[f32]) -> Result<(), String>;
}

struct Shaped<const X: usize, const H: usize, const Z: usize>(Box<MlpVae<f32, X, H, Z>>);

fn len_check(got: usize, want: usize, what: &str) -> Result<(), String> {
    if got == want { Ok(()) } else { Err(format!("{what} has {got} values, the model needs {want}")) }
}

impl<const X: usize, const H: usize, const Z: usize> DynVae for Shaped<X, H, Z> {
    fn shape(&self) -> (usize, usize, usize) {
        (X, H, Z)
    }
    fn train(
        &mut self,
        data: &[f32],
        cols: usize,
        config: &TrainConfig,
        rng: &mut Xoshiro256PlusPlus,
        on_epoch: &mut dyn FnMut(usize, f64),
    ) -> Result<Vec<f64>, String> {
        let rows =
            rows_as_arrays::<f32, X>(data, cols).ok_or(format!("data has {cols} columns, the model {X}"))?;
        train(&mut self.0, &rows, config, rng, on_epoch)
    }
    fn mean_elbo(
        &self,
        data: &[f32],
        draws: usize,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<ElboTerms<f64>, String> {
        let rows = rows_as_arrays::<f32, X>(data, data.len() / X.max(1)).filter(|_| data.len() % X == 0);
        let rows = rows.ok_or(format!("data is not a table of {X} columns"))?;
        Ok(mean_elbo(&self.0, &rows, draws, rng))
    }
    fn encode(&self, x: &[f32]) -> Result<(Vec<f32>, Vec<f32>), String> {
        len_check(x.len(), X, "a data row")?;
        let (mu, lv) = self.0.encode::<f32, X, Z>(x.try_into().expect("checked"));
        Ok((mu.to_vec(), lv.to_vec()))
    }
    fn decode(&self, z: &[f32]) -> Result<Vec<f32>, String> {
        len_check(z.len(), Z, "a latent row")?;
        Ok(self.0.decode::<f32, X, Z>(z.try_into().expect("checked")).to_vec())
    }
    fn to_json(&self, train: Option<TrainInfo>) -> VaeJson {
        VaeJson {
            format: "crabmix-vae".into(),
            features: X,
            hidden: H,
            latent: Z,
            likelihood: likelihood_name(self.0.likelihood).into(),
            encoder: params_f32(&self.0.encoder),
            decoder: params_f32(&self.0.decoder),
            train,
        }
    }
    fn load_params(&mut self, encoder: &[f32], decoder: &[f32]) -> Result<(), String> {
        load_params_f32(&mut self.0.encoder, encoder, "encoder")?;
        load_params_f32(&mut self.0.decoder, decoder, "decoder")
    }
}

/// (features X, hidden H, latent Z) combinations the CLI is compiled for: X ∈ {2, 64} (2-D
/// toy data, 8×8 images), H ∈ {16, 32, 64, 128}, Z ∈ {1, 2, 4, 8}. Each is one monomorphized
/// copy of the training code, so the list is kept short for build time.
pub const SUPPORTED: &str = "features 2 or 64, hidden 16/32/64/128, latent 1/2/4/8";

macro_rules! dispatch {
    ($x:expr, $h:expr, $z:expr, $lik:expr, $rng:expr; $($X:literal),*; $($H:literal),*; $($Z:literal),*) => {
        dispatch!(@x $x, $h, $z, $lik, $rng; [$($X),*]; [$($H),*]; [$($Z),*])
    };
    (@x $x:expr, $h:expr, $z:expr, $lik:expr, $rng:expr; [$($X:literal),*]; $hs:tt; $zs:tt) => {
        match $x { $($X => dispatch!(@h $X, $h, $z, $lik, $rng; $hs; $zs),)* _ => None }
    };
    (@h $X:literal, $h:expr, $z:expr, $lik:expr, $rng:expr; [$($H:literal),*]; $zs:tt) => {
        match $h { $($H => dispatch!(@z $X, $H, $z, $lik, $rng; $zs),)* _ => None }
    };
    (@z $X:literal, $H:literal, $z:expr, $lik:expr, $rng:expr; [$($Z:literal),*]) => {
        match $z {
            $($Z => Some(Box::new(Shaped::<$X, $H, $Z>(Box::new(new_vae($lik, $rng)))) as Box<dyn DynVae>),)*
            _ => None,
        }
    };
}

/// A freshly initialized VAE of the given shape (see [`new_vae`]), or an error naming
/// [`SUPPORTED`].
pub fn new_dyn(
    features: usize,
    hidden: usize,
    latent: usize,
    likelihood: Likelihood,
    rng: &mut Xoshiro256PlusPlus,
) -> Result<Box<dyn DynVae>, String> {
    dispatch!(features, hidden, latent, likelihood, rng; 2, 64; 16, 32, 64, 128; 1, 2, 4, 8).ok_or(format!(
        "no compiled VAE with features {features}, hidden {hidden}, latent {latent} ({SUPPORTED})"
    ))
}

/// A model from its JSON form: shape checked against [`SUPPORTED`], parameter counts and
/// finiteness checked.
pub fn from_json(j: &VaeJson) -> Result<Box<dyn DynVae>, String> {
    if j.format != "crabmix-vae" {
        return Err(format!("not a crabmix VAE model (format {:?})", j.format));
    }
    let lik = parse_likelihood(&j.likelihood)?;
    // Any generator: the initial weights are overwritten below.
    let mut rng = <Xoshiro256PlusPlus as rand_core::SeedableRng>::seed_from_u64(0);
    let mut m = new_dyn(j.features, j.hidden, j.latent, lik, &mut rng)?;
    m.load_params(&j.encoder, &j.decoder)?;
    Ok(m)
}
