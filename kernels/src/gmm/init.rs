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
//!
//! **Sample weights** ([`initialize_weighted`]): a row of weight w counts as w rows in every
//! step — k-means++'s first centre is drawn with probability w_i / W and each next one with
//! probability ∝ w_i·D(x_i)², Lloyd's means, its tolerance and the M-step are weighted, and
//! random responsibilities are scaled by w_i. "The same as w repeated rows" then means:
//! * `kmeans` and `k-means++` make **the same draws** from the same generator: with integer
//!   weights the first centre is `uniform_below(W)` located in the cumulative weights, which
//!   is the row `uniform_below(N)` picks among the repeated rows when they are listed in the
//!   same order; the next centres locate the same uniform in Σ w·D² instead of Σ D² (equal up
//!   to rounding, so a pick differs only if the uniform lands within rounding of a row's
//!   boundary). Non-integer weights draw the first centre as `uniform01`·W.
//! * `random_from_data` draws K distinct rows one at a time, each with probability ∝ its
//!   weight among the rows not yet equal to a chosen centre; repeated rows go through Knuth's
//!   Algorithm S instead (one draw per row), so the two agree in distribution only as far as
//!   picking a row twice is excluded, and not draw for draw.
//! * `random` draws one responsibility vector per stored row: a weight-w row gets w times one
//!   draw where w repeated rows would get w independent draws (equal in expectation only).

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
    let threshold = pow2_64_mod(n64);
    for _ in 0..MAX_REJECTED_DRAWS {
        let m = (rng.next_u64() as u128) * (n64 as u128);
        if (m as u64) >= threshold {
            return Ok((m >> 64) as usize);
        }
    }
    Err(Error::GeneratorStuck { draws: MAX_REJECTED_DRAWS })
}

/// 2⁶⁴ mod n for n ≥ 1 (what `n.wrapping_neg() % n` gives), by binary long division: the
/// remainder r < n is doubled 64 times, subtracting n whenever 2r ≥ n (2r may pass 2⁶⁴; the
/// wrapping subtraction then still gives 2r − n < n). No 64-bit division: on 32-bit cores that is
/// a library routine of about 1 KiB (`__aeabi_uldivmod`), for one call per draw.
fn pow2_64_mod(n: u64) -> u64 {
    let mut r = 1 % n;
    for _ in 0..64 {
        let (twice, carried) = r.overflowing_add(r);
        r = if carried || twice >= n { twice.wrapping_sub(n) } else { twice };
    }
    r
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
    dist: Option<&mut [T]>,
) -> Result<()> {
    choose_centres_weighted(data, None, d, centres, method, rng, dist)
}

/// The weight of row `i` (1 without weights; 0 past the end, which validated weights never
/// reach).
#[inline(always)]
fn weight_of<T: Real>(weights: Option<&[T]>, i: usize) -> T {
    match weights {
        None => T::ONE,
        Some(w) => w.get(i).copied().unwrap_or(T::ZERO),
    }
}

/// A row drawn with probability w_i / W (W = `total` = Σ w > 0): with integer weights (W a
/// whole number below 2⁵²) `r = uniform_below(W)` and the first row whose cumulative weight
/// exceeds r — the row `uniform_below(N)` picks among W repeated rows in the same order —
/// else `uniform01`·W located the same way. A row of weight 0 is never picked.
fn weighted_row<T: Real, R: Rng + ?Sized>(rng: &mut R, weights: &[T], total: T) -> Result<usize> {
    let whole = total.to_f64();
    let target = if whole == libm::floor(whole) && whole < 4_503_599_627_370_496.0 {
        T::from_usize(uniform_below(rng, whole as usize)?)
    } else {
        uniform01::<T, R>(rng) * total
    };
    let mut cum = T::ZERO;
    let mut last = 0;
    for (i, &w) in (0..weights.len()).zip(weights) {
        if w > T::ZERO {
            cum += w;
            last = i;
            if cum > target {
                return Ok(i);
            }
        }
    }
    Ok(last)
}

