//! First-order optimizers: SGD with momentum and weight decay, Adam, RMSProp.
//!
//! Each keeps its state in values of the network's own type (made by [`Layer::zeros_like`]), so
//! nothing allocates, and updates every trainable scalar θ with its gradient g through
//! [`Layer::zip_params1`] / [`Layer::zip_params`]. Update rules and defaults are PyTorch's (`torch.optim.SGD`, `Adam`,
//! `RMSprop`), L2 weight decay included as g ← g + λθ, so fixtures from PyTorch apply directly.
//!
//! NaN contract: a NaN/∞ gradient propagates into the parameters and the state (no check in the
//! per-scalar loop); call [`check_finite`](super::check_finite) after `step` for a typed error.

use super::Layer;
use crate::Real;

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
        net.zip_params1(grads, &mut self.velocity, &mut |p, g, v| {
            let g = g + wd * *p;
            *v = mom * *v + g;
            *p -= lr * *v;
        });
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
        let t = T::from_usize(self.t as usize);
        let (b1, b2, eps, wd) = (self.beta1, self.beta2, self.eps, self.weight_decay);
        // Bias corrections as PyTorch applies them: step size η/(1−β₁ᵗ), denominator
        // √v/√(1−β₂ᵗ) + ε.
        let step_size = self.lr / (T::ONE - b1.powf(t));
        let sqrt_bc2 = (T::ONE - b2.powf(t)).sqrt();
        net.zip_params(grads, &mut self.m, &mut self.v, &mut |p, g, m, v| {
            let g = g + wd * *p;
            *m = b1 * *m + (T::ONE - b1) * g;
            *v = b2 * *v + (T::ONE - b2) * g * g;
            *p -= step_size * *m / (v.sqrt() / sqrt_bc2 + eps);
        });
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
        net.zip_params1(grads, &mut self.square_avg, &mut |p, g, s| {
            let g = g + wd * *p;
            *s = a * *s + (T::ONE - a) * g * g;
            *p -= lr * g / (s.sqrt() + eps);
        });
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
    fn nan_gradient_propagates_to_parameters() {
        let mut net = one(1.0);
        let mut opt = Adam::new(&net, 0.01);
        opt.step(&mut net, &one(f64::NAN));
        assert!(net.w[0][0].is_nan());
        assert!(super::super::check_finite(&net).is_err());
    }
}
