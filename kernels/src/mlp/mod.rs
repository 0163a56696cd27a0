//! Small multilayer perceptrons for VAEs and WGANs (lecture §3–4): layers, losses, optimizers.
//!
//! A network is a value of a type built from [`Dense`] and [`Act`] layers nested in [`Chain`]s;
//! sizes are const generics checked by the type system (`Chain<A, B>` requires
//! `B::Input == A::Output`). Nothing allocates:
//!
//! * [`Layer::forward`] writes what [`Layer::backward`] needs into a caller-owned
//!   [`Layer::Cache`] (each layer keeps its own input), made once by [`Layer::new_cache`];
//! * gradients, and optimizer state, have the *same type as the network* (a `Dense` holding
//!   ∂L/∂W and ∂L/∂b), made by [`Layer::zeros_like`]; `backward` *adds* into them so that a
//!   minibatch accumulates, and returns the gradient with respect to the input (the WGAN
//!   generator step and gradient penalty need it);
//! * optimizers ([`optim`]) and constraints ([`constraint`]) walk every trainable scalar through
//!   [`Layer::for_each_param`], [`Layer::zip_params1`] and [`Layer::zip_params`].
//!
//! ```
//! use crabmix_kernels::mlp::{Act, Chain, Dense, Layer, Relu};
//! use crabmix_kernels::{chain, mlp::loss::mse};
//! // 2 → 8 → 1 with ReLU: Chain<Dense, Chain<Act, Dense>>.
//! let net = chain!(
//!     Dense::<f64, 2, 8>::zeros(),
//!     Act::<_, 8>(Relu),
//!     Dense::<f64, 8, 1>::zeros()
//! );
//! let mut cache = net.new_cache_of();
//! let mut grads = net.zeros_like();
//! let y = net.forward(&[0.5, -1.0], &mut cache);
//! let mut dy = [0.0];
//! let _loss = mse(&y, &[1.0], &mut dy);
//! let _dx = net.backward(&cache, &dy, &mut grads);
//! ```
//!
//! The same arithmetic at run-time sizes, over flat caller-owned slices, is the runtime-sized
//! core: an [`Architecture`] of [`LayerSpec`]s ([`arch`]) and batched forward/backward
//! ([`batch`]); `docs/mlp-core.md` shows how the host uses it.
//!
//! NaN contract: layers and losses do not check values; NaN/∞ propagate (every activation maps
//! NaN to NaN, including ReLU), never a panic. [`check_finite`] turns a non-finite parameter into
//! a typed error where a caller wants one.

pub mod activation;
pub mod arch;
pub mod batch;
pub mod constraint;
pub mod dense;
pub mod init;
pub mod loss;
pub mod optim;

pub use activation::{Act, Activation, Identity, LeakyRelu, Relu, Sigmoid, Softplus, Tanh};
pub use arch::{ActivationKind, Architecture, LayerSpec};
pub use batch::init_params;
pub use dense::Dense;
pub use init::Init;

use crate::{Error, Real, Result};
use rand_core::Rng;

/// A differentiable layer (or network) over scalars `T`, with fixed-size input and output.
///
/// Contract: `forward` followed by `backward` with the same cache computes, for the L whose
/// gradient with respect to the output is `grad_out`, ∂L/∂θ (added into `grads`) and ∂L/∂x
/// (returned). `Self` doubles as the gradient and optimizer-state type.
pub trait Layer<T: Real>: Clone {
    /// Input vector type, `[T; IN]`.
    type Input: Copy;
    /// Output vector type, `[T; OUT]`.
    type Output: Copy;
    /// What `forward` keeps for `backward`; owned by the caller.
    type Cache;
    /// Number of trainable scalars.
    const PARAMS: usize;

    /// A cache ready for `forward` (contents are overwritten there).
    fn new_cache() -> Self::Cache;
    /// Same as [`Layer::new_cache`], with the type inferred from a value (for unnameable types).
    fn new_cache_of(&self) -> Self::Cache {
        Self::new_cache()
    }
    /// y = f(x), writing into `cache` what `backward` needs.
    fn forward(&self, x: &Self::Input, cache: &mut Self::Cache) -> Self::Output;
    /// y = f(x) without a cache (inference only).
    fn predict(&self, x: &Self::Input) -> Self::Output;
    /// Given ∂L/∂y, adds ∂L/∂θ into `grads` and returns ∂L/∂x, using the cache of the last
    /// `forward`.
    fn backward(&self, cache: &Self::Cache, grad_out: &Self::Output, grads: &mut Self) -> Self::Input;
    /// A value of the same shape with every trainable scalar 0 (gradient and optimizer buffers).
    fn zeros_like(&self) -> Self;
    /// Calls `f` on every trainable scalar, in a fixed order.
    fn for_each_param(&mut self, f: &mut impl FnMut(&mut T));
    /// Calls `f` on every trainable scalar, read-only, in the order of `for_each_param`.
    fn visit_params(&self, f: &mut impl FnMut(T));
    /// Calls `f(θ, g, s)` on corresponding scalars of the parameters, the gradient and one state
    /// buffer of the same shape (SGD's velocity, RMSProp's mean square).
    fn zip_params1(&mut self, grads: &Self, s: &mut Self, f: &mut impl FnMut(&mut T, T, &mut T));
    /// Calls `f(θ, g, s1, s2)` on corresponding scalars of the parameters, the gradient and two
    /// state buffers of the same shape (optimizers use s1, s2 as moment estimates).
    fn zip_params(
        &mut self,
        grads: &Self,
        s1: &mut Self,
        s2: &mut Self,
        f: &mut impl FnMut(&mut T, T, &mut T, &mut T),
    );
    /// Re-initializes the weights by `scheme` (fan-in/out per dense layer) and zeroes biases.
    fn init<R: Rng + ?Sized>(&mut self, scheme: Init, rng: &mut R);
}

