//! Variational autoencoder (lecture §3): Gaussian encoder, Gaussian-unit-variance or Bernoulli
//! decoder, standard-normal prior, single-sample reparameterized ELBO and an allocation-free
//! training step.
//!
//! Per sample x ∈ ℝ^X (eq 12–17), with the encoder giving μ = μ_φ(x), ℓ = ln σ²_φ(x) ∈ ℝ^Z:
//!
//! * z = μ + e^{ℓ/2} ⊙ ε, ε ~ N(0, I) (eq 18, [`reparam_diag`]);
//! * L(x) = ln p_θ(x | z) − KL(N(μ, diag e^ℓ) ‖ N(0, I)), the one-sample Monte-Carlo estimate of
//!   E_q[ln p_θ(x|z)] minus the analytic KL of eq 15, ½ Σᵢ (σᵢ² + μᵢ² − 1 − ln σᵢ²);
//! * ln p_θ(x|z) is [`Likelihood::log_prob`] of the decoder output: eq 16–17 for the
//!   unit-variance Gaussian, the Bernoulli log-likelihood for logits;
//! * the batch ELBO is the mean of L over the batch, L_B = (1/B) Σ_b L(x_b); training minimizes
//!   −L_B.
//!
//! Everything lives in fixed-size values: the network, its gradient (a [`Vae`] of the same
//! type), the optimizer state and one encoder and one decoder cache, reused sample by sample
//! (each sample's backward runs right after its forward, adding into the gradient).
//!
//! NaN contract: no value is checked in the per-sample loops (NaN/∞ propagate into the ELBO and
//! the gradient, never a panic); [`VaeTrainer::step`] checks the parameters after the update and
//! returns `NonFiniteParameter` so a diverged run is a typed error.

use crate::gaussian::{fill_standard_normal, kl_diag_std_normal, kl_diag_std_normal_grad};
use crate::gaussian::{reparam_diag, reparam_diag_backward};
use crate::mlp::activation::logistic;
use crate::mlp::optim::Adam;
use crate::mlp::{Dense, Init, Layer, check_finite, zero_params};
use crate::{Error, Real, Result};
use rand_core::Rng;

/// The distribution p_θ(x | z) the decoder output parameterizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Likelihood {
    /// N(x; m, I), m = decoder output: ln p = −½ ‖x − m‖² − (X/2) ln 2π (eq 16–17).
    GaussianUnit,
    /// Independent Bernoulli with logits l = decoder output:
    /// ln p = Σᵢ [xᵢ ln σ(lᵢ) + (1 − xᵢ) ln(1 − σ(lᵢ))]; xᵢ ∈ [0, 1] (grey levels act as soft labels,
    /// as in PyTorch's `binary_cross_entropy_with_logits`).
    BernoulliLogits,
}

impl Likelihood {
    /// ln p(x | out) (formulas on the variants), and ∂(−ln p)/∂out written into `grad_out`:
    /// out − x for the Gaussian, σ(out) − x for the Bernoulli.
    ///
    /// The Bernoulli term is evaluated as −[max(l, 0) − l x + ln(1 + e^{−|l|})], which neither
    /// overflows nor loses ln σ(l) to rounding for large |l|. NaN/∞ propagate.
    #[inline]
    pub fn log_prob_grad<T: Real, const X: usize>(
        self,
        out: &[T; X],
        x: &[T; X],
        grad_out: &mut [T; X],
    ) -> T {
        self.log_prob_grad_slice(out, x, grad_out)
    }

    /// [`Likelihood::log_prob_grad`] at a runtime width X = `out.len()` (`x` and `grad_out` of
    /// the same length; the shortest bounds the loop).
    #[inline]
    pub fn log_prob_grad_slice<T: Real>(self, out: &[T], x: &[T], grad_out: &mut [T]) -> T {
        let mut s = T::ZERO;
        let entries = out.iter().zip(x).zip(grad_out.iter_mut());
        match self {
            Likelihood::GaussianUnit => {
                for ((o, xi), g) in entries {
                    let r = *o - *xi;
                    s += r * r;
                    *g = r;
                }
                -T::from_f64(0.5) * (s + T::from_usize(out.len()) * T::LN_2PI)
            }
            Likelihood::BernoulliLogits => {
                for ((o, xi), g) in entries {
                    let l = *o;
                    let pos = if l > T::ZERO { l } else { T::ZERO };
                    s += pos - l * *xi + (-l.abs()).exp().ln_1p();
                    *g = logistic(l) - *xi;
                }
                -s
            }
        }
    }

