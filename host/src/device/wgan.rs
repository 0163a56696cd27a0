//! WGAN training on a device: the kernels' runtime-shaped WGAN steps
//! (`crabmix_kernels::models::wgan_net`: `critic_step`, `generator_step`) composed from the
//! [`DeviceMlp`] kernels of `host/cuda/mlp.cu`, with both networks, their optimizer state, the
//! caches and the gradients resident on the device.
//!
//! One critic step on B rows (the random numbers z, t are the caller's, drawn on the host in the
//! CPU trainer's order, so a device run follows the CPU run's stream):
//! 1. fake = G(z); pairs = (x_0, G(z_0), x_1, …) and x̂_b = t_b x_b + (1 − t_b) G(z_b)
//!    (`wgan_mix`);
//! 2. the critic over the 2B interleaved rows, backward from ∂L/∂D = (−1/B, +1/B, …): ∂L_D/∂θ;
//! 3. with the gradient penalty, the critic over x̂ and the closed form of `wgan_net` for
//!    piecewise-linear activations: δ_L = f_L′(z_L), δ_{l−1} = f′_{l−1} ⊙ (W_lᵀ δ_l),
//!    g = W_1ᵀ δ_1 = ∇ₓD(x̂); per row P = λ(‖g‖ − 1)², r = (2λ/B)(‖g‖ − 1) g/‖g‖
//!    (`wgan_penalty`); s_0 = r, s_l = f_l′ ⊙ (W_l s_{l−1}); ∂P/∂W_l = Σ_b δ_l s_{l−1}ᵀ, added to
//!    the weight gradients (∂P/∂b = 0);
//! 4. the optimizer (Adam or RMSProp) and the constraint: clipping on the device, spectral
//!    normalization on the host (the kernels' `constrain`, one power iteration per layer on the
//!    downloaded weights, which are then written back).
//!
//! A generator step: fake = G(z), the critic over the B fake rows, ∂(−(1/B) Σ D)/∂fake through
//! the critic (its parameter gradients untouched), the generator's backward and optimizer.
//!
//! Summation orders differ from the CPU's in one place: per weight entry the crate adds real,
//! fake and penalty terms row by row, the device adds the real/fake rows, then the penalty's rows.
//! f64 results agree to rounding (≈ 1e-15 relative), f32 to ≈ 1e-6.

use crate::device::error::BackendError;
use crate::device::mlp::{DenseSpec, DeviceMlp};
use crate::device::scalar::GpuScalar;
use crate::device::traits::{ActivationKind, DeviceAdam, MlpKernels, device_adam};
use crabmix_kernels::Error;
use crabmix_kernels::mlp::arch::{ActivationKind as NetAct, Architecture, LayerSpec};
use crabmix_kernels::mlp::optim::SliceRmsProp;
use crabmix_kernels::models::wgan_net::{WganShape, constrain};
use crabmix_kernels::models::{CriticStats, Lipschitz, OptimizerKind, WganConfig};

type Result<T> = std::result::Result<T, BackendError>;

/// A kernels layer as a device layer (same widths and activation).
pub fn dense_spec<T: GpuScalar>(s: &LayerSpec<T>) -> DenseSpec {
    let act = match s.activation {
        NetAct::Identity => ActivationKind::Identity,
        NetAct::Relu => ActivationKind::Relu,
        NetAct::LeakyRelu { slope } => ActivationKind::LeakyRelu(slope.to_f64()),
        NetAct::Tanh => ActivationKind::Tanh,
        NetAct::Sigmoid => ActivationKind::Sigmoid,
        NetAct::Softplus => ActivationKind::Softplus,
    };
    DenseSpec::new(s.inputs, s.outputs, act)
}

/// One network's optimizer on the device (the kernels' [`OptimizerKind`]): Adam's moments or
/// RMSProp's mean square live in the network's buffers.
#[derive(Clone, Debug)]
enum DeviceOptimizer<T: GpuScalar> {
    Adam(DeviceAdam<T>),
    RmsProp(SliceRmsProp<T>),
}

impl<T: GpuScalar> DeviceOptimizer<T> {
    /// As the kernels' `SliceOptimizer::new(kind)`.
    fn new(kind: OptimizerKind<T>) -> Self {
        match kind {
            OptimizerKind::RmsProp { lr } => Self::RmsProp(SliceRmsProp::new(lr)),
            OptimizerKind::Adam { lr, beta1, beta2 } => {
                let mut a = device_adam(lr);
                a.beta1 = beta1;
                a.beta2 = beta2;
                Self::Adam(a)
            }
        }
    }

