//! The WGAN of [`wgan`](super::wgan) at any shape, over the runtime-sized MLP core: a generator
//! Z → X and a critic X → 1 of any depth, each one flat parameter slice (layout of
//! [`arch`](crate::mlp::arch)).
//!
//! Same objective, constraints and random-stream order as [`wgan`](super::wgan) (see there):
//! critic loss L_D = (1/B) Σ_b [D(G(z_b)) − D(x_b)] (+ λ (‖∇ₓD(x̂_b)‖ − 1)²), generator loss
//! L_G = −(1/B) Σ_b D(G(z_b)); weight clipping, spectral normalization (projection after the
//! step, one power iteration, vectors kept) or the gradient penalty. At the fixed-size
//! [`Critic`](super::Critic) shape the two agree bit for bit (tests below).
//!
//! Gradient penalty at any depth. With z_l = W_l a_{l−1} + b_l, a_l = f_l(z_l), a_0 = x,
//! d_l = f_l′(z_l), L layers and D = a_L ∈ ℝ: ∇ₓD = W_1ᵀ δ_1 with δ_L = d_L,
//! δ_l = d_l ⊙ (W_{l+1}ᵀ δ_{l+1}). For r = ∂P/∂∇ₓD = 2λ(‖∇ₓD‖ − 1) ∇ₓD/‖∇ₓD‖ and the
//! forward-propagated s_0 = r, s_l = d_l ⊙ (W_l s_{l−1}): ∂P/∂W_l = δ_l s_{l−1}ᵀ, ∂P/∂b_l = 0.
//! This is exact when f″ = 0 (identity, ReLU, leaky ReLU: PyTorch's double backward gives the
//! same), so the penalty requires piecewise-linear activations ([`WganShape::new`] checks).
//! At ∇ₓD = 0, r = 0 (torch's subgradient).
//!
//! Per row the critic's real and fake passes and the penalty accumulate in the fixed-size
//! order (real, fake, penalty, next row): all rows of a chunk go through the critic in one
//! interleaved batch (real_0, fake_0, real_1, …), and with the penalty each layer's weight
//! gradient runs over 3·rows interleaved rows (real, fake, the penalty's δ_l s_{l−1}ᵀ), so
//! every entry keeps that order in the tiled kernels. Threads split a minibatch into chunks as
//! in `docs/mlp-core.md`.

use super::wgan::{CriticStats, Lipschitz, OptimizerKind, penalty_scale};
use crate::gaussian::normal::{fill_standard_normal, uniform01};
use crate::mlp::arch::{ActivationKind, Architecture, check_len, check_min_len};
use crate::mlp::batch::{self, activate_backward};
use crate::mlp::constraint::{clip_slice, normalize_in_place, project_slice};
use crate::mlp::optim::{SliceAdam, SliceRmsProp};
use crate::models::vae_net::check_finite_slice;
use crate::{Error, Real, Result};
use rand_core::Rng;

/// A validated WGAN shape: generator Z → X, critic X → 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WganShape<'a, T> {
    generator: Architecture<'a, T>,
    critic: Architecture<'a, T>,
}

impl<'a, T: Real> WganShape<'a, T> {
    /// Checks that the critic reads what the generator writes and has one output; with the
    /// gradient penalty, that every critic activation is piecewise linear.
    ///
    /// Errors: `ShapeMismatch` for the widths; `InvalidLayer { layer, .. }` for a critic layer
    /// whose activation the penalty's closed form does not cover.
    pub fn new(
        generator: Architecture<'a, T>,
        critic: Architecture<'a, T>,
        lipschitz: Lipschitz<T>,
    ) -> Result<Self> {
        if critic.inputs() != generator.outputs() {
            return Err(Error::ShapeMismatch {
                what: "critic inputs",
                expected: generator.outputs(),
                found: critic.inputs(),
            });
        }
        if critic.outputs() != 1 {
            return Err(Error::ShapeMismatch {
                what: "critic outputs",
                expected: 1,
                found: critic.outputs(),
            });
        }
        if let Lipschitz::GradientPenalty { .. } = lipschitz
            && let Some(l) = critic.layers().iter().position(|s| !s.activation.is_piecewise_linear())
        {
            return Err(Error::InvalidLayer {
                layer: l,
                reason: "the gradient penalty needs identity, ReLU or leaky ReLU activations",
            });
        }
        Ok(Self { generator, critic })
    }

