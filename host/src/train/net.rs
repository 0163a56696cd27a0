//! Runtime-shaped multilayer perceptrons on the CPU: a network is a list of [`DenseSpec`]s (the
//! device pipeline's layer description) over one flat parameter slice, in the crate's layout —
//! per layer W row-major (outputs × inputs), then b, layers in order (`Layer::visit_params`).
//!
//! Work is over a block of rows at once (row-major rows × width), so the inner loops run along
//! contiguous memory: forward y = f(W x + b) per row, backward ∂L/∂W += Σ_rows g xᵀ, ∂L/∂b +=
//! Σ_rows g, ∂L/∂x = Wᵀ g. Rows are visited in order, so a block's gradient is the crate's
//! sample-by-sample accumulation order; [`super::parallel`] fixes the block split.

pub use crate::device::mlp::DenseSpec;
pub use crate::device::traits::ActivationKind;
use crabmix_kernels::mlp::init::fill_weights;
use crabmix_kernels::mlp::{Activation, Identity, Init, LeakyRelu, Relu, Sigmoid, Softplus, Tanh};

/// A network's shape: consecutive layers' widths agree, every width ≥ 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    specs: Vec<DenseSpec>,
    offsets: Vec<usize>,
    params: usize,
}

/// What one forward pass over a block keeps for the backward pass: per layer, the
/// pre-activations and activations (rows × outputs each).
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pre: Vec<Vec<f32>>,
    post: Vec<Vec<f32>>,
    /// Scratch for the backward pass: ∂L/∂(pre-activation) and ∂L/∂(layer input).
    g_pre: Vec<f32>,
    g_in: Vec<f32>,
}

fn apply(act: ActivationKind, x: f32) -> f32 {
    match act {
        ActivationKind::Identity => Identity.apply(x),
        ActivationKind::Relu => Relu.apply(x),
        ActivationKind::LeakyRelu(s) => LeakyRelu { slope: s as f32 }.apply(x),
        ActivationKind::Tanh => Tanh.apply(x),
        ActivationKind::Sigmoid => Sigmoid.apply(x),
        ActivationKind::Softplus => Softplus.apply(x),
    }
}

/// f′(pre) for activation `act` (the kernels' definitions, NaN kept NaN).
pub fn derivative(act: ActivationKind, x: f32) -> f32 {
    match act {
        ActivationKind::Identity => Identity.derivative(x),
        ActivationKind::Relu => Relu.derivative(x),
        ActivationKind::LeakyRelu(s) => LeakyRelu { slope: s as f32 }.derivative(x),
        ActivationKind::Tanh => Tanh.derivative(x),
        ActivationKind::Sigmoid => Sigmoid.derivative(x),
        ActivationKind::Softplus => Softplus.derivative(x),
    }
}

/// Σ a_i b_i with eight running sums (so the loop vectorizes; the order is fixed, so the result
/// is the same on every run and thread count).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

#[inline]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

impl Mlp {
    /// A network of `specs`. Errors name the layer: no layers, a width 0, or a layer whose
    /// inputs differ from the previous layer's outputs.
    pub fn new(specs: Vec<DenseSpec>) -> Result<Self, String> {
        if specs.is_empty() {
            return Err("a network needs at least one layer".into());
        }
        let mut offsets = Vec::with_capacity(specs.len());
        let mut params = 0usize;
        for (l, s) in specs.iter().enumerate() {
            if s.inputs == 0 || s.outputs == 0 {
                return Err(format!("layer {}: width 0 ({} → {})", l + 1, s.inputs, s.outputs));
            }
            if l > 0 && specs[l - 1].outputs != s.inputs {
                return Err(format!(
                    "layer {}: {} inputs, the previous layer has {} outputs",
                    l + 1,
                    s.inputs,
                    specs[l - 1].outputs
                ));
            }
            offsets.push(params);
            params = s
                .params()
                .checked_add(params)
                .ok_or_else(|| format!("layer {}: parameter count overflows", l + 1))?;
        }
        Ok(Self { specs, offsets, params })
    }

    /// Widths `sizes[0] → sizes[1] → …`, `hidden` after every layer but the last, `last` after it.
    pub fn from_sizes(sizes: &[usize], hidden: ActivationKind, last: ActivationKind) -> Result<Self, String> {
        let n = sizes.len().saturating_sub(1);
        let specs = (0..n)
            .map(|l| DenseSpec::new(sizes[l], sizes[l + 1], if l + 1 == n { last } else { hidden }))
            .collect();
        Self::new(specs)
    }

