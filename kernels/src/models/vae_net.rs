//! The VAE of [`vae`](super::vae) at any shape, over the runtime-sized MLP core
//! ([`mlp::batch`](crate::mlp::batch)): encoder body X → H (any depth), the Gaussian head
//! H → (μ, ln σ²) ∈ ℝ^Z × ℝ^Z, decoder Z → X (any depth), one flat parameter slice.
//!
//! Per row (eq 12–18, as in [`vae`](super::vae)): z = μ + e^{ℓ/2} ⊙ ε,
//! L(x) = ln p_θ(x | z) − KL(N(μ, diag e^ℓ) ‖ N(0, I)); training minimizes −(1/B) Σ_b L(x_b).
//!
//! Parameter layout ([`VaeShape::params_len`]): encoder body (as [`arch`](crate::mlp::arch)),
//! μ head (W Z×H, then b), ln σ² head (W, b), decoder, and for
//! [`VaeLikelihood::GaussianLearned`] X per-feature log-variances last. That is the order of
//! `visit_params` over the fixed-size [`Vae`](super::Vae) (encoder, then decoder), so the two
//! agree bit for bit at the same shape (tests below).
//!
//! Threads: [`accumulate`] works on any chunk of rows and *adds* into a gradient slice; merge
//! chunk gradients with [`add_into`](crate::mlp::batch::add_into) and sum the returned terms in
//! chunk order (see `docs/mlp-core.md`). NaN contract as in [`vae`](super::vae): values are not
//! checked in the loops; [`step`] checks the parameters after the update.

use super::vae::{ElboTerms, Likelihood};
use crate::gaussian::{kl_diag_std_normal_grad_slice, kl_diag_std_normal_slice};
use crate::gaussian::{reparam_diag_backward_slice, reparam_diag_slice};
use crate::mlp::activation::logistic;
use crate::mlp::arch::{Architecture, check_len, check_min_len};
use crate::mlp::batch::{self, dense_backward, dense_forward};
use crate::mlp::loss::gaussian_nll_slice;
use crate::mlp::optim::SliceAdam;
use crate::mlp::{Init, init::fill_weights, init_params};
use crate::{Error, Real, Result};
use core::ops::Range;
use rand_core::Rng;

/// The distribution p_θ(x | z) the decoder output parameterizes, at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum VaeLikelihood {
    /// Independent Bernoulli with logits (see [`Likelihood::BernoulliLogits`]); x ∈ [0, 1].
    BernoulliLogits,
    /// N(x; m, I) (see [`Likelihood::GaussianUnit`]).
    GaussianUnit,
    /// N(x; m, diag e^ℓ) with ℓ ∈ ℝ^X learned per feature (not a function of z):
    /// ln p = −½ Σᵢ [ln 2π + ℓᵢ + (xᵢ − mᵢ)² e^{−ℓᵢ}].
    GaussianLearned,
}

impl From<Likelihood> for VaeLikelihood {
    fn from(l: Likelihood) -> Self {
        match l {
            Likelihood::BernoulliLogits => VaeLikelihood::BernoulliLogits,
            Likelihood::GaussianUnit => VaeLikelihood::GaussianUnit,
        }
    }
}

/// A validated VAE shape: encoder body, latent size Z, decoder, likelihood; it knows every
/// offset and buffer length.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VaeShape<'a, T> {
    encoder: Architecture<'a, T>,
    decoder: Architecture<'a, T>,
    latent: usize,
    likelihood: VaeLikelihood,
}

/// Offsets of the scratch regions for `rows` rows (see [`VaeShape::work_len`]).
struct Scratch {
    enc_cache: usize,
    enc_work: usize,
    dec_cache: usize,
    dec_work: usize,
    /// rows×Z each: μ, ln σ², z, ∂/∂μ, ∂/∂ln σ², ∂/∂z.
    latent: usize,
    /// rows×H each: ∂/∂h from the μ head, from the ln σ² head.
    hidden: usize,
    /// rows×X: ∂/∂out; then X for one row's ∂/∂ℓ (learned variance).
    out: usize,
}

impl Scratch {
    fn total(&self) -> Option<usize> {
        let mut n = self.enc_cache.checked_add(self.enc_work)?.checked_add(self.dec_cache)?;
        n = n.checked_add(self.dec_work)?.checked_add(self.latent.checked_mul(6)?)?;
        n.checked_add(self.hidden.checked_mul(2)?)?.checked_add(self.out)
    }
}

