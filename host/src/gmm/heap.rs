//! [`Heap`]: `Vec` storage for the kernels' one mixture and one statistics type
//! (`MixtureInner`, `StatsInner`), with the shape known at run time.

use core::marker::PhantomData;
use crabmix_kernels::gmm::{Flat, FlatMut, Shape, Storage, Totals};

/// Heap storage: every array a [`HeapVec`], the shape at run time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Heap<T>(PhantomData<T>);

/// One array of [`Heap`] storage.
#[derive(Clone, Debug, PartialEq)]
pub struct HeapVec<T>(pub Vec<T>);

impl<T> Flat<T> for HeapVec<T> {
    fn flat(&self) -> &[T] {
        &self.0
    }
}

impl<T> FlatMut<T> for HeapVec<T> {
    fn flat_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}

impl<T> Storage for Heap<T> {
    type Scalar = T;
    type Shape = Shape;
    type Vector = HeapVec<T>;
    type Means = HeapVec<T>;
    type Matrices = HeapVec<T>;
    type Sample = HeapVec<T>;
    type Totals = Totals<T>;
    fn shape(shape: &Shape) -> Shape {
        *shape
    }
}
