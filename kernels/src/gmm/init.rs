//! Initial parameters for EM: K centres (k-means++ or distinct random samples), each sample
//! assigned to its nearest centre, and one M-step from those hard assignments.
//!
//! scikit-learn's `k-means++` and `random_from_data` instead give each chosen centre alone a
//! responsibility of 1, so its first covariances are `reg_covar`·I; the nearest-centre M-step
//! used here starts from the covariances of the Voronoi cells, which is what the first E-step of
//! that degenerate start converges to anyway, without the 10⁶-fold-too-narrow first model.

use super::em::validate_data;
use super::model::MixtureMut;
use super::stats::StatsMut;
use crate::gaussian::normal::uniform01;
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

/// A uniform integer in [0, n) by Lemire's multiply-and-reject (unbiased); 0 when n = 0.
pub fn uniform_below<R: Rng + ?Sized>(rng: &mut R, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let n64 = n as u64;
    let threshold = n64.wrapping_neg() % n64;
    loop {
        let m = (rng.next_u64() as u128) * (n64 as u128);
        if (m as u64) >= threshold {
            return (m >> 64) as usize;
        }
    }
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
    let n = data.len() / d;
    let k_n = centres.len() / d;
    if k_n > n {
        return Err(Error::TooFewSamples { samples: n, components: k_n });
    }
    match method {
        InitMethod::Random => {
            let mut chosen = 0;
            for i in 0..n {
                if chosen == k_n {
                    break;
                }
                if uniform_below(rng, n - i) < k_n - chosen {
                    centres[chosen * d..(chosen + 1) * d].copy_from_slice(&data[i * d..(i + 1) * d]);
                    chosen += 1;
                }
            }
        }
        InitMethod::KMeansPlusPlus => {
            let first = uniform_below(rng, n);
            centres[..d].copy_from_slice(&data[first * d..(first + 1) * d]);
            if let Some(dist) = dist.as_deref_mut() {
                if dist.len() != n {
                    return Err(Error::ShapeMismatch {
                        what: "k-means++ distance buffer",
                        expected: n,
                        found: dist.len(),
                    });
                }
                for (i, x) in data.chunks_exact(d).enumerate() {
                    dist[i] = squared_distance(x, &centres[..d]);
                }
            }
            for c in 1..k_n {
                let nearest = |i: usize, x: &[T], dist: &Option<&mut [T]>| -> T {
                    match dist {
                        Some(dist) => dist[i],
                        None => {
                            let mut best = T::MAX;
                            for j in 0..c {
                                best = best.min(squared_distance(x, &centres[j * d..(j + 1) * d]));
                            }
                            best
                        }
                    }
                };
                let mut total = T::ZERO;
                for (i, x) in data.chunks_exact(d).enumerate() {
                    total += nearest(i, x, &dist);
                }
                let pick = if total > T::ZERO && total.is_finite() {
                    let target = uniform01::<T, R>(rng) * total;
                    let mut cum = T::ZERO;
                    let mut pick = n - 1;
                    for (i, x) in data.chunks_exact(d).enumerate() {
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
                    uniform_below(rng, n)
                };
                centres[c * d..(c + 1) * d].copy_from_slice(&data[pick * d..(pick + 1) * d]);
                if let Some(dist) = dist.as_deref_mut() {
                    let centre = &centres[c * d..(c + 1) * d];
                    for (i, x) in data.chunks_exact(d).enumerate() {
                        dist[i] = dist[i].min(squared_distance(x, centre));
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
    for x in data.chunks_exact(d) {
        let mut best = 0;
        let mut best_d = T::MAX;
        let means = model.as_ref().means();
        for k in 0..k_n {
            let dk = squared_distance(x, &means[k * d..(k + 1) * d]);
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