impl<'a, T: Real> VaeShape<'a, T> {
    /// Checks that `decoder` reads Z = `latent` values and writes as many as `encoder` reads.
    ///
    /// Errors: `InvalidParameter { name: "latent" }` for Z = 0; `ShapeMismatch` when the decoder
    /// does not map ℝ^Z to ℝ^X.
    pub fn new(
        encoder: Architecture<'a, T>,
        latent: usize,
        decoder: Architecture<'a, T>,
        likelihood: VaeLikelihood,
    ) -> Result<Self> {
        if latent == 0 {
            return Err(Error::InvalidParameter {
                name: "latent",
                reason: "a VAE needs at least one latent dimension",
            });
        }
        if decoder.inputs() != latent {
            return Err(Error::ShapeMismatch {
                what: "decoder inputs",
                expected: latent,
                found: decoder.inputs(),
            });
        }
        if decoder.outputs() != encoder.inputs() {
            return Err(Error::ShapeMismatch {
                what: "decoder outputs",
                expected: encoder.inputs(),
                found: decoder.outputs(),
            });
        }
        let shape = Self { encoder, decoder, latent, likelihood };
        shape.scratch(1).total().ok_or(Error::CapacityExceeded {
            what: "VAE scratch",
            capacity: usize::MAX,
            requested: 1,
        })?;
        Ok(shape)
    }

    /// Feature count X.
    pub fn features(&self) -> usize {
        self.encoder.inputs()
    }

    /// Latent size Z.
    pub fn latent(&self) -> usize {
        self.latent
    }

    /// Width H of the encoder body's output (the head's input).
    pub fn hidden(&self) -> usize {
        self.encoder.outputs()
    }

    /// The likelihood.
    pub fn likelihood(&self) -> VaeLikelihood {
        self.likelihood
    }

    /// The encoder body X → H.
    pub fn encoder(&self) -> &Architecture<'a, T> {
        &self.encoder
    }

    /// The decoder Z → X.
    pub fn decoder(&self) -> &Architecture<'a, T> {
        &self.decoder
    }

    fn head_len(&self) -> usize {
        self.hidden() * self.latent + self.latent
    }

    /// Where the encoder body, μ head, ln σ² head, decoder and (learned variance only; else
    /// empty) per-feature log-variances lie in the parameter slice, in that order.
    pub fn param_ranges(&self) -> [Range<usize>; 5] {
        let e = self.encoder.params_len();
        let h = self.head_len();
        let d = e + 2 * h + self.decoder.params_len();
        let lv = if self.likelihood == VaeLikelihood::GaussianLearned { self.features() } else { 0 };
        [0..e, e..e + h, e + h..e + 2 * h, e + 2 * h..d, d..d + lv]
    }

    /// Length of the parameter, gradient and Adam-moment slices.
    pub fn params_len(&self) -> usize {
        self.param_ranges()[4].end
    }

    /// Length of the transposed-weight slice ([`VaeShape::transpose_weights`]).
    pub fn weights_len(&self) -> usize {
        self.encoder.weights_len() + 2 * self.hidden() * self.latent + self.decoder.weights_len()
    }

    fn scratch(&self, rows: usize) -> Scratch {
        let m = |a: usize| a.saturating_mul(rows);
        Scratch {
            enc_cache: self.encoder.cache_len(rows).unwrap_or(usize::MAX),
            enc_work: self.encoder.work_len(rows).unwrap_or(usize::MAX),
            dec_cache: self.decoder.cache_len(rows).unwrap_or(usize::MAX),
            dec_work: self.decoder.work_len(rows).unwrap_or(usize::MAX),
            latent: m(self.latent),
            hidden: m(self.hidden()),
            out: m(self.features()).saturating_add(self.features()),
        }
    }

    /// Length of the scratch slice for `rows` rows (caches and gradients of both networks and
    /// the head). Errors: `CapacityExceeded` when it overflows `usize`.
    pub fn work_len(&self, rows: usize) -> Result<usize> {
        self.scratch(rows).total().filter(|n| *n < usize::MAX).ok_or(Error::CapacityExceeded {
            what: "VAE scratch",
            capacity: usize::MAX,
            requested: rows,
        })
    }

    /// Writes the transposed weights of encoder body, both heads and decoder into `wt`; call
    /// after every change of `params`. Errors: `ShapeMismatch` for a wrong length.
    pub fn transpose_weights(&self, params: &[T], wt: &mut [T]) -> Result<()> {
        check_len("params", params, self.params_len())?;
        check_len("transposed weights", wt, self.weights_len())?;
        let [e, mu, lv, d, _] = self.param_ranges();
        let (we, rest) = wt.split_at_mut(self.encoder.weights_len());
        let hz = self.hidden() * self.latent;
        let (wmu, rest) = rest.split_at_mut(hz);
        let (wlv, wd) = rest.split_at_mut(hz);
        batch::transpose_weights(&self.encoder, &params[e], we)?;
        transpose(&params[mu.start..mu.start + hz], self.hidden(), self.latent, wmu);
        transpose(&params[lv.start..lv.start + hz], self.hidden(), self.latent, wlv);
        batch::transpose_weights(&self.decoder, &params[d], wd)
    }

    /// Initializes `params` as [`Vae::init`](super::Vae::init) does (same draws, same order):
    /// encoder body, μ head, ln σ² head, decoder by `scheme`, biases 0; learned log-variances 0.
    /// Errors: `ShapeMismatch` for a wrong length (nothing is drawn).
    pub fn init_params<R: Rng + ?Sized>(&self, params: &mut [T], scheme: Init, rng: &mut R) -> Result<()> {
        check_len("params", params, self.params_len())?;
        let [e, mu, lv, d, v] = self.param_ranges();
        let hz = self.hidden() * self.latent;
        init_params(&self.encoder, &mut params[e], scheme, rng)?;
        for head in [mu, lv] {
            let (w, b) = params[head].split_at_mut(hz);
            fill_weights(w, self.hidden(), self.latent, scheme, rng);
            b.fill(T::ZERO);
        }
        init_params(&self.decoder, &mut params[d], scheme, rng)?;
        params[v].fill(T::ZERO);
        Ok(())
    }

    fn check_rows(
        &self,
        params: &[T],
        wt: &[T],
        x: &[T],
        eps: Option<&[T]>,
        rows: usize,
        work: &[T],
    ) -> Result<()> {
        if rows == 0 {
            return Err(Error::EmptyData);
        }
        check_len("params", params, self.params_len())?;
        check_len("transposed weights", wt, self.weights_len())?;
        check_len("input", x, rows.saturating_mul(self.features()))?;
        if let Some(eps) = eps {
            check_len("eps", eps, rows.saturating_mul(self.latent))?;
        }
        check_min_len("VAE scratch", work, self.work_len(rows)?)
    }
}

