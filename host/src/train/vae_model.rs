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
use super::net::{ActivationKind, Mlp, Trace};
use super::optim::FlatAdam;
use super::parallel::reduce_blocks;
use crabmix_kernels::Real;
use crabmix_kernels::gaussian::fill_standard_normal;
use crabmix_kernels::mlp::Init;
use crabmix_kernels::mlp::activation::logistic;
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
        let (b, h, d) = self.nets()?;
        let n = b.params() as u128 + 2 * h.params() as u128 + d.params() as u128 + self.features as u128;
        if n > MAX_PARAMS as u128 {
            return Err(format!("the network has {n} parameters, at most {MAX_PARAMS}"));
        }
        Ok(())
    }

    fn nets(&self) -> Result<(Mlp, Mlp, Mlp), String> {
        let relu = ActivationKind::Relu;
        let mut sizes = vec![self.features];
        sizes.extend(&self.hidden);
        let body = Mlp::from_sizes(&sizes, relu, relu)?;
        let head = Mlp::from_sizes(
            &[*sizes.last().expect("features"), self.latent],
            relu,
            ActivationKind::Identity,
        )?;
        let mut dec = vec![self.latent];
        dec.extend(self.hidden.iter().rev());
        dec.push(self.features);
        let decoder = Mlp::from_sizes(&dec, relu, ActivationKind::Identity)?;
        Ok((body, head, decoder))
    }
}

/// A VAE of any shape; see the module header for θ's layout.
#[derive(Clone, Debug)]
pub struct VaeModel {
    arch: VaeArch,
    body: Mlp,
    head: Mlp,
    decoder: Mlp,
    /// Every trainable scalar.
    pub theta: Vec<f32>,
    /// Applied to data before the encoder and inverted after the decoder.
    pub standardize: Option<Standardization>,
}

/// Per-thread buffers of one block's forward and backward pass.
#[derive(Default)]
pub struct Scratch {
    body: Trace,
    mu: Trace,
    lv: Trace,
    dec: Trace,
    z: Vec<f32>,
    g_out: Vec<f32>,
    g_z: Vec<f32>,
    g_mu: Vec<f32>,
    g_lv: Vec<f32>,
    g_h: Vec<f32>,
    g_h2: Vec<f32>,
}

impl VaeModel {
    /// A model of `arch` with Xavier-uniform weights and zero biases drawn from `rng` (encoder
    /// first, as `train::vae::new_vae`), learned variances s = 0.
    pub fn new<R: Rng + ?Sized>(
        arch: VaeArch,
        standardize: Option<Standardization>,
        rng: &mut R,
    ) -> Result<Self, String> {
        let mut m = Self::zeros(arch, standardize)?;
        let o = m.offsets();
        m.body.init(&mut m.theta[..o[1]], Init::XavierUniform, rng);
        m.head.init(&mut m.theta[o[1]..o[2]], Init::XavierUniform, rng);
        m.head.init(&mut m.theta[o[2]..o[3]], Init::XavierUniform, rng);
        m.decoder.init(&mut m.theta[o[3]..o[4]], Init::XavierUniform, rng);
        Ok(m)
    }

    fn zeros(arch: VaeArch, standardize: Option<Standardization>) -> Result<Self, String> {
        arch.validate()?;
        if let Some(s) = &standardize {
            s.validate(arch.features)?;
        }
        let (body, head, decoder) = arch.nets()?;
        let learned = if arch.likelihood == LikelihoodKind::GaussianLearned { arch.features } else { 0 };
        let n = body.params() + 2 * head.params() + decoder.params() + learned;
        Ok(Self { arch, body, head, decoder, theta: vec![0.0; n], standardize })
    }

    /// The shape.
    pub fn arch(&self) -> &VaeArch {
        &self.arch
    }

    /// Start of body, μ head, ln σ² head, decoder, learned variances, and the end.
    fn offsets(&self) -> [usize; 6] {
        let a = self.body.params();
        let b = a + self.head.params();
        let c = b + self.head.params();
        let d = c + self.decoder.params();
        [0, a, b, c, d, self.theta.len()]
    }

