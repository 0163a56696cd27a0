//! Adam state for one flat parameter vector (the VAE's): the kernels' `SliceAdam` (the fixed-size
//! `Adam`'s rule bit for bit) with the two moments it asks the caller to own. The WGAN uses the
//! kernels' `wgan_net::SliceOptimizer` the same way.

use crabmix_kernels::mlp::optim::SliceAdam;

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
