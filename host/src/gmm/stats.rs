//! [`Stats`]: sufficient statistics with heap storage.

use super::heap::{Heap, HeapVec};
use crabmix_kernels::Real;
use crabmix_kernels::gmm::{Shape, StatsInner, StatsMut, Totals};

/// Sufficient statistics with heap storage: the kernels' `StatsInner` over [`Heap`] storage
/// (see the kernels' `StatsMut`).
#[derive(Clone, Debug)]
pub struct Stats<T> {
    inner: StatsInner<Heap<T>>,
}

impl<T: Real> Stats<T> {
    /// Empty statistics for `shape`.
    pub fn new(shape: Shape) -> Self {
        let (k, d) = (shape.components, shape.features);
        let inner = StatsInner::from_parts(
            shape,
            HeapVec(vec![T::ZERO; k * d]),
            HeapVec(vec![T::ZERO; k]),
            HeapVec(vec![T::ZERO; k * d]),
            HeapVec(vec![T::ZERO; k * d * d]),
            HeapVec(vec![T::ZERO; d]),
            Totals::default(),
        )
        .expect("storage sized from the shape");
        Self { inner }
    }

    /// Mutable view for the kernels.
    pub fn view_mut(&mut self) -> StatsMut<'_, T> {
        self.inner.view_mut()
    }
}