/// `out` (cols×rows) = `m` (rows×cols) transposed.
fn transpose<T: Real>(m: &[T], cols: usize, rows: usize, out: &mut [T]) {
    for (r, row) in m.chunks_exact(cols).enumerate() {
        for (dst, v) in out.iter_mut().skip(r).step_by(rows).zip(row) {
            *dst = *v;
        }
    }
}

/// The scratch slice cut into its regions.
struct Regions<'w, T> {
    enc_cache: &'w mut [T],
    enc_work: &'w mut [T],
    dec_cache: &'w mut [T],
    dec_work: &'w mut [T],
    mu: &'w mut [T],
    lv: &'w mut [T],
    z: &'w mut [T],
    g_mu: &'w mut [T],
    g_lv: &'w mut [T],
    g_z: &'w mut [T],
    g_h_mu: &'w mut [T],
    g_h_lv: &'w mut [T],
    g_out: &'w mut [T],
    g_var: &'w mut [T],
}

impl<'w, T: Real> Regions<'w, T> {
    fn new(shape: &VaeShape<'_, T>, rows: usize, work: &'w mut [T]) -> Self {
        let s = shape.scratch(rows);
        let (enc_cache, w) = work.split_at_mut(s.enc_cache);
        let (enc_work, w) = w.split_at_mut(s.enc_work);
        let (dec_cache, w) = w.split_at_mut(s.dec_cache);
        let (dec_work, w) = w.split_at_mut(s.dec_work);
        let (mu, w) = w.split_at_mut(s.latent);
        let (lv, w) = w.split_at_mut(s.latent);
        let (z, w) = w.split_at_mut(s.latent);
        let (g_mu, w) = w.split_at_mut(s.latent);
        let (g_lv, w) = w.split_at_mut(s.latent);
        let (g_z, w) = w.split_at_mut(s.latent);
        let (g_h_mu, w) = w.split_at_mut(s.hidden);
        let (g_h_lv, w) = w.split_at_mut(s.hidden);
        let (g_out, w) = w.split_at_mut(s.out - shape.features());
        let (g_var, _) = w.split_at_mut(shape.features());
        Self {
            enc_cache,
            enc_work,
            dec_cache,
            dec_work,
            mu,
            lv,
            z,
            g_mu,
            g_lv,
            g_z,
            g_h_mu,
            g_h_lv,
            g_out,
            g_var,
        }
    }
}

/// Encoder forward: body, then both heads; fills the encoder cache, μ and ln σ².
fn encode_into<T: Real>(
    shape: &VaeShape<'_, T>,
    params: &[T],
    wt: &[T],
    x: &[T],
    rows: usize,
    r: &mut Regions<'_, T>,
) -> Result<()> {
    let [e, mu, lv, _, _] = shape.param_ranges();
    let (h, z) = (shape.hidden(), shape.latent);
    let ew = shape.encoder.weights_len();
    batch::forward(&shape.encoder, &params[e], &wt[..ew], x, rows, r.enc_cache)?;
    let hidden = shape.encoder.output(r.enc_cache, rows)?;
    let hz = h * z;
    dense_forward(&wt[ew..ew + hz], &params[mu.start + hz..mu.end], hidden, r.mu, h, z);
    dense_forward(&wt[ew + hz..ew + 2 * hz], &params[lv.start + hz..lv.end], hidden, r.lv, h, z);
    Ok(())
}

