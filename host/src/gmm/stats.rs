//! [`Stats`]: sufficient statistics with heap storage.

use crabmix_kernels::Real;
use crabmix_kernels::gmm::{Shape, StatsMut, Totals};

/// Sufficient statistics with heap storage (see the kernels' `StatsMut`).
#[derive(Clone, Debug)]
pub struct Stats<T> {
    shape: Shape,
    shift: Vec<T>,
    resp: Vec<T>,
    s1: Vec<T>,
    s2: Vec<T>,
    worst: Vec<T>,
    totals: Totals<T>,
}

impl<T: Real> Stats<T> {
    /// Empty statistics for `shape`.
    pub fn new(shape: Shape) -> Self {
        let (k, d) = (shape.components, shape.features);
        Self {
            shape,
            shift: vec![T::ZERO; k * d],
            resp: vec![T::ZERO; k],
            s1: vec![T::ZERO; k * d],
            s2: vec![T::ZERO; k * d * d],
            worst: vec![T::ZERO; d],
            totals: Totals::default(),
        }
    }

    /// Mutable view for the kernels.
    pub fn view_mut(&mut self) -> StatsMut<'_, T> {
        StatsMut::new(
            self.shape,
            &mut self.shift,
            &mut self.resp,
            &mut self.s1,
            &mut self.s2,
            &mut self.worst,
            &mut self.totals,
        )
        .expect("storage sized by the constructor")
    }
}
