//! The runtime description of a network: a caller's slice of [`LayerSpec`]s (dense layer +
//! activation), validated once into an [`Architecture`] that says how long every buffer of the
//! runtime-sized core ([`batch`](super::batch)) must be.
//!
//! Flat parameter layout (the same order as [`Layer::visit_params`](super::Layer::visit_params)
//! of the const-generic `chain!(Dense, Act, Dense, …)`): for each layer l in order, its weights
//! W_l ∈ ℝ^{out×in} row-major (`W[o][i]` at `o·in + i`), then its biases b_l ∈ ℝ^{out}.

use super::activation::{Activation, Identity, LeakyRelu, Relu, Sigmoid, Softplus, Tanh};
use crate::{Error, Real, Result};
use core::ops::Range;

/// An element-wise activation chosen at run time; the same functions as the const-generic
/// [`Activation`] types (each variant calls its type's `apply`/`derivative`, so values agree bit
/// for bit).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ActivationKind<T> {
    /// f(x) = x.
    Identity,
    /// f(x) = max(x, 0).
    Relu,
    /// f(x) = x for x > 0, `slope`·x otherwise.
    LeakyRelu {
        /// Slope for x ≤ 0.
        slope: T,
    },
    /// f(x) = tanh x.
    Tanh,
    /// f(x) = 1 / (1 + e⁻ˣ).
    Sigmoid,
    /// f(x) = ln(1 + eˣ).
    Softplus,
}

impl<T: Real> ActivationKind<T> {
    /// f(x) (see the variants).
    #[inline(always)]
    pub fn apply(self, x: T) -> T {
        match self {
            ActivationKind::Identity => Identity.apply(x),
            ActivationKind::Relu => Relu.apply(x),
            ActivationKind::LeakyRelu { slope } => LeakyRelu { slope }.apply(x),
            ActivationKind::Tanh => Tanh.apply(x),
            ActivationKind::Sigmoid => Sigmoid.apply(x),
            ActivationKind::Softplus => Softplus.apply(x),
        }
    }

    /// f′(x) (NaN → NaN, as the const-generic types).
    #[inline(always)]
    pub fn derivative(self, x: T) -> T {
        match self {
            ActivationKind::Identity => Identity.derivative(x),
            ActivationKind::Relu => Relu.derivative(x),
            ActivationKind::LeakyRelu { slope } => LeakyRelu { slope }.derivative(x),
            ActivationKind::Tanh => Tanh.derivative(x),
            ActivationKind::Sigmoid => Sigmoid.derivative(x),
            ActivationKind::Softplus => Softplus.derivative(x),
        }
    }

    /// True when f″ = 0 away from finitely many kinks (identity, ReLU, leaky ReLU): the
    /// gradient penalty's closed-form double backward needs this.
    pub fn is_piecewise_linear(self) -> bool {
        matches!(self, ActivationKind::Identity | ActivationKind::Relu | ActivationKind::LeakyRelu { .. })
    }
}

/// One dense layer y = f(W x + b) with W ∈ ℝ^{outputs×inputs}.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LayerSpec<T> {
    /// Input width (the previous layer's `outputs`).
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// f, applied to every output.
    pub activation: ActivationKind<T>,
}

impl<T> LayerSpec<T> {
    /// A layer `inputs → outputs` with activation `activation`.
    pub const fn new(inputs: usize, outputs: usize, activation: ActivationKind<T>) -> Self {
        Self { inputs, outputs, activation }
    }

    /// Weights plus biases: outputs·inputs + outputs.
    pub const fn params(&self) -> usize {
        self.outputs * self.inputs + self.outputs
    }
}

/// A validated network description over the caller's layer slice.
///
/// Invariants (checked by [`Architecture::new`]): at least one layer; every width ≥ 1; layer
/// l + 1 reads what layer l writes; every length helper fits in `usize` for batch 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Architecture<'a, T> {
    layers: &'a [LayerSpec<T>],
    params: usize,
    weights: usize,
    units: usize,
    max_width: usize,
}

