//! Wasserstein GAN (lecture §4, eq 22): critic and generator steps with the three ways of
//! keeping the critic (about) 1-Lipschitz — weight clipping, spectral normalization and the
//! gradient penalty — all allocation-free.
//!
//! Objective: min_θ max_w E_x[D_w(x)] − E_z[D_w(G_θ(z))], z ~ N(0, I). Per minibatch of B real
//! samples x_b and B draws z_b:
//!
//! * critic loss (minimized) L_D = (1/B) Σ_b [D(G(z_b)) − D(x_b)] (+ the penalty, below);
//!   −L_D without the penalty is the critic's estimate of W₁ (up to its Lipschitz constant);
//! * generator loss L_G = −(1/B) Σ_b D(G(z_b)); its gradient reaches θ through the critic's
//!   input gradient ∂D/∂x (critic weights fixed).
//!
//! Lipschitz constraints ([`Lipschitz`]):
//!
//! * weight clipping (Arjovsky et al. 2017): every critic parameter clamped to [−c, c] after each
//!   critic update; the paper's settings c = 0.01, RMSProp η = 5e-5, 5 critic steps per
//!   generator step ([`WganConfig::paper_clip`]);
//! * spectral normalization (Miyato et al. 2018), here as a projection: after each critic update
//!   every weight matrix is divided by its power-iteration estimate σ̂ (one step, vector reused).
//!   This is the "project after the step" form, not SN-GAN's reparameterized forward pass W/σ(W)
//!   with its extra gradient term; both keep σ(W) ≈ 1 per layer, so Lip(D) ≤ 1 for the 1-Lipschitz
//!   activation used here;
//! * gradient penalty (Gulrajani et al. 2017), λ = 10: P = λ (‖∇ₓD(x̂)‖ − 1)² at
//!   x̂ = t x + (1 − t) G(z), t ~ U(0, 1), added to L_D; its parameter gradient needs the
//!   derivative of an input gradient (double backward), computed in closed form by
//!   [`gradient_penalty`] for the [`Critic`] architecture (see there for exactly what).
//!
//! The critic is the fixed architecture [`Critic`] (two hidden layers of width H with leaky ReLU)
//! because the penalty's double backward is written for it; the generator is any [`Layer`].
//!
//! Random-stream order (so host and device runs with one seed agree): per sample of a critic
//! step, Z normals for z then, with the penalty, one uniform for t; per sample of a generator
//! step, Z normals.
//!
//! NaN contract: the per-sample loops do not check values; NaN/∞ propagate. Each step checks the
//! updated parameters and returns `NonFiniteParameter` (the update has then been applied).

use crate::gaussian::fill_standard_normal;
use crate::gaussian::normal::uniform01;
use crate::mlp::constraint::{SpectralNorm, clip_weights};
use crate::mlp::optim::{Adam, RmsProp};
use crate::mlp::{Act, Chain, Dense, Layer, LeakyRelu, check_finite, zero_params};
use crate::{Error, Real, Result};
use rand_core::Rng;

/// The critic D : ℝ^X → ℝ: Dense(X→H), leaky ReLU, Dense(H→H), leaky ReLU, Dense(H→1).
///
/// Field access: `c.0` first dense, `c.1.1.0` second, `c.1.1.1.1` output layer.
pub type Critic<T, const X: usize, const H: usize> = crate::chain_type!(
    Dense<T, X, H>,
    Act<LeakyRelu<T>, H>,
    Dense<T, H, H>,
    Act<LeakyRelu<T>, H>,
    Dense<T, H, 1>,
);

/// A critic with all weights 0 and leaky-ReLU slope `slope` (0.2 is the GAN custom), ready for
/// [`Layer::init`].
pub fn critic_zeros<T: Real, const X: usize, const H: usize>(slope: T) -> Critic<T, X, H> {
    let act = Act(LeakyRelu { slope });
    Chain(Dense::zeros(), Chain(act, Chain(Dense::zeros(), Chain(act, Dense::zeros()))))
}

