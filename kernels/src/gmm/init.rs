//! Initial parameters for EM: K centres (k-means++ or distinct random samples), each sample
//! assigned to its nearest centre, and one M-step from those hard assignments.
//!
//! scikit-learn's `k-means++` and `random_from_data` instead give each chosen centre alone a
//! responsibility of 1, so its first covariances are `reg_covar`·I; the nearest-centre M-step
//! used here starts from the covariances of the Voronoi cells, which is what the first E-step of
//! that degenerate start converges to anyway, without the 10⁶-fold-too-narrow first model.

use super::model::MixtureMut;
use super::stats::StatsMut;
use super::validate_data;
use crate::gaussian::normal::{MAX_REJECTED_DRAWS, uniform01};
use crate::linalg::rows::{rows, rows_mut};
use crate::{Error, Real, Result};
use rand_core::Rng;

/// How the initial centres are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum InitMethod {
    /// k-means++ seeding (Arthur & Vassilvitskii 2007): the first centre uniformly, each next one
    /// with probability proportional to its squared distance to the nearest chosen centre.
    #[default]
    KMeansPlusPlus,
    /// K distinct samples chosen uniformly (Knuth's selection sampling, Algorithm S).
    Random,
}

impl InitMethod {
    /// The name used on the command line: `kmeans++` or `random`.
    pub const fn name(self) -> &'static str {
        match self {
            InitMethod::KMeansPlusPlus => "kmeans++",
            InitMethod::Random => "random",
        }
    }
}

/// A uniform integer in [0, n) by Lemire's multiply-and-reject (unbiased); 0 when n = 0;
/// [`Error::GeneratorStuck`] after [`MAX_REJECTED_DRAWS`] rejected draws in a row.
pub fn uniform_below<R: Rng + ?Sized>(rng: &mut R, n: usize) -> Result<usize> {
    if n <= 1 {
        return Ok(0);
    }
    let n64 = n as u64;
    let threshold = n64.wrapping_neg() % n64;
    for _ in 0..MAX_REJECTED_DRAWS {
        let m = (rng.next_u64() as u128) * (n64 as u128);
        if (m as u64) >= threshold {
            return Ok((m >> 64) as usize);
        }
    }
    Err(Error::GeneratorStuck { draws: MAX_REJECTED_DRAWS })
}

fn squared_distance<T: Real>(a: &[T], b: &[T]) -> T {
    let mut s = T::ZERO;
    for (x, y) in a.iter().zip(b) {
        let t = *x - *y;
        s += t * t;
    }
    s
}