impl<'a, T: Real> Architecture<'a, T> {
    /// Validates `layers`.
    ///
    /// Errors: `EmptyData` for no layers; `InvalidLayer { layer, .. }` for a zero width, inputs
    /// that differ from the previous outputs, or a parameter count that overflows `usize`.
    pub fn new(layers: &'a [LayerSpec<T>]) -> Result<Self> {
        if layers.is_empty() {
            return Err(Error::EmptyData);
        }
        let (mut params, mut weights, mut units, mut max_width) = (0usize, 0usize, 0usize, 0usize);
        for (l, spec) in layers.iter().enumerate() {
            if spec.inputs == 0 || spec.outputs == 0 {
                return Err(Error::InvalidLayer {
                    layer: l,
                    reason: "a layer needs at least one input and one output",
                });
            }
            if l > 0 && spec.inputs != layers[l - 1].outputs {
                return Err(Error::InvalidLayer {
                    layer: l,
                    reason: "inputs differ from the previous layer's outputs",
                });
            }
            let overflow = Error::InvalidLayer { layer: l, reason: "parameter count overflows usize" };
            let w = spec.outputs.checked_mul(spec.inputs).ok_or(overflow)?;
            weights = weights.checked_add(w).ok_or(overflow)?;
            params = params.checked_add(w).and_then(|p| p.checked_add(spec.outputs)).ok_or(overflow)?;
            units = units.checked_add(spec.outputs).ok_or(overflow)?;
            max_width = max_width.max(spec.inputs).max(spec.outputs);
        }
        // 2·units per row of cache; checked here so that batch 1 never overflows.
        units
            .checked_mul(2)
            .ok_or(Error::InvalidLayer { layer: layers.len() - 1, reason: "too many units" })?;
        Ok(Self { layers, params, weights, units, max_width })
    }

    /// The layers.
    pub fn layers(&self) -> &'a [LayerSpec<T>] {
        self.layers
    }

    /// Input width of the network (layer 0's `inputs`).
    pub fn inputs(&self) -> usize {
        self.layers[0].inputs
    }

    /// Output width of the network (the last layer's `outputs`).
    pub fn outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].outputs
    }

    /// Length of a parameter, gradient or optimizer-moment slice: Σ_l (out_l·in_l + out_l).
    pub fn params_len(&self) -> usize {
        self.params
    }

    /// Length of the transposed-weight slice [`transpose_weights`](super::batch::transpose_weights)
    /// fills: Σ_l out_l·in_l.
    pub fn weights_len(&self) -> usize {
        self.weights
    }

    /// The widest layer input or output (max over l of in_l, out_l).
    pub fn max_width(&self) -> usize {
        self.max_width
    }

    /// Length of the activation cache for `rows` rows: rows · 2 Σ_l out_l (each layer's
    /// pre-activation z_l and activation a_l, rows × out_l each).
    ///
    /// Errors: `CapacityExceeded` when it overflows `usize`.
    pub fn cache_len(&self, rows: usize) -> Result<usize> {
        (2 * self.units).checked_mul(rows).ok_or(Error::CapacityExceeded {
            what: "activation cache",
            capacity: usize::MAX,
            requested: rows,
        })
    }

    /// Length of the backward scratch for `rows` rows: rows · 2 · [`max_width`](Self::max_width).
    ///
    /// Errors: `CapacityExceeded` when it overflows `usize`.
    pub fn work_len(&self, rows: usize) -> Result<usize> {
        self.max_width.checked_mul(2).and_then(|w| w.checked_mul(rows)).ok_or(Error::CapacityExceeded {
            what: "backward scratch",
            capacity: usize::MAX,
            requested: rows,
        })
    }

    /// Where layer `l`'s weights and biases lie in the parameter slice (`None` past the last
    /// layer).
    pub fn param_ranges(&self, l: usize) -> Option<(Range<usize>, Range<usize>)> {
        let spec = self.layers.get(l)?;
        let start: usize = self.layers[..l].iter().map(LayerSpec::params).sum();
        let w_end = start + spec.outputs * spec.inputs;
        Some((start..w_end, w_end..w_end + spec.outputs))
    }

    /// Where layer `l`'s z_l and a_l lie in a cache of `rows` rows (`None` past the last layer).
    pub fn cache_ranges(&self, l: usize, rows: usize) -> Option<(Range<usize>, Range<usize>)> {
        let spec = self.layers.get(l)?;
        let start: usize = self.layers[..l].iter().map(|s| 2 * s.outputs * rows).sum();
        let n = spec.outputs * rows;
        Some((start..start + n, start + n..start + 2 * n))
    }

    /// The network output a_L inside a cache of `rows` rows (rows × outputs, row-major).
    pub fn output<'c>(&self, cache: &'c [T], rows: usize) -> Result<&'c [T]> {
        let (_, a) = self.cache_ranges(self.layers.len() - 1, rows).ok_or(Error::EmptyData)?;
        cache.get(a.clone()).ok_or(Error::ShapeMismatch {
            what: "activation cache",
            expected: a.end,
            found: cache.len(),
        })
    }
}