/// Adds `weight` · ∂P/∂w into `grads` for the gradient penalty P = λ (‖∇ₓD(x)‖ − 1)², and returns
/// (P, ‖∇ₓD(x)‖).
///
/// With h₁ = W₁x + b₁, d₁ = f′(h₁), h₂ = W₂f(h₁) + b₂, d₂ = f′(h₂), output weights w₃:
/// ∇ₓD = W₁ᵀ u₁ with u₂ = d₂ ⊙ w₃, u₁ = d₁ ⊙ (W₂ᵀ u₂). For r = ∂P/∂∇ₓD = 2λ(‖∇ₓD‖ − 1) ∇ₓD/‖∇ₓD‖
/// and s₁ = d₁ ⊙ (W₁ r): ∂P/∂W₁ = u₁ rᵀ, ∂P/∂W₂ = u₂ s₁ᵀ, ∂P/∂w₃ = d₂ ⊙ (W₂ s₁), ∂P/∂b = 0.
///
/// What this is exactly: the double backward for a piecewise-linear activation, whose f″ is 0
/// away from the kinks — the same value PyTorch's `autograd.grad(create_graph=True)` returns for
/// `LeakyReLU` (its second derivative is defined as 0 everywhere), so d₁, d₂ carry no gradient
/// and the biases get none. At ∇ₓD = 0 the norm has no derivative; r = 0 is used there (torch's
/// subgradient). Cost ≈ 3 forward passes. NaN/∞ propagate.
pub fn gradient_penalty<T: Real, const X: usize, const H: usize>(
    critic: &Critic<T, X, H>,
    x: &[T; X],
    lambda: T,
    weight: T,
    grads: &mut Critic<T, X, H>,
) -> (T, T) {
    let (l1, f1) = (&critic.0, critic.1.0.0);
    let (l2, f2) = (&critic.1.1.0, critic.1.1.1.0.0);
    let w3 = &critic.1.1.1.1.w[0];
    let h1 = l1.predict(x);
    let a1 = h1.map(|v| crate::mlp::Activation::apply(&f1, v));
    let d1 = h1.map(|v| crate::mlp::Activation::derivative(&f1, v));
    let h2 = l2.predict(&a1);
    let d2 = h2.map(|v| crate::mlp::Activation::derivative(&f2, v));
    let u2: [T; H] = core::array::from_fn(|k| d2[k] * w3[k]);
    let mut u1 = [T::ZERO; H];
    for (k, row) in l2.w.iter().enumerate() {
        for j in 0..H {
            u1[j] += row[j] * u2[k];
        }
    }
    for j in 0..H {
        u1[j] *= d1[j];
    }
    let mut g = [T::ZERO; X];
    for (j, row) in l1.w.iter().enumerate() {
        for i in 0..X {
            g[i] += row[i] * u1[j];
        }
    }
    let (penalty, norm, scale) = penalty_scale(&g, lambda, weight);
    let r = g.map(|v| v * scale);
    let mut s1 = [T::ZERO; H];
    for (j, row) in l1.w.iter().enumerate() {
        let mut acc = T::ZERO;
        for i in 0..X {
            acc += row[i] * r[i];
        }
        s1[j] = d1[j] * acc;
        for i in 0..X {
            grads.0.w[j][i] += u1[j] * r[i];
        }
    }
    let gw2 = &mut grads.1.1.0.w;
    let gw3 = &mut grads.1.1.1.1.w[0];
    for (k, row) in l2.w.iter().enumerate() {
        let mut acc = T::ZERO;
        for j in 0..H {
            acc += row[j] * s1[j];
            gw2[k][j] += u2[k] * s1[j];
        }
        gw3[k] += d2[k] * acc;
    }
    (penalty, norm)
}