/// Writes K initial centres into `centres` (K × D) from `data` (N × D).
///
/// `dist`, when given with length N, caches each sample's squared distance to its nearest centre
/// (k-means++ then costs O(N·K·D)); without it the distances are recomputed (O(N·K²·D), no
/// memory), which is what fixed-memory firmware uses for small K.
pub fn choose_centres<T: Real, R: Rng + ?Sized>(
    data: &[T],
    d: usize,
    centres: &mut [T],
    method: InitMethod,
    rng: &mut R,
    mut dist: Option<&mut [T]>,
) -> Result<()> {
    if d == 0 {
        return Err(Error::InvalidParameter { name: "features", reason: "must be at least 1" });
    }
    let n = data.len() / d;
    let k_n = centres.len() / d;
    if k_n > n {
        return Err(Error::TooFewSamples { samples: n, components: k_n });
    }
    let missing = Error::ShapeMismatch { what: "centres", expected: k_n, found: n };
    match method {
        InitMethod::Random => {
            let mut slots = rows_mut(centres, d);
            let mut chosen = 0;
            for (i, x) in (0..n).zip(rows(data, d)) {
                if chosen >= k_n {
                    break;
                }
                // i < n and chosen < k_n here: neither subtraction wraps.
                if uniform_below(rng, n.wrapping_sub(i))? < k_n.wrapping_sub(chosen) {
                    slots.next().ok_or(missing)?.copy_from_slice(x);
                    chosen += 1;
                }
            }
        }
        InitMethod::KMeansPlusPlus => {
            let first = uniform_below(rng, n)?;
            let (Some(c0), Some(x0)) = (rows_mut(centres, d).next(), rows(data, d).nth(first)) else {
                return Err(missing);
            };
            c0.copy_from_slice(x0);
            if let Some(dist) = dist.as_deref_mut() {
                if dist.len() != n {
                    return Err(Error::ShapeMismatch {
                        what: "k-means++ distance buffer",
                        expected: n,
                        found: dist.len(),
                    });
                }
                for (di, x) in dist.iter_mut().zip(rows(data, d)) {
                    *di = squared_distance(x, x0);
                }
            }
            for c in 1..k_n {
                let nearest = |i: usize, x: &[T], dist: &Option<&mut [T]>| -> T {
                    // The cached distance when there is a cache (its length is N), else the
                    // minimum over the centres chosen so far.
                    if let Some(&cached) = dist.as_deref().and_then(|dist| dist.get(i)) {
                        return cached;
                    }
                    let mut best = T::MAX;
                    for centre in rows(centres, d).take(c) {
                        best = best.min(squared_distance(x, centre));
                    }
                    best
                };
                let mut total = T::ZERO;
                for (i, x) in (0..n).zip(rows(data, d)) {
                    total += nearest(i, x, &dist);
                }
                let pick = if total > T::ZERO && total.is_finite() {
                    let target = uniform01::<T, R>(rng) * total;
                    let mut cum = T::ZERO;
                    // n ≥ k_n ≥ 2 here.
                    let mut pick = n.wrapping_sub(1);
                    for (i, x) in (0..n).zip(rows(data, d)) {
                        let w = nearest(i, x, &dist);
                        cum += w;
                        if cum > target && w > T::ZERO {
                            pick = i;
                            break;
                        }
                    }
                    pick
                } else {
                    // Every sample sits on a chosen centre (duplicated data): any sample will do.
                    uniform_below(rng, n)?
                };
                let (Some(centre), Some(x)) = (rows_mut(centres, d).nth(c), rows(data, d).nth(pick)) else {
                    return Err(missing);
                };
                centre.copy_from_slice(x);
                if let Some(dist) = dist.as_deref_mut() {
                    for (di, x) in dist.iter_mut().zip(rows(data, d)) {
                        *di = di.min(squared_distance(x, centre));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Initial model: centres by `method`, then one M-step from nearest-centre hard assignments
/// (shifts = the centres; a centre that wins no sample is re-seeded as in
/// [`StatsMut::finish`]). `work` needs length ≥ D. Returns the number of re-seeded components.
///
/// Errors: `EmptyData`, `TooFewSamples` (K > N), `NonFiniteSample`, `ShapeMismatch`, and the
/// M-step's `NotPositiveDefinite` (all samples identical with `reg_covar` = 0).
#[allow(clippy::too_many_arguments)]
pub fn initialize<T: Real, R: Rng + ?Sized>(
    data: &[T],
    model: &mut MixtureMut<'_, T>,
    stats: &mut StatsMut<'_, T>,
    method: InitMethod,
    reg_covar: T,
    rng: &mut R,
    work: &mut [T],
    dist: Option<&mut [T]>,
) -> Result<usize> {
    let shape = model.shape();
    let (k_n, d) = (shape.components, shape.features);
    validate_data(data, d, k_n)?;
    if work.len() < d {
        return Err(Error::ShapeMismatch { what: "work buffer", expected: d, found: work.len() });
    }
    choose_centres(data, d, model.means_mut(), method, rng, dist)?;
    stats.reset(model.as_ref().means())?;
    for x in rows(data, d) {
        let mut best = 0;
        let mut best_d = T::MAX;
        let means = model.as_ref().means();
        for (k, centre) in (0..k_n).zip(rows(means, d)) {
            let dk = squared_distance(x, centre);
            if dk < best_d {
                best_d = dk;
                best = k;
            }
        }
        stats.add_weighted(best, T::ONE, x, work);
        // The farthest sample from its centre is the re-seeding candidate.
        stats.observe(x, -best_d);
    }
    stats.finish(model, reg_covar, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaussian::normal::tests::Stuck;

    #[test]
    fn uniform_below_is_bounded_on_a_stuck_generator() {
        // Zeros are rejected for every n that is not a power of two (threshold 2⁶⁴ mod n > 0).
        assert_eq!(uniform_below(&mut Stuck(0), 3), Err(Error::GeneratorStuck { draws: MAX_REJECTED_DRAWS }));
        assert_eq!(uniform_below(&mut Stuck(0), 4), Ok(0));
        assert_eq!(uniform_below(&mut Stuck(u64::MAX), 3), Ok(2));
        assert_eq!(uniform_below(&mut Stuck(0), 1), Ok(0));
        // k-means++ and random initialization pass the error on.
        let data = [0.0f64, 1.0, 2.0];
        let mut centres = [0.0f64; 2];
        for method in [InitMethod::KMeansPlusPlus, InitMethod::Random] {
            let e = choose_centres(&data, 1, &mut centres, method, &mut Stuck(0), None).unwrap_err();
            assert_eq!(e, Error::GeneratorStuck { draws: MAX_REJECTED_DRAWS });
        }
    }
}