    /// Forward pass of rows `x` (rows × X, already standardized) with noise `eps` (rows × Z):
    /// returns Σ_rows ln p(x|z) and Σ_rows KL, leaving z, the traces and g_out = −∂ln p/∂out ·
    /// `weight` in `s` (for [`Self::backward`]), and adding −∂ln p/∂s · weight into `g_s` (learned
    /// variance).
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        theta: &[f32],
        x: &[f32],
        eps: &[f32],
        rows: usize,
        weight: f32,
        s: &mut Scratch,
        g_s: Option<&mut [f32]>,
    ) -> (f64, f64) {
        let o = self.offsets();
        let (xd, zd) = (self.arch.features, self.arch.latent);
        self.body.forward(&theta[..o[1]], x, rows, &mut s.body);
        let h = self.body.output(&s.body);
        self.head.forward(&theta[o[1]..o[2]], h, rows, &mut s.mu);
        self.head.forward(&theta[o[2]..o[3]], h, rows, &mut s.lv);
        let (mu, lv) = (self.head.output(&s.mu), self.head.output(&s.lv));
        s.z.clear();
        s.z.extend((0..rows * zd).map(|k| mu[k] + (0.5 * lv[k]).exp() * eps[k]));
        let mut kl = 0.0f64;
        for r in 0..rows {
            let mut k = 0.0f32;
            for j in r * zd..(r + 1) * zd {
                k += lv[j].exp() + mu[j] * mu[j] - 1.0 - lv[j];
            }
            kl += (0.5 * k) as f64;
        }
        self.decoder.forward(&theta[o[3]..o[4]], &s.z, rows, &mut s.dec);
        let out = self.decoder.output(&s.dec);
        s.g_out.clear();
        s.g_out.resize(rows * xd, 0.0);
        let mut ll = 0.0f64;
        let ln_2pi = f32::LN_2PI;
        match self.arch.likelihood {
            LikelihoodKind::Bernoulli => {
                for r in 0..rows {
                    let mut acc = 0.0f32;
                    for j in r * xd..(r + 1) * xd {
                        let l = out[j];
                        acc += l.max(0.0) - l * x[j] + (-l.abs()).exp().ln_1p();
                        s.g_out[j] = weight * (logistic(l) - x[j]);
                    }
                    ll -= acc as f64;
                }
            }
            LikelihoodKind::Gaussian => {
                for r in 0..rows {
                    let mut acc = 0.0f32;
                    for j in r * xd..(r + 1) * xd {
                        let d = out[j] - x[j];
                        acc += d * d;
                        s.g_out[j] = weight * d;
                    }
                    ll += (-0.5 * (acc + xd as f32 * ln_2pi)) as f64;
                }
            }
            LikelihoodKind::GaussianLearned => {
                let lvx = &theta[o[4]..o[5]];
                let mut g_s = g_s;
                for r in 0..rows {
                    let mut acc = 0.0f32;
                    for j in 0..xd {
                        let k = r * xd + j;
                        let d = out[k] - x[k];
                        let inv = (-lvx[j]).exp();
                        acc += d * d * inv + lvx[j] + ln_2pi;
                        s.g_out[k] = weight * d * inv;
                        if let Some(g) = g_s.as_deref_mut() {
                            g[j] += weight * 0.5 * (1.0 - d * d * inv);
                        }
                    }
                    ll += (-0.5 * acc) as f64;
                }
            }
        }
        (ll, kl)
    }

    /// Backward pass after [`Self::forward`]: adds ∂(−weight·Σ L)/∂θ into `grads` (body, heads,
    /// decoder parts; the learned-variance part was added by `forward`).
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        theta: &[f32],
        x: &[f32],
        eps: &[f32],
        rows: usize,
        weight: f32,
        s: &mut Scratch,
        grads: &mut [f32],
    ) {
        let o = self.offsets();
        let zd = self.arch.latent;
        let (g_body, rest) = grads[..o[4]].split_at_mut(o[1]);
        let (g_mu_p, rest) = rest.split_at_mut(o[2] - o[1]);
        let (g_lv_p, g_dec) = rest.split_at_mut(o[3] - o[2]);
        s.g_z.resize(rows * zd, 0.0);
        let g_out = std::mem::take(&mut s.g_out);
        self.decoder.backward(&theta[o[3]..o[4]], &s.z, rows, &mut s.dec, &g_out, g_dec, Some(&mut s.g_z));
        s.g_out = g_out;
        let (mu, lv) = (self.head.output(&s.mu), self.head.output(&s.lv));
        s.g_mu.clear();
        s.g_lv.clear();
        for k in 0..rows * zd {
            let sd = (0.5 * lv[k]).exp();
            // z = μ + σ ε: ∂z/∂μ = 1, ∂z/∂ln σ² = ½ σ ε; KL = ½ (e^{ln σ²} + μ² − 1 − ln σ²).
            s.g_mu.push(s.g_z[k] + weight * mu[k]);
            s.g_lv.push(s.g_z[k] * 0.5 * sd * eps[k] + weight * 0.5 * (lv[k].exp() - 1.0));
        }
        let h_dim = self.head.inputs();
        s.g_h.resize(rows * h_dim, 0.0);
        s.g_h2.resize(rows * h_dim, 0.0);
        let h = self.body.output(&s.body).to_vec();
        let (g_mu, g_lv) = (std::mem::take(&mut s.g_mu), std::mem::take(&mut s.g_lv));
        self.head.backward(&theta[o[1]..o[2]], &h, rows, &mut s.mu, &g_mu, g_mu_p, Some(&mut s.g_h));
        self.head.backward(&theta[o[2]..o[3]], &h, rows, &mut s.lv, &g_lv, g_lv_p, Some(&mut s.g_h2));
        (s.g_mu, s.g_lv) = (g_mu, g_lv);
        for (a, b) in s.g_h.iter_mut().zip(&s.g_h2) {
            *a += b;
        }
        let g_h = std::mem::take(&mut s.g_h);
        self.body.backward(&theta[..o[1]], x, rows, &mut s.body, &g_h, g_body, None);
        s.g_h = g_h;
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
        let (mut ll, mut kl) = (0.0, 0.0);
        let mut eps = vec![0.0f32; rows * zd];
        for _ in 0..draws.max(1) {
            fill_standard_normal(rng, &mut eps);
            let t = reduce_blocks(
                rows,
                0,
                Scratch::default,
                |r, _, s| {
                    let (a, b) = self.forward(
                        &self.theta,
                        &xs[r.start * xd..r.end * xd],
                        &eps[r.start * zd..r.end * zd],
                        r.len(),
                        0.0,
                        s,
                        None,
                    );
                    [a, b, 0.0, 0.0]
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
        let o = self.offsets();
        let mut xs = x.to_vec();
        if let Some(st) = &self.standardize {
            st.apply(&mut xs);
        }
        let h = self.body.predict(&self.theta[..o[1]], &xs);
        let mu = self.head.predict(&self.theta[o[1]..o[2]], &h);
        let lv = self.head.predict(&self.theta[o[2]..o[3]], &h);
        finite(&mu, "μ")?;
        finite(&lv, "ln σ²")?;
        Ok((mu, lv))
    }

    /// E[x | z] for one latent point (length Z), in data units: σ(out) for the Bernoulli, out
    /// (un-standardized) for the Gaussians. Errors when a value is not finite.
    pub fn decode(&self, z: &[f32]) -> Result<Vec<f32>, String> {
        let o = self.offsets();
        let mut out = self.decoder.predict(&self.theta[o[3]..o[4]], z);
        if self.arch.likelihood == LikelihoodKind::Bernoulli {
            out.iter_mut().for_each(|v| *v = logistic(*v));
        } else if let Some(st) = &self.standardize {
            st.invert(&mut out);
        }
        finite(&out, "the decoded mean")?;
        Ok(out)
    }

    /// The learned per-feature ln σ² (standardized units), if the likelihood has them.
    pub fn decoder_log_var(&self) -> Option<&[f32]> {
        let o = self.offsets();
        (o[5] > o[4]).then(|| &self.theta[o[4]..o[5]])
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
    let o = model.offsets();
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
            let learned = o[5] - o[4];
            let t = reduce_blocks(
                b,
                m.theta.len(),
                Scratch::default,
                |r, g, s| {
                    let (x, e) = (&xb[r.start * xd..r.end * xd], &eps[r.start * zd..r.end * zd]);
                    let g_s = if learned > 0 { Some(&mut g[o[4]..o[5]]) } else { None };
                    let (ll, kl) = m.forward(&m.theta, x, e, r.len(), weight, s, g_s);
                    m.backward(&m.theta, x, e, r.len(), weight, s, g);
                    [ll, kl, 0.0, 0.0]
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
        }
        if let Some(i) = model.theta.iter().position(|v| !v.is_finite()) {
            return Err(format!("epoch {}: parameter {i} is not finite (training diverged)", epoch + 1));
        }
        let elbo = total / rows as f64;
        curves.elbo_per_epoch.push(elbo);
        let val = (!validation.is_empty()).then(|| {
            let mut vr = Xoshiro256PlusPlus::seed_from_u64(validation_seed.wrapping_add(epoch as u64));
            let (ll, kl) = model.mean_elbo(validation, 1, &mut vr);
            ll - kl
        });
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

/// [`train`] through the device pipeline ([`crate::device::mlp::DeviceVae`] on `kernels`: a
/// CUDA device, or the g++ shim in tests): parameters, Adam state and activations stay resident;
/// ε is drawn on the device (Philox, keyed by one `rng` draw per step). Bernoulli likelihood
/// only. The device network is sized for full batches, so each epoch steps on
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
    if model.arch.likelihood != LikelihoodKind::Bernoulli {
        return Err("the device pipeline has the Bernoulli likelihood only".into());
    }
    let (xd, zd) = (model.arch.features, model.arch.latent);
    let rows = train.len() / xd;
    if rows == 0 || config.batch == 0 || config.batch > rows {
        return Err(format!("training needs 1 ≤ batch ≤ rows (batch {}, {rows} rows)", config.batch));
    }
    let o = model.offsets();
    let mut dev = DeviceVae::new(
        kernels,
        model.body.specs(),
        zd,
        model.decoder.specs(),
        config.batch,
        &model.theta[..o[4]],
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
        model.theta[..o[4]].copy_from_slice(&p);
        let elbo = total / seen.max(1) as f64;
        curves.elbo_per_epoch.push(elbo);
        let val = (!validation.is_empty()).then(|| {
            let mut vr = Xoshiro256PlusPlus::seed_from_u64(validation_seed.wrapping_add(epoch as u64));
            let (ll, kl) = model.mean_elbo(validation, 1, &mut vr);
            ll - kl
        });
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
        let o = self.offsets();
        Some(VaeJson {
            format: "crabmix-vae".into(),
            features: self.arch.features,
            hidden: Widths::Many(self.arch.hidden.clone()),
            latent: self.arch.latent,
            likelihood: self.arch.likelihood,
            activation: relu(),
            standardize: self.standardize.clone(),
            encoder: self.theta[..o[3]].to_vec(),
            decoder: self.theta[o[3]..o[4]].to_vec(),
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
        let o = m.offsets();
        let lv: &[f32] = j.decoder_log_var.as_deref().unwrap_or(&[]);
        for (what, got, want) in [
            ("encoder", j.encoder.len(), o[3]),
            ("decoder", j.decoder.len(), o[4] - o[3]),
            ("decoder_log_var", lv.len(), o[5] - o[4]),
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
        m.theta[..o[3]].copy_from_slice(&j.encoder);
        m.theta[o[3]..o[4]].copy_from_slice(&j.decoder);
        m.theta[o[4]..].copy_from_slice(lv);
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

    /// −(1/B) Σ L as a function of θ, for central differences in f64 terms (f32 model).
    fn loss(m: &VaeModel, theta: &[f32], x: &[f32], eps: &[f32], rows: usize) -> f64 {
        let mut s = Scratch::default();
        let mut g_s = vec![0.0; m.arch.features];
        let (ll, kl) = m.forward(theta, x, eps, rows, 1.0, &mut s, Some(&mut g_s));
        -(ll - kl) / rows as f64
    }

    /// The analytic gradient of every parameter agrees with central differences, for each
    /// likelihood (f32: step 2e-3, below the distance to the ReLU kinks here; tolerance 2 % of the
    /// gradient's scale).
    #[test]
    fn gradient_matches_central_differences() {
        for lik in [LikelihoodKind::Bernoulli, LikelihoodKind::Gaussian, LikelihoodKind::GaussianLearned] {
            let m = model(lik);
            let rows = 3;
            let x: Vec<f32> = (0..rows * 5).map(|k| (k as f32 * 0.37).sin() * 0.5 + 0.5).collect();
            let eps: Vec<f32> = (0..rows * 3).map(|k| (k as f32 * 1.3).cos()).collect();
            let mut g = vec![0.0; m.theta.len()];
            let mut s = Scratch::default();
            let w = 1.0 / rows as f32;
            let o = m.offsets();
            let learned = (o[5] > o[4]).then(|| &mut g[o[4]..o[5]]);
            m.forward(&m.theta, &x, &eps, rows, w, &mut s, learned);
            m.backward(&m.theta, &x, &eps, rows, w, &mut s, &mut g);
            let scale = g.iter().fold(0.0f32, |a, v| a.max(v.abs())) as f64;
            for i in 0..m.theta.len() {
                let h = 2e-3f32;
                let (mut tp, mut tm) = (m.theta.clone(), m.theta.clone());
                tp[i] += h;
                tm[i] -= h;
                let num = (loss(&m, &tp, &x, &eps, rows) - loss(&m, &tm, &x, &eps, rows)) / (2.0 * h as f64);
                assert!((num - g[i] as f64).abs() < 0.02 * scale, "{lik:?} θ{i}: {num} vs {}", g[i]);
            }
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
