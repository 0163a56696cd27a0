//! Standard-normal variates from any `rand_core::Rng`, by Marsaglia's polar method.
//!
//! Algorithm (Marsaglia & Bray 1964): draw u, v uniform on (−1, 1) until s = u² + v² ∈ (0, 1);
//! then u·√(−2 ln s / s) is N(0, 1). Both uniforms come from one `next_u64` (32 bits each); the
//! acceptance probability is π/4, so a variate costs on average 4/π ≈ 1.27 `next_u64` calls and
//! the acceptance test, then one `ln`, one `sqrt` and one division. The second variate of
//! the pair (v·√(…)) is discarded so that a draw is a pure function of the generator state (no
//! hidden cache), which keeps sampling reproducible when one generator is shared by several
//! kernels; this doubles the cost per variate against a cached polar sampler, and is still
//! branch-light and table-free (a ziggurat needs ~1 KiB of tables, costly on a Cortex-M0).
//!
//! The unit tests check 10⁶ draws for mean, variance, skewness, kurtosis and the
//! Kolmogorov–Smirnov distance to Φ, in f64 and f32.

use crate::{Error, Real, Result};
use rand_core::Rng;

/// Rejected draws in a row after which a generator counts as stuck ([`Error::GeneratorStuck`]):
/// 64. A working generator is rejected 64 times in a row with probability (1 − π/4)⁶⁴ < 10⁻⁴²
/// by the polar method, and below n/2⁶⁴ per draw by [`uniform_below`](crate::gmm::uniform_below);
/// a generator stuck at one value (a failed hardware RNG reading zeros) is rejected forever.
pub const MAX_REJECTED_DRAWS: u32 = 64;

/// Uniform on the open interval (−1, 1) from 32 random bits: (2m + 1)/2³² − 1 for m ∈ [0, 2³²).
///
/// Exact in `f64`; rounded in `f32` (still never exactly ±1 after the `s < 1` test below).
#[inline]
fn symmetric_unit<T: Real>(bits: u32) -> T {
    T::from_f64((2.0 * bits as f64 + 1.0) / 4_294_967_296.0 - 1.0)
}

/// One N(0, 1) variate (Marsaglia polar method), or [`Error::GeneratorStuck`] after
/// [`MAX_REJECTED_DRAWS`] rejected pairs in a row. Never NaN or infinite.
///
/// Two 32-bit uniforms are taken from each `next_u64`; rejected pairs draw again. Use this with
/// a generator that can fail (hardware); the same draws as [`standard_normal`].
#[inline]
pub fn try_standard_normal<T: Real, R: Rng + ?Sized>(rng: &mut R) -> Result<T> {
    for _ in 0..MAX_REJECTED_DRAWS {
        let bits = rng.next_u64();
        let u: T = symmetric_unit(bits as u32);
        let v: T = symmetric_unit((bits >> 32) as u32);
        let s = u * u + v * v;
        if s < T::ONE && s > T::ZERO {
            let two = T::ONE + T::ONE;
            return Ok(u * (-two * s.ln() / s).sqrt());
        }
    }
    Err(Error::GeneratorStuck { draws: MAX_REJECTED_DRAWS })
}

/// One N(0, 1) variate from a software generator: [`try_standard_normal`], with 0 for a stuck
/// generator instead of an error (so it returns rather than loops; a seeded PRNG never gets
/// there, see [`MAX_REJECTED_DRAWS`]). For training noise and test data; the Gaussian-mixture
/// sampler, which firmware may feed from a hardware RNG, uses [`try_standard_normal`].
#[inline]
pub fn standard_normal<T: Real, R: Rng + ?Sized>(rng: &mut R) -> T {
    try_standard_normal(rng).unwrap_or(T::ZERO)
}

/// Fills `out` with independent N(0, 1) variates, in order (see [`standard_normal`]).
#[inline]
pub fn fill_standard_normal<T: Real, R: Rng + ?Sized>(rng: &mut R, out: &mut [T]) {
    for v in out.iter_mut() {
        *v = standard_normal(rng);
    }
}