/// Two layers in sequence: `B` after `A`. Nest to build deeper networks (see [`chain!`](crate::chain)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Chain<A, B>(pub A, pub B);

impl<T: Real, A: Layer<T>, B: Layer<T, Input = A::Output>> Layer<T> for Chain<A, B> {
    type Input = A::Input;
    type Output = B::Output;
    type Cache = (A::Cache, B::Cache);
    const PARAMS: usize = A::PARAMS + B::PARAMS;

    fn new_cache() -> Self::Cache {
        (A::new_cache(), B::new_cache())
    }
    #[inline]
    fn forward(&self, x: &Self::Input, cache: &mut Self::Cache) -> Self::Output {
        let h = self.0.forward(x, &mut cache.0);
        self.1.forward(&h, &mut cache.1)
    }
    #[inline]
    fn predict(&self, x: &Self::Input) -> Self::Output {
        self.1.predict(&self.0.predict(x))
    }
    #[inline]
    fn backward(&self, cache: &Self::Cache, grad_out: &Self::Output, grads: &mut Self) -> Self::Input {
        let gh = self.1.backward(&cache.1, grad_out, &mut grads.1);
        self.0.backward(&cache.0, &gh, &mut grads.0)
    }
    fn zeros_like(&self) -> Self {
        Chain(self.0.zeros_like(), self.1.zeros_like())
    }
    fn for_each_param(&mut self, f: &mut impl FnMut(&mut T)) {
        self.0.for_each_param(f);
        self.1.for_each_param(f);
    }
    fn visit_params(&self, f: &mut impl FnMut(T)) {
        self.0.visit_params(f);
        self.1.visit_params(f);
    }
    fn zip_params(
        &mut self,
        grads: &Self,
        s1: &mut Self,
        s2: &mut Self,
        f: &mut impl FnMut(&mut T, T, &mut T, &mut T),
    ) {
        self.0.zip_params(&grads.0, &mut s1.0, &mut s2.0, f);
        self.1.zip_params(&grads.1, &mut s1.1, &mut s2.1, f);
    }
    fn zip_params1(&mut self, grads: &Self, s: &mut Self, f: &mut impl FnMut(&mut T, T, &mut T)) {
        self.0.zip_params1(&grads.0, &mut s.0, f);
        self.1.zip_params1(&grads.1, &mut s.1, f);
    }
    fn init<R: Rng + ?Sized>(&mut self, scheme: Init, rng: &mut R) {
        self.0.init(scheme, rng);
        self.1.init(scheme, rng);
    }
}

/// Builds a network value from layers: `chain!(a, b, c)` is `Chain(a, Chain(b, c))`.
#[macro_export]
macro_rules! chain {
    ($a:expr $(,)?) => { $a };
    ($a:expr, $($rest:expr),+ $(,)?) => { $crate::mlp::Chain($a, $crate::chain!($($rest),+)) };
}

/// Names a network type: `chain_type!(A, B, C)` is `Chain<A, Chain<B, C>>`.
#[macro_export]
macro_rules! chain_type {
    ($a:ty $(,)?) => { $a };
    ($a:ty, $($rest:ty),+ $(,)?) => { $crate::mlp::Chain<$a, $crate::chain_type!($($rest),+)> };
}

/// Sets every trainable scalar (a gradient buffer, usually) to 0.
pub fn zero_params<T: Real, L: Layer<T>>(net: &mut L) {
    net.for_each_param(&mut |p| *p = T::ZERO);
}

