//! Optimizer state for one flat parameter vector: the kernels' slice optimizers
//! (`SliceAdam`, `SliceRmsProp`, the fixed-size types' rules bit for bit) with the moments they
//! ask the caller to own.

use crabmix_kernels::mlp::optim::{SliceAdam, SliceRmsProp};

/// The message for a kernels error on buffers sized here: a bug, not bad input.
const SIZED: &str = "moments sized to the parameters";

/// Adam over a flat slice (θ ← θ − η/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)), ε = 1e-8.
#[derive(Clone, Debug)]
pub struct FlatAdam {
    /// Hyperparameters and step count.
    pub config: SliceAdam<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl FlatAdam {
    /// Adam for `n` parameters with learning rate `lr`, betas (β₁, β₂).
    pub fn new(n: usize, lr: f32, beta1: f32, beta2: f32) -> Self {
        let mut config = SliceAdam::new(lr);
        config.beta1 = beta1;
        config.beta2 = beta2;
        Self { config, m: vec![0.0; n], v: vec![0.0; n] }
    }

    /// One update of `params` with gradient `grads` (both of the length given to `new`).
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        self.config.step(params, grads, &mut self.m, &mut self.v).expect(SIZED);
    }
}

/// RMSProp over a flat slice (s ← αs + (1−α)g²; θ ← θ − η g / (√s + ε)), α = 0.99, ε = 1e-8.
#[derive(Clone, Debug)]
pub struct FlatRmsProp {
    config: SliceRmsProp<f32>,
    s: Vec<f32>,
}

impl FlatRmsProp {
    /// RMSProp for `n` parameters with learning rate `lr`.
    pub fn new(n: usize, lr: f32) -> Self {
        Self { config: SliceRmsProp::new(lr), s: vec![0.0; n] }
    }

    /// One update of `params` with gradient `grads`.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        self.config.step(params, grads, &mut self.s).expect(SIZED);
    }
}
