//! Fully connected (affine) layer y = W x + b with const-generic sizes.

use super::{Init, Layer, init::fill_weights};
use crate::Real;
use rand_core::Rng;

/// Dense layer y = W x + b, W ∈ ℝ^{OUT×IN} stored row-major as `[[T; IN]; OUT]` (const-generic
/// arithmetic such as `IN * OUT` is not available on stable Rust, so the shape is nested).
///
/// Backward: ∂L/∂W += g xᵀ, ∂L/∂b += g, ∂L/∂x = Wᵀ g for g = ∂L/∂y. Cost IN·OUT multiply-adds
/// each way; the cache is the input x (IN scalars). NaN/∞ propagate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dense<T, const IN: usize, const OUT: usize> {
    /// Weights, `w[o][i]` from input i to output o.
    pub w: [[T; IN]; OUT],
    /// Biases.
    pub b: [T; OUT],
}

impl<T: Real, const IN: usize, const OUT: usize> Dense<T, IN, OUT> {
    /// All weights and biases 0 (a gradient buffer, or a layer to be initialized).
    pub fn zeros() -> Self {
        Self { w: [[T::ZERO; IN]; OUT], b: [T::ZERO; OUT] }
    }

    /// A layer initialized by `scheme` from `rng`, biases 0.
    pub fn new_init<R: Rng + ?Sized>(scheme: Init, rng: &mut R) -> Self {
        let mut d = Self::zeros();
        Layer::<T>::init(&mut d, scheme, rng);
        d
    }
}

impl<T: Real, const IN: usize, const OUT: usize> Layer<T> for Dense<T, IN, OUT> {
    type Input = [T; IN];
    type Output = [T; OUT];
    type Cache = [T; IN];
    const PARAMS: usize = IN * OUT + OUT;

    fn new_cache() -> Self::Cache {
        [T::ZERO; IN]
    }
    #[inline]
    fn forward(&self, x: &[T; IN], cache: &mut [T; IN]) -> [T; OUT] {
        *cache = *x;
        self.predict(x)
    }
    #[inline]
    fn predict(&self, x: &[T; IN]) -> [T; OUT] {
        let mut y = self.b;
        for (yo, row) in y.iter_mut().zip(self.w.iter()) {
            let mut acc = T::ZERO;
            for (wi, xi) in row.iter().zip(x.iter()) {
                acc = acc.mul_add_to(*wi, *xi);
            }
            *yo += acc;
        }
        y
    }
    #[inline]
    fn backward(&self, x: &[T; IN], g: &[T; OUT], grads: &mut Self) -> [T; IN] {
        // The runtime-sized core's kernel at batch 1 (one implementation of the formula).
        let mut gx = [T::ZERO; IN];
        let gw = grads.w.as_flattened_mut();
        super::batch::dense_backward_rowwise(
            self.w.as_flattened(),
            x,
            g,
            gw,
            &mut grads.b,
            Some(&mut gx),
            IN,
            OUT,
        );
        gx
    }
    fn zeros_like(&self) -> Self {
        Self::zeros()
    }
    fn for_each_param(&mut self, f: &mut impl FnMut(&mut T)) {
        self.w.as_flattened_mut().iter_mut().for_each(&mut *f);
        self.b.iter_mut().for_each(f);
    }
    fn visit_params(&self, f: &mut impl FnMut(T)) {
        for p in self.w.as_flattened().iter().chain(self.b.iter()) {
            f(*p);
        }
    }
    fn zip_params(
        &mut self,
        grads: &Self,
        s1: &mut Self,
        s2: &mut Self,
        f: &mut impl FnMut(&mut T, T, &mut T, &mut T),
    ) {
        let params = self.w.as_flattened_mut().iter_mut().chain(self.b.iter_mut());
        let g = grads.w.as_flattened().iter().chain(grads.b.iter());
        let a = s1.w.as_flattened_mut().iter_mut().chain(s1.b.iter_mut());
        let b = s2.w.as_flattened_mut().iter_mut().chain(s2.b.iter_mut());
        for (((p, g), a), b) in params.zip(g).zip(a).zip(b) {
            f(p, *g, a, b);
        }
    }
    fn zip_params1(&mut self, grads: &Self, s: &mut Self, f: &mut impl FnMut(&mut T, T, &mut T)) {
        let params = self.w.as_flattened_mut().iter_mut().chain(self.b.iter_mut());
        let g = grads.w.as_flattened().iter().chain(grads.b.iter());
        let a = s.w.as_flattened_mut().iter_mut().chain(s.b.iter_mut());
        for ((p, g), a) in params.zip(g).zip(a) {
            f(p, *g, a);
        }
    }
    fn init<R: Rng + ?Sized>(&mut self, scheme: Init, rng: &mut R) {
        fill_weights(self.w.as_flattened_mut(), IN, OUT, scheme, rng);
        self.b = [T::ZERO; OUT];
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::max_gradient_error;
    use super::*;

    #[test]
    fn forward_is_affine_map() {
        let d = Dense::<f64, 3, 2> { w: [[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]], b: [0.25, -4.0] };
        // [1·1 + 2·(−2) + 3·0.5 + 0.25, −1·1 + 0.5·(−2) + 0 − 4] = [−1.25, −6].
        assert_eq!(d.predict(&[1.0, -2.0, 0.5]), [-1.25, -6.0]);
        let mut cache = [0.0; 3];
        assert_eq!(d.forward(&[1.0, -2.0, 0.5], &mut cache), [-1.25, -6.0]);
        assert_eq!(cache, [1.0, -2.0, 0.5]);
    }

    #[test]
    fn backward_is_outer_product_and_transpose() {
        let d = Dense::<f64, 2, 2> { w: [[1.0, 2.0], [3.0, 4.0]], b: [0.0, 0.0] };
        let mut g = d.zeros_like();
        let gx = d.backward(&[5.0, 7.0], &[1.0, -1.0], &mut g);
        assert_eq!(g.w, [[5.0, 7.0], [-5.0, -7.0]]);
        assert_eq!(g.b, [1.0, -1.0]);
        assert_eq!(gx, [1.0 - 3.0, 2.0 - 4.0]);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let mut d = Dense::<f64, 4, 3>::zeros();
        let mut k = 0.0;
        d.for_each_param(&mut |p| {
            k += 1.0;
            *p = f64::sin(1.7 * k);
        });
        let err = max_gradient_error(&d, &[0.3, -0.8, 1.1, 0.05]);
        assert!(err < 1e-9, "{err}");
    }
}
