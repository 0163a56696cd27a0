//! Row iterators for the runtime-sized (slice) kernels: `chunks_exact` without its panics.
//!
//! `slice::chunks_exact(n)` asserts `n != 0`, and zipping two of them divides by `n` to size the
//! zip; when the optimizer cannot see that `n` is non-zero (it is a field of a shape, checked
//! when the shape was built), both stay in the image as panic paths. [`rows`] takes the size as
//! a plain `usize`, turns 0 into an empty iterator, and steps with `split_at_checked`: there is
//! no panicking code in it at all, and every row it yields has exactly `n` entries, which lets
//! the optimizer drop the bounds checks of indices `< n` into the row. The GMM kernels and the
//! Cholesky routines walk their components and matrix rows with it (issue 8: panic-freedom
//! proven at link time, `firmware/panic-paths.sh`).

use core::num::NonZeroUsize;

/// Consecutive rows of exactly `n` entries of a slice (a shorter tail is not yielded).
#[derive(Clone, Debug)]
pub(crate) struct Rows<'a, T> {
    rest: &'a [T],
    n: NonZeroUsize,
}

/// [`Rows`], writable.
#[derive(Debug)]
pub(crate) struct RowsMut<'a, T> {
    rest: &'a mut [T],
    n: NonZeroUsize,
}

/// The rows of `n` entries of `s`; none when `n` is 0.
#[inline(always)]
pub(crate) fn rows<T>(s: &[T], n: usize) -> Rows<'_, T> {
    match NonZeroUsize::new(n) {
        Some(n) => Rows { rest: s, n },
        None => Rows { rest: &[], n: NonZeroUsize::MIN },
    }
}

/// The rows of `n` entries of `s`, writable; none when `n` is 0.
#[inline(always)]
pub(crate) fn rows_mut<T>(s: &mut [T], n: usize) -> RowsMut<'_, T> {
    match NonZeroUsize::new(n) {
        Some(n) => RowsMut { rest: s, n },
        None => RowsMut { rest: &mut [], n: NonZeroUsize::MIN },
    }
}

impl<'a, T> Iterator for Rows<'a, T> {
    type Item = &'a [T];

    #[inline(always)]
    fn next(&mut self) -> Option<&'a [T]> {
        let (row, rest) = self.rest.split_at_checked(self.n.get())?;
        self.rest = rest;
        Some(row)
    }

    #[inline]
    // `checked_mul(..).unwrap_or(MAX)` is what the panic-freedom proof was measured with.
    #[allow(clippy::manual_saturating_arithmetic)]
    fn nth(&mut self, k: usize) -> Option<&'a [T]> {
        let skip = k.checked_mul(self.n.get()).unwrap_or(usize::MAX);
        self.rest = self.rest.get(skip..).unwrap_or(&[]);
        self.next()
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let k = self.rest.len() / self.n;
        (k, Some(k))
    }
}

impl<T> ExactSizeIterator for Rows<'_, T> {}

impl<'a, T> Iterator for RowsMut<'a, T> {
    type Item = &'a mut [T];

    #[inline(always)]
    fn next(&mut self) -> Option<&'a mut [T]> {
        let (row, rest) = core::mem::take(&mut self.rest).split_at_mut_checked(self.n.get())?;
        self.rest = rest;
        Some(row)
    }

    #[inline]
    // `checked_mul(..).unwrap_or(MAX)` is what the panic-freedom proof was measured with.
    #[allow(clippy::manual_saturating_arithmetic)]
    fn nth(&mut self, k: usize) -> Option<&'a mut [T]> {
        let skip = k.checked_mul(self.n.get()).unwrap_or(usize::MAX);
        let rest = core::mem::take(&mut self.rest);
        self.rest = match rest.get_mut(skip..) {
            Some(r) => r,
            None => &mut [],
        };
        self.next()
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let k = self.rest.len() / self.n;
        (k, Some(k))
    }
}

impl<T> ExactSizeIterator for RowsMut<'_, T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_match_chunks_exact() {
        let v: [u32; 7] = core::array::from_fn(|i| i as u32);
        for n in 1..9 {
            assert!(rows(&v, n).eq(v.chunks_exact(n)), "n = {n}");
            assert_eq!(rows(&v, n).len(), v.chunks_exact(n).len());
            for k in 0..9 {
                assert_eq!(rows(&v, n).nth(k), v.chunks_exact(n).nth(k), "n = {n}, k = {k}");
                let mut w = v;
                let mut c = v;
                assert_eq!(rows_mut(&mut w, n).nth(k), c.chunks_exact_mut(n).nth(k));
            }
        }
        assert_eq!(rows(&v, 0).count(), 0);
        assert_eq!(rows(&v, usize::MAX).nth(usize::MAX), None);
        let mut w = v;
        assert_eq!(rows_mut(&mut w, 0).next(), None);
        for row in rows_mut(&mut w, 3) {
            row.reverse();
        }
        assert_eq!(w, [2, 1, 0, 5, 4, 3, 6]);
    }
}
