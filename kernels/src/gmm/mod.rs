//! Gaussian mixtures p(x) = Σ_k α_k N(x; μ_k, Σ_k), fitted by EM (§2 of the lecture).
//!
//! Every EM computation has one shape, from the microcontroller to the GPU:
//!
//! 1. **accumulate** — [`SufficientStats`] (fixed size) or [`StatsMut`] (slices) take one sample
//!    at a time: E-step in the log domain, then responsibility-weighted sums of the deviations
//!    from a per-component shift (the model's current means), so f32 keeps its digits on data far
//!    from zero;
//! 2. **merge** — statistics from threads, GPU blocks or devices add associatively, re-centred
//!    exactly when their shifts differ;
//! 3. **finish** — the M-step turns them into new parameters (α, μ, Σ + `reg_covar`·I) and
//!    refreshes the Cholesky factors used by the next E-step.
//!
//! The slice routines take runtime K and D (the host fits any K, D ≤ 64 with one instantiation per
//! scalar type); [`GaussianMixture`] and [`SufficientStats`] wrap them with const-generic sizes
//! and inline storage for firmware.

mod blob;
mod em;
mod estep;
mod fixed;
mod init;
mod model;
mod online;
mod stats;
mod storage;
mod totals;
mod unrolled;

pub use blob::{
    BLOB_HEADER_LEN, BLOB_MAGIC, BLOB_VERSION, BlobError, blob_len, blob_parameters, crc32, encode_blob,
};
pub use em::{FitConfig, FitReport, em_loop, em_loop_observed, fit, fit_weighted_with, fit_with};
pub use estep::{EStep, SerialEStep};
pub use fixed::{GaussianMixture, SufficientStats};
pub use init::{
    InitMethod, KMEANS_MAX_ITER, choose_centres, choose_centres_weighted, hard_m_step, initialize,
    initialize_weighted, uniform_below, validate_weights,
};
pub use model::{
    MixtureInner, MixtureMut, MixtureRef, log_sum_exp, responsibilities_in_place, sample_responsibilities,
};
pub use online::{OnlineConfig, OnlineEm, online_step};
pub use stats::{StatsInner, StatsMut, StatsRef};
pub use storage::{Arrays, Flat, FlatMut, Slices, SlicesMut, Storage, StorageMut};
pub use totals::Totals;

use crate::linalg::rows::rows_mut;
use crate::{Error, Real, Result};
use core::num::NonZeroUsize;

/// Largest K and D the runtime-sized (slice) routines accept; fixed-size types may use any size.
pub const MAX_RUNTIME_SIZE: usize = 64;

/// Which covariance structure each component has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CovarianceKind {
    /// A full symmetric positive-definite D × D matrix per component: D(D+1)/2 parameters.
    #[default]
    Full,
    /// A diagonal matrix per component: D parameters.
    Diag,
    /// σ²·I per component: 1 parameter.
    Spherical,
    /// One full covariance shared by every component (scikit-learn's `tied`): D(D+1)/2
    /// parameters in all. Stored, like `full`, as K equal D × D matrices, so that the
    /// per-sample work is `full`'s; the M-step pools the within-component scatter.
    Tied,
}

impl CovarianceKind {
    /// Number of free covariance parameters of one component in D dimensions.
    pub const fn parameters_per_component(self, d: usize) -> usize {
        match self {
            CovarianceKind::Full => d * (d + 1) / 2,
            CovarianceKind::Diag => d,
            CovarianceKind::Spherical => 1,
            // Shared: counted once in `model_parameters`.
            CovarianceKind::Tied => 0,
        }
    }

    /// Whether covariances are whole D × D matrices (`full` and `tied`), not diagonals.
    pub const fn is_full_matrix(self) -> bool {
        matches!(self, CovarianceKind::Full | CovarianceKind::Tied)
    }

    /// Free parameters of a K-component mixture: K·cov + K·D means + (K − 1) weights
    /// (scikit-learn's `_n_parameters`), used by BIC and AIC.
    pub const fn model_parameters(self, k: usize, d: usize) -> usize {
        let shared = if matches!(self, CovarianceKind::Tied) { d * (d + 1) / 2 } else { 0 };
        k * self.parameters_per_component(d) + shared + k * d + k - 1
    }

    /// The name used on the command line and in JSON: `full`, `diag`, `spherical`, `tied`.
    pub const fn name(self) -> &'static str {
        match self {
            CovarianceKind::Full => "full",
            CovarianceKind::Diag => "diag",
            CovarianceKind::Spherical => "spherical",
            CovarianceKind::Tied => "tied",
        }
    }
}

