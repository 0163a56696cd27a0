//! A low quantile of ln p in fixed memory: the M smallest values of a batch, sorted, and an
//! exponential tail fitted to them for quantiles below what the batch resolves.
//!
//! Why an exponential tail: for a Gaussian component in D dimensions, −ln p(x) is a constant plus
//! r²/2 with r² ~ χ²_D, so the lower tail of ln p is Gamma(D/2)-shaped, in the Gumbel domain of
//! attraction: by the Pickands–Balkema–de Haan theorem its excesses over a high level are
//! asymptotically exponential (a generalized Pareto law of shape 0), exactly so for D = 2. That
//! is the peaks-over-threshold method (as in SPOT, Siffer et al., KDD 2017, "Anomaly Detection
//! in Streams with Extreme Value Theory"), with the shape fixed at 0, which needs no iterative fit
//! and extrapolates stably from a few dozen values.

use crate::Real;

/// The `M` smallest values pushed since the last [`LowestValues::clear`], ascending, and how many
/// values were pushed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LowestValues<T, const M: usize> {
    lowest: [T; M],
    len: usize,
    count: u32,
}

impl<T: Real, const M: usize> LowestValues<T, M> {
    /// At least three values are needed: a level and two excesses.
    const M_OK: () = assert!(M >= 3, "the tail needs at least 3 values");

    /// Empty.
    pub fn new() -> Self {
        let () = Self::M_OK;
        Self { lowest: [T::ZERO; M], len: 0, count: 0 }
    }

    /// Forgets every value.
    pub fn clear(&mut self) {
        self.len = 0;
        self.count = 0;
    }

    /// Values pushed since the last clear (saturating).
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The smallest values held, ascending.
    pub fn as_slice(&self) -> &[T] {
        self.lowest.get(..self.len).unwrap_or(&self.lowest)
    }

    /// Takes `v` (finite: the caller pushes log densities, which are); keeps it when it is among
    /// the M smallest so far. O(M).
    pub fn push(&mut self, v: T) {
        self.count = self.count.saturating_add(1);
        let held = self.len.min(M);
        // Where v goes: after every held value ≤ v (ties keep arrival order).
        let at = self.lowest.get(..held).map_or(0, |h| h.iter().take_while(|&&h| h <= v).count());
        if at >= M {
            return;
        }
        let end = if held < M { held + 1 } else { M };
        // Shift the larger values up one slot by swapping v through them (no index, no
        // `rotate_right` assertion: the monitor is proven panic-free at link time); the value
        // pushed out of the last slot is the largest when full, an unused slot otherwise.
        let mut carry = v;
        for slot in self.lowest.iter_mut().take(end).skip(at) {
            core::mem::swap(slot, &mut carry);
        }
        self.len = end;
    }

    /// The q-quantile of the distribution the values came from, by an exponential tail over the
    /// level u = the largest value held, when that distribution was seen only above `floor`
    /// (values below it were withheld: a monitor keeps flagged samples out of its window; −∞ for
    /// none).
    ///
    /// Model: P(X < u − y) = p·e^(−y/β) for y ≥ 0. The m = held − 1 values below u give the
    /// excesses y_i = u − v_i, which follow that exponential truncated to y < Y = u − floor; β
    /// solves the truncated exponential's likelihood equation ȳ = β − Y/(e^(Y/β) − 1) (plain
    /// ȳ = β without a floor); the withheld mass p·e^(−Y/β) is added back to the m/count seen
    /// below u: p = (m/n)/(1 − (1 − m/n)·e^(−Y/β)). Then Q(q) = u − β·ln(p/q). Without the floor
    /// correction a monitor's threshold ratchets upwards: each calibration sees a tail cut at the
    /// last threshold, finds it thinner and raises the threshold (measured: 15 % false alarms for a
    /// 1 % target on the firmware's sensor).
    ///
    /// `None` unless 0 < q < m/count and at least 3 values are held.
    pub fn quantile(&self, q: T, floor: T) -> Option<T> {
        self.tail(q, floor).map(|t| t.quantile)
    }

    /// [`LowestValues::quantile`] with the fitted scale β.
    pub fn tail(&self, q: T, floor: T) -> Option<Tail<T>> {
        let v = self.as_slice();
        let (&u, below) = v.split_last()?;
        let m = T::from_usize(below.len());
        let seen = m / T::from_usize(self.count as usize);
        if below.len() < 2 || !(q > T::ZERO && q < seen) {
            return None;
        }
        let mut excess = T::ZERO;
        let mut largest = T::ZERO;
        for &x in below {
            excess += u - x;
            largest = largest.max(u - x);
        }
        let mean = excess / m;
        if !(mean > T::ZERO) {
            return None;
        }
        // Values are cut at the floor under the model of their time, and may lie a little below
        // it under today's: the cut is never above the largest excess seen.
        let cut = (u - floor).max(largest);
        let (beta, hidden) = if cut.is_finite() { truncated_scale(mean, cut) } else { (mean, T::ZERO) };
        let p = seen / (T::ONE - (T::ONE - seen) * hidden);
        Some(Tail { quantile: u - beta * (p / q).ln(), scale: beta })
    }
}

/// A fitted exponential lower tail.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tail<T> {
    /// Q(q).
    pub quantile: T,
    /// β: the tail falls by a factor e per β below the level.
    pub scale: T,
}

