//! Batched MLP and VAE training on a device: the kernels of `host/cuda/mlp.cu` (dense layer
//! forward/backward, activations, losses, Adam) and `host/cuda/gaussian.cu` (Philox
//! reparameterization, KL, the latent layer's backward) composed into whole networks whose
//! parameters, optimizer state, activations and gradients stay resident on the device.
//!
//! One pipeline, two executors: [`MlpKernels`] is implemented by the CUDA backend
//! (`Arc<CudaDevice>`, feature `cuda`) and by the g++ shim (`shim::ShimKernels`, feature
//! `cuda-shim`), so CI runs exactly the launch sequence the GPU runs and compares it with the
//! kernels crate (`crabmix_kernels::mlp`, `crabmix_kernels::models::vae`).
//!
//! Layouts (the crate's): a dense layer is `Dense<T, IN, OUT>` with `w[o][i]` row-major OUT × IN
//! then `b[o]`; a batch is row-major B × features; a network's flat parameter vector lists its
//! layers' (w, b) in order, which is the crate's `Layer::visit_params` order.

use crate::device::error::BackendError;
use crate::device::layout::{MLP_CHUNK_ROWS, MLP_TILE};
use crate::device::scalar::GpuScalar;
use crate::device::traits::{ActivationKind, DeviceAdam, MlpKernels};
use crabmix_kernels::Error;
use crabmix_kernels::models::ElboTerms;
pub use crabmix_kernels::models::vae_net::VaeLikelihood;

type Result<T> = std::result::Result<T, BackendError>;

/// One dense layer followed by its activation: y = f(W x + b), W of `outputs` × `inputs`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DenseSpec {
    /// Input width (the crate's IN).
    pub inputs: usize,
    /// Output width (the crate's OUT).
    pub outputs: usize,
    /// ActivationKind applied after the affine map (`Identity` for a bare `Dense`).
    pub act: ActivationKind,
}

impl DenseSpec {
    /// `Dense<_, inputs, outputs>` followed by `Act(act)` (or nothing for `Identity`).
    pub const fn new(inputs: usize, outputs: usize, act: ActivationKind) -> Self {
        Self { inputs, outputs, act }
    }

    /// Trainable scalars: outputs·inputs + outputs.
    pub const fn params(&self) -> usize {
        self.outputs * self.inputs + self.outputs
    }
}

/// Rows per chunk of the parameter-gradient reduction for a batch of `batch` rows: the batch in
/// one chunk up to [`MLP_CHUNK_ROWS`] (the crate's sample-by-sample order exactly), else chunks of
/// [`MLP_CHUNK_ROWS`]. Depends on the batch size only, so results are the same on every device.
pub fn chunk_rows_for(batch: usize) -> usize {
    if batch <= MLP_CHUNK_ROWS {
        batch.div_ceil(MLP_TILE as usize).max(1) * MLP_TILE as usize
    } else {
        MLP_CHUNK_ROWS
    }
}

/// `ShapeMismatch` unless `params` holds Σ outputs·(inputs + 1) values over `specs`.
fn check_param_count<'a, T>(specs: impl Iterator<Item = &'a DenseSpec>, params: &[T]) -> Result<()> {
    let total: usize = specs.map(DenseSpec::params).sum();
    if params.len() != total {
        return Err(
            Error::ShapeMismatch { what: "MLP parameters", expected: total, found: params.len() }.into()
        );
    }
    Ok(())
}

/// One layer's device buffers.
#[derive(Debug)]
struct LayerBufs<B> {
    spec: DenseSpec,
    w: B,
    b: B,
    gw: B,
    gb: B,
    mw: B,
    vw: B,
    mb: B,
    vb: B,
    /// pre-activation and activation, batch × outputs.
    pre: B,
    y: B,
    /// ∂L/∂pre, batch × outputs.
    gpre: B,
    /// ∂L/∂(this layer's input), batch × inputs (unused for the first layer: the caller's).
    gin: B,
    /// Per-chunk partial ∂L/∂W and ∂L/∂b.
    pw: B,
    pb: B,
}