/// `Ok(())` when `slice` has exactly `expected` entries, else `ShapeMismatch` naming `what`.
#[inline]
pub(crate) fn check_len<T>(what: &'static str, slice: &[T], expected: usize) -> Result<()> {
    if slice.len() == expected {
        Ok(())
    } else {
        Err(Error::ShapeMismatch { what, expected, found: slice.len() })
    }
}

/// `Ok(())` when `slice` has at least `expected` entries, else `ShapeMismatch` naming `what`.
#[inline]
pub(crate) fn check_min_len<T>(what: &'static str, slice: &[T], expected: usize) -> Result<()> {
    if slice.len() >= expected {
        Ok(())
    } else {
        Err(Error::ShapeMismatch { what, expected, found: slice.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: [LayerSpec<f64>; 3] = [
        LayerSpec::new(30, 64, ActivationKind::Relu),
        LayerSpec::new(64, 32, ActivationKind::Tanh),
        LayerSpec::new(32, 8, ActivationKind::Identity),
    ];

    #[test]
    fn lengths_follow_the_layout() {
        let a = Architecture::new(&L).unwrap();
        assert_eq!(a.params_len(), 30 * 64 + 64 + 64 * 32 + 32 + 32 * 8 + 8);
        assert_eq!(a.weights_len(), 30 * 64 + 64 * 32 + 32 * 8);
        assert_eq!((a.inputs(), a.outputs(), a.max_width()), (30, 8, 64));
        assert_eq!(a.cache_len(5), Ok(5 * 2 * (64 + 32 + 8)));
        assert_eq!(a.work_len(5), Ok(5 * 2 * 64));
        assert_eq!(a.param_ranges(1), Some((1984..1984 + 2048, 4032..4064)));
        assert_eq!(a.param_ranges(3), None);
        assert_eq!(a.cache_ranges(1, 2), Some((256..320, 320..384)));
        assert!(a.cache_len(usize::MAX).is_err());
    }

    #[test]
    fn inconsistent_layers_are_typed_errors_naming_the_layer() {
        assert_eq!(Architecture::<f64>::new(&[]), Err(Error::EmptyData));
        let zero = [LayerSpec::new(3, 0, ActivationKind::<f64>::Relu)];
        assert!(matches!(Architecture::new(&zero), Err(Error::InvalidLayer { layer: 0, .. })));
        let gap = [
            LayerSpec::new(3, 4, ActivationKind::<f64>::Relu),
            LayerSpec::new(5, 1, ActivationKind::Identity),
        ];
        assert!(matches!(Architecture::new(&gap), Err(Error::InvalidLayer { layer: 1, .. })));
        let huge = [LayerSpec::new(usize::MAX / 2, 4, ActivationKind::<f64>::Relu)];
        assert!(matches!(Architecture::new(&huge), Err(Error::InvalidLayer { layer: 0, .. })));
    }
}
