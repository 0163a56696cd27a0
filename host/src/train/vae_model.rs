//! The VAE at any shape (what `crabmix vae` trains): an architecture chosen at run time, one flat
//! parameter vector, minibatch training on all cores ([`super::parallel`]), and the model file.
//!
//! Architecture for hidden widths h₁, …, h_k (k ≥ 1), ReLU after every hidden layer:
//! encoder X → h₁ → … → h_k, then two linear heads h_k → Z (μ and ln σ²); decoder
//! Z → h_k → … → h₁ → X, linear output (Bernoulli logits or Gaussian means). The per-sample
//! objective is the ELBO L = ln p(x|z) − KL(q(z|x) ‖ N(0, I)) at one reparameterized
//! z = μ + σ ⊙ ε (lecture eq 12–18); a step minimizes −(1/B) Σ_b L_b with Adam.
//!
//! Likelihoods p(x|z), out = decoder output:
//! * Bernoulli: ln p = Σ_j [x_j out_j − softplus(out_j)], x ∈ [0, 1];
//! * Gaussian, unit variance: ln p = −½ Σ_j (x_j − out_j)² − (X/2) ln 2π (eq 16–17);
//! * Gaussian, learned per-feature variance s_j = ln σ_j² (trained with the decoder):
//!   ln p = −½ Σ_j [(x_j − out_j)² e^{−s_j} + s_j + ln 2π].
//!
//! θ's layout: encoder body layers, μ head, ln σ² head (each W row-major then b: the kernels'
//! `Vae::encoder.visit_params` order for one hidden layer), decoder layers, then s (learned
//! variance only).

use super::data::{Standardization, finite_output as finite};
use super::net::{ActivationKind, Architecture, Init, LayerSpec};
use super::optim::FlatAdam;
use super::parallel::{BLOCK_ROWS, reduce_blocks};
use crate::device::mlp::DenseSpec;
use crate::device::traits::ActivationKind as DeviceAct;
use crabmix_kernels::gaussian::fill_standard_normal;
use crabmix_kernels::models::vae_net::{self, VaeLikelihood, VaeShape};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// Largest width of any layer (features, hidden units, latent size).
pub const MAX_WIDTH: usize = 65_536;
/// Most hidden layers.
pub const MAX_HIDDEN_LAYERS: usize = 16;
/// Most trainable scalars: 2²⁵ (128 MiB as f32; training holds four such vectors).
pub const MAX_PARAMS: usize = 1 << 25;

/// What the decoder's output parameterizes (formulas in the module header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LikelihoodKind {
    /// Independent Bernoulli with logits; data in [0, 1].
    Bernoulli,
    /// Gaussian with unit variance; decoder outputs means.
    Gaussian,
    /// Gaussian with a learned per-feature variance.
    GaussianLearned,
}

impl LikelihoodKind {
    /// The name used on the command line and in the model file.
    pub fn name(self) -> &'static str {
        match self {
            LikelihoodKind::Bernoulli => "bernoulli",
            LikelihoodKind::Gaussian => "gaussian",
            LikelihoodKind::GaussianLearned => "gaussian-learned",
        }
    }
}

/// A VAE's shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeArch {
    /// X, data columns.
    pub features: usize,
    /// h₁, …, h_k (encoder order; the decoder mirrors them).
    pub hidden: Vec<usize>,
    /// Z.
    pub latent: usize,
    /// p(x|z).
    pub likelihood: LikelihoodKind,
}

/// Checks a list of layer widths against the limits, naming the offending one.
pub fn check_widths(what: &str, widths: &[usize]) -> Result<(), String> {
    if widths.is_empty() {
        return Err(format!("{what}: at least one hidden layer is needed"));
    }
    if widths.len() > MAX_HIDDEN_LAYERS {
        return Err(format!("{what}: {} hidden layers, at most {MAX_HIDDEN_LAYERS}", widths.len()));
    }
    for (i, &w) in widths.iter().enumerate() {
        if w == 0 || w > MAX_WIDTH {
            return Err(format!("{what}: layer {} has width {w}, not 1 to {MAX_WIDTH}", i + 1));
        }
    }
    Ok(())
}

