//! Optimizers over one flat parameter slice (a runtime-shaped network's), with the kernels'
//! update formulas and hyperparameters: Adam as `crabmix_kernels::mlp::optim::Adam::step`
//! (its step size and bias corrections from [`adam_step_scalars`]), RMSProp as
//! `RmsProp::step`.

use crate::device::traits::{DeviceAdam, adam_step_scalars, device_adam};

/// Adam over a flat slice: g ← g + λθ; m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
/// θ ← θ − η/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε).
#[derive(Clone, Debug)]
pub struct FlatAdam {
    /// Hyperparameters (the kernels' `Adam` fields).
    pub config: DeviceAdam<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    t: u32,
}

impl FlatAdam {
    /// Adam for `n` parameters with learning rate `lr`, betas (β₁, β₂), ε = 1e-8.
    pub fn new(n: usize, lr: f32, beta1: f32, beta2: f32) -> Self {
        let mut config = device_adam(lr);
        config.beta1 = beta1;
        config.beta2 = beta2;
        Self { config, m: vec![0.0; n], v: vec![0.0; n], t: 0 }
    }

    /// One update of `params` with gradient `grads` (same length as at construction).
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        self.t = self.t.saturating_add(1);
        let (step_size, sqrt_bc2) = adam_step_scalars(&self.config, self.t);
        let c = &self.config;
        let (b1, b2, eps, wd) = (c.beta1, c.beta2, c.eps, c.weight_decay);
        for (((p, &g), m), v) in params.iter_mut().zip(grads).zip(&mut self.m).zip(&mut self.v) {
            let g = g + wd * *p;
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p -= step_size * *m / (v.sqrt() / sqrt_bc2 + eps);
        }
    }
}

/// RMSProp over a flat slice: s ← αs + (1−α)g²; θ ← θ − η g / (√s + ε), α = 0.99, ε = 1e-8.
#[derive(Clone, Debug)]
pub struct FlatRmsProp {
    lr: f32,
    s: Vec<f32>,
}

impl FlatRmsProp {
    /// RMSProp for `n` parameters with learning rate `lr`.
    pub fn new(n: usize, lr: f32) -> Self {
        Self { lr, s: vec![0.0; n] }
    }

    /// One update of `params` with gradient `grads`.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        let (alpha, eps) = (0.99f32, 1e-8f32);
        for ((p, &g), s) in params.iter_mut().zip(grads).zip(&mut self.s) {
            *s = alpha * *s + (1.0 - alpha) * g * g;
            *p -= self.lr * g / (s.sqrt() + eps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crabmix_kernels::mlp::optim::{Adam, RmsProp};
    use crabmix_kernels::mlp::{Dense, Layer};

    /// Bit for bit the kernels' optimizers on a `Dense<f32, 2, 2>` (6 parameters) over 3 steps.
    #[test]
    fn equal_the_kernels_optimizers() {
        let mut net = Dense::<f32, 2, 2> { w: [[0.5, -1.0], [2.0, 0.25]], b: [0.1, -0.3] };
        let g = Dense::<f32, 2, 2> { w: [[0.3, -0.7], [1.1, 0.05]], b: [-0.2, 0.9] };
        let mut flat: Vec<f32> = Vec::new();
        net.visit_params(&mut |p| flat.push(p));
        let mut gf: Vec<f32> = Vec::new();
        g.visit_params(&mut |p| gf.push(p));
        let (mut net2, mut flat2) = (net, flat.clone());
        let mut a = Adam::new(&net, 1e-2f32);
        a.beta1 = 0.5;
        a.beta2 = 0.9;
        let mut fa = FlatAdam::new(6, 1e-2, 0.5, 0.9);
        let mut r = RmsProp::new(&net2, 5e-3f32);
        let mut fr = FlatRmsProp::new(6, 5e-3);
        for _ in 0..3 {
            a.step(&mut net, &g);
            fa.step(&mut flat, &gf);
            r.step(&mut net2, &g);
            fr.step(&mut flat2, &gf);
        }
        let mut want = Vec::new();
        net.visit_params(&mut |p| want.push(p.to_bits()));
        assert_eq!(flat.iter().map(|p| p.to_bits()).collect::<Vec<_>>(), want);
        let mut want2 = Vec::new();
        net2.visit_params(&mut |p| want2.push(p.to_bits()));
        assert_eq!(flat2.iter().map(|p| p.to_bits()).collect::<Vec<_>>(), want2);
    }
}