/// `Err(NonFiniteParameter { name: "params", index })` for the first non-finite trainable scalar
/// in `for_each_param` order, else `Ok(())`. Use after an optimizer step to turn NaN
/// propagation into a typed error.
pub fn check_finite<T: Real, L: Layer<T>>(net: &L) -> Result<()> {
    let mut index = 0;
    let mut bad = None;
    net.visit_params(&mut |p| {
        if bad.is_none() && !p.is_finite() {
            bad = Some(index);
        }
        index += 1;
    });
    match bad {
        Some(index) => Err(Error::NonFiniteParameter { name: "params", index }),
        None => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Finite-difference helpers shared by the MLP tests.
    use super::*;

    /// Maximum |analytic − numeric| over every parameter of `net` and every input coordinate,
    /// for the scalar loss L(y) = Σ w_k y_k² / 2 + Σ y_k (so ∂L/∂y = w ⊙ y + 1, non-trivial).
    pub fn max_gradient_error<L, const IN: usize, const OUT: usize>(net: &L, x: &[f64; IN]) -> f64
    where
        L: Layer<f64, Input = [f64; IN], Output = [f64; OUT]>,
    {
        let w: [f64; OUT] = core::array::from_fn(|k| 0.5 + 0.3 * k as f64);
        let loss = |n: &L, x: &[f64; IN]| {
            let y = n.predict(x);
            (0..OUT).map(|k| 0.5 * w[k] * y[k] * y[k] + y[k]).sum::<f64>()
        };
        let mut cache = L::new_cache();
        let y = net.forward(x, &mut cache);
        assert_eq!(y, net.predict(x), "forward and predict must agree");
        let gy: [f64; OUT] = core::array::from_fn(|k| w[k] * y[k] + 1.0);
        let mut grads = net.zeros_like();
        let gx = net.backward(&cache, &gy, &mut grads);

        let h = 1e-6;
        let mut worst: f64 = 0.0;
        let mut analytic = Vec::new();
        grads.visit_params(&mut |g| analytic.push(g));
        assert_eq!(analytic.len(), L::PARAMS);
        for (idx, &a) in analytic.iter().enumerate() {
            let nudge = |delta: f64| {
                let mut n = net.clone();
                let mut i = 0;
                n.for_each_param(&mut |p| {
                    if i == idx {
                        *p += delta;
                    }
                    i += 1;
                });
                loss(&n, x)
            };
            let numeric = (nudge(h) - nudge(-h)) / (2.0 * h);
            worst = worst.max((a - numeric).abs() / (1.0 + numeric.abs()));
        }
        for i in 0..IN {
            let (mut p, mut m) = (*x, *x);
            p[i] += h;
            m[i] -= h;
            let numeric = (loss(net, &p) - loss(net, &m)) / (2.0 * h);
            worst = worst.max((gx[i] - numeric).abs() / (1.0 + numeric.abs()));
        }
        worst
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::max_gradient_error;
    use super::*;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    type Net = chain_type!(
        Dense<f64, 3, 6>,
        Act<Tanh, 6>,
        Dense<f64, 6, 5>,
        Act<LeakyRelu<f64>, 5>,
        Dense<f64, 5, 4>,
        Act<Softplus, 4>,
        Dense<f64, 4, 4>,
        Act<Sigmoid, 4>,
        Dense<f64, 4, 2>,
    );

    fn net() -> Net {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let mut n: Net = chain!(
            Dense::zeros(),
            Act(Tanh),
            Dense::zeros(),
            Act(LeakyRelu { slope: 0.1 }),
            Dense::zeros(),
            Act(Softplus),
            Dense::zeros(),
            Act(Sigmoid),
            Dense::zeros(),
        );
        n.init(Init::XavierNormal, &mut rng);
        // Non-zero biases so that their gradients are exercised with non-trivial values.
        let mut k = 0.0;
        n.for_each_param(&mut |p| {
            if *p == 0.0 {
                k += 0.37;
                *p = f64::sin(k) * 0.3;
            }
        });
        n
    }

    #[test]
    fn whole_network_gradient_matches_finite_differences() {
        let n = net();
        assert_eq!(Net::PARAMS, 3 * 6 + 6 + 6 * 5 + 5 + 5 * 4 + 4 + 4 * 4 + 4 + 4 * 2 + 2);
        let err = max_gradient_error(&n, &[0.4, -1.3, 0.8]);
        assert!(err < 1e-8, "max relative gradient error {err}");
    }

    #[test]
    fn backward_accumulates_over_calls() {
        let n = net();
        let mut cache = Net::new_cache();
        let mut once = n.zeros_like();
        let mut twice = n.zeros_like();
        let x = [0.1, 0.2, -0.3];
        n.forward(&x, &mut cache);
        n.backward(&cache, &[1.0, -2.0], &mut once);
        n.backward(&cache, &[1.0, -2.0], &mut twice);
        n.backward(&cache, &[1.0, -2.0], &mut twice);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        once.visit_params(&mut |g| a.push(2.0 * g));
        twice.visit_params(&mut |g| b.push(g));
        assert_eq!(a, b);
        zero_params(&mut twice);
        twice.visit_params(&mut |g| assert_eq!(g, 0.0));
    }

    #[test]
    fn check_finite_reports_first_bad_parameter() {
        let mut n = net();
        assert_eq!(check_finite(&n), Ok(()));
        let mut i = 0;
        n.for_each_param(&mut |p| {
            if i == 20 {
                *p = f64::NAN;
            }
            i += 1;
        });
        assert_eq!(check_finite(&n), Err(Error::NonFiniteParameter { name: "params", index: 20 }));
        // NaN input propagates to the output without a panic.
        assert!(n.predict(&[f64::NAN, 0.0, 0.0]).iter().all(|v| v.is_nan()));
    }
}