impl VaeArch {
    /// Errors on a size of 0 or past the limits ([`MAX_WIDTH`], [`MAX_HIDDEN_LAYERS`],
    /// [`MAX_PARAMS`]), naming it.
    pub fn validate(&self) -> Result<(), String> {
        check_widths("hidden", &self.hidden)?;
        for (name, v) in [("features", self.features), ("latent", self.latent)] {
            if v == 0 || v > MAX_WIDTH {
                return Err(format!("{name} is {v}, not 1 to {MAX_WIDTH}"));
            }
        }
        let (enc, dec) = self.specs();
        let count = |l: &[LayerSpec<f32>]| l.iter().map(|s| s.params() as u128).sum::<u128>();
        let head = 2 * (*self.hidden.last().expect("checked") as u128 + 1) * self.latent as u128;
        let n = count(&enc) + head + count(&dec) + self.features as u128;
        if n > MAX_PARAMS as u128 {
            return Err(format!("the network has {n} parameters, at most {MAX_PARAMS}"));
        }
        Ok(())
    }

    /// Encoder body X → h₁ → … → h_k (ReLU) and decoder Z → h_k → … → h₁ → X (ReLU, linear
    /// output), as the kernels' `vae_net` takes them.
    fn specs(&self) -> (Vec<LayerSpec<f32>>, Vec<LayerSpec<f32>>) {
        let relu = ActivationKind::Relu;
        let mut sizes = vec![self.features];
        sizes.extend(&self.hidden);
        let enc = sizes.windows(2).map(|w| LayerSpec::new(w[0], w[1], relu)).collect();
        let mut d = vec![self.latent];
        d.extend(self.hidden.iter().rev());
        d.push(self.features);
        let n = d.len() - 1;
        let dec = (0..n)
            .map(|l| LayerSpec::new(d[l], d[l + 1], if l + 1 == n { ActivationKind::Identity } else { relu }))
            .collect();
        (enc, dec)
    }

    /// The kernels' likelihood enum (`vae_net::VaeLikelihood`) of this one.
    pub fn vae_likelihood(&self) -> VaeLikelihood {
        match self.likelihood {
            LikelihoodKind::Bernoulli => VaeLikelihood::BernoulliLogits,
            LikelihoodKind::Gaussian => VaeLikelihood::GaussianUnit,
            LikelihoodKind::GaussianLearned => VaeLikelihood::GaussianLearned,
        }
    }
}

/// A VAE of any shape over the kernels' runtime core (`crabmix_kernels::models::vae_net`); see
/// the module header for θ's layout.
#[derive(Clone, Debug)]
pub struct VaeModel {
    arch: VaeArch,
    enc: Vec<LayerSpec<f32>>,
    dec: Vec<LayerSpec<f32>>,
    /// Every trainable scalar.
    pub theta: Vec<f32>,
    /// Transposed weights of θ (the core's forward reads them); refreshed on every change.
    wt: Vec<f32>,
    /// Applied to data before the encoder and inverted after the decoder.
    pub standardize: Option<Standardization>,
}

/// The message for a kernels error on buffers sized from the shape: a bug, not bad input.
const SIZED: &str = "buffers sized from the VAE shape";

impl VaeModel {
    /// A model of `arch` with Xavier-uniform weights and zero biases drawn from `rng` (encoder
    /// first, as `train::vae::new_vae`), learned variances ln σ² = 0.
    pub fn new<R: Rng + ?Sized>(
        arch: VaeArch,
        standardize: Option<Standardization>,
        rng: &mut R,
    ) -> Result<Self, String> {
        let mut m = Self::zeros(arch, standardize)?;
        let mut theta = std::mem::take(&mut m.theta);
        m.shape().init_params(&mut theta, Init::XavierUniform, rng).expect(SIZED);
        m.theta = theta;
        m.refresh();
        Ok(m)
    }

