//! Runtime-shaped multilayer perceptrons on the CPU: a network is a list of the kernels'
//! [`LayerSpec`]s over one flat parameter slice, run by the kernels' runtime-sized core
//! (`crabmix_kernels::mlp::{arch, batch}`, docs/mlp-core.md): per layer W row-major
//! (outputs × inputs) then b, layers in order (`Layer::visit_params`). This module owns the
//! buffers the core asks for (transposed weights, activation cache, backward scratch).

use crabmix_kernels::mlp::batch;
use crabmix_kernels::mlp::batch::init_params;
pub use crabmix_kernels::mlp::{ActivationKind, Architecture, Init, LayerSpec};

/// A network's shape: consecutive layers' widths agree, every width ≥ 1 (checked by
/// [`Architecture::new`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    specs: Vec<LayerSpec<f32>>,
    params: usize,
    weights: usize,
}

/// What one forward pass over a block keeps for the backward pass (the core's activation
/// cache), and the backward scratch; sized on first use, reused after.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    cache: Vec<f32>,
    work: Vec<f32>,
    rows: usize,
}

/// The message for a kernels error on buffers this module sized: a bug, not bad input.
const SIZED: &str = "buffers sized from the architecture";

impl Mlp {
    /// A network of `specs`. Errors name the layer (1-based): no layers, a width 0, or a layer
    /// whose inputs differ from the previous layer's outputs.
    pub fn new(specs: Vec<LayerSpec<f32>>) -> Result<Self, String> {
        let (params, weights) = match Architecture::new(&specs) {
            Ok(a) => (a.params_len(), a.weights_len()),
            Err(crabmix_kernels::Error::InvalidLayer { layer, reason }) => {
                let s = specs[layer];
                return Err(format!("layer {} ({} → {}): {reason}", layer + 1, s.inputs, s.outputs));
            }
            Err(e) => return Err(format!("network: {e}")),
        };
        Ok(Self { specs, params, weights })
    }

    /// Widths `sizes[0] → sizes[1] → …`, `hidden` after every layer but the last, `last` after it.
    pub fn from_sizes(
        sizes: &[usize],
        hidden: ActivationKind<f32>,
        last: ActivationKind<f32>,
    ) -> Result<Self, String> {
        let n = sizes.len().saturating_sub(1);
        let specs = (0..n)
            .map(|l| LayerSpec::new(sizes[l], sizes[l + 1], if l + 1 == n { last } else { hidden }))
            .collect();
        Self::new(specs)
    }

    /// The core's view of the layers.
    pub fn arch(&self) -> Architecture<'_, f32> {
        Architecture::new(&self.specs).expect("validated in Mlp::new")
    }

    /// The layers.
    pub fn specs(&self) -> &[LayerSpec<f32>] {
        &self.specs
    }

    /// Trainable scalars: Σ outputs·(inputs + 1).
    pub fn params(&self) -> usize {
        self.params
    }

    /// Length of the transposed weights [`Mlp::transpose`] writes: Σ outputs·inputs.
    pub fn weights_len(&self) -> usize {
        self.weights
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.specs[0].inputs
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.specs[self.specs.len() - 1].outputs
    }

    /// Fills `params` (length [`Mlp::params`]) with weights of `scheme` drawn layer by layer and
    /// zero biases (the crate's `Layer::init` order).
    pub fn init<R: rand_core::Rng + ?Sized>(&self, params: &mut [f32], scheme: Init, rng: &mut R) {
        init_params(&self.arch(), params, scheme, rng).expect(SIZED);
    }

    /// Wᵀ of every layer, which [`Mlp::forward`] reads: call after every change of `params`.
    pub fn transpose(&self, params: &[f32]) -> Vec<f32> {
        let mut wt = vec![0.0; self.weights];
        batch::transpose_weights(&self.arch(), params, &mut wt).expect(SIZED);
        wt
    }

    /// Forward pass over `rows` rows of `x` (rows × inputs), keeping what backward needs in
    /// `trace`; the output is [`Mlp::output`].
    pub fn forward(&self, params: &[f32], wt: &[f32], x: &[f32], rows: usize, trace: &mut Trace) {
        let arch = self.arch();
        let need = arch.cache_len(rows).expect(SIZED);
        if trace.cache.len() < need {
            trace.cache.resize(need, 0.0);
        }
        trace.rows = rows;
        batch::forward(&arch, params, wt, x, rows, &mut trace.cache).expect(SIZED);
    }

    /// The last forward pass's output (rows × outputs).
    pub fn output<'a>(&self, trace: &'a Trace) -> &'a [f32] {
        self.arch().output(&trace.cache, trace.rows).expect(SIZED)
    }

    /// Backward pass for ∂L/∂output = `g_out` (rows × outputs) after [`Mlp::forward`] on the same
    /// `x`: adds ∂L/∂θ into `grads` (length [`Mlp::params`]) and, when given, writes ∂L/∂x into
    /// `g_x` (rows × inputs).
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        params: &[f32],
        x: &[f32],
        rows: usize,
        trace: &mut Trace,
        g_out: &[f32],
        grads: &mut [f32],
        g_x: Option<&mut [f32]>,
    ) {
        let arch = self.arch();
        let need = arch.work_len(rows).expect(SIZED);
        if trace.work.len() < need {
            trace.work.resize(need, 0.0);
        }
        batch::backward(&arch, params, x, rows, &trace.cache, g_out, grads, g_x, &mut trace.work)
            .expect(SIZED);
    }

    /// y = net(x) for `rows` rows (inference), with `wt` from [`Mlp::transpose`].
    pub fn predict(&self, params: &[f32], wt: &[f32], x: &[f32], rows: usize) -> Vec<f32> {
        let mut t = Trace::default();
        self.forward(params, wt, x, rows, &mut t);
        self.output(&t).to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inconsistent_widths_are_named() {
        let e = Mlp::new(vec![
            LayerSpec::new(3, 4, ActivationKind::Relu),
            LayerSpec::new(5, 1, ActivationKind::Identity),
        ])
        .unwrap_err();
        assert!(e.contains("layer 2 (5 → 1): inputs differ"), "{e}");
        assert!(Mlp::from_sizes(&[3, 0, 1], ActivationKind::Relu, ActivationKind::Identity).is_err());
    }
}
