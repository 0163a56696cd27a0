//! A buffer whose first element sits on a 64-byte boundary (a cache line, and the
//! width of an AVX-512 register).
//!
//! `Vec<f64>` is only 8- or 16-byte aligned, so a 256- or 512-bit store into it straddles two
//! cache lines one time in two (or every time): in the blocked E-step's streaming loops those
//! split stores cost more than the arithmetic. Rows of a feature-major block are
//! [`crate::gmm::blocked::BLOCK_ROWS`] values apart, a multiple of 64 bytes, so aligning the
//! start aligns every row.

use core::ops::{Deref, DerefMut};

/// Bytes of the alignment [`AlignedBuf`] gives.
pub const ALIGN_BYTES: usize = 64;

/// `len` values of `T`, the first at a multiple of [`ALIGN_BYTES`] when `T`'s size divides it
/// and equals its alignment (f32, f64); otherwise at `T`'s own alignment. Dereferences to the
/// slice; a clone is a new aligned buffer.
pub struct AlignedBuf<T> {
    buf: Vec<T>,
    start: usize,
    len: usize,
}

impl<T: Copy> AlignedBuf<T> {
    /// `len` copies of `fill`.
    pub fn new(len: usize, fill: T) -> Self {
        let pad = ALIGN_BYTES / size_of::<T>().max(1);
        let buf = vec![fill; len + pad];
        // `align_offset` may decline (usize::MAX) or exceed the pad for odd sizes: then the
        // buffer starts at 0, merely unaligned.
        let start = buf.as_ptr().align_offset(ALIGN_BYTES);
        let start = if start <= pad { start } else { 0 };
        Self { buf, start, len }
    }
}

impl<T: Copy> Clone for AlignedBuf<T> {
    fn clone(&self) -> Self {
        // A derived clone would copy `start` onto a new allocation, aligned or not.
        // Any value serves as the fill (all are overwritten); the padding has one even at len 0.
        match self.buf.first() {
            Some(&v) => {
                let mut c = Self::new(self.len, v);
                c.copy_from_slice(self);
                c
            }
            None => Self { buf: Vec::new(), start: 0, len: 0 },
        }
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for AlignedBuf<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T> Deref for AlignedBuf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.buf[self.start..self.start + self.len]
    }
}

impl<T> DerefMut for AlignedBuf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_a_cache_line_and_has_the_length_asked() {
        for len in [0, 1, 7, 256, 4099] {
            let mut a = AlignedBuf::new(len, 0.0f64);
            let b = AlignedBuf::new(len, 0.0f32);
            assert_eq!((a.len(), b.len()), (len, len));
            assert_eq!(a.as_ptr() as usize % ALIGN_BYTES, 0, "f64 len {len}");
            assert_eq!(b.as_ptr() as usize % ALIGN_BYTES, 0, "f32 len {len}");
            assert!(
                a.iter().chain(b.iter().map(|&v| v as f64).collect::<Vec<_>>().iter()).all(|&v| v == 0.0)
            );
            a.iter_mut().enumerate().for_each(|(i, v)| *v = i as f64);
            assert!(a.iter().enumerate().all(|(i, &v)| v == i as f64));
            let c = a.clone();
            assert_eq!((c.len(), &c[..]), (len, &a[..]), "clone, len {len}");
            assert_eq!(c.as_ptr() as usize % ALIGN_BYTES, 0, "clone of f64 len {len}");
        }
    }
}