    fn zeros(arch: VaeArch, standardize: Option<Standardization>) -> Result<Self, String> {
        arch.validate()?;
        if let Some(s) = &standardize {
            s.validate(arch.features)?;
        }
        let (enc, dec) = arch.specs();
        let mut m = Self { arch, enc, dec, theta: Vec::new(), wt: Vec::new(), standardize };
        let shape = m.shape();
        let (n, w) = (shape.params_len(), shape.weights_len());
        (m.theta, m.wt) = (vec![0.0; n], vec![0.0; w]);
        Ok(m)
    }

    /// The kernels' view of the shape.
    fn shape(&self) -> VaeShape<'_, f32> {
        let enc = Architecture::new(&self.enc).expect("validated");
        let dec = Architecture::new(&self.dec).expect("validated");
        VaeShape::new(enc, self.arch.latent, dec, self.arch.vae_likelihood()).expect("validated")
    }

    /// Recomputes the transposed weights after θ changed.
    fn refresh(&mut self) {
        let mut wt = std::mem::take(&mut self.wt);
        self.shape().transpose_weights(&self.theta, &mut wt).expect(SIZED);
        self.wt = wt;
    }

    /// The shape.
    pub fn arch(&self) -> &VaeArch {
        &self.arch
    }

    /// The device pipeline's description of the encoder body and decoder
    /// ([`crate::device::mlp::DenseSpec`]).
    pub fn device_specs(&self) -> (Vec<DenseSpec>, Vec<DenseSpec>) {
        let conv = |l: &[LayerSpec<f32>]| -> Vec<DenseSpec> {
            l.iter()
                .map(|s| {
                    let act = match s.activation {
                        ActivationKind::Relu => DeviceAct::Relu,
                        _ => DeviceAct::Identity,
                    };
                    DenseSpec::new(s.inputs, s.outputs, act)
                })
                .collect()
        };
        (conv(&self.enc), conv(&self.dec))
    }

    /// Mean over the rows of `x` (rows × X, data units) of (ln p(x|z), KL), `draws` draws of ε
    /// per row from `rng` (drawn in row order before the parallel evaluation).
    pub fn mean_elbo<R: Rng + ?Sized>(&self, x: &[f32], draws: usize, rng: &mut R) -> (f64, f64) {
        let (xd, zd) = (self.arch.features, self.arch.latent);
        let rows = x.len() / xd;
        let mut xs = x.to_vec();
        if let Some(st) = &self.standardize {
            st.apply(&mut xs);
        }
        let shape = self.shape();
        let work_len = shape.work_len(BLOCK_ROWS).expect(SIZED);
        let (mut ll, mut kl) = (0.0, 0.0);
        let mut eps = vec![0.0f32; rows * zd];
        for _ in 0..draws.max(1) {
            fill_standard_normal(rng, &mut eps);
            let t = reduce_blocks(
                rows,
                0,
                || vec![0.0f32; work_len],
                |r, _, work| {
                    let (xr, er) = (&xs[r.start * xd..r.end * xd], &eps[r.start * zd..r.end * zd]);
                    let t = vae_net::elbo(&shape, &self.theta, &self.wt, xr, er, r.len(), work).expect(SIZED);
                    [t.log_likelihood as f64, t.kl as f64, 0.0, 0.0]
                },
                &mut [],
            );
            ll += t[0];
            kl += t[1];
        }
        let n = (rows.max(1) * draws.max(1)) as f64;
        (ll / n, kl / n)
    }

    /// (μ, ln σ²) of one data row (length X, data units). Errors when an output is not finite
    /// (a model with extreme weights): nothing non-finite is returned.
    pub fn encode(&self, x: &[f32]) -> Result<(Vec<f32>, Vec<f32>), String> {
        let shape = self.shape();
        let mut xs = x.to_vec();
        if let Some(st) = &self.standardize {
            st.apply(&mut xs);
        }
        let mut work = vec![0.0; shape.work_len(1).expect(SIZED)];
        let (mut mu, mut lv) = (vec![0.0; self.arch.latent], vec![0.0; self.arch.latent]);
        vae_net::encode(&shape, &self.theta, &self.wt, &xs, 1, &mut work, &mut mu, &mut lv).expect(SIZED);
        finite(&mu, "μ")?;
        finite(&lv, "ln σ²")?;
        Ok((mu, lv))
    }

    /// E[x | z] for one latent point (length Z), in data units: σ(out) for the Bernoulli, out
    /// (un-standardized) for the Gaussians. Errors when a value is not finite.
    pub fn decode(&self, z: &[f32]) -> Result<Vec<f32>, String> {
        let shape = self.shape();
        let mut work = vec![0.0; shape.work_len(1).expect(SIZED)];
        let mut out = vec![0.0; self.arch.features];
        vae_net::decode(&shape, &self.theta, &self.wt, z, 1, &mut work, &mut out).expect(SIZED);
        if let Some(st) = &self.standardize {
            st.invert(&mut out);
        }
        finite(&out, "the decoded mean")?;
        Ok(out)
    }

    /// The learned per-feature ln σ² (standardized units), if the likelihood has them.
    pub fn decoder_log_var(&self) -> Option<&[f32]> {
        let r = self.shape().param_ranges()[4].clone();
        (!r.is_empty()).then(|| &self.theta[r])
    }
}

