//! A network's trainable scalars as a flat `f32` vector (the JSON form of VAE and WGAN models).

use crabmix_kernels::Real;
use crabmix_kernels::mlp::Layer;

/// Parameters of `l` in `for_each_param` order, as f32.
pub fn params_f32<T: Real, L: Layer<T>>(l: &L) -> Vec<f32> {
    let mut v = Vec::with_capacity(L::PARAMS);
    l.visit_params(&mut |p| v.push(p.to_f64() as f32));
    v
}

/// Overwrites the parameters of `l` from `p` (count and finiteness checked).
pub fn load_params_f32<T: Real, L: Layer<T>>(l: &mut L, p: &[f32], what: &str) -> Result<(), String> {
    if p.len() != L::PARAMS {
        return Err(format!("{what}: {} parameters, the model needs {}", p.len(), L::PARAMS));
    }
    if let Some(i) = p.iter().position(|v| !v.is_finite()) {
        return Err(format!("{what}: parameter {i} is not finite"));
    }
    let mut it = p.iter();
    l.for_each_param(&mut |q| *q = T::from_f64(*it.next().expect("length checked") as f64));
    Ok(())
}