    /// The generator Z → X.
    pub fn generator(&self) -> &Architecture<'a, T> {
        &self.generator
    }

    /// The critic X → 1.
    pub fn critic(&self) -> &Architecture<'a, T> {
        &self.critic
    }

    /// Latent size Z.
    pub fn latent(&self) -> usize {
        self.generator.inputs()
    }

    /// Feature count X.
    pub fn features(&self) -> usize {
        self.critic.inputs()
    }

    /// Length of the scratch slice for chunks of up to `rows` rows (critic and generator steps).
    ///
    /// Errors: `CapacityExceeded` when it overflows `usize`.
    pub fn work_len(&self, rows: usize) -> Result<usize> {
        let x = self.features();
        let units: usize = self.critic.layers().iter().map(|s| s.outputs).sum();
        let over = Error::CapacityExceeded { what: "WGAN scratch", capacity: usize::MAX, requested: rows };
        let per_pass = self.generator.cache_len(rows)?.checked_add(self.generator.work_len(rows)?);
        let pairs = rows.checked_mul(2).ok_or(over)?;
        let critic = self.critic.cache_len(pairs)?.checked_add(self.critic.work_len(pairs)?);
        let fixed = units.checked_mul(5).and_then(|u| u.checked_add(4 * x + 2 + self.critic.max_width()));
        // Interleaved real/fake inputs (2·rows × X) and their output gradients (2·rows).
        let rows_x = pairs.checked_mul(x).and_then(|n| n.checked_add(pairs));
        let clip = per_pass
            .zip(critic)
            .and_then(|(a, b)| a.checked_add(b))
            .zip(fixed.zip(rows_x))
            .and_then(|(a, (b, c))| a.checked_add(b)?.checked_add(c))
            .ok_or(over)?;
        // The penalty's batch (penalty_batch): pairs, x̂, two caches, δ and s, g, the
        // real/fake gradients (2 × 2·rows × max width) and the interleaved 3·rows rows (2×).
        let mw = self.critic.max_width();
        let gp = [
            self.generator.cache_len(rows)?,
            rows.saturating_mul(x).saturating_mul(3),
            self.critic.cache_len(pairs)?,
            self.critic.cache_len(rows)?,
            rows.saturating_mul(units).saturating_mul(2),
            rows.saturating_mul(x),
            rows.saturating_mul(mw).saturating_mul(4),
            rows.saturating_mul(mw).saturating_mul(6),
        ]
        .iter()
        .try_fold(0usize, |a, b| a.checked_add(*b))
        .ok_or(over)?;
        Ok(clip.max(gp))
    }

    /// Length of the spectral-norm state: (Σ_l out_l for the u vectors, Σ_l in_l for the v).
    pub fn spectral_state_len(&self) -> (usize, usize) {
        let l = self.critic.layers();
        (l.iter().map(|s| s.outputs).sum(), l.iter().map(|s| s.inputs).sum())
    }
}

/// Draws the critic step's random numbers row after row, in [`wgan`](super::wgan)'s order: Z
/// normals into `z` (rows × Z), then, when `t` is given (the penalty), one uniform into t_b.
///
/// Errors: `ShapeMismatch` when `t` does not have one entry per row of `z` (nothing is drawn).
pub fn draw_critic_noise<T: Real, R: Rng + ?Sized>(
    rng: &mut R,
    latent: usize,
    z: &mut [T],
    t: Option<&mut [T]>,
) -> Result<()> {
    if latent == 0 || z.len() % latent != 0 {
        return Err(Error::ShapeMismatch { what: "z", expected: latent.max(1), found: z.len() });
    }
    match t {
        Some(t) => {
            check_len("t", t, z.len() / latent)?;
            for (zr, tr) in z.chunks_exact_mut(latent).zip(t.iter_mut()) {
                fill_standard_normal(rng, zr);
                *tr = uniform01(rng);
            }
        }
        None => fill_standard_normal(rng, z),
    }
    Ok(())
}

/// Starts spectral-norm state as [`CriticSpectralNorm::from_rng`](super::CriticSpectralNorm::from_rng):
/// per critic layer u ~ N(0, I) normalized (out_l normals), v = 0.
///
/// Errors: `ShapeMismatch` when `u`, `v` differ from [`WganShape::spectral_state_len`].
pub fn spectral_init<T: Real, R: Rng + ?Sized>(
    shape: &WganShape<'_, T>,
    u: &mut [T],
    v: &mut [T],
    rng: &mut R,
) -> Result<()> {
    let (nu, nv) = shape.spectral_state_len();
    check_len("spectral u", u, nu)?;
    check_len("spectral v", v, nv)?;
    let mut rest = u;
    for spec in shape.critic.layers() {
        let (ul, tail) = core::mem::take(&mut rest).split_at_mut(spec.outputs);
        rest = tail;
        fill_standard_normal(rng, ul);
        normalize_in_place(ul);
    }
    v.fill(T::ZERO);
    Ok(())
}

/// Applies the constraint's projection to the critic parameters: clamps every entry to
/// [−c, c], or divides each weight matrix by its power-iteration σ̂ (state `u`, `v` from
/// [`spectral_init`]); nothing for the penalty.
///
/// Errors: `InvalidParameter` for a negative or non-finite c, or a zero/NaN weight matrix
/// (layers before it are projected); `ShapeMismatch` for wrong state lengths.
pub fn constrain<T: Real>(
    shape: &WganShape<'_, T>,
    lipschitz: Lipschitz<T>,
    critic: &mut [T],
    u: &mut [T],
    v: &mut [T],
) -> Result<()> {
    check_len("critic params", critic, shape.critic.params_len())?;
    match lipschitz {
        Lipschitz::WeightClip { c } => clip_slice(critic, c),
        Lipschitz::SpectralNorm => {
            let (nu, nv) = shape.spectral_state_len();
            check_len("spectral u", u, nu)?;
            check_len("spectral v", v, nv)?;
            let (mut p, mut ur, mut vr) = (critic, u, v);
            for spec in shape.critic.layers() {
                let (w, tail) = core::mem::take(&mut p).split_at_mut(spec.outputs * spec.inputs);
                p = &mut tail[spec.outputs..];
                let (ul, tail) = core::mem::take(&mut ur).split_at_mut(spec.outputs);
                ur = tail;
                let (vl, tail) = core::mem::take(&mut vr).split_at_mut(spec.inputs);
                vr = tail;
                project_slice(w, spec.inputs, ul, vl)?;
            }
            Ok(())
        }
        Lipschitz::GradientPenalty { .. } => Ok(()),
    }
}