/// Training hyperparameters of [`train`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeTrainConfig {
    /// Passes over the training rows.
    pub epochs: usize,
    /// Minibatch size B (≤ the training rows; the last batch of an epoch may be smaller).
    pub batch: usize,
    /// Adam learning rate (β = (0.9, 0.999), ε = 1e-8).
    pub lr: f64,
}

/// ELBO per epoch: on the training rows (the mean of the estimates seen during the epoch, before
/// each update) and on the validation rows (after the epoch, one draw per row; empty without
/// validation rows).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VaeCurves {
    /// Training ELBO per epoch.
    pub elbo_per_epoch: Vec<f64>,
    /// Validation ELBO per epoch.
    pub validation_elbo_per_epoch: Vec<f64>,
}

/// Trains `model` with Adam on `train` rows (data units, row-major X columns): each epoch
/// shuffles the row order from `rng`, then steps on consecutive minibatches, ε for a batch drawn
/// from `rng` in row order. The gradient of a batch is summed over fixed blocks of rows on all
/// cores and merged in block order, so the result is the same for every thread count.
/// `validation` rows are scored after each epoch with a generator of their own (seeded by
/// `validation_seed` and the epoch), so they do not change the training trajectory.
/// `on_epoch(epoch, train_elbo, validation_elbo)` is called after each epoch.
///
/// Errors (nothing of the model should be kept then): no training rows, batch 0 or above the
/// rows, or a non-finite ELBO or parameter (divergence), naming the epoch and batch.
pub fn train<R: Rng + ?Sized>(
    model: &mut VaeModel,
    train: &[f32],
    validation: &[f32],
    config: &VaeTrainConfig,
    rng: &mut R,
    validation_seed: u64,
    mut on_epoch: impl FnMut(usize, f64, Option<f64>),
) -> Result<VaeCurves, String> {
    let (xd, zd) = (model.arch.features, model.arch.latent);
    let rows = train.len() / xd;
    if rows == 0 || config.batch == 0 || config.batch > rows {
        return Err(format!("training needs 1 ≤ batch ≤ rows (batch {}, {rows} rows)", config.batch));
    }
    let mut xs = train.to_vec();
    if let Some(st) = &model.standardize {
        st.apply(&mut xs);
    }
    let mut adam = FlatAdam::new(model.theta.len(), config.lr as f32, 0.9, 0.999);
    let mut grads = vec![0.0f32; model.theta.len()];
    let mut order: Vec<usize> = (0..rows).collect();
    let (mut xb, mut eps) = (Vec::new(), Vec::new());
    let mut curves = VaeCurves::default();
    let work_len = model.shape().work_len(BLOCK_ROWS).expect(SIZED);
    for epoch in 0..config.epochs {
        super::data::shuffle(&mut order, rng);
        let mut total = 0.0f64;
        for (bi, idx) in order.chunks(config.batch).enumerate() {
            let b = idx.len();
            xb.clear();
            for &i in idx {
                xb.extend_from_slice(&xs[i * xd..(i + 1) * xd]);
            }
            eps.resize(b * zd, 0.0);
            fill_standard_normal(rng, &mut eps);
            let weight = 1.0 / b as f32;
            let m = &*model;
            let shape = m.shape();
            let t = reduce_blocks(
                b,
                m.theta.len(),
                || vec![0.0f32; work_len],
                |r, g, work| {
                    let (x, e) = (&xb[r.start * xd..r.end * xd], &eps[r.start * zd..r.end * zd]);
                    let t = vae_net::accumulate(&shape, &m.theta, &m.wt, x, e, r.len(), weight, work, g)
                        .expect(SIZED);
                    [t.log_likelihood as f64, t.kl as f64, 0.0, 0.0]
                },
                &mut grads,
            );
            let elbo = (t[0] - t[1]) / b as f64;
            if !elbo.is_finite() || grads.iter().any(|g| !g.is_finite()) {
                return Err(format!(
                    "epoch {}, batch {}: the ELBO or its gradient is not finite (training diverged; \
                     try a smaller --lr, or --standardize)",
                    epoch + 1,
                    bi + 1
                ));
            }
            total += elbo * b as f64;
            adam.step(&mut model.theta, &grads);
            model.refresh();
        }
        if let Some(i) = model.theta.iter().position(|v| !v.is_finite()) {
            return Err(format!("epoch {}: parameter {i} is not finite (training diverged)", epoch + 1));
        }
        let elbo = total / rows as f64;
        curves.elbo_per_epoch.push(elbo);
        let val = validation_elbo(model, validation, validation_seed, epoch);
        if let Some(v) = val {
            if !v.is_finite() {
                return Err(format!("epoch {}: the validation ELBO is not finite", epoch + 1));
            }
            curves.validation_elbo_per_epoch.push(v);
        }
        on_epoch(epoch, elbo, val);
    }
    Ok(curves)
}

