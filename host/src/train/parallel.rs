//! Minibatch gradients on all cores with a result that does not depend on the thread count:
//! the batch is cut into blocks of [`BLOCK_ROWS`] rows (a constant, not the number of threads),
//! each block's gradient is accumulated from zero over its rows in order on whichever thread
//! rayon picks, and the block gradients are then added in block order on the calling thread —
//! accumulate → merge → finish, as the mixtures' sufficient statistics.

use rayon::prelude::*;
use std::ops::Range;

/// Rows per block. 16 rows amortize a block's gradient buffer and merge (one pass over the
/// parameters per block) while a batch of 32 still gives two threads work.
pub const BLOCK_ROWS: usize = 16;

/// Σ over the blocks of `rows` of `f(block_rows, grads, scratch)`, where `f` adds the block's
/// gradient into `grads` (zeroed, length `n_params`) and returns its statistics (summed too, in
/// block order). `S` is per-thread scratch made by `scratch`, reused across blocks (its contents
/// must not change results). The gradient is written to `out` (length `n_params`).
pub fn reduce_blocks<S, F>(
    rows: usize,
    n_params: usize,
    scratch: impl Fn() -> S + Sync + Send,
    f: F,
    out: &mut [f32],
) -> [f64; 4]
where
    F: Fn(Range<usize>, &mut [f32], &mut S) -> [f64; 4] + Sync + Send,
{
    let blocks = rows.div_ceil(BLOCK_ROWS);
    let parts: Vec<(Vec<f32>, [f64; 4])> = (0..blocks)
        .into_par_iter()
        .map_init(&scratch, |s, b| {
            let mut g = vec![0.0f32; n_params];
            let r = b * BLOCK_ROWS..((b + 1) * BLOCK_ROWS).min(rows);
            let stats = f(r, &mut g, s);
            (g, stats)
        })
        .collect();
    out.fill(0.0);
    let mut total = [0.0f64; 4];
    for (g, s) in &parts {
        for (o, v) in out.iter_mut().zip(g) {
            *o += v;
        }
        for k in 0..4 {
            total[k] += s[k];
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bits_on_one_and_four_threads() {
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut out = vec![0.0f32; 3];
                let s = reduce_blocks(
                    1000,
                    3,
                    || (),
                    |r, g, _| {
                        for i in r {
                            let x = (i as f32 * 0.37).sin() * 1e3;
                            g[i % 3] += x;
                        }
                        [1.0, 0.0, 0.0, 0.0]
                    },
                    &mut out,
                );
                (out, s)
            })
        };
        let (a, sa) = run(1);
        let (b, sb) = run(4);
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(sa, sb);
        assert_eq!(sa[0], 1000f64.div_euclid(16.0) + 1.0);
    }
}