/// For g = ∇ₓD: (P = λ (‖g‖ − 1)², ‖g‖, s) with s = weight · 2λ(‖g‖ − 1)/‖g‖ (0 at g = 0), so
/// that r = s g is `weight` · ∂P/∂g. Shared by the fixed-size and the runtime-sized penalty.
#[inline]
pub(crate) fn penalty_scale<T: Real>(g: &[T], lambda: T, weight: T) -> (T, T, T) {
    let mut sq = T::ZERO;
    for v in g.iter() {
        sq += *v * *v;
    }
    let norm = sq.sqrt();
    let excess = norm - T::ONE;
    let penalty = lambda * excess * excess;
    // r scaled by `weight` up front: every parameter gradient is linear in r.
    let scale = if norm > T::ZERO { weight * T::from_f64(2.0) * lambda * excess / norm } else { T::ZERO };
    (penalty, norm, scale)
}

/// ∇ₓD(x), the critic's input gradient (one forward and one backward pass with a scratch cache).
pub fn critic_input_gradient<T: Real, const X: usize, const H: usize>(
    critic: &Critic<T, X, H>,
    x: &[T; X],
) -> [T; X] {
    let mut cache = Critic::<T, X, H>::new_cache();
    let mut scratch = critic.zeros_like();
    critic.forward(x, &mut cache);
    critic.backward(&cache, &[T::ONE], &mut scratch)
}

/// Radius of the toy ring of 8 Gaussians (the WGAN-GP paper's toy set, Gulrajani et al. 2017,
/// App. C).
pub const RING_RADIUS: f64 = 2.0;
/// Standard deviation of each mode of the ring.
pub const RING_SIGMA: f64 = 0.02;

/// The 8 mode centres of the ring, (2 cos 2πk/8, 2 sin 2πk/8), k = 0..8.
pub fn ring_modes() -> [[f64; 2]; 8] {
    core::array::from_fn(|k| {
        let a = core::f64::consts::TAU * k as f64 / 8.0;
        [RING_RADIUS * libm::cos(a), RING_RADIUS * libm::sin(a)]
    })
}

/// One draw from the ring: a mode k uniform on 0..8 (the top 3 bits of one `next_u64`), then
/// centre + σ·(n₁, n₂) with n ~ N(0, I) (computed in f64, rounded once to T).
pub fn ring_sample<T: Real, R: Rng + ?Sized>(rng: &mut R) -> [T; 2] {
    let k = (rng.next_u64() >> 61) as usize;
    let c = ring_modes()[k];
    let n1: f64 = crate::gaussian::standard_normal(rng);
    let n2: f64 = crate::gaussian::standard_normal(rng);
    [T::from_f64(c[0] + RING_SIGMA * n1), T::from_f64(c[1] + RING_SIGMA * n2)]
}

/// How the critic is kept (about) 1-Lipschitz; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Lipschitz<T> {
    /// Clamp every critic parameter to [−c, c] after each critic update.
    WeightClip {
        /// c (0.01 in the WGAN paper).
        c: T,
    },
    /// Divide each weight matrix by its power-iteration σ̂ after each critic update.
    SpectralNorm,
    /// Add λ (‖∇ₓD(x̂)‖ − 1)² to the critic loss.
    GradientPenalty {
        /// λ (10 in the WGAN-GP paper).
        lambda: T,
    },
}

/// Which optimizer, with its hyperparameters (defaults as in PyTorch unless set here).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OptimizerKind<T> {
    /// RMSProp with learning rate `lr` (α = 0.99, ε = 1e-8).
    RmsProp {
        /// η.
        lr: T,
    },
    /// Adam with learning rate and moment decays (ε = 1e-8).
    Adam {
        /// η.
        lr: T,
        /// β₁.
        beta1: T,
        /// β₂.
        beta2: T,
    },
}

/// An optimizer of either kind for network `L` (fixed size, no allocation).
#[derive(Clone, Debug)]
pub enum Optimizer<T, L> {
    /// See [`RmsProp`].
    RmsProp(RmsProp<T, L>),
    /// See [`Adam`].
    Adam(Adam<T, L>),
}