/// The critic pass of one chunk: for each row b, z_b → fake G(z_b); adds
/// weight · ∂[D(fake) − D(x_b)]/∂w, then with the penalty (`t` given, t_b ∈ [0, 1])
/// weight · ∂P(x̂_b)/∂w at x̂_b = t_b x_b + (1 − t_b) fake, into `grads`. Returns the statistics
/// **summed** over the rows.
///
/// Errors (before anything is written): `EmptyData` for 0 rows; `ShapeMismatch` for wrong
/// lengths; `InvalidParameter { name: "t" }` when `lipschitz` is the penalty and `t` is missing.
#[allow(clippy::too_many_arguments)] // the two networks' buffers, named as in docs/mlp-core.md
pub fn critic_accumulate<T: Real>(
    shape: &WganShape<'_, T>,
    generator: (&[T], &[T]),
    critic: (&[T], &[T]),
    real: &[T],
    z: &[T],
    t: Option<&[T]>,
    lipschitz: Lipschitz<T>,
    weight: T,
    work: &mut [T],
    grads: &mut [T],
) -> Result<CriticStats<T>> {
    let rows = real.len() / shape.features().max(1);
    check_common(shape, generator, critic, real, rows, z, work)?;
    check_len("critic gradient", grads, shape.critic.params_len())?;
    let lambda = match lipschitz {
        Lipschitz::GradientPenalty { lambda } => {
            let t = t.ok_or(Error::InvalidParameter {
                name: "t",
                reason: "the gradient penalty needs one t per row",
            })?;
            check_len("t", t, rows)?;
            Some(lambda)
        }
        _ => None,
    };
    let x = shape.features();
    let (fake, work) = generate(shape, generator, z, rows, work)?;
    let (cp, cwt) = critic;
    let mut stats = CriticStats { d_real: T::ZERO, d_fake: T::ZERO, penalty: T::ZERO, grad_norm: T::ZERO };
    let (Some(lambda), Some(t)) = (lambda, t) else {
        // No penalty: all rows at once, interleaved (real_0, fake_0, real_1, …), so every
        // gradient entry still sums real_b then fake_b row after row (the fixed-size order).
        let (pairs, work) = work.split_at_mut(2 * rows * x);
        let (g_out, work) = work.split_at_mut(2 * rows);
        let (cache, work) = work.split_at_mut(shape.critic.cache_len(2 * rows)?);
        for ((p, xr), fr) in pairs.chunks_exact_mut(2 * x).zip(real.chunks_exact(x)).zip(fake.chunks_exact(x))
        {
            p[..x].copy_from_slice(xr);
            p[x..].copy_from_slice(fr);
        }
        batch::forward(&shape.critic, cp, cwt, pairs, 2 * rows, cache)?;
        for d in shape.critic.output(cache, 2 * rows)?.chunks_exact(2) {
            stats.d_real += d[0];
            stats.d_fake += d[1];
        }
        for g in g_out.chunks_exact_mut(2) {
            g[0] = -weight;
            g[1] = weight;
        }
        batch::backward(&shape.critic, cp, pairs, 2 * rows, cache, g_out, grads, None, work)?;
        return Ok(stats);
    };
    penalty_batch(shape, cp, cwt, real, fake, t, lambda, weight, work, grads, &mut stats)?;
    Ok(stats)
}