    /// The layers.
    pub fn specs(&self) -> &[DenseSpec] {
        &self.specs
    }

    /// Trainable scalars: Σ outputs·(inputs + 1).
    pub fn params(&self) -> usize {
        self.params
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.specs[0].inputs
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.specs[self.specs.len() - 1].outputs
    }

    /// Fills `params` (length [`Mlp::params`]) with weights of `scheme` drawn layer by layer,
    /// W row-major, and zero biases (the crate's `Layer::init` order).
    pub fn init<R: rand_core::Rng + ?Sized>(&self, params: &mut [f32], scheme: Init, rng: &mut R) {
        for (s, &off) in self.specs.iter().zip(&self.offsets) {
            let nw = s.outputs * s.inputs;
            fill_weights(&mut params[off..off + nw], s.inputs, s.outputs, scheme, rng);
            params[off + nw..off + nw + s.outputs].fill(0.0);
        }
    }

    fn layer<'a>(&self, params: &'a [f32], l: usize) -> (&'a [f32], &'a [f32]) {
        let s = self.specs[l];
        let off = self.offsets[l];
        let nw = s.outputs * s.inputs;
        (&params[off..off + nw], &params[off + nw..off + nw + s.outputs])
    }

    /// Forward pass over `rows` rows of `x` (rows × inputs), keeping what backward needs in
    /// `trace`; the output is [`Mlp::output`].
    pub fn forward(&self, params: &[f32], x: &[f32], rows: usize, trace: &mut Trace) {
        trace.pre.resize_with(self.specs.len(), Vec::new);
        trace.post.resize_with(self.specs.len(), Vec::new);
        for l in 0..self.specs.len() {
            let s = self.specs[l];
            let (w, b) = self.layer(params, l);
            let (done, rest) = trace.post.split_at_mut(l);
            let input: &[f32] = if l == 0 { x } else { &done[l - 1] };
            let pre = &mut trace.pre[l];
            pre.clear();
            pre.resize(rows * s.outputs, 0.0);
            let post = &mut rest[0];
            post.clear();
            post.resize(rows * s.outputs, 0.0);
            for r in 0..rows {
                let xr = &input[r * s.inputs..(r + 1) * s.inputs];
                for o in 0..s.outputs {
                    let p = dot(&w[o * s.inputs..(o + 1) * s.inputs], xr) + b[o];
                    pre[r * s.outputs + o] = p;
                    post[r * s.outputs + o] = apply(s.act, p);
                }
            }
        }
    }

    /// The last forward pass's output (rows × outputs).
    pub fn output<'a>(&self, trace: &'a Trace) -> &'a [f32] {
        &trace.post[self.specs.len() - 1]
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
        let n = self.specs.len();
        let mut g_x = g_x;
        let mut g_next = std::mem::take(&mut trace.g_in);
        g_next.clear();
        g_next.extend_from_slice(g_out);
        let mut g_pre = std::mem::take(&mut trace.g_pre);
        for l in (0..n).rev() {
            let s = self.specs[l];
            let (w, _) = self.layer(params, l);
            let input: &[f32] = if l == 0 { x } else { &trace.post[l - 1] };
            g_pre.clear();
            g_pre.extend(trace.pre[l].iter().zip(&g_next).map(|(&p, &g)| match s.act {
                ActivationKind::Identity => g,
                a => derivative(a, p) * g,
            }));
            let off = self.offsets[l];
            let nw = s.outputs * s.inputs;
            let (gw, rest) = grads[off..off + nw + s.outputs].split_at_mut(nw);
            for r in 0..rows {
                let xr = &input[r * s.inputs..(r + 1) * s.inputs];
                let gr = &g_pre[r * s.outputs..(r + 1) * s.outputs];
                for o in 0..s.outputs {
                    axpy(&mut gw[o * s.inputs..(o + 1) * s.inputs], gr[o], xr);
                    rest[o] += gr[o];
                }
            }
            let want_input = l > 0 || g_x.is_some();
            if want_input {
                let target: &mut Vec<f32> = &mut g_next;
                target.clear();
                target.resize(rows * s.inputs, 0.0);
                for r in 0..rows {
                    let gr = &g_pre[r * s.outputs..(r + 1) * s.outputs];
                    let tr = &mut target[r * s.inputs..(r + 1) * s.inputs];
                    for o in 0..s.outputs {
                        axpy(tr, gr[o], &w[o * s.inputs..(o + 1) * s.inputs]);
                    }
                }
                if l == 0 {
                    if let Some(gx) = g_x.take() {
                        gx.copy_from_slice(&target[..rows * s.inputs]);
                    }
                }
            }
        }
        trace.g_in = g_next;
        trace.g_pre = g_pre;
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
                let (w, _) = self.layer(params, l);
                let pre = &trace.pre[l][row * s.outputs..(row + 1) * s.outputs];
                let d = &mut deltas[l];
                d.clear();
                d.extend(pre.iter().zip(&g).map(|(&p, &gv)| derivative(s.act, p) * gv));
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
                let (w, _) = self.layer(params, l);
                let off = self.offsets[l];
                let gw = &mut grads[off..off + s.outputs * s.inputs];
                for o in 0..s.outputs {
                    axpy(&mut gw[o * s.inputs..(o + 1) * s.inputs], deltas[l][o], &r);
                }
                if l + 1 < n {
                    let pre = &trace.pre[l][row * s.outputs..(row + 1) * s.outputs];
                    q.clear();
                    q.extend(
                        (0..s.outputs).map(|o| {
                            derivative(s.act, pre[o]) * dot(&w[o * s.inputs..(o + 1) * s.inputs], &r)
                        }),
                    );
                    std::mem::swap(&mut r, &mut q);
                }
            }
        }
        (pen, norms)
    }

    /// y = net(x) for one row (inference).
    pub fn predict(&self, params: &[f32], x: &[f32]) -> Vec<f32> {
        let mut t = Trace::default();
        self.forward(params, x, 1, &mut t);
        self.output(&t).to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crabmix_kernels::mlp::{Act, Dense, Layer, LeakyRelu};
    use crabmix_kernels::{chain, chain_type};
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    type Net = chain_type!(Dense<f32, 3, 5>, Act<LeakyRelu<f32>, 5>, Dense<f32, 5, 2>);

    /// The runtime network equals the kernels' const-generic chain at the same shape and weights:
    /// output, ∂L/∂θ summed over rows in order, and ∂L/∂x (the same operations in the same order,
    /// up to the dot product's eight-way split: compared to 1e-5).
    #[test]
    fn equals_the_const_generic_chain() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
        let mut c: Net = chain!(Dense::zeros(), Act(LeakyRelu { slope: 0.2 }), Dense::zeros());
        c.init(Init::HeNormal, &mut rng);
        c.for_each_param(&mut |p| *p += 0.01);
        let mut flat = Vec::new();
        c.visit_params(&mut |p| flat.push(p));
        let net =
            Mlp::from_sizes(&[3, 5, 2], ActivationKind::LeakyRelu(0.2), ActivationKind::Identity).unwrap();
        assert_eq!(net.params(), Net::PARAMS);
        let x = [0.3f32, -1.2, 0.7, 1.5, 0.1, -0.4];
        let g = [0.5f32, -1.0, 0.25, 2.0];
        let mut t = Trace::default();
        net.forward(&flat, &x, 2, &mut t);
        let mut grads = vec![0.0; net.params()];
        let mut gx = vec![0.0; 6];
        let out = net.output(&t).to_vec();
        net.backward(&flat, &x, 2, &mut t, &g, &mut grads, Some(&mut gx));
        let mut cg = c.zeros_like();
        for r in 0..2 {
            let xr: [f32; 3] = x[r * 3..r * 3 + 3].try_into().unwrap();
            let mut cache = c.new_cache_of();
            let y = c.forward(&xr, &mut cache);
            for o in 0..2 {
                assert!((y[o] - out[r * 2 + o]).abs() < 1e-5, "{y:?} vs {out:?}");
            }
            let dx = c.backward(&cache, &[g[r * 2], g[r * 2 + 1]], &mut cg);
            for i in 0..3 {
                assert!((dx[i] - gx[r * 3 + i]).abs() < 1e-5);
            }
        }
        let mut want = Vec::new();
        cg.visit_params(&mut |p| want.push(p));
        for (a, b) in grads.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

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
        let net =
            Mlp::from_sizes(&[3, 6, 6, 1], ActivationKind::LeakyRelu(0.2), ActivationKind::Identity).unwrap();
        let x = [0.4f32, -0.9, 1.3];
        let mut t = Trace::default();
        net.forward(&flat, &x, 1, &mut t);
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
            DenseSpec::new(3, 4, ActivationKind::Relu),
            DenseSpec::new(5, 1, ActivationKind::Identity),
        ])
        .unwrap_err();
        assert!(e.contains("layer 2: 5 inputs, the previous layer has 4"), "{e}");
        assert!(Mlp::from_sizes(&[3, 0, 1], ActivationKind::Relu, ActivationKind::Identity).is_err());
    }
}
