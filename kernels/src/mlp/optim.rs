//! First-order optimizers: SGD with momentum and weight decay, Adam, RMSProp.
//!
//! Each keeps its state in values of the network's own type (made by [`Layer::zeros_like`]), so
//! nothing allocates, and updates every trainable scalar θ with its gradient g through
//! [`Layer::zip_params1`] / [`Layer::zip_params`]. Update rules and defaults are PyTorch's (`torch.optim.SGD`, `Adam`,
//! `RMSprop`), L2 weight decay included as g ← g + λθ, so fixtures from PyTorch apply directly.
//!
//! [`SliceSgd`], [`SliceAdam`] and [`SliceRmsProp`] are the same rules over flat parameter and
//! state slices (the runtime-sized core); both forms call one per-scalar update, so they agree
//! bit for bit.
//!
//! NaN contract: a NaN/∞ gradient propagates into the parameters and the state (no check in the
//! per-scalar loop); call [`check_finite`](super::check_finite) after `step` for a typed error.

use super::Layer;
use super::arch::check_len;
use crate::{Real, Result};

/// SGD with momentum μ and weight decay λ: g ← g + λθ; v ← μ v + g; θ ← θ − η v.
///
/// (PyTorch with dampening 0, no Nesterov; μ = 0 is plain SGD.)
#[derive(Clone, Debug)]
pub struct Sgd<T, L> {
    /// Learning rate η.
    pub lr: T,
    /// Momentum μ ∈ [0, 1).
    pub momentum: T,
    /// L2 weight decay λ ≥ 0.
    pub weight_decay: T,
    velocity: L,
}

impl<T: Real, L: Layer<T>> Sgd<T, L> {
    /// SGD for `net` with learning rate `lr`, no momentum, no weight decay.
    pub fn new(net: &L, lr: T) -> Self {
        Self { lr, momentum: T::ZERO, weight_decay: T::ZERO, velocity: net.zeros_like() }
    }

    /// One update of `net` with gradient `grads` (same type as the network).
    pub fn step(&mut self, net: &mut L, grads: &L) {
        let (lr, mom, wd) = (self.lr, self.momentum, self.weight_decay);
        net.zip_params1(grads, &mut self.velocity, &mut |p, g, v| sgd_update(lr, mom, wd, p, g, v));
    }
}

/// Adam (Kingma & Ba 2015) with L2 weight decay λ: g ← g + λθ; m ← β₁m + (1−β₁)g;
/// v ← β₂v + (1−β₂)g²; θ ← θ − η (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε), t = 1, 2, ….
///
/// Defaults (PyTorch): β₁ = 0.9, β₂ = 0.999, ε = 1e-8. WGAN-GP's algorithm uses η = 1e-4,
/// β₁ = 0, β₂ = 0.9.
#[derive(Clone, Debug)]
pub struct Adam<T, L> {
    /// Learning rate η.
    pub lr: T,
    /// Decay of the first-moment estimate β₁ ∈ [0, 1).
    pub beta1: T,
    /// Decay of the second-moment estimate β₂ ∈ [0, 1).
    pub beta2: T,
    /// Denominator guard ε > 0.
    pub eps: T,
    /// L2 weight decay λ ≥ 0.
    pub weight_decay: T,
    m: L,
    v: L,
    t: u32,
}

impl<T: Real, L: Layer<T>> Adam<T, L> {
    /// Adam for `net` with learning rate `lr` and PyTorch's defaults for the rest.
    pub fn new(net: &L, lr: T) -> Self {
        Self {
            lr,
            beta1: T::from_f64(0.9),
            beta2: T::from_f64(0.999),
            eps: T::from_f64(1e-8),
            weight_decay: T::ZERO,
            m: net.zeros_like(),
            v: net.zeros_like(),
            t: 0,
        }
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u32 {
        self.t
    }

    /// One update of `net` with gradient `grads`.
    pub fn step(&mut self, net: &mut L, grads: &L) {
        self.t = self.t.saturating_add(1);
        let c = AdamCoeffs::at(self.lr, self.beta1, self.beta2, self.eps, self.weight_decay, self.t);
        net.zip_params(grads, &mut self.m, &mut self.v, &mut |p, g, m, v| c.update(p, g, m, v));
    }
}

/// RMSProp (Tieleman & Hinton 2012) with L2 weight decay λ: g ← g + λθ;
/// s ← α s + (1−α) g²; θ ← θ − η g / (√s + ε).
///
/// Defaults (PyTorch): α = 0.99, ε = 1e-8. WGAN (Arjovsky et al. 2017) uses η = 5e-5.
#[derive(Clone, Debug)]
pub struct RmsProp<T, L> {
    /// Learning rate η.
    pub lr: T,
    /// Smoothing constant α ∈ [0, 1).
    pub alpha: T,
    /// Denominator guard ε > 0.
    pub eps: T,
    /// L2 weight decay λ ≥ 0.
    pub weight_decay: T,
    square_avg: L,
}

impl<T: Real, L: Layer<T>> RmsProp<T, L> {
    /// RMSProp for `net` with learning rate `lr` and PyTorch's defaults for the rest.
    pub fn new(net: &L, lr: T) -> Self {
        Self {
            lr,
            alpha: T::from_f64(0.99),
            eps: T::from_f64(1e-8),
            weight_decay: T::ZERO,
            square_avg: net.zeros_like(),
        }
    }