impl<T: Real, L: Layer<T>> Optimizer<T, L> {
    /// The optimizer `kind` for `net`, state zero.
    pub fn new(net: &L, kind: OptimizerKind<T>) -> Self {
        match kind {
            OptimizerKind::RmsProp { lr } => Optimizer::RmsProp(RmsProp::new(net, lr)),
            OptimizerKind::Adam { lr, beta1, beta2 } => {
                let mut a = Adam::new(net, lr);
                a.beta1 = beta1;
                a.beta2 = beta2;
                Optimizer::Adam(a)
            }
        }
    }

    /// One update of `net` with gradient `grads`.
    pub fn step(&mut self, net: &mut L, grads: &L) {
        match self {
            Optimizer::RmsProp(o) => o.step(net, grads),
            Optimizer::Adam(o) => o.step(net, grads),
        }
    }
}

/// Hyperparameters of WGAN training.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WganConfig<T> {
    /// The Lipschitz constraint on the critic.
    pub lipschitz: Lipschitz<T>,
    /// Critic steps per generator step (5 in both papers).
    pub n_critic: usize,
    /// Critic optimizer.
    pub critic_opt: OptimizerKind<T>,
    /// Generator optimizer.
    pub generator_opt: OptimizerKind<T>,
}

impl<T: Real> WganConfig<T> {
    /// WGAN (Arjovsky et al. 2017, Algorithm 1): clip c = 0.01, RMSProp η = 5e-5 for both
    /// networks, n_critic = 5.
    pub fn paper_clip() -> Self {
        let rms = OptimizerKind::RmsProp { lr: T::from_f64(5e-5) };
        Self {
            lipschitz: Lipschitz::WeightClip { c: T::from_f64(0.01) },
            n_critic: 5,
            critic_opt: rms,
            generator_opt: rms,
        }
    }

    /// WGAN-GP (Gulrajani et al. 2017, Algorithm 1): λ = 10, Adam η = 1e-4, β₁ = 0, β₂ = 0.9,
    /// n_critic = 5.
    pub fn gradient_penalty() -> Self {
        let adam = OptimizerKind::Adam { lr: T::from_f64(1e-4), beta1: T::ZERO, beta2: T::from_f64(0.9) };
        Self {
            lipschitz: Lipschitz::GradientPenalty { lambda: T::from_f64(10.0) },
            n_critic: 5,
            critic_opt: adam,
            generator_opt: adam,
        }
    }

    /// Spectral normalization with SN-GAN's Adam settings (Miyato et al. 2018, setting "C"):
    /// η = 1e-4, β₁ = 0.5, β₂ = 0.9, n_critic = 5.
    pub fn spectral_norm() -> Self {
        let adam =
            OptimizerKind::Adam { lr: T::from_f64(1e-4), beta1: T::from_f64(0.5), beta2: T::from_f64(0.9) };
        Self { lipschitz: Lipschitz::SpectralNorm, n_critic: 5, critic_opt: adam, generator_opt: adam }
    }

    /// The same configuration with learning rate `lr` for both optimizers.
    pub fn with_lr(mut self, lr: T) -> Self {
        for k in [&mut self.critic_opt, &mut self.generator_opt] {
            match k {
                OptimizerKind::RmsProp { lr: l } | OptimizerKind::Adam { lr: l, .. } => *l = lr,
            }
        }
        self
    }
}

/// Power-iteration state for the three weight matrices of a [`Critic`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CriticSpectralNorm<T, const X: usize, const H: usize> {
    /// First layer (H×X).
    pub l1: SpectralNorm<T, X, H>,
    /// Second layer (H×H).
    pub l2: SpectralNorm<T, H, H>,
    /// Output layer (1×H).
    pub l3: SpectralNorm<T, H, 1>,
}

impl<T: Real, const X: usize, const H: usize> CriticSpectralNorm<T, X, H> {
    /// Random unit starting vectors u (see [`SpectralNorm::from_rng`]).
    pub fn from_rng<R: Rng + ?Sized>(rng: &mut R) -> Self {
        Self {
            l1: SpectralNorm::from_rng(rng),
            l2: SpectralNorm::from_rng(rng),
            l3: SpectralNorm::from_rng(rng),
        }
    }

