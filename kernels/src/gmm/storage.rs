//! Storage of the one mixture type and the one statistics type (heapless's `HistoryBufInner<T, S>`
//! pattern): a [`Storage`] says what each array is — borrowed slices ([`Slices`],
//! [`SlicesMut`]), inline arrays sized by const generics ([`Arrays`]), or a caller's own (the
//! host's `Vec`s) — and [`MixtureInner`](super::MixtureInner) / [`StatsInner`](super::StatsInner)
//! hold those arrays directly, so every constructor, check and view is written once and each
//! storage keeps exactly the layout it had as its own struct.

use super::totals::Totals;
use super::{CovarianceKind, Shape};
use core::borrow::{Borrow, BorrowMut};
use core::marker::PhantomData;

/// An array of scalars seen as one flat, row-major slice.
pub trait Flat<T> {
    /// The entries, row-major.
    fn flat(&self) -> &[T];
}

/// [`Flat`], writable.
pub trait FlatMut<T>: Flat<T> {
    /// The entries, row-major, writable.
    fn flat_mut(&mut self) -> &mut [T];
}

impl<T> Flat<T> for &[T] {
    #[inline(always)]
    fn flat(&self) -> &[T] {
        self
    }
}
impl<T> Flat<T> for &mut [T] {
    #[inline(always)]
    fn flat(&self) -> &[T] {
        self
    }
}
impl<T> FlatMut<T> for &mut [T] {
    #[inline(always)]
    fn flat_mut(&mut self) -> &mut [T] {
        self
    }
}
impl<T, const K: usize> Flat<T> for [T; K] {
    #[inline(always)]
    fn flat(&self) -> &[T] {
        self
    }
}
impl<T, const K: usize> FlatMut<T> for [T; K] {
    #[inline(always)]
    fn flat_mut(&mut self) -> &mut [T] {
        self
    }
}
impl<T, const D: usize, const K: usize> Flat<T> for [[T; D]; K] {
    #[inline(always)]
    fn flat(&self) -> &[T] {
        self.as_flattened()
    }
}
impl<T, const D: usize, const K: usize> FlatMut<T> for [[T; D]; K] {
    #[inline(always)]
    fn flat_mut(&mut self) -> &mut [T] {
        self.as_flattened_mut()
    }
}
impl<T, const D: usize, const K: usize> Flat<T> for [[[T; D]; D]; K] {
    #[inline(always)]
    fn flat(&self) -> &[T] {
        self.as_flattened().as_flattened()
    }
}
impl<T, const D: usize, const K: usize> FlatMut<T> for [[[T; D]; D]; K] {
    #[inline(always)]
    fn flat_mut(&mut self) -> &mut [T] {
        self.as_flattened_mut().as_flattened_mut()
    }
}

/// What the arrays of a mixture and of its statistics are, for K components in D features.
/// Implemented by the marker types [`Slices`], [`SlicesMut`] and [`Arrays`]; another crate may
/// implement it for its own marker (e.g. `Vec`-backed arrays behind a newtype implementing
/// [`Flat`]/[`FlatMut`]).
pub trait Storage {
    /// The scalar type (`f32` or `f64`).
    type Scalar;
    /// What the `shape` field holds: the whole [`Shape`], or only the kind when K and D are in
    /// the type.
    type Shape: Copy;
    /// K entries (weights, log-normalizers, responsibility sums).
    type Vector: Flat<Self::Scalar>;
    /// K × D entries (means, shifts, s1).
    type Means: Flat<Self::Scalar>;
    /// K × D × D entries (covariances, precision factors, s2).
    type Matrices: Flat<Self::Scalar>;
    /// D entries (the worst sample).
    type Sample: Flat<Self::Scalar>;
    /// The scalar totals of a statistics block.
    type Totals: Borrow<Totals<Self::Scalar>>;
    /// The shape that `shape` describes.
    fn shape(shape: &Self::Shape) -> Shape;
}

/// Borrowed slices with a runtime [`Shape`]: the storage of `MixtureRef` and `StatsRef`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slices<'a, T>(PhantomData<&'a [T]>);

/// Borrowed writable slices with a runtime [`Shape`]: the storage of `MixtureMut` and `StatsMut`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlicesMut<'a, T>(PhantomData<&'a mut [T]>);

/// Inline arrays sized K × D by const generics, plus the kind: the storage of `GaussianMixture`
/// and `SufficientStats`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arrays<T, const K: usize, const D: usize>(PhantomData<T>);

impl<'a, T> Storage for Slices<'a, T> {
    type Scalar = T;
    type Shape = Shape;
    type Vector = &'a [T];
    type Means = &'a [T];
    type Matrices = &'a [T];
    type Sample = &'a [T];
    type Totals = &'a Totals<T>;
    #[inline(always)]
    fn shape(shape: &Shape) -> Shape {
        *shape
    }
}

impl<'a, T> Storage for SlicesMut<'a, T> {
    type Scalar = T;
    type Shape = Shape;
    type Vector = &'a mut [T];
    type Means = &'a mut [T];
    type Matrices = &'a mut [T];
    type Sample = &'a mut [T];
    type Totals = &'a mut Totals<T>;
    #[inline(always)]
    fn shape(shape: &Shape) -> Shape {
        *shape
    }
}

impl<T, const K: usize, const D: usize> Storage for Arrays<T, K, D> {
    type Scalar = T;
    type Shape = CovarianceKind;
    type Vector = [T; K];
    type Means = [[T; D]; K];
    type Matrices = [[[T; D]; D]; K];
    type Sample = [T; D];
    type Totals = Totals<T>;
    #[inline(always)]
    fn shape(kind: &CovarianceKind) -> Shape {
        Shape::new(K, D, *kind)
    }
}

/// A [`Storage`] whose arrays and totals can be written.
pub trait StorageMut:
    Storage<
        Vector: FlatMut<Self::Scalar>,
        Means: FlatMut<Self::Scalar>,
        Matrices: FlatMut<Self::Scalar>,
        Sample: FlatMut<Self::Scalar>,
        Totals: BorrowMut<Totals<Self::Scalar>>,
    >
{
}

impl<S> StorageMut for S where
    S: Storage<
            Vector: FlatMut<S::Scalar>,
            Means: FlatMut<S::Scalar>,
            Matrices: FlatMut<S::Scalar>,
            Sample: FlatMut<S::Scalar>,
            Totals: BorrowMut<Totals<S::Scalar>>,
        >
{
}