/// The validation rows' mean ELBO after `epoch` (one draw of ε per row from a generator seeded
/// by `seed + epoch`, so it depends on the seed only), or `None` without a validation split.
fn validation_elbo(model: &VaeModel, validation: &[f32], seed: u64, epoch: usize) -> Option<f64> {
    (!validation.is_empty()).then(|| {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed.wrapping_add(epoch as u64));
        let (ll, kl) = model.mean_elbo(validation, 1, &mut rng);
        ll - kl
    })
}

/// [`train`] through the device pipeline ([`crate::device::mlp::DeviceVae`] on `kernels`: a
/// CUDA device, or the g++ shim in tests): parameters, Adam state and activations stay resident;
/// ε is drawn on the device (Philox, keyed by one `rng` draw per step). Every likelihood (the
/// learned ln σ² train on the device too); the training rows are standardized on the host first
/// when the model has a standardization, as [`train`] does. The device network is sized for full batches, so each epoch steps on
/// ⌊rows / batch⌋ batches of the shuffled order (the remainder, < batch rows, waits for the next
/// epoch's shuffle). Parameters are read back after each epoch (checked finite, and used for the
/// validation ELBO on the host).
#[allow(clippy::too_many_arguments)]
pub fn train_on_device<K: crate::device::traits::MlpKernels<f32>, R: Rng + ?Sized>(
    kernels: &K,
    model: &mut VaeModel,
    train: &[f32],
    validation: &[f32],
    config: &VaeTrainConfig,
    rng: &mut R,
    validation_seed: u64,
    on_epoch: &mut dyn FnMut(usize, f64, Option<f64>),
) -> Result<VaeCurves, String> {
    use crate::device::mlp::DeviceVae;
    use crate::device::traits::device_adam;
    let (xd, zd) = (model.arch.features, model.arch.latent);
    let rows = train.len() / xd;
    if rows == 0 || config.batch == 0 || config.batch > rows {
        return Err(format!("training needs 1 ≤ batch ≤ rows (batch {}, {rows} rows)", config.batch));
    }
    let mut xs = train.to_vec();
    if let Some(st) = &model.standardize {
        st.apply(&mut xs);
    }
    let train = &xs[..];
    let n_dev = model.theta.len();
    let (body, decoder) = model.device_specs();
    let mut dev = DeviceVae::with_likelihood(
        kernels,
        &body,
        zd,
        &decoder,
        config.batch,
        &model.theta,
        model.arch.vae_likelihood(),
        device_adam(config.lr as f32),
    )
    .map_err(|e| e.to_string())?;
    let mut order: Vec<usize> = (0..rows).collect();
    let mut xb = Vec::with_capacity(config.batch * xd);
    let mut curves = VaeCurves::default();
    for epoch in 0..config.epochs {
        super::data::shuffle(&mut order, rng);
        let (mut total, mut seen) = (0.0f64, 0usize);
        for (bi, idx) in order.chunks_exact(config.batch).enumerate() {
            xb.clear();
            for &i in idx {
                xb.extend_from_slice(&train[i * xd..(i + 1) * xd]);
            }
            let t = dev.step(&xb, rng.next_u64()).map_err(|e| e.to_string())?;
            let elbo = t.elbo() as f64;
            if !elbo.is_finite() {
                return Err(format!(
                    "epoch {}, batch {}: the ELBO is not finite (training diverged; try a smaller --lr)",
                    epoch + 1,
                    bi + 1
                ));
            }
            total += elbo * idx.len() as f64;
            seen += idx.len();
        }
        let p = dev.params().map_err(|e| e.to_string())?;
        if let Some(i) = p.iter().position(|v| !v.is_finite()) {
            return Err(format!("epoch {}: parameter {i} is not finite (training diverged)", epoch + 1));
        }
        model.theta[..n_dev].copy_from_slice(&p);
        model.refresh();
        let elbo = total / seen.max(1) as f64;
        curves.elbo_per_epoch.push(elbo);
        let val = validation_elbo(model, validation, validation_seed, epoch);
        if let Some(v) = val {
            curves.validation_elbo_per_epoch.push(v);
        }
        on_epoch(epoch, elbo, val);
    }
    Ok(curves)
}