    fn step<K: MlpKernels<T>>(&self, net: &mut DeviceMlp<T, K>) -> Result<()> {
        match self {
            Self::Adam(a) => net.adam_step(a),
            Self::RmsProp(r) => net.rmsprop_step(r),
        }
    }
}

/// The gradient penalty's device buffers: per critic layer δ (B × out) and s (B × out, all but
/// the last), and scratch.
#[derive(Debug)]
struct PenaltyBufs<B> {
    delta: Vec<B>,
    s: Vec<B>,
    /// B × max width: W_lᵀ δ_l, and W_l s_{l−1}'s pre-activation and output.
    tmp: B,
    fwd_pre: B,
    fwd_y: B,
    /// ∇ₓD(x̂), then r (B × X).
    gr: B,
    /// Zero biases (max width), ones (B): the s pass's bias and δ_L's seed.
    zero_b: B,
    ones: B,
    /// Per-chunk partials and the summed penalty weight gradient (largest layer).
    pw: B,
    pb: B,
    gw: B,
    /// P_b then ‖g_b‖ (2·B).
    stats: B,
}

/// A WGAN (generator Z → X, critic X → 1, any depth) training on a device for batches of exactly
/// `batch` rows: the kernels' `wgan_net::critic_step` and `generator_step` on the caller's noise.
#[derive(Debug)]
pub struct DeviceWgan<T: GpuScalar, K: MlpKernels<T>> {
    kernels: K,
    batch: usize,
    features: usize,
    latent: usize,
    generator: DeviceMlp<T, K>,
    critic: DeviceMlp<T, K>,
    gen_specs: Vec<LayerSpec<T>>,
    critic_specs: Vec<LayerSpec<T>>,
    lipschitz: Lipschitz<T>,
    critic_opt: DeviceOptimizer<T>,
    generator_opt: DeviceOptimizer<T>,
    /// The power iteration's u and v (spectral normalization; empty otherwise).
    spectral: (Vec<T>, Vec<T>),
    real: K::Buf,
    z: K::Buf,
    t: K::Buf,
    pairs: K::Buf,
    xhat: K::Buf,
    /// ∂L_D/∂D over the pairs (−1/B, +1/B, …) and ∂L_G/∂D (−1/B each).
    g_pairs: K::Buf,
    g_gen: K::Buf,
    /// ∂L_G/∂fake (B × X).
    g_fake: K::Buf,
    penalty: Option<PenaltyBufs<K::Buf>>,
}