/// The critic pass with the penalty over all rows at once. Every weight entry receives, row after
/// row, the real row's, the fake row's and the penalty's contribution (the fixed-size order),
/// via one tiled weight-gradient pass per layer over 3·rows interleaved rows; biases get the real
/// and fake rows only (∂P/∂b = 0).
#[allow(clippy::too_many_arguments)] // the critic, the rows, λ, the weight and the buffers
fn penalty_batch<T: Real>(
    shape: &WganShape<'_, T>,
    cp: &[T],
    cwt: &[T],
    real: &[T],
    fake: &[T],
    t: &[T],
    lambda: T,
    weight: T,
    work: &mut [T],
    grads: &mut [T],
    stats: &mut CriticStats<T>,
) -> Result<()> {
    let critic = &shape.critic;
    let layers = critic.layers();
    let (x, rows, mw) = (shape.features(), t.len(), critic.max_width());
    let units: usize = layers.iter().map(|s| s.outputs).sum();
    let (pairs, w) = work.split_at_mut(2 * rows * x);
    let (cache2, w) = w.split_at_mut(critic.cache_len(2 * rows)?);
    let (xh, w) = w.split_at_mut(rows * x);
    let (cacheh, w) = w.split_at_mut(critic.cache_len(rows)?);
    let (delta, w) = w.split_at_mut(rows * units);
    let (sv, w) = w.split_at_mut(rows * units);
    let (gr, w) = w.split_at_mut(rows * x);
    let (g_cur, w) = w.split_at_mut(2 * rows * mw);
    let (g_next, w) = w.split_at_mut(2 * rows * mw);
    let (g3, w) = w.split_at_mut(3 * rows * mw);
    let (x3, _) = w.split_at_mut(3 * rows * mw);
    // Real/fake interleaved, and x̂_b = t_b x_b + (1 − t_b) fake_b.
    for (b, ((p, xr), fr)) in
        pairs.chunks_exact_mut(2 * x).zip(real.chunks_exact(x)).zip(fake.chunks_exact(x)).enumerate()
    {
        p[..x].copy_from_slice(xr);
        p[x..].copy_from_slice(fr);
        let tb = t[b];
        for (h, (xi, fi)) in xh[b * x..(b + 1) * x].iter_mut().zip(xr.iter().zip(fr)) {
            *h = tb * *xi + (T::ONE - tb) * *fi;
        }
    }
    batch::forward(critic, cp, cwt, pairs, 2 * rows, cache2)?;
    for d in critic.output(cache2, 2 * rows)?.chunks_exact(2) {
        stats.d_real += d[0];
        stats.d_fake += d[1];
    }
    batch::forward(critic, cp, cwt, xh, rows, cacheh)?;
    // Per-layer offsets: units (rows-major blocks: layer l occupies rows × out_l at u_off[l]),
    // parameters, caches.
    let top = layers.len() - 1;
    let unit_off = |l: usize| rows * layers[..l].iter().map(|s| s.outputs).sum::<usize>();
    let param_off = |l: usize| layers[..l].iter().map(|s| s.params()).sum::<usize>();
    let z_of = |cache: &[T], l: usize, n: usize| -> core::ops::Range<usize> {
        let start: usize = layers[..l].iter().map(|s| 2 * s.outputs * n).sum();
        let _ = cache;
        start..start + layers[l].outputs * n
    };
    // δ: δ_L = d_L (1 for identity); δ_{l−1} = d_{l−1} ⊙ (W_lᵀ δ_l), rows × out per layer.
    {
        let zl = &cacheh[z_of(cacheh, top, rows)];
        let dl = &mut delta[unit_off(top)..unit_off(top) + rows];
        for (d, z) in dl.iter_mut().zip(zl) {
            *d = if layers[top].activation == ActivationKind::Identity {
                T::ONE
            } else {
                layers[top].activation.derivative(*z)
            };
        }
    }
    for l in (1..layers.len()).rev() {
        let spec = &layers[l];
        let p0 = param_off(l);
        let w_l = &cp[p0..p0 + spec.outputs * spec.inputs];
        let (lower, upper) = delta.split_at_mut(unit_off(l));
        let below = &mut lower[unit_off(l - 1)..];
        let dl = &upper[..rows * spec.outputs];
        if l == top && spec.outputs == 1 {
            // W_Lᵀ δ_L without the 0 + (the fixed-size critic multiplies directly).
            for (br, d) in below.chunks_exact_mut(spec.inputs).zip(dl) {
                for (bi, wi) in br.iter_mut().zip(w_l) {
                    *bi = *wi * *d;
                }
            }
        } else {
            batch::dense_input_gradient(w_l, dl, below, spec.inputs, spec.outputs);
        }
        activate_backward(layers[l - 1].activation, &cacheh[z_of(cacheh, l - 1, rows)], below);
    }
    // g = W_1ᵀ δ_1, then r = s_b g per row; penalty and norm summed in row order.
    let first = &layers[0];
    batch::dense_input_gradient(
        &cp[..first.outputs * first.inputs],
        &delta[..rows * first.outputs],
        gr,
        x,
        first.outputs,
    );
    for gb in gr.chunks_exact_mut(x) {
        let (p, n, scale) = penalty_scale(gb, lambda, weight);
        stats.penalty += p;
        stats.grad_norm += n;
        for v in gb.iter_mut() {
            *v *= scale;
        }
    }
    // s_l = d_l ⊙ (W_l s_{l−1}) for l < L (s_0 = r), row by row as the fixed-size dot products.
    for l in 0..top {
        let spec = &layers[l];
        let p0 = param_off(l);
        let w_l = &cp[p0..p0 + spec.outputs * spec.inputs];
        let z = &cacheh[z_of(cacheh, l, rows)];
        let (done, now) = sv.split_at_mut(unit_off(l));
        let prev: &[T] = if l == 0 { gr } else { &done[unit_off(l - 1)..] };
        for ((so, sp), zr) in now[..rows * spec.outputs]
            .chunks_exact_mut(spec.outputs)
            .zip(prev.chunks_exact(spec.inputs))
            .zip(z.chunks_exact(spec.outputs))
        {
            for ((sj, wr), zj) in so.iter_mut().zip(w_l.chunks_exact(spec.inputs)).zip(zr) {
                let mut acc = T::ZERO;
                for (wi, si) in wr.iter().zip(sp) {
                    acc += *wi * *si;
                }
                *sj = spec.activation.derivative(*zj) * acc;
            }
        }
    }
    // Backward of the real/fake rows, layer by layer, with the penalty's outer products
    // interleaved into each weight gradient.
    let (mut cur, mut next) = (g_cur, g_next);
    for (l, spec) in layers.iter().enumerate().rev() {
        let (ni, no) = (spec.inputs, spec.outputs);
        let n2 = 2 * rows * no;
        let g = &mut cur[..n2];
        if l == top {
            for gp in g.chunks_exact_mut(2) {
                gp[0] = -weight;
                gp[1] = weight;
            }
        }
        activate_backward(spec.activation, &cache2[z_of(cache2, l, 2 * rows)], g);
        let a_prev: &[T] = if l == 0 {
            pairs
        } else {
            let r = z_of(cache2, l - 1, 2 * rows);
            &cache2[r.end..r.end + 2 * rows * ni]
        };
        let s_prev: &[T] = if l == 0 { gr } else { &sv[unit_off(l - 1)..unit_off(l - 1) + rows * ni] };
        let dl = &delta[unit_off(l)..unit_off(l) + rows * no];
        for b in 0..rows {
            g3[3 * b * no..(3 * b + 2) * no].copy_from_slice(&g[2 * b * no..(2 * b + 2) * no]);
            g3[(3 * b + 2) * no..(3 * b + 3) * no].copy_from_slice(&dl[b * no..(b + 1) * no]);
            x3[3 * b * ni..(3 * b + 2) * ni].copy_from_slice(&a_prev[2 * b * ni..(2 * b + 2) * ni]);
            x3[(3 * b + 2) * ni..(3 * b + 3) * ni].copy_from_slice(&s_prev[b * ni..(b + 1) * ni]);
        }
        let p0 = param_off(l);
        let (gw, rest) = grads[p0..].split_at_mut(no * ni);
        for gro in g.chunks_exact(no) {
            for (gbo, go) in rest[..no].iter_mut().zip(gro) {
                *gbo += *go;
            }
        }
        batch::dense_weight_gradient(&x3[..3 * rows * ni], &g3[..3 * rows * no], gw, ni, no);
        if l > 0 {
            batch::dense_input_gradient(&cp[p0..p0 + no * ni], g, &mut next[..2 * rows * ni], ni, no);
        }
        core::mem::swap(&mut cur, &mut next);
    }
    Ok(())
}

