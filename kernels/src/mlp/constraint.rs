//! Lipschitz constraints for a WGAN critic (lecture §4): weight clipping and spectral
//! normalization by power iteration.

use super::Layer;
use crate::gaussian::normal::fill_standard_normal;
use crate::{Error, Real, Result};
use rand_core::Rng;

/// Clamps every trainable scalar of `net` to [−c, c] (WGAN, Arjovsky et al. 2017: c = 0.01,
/// applied to all critic parameters after each critic update, as their code does).
///
/// Errors: `InvalidParameter` when c is negative or not finite (nothing is changed). A NaN
/// parameter stays NaN (documented propagation; see [`check_finite`](super::check_finite)).
pub fn clip_weights<T: Real, L: Layer<T>>(net: &mut L, c: T) -> Result<()> {
    check_clip_bound(c)?;
    net.for_each_param(&mut |p| clip_scalar(p, c));
    Ok(())
}

/// [`clip_weights`] over a flat parameter slice (the runtime-sized core). Errors as there.
pub fn clip_slice<T: Real>(params: &mut [T], c: T) -> Result<()> {
    check_clip_bound(c)?;
    params.iter_mut().for_each(|p| clip_scalar(p, c));
    Ok(())
}

fn check_clip_bound<T: Real>(c: T) -> Result<()> {
    if !(c >= T::ZERO) || !c.is_finite() {
        return Err(Error::InvalidParameter { name: "c", reason: "clip bound must be finite and >= 0" });
    }
    Ok(())
}

#[inline(always)]
fn clip_scalar<T: Real>(p: &mut T, c: T) {
    // Comparisons are false for NaN, which therefore passes through unchanged.
    if *p > c {
        *p = c;
    } else if *p < -c {
        *p = -c;
    }
}

/// Spectral normalization (Miyato et al. 2018) of one weight matrix W ∈ ℝ^{OUT×IN}: the state of
/// the power iteration that estimates σ(W), the largest singular value, kept between updates.
///
/// One step per update, the vector reused (as SN-GAN and PyTorch's `spectral_norm` do):
/// v ← Wᵀu / ‖Wᵀu‖, u ← Wv / ‖Wv‖, σ̂ = uᵀWv. Each step costs 2·IN·OUT multiply-adds; since u
/// carries over, σ̂ tracks σ(W) as W changes slowly. Norms below 1e-12 are replaced by 1e-12
/// (PyTorch's `eps`), so a zero W gives σ̂ = 0 rather than NaN.
///
/// Two ways to use it: reparameterize the forward pass with W/σ̂ ([`SpectralNorm::normalize`])
/// and map gradients back with [`SpectralNorm::backward`] (u, v held constant, as PyTorch does),
/// or project after each optimizer step ([`SpectralNorm::project`]), like weight clipping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpectralNorm<T, const IN: usize, const OUT: usize> {
    /// Left singular-vector estimate (unit norm).
    pub u: [T; OUT],
    /// Right singular-vector estimate (unit norm after the first step).
    pub v: [T; IN],
    /// Latest estimate σ̂ = uᵀWv (0 before the first step).
    pub sigma: T,
}

/// x / max(‖x‖, 1e-12), in place.
pub(crate) fn normalize_in_place<T: Real>(x: &mut [T]) {
    let mut s = T::ZERO;
    for v in x.iter() {
        s += *v * *v;
    }
    let n = s.sqrt().max(T::from_f64(1e-12));
    for v in x.iter_mut() {
        *v /= n;
    }
}

impl<T: Real, const IN: usize, const OUT: usize> SpectralNorm<T, IN, OUT> {
    /// Starts from u = (1, …, 1)/√OUT (deterministic).
    pub fn new() -> Self {
        Self { u: [T::ONE / T::from_usize(OUT).sqrt(); OUT], v: [T::ZERO; IN], sigma: T::ZERO }
    }