/// Checks sample weights against N rows: length N, each finite and ≥ 0, Σ w > 0; returns Σ w.
pub fn validate_weights<T: Real>(weights: &[T], n: usize) -> Result<T> {
    if weights.len() != n {
        return Err(Error::ShapeMismatch { what: "sample weights", expected: n, found: weights.len() });
    }
    let mut total = T::ZERO;
    for &w in weights {
        if !(w >= T::ZERO) || !w.is_finite() {
            return Err(Error::InvalidParameter {
                name: "sample_weight",
                reason: "must be finite and non-negative",
            });
        }
        total += w;
    }
    if !(total > T::ZERO) || !total.is_finite() {
        return Err(Error::InvalidParameter {
            name: "sample_weight",
            reason: "must have a positive finite sum",
        });
    }
    Ok(total)
}

/// [`choose_centres`] with sample weights (N, checked by [`validate_weights`]): see the module
/// docs for what a weight changes in each method. `None` is exactly [`choose_centres`].
pub fn choose_centres_weighted<T: Real, R: Rng + ?Sized>(
    data: &[T],
    weights: Option<&[T]>,
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
    let total_weight = match weights {
        Some(w) => Some(validate_weights(w, n)?),
        None => None,
    };
    match method {
        InitMethod::RandomFromData | InitMethod::Random if weights.is_some() => {
            // One weighted draw per centre among the rows not equal to a centre chosen so far
            // (distinct centres); when none is left with weight (fewer distinct weighted rows
            // than K), any row.
            for c in 0..k_n {
                let (chosen, rest) = centres.split_at_mut(c.saturating_mul(d).min(centres.len()));
                let chosen: &[T] = chosen;
                let taken = |x: &[T]| rows(chosen, d).any(|y| y == x);
                let mut left = T::ZERO;
                for (i, x) in (0..n).zip(rows(data, d)) {
                    if !taken(x) {
                        left += weight_of(weights, i);
                    }
                }
                let pick = if left > T::ZERO {
                    let target = uniform01::<T, R>(rng) * left;
                    let mut cum = T::ZERO;
                    let mut pick = None;
                    for (i, x) in (0..n).zip(rows(data, d)) {
                        let w = weight_of(weights, i);
                        if w > T::ZERO && !taken(x) {
                            cum += w;
                            pick = Some(i);
                            if cum > target {
                                break;
                            }
                        }
                    }
                    pick.unwrap_or(0)
                } else {
                    uniform_below(rng, n)?
                };
                let (Some(slot), Some(x)) = (rows_mut(rest, d).next(), rows(data, d).nth(pick)) else {
                    return Err(missing);
                };
                slot.copy_from_slice(x);
            }
        }
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
            let first = match (weights, total_weight) {
                (Some(w), Some(total)) => weighted_row(rng, w, total)?,
                _ => uniform_below(rng, n)?,
            };
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
                // Σ w_i·D(x_i)² (w = 1 without weights: the products are exact).
                let mut total = T::ZERO;
                for (i, x) in (0..n).zip(rows(data, d)) {
                    total += weight_of(weights, i) * nearest(i, x, &dist);
                }
                let pick = if total > T::ZERO && total.is_finite() {
                    let target = uniform01::<T, R>(rng) * total;
                    let mut cum = T::ZERO;
                    // n ≥ k_n ≥ 2 here.
                    let mut pick = n.wrapping_sub(1);
                    for (i, x) in (0..n).zip(rows(data, d)) {
                        let w = weight_of(weights, i) * nearest(i, x, &dist);
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
    initialize_weighted(data, None, model, stats, method, reg_covar, rng, work, dist)
}

/// [`initialize`] with sample weights (N, finite, ≥ 0, positive sum; `None` is exactly
/// [`initialize`]): a row of weight w counts as w rows in the seeds, Lloyd's iterations and
/// the M-step (module docs: what "as w rows" means for each method's draws).
///
/// Errors: those of [`initialize`], `ShapeMismatch` (weights not N long) and
/// `InvalidParameter { name: "sample_weight" }` (a negative or non-finite weight, or Σ w = 0).
#[allow(clippy::too_many_arguments)]
pub fn initialize_weighted<T: Real, R: Rng + ?Sized>(
    data: &[T],
    weights: Option<&[T]>,
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
    choose_centres_weighted(data, weights, d, model.means_mut(), method, rng, dist)?;
    match method {
        InitMethod::Random => {
            return random_responsibilities(data, weights, model, stats, reg_covar, rng, work);
        }
        InitMethod::KMeans => lloyd(data, weights, model, stats, work)?,
        InitMethod::KMeansPlusPlus | InitMethod::RandomFromData => {}
    }
    assign_nearest(data, weights, model, stats, work)?;
    stats.finish(model, reg_covar, true)
}

/// The M-step of hard labels: every row i given wholly (responsibility w_i, 1 without
/// weights) to component `labels[i]`, shifts = the model's current means, then
/// [`StatsMut::finish`] with re-seeding of a label that no row has (as the initialization
/// does). What scikit-learn's `_initialize` computes from its k-means labels; `initialize`
/// with `KMeans` is this with its own Lloyd labels. Returns the number of re-seeded components.
///
/// Errors: those of [`validate_data`] and [`validate_weights`], `ShapeMismatch` for `labels`
/// not N long or `work` < D, `InvalidParameter { name: "labels" }` for a label ≥ K, and the
/// M-step's.
#[allow(clippy::too_many_arguments)]
pub fn hard_m_step<T: Real>(
    data: &[T],
    weights: Option<&[T]>,
    labels: &[usize],
    model: &mut MixtureMut<'_, T>,
    stats: &mut StatsMut<'_, T>,
    reg_covar: T,
    work: &mut [T],
) -> Result<usize> {
    let (k_n, d) = (model.shape().components, model.shape().features);
    validate_data(data, d, 1)?;
    let n = data.len() / d;
    if labels.len() != n {
        return Err(Error::ShapeMismatch { what: "labels", expected: n, found: labels.len() });
    }
    if let Some(w) = weights {
        validate_weights(w, n)?;
    }
    if work.len() < d {
        return Err(Error::ShapeMismatch { what: "work buffer", expected: d, found: work.len() });
    }
    if labels.iter().any(|&l| l >= k_n) {
        return Err(Error::InvalidParameter { name: "labels", reason: "each label must be below K" });
    }
    stats.reset(model.as_ref().means())?;
    for (i, (x, &label)) in (0..n).zip(rows(data, d).zip(labels)) {
        add_hard(stats, weights, i, label, x, T::ZERO, work);
    }
    stats.finish(model, reg_covar, true)
}

/// Row i wholly to component k with its weight; `score` goes into the totals (for the hard
/// assignments: −distance², which makes the farthest row the re-seeding candidate).
#[inline(always)]
fn add_hard<T: Real>(
    stats: &mut StatsMut<'_, T>,
    weights: Option<&[T]>,
    i: usize,
    k: usize,
    x: &[T],
    score: T,
    work: &mut [T],
) {
    match weights {
        None => {
            stats.add_weighted(k, T::ONE, x, work);
            stats.observe(x, score);
        }
        Some(_) => {
            let w = weight_of(weights, i);
            stats.add_weighted(k, w, x, work);
            stats.observe_weighted(x, score, w);
        }
    }
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

/// Resets `stats` to the model's means and adds every sample with its weight (1 without
/// weights) to its nearest centre; the farthest sample from its centre is recorded as the
/// re-seeding candidate.
fn assign_nearest<T: Real>(
    data: &[T],
    weights: Option<&[T]>,
    model: &MixtureMut<'_, T>,
    stats: &mut StatsMut<'_, T>,
    work: &mut [T],
) -> Result<()> {
    let d = model.shape().features;
    let means = model.as_ref().means();
    stats.reset(means)?;
    for (i, x) in (0..data.len()).zip(rows(data, d)) {
        let (best, best_d) = nearest(x, means, d);
        add_hard(stats, weights, i, best, x, -best_d, work);
    }
    Ok(())
}

/// Lloyd's k-means from the centres in `model`'s means (see [`InitMethod::KMeans`] for the
/// stopping rule). The statistics hold each pass's sums: centre c_k + s1_k / n_k is the mean
/// of the samples assigned to k, exactly, whatever the shift. `work` ≥ D.
fn lloyd<T: Real>(
    data: &[T],
    weights: Option<&[T]>,
    model: &mut MixtureMut<'_, T>,
    stats: &mut StatsMut<'_, T>,
    work: &mut [T],
) -> Result<()> {
    let d = model.shape().features;
    let tol = T::from_f64(1e-4) * mean_feature_variance(data, weights, d, work);
    for _ in 0..KMEANS_MAX_ITER {
        assign_nearest(data, weights, model, stats, work)?;
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

/// (1/D) Σ_j var(x_j) over `data` (N × D, N ≥ 1), each row with its weight (1 without
/// weights: every product below is then exact), two passes; `work` ≥ D holds the means.
fn mean_feature_variance<T: Real>(data: &[T], weights: Option<&[T]>, d: usize, work: &mut [T]) -> T {
    let Some(mean) = work.get_mut(..d) else {
        return T::ZERO;
    };
    mean.fill(T::ZERO);
    let mut n = T::ZERO;
    for (i, x) in (0..data.len()).zip(rows(data, d)) {
        let w = weight_of(weights, i);
        for (m, &v) in mean.iter_mut().zip(x) {
            *m += w * v;
        }
        n += w;
    }
    for m in mean.iter_mut() {
        *m /= n;
    }
    let mut total = T::ZERO;
    for (i, x) in (0..data.len()).zip(rows(data, d)) {
        total += weight_of(weights, i) * squared_distance(x, mean);
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
        // (z >> 11) + 1 ≤ 2^53 is rounded once to T and the scaling by 2^-53 is exact: the same
        // value as the exact f64 quotient rounded to T, without f64 arithmetic in f32 code.
        T::from_u64((z >> 11) + 1) * T::from_f64(1.0 / 9_007_199_254_740_992.0)
    }
}

/// [`InitMethod::Random`]: r_ik = u_ik / Σ_l u_il with u uniform, one M-step, shifts = the
/// centres `choose_centres` wrote (distinct samples, so that s1 and s2 stay small).
fn random_responsibilities<T: Real, R: Rng + ?Sized>(
    data: &[T],
    weights: Option<&[T]>,
    model: &mut MixtureMut<'_, T>,
    stats: &mut StatsMut<'_, T>,
    reg_covar: T,
    rng: &mut R,
    work: &mut [T],
) -> Result<usize> {
    let (k_n, d) = (model.shape().components, model.shape().features);
    stats.reset(model.as_ref().means())?;
    for (i, x) in (0..data.len()).zip(rows(data, d)) {
        let w = weight_of(weights, i);
        let seed = rng.next_u64();
        let mut draws = SplitMix64(seed);
        let mut sum = T::ZERO;
        for _ in 0..k_n {
            sum += draws.next::<T>();
        }
        let mut draws = SplitMix64(seed);
        for k in 0..k_n {
            // w·(u/Σu): the weight 1 of unweighted data leaves the product exact.
            stats.add_weighted(k, w * (draws.next::<T>() / sum), x, work);
        }
        match weights {
            None => stats.observe(x, T::ZERO),
            Some(_) => stats.observe_weighted(x, T::ZERO, w),
        }
    }
    stats.finish(model, reg_covar, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaussian::normal::tests::Stuck;
    use rand_core::SeedableRng;

    #[test]
    fn pow2_64_mod_is_the_wrapping_remainder() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let edge = [
            1,
            2,
            3,
            7,
            10,
            1 << 32,
            (1 << 32) + 1,
            (1 << 63) - 1,
            1 << 63,
            (1 << 63) + 1,
            u64::MAX - 1,
            u64::MAX,
        ];
        for n in edge.into_iter().chain((0..10_000).map(|i| rng.next_u64() >> (i % 64))) {
            let n = n.max(1);
            assert_eq!(pow2_64_mod(n), n.wrapping_neg() % n, "n = {n}");
        }
    }

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