impl<T: GpuScalar, K: MlpKernels<T>> DeviceWgan<T, K> {
    /// Uploads the generator's and critic's parameters (flat, each the kernels' `arch` layout)
    /// for the shape's networks and allocates every buffer for batches of `batch` rows. The
    /// configuration's Lipschitz rule and optimizers are used (`n_critic` is the caller's loop);
    /// `spectral` is the power iteration's (u, v) from `wgan_net::spectral_init` for spectral
    /// normalization (ignored otherwise). The critic parameters must already satisfy the
    /// constraint (the CPU trainer constrains them once before its first step).
    ///
    /// Errors: `EmptyData` for batch 0; `ShapeMismatch` for parameter or state lengths;
    /// `InvalidLayer` (from [`WganShape::new`]) for a penalty on a critic that is not piecewise
    /// linear; `InvalidParameter` for a negative or non-finite clip bound.
    pub fn new(
        kernels: &K,
        shape: &WganShape<'_, T>,
        batch: usize,
        generator: &[T],
        critic: &[T],
        config: &WganConfig<T>,
        spectral: (Vec<T>, Vec<T>),
    ) -> Result<Self> {
        if batch == 0 {
            return Err(Error::EmptyData.into());
        }
        let lipschitz = config.lipschitz;
        // Re-validates for this rule (the penalty's activations).
        WganShape::new(*shape.generator(), *shape.critic(), lipschitz)?;
        if let Lipschitz::WeightClip { c } = lipschitz
            && (!(c >= T::ZERO) || !c.is_finite())
        {
            return Err(
                Error::InvalidParameter { name: "c", reason: "clip bound must be finite and >= 0" }.into()
            );
        }
        let spectral = if let Lipschitz::SpectralNorm = lipschitz {
            let (nu, nv) = shape.spectral_state_len();
            for (what, v, n) in [("spectral u", &spectral.0, nu), ("spectral v", &spectral.1, nv)] {
                if v.len() != n {
                    return Err(Error::ShapeMismatch { what, expected: n, found: v.len() }.into());
                }
            }
            spectral
        } else {
            (Vec::new(), Vec::new())
        };
        let gen_specs = shape.generator().layers().to_vec();
        let critic_specs = shape.critic().layers().to_vec();
        let gd: Vec<DenseSpec> = gen_specs.iter().map(dense_spec).collect();
        let cd: Vec<DenseSpec> = critic_specs.iter().map(dense_spec).collect();
        let (x, zd) = (shape.features(), shape.latent());
        let generator = DeviceMlp::new(kernels, &gd, batch, generator)?;
        let critic_net = DeviceMlp::new(kernels, &cd, 2 * batch, critic)?;
        let weight = T::ONE / T::from_usize(batch);
        let alternating: Vec<T> = (0..2 * batch).map(|i| if i % 2 == 0 { -weight } else { weight }).collect();
        let penalty = match lipschitz {
            Lipschitz::GradientPenalty { .. } => {
                let mw = cd.iter().map(|s| s.inputs.max(s.outputs)).max().unwrap_or(1);
                let chunks = batch.div_ceil(critic_net.chunk_rows());
                let most = cd.iter().map(|s| s.outputs * s.inputs).max().unwrap_or(1);
                let top = cd.len() - 1;
                Some(PenaltyBufs {
                    delta: cd.iter().map(|s| kernels.alloc(batch * s.outputs)).collect::<Result<_>>()?,
                    s: cd[..top].iter().map(|s| kernels.alloc(batch * s.outputs)).collect::<Result<_>>()?,
                    tmp: kernels.alloc(batch * mw)?,
                    fwd_pre: kernels.alloc(batch * mw)?,
                    fwd_y: kernels.alloc(batch * mw)?,
                    gr: kernels.alloc(batch * x)?,
                    zero_b: kernels.upload(&vec![T::ZERO; mw])?,
                    ones: kernels.upload(&vec![T::ONE; batch])?,
                    pw: kernels.alloc(chunks * most)?,
                    pb: kernels.alloc(chunks * mw)?,
                    gw: kernels.alloc(most)?,
                    stats: kernels.alloc(2 * batch)?,
                })
            }
            _ => None,
        };
        Ok(Self {
            kernels: kernels.clone(),
            batch,
            features: x,
            latent: zd,
            generator,
            critic: critic_net,
            gen_specs,
            critic_specs,
            lipschitz,
            critic_opt: DeviceOptimizer::new(config.critic_opt),
            generator_opt: DeviceOptimizer::new(config.generator_opt),
            spectral,
            real: kernels.alloc(batch * x)?,
            z: kernels.alloc(batch * zd)?,
            // Zeros without the penalty: wgan_mix reads t either way.
            t: kernels.upload(&vec![T::ZERO; batch])?,
            pairs: kernels.alloc(2 * batch * x)?,
            xhat: kernels.alloc(batch * x)?,
            g_pairs: kernels.upload(&alternating)?,
            g_gen: kernels.upload(&vec![-weight; batch])?,
            g_fake: kernels.alloc(batch * x)?,
            penalty,
        })
    }

    /// Rows per batch.
    pub fn batch(&self) -> usize {
        self.batch
    }

    fn check(&self, what: &'static str, v: &[T], per_row: usize) -> Result<()> {
        let need = self.batch * per_row;
        if v.len() != need {
            return Err(Error::ShapeMismatch { what, expected: need, found: v.len() }.into());
        }
        Ok(())
    }