    /// ln p(x | out) without the gradient (see [`Likelihood::log_prob_grad`]).
    #[inline]
    pub fn log_prob<T: Real, const X: usize>(self, out: &[T; X], x: &[T; X]) -> T {
        self.log_prob_grad(out, x, &mut [T::ZERO; X])
    }

    /// The mean E[x | out] of the distribution: `out` itself for the Gaussian, σ(out) for the
    /// Bernoulli (what a "decoded image" shows).
    #[inline]
    pub fn mean<T: Real, const X: usize>(self, out: &[T; X]) -> [T; X] {
        match self {
            Likelihood::GaussianUnit => *out,
            Likelihood::BernoulliLogits => out.map(logistic),
        }
    }
}

/// The two terms of one ELBO estimate; [`ElboTerms::elbo`] = `log_likelihood` − `kl`.
///
/// For a batch the fields are batch means, so `elbo()` is the batch ELBO L_B.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ElboTerms<T> {
    /// ln p_θ(x | z) at the sampled z (reconstruction term, eq 16–17).
    pub log_likelihood: T,
    /// KL(q_φ(z|x) ‖ N(0, I)) (eq 15), analytic.
    pub kl: T,
}

impl<T: Real> ElboTerms<T> {
    /// L = ln p(x|z) − KL (eq 12–13).
    pub fn elbo(&self) -> T {
        self.log_likelihood - self.kl
    }
}

/// The encoder's output layer: two dense maps from the last hidden layer, h ↦ (μ, ln σ²) =
/// (W_μ h + b_μ, W_ℓ h + b_ℓ).
///
/// A `Layer` whose output is the pair, so an encoder is `chain!(body…, GaussianHead)`. Cost
/// 2·H·Z multiply-adds each way; the cache is h.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GaussianHead<T, const H: usize, const Z: usize> {
    /// μ = W h + b.
    pub mu: Dense<T, H, Z>,
    /// ln σ² = W h + b.
    pub log_var: Dense<T, H, Z>,
}

impl<T: Real, const H: usize, const Z: usize> GaussianHead<T, H, Z> {
    /// Both maps zero (a gradient buffer, or a head to be initialized).
    pub fn zeros() -> Self {
        Self { mu: Dense::zeros(), log_var: Dense::zeros() }
    }
}

impl<T: Real, const H: usize, const Z: usize> Layer<T> for GaussianHead<T, H, Z> {
    type Input = [T; H];
    type Output = ([T; Z], [T; Z]);
    type Cache = [T; H];
    const PARAMS: usize = 2 * (H * Z + Z);

    fn new_cache() -> Self::Cache {
        [T::ZERO; H]
    }
    #[inline]
    fn forward(&self, x: &[T; H], cache: &mut [T; H]) -> Self::Output {
        *cache = *x;
        self.predict(x)
    }
    #[inline]
    fn predict(&self, x: &[T; H]) -> Self::Output {
        (self.mu.predict(x), self.log_var.predict(x))
    }
    #[inline]
    fn backward(&self, cache: &[T; H], g: &Self::Output, grads: &mut Self) -> [T; H] {
        let a = self.mu.backward(cache, &g.0, &mut grads.mu);
        let b = self.log_var.backward(cache, &g.1, &mut grads.log_var);
        core::array::from_fn(|i| a[i] + b[i])
    }
    fn zeros_like(&self) -> Self {
        Self::zeros()
    }
    fn for_each_param(&mut self, f: &mut impl FnMut(&mut T)) {
        self.mu.for_each_param(f);
        self.log_var.for_each_param(f);
    }
    fn visit_params(&self, f: &mut impl FnMut(T)) {
        self.mu.visit_params(f);
        self.log_var.visit_params(f);
    }
    fn zip_params1(&mut self, grads: &Self, s: &mut Self, f: &mut impl FnMut(&mut T, T, &mut T)) {
        self.mu.zip_params1(&grads.mu, &mut s.mu, f);
        self.log_var.zip_params1(&grads.log_var, &mut s.log_var, f);
    }
    fn zip_params(
        &mut self,
        grads: &Self,
        s1: &mut Self,
        s2: &mut Self,
        f: &mut impl FnMut(&mut T, T, &mut T, &mut T),
    ) {
        self.mu.zip_params(&grads.mu, &mut s1.mu, &mut s2.mu, f);
        self.log_var.zip_params(&grads.log_var, &mut s1.log_var, &mut s2.log_var, f);
    }
    fn init<R: Rng + ?Sized>(&mut self, scheme: Init, rng: &mut R) {
        self.mu.init(scheme, rng);
        self.log_var.init(scheme, rng);
    }
}