/// Widths given either as one number (model files before runtime shapes: one hidden layer) or a
/// list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Widths {
    /// One hidden layer.
    One(usize),
    /// h₁, …, h_k.
    Many(Vec<usize>),
}

impl Widths {
    /// As a list.
    pub fn to_vec(&self) -> Vec<usize> {
        match self {
            Widths::One(h) => vec![*h],
            Widths::Many(v) => v.clone(),
        }
    }
}

/// The model file of `crabmix vae train --output`: the architecture, standardization and every
/// parameter, so it is all `encode`/`decode`/`sample`/`traverse` need.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeJson {
    /// Always `"crabmix-vae"`.
    pub format: String,
    /// X, data columns.
    pub features: usize,
    /// Hidden widths h₁, …, h_k (a single number in older files).
    pub hidden: Widths,
    /// Z.
    pub latent: usize,
    /// `"bernoulli"`, `"gaussian"` or `"gaussian-learned"`.
    pub likelihood: LikelihoodKind,
    /// The hidden layers' activation (always `"relu"`).
    #[serde(default = "relu")]
    pub activation: String,
    /// Per-feature standardization applied before the encoder, if trained with `--standardize`.
    #[serde(default)]
    pub standardize: Option<Standardization>,
    /// Encoder parameters: body layers, μ head, ln σ² head (per layer W row-major, then b).
    pub encoder: Vec<f32>,
    /// Decoder parameters, same convention.
    pub decoder: Vec<f32>,
    /// Learned per-feature ln σ² (`gaussian-learned` only).
    #[serde(default)]
    pub decoder_log_var: Option<Vec<f32>>,
    /// How it was trained.
    #[serde(default)]
    pub train: Option<VaeTrainInfo>,
}

