//! The monitor's sample window: a ring buffer of the last `W` samples, inline.
//!
//! Why not `heapless::HistoryBuf`: its `write` indexes `self.data[self.write_at]`, a bounds check
//! the optimizer cannot remove, and the monitor is proven panic-free at link time
//! (`firmware/panic-paths.sh`). This one writes through `get_mut` and keeps `next < W` itself.

use crate::Real;

/// The last `W` samples, in storage order (batch fits see the samples in the order of their
/// slots, not of their arrival: the order only moves the sums' rounding, and device and host
/// run the same code).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Window<T, const D: usize, const W: usize> {
    slots: [[T; D]; W],
    /// Next slot to write (< W).
    next: usize,
    /// All W slots hold samples.
    full: bool,
}

impl<T: Real, const D: usize, const W: usize> Window<T, D, W> {
    pub(super) fn new() -> Self {
        Self { slots: [[T::ZERO; D]; W], next: 0, full: false }
    }

    pub(super) fn clear(&mut self) {
        self.next = 0;
        self.full = false;
    }

    /// Stores `x` in the next slot, over the oldest sample once the window is full.
    pub(super) fn write(&mut self, x: [T; D]) {
        let i = if self.next < W { self.next } else { 0 };
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = x;
        }
        // i < W, so i + 1 cannot overflow.
        if i + 1 >= W {
            self.next = 0;
            self.full = true;
        } else {
            self.next = i + 1;
        }
    }

    pub(super) fn is_full(&self) -> bool {
        self.full
    }

    /// The samples held, in storage order.
    pub(super) fn as_slice(&self) -> &[[T; D]] {
        if self.full { &self.slots } else { self.slots.get(..self.next).unwrap_or(&self.slots) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_w_samples() {
        let mut w = Window::<f32, 1, 3>::new();
        assert!(w.as_slice().is_empty());
        w.write([1.0]);
        w.write([2.0]);
        assert_eq!(w.as_slice(), &[[1.0], [2.0]]);
        assert!(!w.is_full());
        w.write([3.0]);
        w.write([4.0]);
        assert!(w.is_full());
        // Slot 0 overwritten by the fourth sample.
        assert_eq!(w.as_slice(), &[[4.0], [2.0], [3.0]]);
        w.clear();
        assert!(w.as_slice().is_empty() && !w.is_full());
    }
}