/// Decoder forward on `z`; fills the decoder cache.
fn decode_into<T: Real>(
    shape: &VaeShape<'_, T>,
    params: &[T],
    wt: &[T],
    z: &[T],
    rows: usize,
    cache: &mut [T],
) -> Result<()> {
    let d = shape.param_ranges()[3].clone();
    let dw = wt.len() - shape.decoder.weights_len();
    batch::forward(&shape.decoder, &params[d], &wt[dw..], z, rows, cache)
}

/// ln p(x | out) of one row, writing ∂(−ln p)/∂out into `g` and, for the learned variance,
/// ∂(−ln p)/∂ℓ into `g_var`.
#[inline]
fn log_prob_row<T: Real>(
    lik: VaeLikelihood,
    out: &[T],
    x: &[T],
    log_var: &[T],
    g: &mut [T],
    g_var: &mut [T],
) -> T {
    match lik {
        VaeLikelihood::BernoulliLogits => Likelihood::BernoulliLogits.log_prob_grad_slice(out, x, g),
        VaeLikelihood::GaussianUnit => Likelihood::GaussianUnit.log_prob_grad_slice(out, x, g),
        VaeLikelihood::GaussianLearned => -gaussian_nll_slice(out, log_var, x, g, g_var),
    }
}

/// Forward and backward for `rows` rows of `x` with the given ε (rows×Z): returns the ELBO
/// terms **summed** over the rows and adds `weight` · ∂(−Σ_b L(x_b))/∂θ into `grads`.
///
/// With weight = 1/B over a whole minibatch this is [`Vae::accumulate_with_eps`](super::Vae::accumulate_with_eps)
/// applied row after row, bit for bit. Errors (checked before anything is written):
/// `EmptyData` for 0 rows; `ShapeMismatch` for a wrong `params`, `wt`, `x`, `eps` or `grads`
/// length or a short `work`.
#[allow(clippy::too_many_arguments)] // the buffers of docs/mlp-core.md, named as there
pub fn accumulate<T: Real>(
    shape: &VaeShape<'_, T>,
    params: &[T],
    wt: &[T],
    x: &[T],
    eps: &[T],
    rows: usize,
    weight: T,
    work: &mut [T],
    grads: &mut [T],
) -> Result<ElboTerms<T>> {
    shape.check_rows(params, wt, x, Some(eps), rows, work)?;
    check_len("gradient", grads, shape.params_len())?;
    let mut r = Regions::new(shape, rows, work);
    let [e, mu_r, lv_r, d, var_r] = shape.param_ranges();
    let (xw, h, z) = (shape.features(), shape.hidden(), shape.latent);
    let hz = h * z;
    encode_into(shape, params, wt, x, rows, &mut r)?;
    reparam_diag_slice(r.mu, r.lv, eps, r.z);
    decode_into(shape, params, wt, r.z, rows, r.dec_cache)?;
    let out = shape.decoder.output(r.dec_cache, rows)?;
    let log_var = &params[var_r.clone()];
    let mut terms = ElboTerms { log_likelihood: T::ZERO, kl: T::ZERO };
    for ((o, xr), g) in out.chunks_exact(xw).zip(x.chunks_exact(xw)).zip(r.g_out.chunks_exact_mut(xw)) {
        terms.log_likelihood += log_prob_row(shape.likelihood, o, xr, log_var, g, r.g_var);
        for gi in g.iter_mut() {
            *gi *= weight;
        }
        for (acc, gv) in grads[var_r.clone()].iter_mut().zip(r.g_var.iter()) {
            *acc += weight * *gv;
        }
    }
    batch::backward(
        &shape.decoder,
        &params[d.clone()],
        r.z,
        rows,
        r.dec_cache,
        r.g_out,
        &mut grads[d],
        Some(r.g_z),
        r.dec_work,
    )?;
    let lat =
        r.mu.chunks_exact(z)
            .zip(r.lv.chunks_exact(z))
            .zip(r.g_mu.chunks_exact_mut(z).zip(r.g_lv.chunks_exact_mut(z)));
    for (((m, l), (gm, gl)), (e_r, gz)) in lat.zip(eps.chunks_exact(z).zip(r.g_z.chunks_exact(z))) {
        terms.kl += kl_diag_std_normal_grad_slice(m, l, gm, gl);
        for (a, b) in gm.iter_mut().zip(gl.iter_mut()) {
            *a *= weight;
            *b *= weight;
        }
        // The KL gradient was written, the reparameterization's is added on top.
        reparam_diag_backward_slice(l, e_r, gz, gm, gl);
    }
    let hidden = shape.encoder.output(r.enc_cache, rows)?;
    for (head, g, gh) in [(mu_r, &*r.g_mu, &mut *r.g_h_mu), (lv_r, &*r.g_lv, &mut *r.g_h_lv)] {
        let (pw, gpw) = (&params[head.start..head.start + hz], &mut grads[head]);
        let (gw, gb) = gpw.split_at_mut(hz);
        dense_backward(pw, hidden, g, gw, gb, Some(gh), h, z);
    }
    for (a, b) in r.g_h_mu.iter_mut().zip(r.g_h_lv.iter()) {
        *a += *b;
    }
    batch::backward(
        &shape.encoder,
        &params[e.clone()],
        x,
        rows,
        r.enc_cache,
        r.g_h_mu,
        &mut grads[e],
        None,
        r.enc_work,
    )?;
    Ok(terms)
}

