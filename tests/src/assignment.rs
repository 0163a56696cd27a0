//! Exact optimal assignment (Hungarian algorithm) and the exact Wasserstein-1 distance between
//! two equal-size empirical distributions.
//!
//! For n points each with mass 1/n, W₁ = min over permutations π of (1/n) Σᵢ ‖xᵢ − y_π(i)‖
//! (Birkhoff–von Neumann: the optimal transport plan between uniform measures of equal size is a
//! permutation). The Hungarian algorithm with potentials (Kuhn 1955, Munkres 1957; the O(n³)
//! shortest-augmenting-path form of Jonker & Volgenant) finds it exactly; costs in f64.

/// Minimum-cost perfect matching of an n×n cost matrix (row-major): returns (total cost,
/// `assign[row] = column`). O(n³) time, O(n) extra space besides the matrix.
///
/// Panics when `cost.len() != n²` (a test helper: misuse is a bug). NaN costs give an
/// unspecified matching.
pub fn hungarian(cost: &[f64], n: usize) -> (f64, Vec<usize>) {
    assert_eq!(cost.len(), n * n, "cost matrix must be n×n");
    // 1-based arrays with a virtual column 0, as in the classic formulation.
    let inf = f64::INFINITY;
    let (mut u, mut v) = (vec![0.0; n + 1], vec![0.0; n + 1]);
    let mut p = vec![0usize; n + 1]; // p[j] = row matched to column j
    let mut way = vec![0usize; n + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![inf; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let (mut delta, mut j1) = (inf, 0);
            for j in 1..=n {
                if !used[j] {
                    let cur = cost[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        // Augment along the alternating path back to column 0.
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut assign = vec![0usize; n];
    for j in 1..=n {
        assign[p[j] - 1] = j - 1;
    }
    let total = (0..n).map(|i| cost[i * n + assign[i]]).sum();
    (total, assign)
}

/// Exact W₁ between the empirical distributions of `a` and `b` (same length n, Euclidean ground
/// distance): the optimal assignment's mean distance.
pub fn wasserstein1_exact<const D: usize>(a: &[[f64; D]], b: &[[f64; D]]) -> f64 {
    assert_eq!(a.len(), b.len(), "equal sample sizes");
    let n = a.len();
    let mut cost = vec![0.0; n * n];
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            cost[i * n + j] = (0..D).map(|k| (x[k] - y[k]).powi(2)).sum::<f64>().sqrt();
        }
    }
    hungarian(&cost, n).0 / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All n! permutations' minimum, for small n (the naive oracle).
    fn brute_force(cost: &[f64], n: usize) -> f64 {
        fn rec(cost: &[f64], n: usize, row: usize, used: &mut Vec<bool>, acc: f64, best: &mut f64) {
            if row == n {
                *best = best.min(acc);
                return;
            }
            for j in 0..n {
                if !used[j] {
                    used[j] = true;
                    rec(cost, n, row + 1, used, acc + cost[row * n + j], best);
                    used[j] = false;
                }
            }
        }
        let mut best = f64::INFINITY;
        rec(cost, n, 0, &mut vec![false; n], 0.0, &mut best);
        best
    }

    #[test]
    fn hungarian_matches_brute_force_on_pseudo_random_matrices() {
        let mut s = 12345u64;
        for n in 1..=7 {
            for _ in 0..20 {
                let cost: Vec<f64> = (0..n * n)
                    .map(|_| {
                        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        (s >> 11) as f64 / (1u64 << 53) as f64
                    })
                    .collect();
                let (total, assign) = hungarian(&cost, n);
                assert!((total - brute_force(&cost, n)).abs() < 1e-12);
                let mut seen = assign.clone();
                seen.sort();
                assert_eq!(seen, (0..n).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn w1_of_a_shift_is_the_shift_length() {
        // Points on a line shifted by (3, 4): every optimal plan moves each point by 5.
        let a: Vec<[f64; 2]> = (0..50).map(|i| [i as f64 * 0.01, 0.0]).collect();
        let b: Vec<[f64; 2]> = a.iter().map(|p| [p[0] + 3.0, p[1] + 4.0]).collect();
        assert!((wasserstein1_exact(&a, &b) - 5.0).abs() < 1e-12);
        assert_eq!(wasserstein1_exact(&a, &a), 0.0);
    }
}
