//! The two device interfaces, one per kernel family: [`GmmDevice`] (the resident EM loop) and
//! [`MlpKernels`] (dense layers, losses, Adam, the VAE latent layer). The CUDA backend and the
//! g++ shim implement both; [`super::em_loop`] and [`super::mlp`] drive them.

use super::error::BackendError;
use super::launch::{mlp_kernel_table, mlp_kernels_trait};
use super::scalar::GpuScalar;
use crabmix_kernels::Error;
use crabmix_kernels::gmm::{MixtureMut, MixtureRef};

type Result<T> = std::result::Result<T, BackendError>;

// The MLP family's argument types, defined with its launch table; re-exported beside the trait.
pub use super::launch::{ActivationKind, DeviceAdam, adam_step_scalars, device_adam};

/// Status of a component after the device M-step (`GMM_MSTEP_*` in `host/cuda/gmm_mstep.cu`):
/// finished on the device.
pub const MSTEP_OK: i64 = 0;
/// n_k ≤ 10·ε·N: no data (the host re-seeds or keeps it).
pub const MSTEP_EMPTY: i64 = 1;
/// Σ_k + reg·I has no Cholesky factor in double precision.
pub const MSTEP_NOT_PD: i64 = 2;
/// A mean or covariance entry is not finite in T.
pub const MSTEP_NON_FINITE: i64 = 3;
/// D is larger than the device M-step's shared square (64).
pub const MSTEP_TOO_LARGE: i64 = 4;

/// What one device pass (and M-step) reports to the host.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PassSummary {
    /// Σ ln p(x) over the N samples, the block sums added in block order.
    pub log_likelihood: f64,
    /// The smallest ln p(x) (+∞ when N = 0).
    pub worst: f64,
    /// Its row (the lowest among ties), `None` when N = 0.
    pub worst_row: Option<usize>,
    /// The first component the device M-step left unfinished and its `MSTEP_*` status (`None`
    /// after a pass without M-step or when every component finished).
    pub unfinished: Option<(usize, i64)>,
}

impl PassSummary {
    /// Builds the summary from the device's words: `summary` = [Σ ln p, worst], `flags` =
    /// [worst row, unfinished component, its status] with −1 for none.
    pub fn from_words(summary: [f64; 2], flags: [i64; 3]) -> Self {
        Self {
            log_likelihood: summary[0],
            worst: summary[1],
            worst_row: usize::try_from(flags[0]).ok(),
            unfinished: usize::try_from(flags[1]).ok().map(|c| (c, flags[2])),
        }
    }

    /// `ZeroDensity { sample }` when some sample has zero density under every component (the
    /// kernel gave it no responsibilities), as the CPU pass reports.
    pub fn check_density(&self) -> std::result::Result<(), Error> {
        match self.worst_row {
            Some(row) if self.worst == f64::NEG_INFINITY => Err(Error::ZeroDensity { sample: row }),
            _ => Ok(()),
        }
    }
}

/// Which of the device's two model buffers: the one the next E-step reads, or the one the next
/// M-step writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Read by [`GmmDevice::pass`].
    Current,
    /// Written by [`GmmDevice::mstep`]; becomes current on [`GmmDevice::swap`].
    Next,
}

/// A device holding N × D samples, two model buffers and one pass's statistics.
///
/// Contract: after [`Self::load`], [`Self::pass`] runs the E-step of the current model and keeps
/// the reduced statistics; [`Self::mstep`] finishes them into the next model; [`Self::read`]
/// waits and reports; [`Self::swap`] exchanges the models. Every call is in stream order; the
/// ones that return data wait for it.
pub trait GmmDevice<T: GpuScalar> {
    /// Samples N resident on the device.
    fn samples(&self) -> usize;
    /// Uploads `model` (weights, means, covariances, U, log_norm) into `slot`.
    fn load(&mut self, model: &MixtureRef<'_, T>, slot: Slot) -> Result<()>;
    /// Launches the E-step pass of the current model, the fixed-order reduction and the pass
    /// summary (no wait); clears `unfinished`.
    fn pass(&mut self) -> Result<()>;
    /// Launches the M-step from the last pass's statistics into the next model, `reg` added to
    /// the diagonals, components with n_k ≤ `empty_below` left to the host (no wait).
    fn mstep(&mut self, reg: f64, empty_below: f64) -> Result<()>;
    /// Waits for the stream and reads the summary of the last pass (and of the M-step after it,
    /// if one was launched): the only transfer of an iteration.
    fn read(&mut self) -> Result<PassSummary>;
    /// Exchanges the current and next models.
    fn swap(&mut self);
    /// Downloads the weights, means and covariances of `slot` into `model` (U and log_norm are
    /// recomputed by the caller's `refresh`).
    fn store(&mut self, slot: Slot, model: &mut MixtureMut<'_, T>) -> Result<()>;
    /// The last pass's reduced statistics (gmm_estep.cu's layout).
    fn reduced(&mut self) -> Result<Vec<f64>>;
    /// Sample `row` (D values).
    fn row(&mut self, row: usize) -> Result<Vec<T>>;
}

/// The device kernels a network needs, launched on some executor (a CUDA stream, or the g++ shim
/// on the CPU). `Buf` is the executor's buffer of T.
///
/// Launch methods are `unsafe`: the kernels index raw pointers, so every buffer must hold at least
/// the number of values stated on the method (the executors cannot check device-side indexing).
/// `device::mlp::DeviceMlp` and `DeviceVae` allocate every buffer to those sizes and are safe.
#[allow(clippy::too_many_arguments)]
pub trait MlpKernels<T: GpuScalar>: Clone {
    /// A buffer of T on the executor.
    type Buf;
    /// A buffer of `len` values, every byte 0xff (NaN): an unwritten output shows.
    fn alloc(&self, len: usize) -> Result<Self::Buf>;
    /// A buffer holding a copy of `host`.
    fn upload(&self, host: &[T]) -> Result<Self::Buf>;
    /// Overwrites the first `host.len()` values of `buf` (which must hold that many: checked).
    fn write(&self, buf: &mut Self::Buf, host: &[T]) -> Result<()>;
    /// The first `len` values of `buf` (checked against its length).
    fn download(&self, buf: &Self::Buf, len: usize) -> Result<Vec<T>>;
    mlp_kernel_table!(mlp_kernels_trait);
}

/// Checks `have ≥ need` for a buffer named `what` (executors call it in `write`/`download`).
pub fn check_len(what: &'static str, have: usize, need: usize) -> Result<()> {
    if have < need {
        return Err(Error::ShapeMismatch { what, expected: need, found: have }.into());
    }
    Ok(())
}