/// A multilayer perceptron resident on a device, for batches of exactly `batch` rows: forward,
/// backward (parameter gradients written, not accumulated, each pass), Adam.
///
/// Contract: [`DeviceMlp::forward`] then [`DeviceMlp::backward`] with the same input compute,
/// for the loss whose gradient with respect to the output is `g_out` (B × OUT), ∂L/∂θ summed over
/// the batch (the crate's `Layer::backward` accumulated sample by sample from zero) and, when
/// asked, ∂L/∂X.
#[derive(Debug)]
pub struct DeviceMlp<T: GpuScalar, K: MlpKernels<T>> {
    kernels: K,
    batch: usize,
    chunk_rows: usize,
    layers: Vec<LayerBufs<K::Buf>>,
    steps: u32,
}

impl<T: GpuScalar, K: MlpKernels<T>> DeviceMlp<T, K> {
    /// Uploads `params` (the layers' (w, b) in order: Σ outputs·(inputs + 1) values) and
    /// allocates every buffer for batches of `batch` ≥ 1 rows.
    ///
    /// Errors: `ShapeMismatch` when consecutive layers' widths disagree or `params` has the
    /// wrong length; `EmptyData` for no layers or batch 0.
    pub fn new(kernels: &K, specs: &[DenseSpec], batch: usize, params: &[T]) -> Result<Self> {
        if specs.is_empty() || batch == 0 {
            return Err(Error::EmptyData.into());
        }
        for pair in specs.windows(2) {
            if pair[0].outputs != pair[1].inputs {
                return Err(Error::ShapeMismatch {
                    what: "layer inputs vs previous outputs",
                    expected: pair[0].outputs,
                    found: pair[1].inputs,
                }
                .into());
            }
        }
        check_param_count(specs.iter(), params)?;
        let chunk_rows = chunk_rows_for(batch);
        let chunks = batch.div_ceil(chunk_rows);
        let mut layers = Vec::with_capacity(specs.len());
        let mut off = 0;
        for &spec in specs {
            let (i, o) = (spec.inputs, spec.outputs);
            let zeros_w = vec![T::ZERO; o * i];
            let zeros_b = vec![T::ZERO; o];
            layers.push(LayerBufs {
                spec,
                w: kernels.upload(&params[off..off + o * i])?,
                b: kernels.upload(&params[off + o * i..off + o * i + o])?,
                gw: kernels.alloc(o * i)?,
                gb: kernels.alloc(o)?,
                mw: kernels.upload(&zeros_w)?,
                vw: kernels.upload(&zeros_w)?,
                mb: kernels.upload(&zeros_b)?,
                vb: kernels.upload(&zeros_b)?,
                pre: kernels.alloc(batch * o)?,
                y: kernels.alloc(batch * o)?,
                gpre: kernels.alloc(batch * o)?,
                gin: kernels.alloc(batch * i)?,
                pw: kernels.alloc(chunks * o * i)?,
                pb: kernels.alloc(chunks * o)?,
            });
            off += spec.params();
        }
        Ok(Self { kernels: kernels.clone(), batch, chunk_rows, layers, steps: 0 })
    }

    /// Rows per batch.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Input width (the first layer's inputs).
    pub fn inputs(&self) -> usize {
        self.layers[0].spec.inputs
    }

