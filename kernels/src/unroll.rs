//! `unroll!`: loops over a compile-time bound as straight-line code, for the fixed-size
//! kernels (`gmm/unrolled.rs`, `linalg/cholesky.rs`).

/// `for $i in $lo..$n { $body }` for a compile-time `$n` (K or D), with the first four
/// iterations written out, each under `if $i < $n` (which folds away), and a loop for the rest.
/// The firmware builds at opt-level "s", where LLVM unrolls no loop by itself: this is what
/// turns the per-component and per-feature loops into straight-line code for K, D ≤ 4 (larger
/// sizes keep a loop after the fourth iteration, same results). `$body` may `return`, not
/// `continue` or `break`.
macro_rules! unroll {
    ($i:ident in $lo:expr, $n:expr => $body:block) => {{
        let lo: usize = $lo;
        let n: usize = $n;
        {
            let $i = lo;
            if $i < n $body
        }
        {
            let $i = lo + 1;
            if $i < n $body
        }
        {
            let $i = lo + 2;
            if $i < n $body
        }
        {
            let $i = lo + 3;
            if $i < n $body
        }
        let mut $i = lo + 4;
        while $i < n {
            $body
            $i += 1;
        }
    }};
    ($i:ident in $n:expr => $body:block) => {
        unroll!($i in 0, $n => $body)
    };
}