/// K components in D dimensions of a given covariance kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Shape {
    /// Number of components K ≥ 1.
    pub components: usize,
    /// Number of features D ≥ 1.
    pub features: usize,
    /// Covariance structure.
    pub kind: CovarianceKind,
}

impl Shape {
    /// A shape; see [`Shape::validate`] for the rules.
    pub const fn new(components: usize, features: usize, kind: CovarianceKind) -> Self {
        Self { components, features, kind }
    }

    /// K ≥ 1 and D ≥ 1 (zero-sized models have no density).
    pub fn validate(&self) -> Result<()> {
        if self.components == 0 {
            return Err(Error::InvalidParameter { name: "components", reason: "must be at least 1" });
        }
        if self.features == 0 {
            return Err(Error::InvalidParameter { name: "features", reason: "must be at least 1" });
        }
        Ok(())
    }

    /// (K, D, D²) after [`Shape::validate`], with D² checked for overflow.
    ///
    /// The slice routines walk their per-component rows of `d` and `dd` entries
    /// ([`rows`](crate::linalg::rows)), zipped with each other, instead of indexing `k * d + i`; their
    /// storage has K such rows by construction, and once this returned `Ok` the compiler knows
    /// both sizes are non-zero (`firmware/panic-paths.sh` proves at link time that no panic
    /// path is left).
    #[inline(always)]
    pub(crate) fn dims(&self) -> Result<(usize, usize, usize)> {
        self.validate()?;
        let d = self.features;
        match d.checked_mul(d) {
            Some(dd) if dd != 0 => Ok((self.components, d, dd)),
            _ => {
                Err(Error::CapacityExceeded { what: "features squared", capacity: usize::MAX, requested: d })
            }
        }
    }

    /// Storage lengths (K, K·D, K·D²) of this shape, checked for overflow.
    pub(crate) fn lengths(&self) -> Result<(usize, usize, usize)> {
        let (k, _, dd) = self.dims()?;
        let overflow = Error::CapacityExceeded { what: "storage length", capacity: usize::MAX, requested: k };
        let kd = k.checked_mul(self.features).ok_or(overflow)?;
        let kdd = k.checked_mul(dd).ok_or(overflow)?;
        Ok((k, kd, kdd))
    }
}

/// Checks a data set (N × D row-major) for a K-component fit: D ≥ 1, length a multiple of D,
/// N ≥ 1, N ≥ K, every value finite. Returns N.
pub fn validate_data<T: Real>(data: &[T], d: usize, k: usize) -> Result<usize> {
    if d == 0 {
        return Err(Error::InvalidParameter { name: "features", reason: "must be at least 1" });
    }
    if data.len() % d != 0 {
        return Err(Error::ShapeMismatch {
            what: "data length (a multiple of D)",
            expected: (data.len() / d).saturating_add(1).saturating_mul(d),
            found: data.len(),
        });
    }
    let n = data.len() / d;
    if n == 0 {
        return Err(Error::EmptyData);
    }
    if k > n {
        return Err(Error::TooFewSamples { samples: n, components: k });
    }
    if let Some(pos) = data.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFiniteSample { sample: pos / d, feature: pos % d });
    }
    Ok(n)
}

/// The diagonal of a row-major matrix with rows of `d` entries (`m[i * (d + 1)]`, i < d): a
/// strided walk, with the stride typed non-zero so that `step_by` cannot panic.
#[inline(always)]
pub(crate) fn diagonal<T>(m: &[T], d: usize) -> impl Iterator<Item = &T> {
    m.iter().step_by(stride(d)).take(d)
}

/// [`diagonal`], writable.
#[inline(always)]
pub(crate) fn diagonal_mut<T>(m: &mut [T], d: usize) -> impl Iterator<Item = &mut T> {
    m.iter_mut().step_by(stride(d)).take(d)
}

/// d + 1 (saturating), as a value the optimizer knows to be non-zero: the distance between two
/// diagonal entries.
#[inline(always)]
pub(crate) fn stride(d: usize) -> usize {
    NonZeroUsize::MIN.saturating_add(d).get()
}

/// Copies the upper triangle of a row-major `d × d` matrix onto its lower triangle
/// (`m[j * d + i] = m[i * d + j]` for j > i), row by row.
pub(crate) fn mirror_upper<T: Copy>(m: &mut [T], d: usize) {
    let mut rest = m;
    for i in 0..d {
        let Some((row_i, below)) = rest.split_at_mut_checked(d) else {
            return;
        };
        let Some(upper) = row_i.get(i + 1..) else {
            return;
        };
        for (row_j, &v) in rows_mut(below, d).zip(upper) {
            if let Some(m_ji) = row_j.get_mut(i) {
                *m_ji = v;
            }
        }
        rest = below;
    }
}