    /// Output width (the last layer's outputs).
    pub fn outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].spec.outputs
    }

    /// Rows per chunk of the parameter-gradient reduction ([`chunk_rows_for`]).
    pub fn chunk_rows(&self) -> usize {
        self.chunk_rows
    }

    /// Overrides the chunk size (a positive multiple of [`MLP_TILE`]): tests use it to make
    /// small batches span several chunks, as large ones do. The summation order changes with it
    /// (chunk partials are added in chunk order), so results may differ in the last bits.
    pub fn set_chunk_rows(&mut self, rows: usize) -> Result<()> {
        if rows == 0 || rows % MLP_TILE as usize != 0 {
            return Err(
                Error::InvalidParameter { name: "chunk_rows", reason: "a positive multiple of 16" }.into()
            );
        }
        // The partial buffers hold one slice per chunk: reallocate them for the new count.
        let chunks = self.batch.div_ceil(rows);
        for l in &mut self.layers {
            l.pw = self.kernels.alloc(chunks * l.spec.outputs * l.spec.inputs)?;
            l.pb = self.kernels.alloc(chunks * l.spec.outputs)?;
        }
        self.chunk_rows = rows;
        Ok(())
    }

    /// Forward pass over `x` (batch × inputs, row-major): every layer's pre-activation and
    /// activation; the network's output is [`DeviceMlp::output`]. Pass the same `x` to
    /// [`DeviceMlp::backward`].
    ///
    /// # Safety
    /// `x` holds at least batch·inputs values.
    pub unsafe fn forward(&mut self, x: &K::Buf) -> Result<()> {
        // SAFETY: the caller's contract, with rows = batch.
        unsafe { self.forward_rows(x, self.batch) }
    }

    /// [`DeviceMlp::forward`] over the first `rows` ≤ batch rows of `x`: the caches and the
    /// output hold those rows first (the WGAN critic runs 2B real/fake rows, then B rows).
    ///
    /// # Safety
    /// `x` holds at least rows·inputs values.
    pub unsafe fn forward_rows(&mut self, x: &K::Buf, rows: usize) -> Result<()> {
        self.check_rows(rows)?;
        for l in 0..self.layers.len() {
            let (before, rest) = self.layers.split_at_mut(l);
            let cur = &mut rest[0];
            let input = if l == 0 { x } else { &before[l - 1].y };
            let s = cur.spec;
            // SAFETY: input holds rows·inputs (the caller's x, or the previous layer's y of
            // batch·outputs ≥ rows·outputs with outputs = inputs checked in new); w, b, pre, y
            // were allocated as out·in, out, batch·out, batch·out in new.
            unsafe {
                self.kernels.dense_forward(
                    input,
                    &cur.w,
                    &cur.b,
                    rows,
                    s.inputs,
                    s.outputs,
                    s.act,
                    &mut cur.pre,
                    &mut cur.y,
                )
            }?;
        }
        Ok(())
    }

    fn check_rows(&self, rows: usize) -> Result<()> {
        if rows == 0 || rows > self.batch {
            return Err(Error::ShapeMismatch {
                what: "rows (1 to the network's batch)",
                expected: self.batch,
                found: rows,
            }
            .into());
        }
        Ok(())
    }

    /// The last forward pass's output (batch × outputs).
    pub fn output(&self) -> &K::Buf {
        &self.layers[self.layers.len() - 1].y
    }

    /// Backward pass for ∂L/∂output = `g_out`: writes every layer's ∂L/∂W, ∂L/∂b and, with
    /// `dx = Some((buf, accumulate))`, ∂L/∂X into `buf` (added to it when `accumulate`).
    ///
    /// # Safety
    /// `x` is the buffer of the last forward pass (≥ batch·inputs values), `g_out` holds
    /// ≥ batch·outputs values and `dx`'s buffer ≥ batch·inputs.
    pub unsafe fn backward(
        &mut self,
        x: &K::Buf,
        g_out: &K::Buf,
        dx: Option<(&mut K::Buf, bool)>,
    ) -> Result<()> {
        // SAFETY: the caller's contract, with rows = batch.
        unsafe { self.backward_rows(x, g_out, self.batch, true, dx) }
    }

    /// [`DeviceMlp::backward`] over the first `rows` ≤ batch rows of the last
    /// [`DeviceMlp::forward_rows`] (same `rows`); with `params = false` only ∂L/∂X is computed
    /// (the parameter gradients keep their values: the WGAN generator step differentiates through
    /// a fixed critic).
    ///
    /// # Safety
    /// `x` is the buffer of the last forward pass (≥ rows·inputs values), `g_out` holds
    /// ≥ rows·outputs values and `dx`'s buffer ≥ rows·inputs.
    pub unsafe fn backward_rows(
        &mut self,
        x: &K::Buf,
        g_out: &K::Buf,
        rows: usize,
        params: bool,
        dx: Option<(&mut K::Buf, bool)>,
    ) -> Result<()> {
        self.check_rows(rows)?;
        let chunk_rows = self.chunk_rows;
        let chunks = rows.div_ceil(chunk_rows);
        let n = self.layers.len();
        let mut dx = dx;
        for l in (0..n).rev() {
            let (before, rest) = self.layers.split_at_mut(l);
            let (cur, after) = rest.split_first_mut().expect("l < n");
            let s = cur.spec;
            let (i, o) = (s.inputs, s.outputs);
            let gy = if l + 1 == n { g_out } else { &after[0].gin };
            let input = if l == 0 { x } else { &before[l - 1].y };
            let k = &self.kernels;
            // SAFETY (every launch below): pre/y/gpre hold batch·o ≥ rows·o, gin batch·i, w o·i,
            // gw o·i, gb o, pw ≥ chunks·o·i, pb ≥ chunks·o (allocated in new / set_chunk_rows for
            // the batch's chunk count, ≥ rows'); gy is the next layer's gin or the caller's g_out
            // (≥ rows·outputs); input is x (≥ rows·inputs) or the previous layer's y.
            let g: &K::Buf = if s.act == ActivationKind::Identity {
                gy
            } else {
                unsafe { k.act_backward(&cur.pre, gy, rows * o, s.act, &mut cur.gpre) }?;
                &cur.gpre
            };
            if params {
                unsafe {
                    k.dense_backward_params(input, g, rows, i, o, chunk_rows, &mut cur.pw, &mut cur.pb)
                }?;
                unsafe { k.sum_chunks(&cur.pw, chunks, o * i, &mut cur.gw) }?;
                unsafe { k.sum_chunks(&cur.pb, chunks, o, &mut cur.gb) }?;
            }
            if l > 0 {
                unsafe { k.dense_backward_input(g, &cur.w, rows, i, o, false, &mut cur.gin) }?;
            } else if let Some((buf, acc)) = dx.take() {
                unsafe { k.dense_backward_input(g, &cur.w, rows, i, o, acc, buf) }?;
            }
        }
        Ok(())
    }

    /// The layers' shapes.
    pub fn specs(&self) -> Vec<DenseSpec> {
        self.layers.iter().map(|l| l.spec).collect()
    }

    /// Layer `l`'s weights (outputs × inputs) and its last forward pass's pre-activations
    /// (rows × outputs first).
    pub(crate) fn layer_weights_and_pre(&self, l: usize) -> (&K::Buf, &K::Buf) {
        (&self.layers[l].w, &self.layers[l].pre)
    }

    /// Adds `g` (outputs × inputs values) to layer `l`'s weight gradient.
    ///
    /// # Safety
    /// `g` holds ≥ outputs·inputs of layer `l` values.
    pub(crate) unsafe fn add_weight_gradient(&mut self, l: usize, g: &K::Buf) -> Result<()> {
        let layer = &mut self.layers[l];
        // SAFETY: gw holds outputs·inputs values (new); the caller's g as many.
        unsafe { self.kernels.add_into(&mut layer.gw, g, layer.spec.outputs * layer.spec.inputs) }
    }

    /// One Adam update of every parameter with the gradients of the last backward pass.
    pub fn adam_step(&mut self, cfg: &DeviceAdam<T>) -> Result<()> {
        self.steps = self.steps.saturating_add(1);
        let t = self.steps;
        for l in &mut self.layers {
            let (o, i) = (l.spec.outputs, l.spec.inputs);
            // SAFETY: w, gw, mw, vw hold o·i values; b, gb, mb, vb hold o (allocated in new).
            unsafe { self.kernels.adam_step(&mut l.w, &l.gw, &mut l.mw, &mut l.vw, o * i, cfg, t) }?;
            // SAFETY: as above.
            unsafe { self.kernels.adam_step(&mut l.b, &l.gb, &mut l.mb, &mut l.vb, o, cfg, t) }?;
        }
        Ok(())
    }

    /// One RMSProp update of every parameter with the last backward pass's gradients (the mean
    /// square in the first moment's buffers).
    pub fn rmsprop_step(&mut self, cfg: &crabmix_kernels::mlp::optim::SliceRmsProp<T>) -> Result<()> {
        for l in &mut self.layers {
            let (o, i) = (l.spec.outputs, l.spec.inputs);
            // SAFETY: w, gw, mw hold o·i values; b, gb, mb hold o (allocated in new).
            unsafe { self.kernels.rmsprop_step(&mut l.w, &l.gw, &mut l.mw, o * i, cfg) }?;
            // SAFETY: as above.
            unsafe { self.kernels.rmsprop_step(&mut l.b, &l.gb, &mut l.mb, o, cfg) }?;
        }
        Ok(())
    }

    /// Clamps every parameter (weights and biases) to [−c, c] on the device (the kernels'
    /// `clip_slice`; the caller checks c ≥ 0 and finite).
    pub fn clip(&mut self, c: T) -> Result<()> {
        for l in &mut self.layers {
            let (o, i) = (l.spec.outputs, l.spec.inputs);
            // SAFETY: w holds o·i values, b holds o (allocated in new).
            unsafe { self.kernels.clip_params(&mut l.w, o * i, c) }?;
            // SAFETY: as above.
            unsafe { self.kernels.clip_params(&mut l.b, o, c) }?;
        }
        Ok(())
    }

    /// Overwrites the parameters (flat, the order of [`DeviceMlp::params`]; optimizer state kept).
    ///
    /// Errors: `ShapeMismatch` for the wrong length.
    pub fn set_params(&mut self, params: &[T]) -> Result<()> {
        check_param_count(self.layers.iter().map(|l| &l.spec), params)?;
        let mut off = 0;
        for l in &mut self.layers {
            let (o, i) = (l.spec.outputs, l.spec.inputs);
            self.kernels.write(&mut l.w, &params[off..off + o * i])?;
            self.kernels.write(&mut l.b, &params[off + o * i..off + o * i + o])?;
            off += l.spec.params();
        }
        Ok(())
    }

    /// The parameters, flat in the crate's `visit_params` order (per layer w then b).
    pub fn params(&self) -> Result<Vec<T>> {
        self.flat(|l| (&l.w, &l.b))
    }

    /// The last backward pass's ∂L/∂θ, flat in the order of [`DeviceMlp::params`].
    pub fn grads(&self) -> Result<Vec<T>> {
        self.flat(|l| (&l.gw, &l.gb))
    }

    fn flat(&self, pick: impl Fn(&LayerBufs<K::Buf>) -> (&K::Buf, &K::Buf)) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for l in &self.layers {
            let (w, b) = pick(l);
            out.extend(self.kernels.download(w, l.spec.outputs * l.spec.inputs)?);
            out.extend(self.kernels.download(b, l.spec.outputs)?);
        }
        Ok(out)
    }
}

