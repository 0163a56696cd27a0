//! Runtime-shaped multilayer perceptrons on the CPU: a network is a list of the kernels'
//! [`LayerSpec`]s over one flat parameter slice, run by the kernels' runtime-sized core
//! (`crabmix_kernels::mlp::{arch, batch}`, docs/mlp-core.md): per layer W row-major
//! (outputs × inputs) then b, layers in order (`Layer::visit_params`). This module owns the
//! buffers the core asks for (transposed weights, activation cache, backward scratch) and adds
//! the WGAN-GP double backward at any depth.

use crabmix_kernels::mlp::batch;
use crabmix_kernels::mlp::init::init_params;
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

    /// The gradient penalty of a scalar-output network with piecewise-linear activations (the
    /// WGAN-GP critic), after [`Mlp::forward`] on `x`: for each row, u = ∇ₓD(x) and
    /// P = λ (‖u‖ − 1)²; adds `weight` · ∂P/∂W into `grads` and returns (Σ_rows P, Σ_rows ‖u‖).
    ///
    /// The double backward of `crabmix_kernels::models::wgan::gradient_penalty`, at any depth:
    /// δ_l = f′(p_l) ⊙ g_l with g_L = 1 and g_{l−1} = W_lᵀ δ_l gives u = g₀; then for
    /// r₀ = 2λ(‖u‖ − 1) u/‖u‖ and r_l = f′(p_l) ⊙ (W_l r_{l−1}): ∂P/∂W_l = δ_l r_{l−1}ᵀ, ∂P/∂b = 0
    /// (f″ = 0 away from the kinks, as PyTorch's double backward of LeakyReLU). r₀ = 0 at u = 0.
    pub fn penalty_backward(
        &self,
        params: &[f32],
        rows: usize,
        trace: &Trace,
        lambda: f32,
        weight: f32,
        grads: &mut [f32],
    ) -> (f64, f64) {
        let n = self.specs.len();
        let arch = self.arch();
        // z_l of row `row` in the core's cache, and W_l and its offset in `params`.
        let pre = |l: usize, row: usize| {
            let (z, _) = arch.cache_ranges(l, trace.rows).expect(SIZED);
            let o = self.specs[l].outputs;
            &trace.cache[z.start + row * o..z.start + (row + 1) * o]
        };
        let weights = |l: usize| arch.param_ranges(l).expect(SIZED).0;
        let (mut pen, mut norms) = (0.0f64, 0.0f64);
        let mut deltas: Vec<Vec<f32>> = vec![Vec::new(); n];
        let mut g: Vec<f32> = Vec::new();
        let mut r: Vec<f32> = Vec::new();
        let mut q: Vec<f32> = Vec::new();
        for row in 0..rows {
            g.clear();
            g.push(1.0);
            for l in (0..n).rev() {
                let s = self.specs[l];
                let w = &params[weights(l)];
                let d = &mut deltas[l];
                d.clear();
                d.extend(pre(l, row).iter().zip(&g).map(|(&p, &gv)| s.activation.derivative(p) * gv));
                g.clear();
                g.resize(s.inputs, 0.0);
                for o in 0..s.outputs {
                    axpy(&mut g, d[o], &w[o * s.inputs..(o + 1) * s.inputs]);
                }
            }
            let norm = dot(&g, &g).sqrt();
            let c = (norm - 1.0) * lambda;
            pen += (c * (norm - 1.0)) as f64;
            norms += norm as f64;
            let k = if norm > 0.0 { weight * 2.0 * c / norm } else { 0.0 };
            r.clear();
            r.extend(g.iter().map(|u| k * u));
            for l in 0..n {
                let s = self.specs[l];
                let wr = weights(l);
                let w = &params[wr.clone()];
                let gw = &mut grads[wr];
                for o in 0..s.outputs {
                    axpy(&mut gw[o * s.inputs..(o + 1) * s.inputs], deltas[l][o], &r);
                }
                if l + 1 < n {
                    let pre = pre(l, row);
                    q.clear();
                    q.extend((0..s.outputs).map(|o| {
                        s.activation.derivative(pre[o]) * dot(&w[o * s.inputs..(o + 1) * s.inputs], &r)
                    }));
                    std::mem::swap(&mut r, &mut q);
                }
            }
        }
        (pen, norms)
    }

    /// y = net(x) for `rows` rows (inference), with `wt` from [`Mlp::transpose`].
    pub fn predict(&self, params: &[f32], wt: &[f32], x: &[f32], rows: usize) -> Vec<f32> {
        let mut t = Trace::default();
        self.forward(params, wt, x, rows, &mut t);
        self.output(&t).to_vec()
    }
}

/// Σ a_i b_i in index order.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |s, (x, y)| s + x * y)
}

/// y += a x.
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crabmix_kernels::mlp::Layer;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// The penalty and its ∂P/∂θ equal the kernels' two-hidden-layer `gradient_penalty` at the
    /// same weights (to 1e-5: the dot products' summation order differs).
    #[test]
    fn penalty_equals_the_kernels_critic() {
        use crabmix_kernels::models::{critic_zeros, gradient_penalty};
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
        let mut c = critic_zeros::<f32, 3, 6>(0.2);
        c.init(Init::HeNormal, &mut rng);
        let mut flat = Vec::new();
        c.visit_params(&mut |p| flat.push(p));
        let net = Mlp::from_sizes(
            &[3, 6, 6, 1],
            ActivationKind::LeakyRelu { slope: 0.2 },
            ActivationKind::Identity,
        )
        .unwrap();
        let x = [0.4f32, -0.9, 1.3];
        let mut t = Trace::default();
        net.forward(&flat, &net.transpose(&flat), &x, 1, &mut t);
        let mut grads = vec![0.0; net.params()];
        let (p, norm) = net.penalty_backward(&flat, 1, &t, 10.0, 0.5, &mut grads);
        let mut cg = c.zeros_like();
        let (kp, knorm) = gradient_penalty(&c, &x, 10.0f32, 0.5, &mut cg);
        assert!(
            (p - kp as f64).abs() < 1e-4 * (1.0 + p.abs()) && (norm - knorm as f64).abs() < 1e-5,
            "{p} {kp} {norm} {knorm}"
        );
        let mut want = Vec::new();
        cg.visit_params(&mut |v| want.push(v));
        for (a, b) in grads.iter().zip(&want) {
            assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

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