/// A VAE: encoder `E` : [T; X] → (μ, ln σ²) ∈ [T; Z]², decoder `D` : [T; Z] → [T; X] (the
/// parameters of p_θ(x|z) named by `likelihood`).
///
/// The same type holds a gradient (from [`Vae::zeros_like`]); its `likelihood` is then unused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Vae<E, D> {
    /// q_φ(z | x).
    pub encoder: E,
    /// p_θ(x | z).
    pub decoder: D,
    /// What the decoder output means.
    pub likelihood: Likelihood,
}

/// Caller-owned scratch for one forward/backward pass: an encoder and a decoder cache.
pub struct VaeCaches<T: Real, E: Layer<T>, D: Layer<T>> {
    enc: E::Cache,
    dec: D::Cache,
}

impl<T: Real, E: Layer<T>, D: Layer<T>> VaeCaches<T, E, D> {
    /// Fresh caches (contents are overwritten by every forward pass).
    pub fn new() -> Self {
        Self { enc: E::new_cache(), dec: D::new_cache() }
    }
}

impl<T: Real, E: Layer<T>, D: Layer<T>> Default for VaeCaches<T, E, D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E, D> Vae<E, D> {
    /// A VAE of the same shape with every parameter 0 (gradient buffer).
    pub fn zeros_like<T: Real>(&self) -> Self
    where
        E: Layer<T>,
        D: Layer<T>,
    {
        Self {
            encoder: self.encoder.zeros_like(),
            decoder: self.decoder.zeros_like(),
            likelihood: self.likelihood,
        }
    }

    /// Number of trainable scalars (encoder + decoder).
    pub fn params<T: Real>(&self) -> usize
    where
        E: Layer<T>,
        D: Layer<T>,
    {
        E::PARAMS + D::PARAMS
    }

    /// Initializes both networks by `scheme` (biases 0), encoder first.
    pub fn init<T: Real, R: Rng + ?Sized>(&mut self, scheme: Init, rng: &mut R)
    where
        E: Layer<T>,
        D: Layer<T>,
    {
        self.encoder.init(scheme, rng);
        self.decoder.init(scheme, rng);
    }

    /// (μ, ln σ²) of q_φ(z | x).
    pub fn encode<T: Real, const X: usize, const Z: usize>(&self, x: &[T; X]) -> ([T; Z], [T; Z])
    where
        E: Layer<T, Input = [T; X], Output = ([T; Z], [T; Z])>,
    {
        self.encoder.predict(x)
    }

    /// The mean of p_θ(x | z) (see [`Likelihood::mean`]): the decoded image of a latent point.
    pub fn decode<T: Real, const X: usize, const Z: usize>(&self, z: &[T; Z]) -> [T; X]
    where
        D: Layer<T, Input = [T; Z], Output = [T; X]>,
    {
        self.likelihood.mean(&self.decoder.predict(z))
    }

    /// One ELBO estimate for `x` with the given ε (z = μ + σ ⊙ ε): deterministic, no gradient.
    pub fn elbo_with_eps<T: Real, const X: usize, const Z: usize>(
        &self,
        x: &[T; X],
        eps: &[T; Z],
    ) -> ElboTerms<T>
    where
        E: Layer<T, Input = [T; X], Output = ([T; Z], [T; Z])>,
        D: Layer<T, Input = [T; Z], Output = [T; X]>,
    {
        let (mu, lv) = self.encoder.predict(x);
        let mut z = [T::ZERO; Z];
        reparam_diag(&mu, &lv, eps, &mut z);
        let out = self.decoder.predict(&z);
        ElboTerms { log_likelihood: self.likelihood.log_prob(&out, x), kl: kl_diag_std_normal(&mu, &lv) }
    }

    /// The ELBO of `x` averaged over `samples` draws of ε from `rng` (the KL is exact; only the
    /// reconstruction term is estimated). `samples` = 0 is treated as 1.
    pub fn elbo<T: Real, R: Rng + ?Sized, const X: usize, const Z: usize>(
        &self,
        x: &[T; X],
        samples: usize,
        rng: &mut R,
    ) -> ElboTerms<T>
    where
        E: Layer<T, Input = [T; X], Output = ([T; Z], [T; Z])>,
        D: Layer<T, Input = [T; Z], Output = [T; X]>,
    {
        let samples = samples.max(1);
        let (mu, lv) = self.encoder.predict(x);
        let (mut eps, mut z) = ([T::ZERO; Z], [T::ZERO; Z]);
        let mut ll = T::ZERO;
        for _ in 0..samples {
            fill_standard_normal(rng, &mut eps);
            reparam_diag(&mu, &lv, &eps, &mut z);
            ll += self.likelihood.log_prob(&self.decoder.predict(&z), x);
        }
        ElboTerms { log_likelihood: ll / T::from_usize(samples), kl: kl_diag_std_normal(&mu, &lv) }
    }