/// A VAE training on a device: encoder body → two heads μ, ln σ² → z = μ + σ ε (Philox) →
/// decoder output → ELBO → backward → Adam, data and every parameter resident. The likelihood
/// p(x | out) is any of the kernels' [`VaeLikelihood`]s: Bernoulli logits, unit-variance Gaussian,
/// or Gaussian with X learned per-feature ln σ² (parameters after the decoder's).
///
/// One [`DeviceVae::step`] is the crate's `VaeTrainer::step_with` (or `vae_net::step`) on the
/// same weights and ε: L_B = (1/B) Σ_b [ln p(x_b | z_b) − KL_b], gradient of −L_B, one Adam
/// update of every parameter (same step count), returning the batch-mean ELBO terms before the
/// update.
#[derive(Debug)]
pub struct DeviceVae<T: GpuScalar, K: MlpKernels<T>> {
    kernels: K,
    batch: usize,
    features: usize,
    latent: usize,
    body: DeviceMlp<T, K>,
    mu_head: DeviceMlp<T, K>,
    lv_head: DeviceMlp<T, K>,
    decoder: DeviceMlp<T, K>,
    adam: DeviceAdam<T>,
    likelihood: VaeLikelihood,
    /// The learned ln σ² (X values; unused otherwise), its gradient, Adam moments, and the
    /// per-row gradients summed into it (B × X).
    log_var: LearnedLogVar<K::Buf>,
    x: K::Buf,
    eps: K::Buf,
    z: K::Buf,
    kl: K::Buf,
    nll: K::Buf,
    g_out: K::Buf,
    g_z: K::Buf,
    g_mu: K::Buf,
    g_lv: K::Buf,
    g_h: K::Buf,
}