/// The generator pass of one chunk: for each row b, adds weight · ∂[−D(G(z_b))]/∂θ into
/// `grads` (critic fixed) and returns −Σ_b D(G(z_b)).
///
/// Errors: `EmptyData` for 0 rows; `ShapeMismatch` for wrong lengths.
pub fn generator_accumulate<T: Real>(
    shape: &WganShape<'_, T>,
    generator: (&[T], &[T]),
    critic: (&[T], &[T]),
    z: &[T],
    weight: T,
    work: &mut [T],
    grads: &mut [T],
) -> Result<T> {
    let rows = z.len() / shape.latent();
    let x = shape.features();
    if rows == 0 {
        return Err(Error::EmptyData);
    }
    check_len("z", z, rows * shape.latent())?;
    check_len("generator gradient", grads, shape.generator.params_len())?;
    check_min_len("WGAN scratch", work, shape.work_len(rows)?)?;
    let (gcache, work) = work.split_at_mut(shape.generator.cache_len(rows)?);
    let (gwork, work) = work.split_at_mut(shape.generator.work_len(rows)?);
    let (ccache, work) = work.split_at_mut(shape.critic.cache_len(rows)?);
    let (cwork, work) = work.split_at_mut(shape.critic.work_len(rows)?);
    let (gx, work) = work.split_at_mut(rows * x);
    let (g_out, _) = work.split_at_mut(rows);
    let (gp, gwt) = generator;
    let (cp, cwt) = critic;
    batch::forward(&shape.generator, gp, gwt, z, rows, gcache)?;
    let fake = shape.generator.output(gcache, rows)?;
    batch::forward(&shape.critic, cp, cwt, fake, rows, ccache)?;
    let mut loss = T::ZERO;
    for d in shape.critic.output(ccache, rows)? {
        loss -= *d;
    }
    g_out.fill(-weight);
    batch::input_gradient(&shape.critic, cp, fake, rows, ccache, g_out, gx, cwork)?;
    batch::backward(&shape.generator, gp, z, rows, gcache, gx, grads, None, gwork)?;
    Ok(loss)
}

/// G(z) for `rows` rows; returns (fake rows × X, the rest of `work`).
fn generate<'w, T: Real>(
    shape: &WganShape<'_, T>,
    generator: (&[T], &[T]),
    z: &[T],
    rows: usize,
    work: &'w mut [T],
) -> Result<(&'w [T], &'w mut [T])> {
    let (gcache, rest) = work.split_at_mut(shape.generator.cache_len(rows)?);
    batch::forward(&shape.generator, generator.0, generator.1, z, rows, gcache)?;
    Ok((shape.generator.output(gcache, rows)?, rest))
}

fn check_common<T: Real>(
    shape: &WganShape<'_, T>,
    generator: (&[T], &[T]),
    critic: (&[T], &[T]),
    real: &[T],
    rows: usize,
    z: &[T],
    work: &[T],
) -> Result<()> {
    if rows == 0 {
        return Err(Error::EmptyData);
    }
    check_len("real", real, rows * shape.features())?;
    check_len("z", z, rows * shape.latent())?;
    check_len("generator params", generator.0, shape.generator.params_len())?;
    check_len("generator transposed weights", generator.1, shape.generator.weights_len())?;
    check_len("critic params", critic.0, shape.critic.params_len())?;
    check_len("critic transposed weights", critic.1, shape.critic.weights_len())?;
    check_min_len("WGAN scratch", work, shape.work_len(rows)?)
}

/// An optimizer over flat slices of either WGAN kind; its state is one (RMSProp) or two (Adam)
/// caller slices of the parameters' length.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SliceOptimizer<T> {
    /// See [`SliceRmsProp`].
    RmsProp(SliceRmsProp<T>),
    /// See [`SliceAdam`].
    Adam(SliceAdam<T>),
}

impl<T: Real> SliceOptimizer<T> {
    /// The optimizer `kind` (as [`Optimizer::new`](super::Optimizer::new)).
    pub fn new(kind: OptimizerKind<T>) -> Self {
        match kind {
            OptimizerKind::RmsProp { lr } => SliceOptimizer::RmsProp(SliceRmsProp::new(lr)),
            OptimizerKind::Adam { lr, beta1, beta2 } => {
                let mut a = SliceAdam::new(lr);
                a.beta1 = beta1;
                a.beta2 = beta2;
                SliceOptimizer::Adam(a)
            }
        }
    }

    /// One update; `s2` is unused by RMSProp. Errors: `ShapeMismatch` for wrong lengths.
    pub fn step(&mut self, params: &mut [T], grads: &[T], s1: &mut [T], s2: &mut [T]) -> Result<()> {
        match self {
            SliceOptimizer::RmsProp(o) => o.step(params, grads, s1),
            SliceOptimizer::Adam(o) => o.step(params, grads, s1, s2),
        }
    }
}

/// The mutable training state of one network: parameters, transposed weights, gradient and
/// optimizer (state `s1`, `s2`: each the parameters' length; `s2` may be empty for RMSProp).
pub struct NetState<'s, T> {
    /// Parameters.
    pub params: &'s mut [T],
    /// Transposed weights, refreshed after each update.
    pub wt: &'s mut [T],
    /// Gradient buffer.
    pub grads: &'s mut [T],
    /// The optimizer.
    pub opt: &'s mut SliceOptimizer<T>,
    /// First optimizer state.
    pub s1: &'s mut [T],
    /// Second optimizer state (Adam).
    pub s2: &'s mut [T],
}