    /// Forward and backward for one sample with the given ε: returns its ELBO terms and adds
    /// `weight` · ∂(−L(x))/∂θ into `grads` (encoder and decoder).
    ///
    /// Chain: g_out = weight · ∂(−ln p)/∂out → decoder backward → g_z; then
    /// ∂/∂μ = weight·μ + g_z, ∂/∂ℓ = weight·½(σ² − 1) + ½ g_z ⊙ σ ⊙ ε → encoder backward.
    pub fn accumulate_with_eps<T: Real, const X: usize, const Z: usize>(
        &self,
        x: &[T; X],
        eps: &[T; Z],
        weight: T,
        caches: &mut VaeCaches<T, E, D>,
        grads: &mut Self,
    ) -> ElboTerms<T>
    where
        E: Layer<T, Input = [T; X], Output = ([T; Z], [T; Z])>,
        D: Layer<T, Input = [T; Z], Output = [T; X]>,
    {
        let (mu, lv) = self.encoder.forward(x, &mut caches.enc);
        let mut z = [T::ZERO; Z];
        reparam_diag(&mu, &lv, eps, &mut z);
        let out = self.decoder.forward(&z, &mut caches.dec);
        let mut g_out = [T::ZERO; X];
        let log_likelihood = self.likelihood.log_prob_grad(&out, x, &mut g_out);
        for g in g_out.iter_mut() {
            *g *= weight;
        }
        let g_z = self.decoder.backward(&caches.dec, &g_out, &mut grads.decoder);
        let (mut g_mu, mut g_lv) = ([T::ZERO; Z], [T::ZERO; Z]);
        let kl = kl_diag_std_normal_grad(&mu, &lv, &mut g_mu, &mut g_lv);
        for i in 0..Z {
            g_mu[i] *= weight;
            g_lv[i] *= weight;
        }
        // The KL gradient was written, the reparameterization's is added on top.
        reparam_diag_backward(&lv, eps, &g_z, &mut g_mu, &mut g_lv);
        self.encoder.backward(&caches.enc, &(g_mu, g_lv), &mut grads.encoder);
        ElboTerms { log_likelihood, kl }
    }
}

/// Adam on a [`Vae`] with its gradient buffer and caches: everything one training step needs,
/// in one fixed-size value (no allocation; its size is about 4× the network's).
pub struct VaeTrainer<T: Real, E: Layer<T>, D: Layer<T>> {
    /// Optimizer of the encoder.
    pub opt_encoder: Adam<T, E>,
    /// Optimizer of the decoder (same hyperparameters; the two step together).
    pub opt_decoder: Adam<T, D>,
    grads: Vae<E, D>,
    caches: VaeCaches<T, E, D>,
}

impl<T: Real, E: Layer<T>, D: Layer<T>> VaeTrainer<T, E, D> {
    /// Adam with learning rate `lr` and PyTorch's defaults (β = (0.9, 0.999), ε = 1e-8).
    pub fn new(vae: &Vae<E, D>, lr: T) -> Self {
        Self {
            opt_encoder: Adam::new(&vae.encoder, lr),
            opt_decoder: Adam::new(&vae.decoder, lr),
            grads: vae.zeros_like(),
            caches: VaeCaches::new(),
        }
    }

    /// The gradient of the last step (∂(−L_B)/∂θ).
    pub fn gradient(&self) -> &Vae<E, D> {
        &self.grads
    }

    /// One training step on a minibatch: for each x_b draws ε_b ~ N(0, I) from `rng` (in batch
    /// order, Z variates each), accumulates ∂(−L_B)/∂θ with L_B = (1/B) Σ_b L(x_b), then one Adam
    /// update of encoder and decoder. Returns the batch-mean ELBO terms *before* the update.
    ///
    /// Errors: `EmptyData` for an empty batch (nothing changes); `NonFiniteParameter` when the
    /// update left a NaN/∞ parameter (the step has then been applied).
    pub fn step<R: Rng + ?Sized, const X: usize, const Z: usize>(
        &mut self,
        vae: &mut Vae<E, D>,
        batch: &[[T; X]],
        rng: &mut R,
    ) -> Result<ElboTerms<T>>
    where
        E: Layer<T, Input = [T; X], Output = ([T; Z], [T; Z])>,
        D: Layer<T, Input = [T; Z], Output = [T; X]>,
    {
        self.step_with(vae, batch, |eps| fill_standard_normal(rng, eps))
    }