/// The Gaussian likelihood's per-feature ln σ² on the device: values, gradient, Adam moments and
/// step count, and the B × X per-row gradients (summed in row order into `g`).
#[derive(Debug)]
struct LearnedLogVar<B> {
    p: B,
    g: B,
    m: B,
    v: B,
    rows: B,
    steps: u32,
}

impl<T: GpuScalar, K: MlpKernels<T>> DeviceVae<T, K> {
    /// [`DeviceVae::with_likelihood`] with the Bernoulli likelihood (decoder outputs are logits).
    pub fn new(
        kernels: &K,
        body: &[DenseSpec],
        latent: usize,
        decoder: &[DenseSpec],
        batch: usize,
        params: &[T],
        adam: DeviceAdam<T>,
    ) -> Result<Self> {
        Self::with_likelihood(
            kernels,
            body,
            latent,
            decoder,
            batch,
            params,
            VaeLikelihood::BernoulliLogits,
            adam,
        )
    }

    /// A VAE with encoder `body` (X → H; at least one layer), heads H → Z (μ and ln σ², identity)
    /// and `decoder` (Z → X, the last layer's outputs being the Bernoulli's logits or the
    /// Gaussians' mean), for batches of `batch` rows. `params` is flat in the crate's order: body layers, μ head (w, b), ln σ² head
    /// (w, b), decoder layers — `vae.encoder.visit_params` then `vae.decoder.visit_params` —
    /// then, for [`VaeLikelihood::GaussianLearned`], the X ln σ² (`vae_net`'s `param_ranges`).
    #[allow(clippy::too_many_arguments)] // the shape, its parameters and the optimizer
    pub fn with_likelihood(
        kernels: &K,
        body: &[DenseSpec],
        latent: usize,
        decoder: &[DenseSpec],
        batch: usize,
        params: &[T],
        likelihood: VaeLikelihood,
        adam: DeviceAdam<T>,
    ) -> Result<Self> {
        let (Some(last_body), Some(first_dec), Some(last_dec)) =
            (body.last(), decoder.first(), decoder.last())
        else {
            return Err(Error::EmptyData.into());
        };
        let (h, x) = (last_body.outputs, body[0].inputs);
        if first_dec.inputs != latent || last_dec.outputs != x {
            return Err(Error::ShapeMismatch {
                what: "decoder (latent → features)",
                expected: latent,
                found: first_dec.inputs,
            }
            .into());
        }
        let head = [DenseSpec::new(h, latent, ActivationKind::Identity)];
        let n_body: usize = body.iter().map(DenseSpec::params).sum();
        let n_head = head[0].params();
        let n_dec: usize = decoder.iter().map(DenseSpec::params).sum();
        let n_var = if likelihood == VaeLikelihood::GaussianLearned { x } else { 0 };
        let n = n_body + 2 * n_head + n_dec + n_var;
        if params.len() != n {
            return Err(
                Error::ShapeMismatch { what: "VAE parameters", expected: n, found: params.len() }.into()
            );
        }
        let (p_body, rest) = params.split_at(n_body);
        let (p_mu, rest) = rest.split_at(n_head);
        let (p_lv, rest) = rest.split_at(n_head);
        let (p_dec, p_var) = rest.split_at(n_dec);
        let zl = batch * latent;
        // The unit and Bernoulli likelihoods read no ln σ²: zeros keep the kernels' contract.
        let var_init = if n_var > 0 { p_var.to_vec() } else { vec![T::ZERO; x] };
        let zeros = vec![T::ZERO; x];
        let rows_len = if likelihood == VaeLikelihood::BernoulliLogits { 1 } else { batch * x };
        let log_var = LearnedLogVar {
            p: kernels.upload(&var_init)?,
            g: kernels.upload(&zeros)?,
            m: kernels.upload(&zeros)?,
            v: kernels.upload(&zeros)?,
            rows: kernels.alloc(rows_len)?,
            steps: 0,
        };
        Ok(Self {
            kernels: kernels.clone(),
            batch,
            features: x,
            latent,
            body: DeviceMlp::new(kernels, body, batch, p_body)?,
            mu_head: DeviceMlp::new(kernels, &head, batch, p_mu)?,
            lv_head: DeviceMlp::new(kernels, &head, batch, p_lv)?,
            decoder: DeviceMlp::new(kernels, decoder, batch, p_dec)?,
            adam,
            likelihood,
            log_var,
            x: kernels.alloc(batch * x)?,
            eps: kernels.alloc(zl)?,
            z: kernels.alloc(zl)?,
            kl: kernels.alloc(batch)?,
            nll: kernels.alloc(batch)?,
            g_out: kernels.alloc(batch * x)?,
            g_z: kernels.alloc(zl)?,
            g_mu: kernels.alloc(zl)?,
            g_lv: kernels.alloc(zl)?,
            g_h: kernels.alloc(batch * h)?,
        })
    }