/// The ELBO terms of `rows` rows with the given ε, **summed** over the rows; no gradient
/// (validation). Errors as [`accumulate`].
#[allow(clippy::too_many_arguments)] // as accumulate, less the gradient
pub fn elbo<T: Real>(
    shape: &VaeShape<'_, T>,
    params: &[T],
    wt: &[T],
    x: &[T],
    eps: &[T],
    rows: usize,
    work: &mut [T],
) -> Result<ElboTerms<T>> {
    shape.check_rows(params, wt, x, Some(eps), rows, work)?;
    let mut r = Regions::new(shape, rows, work);
    let (xw, z) = (shape.features(), shape.latent);
    encode_into(shape, params, wt, x, rows, &mut r)?;
    reparam_diag_slice(r.mu, r.lv, eps, r.z);
    decode_into(shape, params, wt, r.z, rows, r.dec_cache)?;
    let out = shape.decoder.output(r.dec_cache, rows)?;
    let log_var = &params[shape.param_ranges()[4].clone()];
    let mut terms = ElboTerms { log_likelihood: T::ZERO, kl: T::ZERO };
    for ((o, xr), g) in out.chunks_exact(xw).zip(x.chunks_exact(xw)).zip(r.g_out.chunks_exact_mut(xw)) {
        terms.log_likelihood += log_prob_row(shape.likelihood, o, xr, log_var, g, r.g_var);
    }
    for (m, l) in r.mu.chunks_exact(z).zip(r.lv.chunks_exact(z)) {
        terms.kl += kl_diag_std_normal_slice(m, l);
    }
    Ok(terms)
}

/// (μ, ln σ²) of q_φ(z | x) for `rows` rows, written into `mu` and `log_var` (rows×Z each).
/// Errors as [`accumulate`], plus `ShapeMismatch` for wrong `mu`/`log_var` lengths.
#[allow(clippy::too_many_arguments)] // the buffers, named as in accumulate
pub fn encode<T: Real>(
    shape: &VaeShape<'_, T>,
    params: &[T],
    wt: &[T],
    x: &[T],
    rows: usize,
    work: &mut [T],
    mu: &mut [T],
    log_var: &mut [T],
) -> Result<()> {
    shape.check_rows(params, wt, x, None, rows, work)?;
    check_len("mu", mu, rows * shape.latent)?;
    check_len("log_var", log_var, rows * shape.latent)?;
    let mut r = Regions::new(shape, rows, work);
    encode_into(shape, params, wt, x, rows, &mut r)?;
    mu.copy_from_slice(r.mu);
    log_var.copy_from_slice(r.lv);
    Ok(())
}

/// The mean of p_θ(x | z) for `rows` latent rows `z` (rows×Z) into `mean` (rows×X): the decoder
/// output for the Gaussians, σ(output) for the Bernoulli. Errors: `EmptyData` for 0 rows;
/// `ShapeMismatch` for a wrong length or a short `work`.
pub fn decode<T: Real>(
    shape: &VaeShape<'_, T>,
    params: &[T],
    wt: &[T],
    z: &[T],
    rows: usize,
    work: &mut [T],
    mean: &mut [T],
) -> Result<()> {
    if rows == 0 {
        return Err(Error::EmptyData);
    }
    check_len("params", params, shape.params_len())?;
    check_len("transposed weights", wt, shape.weights_len())?;
    check_len("z", z, rows.saturating_mul(shape.latent))?;
    check_len("mean", mean, rows.saturating_mul(shape.features()))?;
    let cache_len = shape.decoder.cache_len(rows)?;
    check_min_len("VAE scratch", work, cache_len)?;
    decode_into(shape, params, wt, z, rows, &mut work[..cache_len])?;
    let out = shape.decoder.output(work, rows)?;
    match shape.likelihood {
        VaeLikelihood::BernoulliLogits => {
            for (m, o) in mean.iter_mut().zip(out) {
                *m = logistic(*o);
            }
        }
        VaeLikelihood::GaussianUnit | VaeLikelihood::GaussianLearned => mean.copy_from_slice(out),
    }
    Ok(())
}