    /// One update of `net` with gradient `grads`.
    pub fn step(&mut self, net: &mut L, grads: &L) {
        let (lr, a, eps, wd) = (self.lr, self.alpha, self.eps, self.weight_decay);
        net.zip_params1(grads, &mut self.square_avg, &mut |p, g, s| rmsprop_update(lr, a, eps, wd, p, g, s));
    }
}

/// SGD's per-scalar rule (see [`Sgd`]): g ← g + λθ; v ← μ v + g; θ ← θ − η v.
#[inline(always)]
fn sgd_update<T: Real>(lr: T, mom: T, wd: T, p: &mut T, g: T, v: &mut T) {
    let g = g + wd * *p;
    *v = mom * *v + g;
    *p -= lr * *v;
}

/// RMSProp's per-scalar rule (see [`RmsProp`]): g ← g + λθ; s ← α s + (1−α) g²;
/// θ ← θ − η g / (√s + ε).
#[inline(always)]
fn rmsprop_update<T: Real>(lr: T, a: T, eps: T, wd: T, p: &mut T, g: T, s: &mut T) {
    let g = g + wd * *p;
    *s = a * *s + (T::ONE - a) * g * g;
    *p -= lr * g / (s.sqrt() + eps);
}

/// Adam's coefficients at step t (see [`Adam`]), shared by the fixed-size and slice forms.
#[derive(Clone, Copy)]
struct AdamCoeffs<T> {
    b1: T,
    b2: T,
    eps: T,
    wd: T,
    step_size: T,
    sqrt_bc2: T,
}

impl<T: Real> AdamCoeffs<T> {
    #[inline(always)]
    fn at(lr: T, b1: T, b2: T, eps: T, wd: T, t: u32) -> Self {
        let t = T::from_usize(t as usize);
        // Bias corrections as PyTorch applies them: step size η/(1−β₁ᵗ), denominator
        // √v/√(1−β₂ᵗ) + ε.
        let step_size = lr / (T::ONE - b1.powf(t));
        let sqrt_bc2 = (T::ONE - b2.powf(t)).sqrt();
        Self { b1, b2, eps, wd, step_size, sqrt_bc2 }
    }

    #[inline(always)]
    fn update(&self, p: &mut T, g: T, m: &mut T, v: &mut T) {
        let g = g + self.wd * *p;
        *m = self.b1 * *m + (T::ONE - self.b1) * g;
        *v = self.b2 * *v + (T::ONE - self.b2) * g * g;
        *p -= self.step_size * *m / (v.sqrt() / self.sqrt_bc2 + self.eps);
    }
}

/// Checks that every state slice has the parameters' length.
fn check_state<T>(params: &[T], grads: &[T], states: &[&[T]]) -> Result<()> {
    check_len("gradient", grads, params.len())?;
    for s in states {
        check_len("optimizer state", s, params.len())?;
    }
    Ok(())
}

/// [`Sgd`] over flat slices (the runtime-sized core): hyperparameters here, the velocity in a
/// caller slice of the parameters' length (zero to start).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SliceSgd<T> {
    /// Learning rate η.
    pub lr: T,
    /// Momentum μ ∈ [0, 1).
    pub momentum: T,
    /// L2 weight decay λ ≥ 0.
    pub weight_decay: T,
}

impl<T: Real> SliceSgd<T> {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: T) -> Self {
        Self { lr, momentum: T::ZERO, weight_decay: T::ZERO }
    }

    /// One update (rule of [`Sgd`]). Errors: `ShapeMismatch` when a slice's length differs from
    /// `params` (nothing changes).
    pub fn step(&self, params: &mut [T], grads: &[T], velocity: &mut [T]) -> Result<()> {
        check_state(params, grads, &[velocity])?;
        for ((p, g), v) in params.iter_mut().zip(grads).zip(velocity.iter_mut()) {
            sgd_update(self.lr, self.momentum, self.weight_decay, p, *g, v);
        }
        Ok(())
    }
}