    /// One power-iteration step per layer, then W ← W/σ̂ (see [`SpectralNorm::project`]).
    /// Errors as there (a zero or NaN weight matrix); layers before the failing one are projected.
    pub fn project(&mut self, critic: &mut Critic<T, X, H>) -> Result<()> {
        self.l1.project(&mut critic.0.w)?;
        self.l2.project(&mut critic.1.1.0.w)?;
        self.l3.project(&mut critic.1.1.1.1.w)?;
        Ok(())
    }
}

/// What one critic step saw (batch means, before the update).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CriticStats<T> {
    /// (1/B) Σ D(x_b).
    pub d_real: T,
    /// (1/B) Σ D(G(z_b)).
    pub d_fake: T,
    /// (1/B) Σ λ (‖∇D(x̂_b)‖ − 1)² (0 without the penalty).
    pub penalty: T,
    /// (1/B) Σ ‖∇D(x̂_b)‖ (0 without the penalty).
    pub grad_norm: T,
}

impl<T: Real> CriticStats<T> {
    /// d_real − d_fake: the critic's estimate of W₁ (exact only for a 1-Lipschitz maximizer).
    pub fn wasserstein_estimate(&self) -> T {
        self.d_real - self.d_fake
    }
}

/// Everything WGAN training needs besides the two networks: optimizers, gradient buffers, caches
/// and spectral-norm state, in one fixed-size value.
pub struct WganTrainer<T: Real, G: Layer<T>, const X: usize, const H: usize> {
    /// The configuration it was made with.
    pub config: WganConfig<T>,
    opt_g: Optimizer<T, G>,
    opt_c: Optimizer<T, Critic<T, X, H>>,
    grads_g: G,
    grads_c: Critic<T, X, H>,
    cache_g: G::Cache,
    cache_c: <Critic<T, X, H> as Layer<T>>::Cache,
    sn: CriticSpectralNorm<T, X, H>,
}

impl<T: Real, G: Layer<T>, const X: usize, const H: usize> WganTrainer<T, G, X, H> {
    /// A trainer for these networks; `rng` seeds the spectral-norm vectors (drawn whatever the
    /// constraint, so the stream position does not depend on it: 2H + 1 normals).
    pub fn new<R: Rng + ?Sized>(
        generator: &G,
        critic: &Critic<T, X, H>,
        config: WganConfig<T>,
        rng: &mut R,
    ) -> Self {
        Self {
            config,
            opt_g: Optimizer::new(generator, config.generator_opt),
            opt_c: Optimizer::new(critic, config.critic_opt),
            grads_g: generator.zeros_like(),
            grads_c: critic.zeros_like(),
            cache_g: G::new_cache(),
            cache_c: Critic::<T, X, H>::new_cache(),
            sn: CriticSpectralNorm::from_rng(rng),
        }
    }

    /// Applies the constraint's projection (clip or spectral norm) to `critic` without a step;
    /// a no-op for the penalty. Use once before training so the critic starts feasible.
    pub fn constrain(&mut self, critic: &mut Critic<T, X, H>) -> Result<()> {
        match self.config.lipschitz {
            Lipschitz::WeightClip { c } => clip_weights(critic, c),
            Lipschitz::SpectralNorm => self.sn.project(critic),
            Lipschitz::GradientPenalty { .. } => Ok(()),
        }
    }