/// One training step on a minibatch of `rows` rows with ε given (rows×Z, draw them row after
/// row, Z normals each, as [`VaeTrainer::step`](super::VaeTrainer::step) does): zeroes
/// `grads`, accumulates ∂(−L_B)/∂θ with weight 1/B, one Adam update of all parameters, then
/// refreshes `wt`. Returns the batch-mean ELBO terms before the update.
///
/// Errors as [`accumulate`]; `NonFiniteParameter { name: "params", index }` when the update left
/// a NaN/∞ parameter (the update has then been applied).
#[allow(clippy::too_many_arguments)] // the buffers of docs/mlp-core.md, named as there
pub fn step<T: Real>(
    shape: &VaeShape<'_, T>,
    params: &mut [T],
    wt: &mut [T],
    x: &[T],
    eps: &[T],
    rows: usize,
    work: &mut [T],
    grads: &mut [T],
    adam: &mut SliceAdam<T>,
    m: &mut [T],
    v: &mut [T],
) -> Result<ElboTerms<T>> {
    check_len("gradient", grads, shape.params_len())?;
    grads.fill(T::ZERO);
    let weight = T::ONE / T::from_usize(rows.max(1));
    let sum = accumulate(shape, params, wt, x, eps, rows, weight, work, grads)?;
    adam.step(params, grads, m, v)?;
    check_finite_slice(params)?;
    shape.transpose_weights(params, wt)?;
    Ok(ElboTerms { log_likelihood: sum.log_likelihood * weight, kl: sum.kl * weight })
}