/// One critic update on `real` (rows × X) with noise `z` (and `t`, for the penalty) drawn by
/// [`draw_critic_noise`]: zeroes the gradient, [`critic_accumulate`] with weight 1/B, optimizer
/// step, finiteness check, [`constrain`], refreshes the critic's `wt`. Returns the batch means.
/// The serial form of [`WganTrainer::critic_step`](super::WganTrainer::critic_step).
///
/// Errors as [`critic_accumulate`] and [`constrain`]; `NonFiniteParameter` after a NaN/∞ update.
#[allow(clippy::too_many_arguments)] // the two networks, the noise and the constraint state
pub fn critic_step<T: Real>(
    shape: &WganShape<'_, T>,
    lipschitz: Lipschitz<T>,
    generator: (&[T], &[T]),
    critic: NetState<'_, T>,
    spectral: (&mut [T], &mut [T]),
    real: &[T],
    z: &[T],
    t: Option<&[T]>,
    work: &mut [T],
) -> Result<CriticStats<T>> {
    let rows = real.len() / shape.features().max(1);
    let w = T::ONE / T::from_usize(rows.max(1));
    critic.grads.fill(T::ZERO);
    let s = critic_accumulate(
        shape,
        generator,
        (critic.params, critic.wt),
        real,
        z,
        t,
        lipschitz,
        w,
        work,
        critic.grads,
    )?;
    critic.opt.step(critic.params, critic.grads, critic.s1, critic.s2)?;
    check_finite_slice(critic.params)?;
    constrain(shape, lipschitz, critic.params, spectral.0, spectral.1)?;
    batch::transpose_weights(&shape.critic, critic.params, critic.wt)?;
    Ok(CriticStats {
        d_real: s.d_real * w,
        d_fake: s.d_fake * w,
        penalty: s.penalty * w,
        grad_norm: s.grad_norm * w,
    })
}