/// β and e^(−Y/β) for the exponential truncated to [0, Y) whose mean is `mean`: t = Y/β solves
/// h(t) = 1/t − 1/(e^t − 1) = mean/Y, h decreasing from ½ (t → 0) to 0. h(t) < 1/t brackets the
/// root in (0, Y/mean]; 48 bisection steps narrow the bracket by 2⁻⁴⁸, beyond f32 and far below
/// the tail's statistical error in f64. A mean of Y/2 or more (no decay visible in the excesses)
/// has no root: t → 0 (β → ∞) is capped at t = 10⁻³, where e^t − 1 still has 3 correct digits in
/// f32. In T: f64 on a Cortex-M4F is software arithmetic (kilobytes of flash).
fn truncated_scale<T: Real>(mean: T, cut: T) -> (T, T) {
    let r = mean / cut;
    let h = |t: T| T::ONE / t - T::ONE / (t.exp() - T::ONE);
    let (mut lo, mut hi) = (T::from_f64(1e-3), T::ONE / r);
    if !(h(lo) > r) {
        hi = lo;
    }
    let half = T::from_f64(0.5);
    for _ in 0..48 {
        let mid = half * (lo + hi);
        if h(mid) > r {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let t = half * (lo + hi);
    (cut / t, (-t).exp())
}

impl<T: Real, const M: usize> Default for LowestValues<T, M> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The held values are the M smallest pushed, ascending, against a full sort.
        #[test]
        fn holds_the_m_smallest(values in proptest::collection::vec(-1e3f64..1e3, 0..200)) {
            let mut low = LowestValues::<f64, 8>::new();
            for &v in &values {
                low.push(v);
            }
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            sorted.truncate(8);
            prop_assert_eq!(low.as_slice(), &sorted[..]);
            prop_assert_eq!(low.count() as usize, values.len());
        }
    }

    /// n values at the exact quantiles of X = c − β·E, E ~ Exp(1), those at or above `floor`
    /// only: P(X < c + β ln p) = p.
    fn exponential<T: Real, const M: usize>(n: usize, c: f64, beta: f64, floor: f64) -> LowestValues<T, M> {
        let mut low = LowestValues::new();
        for i in 0..n {
            let x = c + beta * ((i as f64 + 0.5) / n as f64).ln();
            if x >= floor {
                low.push(T::from_f64(x));
            }
        }
        low
    }

    /// Against the exact quantile c + β ln q (the f64 reference), in f32 and f64, from the 32
    /// lowest of 10 000 values (level 0.3 %) down to q = 10⁻⁵.
    #[test]
    fn exponential_tail_recovers_the_quantile() {
        let (c, beta) = (-2.0, 1.7);
        for q in [2e-3, 1e-3, 1e-4, 1e-5] {
            let want = c + beta * f64::ln(q);
            let t64 = exponential::<f64, 32>(10_000, c, beta, f64::NEG_INFINITY)
                .tail(q, f64::NEG_INFINITY)
                .unwrap();
            let t32 = exponential::<f32, 32>(10_000, c, beta, f64::NEG_INFINITY)
                .tail(q as f32, f32::NEG_INFINITY)
                .unwrap();
            // The grid's excesses average slightly below β (measured: 2 %); 0.1 β on the quantile.
            assert!((t64.scale / beta - 1.0).abs() < 0.05, "β = {}", t64.scale);
            assert!((t64.quantile - want).abs() < 0.1 * beta, "q = {q}: {} vs {want}", t64.quantile);
            assert!((t32.quantile as f64 - t64.quantile).abs() < 1e-4, "{t32:?} vs {t64:?}");
        }
    }

    /// Values withheld below a floor (the 10⁻⁴ level here, as a monitor withholds its gross
    /// anomalies) are accounted for: quantiles above and below the floor are recovered; read as
    /// if nothing was withheld, the same values put them off (measured: by 0.15 β at 10⁻³).
    #[test]
    fn a_floor_is_accounted_for() {
        let (c, beta, n) = (0.0, 1.0, 20_000);
        let floor = c + beta * f64::ln(1e-4);
        let low = exponential::<f64, 32>(n, c, beta, floor);
        assert_eq!(low.count(), 19_998);
        for q in [1e-3, 1e-5] {
            let want = c + beta * f64::ln(q);
            let got = low.quantile(q, floor).unwrap();
            let naive = low.quantile(q, f64::NEG_INFINITY).unwrap();
            println!("q = {q}: {got} (without the floor {naive}), exact {want}");
            // Measured: 0.003 β at 10⁻³, 0.13 β at 10⁻⁵ (two decades below the values held).
            assert!((got - want).abs() < 0.2 * beta, "{got} vs {want}");
            assert!((naive - want).abs() > 0.1 * beta, "without the floor: {naive} vs {want}");
        }
    }

    #[test]
    fn says_nothing_outside_its_range() {
        let mut low = LowestValues::<f32, 4>::new();
        assert_eq!(low.quantile(0.01, f32::NEG_INFINITY), None);
        for v in [1.0, 2.0, 3.0] {
            low.push(v);
        }
        // Level of the largest held value: 2 of 3 below it.
        assert!(low.quantile(0.5, f32::NEG_INFINITY).is_some());
        assert_eq!(low.quantile(0.7, f32::NEG_INFINITY), None);
        assert_eq!(low.quantile(0.0, f32::NEG_INFINITY), None);
        assert_eq!(low.quantile(f32::NAN, f32::NEG_INFINITY), None);
        low.clear();
        assert_eq!((low.count(), low.as_slice().len()), (0, 0));
    }
}