    /// One critic update on the real minibatch `real` (B = its length) against B fresh fakes:
    /// minimizes L_D (+ penalty), then applies the constraint. Returns the batch statistics before
    /// the update.
    ///
    /// Errors: `EmptyData` for an empty batch; `NonFiniteParameter` after a NaN/∞ update;
    /// `InvalidParameter` from clipping or spectral normalization (bad c, zero weights).
    pub fn critic_step<R: Rng + ?Sized, const Z: usize>(
        &mut self,
        generator: &G,
        critic: &mut Critic<T, X, H>,
        real: &[[T; X]],
        rng: &mut R,
    ) -> Result<CriticStats<T>>
    where
        G: Layer<T, Input = [T; Z], Output = [T; X]>,
    {
        if real.is_empty() {
            return Err(Error::EmptyData);
        }
        zero_params(&mut self.grads_c);
        let w = T::ONE / T::from_usize(real.len());
        let mut stats: CriticStats<T> = CriticStats::default();
        let mut z = [T::ZERO; Z];
        for x in real {
            fill_standard_normal(rng, &mut z);
            let fake = generator.predict(&z);
            let d = critic.forward(x, &mut self.cache_c)[0];
            critic.backward(&self.cache_c, &[-w], &mut self.grads_c);
            stats.d_real += d;
            let d = critic.forward(&fake, &mut self.cache_c)[0];
            critic.backward(&self.cache_c, &[w], &mut self.grads_c);
            stats.d_fake += d;
            if let Lipschitz::GradientPenalty { lambda } = self.config.lipschitz {
                let t: T = uniform01(rng);
                let x_hat: [T; X] = core::array::from_fn(|i| t * x[i] + (T::ONE - t) * fake[i]);
                let (p, n) = gradient_penalty(critic, &x_hat, lambda, w, &mut self.grads_c);
                stats.penalty += p;
                stats.grad_norm += n;
            }
        }
        self.opt_c.step(critic, &self.grads_c);
        check_finite(critic)?;
        self.constrain(critic)?;
        Ok(CriticStats {
            d_real: stats.d_real * w,
            d_fake: stats.d_fake * w,
            penalty: stats.penalty * w,
            grad_norm: stats.grad_norm * w,
        })
    }