    /// [`VaeTrainer::step`] with ε supplied by `draw` (called once per sample, in batch order):
    /// lets a test feed the same ε to two implementations.
    pub fn step_with<const X: usize, const Z: usize>(
        &mut self,
        vae: &mut Vae<E, D>,
        batch: &[[T; X]],
        mut draw: impl FnMut(&mut [T; Z]),
    ) -> Result<ElboTerms<T>>
    where
        E: Layer<T, Input = [T; X], Output = ([T; Z], [T; Z])>,
        D: Layer<T, Input = [T; Z], Output = [T; X]>,
    {
        if batch.is_empty() {
            return Err(Error::EmptyData);
        }
        zero_params(&mut self.grads.encoder);
        zero_params(&mut self.grads.decoder);
        let weight = T::ONE / T::from_usize(batch.len());
        let mut sum: ElboTerms<T> = ElboTerms::default();
        let mut eps = [T::ZERO; Z];
        for x in batch {
            draw(&mut eps);
            let t = vae.accumulate_with_eps(x, &eps, weight, &mut self.caches, &mut self.grads);
            sum.log_likelihood += t.log_likelihood;
            sum.kl += t.kl;
        }
        self.opt_encoder.step(&mut vae.encoder, &self.grads.encoder);
        self.opt_decoder.step(&mut vae.decoder, &self.grads.decoder);
        check_finite(&vae.encoder)?;
        check_finite(&vae.decoder)?;
        Ok(ElboTerms { log_likelihood: sum.log_likelihood * weight, kl: sum.kl * weight })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::{Act, Relu, Tanh};
    use crate::{chain, chain_type};
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    type Enc = chain_type!(Dense<f64, 3, 5>, Act<Tanh, 5>, GaussianHead<f64, 5, 2>);
    type Dec = chain_type!(Dense<f64, 2, 4>, Act<Tanh, 4>, Dense<f64, 4, 3>);

    fn vae(likelihood: Likelihood) -> Vae<Enc, Dec> {
        let mut v = Vae {
            encoder: chain!(Dense::zeros(), Act(Tanh), GaussianHead::zeros()),
            decoder: chain!(Dense::zeros(), Act(Tanh), Dense::zeros()),
            likelihood,
        };
        v.init(Init::XavierNormal, &mut Xoshiro256PlusPlus::seed_from_u64(9));
        // Non-zero biases so that their gradients are exercised.
        let mut k = 0.0;
        let mut bump = |p: &mut f64| {
            if *p == 0.0 {
                k += 0.41;
                *p = 0.2 * f64::sin(k);
            }
        };
        v.encoder.for_each_param(&mut bump);
        v.decoder.for_each_param(&mut bump);
        v
    }

    #[test]
    fn elbo_gradient_matches_finite_differences_for_both_likelihoods() {
        let x = [0.25, 0.9, 0.0];
        let eps = [0.7, -1.3];
        for lik in [Likelihood::GaussianUnit, Likelihood::BernoulliLogits] {
            let v = vae(lik);
            let mut grads = v.zeros_like();
            let mut caches = VaeCaches::new();
            // weight 0.5: the gradient is half of ∂(−L)/∂θ.
            let t = v.accumulate_with_eps(&x, &eps, 0.5, &mut caches, &mut grads);
            assert_eq!(t, v.elbo_with_eps(&x, &eps));
            let mut analytic = Vec::new();
            grads.encoder.visit_params(&mut |g| analytic.push(g));
            grads.decoder.visit_params(&mut |g| analytic.push(g));
            assert_eq!(analytic.len(), v.params::<f64>());
            let h = 1e-6;
            for (idx, a) in analytic.iter().enumerate() {
                let nudged = |d: f64| {
                    let mut w = v;
                    let mut i = 0;
                    let mut f = |p: &mut f64| {
                        if i == idx {
                            *p += d;
                        }
                        i += 1;
                    };
                    w.encoder.for_each_param(&mut f);
                    w.decoder.for_each_param(&mut f);
                    -0.5 * w.elbo_with_eps(&x, &eps).elbo()
                };
                let numeric = (nudged(h) - nudged(-h)) / (2.0 * h);
                assert!(
                    (a - numeric).abs() < 1e-8 * (1.0 + numeric.abs()),
                    "{lik:?} param {idx}: {a} vs {numeric}"
                );
            }
        }
    }

    #[test]
    fn elbo_terms_match_eq_15_to_17_by_hand() {
        // Encoder μ = 0, ln σ² = 0 (all-zero head), decoder constant output c: KL = 0 and
        // ln p(x|z) is the closed form at out = c whatever z is.
        let mut v = vae(Likelihood::GaussianUnit);
        v.encoder.1.1 = GaussianHead::zeros();
        v.decoder.1.1 = Dense { w: [[0.0; 4]; 3], b: [0.5, -1.0, 2.0] };
        let x = [0.25, 0.9, 0.0];
        let t = v.elbo_with_eps(&x, &[0.3, 0.1]);
        assert_eq!(t.kl, 0.0);
        // −½ (0.0625 + 3.61 + 4) − 1.5 ln 2π.
        let want = -0.5 * (0.0625 + 3.61 + 4.0) - 1.5 * (2.0 * core::f64::consts::PI).ln();
        assert!((t.log_likelihood - want).abs() < 1e-14);
        v.likelihood = Likelihood::BernoulliLogits;
        let t = v.elbo_with_eps(&x, &[0.3, 0.1]);
        let direct: f64 = (0..3)
            .map(|i| {
                let s = 1.0 / (1.0 + (-v.decoder.1.1.b[i]).exp());
                x[i] * s.ln() + (1.0 - x[i]) * (1.0 - s).ln()
            })
            .sum();
        assert!((t.log_likelihood - direct).abs() < 1e-14);
        // Bernoulli with logits ±1000 and matching labels: ln p = 0 exactly, no overflow.
        let mut g = [0.0; 2];
        assert_eq!(Likelihood::BernoulliLogits.log_prob_grad(&[1000.0, -1000.0], &[1.0, 0.0], &mut g), 0.0);
        assert_eq!(g, [0.0, 0.0]);
        // With a non-trivial head, KL is eq 15.
        v.encoder.1.1.mu.b = [1.0, -0.5];
        v.encoder.1.1.log_var.b = [0.4, -2.0];
        let t = v.elbo_with_eps(&x, &[0.0, 0.0]);
        let want_kl = 0.5 * ((0.4f64.exp() + 1.0 - 1.0 - 0.4) + ((-2.0f64).exp() + 0.25 - 1.0 + 2.0));
        assert!((t.kl - want_kl).abs() < 1e-14);
    }

    #[test]
    #[allow(clippy::type_complexity)] // the network types, spelled out once
    fn training_raises_the_elbo_and_rejects_empty_batches() {
        // Four binary patterns in ℝ³; 300 Adam steps must lift the batch ELBO well above its
        // initial value (≈ −3 ln 2 − KL at the start).
        let mut v: Vae<
            chain_type!(Dense<f32, 3, 8>, Act<Relu, 8>, GaussianHead<f32, 8, 1>),
            chain_type!(Dense<f32, 1, 8>, Act<Relu, 8>, Dense<f32, 8, 3>),
        > = Vae {
            encoder: chain!(Dense::zeros(), Act(Relu), GaussianHead::zeros()),
            decoder: chain!(Dense::zeros(), Act(Relu), Dense::zeros()),
            likelihood: Likelihood::BernoulliLogits,
        };
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        v.init(Init::HeUniform, &mut rng);
        let data = [[1.0f32, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]];
        let mut tr = VaeTrainer::new(&v, 0.01);
        let first = tr.step(&mut v, &data, &mut rng).unwrap().elbo();
        let mut last = first;
        for _ in 0..300 {
            last = tr.step(&mut v, &data, &mut rng).unwrap().elbo();
        }
        assert!(last > first + 0.5, "{first} → {last}");
        assert_eq!(tr.step(&mut v, &[], &mut rng), Err(Error::EmptyData));
    }

    #[test]
    fn nan_input_is_a_typed_error_after_the_step() {
        let mut v = vae(Likelihood::GaussianUnit);
        let mut tr = VaeTrainer::new(&v, 1e-3);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let r = tr.step(&mut v, &[[f64::NAN, 0.0, 0.0]], &mut rng);
        assert!(matches!(r, Err(Error::NonFiniteParameter { .. })), "{r:?}");
    }
}