fn relu() -> String {
    "relu".into()
}

/// Training record kept in the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeTrainInfo {
    /// Hyperparameters.
    pub config: VaeTrainConfig,
    /// Seed of the xoshiro256++ generator (initialization, shuffling, ε; the validation split).
    pub seed: u64,
    /// Fraction of rows held out for validation.
    #[serde(default)]
    pub validation: f64,
    /// The ELBO curves.
    #[serde(flatten)]
    pub curves: VaeCurves,
}

impl VaeModel {
    /// The model file; `None` when a parameter is not finite (no such file is ever written).
    pub fn to_json(&self, train: Option<VaeTrainInfo>) -> Option<VaeJson> {
        if self.theta.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let r = self.shape().param_ranges();
        Some(VaeJson {
            format: "crabmix-vae".into(),
            features: self.arch.features,
            hidden: Widths::Many(self.arch.hidden.clone()),
            latent: self.arch.latent,
            likelihood: self.arch.likelihood,
            activation: relu(),
            standardize: self.standardize.clone(),
            encoder: self.theta[..r[3].start].to_vec(),
            decoder: self.theta[r[3].clone()].to_vec(),
            decoder_log_var: self.decoder_log_var().map(<[f32]>::to_vec),
            train,
        })
    }

    /// A model from its file: the architecture checked against the limits before anything is
    /// allocated, parameter counts and finiteness checked.
    pub fn from_json(j: &VaeJson) -> Result<Self, String> {
        if j.format != "crabmix-vae" {
            return Err(format!("not a crabmix VAE model (format {:?})", j.format));
        }
        if j.activation != "relu" {
            return Err(format!("activation {:?} is not supported (relu)", j.activation));
        }
        let arch = VaeArch {
            features: j.features,
            hidden: j.hidden.to_vec(),
            latent: j.latent,
            likelihood: j.likelihood,
        };
        let mut m = Self::zeros(arch, j.standardize.clone())?;
        let r = m.shape().param_ranges();
        let lv: &[f32] = j.decoder_log_var.as_deref().unwrap_or(&[]);
        for (what, got, want) in [
            ("encoder", j.encoder.len(), r[3].start),
            ("decoder", j.decoder.len(), r[3].len()),
            ("decoder_log_var", lv.len(), r[4].len()),
        ] {
            if got != want {
                return Err(format!("{what}: {got} parameters, the architecture needs {want}"));
            }
        }
        for (what, v) in [("encoder", &j.encoder[..]), ("decoder", &j.decoder[..]), ("decoder_log_var", lv)] {
            if let Some(i) = v.iter().position(|p| !p.is_finite()) {
                return Err(format!("{what}: parameter {i} is not finite"));
            }
        }
        m.theta[..r[3].start].copy_from_slice(&j.encoder);
        m.theta[r[3].clone()].copy_from_slice(&j.decoder);
        m.theta[r[4].clone()].copy_from_slice(lv);
        m.refresh();
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(lik: LikelihoodKind) -> VaeModel {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let arch = VaeArch { features: 5, hidden: vec![7, 4], latent: 3, likelihood: lik };
        let mut m = VaeModel::new(arch, None, &mut rng).unwrap();
        // Non-zero biases and variances, so every gradient term is exercised.
        for (i, t) in m.theta.iter_mut().enumerate() {
            *t += 0.05 * ((i as f32) * 0.7).sin();
        }
        m
    }

    /// Training on 1 thread and on 4 gives the same parameters bit for bit (fixed blocks, merged
    /// in block order), with a batch of 40 (three blocks, the last one short).
    #[test]
    fn training_does_not_depend_on_the_thread_count() {
        let data: Vec<f32> = (0..120 * 5).map(|k| (k as f32 * 0.61).sin() * 0.5 + 0.5).collect();
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut m = model(LikelihoodKind::GaussianLearned);
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
                let config = VaeTrainConfig { epochs: 2, batch: 40, lr: 1e-2 };
                let c = train(&mut m, &data, &data[..50], &config, &mut rng, 5, |_, _, _| {}).unwrap();
                (m.theta.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), c)
            })
        };
        let (a, ca) = run(1);
        let (b, cb) = run(4);
        assert_eq!(a, b);
        assert_eq!(ca, cb);
        assert_eq!(ca.validation_elbo_per_epoch.len(), 2);
    }

    /// At a compiled shape (64 → 16 → (2 + 2), one block per batch) the runtime trainer is the
    /// kernels' const-generic `VaeTrainer` (`train::vae::train`) bit for bit: same initial
    /// weights, shuffles, ε, gradients and Adam updates, over two epochs of batch 16 (40 rows:
    /// the last batch of each epoch is short).
    #[test]
    fn equals_the_const_generic_trainer_bit_for_bit() {
        use crate::train::params::params_f32;
        use crate::train::vae::{TrainConfig, new_vae, train as train_fixed};
        use crabmix_kernels::models::Likelihood;
        let rows: Vec<[f32; 64]> = (0..40)
            .map(|r| core::array::from_fn(|j| ((r * 64 + j) as f32 * 0.37).sin() * 0.5 + 0.5))
            .collect();
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let mut r1 = Xoshiro256PlusPlus::seed_from_u64(6);
        let mut fixed = new_vae::<f32, _, 64, 16, 2>(Likelihood::BernoulliLogits, &mut r1);
        let c1 = train_fixed(
            &mut fixed,
            &rows,
            &TrainConfig { epochs: 2, batch: 16, lr: 1e-2 },
            &mut r1,
            |_, _| {},
        )
        .unwrap();
        let mut r2 = Xoshiro256PlusPlus::seed_from_u64(6);
        let arch =
            VaeArch { features: 64, hidden: vec![16], latent: 2, likelihood: LikelihoodKind::Bernoulli };
        let mut m = VaeModel::new(arch, None, &mut r2).unwrap();
        let config = VaeTrainConfig { epochs: 2, batch: 16, lr: 1e-2 };
        let c2 = train(&mut m, &flat, &[], &config, &mut r2, 0, |_, _, _| {}).unwrap();
        let mut want = params_f32(&fixed.encoder);
        want.extend(params_f32(&fixed.decoder));
        let bits = |v: &[f32]| v.iter().map(|p| p.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&m.theta), bits(&want));
        // The reported curves differ in bookkeeping only: the kernels' trainer returns an f32
        // batch mean, the runtime one sums the blocks' terms in f64.
        for (a, b) in c1.iter().zip(&c2.elbo_per_epoch) {
            assert!((a - b).abs() < 1e-5 * a.abs(), "{a} vs {b}");
        }
    }

    #[test]
    fn json_round_trip_keeps_every_parameter_and_rejects_bad_counts() {
        let m = model(LikelihoodKind::GaussianLearned);
        let j = m.to_json(None).unwrap();
        let text = serde_json::to_string(&j).unwrap();
        let back = VaeModel::from_json(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back.theta, m.theta);
        let mut bad = j.clone();
        bad.decoder.pop();
        assert!(VaeModel::from_json(&bad).unwrap_err().contains("decoder:"));
        let mut nan = m.clone();
        nan.theta[3] = f32::NAN;
        assert!(nan.to_json(None).is_none());
    }
}