/// [`Adam`] over flat slices: hyperparameters and step count here, the two moments in caller
/// slices of the parameters' length (zero to start). Same defaults and rule as [`Adam`], so
/// the two agree bit for bit.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SliceAdam<T> {
    /// Learning rate η.
    pub lr: T,
    /// β₁ ∈ [0, 1).
    pub beta1: T,
    /// β₂ ∈ [0, 1).
    pub beta2: T,
    /// ε > 0.
    pub eps: T,
    /// L2 weight decay λ ≥ 0.
    pub weight_decay: T,
    t: u32,
}

impl<T: Real> SliceAdam<T> {
    /// Adam with learning rate `lr` and PyTorch's defaults (β = (0.9, 0.999), ε = 1e-8).
    pub fn new(lr: T) -> Self {
        Self {
            lr,
            beta1: T::from_f64(0.9),
            beta2: T::from_f64(0.999),
            eps: T::from_f64(1e-8),
            weight_decay: T::ZERO,
            t: 0,
        }
    }

    /// Steps taken.
    pub fn steps(&self) -> u32 {
        self.t
    }

    /// Resumes at step count `t` (with the moments the caller saved).
    pub fn with_steps(mut self, t: u32) -> Self {
        self.t = t;
        self
    }

    /// One update (rule of [`Adam`]); `m`, `v` are the first and second moments.
    /// Errors: `ShapeMismatch` when a slice's length differs from `params` (nothing changes).
    pub fn step(&mut self, params: &mut [T], grads: &[T], m: &mut [T], v: &mut [T]) -> Result<()> {
        check_state(params, grads, &[m, v])?;
        self.t = self.t.saturating_add(1);
        let c = AdamCoeffs::at(self.lr, self.beta1, self.beta2, self.eps, self.weight_decay, self.t);
        for (((p, g), m), v) in params.iter_mut().zip(grads).zip(m.iter_mut()).zip(v.iter_mut()) {
            c.update(p, *g, m, v);
        }
        Ok(())
    }
}

/// [`RmsProp`] over flat slices: hyperparameters here, the mean square in a caller slice of the
/// parameters' length (zero to start).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SliceRmsProp<T> {
    /// Learning rate η.
    pub lr: T,
    /// Smoothing constant α ∈ [0, 1).
    pub alpha: T,
    /// ε > 0.
    pub eps: T,
    /// L2 weight decay λ ≥ 0.
    pub weight_decay: T,
}

impl<T: Real> SliceRmsProp<T> {
    /// RMSProp with learning rate `lr` and PyTorch's defaults (α = 0.99, ε = 1e-8).
    pub fn new(lr: T) -> Self {
        Self { lr, alpha: T::from_f64(0.99), eps: T::from_f64(1e-8), weight_decay: T::ZERO }
    }

