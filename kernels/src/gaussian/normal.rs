//! Standard-normal variates from any `rand_core::Rng`, by Marsaglia's polar method.
//!
//! Algorithm (Marsaglia & Bray 1964): draw u, v uniform on (−1, 1) until s = u² + v² ∈ (0, 1);
//! then u·√(−2 ln s / s) is N(0, 1). Acceptance probability π/4, so on average 4/π ≈ 1.27 pairs
//! (2.55 `next_u64` calls when both uniforms come from one u64… here one u64 per pair), one `ln`,
//! one `sqrt` and one division per variate. The second variate of the pair is discarded so that a
//! draw is a pure function of the generator state (no hidden cache), which keeps sampling
//! reproducible when the same generator is shared by several kernels.

use crate::Real;
use rand_core::Rng;

/// Uniform on the open interval (−1, 1) from 32 random bits: (2m + 1)/2³² − 1 for m ∈ [0, 2³²).
///
/// Exact in `f64`; rounded in `f32` (still never exactly ±1 after the `s < 1` test below).
#[inline]
fn symmetric_unit<T: Real>(bits: u32) -> T {
    T::from_f64((2.0 * bits as f64 + 1.0) / 4_294_967_296.0 - 1.0)
}

/// One N(0, 1) variate (Marsaglia polar method). Never NaN or infinite.
///
/// Two 32-bit uniforms are taken from each `next_u64`; rejected pairs draw again.
#[inline]
pub fn standard_normal<T: Real, R: Rng + ?Sized>(rng: &mut R) -> T {
    loop {
        let bits = rng.next_u64();
        let u: T = symmetric_unit(bits as u32);
        let v: T = symmetric_unit((bits >> 32) as u32);
        let s = u * u + v * v;
        if s < T::ONE && s > T::ZERO {
            let two = T::ONE + T::ONE;
            return u * (-two * s.ln() / s).sqrt();
        }
    }
}

/// Uniform on [0, 1) with 53 (f64) or 24 (f32) random bits.
#[inline]
pub fn uniform01<T: Real, R: Rng + ?Sized>(rng: &mut R) -> T {
    // Top 53 bits / 2^53: exact in f64, then rounded down for f32 by taking 24 bits instead.
    if T::EPSILON.to_f64() > 1e-10 {
        T::from_f64((rng.next_u32() >> 8) as f64 / 16_777_216.0)
    } else {
        T::from_f64((rng.next_u64() >> 11) as f64 / 9_007_199_254_740_992.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn moments_of_a_million_draws() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let n = 1_000_000;
        let (mut s1, mut s2, mut s3, mut s4) = (0.0, 0.0, 0.0, 0.0);
        for _ in 0..n {
            let z: f64 = standard_normal(&mut rng);
            s1 += z;
            s2 += z * z;
            s3 += z * z * z;
            s4 += z * z * z * z;
        }
        let n = n as f64;
        // Standard errors: mean 1/√n = 1e-3, var √(2/n) ≈ 1.4e-3, skew √(6/n) ≈ 2.4e-3,
        // fourth moment √(96/n) ≈ 1e-2. Bounds are 5 standard errors.
        assert!((s1 / n).abs() < 5e-3);
        assert!((s2 / n - 1.0).abs() < 7e-3);
        assert!((s3 / n).abs() < 1.2e-2);
        assert!((s4 / n - 3.0).abs() < 5e-2);
    }

    #[test]
    fn uniform_is_in_unit_interval() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        for _ in 0..10_000 {
            let u: f32 = uniform01(&mut rng);
            assert!((0.0..1.0).contains(&u));
            let w: f64 = uniform01(&mut rng);
            assert!((0.0..1.0).contains(&w));
        }
    }
}