    /// One critic update (`wgan_net::critic_step`): `real` (B × X), `z` (B × Z) and, with the
    /// gradient penalty, `t` (B values in [0, 1]) drawn by the caller (`draw_critic_noise`).
    /// Returns the batch means (before the update) of D(x), D(G(z)), the penalty and ‖∇D(x̂)‖.
    ///
    /// Errors: `ShapeMismatch` for wrong lengths; `InvalidParameter { name: "t" }` when the
    /// penalty has no `t`; spectral normalization's errors (a zero or NaN weight matrix).
    /// Non-finite values propagate otherwise: the caller checks the statistics.
    pub fn critic_step(&mut self, real: &[T], z: &[T], t: Option<&[T]>) -> Result<CriticStats<T>> {
        let (b, x) = (self.batch, self.features);
        self.check("real (batch × features)", real, x)?;
        self.check("z (batch × latent)", z, self.latent)?;
        let k = self.kernels.clone();
        k.write(&mut self.real, real)?;
        k.write(&mut self.z, z)?;
        if self.penalty.is_some() {
            let t = t.ok_or(Error::InvalidParameter {
                name: "t",
                reason: "the gradient penalty needs one t per row",
            })?;
            self.check("t (one per row)", t, 1)?;
            k.write(&mut self.t, t)?;
        }
        // SAFETY (every call below): real, fake (the generator's output), xhat hold B·X, z B·Z,
        // t B, pairs 2B·X, g_pairs 2B (allocated in new); the critic was built for 2B rows.
        unsafe {
            self.generator.forward(&self.z)?;
            k.wgan_mix(&self.real, self.generator.output(), &self.t, b, x, &mut self.pairs, &mut self.xhat)?;
            self.critic.forward_rows(&self.pairs, 2 * b)?;
        }
        let d = k.download(self.critic.output(), 2 * b)?;
        // SAFETY: as above.
        unsafe { self.critic.backward_rows(&self.pairs, &self.g_pairs, 2 * b, true, None)? };
        let mut stats = CriticStats::default();
        for p in d.chunks_exact(2) {
            stats.d_real += p[0];
            stats.d_fake += p[1];
        }
        if self.penalty.is_some() {
            let (p, n) = self.penalty_gradient()?;
            stats.penalty = p;
            stats.grad_norm = n;
        }
        self.critic_opt.step(&mut self.critic)?;
        match self.lipschitz {
            Lipschitz::WeightClip { c } => self.critic.clip(c)?,
            Lipschitz::SpectralNorm => {
                let mut p = self.critic.params()?;
                let (g, c) = (Architecture::new(&self.gen_specs)?, Architecture::new(&self.critic_specs)?);
                let shape = WganShape::new(g, c, self.lipschitz)?;
                let (u, v) = (&mut self.spectral.0, &mut self.spectral.1);
                constrain(&shape, self.lipschitz, &mut p, u, v)?;
                self.critic.set_params(&p)?;
            }
            Lipschitz::GradientPenalty { .. } => {}
        }
        let w = T::ONE / T::from_usize(b);
        Ok(CriticStats {
            d_real: stats.d_real * w,
            d_fake: stats.d_fake * w,
            penalty: stats.penalty * w,
            grad_norm: stats.grad_norm * w,
        })
    }