/// Uniform on [0, 1) with 53 (f64) or 24 (f32) random bits.
#[inline]
pub fn uniform01<T: Real, R: Rng + ?Sized>(rng: &mut R) -> T {
    // Top 53 bits / 2^53: exact in f64, then rounded down for f32 by taking 24 bits instead.
    if T::EPSILON.to_f64() > 1e-10 {
        // 24 bits are exact in f32 and 2^-24 is a power of two: no f64 arithmetic needed.
        T::from_usize((rng.next_u32() >> 8) as usize) * T::from_f64(1.0 / 16_777_216.0)
    } else {
        T::from_f64((rng.next_u64() >> 11) as f64 / 9_007_199_254_740_992.0)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// Sample moments and the Kolmogorov–Smirnov distance sup_x |F_n(x) − Φ(x)| of n draws.
    fn draw_statistics(mut draw: impl FnMut() -> f64, n: usize) -> (f64, f64, f64, f64, f64) {
        let mut z: Vec<f64> = (0..n).map(|_| draw()).collect();
        let nf = n as f64;
        let mean = z.iter().sum::<f64>() / nf;
        // Central moments about the sample mean, two-pass for accuracy.
        let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
        for &v in &z {
            let d = v - mean;
            m2 += d * d;
            m3 += d * d * d;
            m4 += d * d * d * d;
        }
        let (m2, m3, m4) = (m2 / nf, m3 / nf, m4 / nf);
        let skew = m3 / m2.powf(1.5);
        let kurt = m4 / (m2 * m2);
        z.sort_by(f64::total_cmp);
        let mut ks: f64 = 0.0;
        for (i, &v) in z.iter().enumerate() {
            // Φ(v) = ½ erfc(−v/√2); the empirical CDF steps from i/n to (i+1)/n at v.
            let phi = 0.5 * libm::erfc(-v / core::f64::consts::SQRT_2);
            ks = ks.max((phi - i as f64 / nf).abs()).max(((i + 1) as f64 / nf - phi).abs());
        }
        (mean, m2, skew, kurt, ks)
    }

    /// Bounds for 10⁶ N(0, 1) draws. Standard errors: mean 1/√n = 1e-3, variance √(2/n) ≈ 1.4e-3,
    /// skewness √(6/n) ≈ 2.4e-3, kurtosis √(24/n) ≈ 4.9e-3; the bounds are 5 standard errors.
    /// KS: P(√n·D > 1.95) ≈ 0.001 under H₀ (Kolmogorov distribution), so D < 1.95e-3.
    fn assert_standard_normal(stats: (f64, f64, f64, f64, f64)) {
        let (mean, var, skew, kurt, ks) = stats;
        assert!(mean.abs() < 5e-3, "mean {mean}");
        assert!((var - 1.0).abs() < 7e-3, "variance {var}");
        assert!(skew.abs() < 1.2e-2, "skewness {skew}");
        assert!((kurt - 3.0).abs() < 2.5e-2, "kurtosis {kurt}");
        assert!(ks < 1.95e-3, "Kolmogorov-Smirnov distance {ks}");
    }

    #[test]
    fn million_f64_draws_are_standard_normal() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let stats = draw_statistics(|| standard_normal::<f64, _>(&mut rng), 1_000_000);
        assert_standard_normal(stats);
    }

    #[test]
    fn million_f32_draws_are_standard_normal() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(8);
        let stats = draw_statistics(|| standard_normal::<f32, _>(&mut rng) as f64, 1_000_000);
        assert_standard_normal(stats);
    }

    #[test]
    fn ks_statistic_detects_a_wrong_distribution() {
        // Guards against a KS computation that always passes: for σ = 1.02 the population
        // distance sup |Φ(x/σ) − Φ(x)| ≈ φ(1)·(1 − 1/σ) ≈ 4.7e-3, well above the 1.95e-3 bound.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
        let (.., ks) = draw_statistics(|| 1.02 * standard_normal::<f64, _>(&mut rng), 1_000_000);
        assert!(ks > 3e-3, "KS {ks} failed to detect sigma = 1.02");
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

    /// A generator that always returns the same word (a failed hardware RNG reading zeros).
    pub(crate) struct Stuck(pub(crate) u64);

    impl rand_core::TryRng for Stuck {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> core::result::Result<u32, Self::Error> {
            Ok(self.0 as u32)
        }
        fn try_next_u64(&mut self) -> core::result::Result<u64, Self::Error> {
            Ok(self.0)
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> core::result::Result<(), Self::Error> {
            dst.fill(self.0 as u8);
            Ok(())
        }
    }

    #[test]
    fn a_stuck_generator_is_an_error_not_a_hang() {
        // Zeros give u = v = 2⁻³² − 1: s ≈ 2, rejected every time; all ones give s ≈ 2 too.
        for word in [0, u64::MAX] {
            let e = try_standard_normal::<f64, _>(&mut Stuck(word)).unwrap_err();
            assert_eq!(e, Error::GeneratorStuck { draws: MAX_REJECTED_DRAWS });
            assert!(try_standard_normal::<f32, _>(&mut Stuck(word)).is_err());
            assert_eq!(standard_normal::<f64, _>(&mut Stuck(word)), 0.0);
        }
        // A stuck word that is accepted (u = v ≈ 0.5) is a value, as the polar method defines it.
        let half = 0xC000_0000_C000_0000u64;
        let u = (2.0 * 0xC000_0000u32 as f64 + 1.0) / 4_294_967_296.0 - 1.0;
        let s = 2.0 * u * u;
        let z = try_standard_normal::<f64, _>(&mut Stuck(half)).unwrap();
        assert_eq!(z, u * (-2.0 * s.ln() / s).sqrt());
    }

    #[test]
    fn try_and_plain_draw_the_same_stream() {
        let mut a = Xoshiro256PlusPlus::seed_from_u64(11);
        let mut b = Xoshiro256PlusPlus::seed_from_u64(11);
        for _ in 0..1000 {
            let x: f64 = standard_normal(&mut a);
            assert_eq!(try_standard_normal::<f64, _>(&mut b).unwrap(), x);
        }
    }
}
