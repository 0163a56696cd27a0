//! Weight initialization: Xavier/Glorot and He/Kaiming, from any `rand_core::Rng`.

use crate::Real;
use crate::gaussian::normal::{standard_normal, uniform01};
use rand_core::Rng;

/// Initialization scheme for a dense layer with `fan_in` inputs and `fan_out` outputs.
///
/// Variances: Xavier/Glorot (Glorot & Bengio 2010) Var W = 2 / (fan_in + fan_out), for tanh and
/// logistic units; He/Kaiming (He et al. 2015, fan-in mode, ReLU gain √2) Var W = 2 / fan_in.
/// The uniform variants draw U(−a, a) with a = √(3 Var W). These match PyTorch's
/// `xavier_uniform_`, `xavier_normal_`, `kaiming_uniform_(nonlinearity="relu")` and
/// `kaiming_normal_(nonlinearity="relu")`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Init {
    /// U(−a, a), a = √(6 / (fan_in + fan_out)).
    XavierUniform,
    /// N(0, 2 / (fan_in + fan_out)).
    XavierNormal,
    /// U(−a, a), a = √(6 / fan_in).
    HeUniform,
    /// N(0, 2 / fan_in).
    HeNormal,
}

impl Init {
    /// Var W for the given fan-in and fan-out (formulas on [`Init`]).
    pub fn variance<T: Real>(self, fan_in: usize, fan_out: usize) -> T {
        let two = T::from_f64(2.0);
        match self {
            Init::XavierUniform | Init::XavierNormal => two / T::from_usize(fan_in + fan_out),
            Init::HeUniform | Init::HeNormal => two / T::from_usize(fan_in),
        }
    }
}

/// Fills `w` with independent draws of the scheme's distribution.
///
/// A zero fan (an empty layer) leaves `w` empty anyway; the variance would be ∞ and is not used.
pub fn fill_weights<T: Real, R: Rng + ?Sized>(
    w: &mut [T],
    fan_in: usize,
    fan_out: usize,
    scheme: Init,
    rng: &mut R,
) {
    if w.is_empty() {
        return;
    }
    let var: T = scheme.variance(fan_in, fan_out);
    match scheme {
        Init::XavierNormal | Init::HeNormal => {
            let sd = var.sqrt();
            for v in w.iter_mut() {
                *v = sd * standard_normal::<T, R>(rng);
            }
        }
        Init::XavierUniform | Init::HeUniform => {
            let a = (T::from_f64(3.0) * var).sqrt();
            for v in w.iter_mut() {
                let u: T = uniform01(rng);
                *v = a * (T::from_f64(2.0) * u - T::ONE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Dense, Layer};
    use super::*;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn sample_variance_and_range_match_each_scheme() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(21);
        // 128·256 = 32768 weights: the sample variance has relative s.e. √(2/n) ≈ 0.8 % (normal),
        // ≈ 0.5 % (uniform); the bound is 4 %.
        for (scheme, want) in [
            (Init::XavierUniform, 2.0 / 384.0),
            (Init::XavierNormal, 2.0 / 384.0),
            (Init::HeUniform, 2.0 / 256.0),
            (Init::HeNormal, 2.0 / 256.0),
        ] {
            let d = Dense::<f64, 256, 128>::new_init(scheme, &mut rng);
            let w = d.w.as_flattened();
            let n = w.len() as f64;
            let mean = w.iter().sum::<f64>() / n;
            let var = w.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            assert!((var / want - 1.0).abs() < 0.04, "{scheme:?}: {var} vs {want}");
            assert!(mean.abs() < 4.0 * (want / n).sqrt());
            assert!(d.b.iter().all(|&b| b == 0.0));
            if matches!(scheme, Init::XavierUniform | Init::HeUniform) {
                let a = (3.0 * want).sqrt();
                assert!(w.iter().all(|v| v.abs() <= a));
            }
        }
    }

    #[test]
    fn init_is_reproducible_and_f32_works() {
        let mut a = Xoshiro256PlusPlus::seed_from_u64(1);
        let mut b = Xoshiro256PlusPlus::seed_from_u64(1);
        let x = Dense::<f32, 3, 4>::new_init(Init::HeNormal, &mut a);
        let mut y = Dense::<f32, 3, 4>::zeros();
        y.init(Init::HeNormal, &mut b);
        assert_eq!(x, y);
        assert!(x.w.as_flattened().iter().any(|&v| v != 0.0));
    }
}