/// One generator update with noise `z` (rows × Z, Z normals a row): zeroes the gradient,
/// [`generator_accumulate`] with weight 1/B, optimizer step, finiteness check, refreshes the
/// generator's `wt`. Returns L_G before the update. The serial form of
/// [`WganTrainer::generator_step`](super::WganTrainer::generator_step).
///
/// Errors as [`generator_accumulate`]; `NonFiniteParameter` after a NaN/∞ update.
pub fn generator_step<T: Real>(
    shape: &WganShape<'_, T>,
    generator: NetState<'_, T>,
    critic: (&[T], &[T]),
    z: &[T],
    work: &mut [T],
) -> Result<T> {
    let rows = z.len() / shape.latent();
    let w = T::ONE / T::from_usize(rows.max(1));
    generator.grads.fill(T::ZERO);
    let loss =
        generator_accumulate(shape, (generator.params, generator.wt), critic, z, w, work, generator.grads)?;
    generator.opt.step(generator.params, generator.grads, generator.s1, generator.s2)?;
    check_finite_slice(generator.params)?;
    batch::transpose_weights(&shape.generator, generator.params, generator.wt)?;
    Ok(loss * w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::{Act, Dense, Init, Layer, LayerSpec, Relu, init_params};
    use crate::models::wgan::{Critic, WganConfig, WganTrainer, critic_zeros, gradient_penalty};
    use crate::{chain, chain_type};
    use proptest::prelude::*;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn flat<L: Layer<f64>>(net: &L) -> Vec<f64> {
        let mut v = Vec::new();
        net.visit_params(&mut |p| v.push(p));
        v
    }

    fn specs(slope: f64) -> ([LayerSpec<f64>; 2], [LayerSpec<f64>; 3]) {
        let a = ActivationKind::LeakyRelu { slope };
        (
            [LayerSpec::new(2, 6, ActivationKind::Relu), LayerSpec::new(6, 3, ActivationKind::Identity)],
            [
                LayerSpec::new(3, 4, a),
                LayerSpec::new(4, 4, a),
                LayerSpec::new(4, 1, ActivationKind::Identity),
            ],
        )
    }

    /// Buffers of one network for the slice steps.
    struct Net {
        params: Vec<f64>,
        wt: Vec<f64>,
        grads: Vec<f64>,
        s1: Vec<f64>,
        s2: Vec<f64>,
        opt: SliceOptimizer<f64>,
    }

    impl Net {
        fn new(arch: &Architecture<'_, f64>, params: Vec<f64>, kind: OptimizerKind<f64>) -> Self {
            let n = params.len();
            let mut wt = vec![0.0; arch.weights_len()];
            batch::transpose_weights(arch, &params, &mut wt).unwrap();
            Self {
                params,
                wt,
                grads: vec![0.0; n],
                s1: vec![0.0; n],
                s2: vec![0.0; n],
                opt: SliceOptimizer::new(kind),
            }
        }
        fn state(&mut self) -> NetState<'_, f64> {
            NetState {
                params: &mut self.params,
                wt: &mut self.wt,
                grads: &mut self.grads,
                opt: &mut self.opt,
                s1: &mut self.s1,
                s2: &mut self.s2,
            }
        }
    }

    /// Two critic steps and one generator step of the core against WganTrainer, generator
    /// 2 → 6 → X, critic X → H → H → 1 (leaky ReLU 0.2), from the same state and streams.
    fn check_steps<const X: usize, const H: usize>(
        seed: u64,
        which: usize,
        xs: &[f64],
    ) -> core::result::Result<(), TestCaseError> {
        let rows = xs.len() / X;
        let config =
            [WganConfig::<f64>::paper_clip(), WganConfig::spectral_norm(), WganConfig::gradient_penalty()]
                [which]
                .with_lr(0.01);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut g: chain_type!(Dense<f64, 2, 6>, Act<Relu, 6>, Dense<f64, 6, X>) =
            chain!(Dense::zeros(), Act(Relu), Dense::zeros());
        g.init(Init::HeNormal, &mut rng);
        let mut c: Critic<f64, X, H> = critic_zeros(0.2);
        c.init(Init::HeNormal, &mut rng);
        let a = ActivationKind::LeakyRelu { slope: 0.2 };
        let gs = [LayerSpec::new(2, 6, ActivationKind::Relu), LayerSpec::new(6, X, ActivationKind::Identity)];
        let cs = [
            LayerSpec::new(X, H, a),
            LayerSpec::new(H, H, a),
            LayerSpec::new(H, 1, ActivationKind::Identity),
        ];
        let (ga, ca) = (Architecture::new(&gs).unwrap(), Architecture::new(&cs).unwrap());
        let shape = WganShape::new(ga, ca, config.lipschitz).unwrap();
        let mut gnet = Net::new(&ga, flat(&g), config.generator_opt);
        let mut cnet = Net::new(&ca, flat(&c), config.critic_opt);
        let (nu, nv) = shape.spectral_state_len();
        let (mut u, mut v) = (vec![0.0; nu], vec![0.0; nv]);
        let mut core_rng = rng.clone();
        let mut tr = WganTrainer::new(&g, &c, config, &mut rng);
        spectral_init(&shape, &mut u, &mut v, &mut core_rng).unwrap();
        tr.constrain(&mut c).unwrap();
        constrain(&shape, config.lipschitz, &mut cnet.params, &mut u, &mut v).unwrap();
        batch::transpose_weights(&ca, &cnet.params, &mut cnet.wt).unwrap();
        let real: Vec<[f64; X]> = xs.chunks_exact(X).map(|r| core::array::from_fn(|i| r[i])).collect();
        let mut work = vec![0.0; shape.work_len(rows).unwrap()];
        let gp = matches!(config.lipschitz, Lipschitz::GradientPenalty { .. });
        for _ in 0..2 {
            let want = tr.critic_step(&g, &mut c, &real, &mut rng).unwrap();
            let mut z = vec![0.0; 2 * rows];
            let mut t = vec![0.0; rows];
            draw_critic_noise(&mut core_rng, 2, &mut z, gp.then_some(&mut t[..])).unwrap();
            let spectral = (&mut u[..], &mut v[..]);
            let got = critic_step(
                &shape,
                config.lipschitz,
                (&gnet.params, &gnet.wt),
                cnet.state(),
                spectral,
                xs,
                &z,
                gp.then_some(&t[..]),
                &mut work,
            )
            .unwrap();
            prop_assert_eq!(got, want);
            prop_assert_eq!(&cnet.params, &flat(&c));
        }
        let want = tr.generator_step(&mut g, &c, rows, &mut rng).unwrap();
        let mut z = vec![0.0; 2 * rows];
        draw_critic_noise(&mut core_rng, 2, &mut z, None).unwrap();
        let got = generator_step(&shape, gnet.state(), (&cnet.params, &cnet.wt), &z, &mut work).unwrap();
        prop_assert_eq!(got, want);
        prop_assert_eq!(&gnet.params, &flat(&g));
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Two critic steps and one generator step of the core equal WganTrainer's bit for bit
        /// (statistics, losses, both networks), for each Lipschitz constraint, at a small shape
        /// and one past the core's register tiles (X = 9, H = 17, up to 9 rows).
        #[test]
        fn core_steps_equal_fixed_size_trainer_bit_for_bit(
            seed in 0u64..300,
            rows in 1usize..10,
            which in 0usize..3,
            xs in proptest::collection::vec(-2.0f64..2.0, 81),
        ) {
            check_steps::<3, 4>(seed, which, &xs[..3 * rows])?;
            check_steps::<9, 17>(seed, which, &xs[..9 * rows])?;
        }
    }

    /// critic_accumulate with the penalty on `rows` copies of `x` as both real and fake (a
    /// generator W = 0, b = x): the real/fake terms cancel, leaving rows · weight · ∂P(x)/∂w.
    fn core_penalty(
        critic: Architecture<'_, f64>,
        params: &[f64],
        x: &[f64],
        rows: usize,
        weight: f64,
    ) -> (Vec<f64>, CriticStats<f64>) {
        let nx = x.len();
        let gs = [LayerSpec::new(1, nx, ActivationKind::Identity)];
        let ga = Architecture::new(&gs).unwrap();
        let mut gp = vec![0.0; ga.params_len()];
        gp[nx..].copy_from_slice(x);
        let (mut gwt, mut cwt) = (vec![0.0; ga.weights_len()], vec![0.0; critic.weights_len()]);
        batch::transpose_weights(&ga, &gp, &mut gwt).unwrap();
        batch::transpose_weights(&critic, params, &mut cwt).unwrap();
        let lip = Lipschitz::GradientPenalty { lambda: 10.0 };
        let shape = WganShape::new(ga, critic, lip).unwrap();
        let real: Vec<f64> = x.iter().copied().cycle().take(rows * nx).collect();
        let (z, t) = (vec![0.3; rows], vec![0.6; rows]);
        let mut work = vec![0.0; shape.work_len(rows).unwrap()];
        let mut grads = vec![0.0; critic.params_len()];
        let s = critic_accumulate(
            &shape,
            (&gp, &gwt),
            (params, &cwt),
            &real,
            &z,
            Some(&t),
            lip,
            weight,
            &mut work,
            &mut grads,
        )
        .unwrap();
        (grads, s)
    }

    #[test]
    fn penalty_equals_fixed_size_closed_form_and_finite_differences_at_depth_four() {
        // At the fixed-size critic's shape: the closed form's value and gradient.
        let mut c: Critic<f64, 3, 4> = critic_zeros(0.2);
        c.init(Init::HeNormal, &mut Xoshiro256PlusPlus::seed_from_u64(4));
        let (_, cs) = specs(0.2);
        let ca = Architecture::new(&cs).unwrap();
        let x = [0.3, -0.7, 1.1];
        let mut want = c.zeros_like();
        let (wp, wn) = gradient_penalty(&c, &x, 10.0, 0.5, &mut want);
        let (grads, s) = core_penalty(ca, &flat(&c), &x, 1, 0.5);
        assert_eq!((s.penalty, s.grad_norm), (wp, wn));
        for (g, w) in grads.iter().zip(flat(&want)) {
            assert!((g - w).abs() < 1e-14, "{g} vs {w}");
        }

        // Four layers, mixed piecewise-linear activations, 6 rows (register tiles and the
        // remainder): against central differences of P(w) with ∇ₓD from the ordinary backward
        // pass (independent of the closed form).
        let a = ActivationKind::LeakyRelu { slope: 0.1 };
        let deep = [
            LayerSpec::new(5, 7, a),
            LayerSpec::new(7, 3, ActivationKind::Relu),
            LayerSpec::new(3, 6, ActivationKind::Identity),
            LayerSpec::new(6, 1, a),
        ];
        let da = Architecture::new(&deep).unwrap();
        let mut params = vec![0.0; da.params_len()];
        init_params(&da, &mut params, Init::HeNormal, &mut Xoshiro256PlusPlus::seed_from_u64(6)).unwrap();
        for (i, p) in params.iter_mut().enumerate() {
            *p += 0.05 * f64::sin(i as f64);
        }
        let x = [0.4, -0.2, 0.9, -1.3, 0.25];
        let penalty = |p: &[f64]| {
            let mut wt = vec![0.0; da.weights_len()];
            batch::transpose_weights(&da, p, &mut wt).unwrap();
            let mut cache = vec![0.0; da.cache_len(1).unwrap()];
            batch::forward(&da, p, &wt, &x, 1, &mut cache).unwrap();
            let mut gx = [0.0; 5];
            let mut work = vec![0.0; da.work_len(1).unwrap()];
            batch::input_gradient(&da, p, &x, 1, &cache, &[1.0], &mut gx, &mut work).unwrap();
            let n = gx.iter().map(|v| v * v).sum::<f64>().sqrt();
            10.0 * (n - 1.0) * (n - 1.0)
        };
        let rows = 6;
        let (grads, s) = core_penalty(da, &params, &x, rows, 1.0 / rows as f64);
        let p = s.penalty / rows as f64;
        assert!((p - penalty(&params)).abs() < 1e-12 && p > 0.0);
        let h = 1e-6;
        for i in 0..params.len() {
            let (mut a, mut b) = (params.clone(), params.clone());
            a[i] += h;
            b[i] -= h;
            let numeric = (penalty(&a) - penalty(&b)) / (2.0 * h);
            assert!(
                (grads[i] - numeric).abs() < 1e-6 * (1.0 + numeric.abs()),
                "param {i}: {} vs {numeric}",
                grads[i]
            );
        }
    }

    #[test]
    fn bad_shapes_and_missing_noise_are_typed_errors() {
        let (gs, cs) = specs(0.2);
        let (ga, ca) = (Architecture::new(&gs).unwrap(), Architecture::new(&cs).unwrap());
        let gp = Lipschitz::GradientPenalty { lambda: 10.0 };
        assert!(matches!(WganShape::new(ca, ga, gp), Err(Error::ShapeMismatch { .. })));
        let tanh =
            [LayerSpec::new(3, 4, ActivationKind::Tanh), LayerSpec::new(4, 1, ActivationKind::Identity)];
        let ta = Architecture::new(&tanh).unwrap();
        assert!(matches!(WganShape::new(ga, ta, gp), Err(Error::InvalidLayer { layer: 0, .. })));
        assert!(WganShape::new(ga, ta, Lipschitz::WeightClip { c: 0.01 }).is_ok());
        let shape = WganShape::new(ga, ca, gp).unwrap();
        let gparams = vec![0.1; ga.params_len()];
        let gwt = vec![0.1; ga.weights_len()];
        let cparams = vec![0.1; ca.params_len()];
        let cwt = vec![0.1; ca.weights_len()];
        let mut work = vec![0.0; shape.work_len(2).unwrap()];
        let mut grads = vec![0.0; ca.params_len()];
        let r = critic_accumulate(
            &shape,
            (&gparams, &gwt),
            (&cparams, &cwt),
            &[0.0; 6],
            &[0.0; 4],
            None,
            gp,
            0.5,
            &mut work,
            &mut grads,
        );
        assert!(matches!(r, Err(Error::InvalidParameter { name: "t", .. })));
        let r = critic_accumulate(
            &shape,
            (&gparams, &gwt),
            (&cparams, &cwt),
            &[],
            &[],
            None,
            gp,
            0.5,
            &mut work,
            &mut grads,
        );
        assert_eq!(r, Err(Error::EmptyData));
        let mut zero = vec![0.0; ca.params_len()];
        let (nu, nv) = shape.spectral_state_len();
        let (mut u, mut v) = (vec![1.0; nu], vec![0.0; nv]);
        assert!(matches!(
            constrain(&shape, Lipschitz::SpectralNorm, &mut zero, &mut u, &mut v),
            Err(Error::InvalidParameter { name: "w", .. })
        ));
        assert!(constrain(&shape, Lipschitz::WeightClip { c: -1.0 }, &mut zero, &mut u, &mut v).is_err());
        assert!(
            draw_critic_noise(&mut Xoshiro256PlusPlus::seed_from_u64(1), 2, &mut [0.0; 3], None).is_err()
        );
    }
}