    /// Step 3 of the module docs: the penalty's weight gradients added to the critic's; returns
    /// (Σ_b P_b, Σ_b ‖g_b‖) in row order.
    fn penalty_gradient(&mut self) -> Result<(T, T)> {
        let (b, x) = (self.batch, self.features);
        let k = self.kernels.clone();
        let specs = self.critic.specs();
        let top = specs.len() - 1;
        let Lipschitz::GradientPenalty { lambda } = self.lipschitz else {
            unreachable!("called with the penalty")
        };
        let weight = T::ONE / T::from_usize(b);
        let pen = self.penalty.as_mut().expect("allocated with the penalty");
        let chunk_rows = self.critic.chunk_rows();
        let chunks = b.div_ceil(chunk_rows);
        // SAFETY (every launch below): xhat holds B·X; the critic's caches hold ≥ B rows of every
        // layer after forward_rows(xhat, B); δ_l and s_l hold B·out_l, tmp/fwd_pre/fwd_y
        // B·(max width), gr B·X, zero_b the max width, ones B, pw chunks·(largest out·in), pb
        // chunks·(max width), gw the largest out·in, stats 2B (allocated in new).
        unsafe {
            self.critic.forward_rows(&self.xhat, b)?;
            let (_, pre_top) = self.critic.layer_weights_and_pre(top);
            k.act_backward(pre_top, &pen.ones, b * specs[top].outputs, specs[top].act, &mut pen.delta[top])?;
            for l in (1..=top).rev() {
                let s = specs[l];
                let (w_l, _) = self.critic.layer_weights_and_pre(l);
                k.dense_backward_input(&pen.delta[l], w_l, b, s.inputs, s.outputs, false, &mut pen.tmp)?;
                let (_, pre) = self.critic.layer_weights_and_pre(l - 1);
                let (lower, _) = pen.delta.split_at_mut(l);
                k.act_backward(pre, &pen.tmp, b * specs[l - 1].outputs, specs[l - 1].act, &mut lower[l - 1])?;
            }
            let (w0, _) = self.critic.layer_weights_and_pre(0);
            k.dense_backward_input(&pen.delta[0], w0, b, x, specs[0].outputs, false, &mut pen.gr)?;
            k.wgan_penalty(&mut pen.gr, b, x, lambda, weight, &mut pen.stats)?;
            for l in 0..top {
                let s = specs[l];
                let (w_l, pre) = self.critic.layer_weights_and_pre(l);
                let (done, now) = pen.s.split_at_mut(l);
                let input = if l == 0 { &pen.gr } else { &done[l - 1] };
                let id = ActivationKind::Identity;
                k.dense_forward(
                    input,
                    w_l,
                    &pen.zero_b,
                    b,
                    s.inputs,
                    s.outputs,
                    id,
                    &mut pen.fwd_pre,
                    &mut pen.fwd_y,
                )?;
                k.act_backward(pre, &pen.fwd_y, b * s.outputs, s.act, &mut now[0])?;
            }
            for (l, s) in specs.iter().enumerate() {
                let input = if l == 0 { &pen.gr } else { &pen.s[l - 1] };
                let (i, o) = (s.inputs, s.outputs);
                k.dense_backward_params(input, &pen.delta[l], b, i, o, chunk_rows, &mut pen.pw, &mut pen.pb)?;
                k.sum_chunks(&pen.pw, chunks, o * i, &mut pen.gw)?;
                self.critic.add_weight_gradient(l, &pen.gw)?;
            }
        }
        let st = k.download(&pen.stats, 2 * b)?;
        let (mut p, mut n) = (T::ZERO, T::ZERO);
        for r in 0..b {
            p += st[r];
            n += st[b + r];
        }
        Ok((p, n))
    }

    /// One generator update (`wgan_net::generator_step`) on `z` (B × Z, the caller's normals).
    /// Returns L_G = −(1/B) Σ_b D(G(z_b)) before the update.
    ///
    /// Errors: `ShapeMismatch` for a wrong length.
    pub fn generator_step(&mut self, z: &[T]) -> Result<T> {
        let b = self.batch;
        self.check("z (batch × latent)", z, self.latent)?;
        let k = self.kernels.clone();
        k.write(&mut self.z, z)?;
        // SAFETY: z holds B·Z, g_gen B, g_fake B·X (new); the critic's caches hold ≥ B rows.
        unsafe {
            self.generator.forward(&self.z)?;
            self.critic.forward_rows(self.generator.output(), b)?;
        }
        let d = k.download(self.critic.output(), b)?;
        // SAFETY: as above; the critic's parameter gradients are left alone (params = false).
        unsafe {
            self.critic.backward_rows(
                self.generator.output(),
                &self.g_gen,
                b,
                false,
                Some((&mut self.g_fake, false)),
            )?;
            self.generator.backward(&self.z, &self.g_fake, None)?;
        }
        self.generator_opt.step(&mut self.generator)?;
        let mut loss = T::ZERO;
        for v in &d {
            loss -= *v;
        }
        Ok(loss * (T::ONE / T::from_usize(b)))
    }

    /// The generator's parameters (flat, the kernels' layout).
    pub fn generator_params(&self) -> Result<Vec<T>> {
        self.generator.params()
    }

    /// The critic's parameters (flat, the kernels' layout).
    pub fn critic_params(&self) -> Result<Vec<T>> {
        self.critic.params()
    }

    /// The last critic step's ∂L_D/∂θ (penalty included), before the update.
    pub fn critic_grads(&self) -> Result<Vec<T>> {
        self.critic.grads()
    }

    /// The last generator step's ∂L_G/∂θ, before the update.
    pub fn generator_grads(&self) -> Result<Vec<T>> {
        self.generator.grads()
    }
}
