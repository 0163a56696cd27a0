//! Initial parameters for EM, with scikit-learn's four `init_params`:
//!
//! * `kmeans` (the default, as there): k-means++ seeds, Lloyd's k-means iterations, then the
//!   M-step of the hard (nearest-centre) assignments;
//! * `k-means++`: the k-means++ seeds, then the M-step of the nearest-centre assignments;
//! * `random_from_data`: K distinct samples as centres, then the same M-step;
//! * `random`: uniform random responsibilities (normalized per sample), then the M-step.
//!
//! scikit-learn's `k-means++` and `random_from_data` instead give each chosen centre alone a
//! responsibility of 1, so its first covariances are `reg_covar`·I; the nearest-centre M-step
//! used here starts from the covariances of the Voronoi cells, which is what the first E-step of
//! that degenerate start converges to anyway, without the 10⁶-fold-too-narrow first model.
//! Everything runs in the caller's fixed storage: the model's means hold the centres, the
//! statistics' n and s1 the Lloyd sums; nothing is allocated.

use super::model::MixtureMut;
use super::stats::StatsMut;
use super::validate_data;
use crate::gaussian::normal::{MAX_REJECTED_DRAWS, uniform01};
use crate::linalg::rows::{rows, rows_mut};
use crate::{Error, Real, Result};
use rand_core::Rng;

/// How the initial model is made (scikit-learn's `init_params`; see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum InitMethod {
    /// scikit-learn's default `kmeans`: k-means++ seeds, then Lloyd iterations (assign each
    /// sample to its nearest centre, move each centre to the mean of its samples) until the
    /// centres move by Σ_k ‖Δc_k‖² ≤ 1e-4 · mean per-feature variance of the data, no
    /// assignment changes, or [`KMEANS_MAX_ITER`] iterations (scikit-learn's `KMeans` defaults);
    /// a centre that wins no sample stays where it is. Then the M-step of the final
    /// nearest-centre assignments.
    #[default]
    KMeans,
    /// k-means++ seeding (Arthur & Vassilvitskii 2007): the first centre uniformly, each next one
    /// with probability proportional to its squared distance to the nearest chosen centre. No
    /// Lloyd iterations.
    KMeansPlusPlus,
    /// K distinct samples chosen uniformly (Knuth's selection sampling, Algorithm S).
    RandomFromData,
    /// Random responsibilities: each sample's K values uniform in [0, 1), divided by their sum.
    Random,
}

/// Lloyd iterations of [`InitMethod::KMeans`] at most (scikit-learn's `KMeans(max_iter=300)`).
pub const KMEANS_MAX_ITER: u32 = 300;