    /// Starts from a random unit u (u ~ N(0, I) normalized, as PyTorch does), which is almost
    /// surely not orthogonal to the top singular vector.
    pub fn from_rng<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let mut s = Self::new();
        fill_standard_normal(rng, &mut s.u);
        normalize_in_place(&mut s.u);
        s
    }

    /// uᵀ W v with the kept vectors (σ̂ for a W that has changed since the last step).
    pub fn estimate(&self, w: &[[T; IN]; OUT]) -> T {
        let mut s = T::ZERO;
        for (uo, row) in self.u.iter().zip(w.iter()) {
            let mut wv = T::ZERO;
            for (wi, vi) in row.iter().zip(self.v.iter()) {
                wv += *wi * *vi;
            }
            s += *uo * wv;
        }
        s
    }

    /// One power-iteration step on `w`; updates u, v and returns σ̂ = uᵀWv.
    /// NaN in `w` propagates into u, v and σ̂.
    pub fn power_iteration(&mut self, w: &[[T; IN]; OUT]) -> T {
        self.sigma = power_iteration_slice(w.as_flattened(), IN, &mut self.u, &mut self.v);
        self.sigma
    }

    /// The usable σ̂, or `InvalidParameter` when it is ≤ 0 or not finite (zero or NaN weights).
    fn checked_sigma(&self) -> Result<T> {
        if self.sigma > T::ZERO && self.sigma.is_finite() {
            Ok(self.sigma)
        } else {
            Err(Error::InvalidParameter { name: "w", reason: "spectral norm estimate is zero or not finite" })
        }
    }

    /// Writes W/σ̂ into `out` (the spectrally normalized weights for the forward pass).
    /// Errors as `project`; `out` is unchanged on error.
    pub fn normalize(&self, w: &[[T; IN]; OUT], out: &mut [[T; IN]; OUT]) -> Result<()> {
        let inv = T::ONE / self.checked_sigma()?;
        for (o, r) in out.iter_mut().zip(w.iter()) {
            for (oi, wi) in o.iter_mut().zip(r.iter()) {
                *oi = *wi * inv;
            }
        }
        Ok(())
    }

    /// Backward of W_sn = W / (uᵀWv) with u, v held fixed: given G = ∂L/∂W_sn, adds
    /// ∂L/∂W = (G − ⟨G, W_sn⟩ u vᵀ) / σ̂ into `grad_w`. `w_sn` is the output of `normalize`.
    pub fn backward(
        &self,
        w_sn: &[[T; IN]; OUT],
        grad_sn: &[[T; IN]; OUT],
        grad_w: &mut [[T; IN]; OUT],
    ) -> Result<()> {
        let inv = T::ONE / self.checked_sigma()?;
        let mut dot = T::ZERO;
        for (a, b) in w_sn.as_flattened().iter().zip(grad_sn.as_flattened()) {
            dot += *a * *b;
        }
        for o in 0..OUT {
            for i in 0..IN {
                grad_w[o][i] += (grad_sn[o][i] - dot * self.u[o] * self.v[i]) * inv;
            }
        }
        Ok(())
    }

    /// One power-iteration step, then W ← W/σ̂ in place; returns σ̂ (before the division).
    ///
    /// Errors: `InvalidParameter` when σ̂ ≤ 0 or not finite (W zero or holding NaN); W is then
    /// unchanged.
    pub fn project(&mut self, w: &mut [[T; IN]; OUT]) -> Result<T> {
        let sigma = self.power_iteration(w);
        let copy = *w;
        self.normalize(&copy, w)?;
        Ok(sigma)
    }
}

/// [`SpectralNorm::power_iteration`] over slices (the runtime-sized core): W row-major with
/// `inputs` columns, u (one entry per row of W) and v (`inputs`) updated in place; returns σ̂.
pub fn power_iteration_slice<T: Real>(w: &[T], inputs: usize, u: &mut [T], v: &mut [T]) -> T {
    v.fill(T::ZERO);
    for (uo, row) in u.iter().zip(w.chunks_exact(inputs)) {
        for (vi, wi) in v.iter_mut().zip(row) {
            *vi += *wi * *uo;
        }
    }
    normalize_in_place(v);
    for (uo, row) in u.iter_mut().zip(w.chunks_exact(inputs)) {
        *uo = T::ZERO;
        for (wi, vi) in row.iter().zip(v.iter()) {
            *uo += *wi * *vi;
        }
    }
    normalize_in_place(u);
    let mut s = T::ZERO;
    for (uo, row) in u.iter().zip(w.chunks_exact(inputs)) {
        let mut wv = T::ZERO;
        for (wi, vi) in row.iter().zip(v.iter()) {
            wv += *wi * *vi;
        }
        s += *uo * wv;
    }
    s
}

/// [`SpectralNorm::project`] over slices: one [`power_iteration_slice`], then W ← W/σ̂; returns
/// σ̂. Errors: `InvalidParameter` when σ̂ ≤ 0 or not finite (W is then unchanged).
pub fn project_slice<T: Real>(w: &mut [T], inputs: usize, u: &mut [T], v: &mut [T]) -> Result<T> {
    let sigma = power_iteration_slice(w, inputs, u, v);
    if !(sigma > T::ZERO && sigma.is_finite()) {
        return Err(Error::InvalidParameter {
            name: "w",
            reason: "spectral norm estimate is zero or not finite",
        });
    }
    let inv = T::ONE / sigma;
    for wi in w.iter_mut() {
        *wi *= inv;
    }
    Ok(sigma)
}