    /// One training step on `data` (batch × features; values in [0, 1] for the Bernoulli, any
    /// finite values — standardized by the caller if wanted — for the Gaussians) with ε drawn by Philox
    /// keyed by `seed` at counter b·Z + j (use a new seed per step). Returns the batch-mean
    /// (ln p(x|z), KL) before the update.
    ///
    /// Non-finite values propagate (no check on the device); [`DeviceVae::params`] lets a caller
    /// check after a step.
    pub fn step(&mut self, data: &[T], seed: u64) -> Result<ElboTerms<T>> {
        let (b, x, zd) = (self.batch, self.features, self.latent);
        if data.len() != b * x {
            return Err(Error::ShapeMismatch {
                what: "VAE batch (batch × features)",
                expected: b * x,
                found: data.len(),
            }
            .into());
        }
        let k = self.kernels.clone();
        k.write(&mut self.x, data)?;
        let weight = T::ONE / T::from_usize(b);
        let zl = b * zd;
        // SAFETY (every call below): each buffer was allocated in with_likelihood with the size the call
        // needs: x b·X, eps/z/g_z/g_mu/g_lv b·Z, kl/nll b, g_out b·X, g_h b·H, the ln σ²
        // p/g X and rows b·X for the Gaussians; the networks' inputs are those buffers (body: x,
        // heads: body output b·H, decoder: z) and their outputs b·H, b·Z, b·Z, b·X.
        unsafe {
            self.body.forward(&self.x)?;
            self.mu_head.forward(self.body.output())?;
            self.lv_head.forward(self.body.output())?;
            k.reparam(self.mu_head.output(), self.lv_head.output(), zl, seed, &mut self.eps, &mut self.z)?;
            k.kl_rows(self.mu_head.output(), self.lv_head.output(), b, zd, &mut self.kl)?;
            self.decoder.forward(&self.z)?;
            match self.likelihood {
                VaeLikelihood::BernoulliLogits => k.bce_logits_rows(
                    self.decoder.output(),
                    &self.x,
                    b,
                    x,
                    T::ONE,
                    weight,
                    &mut self.nll,
                    &mut self.g_out,
                )?,
                lik => {
                    let learned = lik == VaeLikelihood::GaussianLearned;
                    let lv = &mut self.log_var;
                    k.gaussian_nll_rows(
                        self.decoder.output(),
                        &self.x,
                        &lv.p,
                        b,
                        x,
                        learned,
                        weight,
                        &mut self.nll,
                        &mut self.g_out,
                        &mut lv.rows,
                    )?;
                    if learned {
                        // Row order, as the crate adds weight·∂/∂ℓ row after row.
                        k.sum_chunks(&lv.rows, b, x, &mut lv.g)?;
                    }
                }
            }
            self.decoder.backward(&self.z, &self.g_out, Some((&mut self.g_z, false)))?;
            k.vae_latent_backward(
                self.mu_head.output(),
                self.lv_head.output(),
                &self.eps,
                &self.g_z,
                zl,
                weight,
                &mut self.g_mu,
                &mut self.g_lv,
            )?;
            self.mu_head.backward(self.body.output(), &self.g_mu, Some((&mut self.g_h, false)))?;
            self.lv_head.backward(self.body.output(), &self.g_lv, Some((&mut self.g_h, true)))?;
            self.body.backward(&self.x, &self.g_h, None)?;
        }
        let (nll, kl) = (k.download(&self.nll, b)?, k.download(&self.kl, b)?);
        for net in [&mut self.body, &mut self.mu_head, &mut self.lv_head, &mut self.decoder] {
            net.adam_step(&self.adam)?;
        }
        if self.likelihood == VaeLikelihood::GaussianLearned {
            let lv = &mut self.log_var;
            lv.steps = lv.steps.saturating_add(1);
            // SAFETY: p, g, m, v hold X values (allocated in with_likelihood).
            unsafe { k.adam_step(&mut lv.p, &lv.g, &mut lv.m, &mut lv.v, x, &self.adam, lv.steps) }?;
        }
        // Batch order, then × 1/B: the crate's sums.
        let (mut ll, mut kls) = (T::ZERO, T::ZERO);
        for r in 0..b {
            ll += -nll[r];
            kls += kl[r];
        }
        Ok(ElboTerms { log_likelihood: ll * weight, kl: kls * weight })
    }

