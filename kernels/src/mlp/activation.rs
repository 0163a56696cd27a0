//! Element-wise activations and the parameter-free layer [`Act`] that applies one.
//!
//! The layer's cache is its input x; `backward` evaluates f′(x) from it. Why x and not f(x):
//! one buffer serves every activation (softplus′ and leaky ReLU′ need x), and recomputing tanh or
//! the logistic in backward costs one transcendental per unit, small against the IN·OUT
//! multiply-adds of the dense layers around it.
//!
//! NaN contract: every `apply` and `derivative` maps NaN to NaN (ReLU included: it is written so
//! that a NaN input is not silently clamped to 0); ±∞ give the limits.

use super::{Init, Layer};
use crate::Real;
use core::fmt::Debug;
use rand_core::Rng;

/// A scalar activation f with its derivative.
pub trait Activation<T: Real>: Copy + Debug {
    /// f(x).
    fn apply(&self, x: T) -> T;
    /// f′(x).
    fn derivative(&self, x: T) -> T;
}

/// f(x) = x, f′ = 1.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Identity;

/// f(x) = max(x, 0); f′(x) = 1 for x > 0, 0 for x ≤ 0 (PyTorch's convention at 0).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Relu;

/// f(x) = x for x > 0, `slope`·x otherwise; f′ = 1 or `slope` (`slope` at 0, as PyTorch).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LeakyRelu<T> {
    /// Slope for x ≤ 0 (PyTorch's default is 0.01; WGAN critics often use 0.2).
    pub slope: T,
}

/// f(x) = tanh x, f′ = 1 − tanh² x.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tanh;

/// Logistic f(x) = 1 / (1 + e⁻ˣ), f′ = f (1 − f); evaluated without overflow for any x.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sigmoid;

/// f(x) = ln(1 + eˣ) = max(x, 0) + ln(1 + e^{−|x|}) (no overflow), f′ = logistic(x).
///
/// Unlike PyTorch's `Softplus` there is no linear cut-over above x = 20; the stable form needs
/// none, and the two differ there by < 2.1e-9.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Softplus;

/// Logistic function, stable for large |x|: e^{−|x|} never overflows. NaN → NaN.
#[inline]
pub fn logistic<T: Real>(x: T) -> T {
    if x >= T::ZERO {
        T::ONE / (T::ONE + (-x).exp())
    } else {
        // Also the NaN branch: e^NaN = NaN.
        let e = x.exp();
        e / (T::ONE + e)
    }
}

impl<T: Real> Activation<T> for Identity {
    #[inline]
    fn apply(&self, x: T) -> T {
        x
    }
    #[inline]
    fn derivative(&self, x: T) -> T {
        // Unordered with itself only when NaN: keep NaN a NaN.
        if x.partial_cmp(&x).is_none() { x } else { T::ONE }
    }
}

impl<T: Real> Activation<T> for Relu {
    #[inline]
    fn apply(&self, x: T) -> T {
        if x < T::ZERO { T::ZERO } else { x }
    }
    #[inline]
    fn derivative(&self, x: T) -> T {
        if x > T::ZERO {
            T::ONE
        } else if x <= T::ZERO {
            T::ZERO
        } else {
            x
        }
    }
}

impl<T: Real> Activation<T> for LeakyRelu<T> {
    #[inline]
    fn apply(&self, x: T) -> T {
        if x > T::ZERO { x } else { self.slope * x }
    }
    #[inline]
    fn derivative(&self, x: T) -> T {
        if x > T::ZERO {
            T::ONE
        } else if x <= T::ZERO {
            self.slope
        } else {
            x
        }
    }
}

impl<T: Real> Activation<T> for Tanh {
    #[inline]
    fn apply(&self, x: T) -> T {
        x.tanh()
    }
    #[inline]
    fn derivative(&self, x: T) -> T {
        let t = x.tanh();
        T::ONE - t * t
    }
}

impl<T: Real> Activation<T> for Sigmoid {
    #[inline]
    fn apply(&self, x: T) -> T {
        logistic(x)
    }
    #[inline]
    fn derivative(&self, x: T) -> T {
        let s = logistic(x);
        s * (T::ONE - s)
    }
}

impl<T: Real> Activation<T> for Softplus {
    #[inline]
    fn apply(&self, x: T) -> T {
        let pos = if x > T::ZERO { x } else { T::ZERO };
        pos + (-x.abs()).exp().ln_1p()
    }
    #[inline]
    fn derivative(&self, x: T) -> T {
        logistic(x)
    }
}