impl<T: Real, const IN: usize, const OUT: usize> Default for SpectralNorm<T, IN, OUT> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Act, Dense, Relu};
    use super::*;
    use crate::chain;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// W = R(θ₁) · diag(3, 1) · R(θ₂)ᵀ padded to 3×2: singular values exactly 3 and 1.
    fn known_w() -> [[f64; 2]; 3] {
        let (c1, s1) = (0.3f64.cos(), 0.3f64.sin());
        let (c2, s2) = (1.1f64.cos(), 1.1f64.sin());
        let left = [[c1, -s1], [s1, c1], [0.0, 0.0]];
        let right_t = [[c2, s2], [-s2, c2]];
        let sv = [3.0, 1.0];
        let mut w = [[0.0; 2]; 3];
        for o in 0..3 {
            for i in 0..2 {
                for k in 0..2 {
                    w[o][i] += left[o][k] * sv[k] * right_t[k][i];
                }
            }
        }
        w
    }

    #[test]
    fn power_iteration_with_kept_vector_converges_to_largest_singular_value() {
        let w = known_w();
        let mut sn = SpectralNorm::<f64, 2, 3>::new();
        let mut errs = [0.0; 15];
        for e in errs.iter_mut() {
            *e = (sn.power_iteration(&w) - 3.0).abs();
        }
        // The error contracts by about (σ₂/σ₁)² = 1/9 per step once aligned.
        assert!(errs[14] < 1e-12, "{errs:?}");
        assert!(errs[3] < errs[1] && errs[6] < errs[3]);
        assert!((sn.estimate(&w) - sn.sigma).abs() < 1e-15);
    }

    #[test]
    fn projection_makes_spectral_norm_one() {
        let mut w = known_w();
        let mut sn = SpectralNorm::<f64, 2, 3>::from_rng(&mut Xoshiro256PlusPlus::seed_from_u64(4));
        for _ in 0..20 {
            sn.project(&mut w).unwrap();
        }
        let mut fresh = SpectralNorm::<f64, 2, 3>::new();
        for _ in 0..50 {
            fresh.power_iteration(&w);
        }
        assert!((fresh.sigma - 1.0).abs() < 1e-12, "{}", fresh.sigma);
    }

    #[test]
    fn backward_matches_finite_differences_with_fixed_vectors() {
        let w = known_w();
        let mut sn = SpectralNorm::<f64, 2, 3>::new();
        sn.power_iteration(&w);
        sn.power_iteration(&w);
        let c = [[0.7, -1.1], [0.2, 0.9], [-0.4, 0.3]];
        // L(W) = ⟨C, W / uᵀWv⟩ with the kept u, v; ∂L/∂W_sn = C.
        let loss = |w: &[[f64; 2]; 3]| {
            let s = sn.estimate(w);
            (0..3).map(|o| (0..2).map(|i| c[o][i] * w[o][i] / s).sum::<f64>()).sum::<f64>()
        };
        let mut w_sn = [[0.0; 2]; 3];
        sn.normalize(&w, &mut w_sn).unwrap();
        let mut g = [[0.0; 2]; 3];
        sn.backward(&w_sn, &c, &mut g).unwrap();
        let h = 1e-6;
        for o in 0..3 {
            for i in 0..2 {
                let (mut p, mut m) = (w, w);
                p[o][i] += h;
                m[o][i] -= h;
                let numeric = (loss(&p) - loss(&m)) / (2.0 * h);
                assert!((g[o][i] - numeric).abs() < 1e-9, "{o}{i}");
            }
        }
    }

    #[test]
    fn zero_or_nan_weights_give_typed_errors() {
        let mut sn = SpectralNorm::<f32, 2, 2>::new();
        let mut zero = [[0.0f32; 2]; 2];
        assert!(matches!(sn.project(&mut zero), Err(Error::InvalidParameter { name: "w", .. })));
        let mut nan = [[f32::NAN, 1.0], [0.0, 1.0]];
        assert!(sn.project(&mut nan).is_err());
        assert_eq!(nan[0][1], 1.0, "unchanged on error");
    }

    #[test]
    fn clipping_bounds_every_parameter_and_keeps_nan() {
        let mut net = chain!(
            Dense::<f64, 2, 3> { w: [[0.5, -0.002], [0.0, 3.0], [-7.0, 0.009]], b: [0.02, -0.03, f64::NAN] },
            Act::<_, 3>(Relu),
            Dense::<f64, 3, 1> { w: [[1.0, -1.0, 0.001]], b: [0.0] }
        );
        clip_weights(&mut net, 0.01).unwrap();
        assert_eq!(net.0.w, [[0.01, -0.002], [0.0, 0.01], [-0.01, 0.009]]);
        assert_eq!(net.0.b[..2], [0.01, -0.01]);
        assert!(net.0.b[2].is_nan());
        assert_eq!(net.1.1.w, [[0.01, -0.01, 0.001]]);
        assert!(clip_weights(&mut net, -1.0).is_err());
        assert!(clip_weights(&mut net, f64::NAN).is_err());
    }
}