    /// The ε of the last step (batch × latent): what the crate's `step_with` must be fed.
    pub fn last_eps(&self) -> Result<Vec<T>> {
        self.kernels.download(&self.eps, self.batch * self.latent)
    }

    /// Every parameter, flat in the order of [`DeviceVae::new`]'s `params`.
    pub fn params(&self) -> Result<Vec<T>> {
        let mut v = self.body.params()?;
        v.extend(self.mu_head.params()?);
        v.extend(self.lv_head.params()?);
        v.extend(self.decoder.params()?);
        self.extend_log_var(&mut v, |lv| &lv.p)?;
        Ok(v)
    }

    /// The last step's gradient of −L_B, in the order of [`DeviceVae::params`].
    pub fn grads(&self) -> Result<Vec<T>> {
        let mut v = self.body.grads()?;
        v.extend(self.mu_head.grads()?);
        v.extend(self.lv_head.grads()?);
        v.extend(self.decoder.grads()?);
        self.extend_log_var(&mut v, |lv| &lv.g)?;
        Ok(v)
    }

    /// Appends the learned ln σ² buffer `pick` selects (nothing for the other likelihoods).
    fn extend_log_var(&self, v: &mut Vec<T>, pick: impl Fn(&LearnedLogVar<K::Buf>) -> &K::Buf) -> Result<()> {
        if self.likelihood == VaeLikelihood::GaussianLearned {
            v.extend(self.kernels.download(pick(&self.log_var), self.features)?);
        }
        Ok(())
    }
}