impl InitMethod {
    /// The name used on the command line and by scikit-learn: `kmeans`, `k-means++`,
    /// `random_from_data`, `random`.
    pub const fn name(self) -> &'static str {
        match self {
            InitMethod::KMeans => "kmeans",
            InitMethod::KMeansPlusPlus => "k-means++",
            InitMethod::RandomFromData => "random_from_data",
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

/// Writes K initial centres into `centres` (K × D) from `data` (N × D): k-means++ seeds for
/// `KMeans` and `KMeansPlusPlus`, distinct samples for `RandomFromData` and `Random`.
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
        InitMethod::RandomFromData | InitMethod::Random => {
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
        InitMethod::KMeansPlusPlus | InitMethod::KMeans => {
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

/// Initial model by `method` (see [`InitMethod`]): centres, then one M-step from their
/// nearest-centre hard assignments (shifts = the centres; a centre that wins no sample is
/// re-seeded as in [`StatsMut::finish`]), or for `Random` the M-step of random
/// responsibilities. `work` needs length ≥ D. Returns the number of re-seeded components.
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
    match method {
        InitMethod::Random => return random_responsibilities(data, model, stats, reg_covar, rng, work),
        InitMethod::KMeans => lloyd(data, model, stats, work)?,
        InitMethod::KMeansPlusPlus | InitMethod::RandomFromData => {}
    }
    assign_nearest(data, model, stats, work)?;
    stats.finish(model, reg_covar, true)
}

/// The centre nearest to `x` (squared Euclidean distance; ties: the lowest k) and its distance.
fn nearest<T: Real>(x: &[T], means: &[T], d: usize) -> (usize, T) {
    let mut best = 0;
    let mut best_d = T::MAX;
    // A bounded range (K ≤ len / D): `0..` would carry an overflow check, a panic path.
    for (k, centre) in (0..means.len()).zip(rows(means, d)) {
        let dk = squared_distance(x, centre);
        if dk < best_d {
            best_d = dk;
            best = k;
        }
    }
    (best, best_d)
}

/// Resets `stats` to the model's means and adds every sample with weight 1 to its nearest
/// centre; the farthest sample from its centre is recorded as the re-seeding candidate.
fn assign_nearest<T: Real>(
    data: &[T],
    model: &MixtureMut<'_, T>,
    stats: &mut StatsMut<'_, T>,
    work: &mut [T],
) -> Result<()> {
    let d = model.shape().features;
    let means = model.as_ref().means();
    stats.reset(means)?;
    for x in rows(data, d) {
        let (best, best_d) = nearest(x, means, d);
        stats.add_weighted(best, T::ONE, x, work);
        stats.observe(x, -best_d);
    }
    Ok(())
}

/// Lloyd's k-means from the centres in `model`'s means (see [`InitMethod::KMeans`] for the
/// stopping rule). The statistics hold each pass's sums: centre c_k + s1_k / n_k is the mean
/// of the samples assigned to k, exactly, whatever the shift. `work` ≥ D.
fn lloyd<T: Real>(
    data: &[T],
    model: &mut MixtureMut<'_, T>,
    stats: &mut StatsMut<'_, T>,
    work: &mut [T],
) -> Result<()> {
    let d = model.shape().features;
    let tol = T::from_f64(1e-4) * mean_feature_variance(data, d, work);
    for _ in 0..KMEANS_MAX_ITER {
        assign_nearest(data, model, stats, work)?;
        let view = stats.as_ref();
        let mut shift = T::ZERO;
        for ((c, &n), s1) in rows_mut(model.means_mut(), d).zip(view.resp_sums()).zip(rows(view.s1(), d)) {
            if n > T::ZERO {
                for (ci, &s) in c.iter_mut().zip(s1) {
                    let delta = s / n;
                    *ci += delta;
                    shift += delta * delta;
                }
            }
        }
        // shift = 0: no centre moved, so no assignment can change (scikit-learn's "strict
        // convergence"); shift ≤ tol: its tolerance.
        if shift <= tol {
            break;
        }
    }
    Ok(())
}

/// (1/D) Σ_j var(x_j) over `data` (N × D, N ≥ 1), two passes; `work` ≥ D holds the means.
fn mean_feature_variance<T: Real>(data: &[T], d: usize, work: &mut [T]) -> T {
    let Some(mean) = work.get_mut(..d) else {
        return T::ZERO;
    };
    mean.fill(T::ZERO);
    let mut n = T::ZERO;
    for x in rows(data, d) {
        for (m, &v) in mean.iter_mut().zip(x) {
            *m += v;
        }
        n += T::ONE;
    }
    for m in mean.iter_mut() {
        *m /= n;
    }
    let mut total = T::ZERO;
    for x in rows(data, d) {
        total += squared_distance(x, mean);
    }
    total / (n * T::from_usize(d))
}

/// SplitMix64 (Steele, Lea & Flood 2014; constants from Vigna's reference `splitmix64.c`):
/// replays one sample's K uniforms from a seed, so that random responsibilities need no K-sized
/// buffer (they are drawn twice: once for their sum, once to add them).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next<T: Real>(&mut self) -> T {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // Top 53 bits / 2^53 in [0, 1), plus 2^-53 so that no draw is 0 and every sum is > 0.
        T::from_f64(((z >> 11) as f64 + 1.0) / 9_007_199_254_740_992.0)
    }
}

/// [`InitMethod::Random`]: r_ik = u_ik / Σ_l u_il with u uniform, one M-step, shifts = the
/// centres `choose_centres` wrote (distinct samples, so that s1 and s2 stay small).
fn random_responsibilities<T: Real, R: Rng + ?Sized>(
    data: &[T],
    model: &mut MixtureMut<'_, T>,
    stats: &mut StatsMut<'_, T>,
    reg_covar: T,
    rng: &mut R,
    work: &mut [T],
) -> Result<usize> {
    let (k_n, d) = (model.shape().components, model.shape().features);
    stats.reset(model.as_ref().means())?;
    for x in rows(data, d) {
        let seed = rng.next_u64();
        let mut draws = SplitMix64(seed);
        let mut sum = T::ZERO;
        for _ in 0..k_n {
            sum += draws.next::<T>();
        }
        let mut draws = SplitMix64(seed);
        for k in 0..k_n {
            stats.add_weighted(k, draws.next::<T>() / sum, x, work);
        }
        stats.observe(x, T::ZERO);
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