    /// One generator update on `batch` fresh draws z: minimizes L_G = −(1/B) Σ D(G(z_b)) with the
    /// critic fixed. Returns L_G before the update.
    ///
    /// Errors: `EmptyData` for batch 0; `NonFiniteParameter` after a NaN/∞ update.
    pub fn generator_step<R: Rng + ?Sized, const Z: usize>(
        &mut self,
        generator: &mut G,
        critic: &Critic<T, X, H>,
        batch: usize,
        rng: &mut R,
    ) -> Result<T>
    where
        G: Layer<T, Input = [T; Z], Output = [T; X]>,
    {
        if batch == 0 {
            return Err(Error::EmptyData);
        }
        zero_params(&mut self.grads_g);
        let w = T::ONE / T::from_usize(batch);
        let mut loss = T::ZERO;
        let mut z = [T::ZERO; Z];
        for _ in 0..batch {
            fill_standard_normal(rng, &mut z);
            let x = generator.forward(&z, &mut self.cache_g);
            loss -= critic.forward(&x, &mut self.cache_c)[0];
            // Critic parameter gradients are not wanted here; they land in the critic buffer,
            // which the next critic step zeroes first.
            let gx = critic.backward(&self.cache_c, &[-w], &mut self.grads_c);
            generator.backward(&self.cache_g, &gx, &mut self.grads_g);
        }
        self.opt_g.step(generator, &self.grads_g);
        check_finite(generator)?;
        Ok(loss * w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::{Init, Relu};
    use crate::{chain, chain_type};
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn critic() -> Critic<f64, 2, 5> {
        let mut c = critic_zeros::<f64, 2, 5>(0.2);
        c.init(Init::HeNormal, &mut Xoshiro256PlusPlus::seed_from_u64(17));
        c
    }

    #[test]
    fn input_gradient_formula_matches_backward() {
        // gradient_penalty's ∇ₓD (returned norm) must equal the backward pass's.
        let c = critic();
        let x = [0.3, -0.7];
        let g = critic_input_gradient(&c, &x);
        let (_, n) = gradient_penalty(&c, &x, 10.0, 1.0, &mut c.zeros_like());
        assert!((n - (g[0] * g[0] + g[1] * g[1]).sqrt()).abs() < 1e-14);
    }

    #[test]
    fn gradient_penalty_parameter_gradient_matches_finite_differences() {
        let c = critic();
        let x = [0.3, -0.7];
        let mut grads = c.zeros_like();
        let (p, _) = gradient_penalty(&c, &x, 10.0, 0.5, &mut grads);
        assert!(p > 0.0);
        let mut analytic = Vec::new();
        grads.visit_params(&mut |g| analytic.push(g));
        // P(w) with ∇ₓD from the backward pass (independent of the closed form).
        let penalty = |c: &Critic<f64, 2, 5>| {
            let g = critic_input_gradient(c, &x);
            let n = (g[0] * g[0] + g[1] * g[1]).sqrt();
            10.0 * (n - 1.0) * (n - 1.0)
        };
        let h = 1e-6;
        for (idx, a) in analytic.iter().enumerate() {
            let nudged = |d: f64| {
                let mut n = c;
                let mut i = 0;
                n.for_each_param(&mut |p| {
                    if i == idx {
                        *p += d;
                    }
                    i += 1;
                });
                0.5 * penalty(&n)
            };
            let numeric = (nudged(h) - nudged(-h)) / (2.0 * h);
            assert!((a - numeric).abs() < 1e-7 * (1.0 + numeric.abs()), "param {idx}: {a} vs {numeric}");
        }
    }

    #[test]
    fn clipping_step_keeps_every_critic_weight_within_c() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
        let mut generator: chain_type!(Dense<f64, 2, 8>, Act<Relu, 8>, Dense<f64, 8, 2>) =
            chain!(Dense::zeros(), Act(Relu), Dense::zeros());
        generator.init(Init::HeNormal, &mut rng);
        let mut c = critic();
        let mut tr = WganTrainer::new(&generator, &c, WganConfig::paper_clip(), &mut rng);
        tr.constrain(&mut c).unwrap();
        let real = [[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0]];
        for _ in 0..5 {
            tr.critic_step(&generator, &mut c, &real, &mut rng).unwrap();
        }
        c.visit_params(&mut |p| assert!(p.abs() <= 0.01));
        let before = generator;
        tr.generator_step(&mut generator, &c, 4, &mut rng).unwrap();
        assert_ne!(before, generator);
        assert_eq!(tr.critic_step(&generator, &mut c, &[], &mut rng), Err(Error::EmptyData));
        assert_eq!(tr.generator_step(&mut generator, &c, 0, &mut rng), Err(Error::EmptyData));
    }

    #[test]
    fn spectral_norm_step_keeps_each_layer_near_norm_one() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let generator: chain_type!(Dense<f64, 2, 4>, Act<Relu, 4>, Dense<f64, 4, 2>) = chain!(
            Dense::new_init(Init::HeNormal, &mut rng),
            Act(Relu),
            Dense::new_init(Init::HeNormal, &mut rng)
        );
        let mut c = critic();
        let mut tr = WganTrainer::new(&generator, &c, WganConfig::spectral_norm(), &mut rng);
        let real = [[2.0, 0.0], [0.0, 2.0]];
        for _ in 0..50 {
            tr.critic_step(&generator, &mut c, &real, &mut rng).unwrap();
        }
        // Fresh power iterations to convergence on the final weights.
        let mut s = SpectralNorm::<f64, 5, 5>::new();
        for _ in 0..200 {
            s.power_iteration(&c.1.1.0.w);
        }
        assert!((s.sigma - 1.0).abs() < 0.05, "σ(W₂) = {}", s.sigma);
        // Hence ‖∇ₓD‖ ≤ σ₁ σ₂ σ₃ ≈ 1 (leaky ReLU is 1-Lipschitz).
        let g = critic_input_gradient(&c, &[0.5, 0.5]);
        assert!((g[0] * g[0] + g[1] * g[1]).sqrt() < 1.1);
    }
}