    /// One update (rule of [`RmsProp`]). Errors: `ShapeMismatch` when a slice's length differs
    /// from `params` (nothing changes).
    pub fn step(&self, params: &mut [T], grads: &[T], square_avg: &mut [T]) -> Result<()> {
        check_state(params, grads, &[square_avg])?;
        for ((p, g), s) in params.iter_mut().zip(grads).zip(square_avg.iter_mut()) {
            rmsprop_update(self.lr, self.alpha, self.eps, self.weight_decay, p, *g, s);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Dense, Layer};
    use super::*;

    fn one(v: f64) -> Dense<f64, 1, 1> {
        Dense { w: [[v]], b: [0.0] }
    }

    #[test]
    fn sgd_momentum_and_weight_decay_by_hand() {
        let mut net = one(1.0);
        let mut opt = Sgd::new(&net, 0.1);
        opt.momentum = 0.9;
        opt.weight_decay = 0.5;
        // Step 1: g = 2 + 0.5·1 = 2.5, v = 2.5, θ = 1 − 0.25 = 0.75.
        opt.step(&mut net, &one(2.0));
        assert!((net.w[0][0] - 0.75).abs() < 1e-15);
        // Step 2: g = 2 + 0.375 = 2.375, v = 2.25 + 2.375 = 4.625, θ = 0.75 − 0.4625 = 0.2875.
        opt.step(&mut net, &one(2.0));
        assert!((net.w[0][0] - 0.2875).abs() < 1e-15);
    }

    #[test]
    fn adam_first_step_moves_by_learning_rate() {
        // m̂ = g and v̂ = g² after one step, so Δθ = −η g / (|g| + ε) ≈ −η sign g.
        let mut net = one(1.0);
        let mut opt = Adam::new(&net, 0.01);
        opt.step(&mut net, &one(-3.0));
        assert!((net.w[0][0] - (1.0 + 0.01 * 3.0 / (3.0 + 1e-8))).abs() < 1e-15);
        assert_eq!(opt.steps(), 1);
        // The bias (gradient 0) does not move.
        assert_eq!(net.b[0], 0.0);
    }

    #[test]
    fn rmsprop_first_step_by_hand() {
        // s = 0.01 g², Δθ = −η g / (0.1 |g| + ε) ≈ −10 η sign g.
        let mut net = one(0.0);
        let mut opt = RmsProp::new(&net, 1e-3);
        opt.step(&mut net, &one(4.0));
        assert!((net.w[0][0] + 1e-3 * 4.0 / (0.4 + 1e-8)).abs() < 1e-15);
    }

    #[test]
    fn every_optimizer_minimizes_a_quadratic() {
        // f(W, b) = ½ Σ (θ − c)², gradient θ − c; all three must reach c.
        let target = Dense::<f64, 2, 2> { w: [[1.0, -2.0], [0.5, 3.0]], b: [-1.0, 0.25] };
        let grad_of = |net: &Dense<f64, 2, 2>| {
            let mut g = *net;
            g.zip_params1(&target, &mut target.clone(), &mut |g, c, _| *g -= c);
            g
        };
        // Runs `iters` steps from 0 and returns the largest distance to the target.
        let minimize = |iters: usize, step: &mut dyn FnMut(&mut Dense<f64, 2, 2>, &Dense<f64, 2, 2>)| {
            let mut net = Dense::<f64, 2, 2>::zeros();
            for _ in 0..iters {
                let g = grad_of(&net);
                step(&mut net, &g);
            }
            let mut d: f64 = 0.0;
            let mut t = target;
            t.zip_params1(&net, &mut net.clone(), &mut |c, p, _| d = d.max((*c - p).abs()));
            d
        };
        let zeros = Dense::<f64, 2, 2>::zeros();
        let mut sgd = Sgd::new(&zeros, 0.1);
        sgd.momentum = 0.5;
        let d = minimize(200, &mut |n, g| sgd.step(n, g));
        assert!(d < 1e-9, "sgd {d}");
        let mut adam = Adam::new(&zeros, 0.05);
        let d = minimize(2000, &mut |n, g| adam.step(n, g));
        assert!(d < 1e-3, "adam {d}");
        let mut rms = RmsProp::new(&zeros, 0.01);
        let d = minimize(2000, &mut |n, g| rms.step(n, g));
        assert!(d < 2e-2, "rmsprop {d}");
    }

    #[test]
    fn slice_optimizers_equal_the_fixed_size_ones_bit_for_bit() {
        let net = Dense::<f64, 3, 2> { w: [[0.5, -1.0, 0.25], [2.0, 0.0, -0.75]], b: [0.1, -0.2] };
        let grads = [
            Dense::<f64, 3, 2> { w: [[0.3, -0.1, 2.0], [0.0, 1.5, -0.4]], b: [0.7, -0.05] },
            Dense::<f64, 3, 2> { w: [[-1.3, 0.2, 0.9], [0.6, -2.5, 0.01]], b: [-0.3, 0.45] },
        ];
        let flat = |d: &Dense<f64, 3, 2>| {
            let mut v = Vec::new();
            d.visit_params(&mut |p| v.push(p));
            v
        };
        let (mut a, mut b, mut c) = (net, net, net);
        let (mut fa, mut fb, mut fc) = (flat(&net), flat(&net), flat(&net));
        let mut adam = Adam::new(&a, 0.01);
        adam.weight_decay = 0.1;
        let mut sadam = SliceAdam::new(0.01);
        sadam.weight_decay = 0.1;
        let mut rms = RmsProp::new(&b, 0.01);
        let srms = SliceRmsProp::new(0.01);
        let mut sgd = Sgd::new(&c, 0.1);
        sgd.momentum = 0.9;
        let mut ssgd = SliceSgd::new(0.1);
        ssgd.momentum = 0.9;
        let (mut m, mut v, mut s, mut vel) = (vec![0.0; 8], vec![0.0; 8], vec![0.0; 8], vec![0.0; 8]);
        for g in &grads {
            let gf = flat(g);
            adam.step(&mut a, g);
            sadam.step(&mut fa, &gf, &mut m, &mut v).unwrap();
            rms.step(&mut b, g);
            srms.step(&mut fb, &gf, &mut s).unwrap();
            sgd.step(&mut c, g);
            ssgd.step(&mut fc, &gf, &mut vel).unwrap();
        }
        assert_eq!((flat(&a), flat(&b), flat(&c)), (fa.clone(), fb, fc));
        assert_eq!(sadam.steps(), 2);
        assert!(sadam.step(&mut fa, &[0.0; 7], &mut m, &mut v).is_err());
    }

    #[test]
    fn nan_gradient_propagates_to_parameters() {
        let mut net = one(1.0);
        let mut opt = Adam::new(&net, 0.01);
        opt.step(&mut net, &one(f64::NAN));
        assert!(net.w[0][0].is_nan());
        assert!(super::super::check_finite(&net).is_err());
    }
}