/// `Err(NonFiniteParameter { name: "params", index })` for the first non-finite entry.
pub fn check_finite_slice<T: Real>(params: &[T]) -> Result<()> {
    match params.iter().position(|p| !p.is_finite()) {
        Some(index) => Err(Error::NonFiniteParameter { name: "params", index }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaussian::fill_standard_normal;
    use crate::mlp::{Act, ActivationKind, Dense, Layer, LayerSpec, Relu, Tanh};
    use crate::models::vae::{GaussianHead, Vae, VaeCaches, VaeTrainer};
    use crate::{chain, chain_type};
    use proptest::prelude::*;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    type Enc = chain_type!(Dense<f64, 3, 5>, Act<Tanh, 5>, GaussianHead<f64, 5, 2>);
    type Dec = chain_type!(Dense<f64, 2, 4>, Act<Relu, 4>, Dense<f64, 4, 3>);
    const ENC: [LayerSpec<f64>; 1] = [LayerSpec::new(3, 5, ActivationKind::Tanh)];
    const DEC: [LayerSpec<f64>; 2] =
        [LayerSpec::new(2, 4, ActivationKind::Relu), LayerSpec::new(4, 3, ActivationKind::Identity)];

    fn fixed(lik: Likelihood, seed: u64) -> Vae<Enc, Dec> {
        let mut v = Vae {
            encoder: chain!(Dense::zeros(), Act(Tanh), GaussianHead::zeros()),
            decoder: chain!(Dense::zeros(), Act(Relu), Dense::zeros()),
            likelihood: lik,
        };
        v.init(Init::XavierNormal, &mut Xoshiro256PlusPlus::seed_from_u64(seed));
        let mut k = seed as f64;
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

    fn flat(v: &Vae<Enc, Dec>) -> Vec<f64> {
        let mut out = Vec::new();
        v.encoder.visit_params(&mut |p| out.push(p));
        v.decoder.visit_params(&mut |p| out.push(p));
        out
    }

    fn shape(lik: VaeLikelihood) -> VaeShape<'static, f64> {
        VaeShape::new(Architecture::new(&ENC).unwrap(), 2, Architecture::new(&DEC).unwrap(), lik).unwrap()
    }

    /// One step of the core against `VaeTrainer::step_with` from the same state and ε.
    fn check_one_step<E, D, const X: usize, const Z: usize>(
        mut v: Vae<E, D>,
        s: &VaeShape<'_, f64>,
        x: &[f64],
        seed: u64,
    ) -> core::result::Result<(), TestCaseError>
    where
        E: Layer<f64, Input = [f64; X], Output = ([f64; Z], [f64; Z])>,
        D: Layer<f64, Input = [f64; Z], Output = [f64; X]>,
    {
        let flat = |v: &Vae<E, D>| {
            let mut out = Vec::new();
            v.encoder.visit_params(&mut |p| out.push(p));
            v.decoder.visit_params(&mut |p| out.push(p));
            out
        };
        let rows = x.len() / X;
        let mut params = flat(&v);
        prop_assert_eq!(params.len(), s.params_len());
        let mut eps = vec![0.0; Z * rows];
        fill_standard_normal(&mut Xoshiro256PlusPlus::seed_from_u64(seed + 1), &mut eps);
        let batch: Vec<[f64; X]> = x.chunks_exact(X).map(|r| core::array::from_fn(|i| r[i])).collect();
        let mut tr = VaeTrainer::new(&v, 0.01);
        let mut e_rows = eps.chunks_exact(Z);
        let want = tr
            .step_with(&mut v, &batch, |e: &mut [f64; Z]| e.copy_from_slice(e_rows.next().unwrap()))
            .unwrap();
        let mut wt = vec![0.0; s.weights_len()];
        s.transpose_weights(&params, &mut wt).unwrap();
        let mut work = vec![0.0; s.work_len(rows).unwrap()];
        let n = s.params_len();
        let (mut grads, mut m, mut vv) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let mut adam = SliceAdam::new(0.01);
        let got =
            step(s, &mut params, &mut wt, x, &eps, rows, &mut work, &mut grads, &mut adam, &mut m, &mut vv)
                .unwrap();
        prop_assert_eq!(got, want);
        let mut g = Vec::new();
        tr.gradient().encoder.visit_params(&mut |p| g.push(p));
        tr.gradient().decoder.visit_params(&mut |p| g.push(p));
        prop_assert_eq!(grads, g);
        prop_assert_eq!(params, flat(&v));
        Ok(())
    }

    type WideEnc = chain_type!(Dense<f64, 12, 20>, Act<Relu, 20>, GaussianHead<f64, 20, 9>);
    type WideDec = chain_type!(Dense<f64, 9, 16>, Act<Tanh, 16>, Dense<f64, 16, 12>);
    const WIDE_ENC: [LayerSpec<f64>; 1] = [LayerSpec::new(12, 20, ActivationKind::Relu)];
    const WIDE_DEC: [LayerSpec<f64>; 2] =
        [LayerSpec::new(9, 16, ActivationKind::Tanh), LayerSpec::new(16, 12, ActivationKind::Identity)];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// One training step of the core equals VaeTrainer::step_with bit for bit: ELBO terms,
        /// gradient and updated parameters, for both fixed-size likelihoods, at two shapes (the
        /// wider one past the core's register tiles, up to 9 rows).
        #[test]
        fn core_step_equals_fixed_size_trainer_bit_for_bit(
            seed in 0u64..500,
            rows in 1usize..10,
            bernoulli in proptest::bool::ANY,
            xs in proptest::collection::vec(0.0f64..1.0, 108),
        ) {
            let lik = if bernoulli { Likelihood::BernoulliLogits } else { Likelihood::GaussianUnit };
            check_one_step(fixed(lik, seed), &shape(lik.into()), &xs[..3 * rows], seed)?;
            let mut w: Vae<WideEnc, WideDec> = Vae {
                encoder: chain!(Dense::zeros(), Act(Relu), GaussianHead::zeros()),
                decoder: chain!(Dense::zeros(), Act(Tanh), Dense::zeros()),
                likelihood: lik,
            };
            w.init(Init::HeUniform, &mut Xoshiro256PlusPlus::seed_from_u64(seed));
            let ws = VaeShape::new(Architecture::new(&WIDE_ENC).unwrap(), 9, Architecture::new(&WIDE_DEC).unwrap(), lik.into()).unwrap();
            check_one_step(w, &ws, &xs[..12 * rows], seed)?;
        }
    }

    #[test]
    fn encode_decode_elbo_match_the_fixed_size_vae() {
        let v = fixed(Likelihood::BernoulliLogits, 3);
        let s = shape(VaeLikelihood::BernoulliLogits);
        let params = flat(&v);
        let mut wt = vec![0.0; s.weights_len()];
        s.transpose_weights(&params, &mut wt).unwrap();
        let x = [0.1, 0.9, 0.4, 1.0, 0.0, 0.3];
        let eps = [0.3, -1.1, 0.8, 0.05];
        let mut work = vec![0.0; s.work_len(2).unwrap()];
        let (mut mu, mut lv) = ([0.0; 4], [0.0; 4]);
        encode(&s, &params, &wt, &x, 2, &mut work, &mut mu, &mut lv).unwrap();
        let mut mean = [0.0; 6];
        decode(&s, &params, &wt, &eps, 2, &mut work, &mut mean).unwrap();
        let t = elbo(&s, &params, &wt, &x, &eps, 2, &mut work).unwrap();
        let mut sum = ElboTerms::default();
        for r in 0..2 {
            let xr = [x[3 * r], x[3 * r + 1], x[3 * r + 2]];
            let er = [eps[2 * r], eps[2 * r + 1]];
            let (m, l) = v.encode(&xr);
            assert_eq!((&m[..], &l[..]), (&mu[2 * r..2 * r + 2], &lv[2 * r..2 * r + 2]));
            assert_eq!(&v.decode(&er)[..], &mean[3 * r..3 * r + 3]);
            let e = v.elbo_with_eps(&xr, &er);
            sum.log_likelihood += e.log_likelihood;
            sum.kl += e.kl;
        }
        assert_eq!(t, sum);
        // Same draws as Vae::init.
        let mut p2 = vec![0.0; s.params_len()];
        s.init_params(&mut p2, Init::XavierNormal, &mut Xoshiro256PlusPlus::seed_from_u64(3)).unwrap();
        let mut w = v;
        w.init(Init::XavierNormal, &mut Xoshiro256PlusPlus::seed_from_u64(3));
        assert_eq!(p2, flat(&w));
    }

    /// Odd shape, learned variance: ∂(−ELBO)/∂θ against central differences in f64.
    #[test]
    fn learned_variance_gradient_matches_finite_differences() {
        let enc =
            [LayerSpec::new(5, 7, ActivationKind::Tanh), LayerSpec::new(7, 3, ActivationKind::Softplus)];
        let dec =
            [LayerSpec::new(3, 6, ActivationKind::Tanh), LayerSpec::new(6, 5, ActivationKind::Identity)];
        let s = VaeShape::new(
            Architecture::new(&enc).unwrap(),
            3,
            Architecture::new(&dec).unwrap(),
            VaeLikelihood::GaussianLearned,
        )
        .unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let mut params = vec![0.0; s.params_len()];
        fill_standard_normal(&mut rng, &mut params);
        for p in params.iter_mut() {
            *p *= 0.4;
        }
        let rows = 2;
        let x: Vec<f64> = (0..rows * 5).map(|i| f64::sin(0.9 * i as f64)).collect();
        let mut eps = vec![0.0; rows * 3];
        fill_standard_normal(&mut rng, &mut eps);
        let neg_elbo = |p: &[f64]| {
            let mut wt = vec![0.0; s.weights_len()];
            s.transpose_weights(p, &mut wt).unwrap();
            let mut work = vec![0.0; s.work_len(rows).unwrap()];
            -elbo(&s, p, &wt, &x, &eps, rows, &mut work).unwrap().elbo()
        };
        let mut wt = vec![0.0; s.weights_len()];
        s.transpose_weights(&params, &mut wt).unwrap();
        let mut work = vec![0.0; s.work_len(rows).unwrap()];
        let mut grads = vec![0.0; s.params_len()];
        let t = accumulate(&s, &params, &wt, &x, &eps, rows, 1.0, &mut work, &mut grads).unwrap();
        assert!((-t.elbo() - neg_elbo(&params)).abs() < 1e-12);
        let h = 1e-6;
        for i in 0..params.len() {
            let (mut a, mut b) = (params.clone(), params.clone());
            a[i] += h;
            b[i] -= h;
            let numeric = (neg_elbo(&a) - neg_elbo(&b)) / (2.0 * h);
            assert!(
                (grads[i] - numeric).abs() < 1e-7 * (1.0 + numeric.abs()),
                "param {i}: {} vs {numeric}",
                grads[i]
            );
        }
    }

    #[test]
    fn inconsistent_shapes_and_lengths_are_typed_errors() {
        let enc = Architecture::new(&ENC).unwrap();
        let dec = Architecture::new(&DEC).unwrap();
        assert!(matches!(
            VaeShape::new(enc, 0, dec, VaeLikelihood::GaussianUnit),
            Err(Error::InvalidParameter { name: "latent", .. })
        ));
        assert!(matches!(
            VaeShape::new(enc, 3, dec, VaeLikelihood::GaussianUnit),
            Err(Error::ShapeMismatch { what: "decoder inputs", .. })
        ));
        let s = shape(VaeLikelihood::GaussianLearned);
        assert_eq!(s.params_len(), flat(&fixed(Likelihood::GaussianUnit, 0)).len() + 3);
        let params = vec![0.0; s.params_len()];
        let wt = vec![0.0; s.weights_len()];
        let mut work = vec![0.0; s.work_len(1).unwrap()];
        let mut grads = vec![0.0; s.params_len()];
        assert_eq!(
            accumulate(&s, &params, &wt, &[], &[], 0, 1.0, &mut work, &mut grads),
            Err(Error::EmptyData)
        );
        assert!(matches!(
            accumulate(&s, &params, &wt, &[0.0; 3], &[0.0; 3], 1, 1.0, &mut work, &mut grads),
            Err(Error::ShapeMismatch { what: "eps", .. })
        ));
        assert!(matches!(
            accumulate(&s, &params, &wt, &[0.0; 3], &[0.0; 2], 1, 1.0, &mut work[1..], &mut grads),
            Err(Error::ShapeMismatch { what: "VAE scratch", .. })
        ));
        let _ = VaeCaches::<f64, Enc, Dec>::new();
    }
}