/// The layer applying activation `F` to each of `N` units; no trainable parameters.
///
/// Forward y_k = f(x_k), backward ∂L/∂x_k = f′(x_k) ∂L/∂y_k; the cache is x.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Act<F, const N: usize>(pub F);

impl<T: Real, F: Activation<T>, const N: usize> Layer<T> for Act<F, N> {
    type Input = [T; N];
    type Output = [T; N];
    type Cache = [T; N];
    const PARAMS: usize = 0;

    fn new_cache() -> Self::Cache {
        [T::ZERO; N]
    }
    #[inline]
    fn forward(&self, x: &[T; N], cache: &mut [T; N]) -> [T; N] {
        *cache = *x;
        self.predict(x)
    }
    #[inline]
    fn predict(&self, x: &[T; N]) -> [T; N] {
        x.map(|v| self.0.apply(v))
    }
    #[inline]
    fn backward(&self, x: &[T; N], g: &[T; N], _grads: &mut Self) -> [T; N] {
        let mut gx = *g;
        for (gi, xi) in gx.iter_mut().zip(x.iter()) {
            *gi *= self.0.derivative(*xi);
        }
        gx
    }
    fn zeros_like(&self) -> Self {
        *self
    }
    fn for_each_param(&mut self, _f: &mut impl FnMut(&mut T)) {}
    fn visit_params(&self, _f: &mut impl FnMut(T)) {}
    fn zip_params(
        &mut self,
        _grads: &Self,
        _s1: &mut Self,
        _s2: &mut Self,
        _f: &mut impl FnMut(&mut T, T, &mut T, &mut T),
    ) {
    }
    fn zip_params1(&mut self, _g: &Self, _s: &mut Self, _f: &mut impl FnMut(&mut T, T, &mut T)) {}
    fn init<R: Rng + ?Sized>(&mut self, _scheme: Init, _rng: &mut R) {}
}

#[cfg(test)]
mod tests {
    use super::super::testutil::max_gradient_error;
    use super::*;

    /// Points away from the kinks of ReLU / leaky ReLU (finite differences are invalid there).
    const XS: [f64; 8] = [-3.1, -1.2, -0.4, -0.05, 0.07, 0.6, 1.9, 4.2];

    fn check<F: Activation<f64>>(f: F) {
        // Scalar derivative by central differences …
        for x in XS {
            let h = 1e-6;
            let numeric = (f.apply(x + h) - f.apply(x - h)) / (2.0 * h);
            assert!((f.derivative(x) - numeric).abs() < 1e-8, "{f:?} at {x}");
        }
        // … and the layer's input gradient through the shared checker.
        let err = max_gradient_error(&Act::<F, 8>(f), &XS);
        assert!(err < 1e-8, "{f:?}: {err}");
        assert!(f.apply(f64::NAN).is_nan(), "{f:?} must keep NaN");
        assert!(f.derivative(f64::NAN).is_nan(), "{f:?}′ must keep NaN");
    }

    #[test]
    fn every_activation_passes_gradient_check() {
        check(Identity);
        check(Relu);
        check(LeakyRelu { slope: 0.2 });
        check(Tanh);
        check(Sigmoid);
        check(Softplus);
    }

    #[test]
    fn known_values_and_extremes() {
        assert_eq!(Relu.apply(-2.0), 0.0);
        assert_eq!(Relu.derivative(0.0), 0.0);
        assert_eq!(LeakyRelu { slope: 0.2 }.apply(-2.0), -0.4);
        assert_eq!(LeakyRelu { slope: 0.2 }.derivative(0.0), 0.2);
        assert_eq!(Sigmoid.apply(0.0), 0.5);
        // ln 2 = 0.693147180559945309… (softplus(0)).
        assert!((Softplus.apply(0.0) - core::f64::consts::LN_2).abs() < 1e-16);
        // No overflow: softplus(1000) = 1000, logistic(±1000) = 1, 0.
        assert_eq!(Softplus.apply(1000.0), 1000.0);
        assert_eq!(Softplus.apply(-1000.0f32), 0.0);
        assert_eq!(Sigmoid.apply(1000.0), 1.0);
        assert_eq!(Sigmoid.apply(-1000.0), 0.0);
        assert_eq!(Sigmoid.derivative(-1000.0f32), 0.0);
        assert_eq!(Tanh.apply(f64::INFINITY), 1.0);
        // softplus(−30) = ln(1 + e⁻³⁰) ≈ e⁻³⁰ to full relative precision (no 1 + tiny rounding).
        assert!((Softplus.apply(-30.0) / (-30.0f64).exp() - 1.0).abs() < 1e-12);
    }
}
