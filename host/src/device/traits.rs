//! The two device interfaces, one per kernel family: [`GmmDevice`] (the resident EM loop) and
//! [`MlpKernels`] (dense layers, losses, Adam, the VAE latent layer). The CUDA backend and the
//! g++ shim implement both; [`super::em_loop`] and [`super::mlp`] drive them.

use super::error::BackendError;
use super::scalar::GpuScalar;
use crabmix_kernels::Error;
use crabmix_kernels::Real;
use crabmix_kernels::gmm::{MixtureMut, MixtureRef};
use crabmix_kernels::mlp::optim::Adam;
use crabmix_kernels::mlp::{Act, Identity};

type Result<T> = std::result::Result<T, BackendError>;

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

/// An element-wise activation with its kernel code (`MLP_ACT_*` in `host/cuda/mlp.cu`); the
/// formulas are the crate's `crabmix_kernels::mlp::Activation` implementations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ActivationKind {
    /// f(x) = x.
    Identity,
    /// f(x) = max(x, 0); f′(0) = 0.
    Relu,
    /// f(x) = x for x > 0, slope·x otherwise; f′(0) = slope.
    LeakyRelu(f64),
    /// f(x) = tanh x, f′ = 1 − tanh² x.
    Tanh,
    /// f(x) = σ(x) = 1/(1 + e⁻ˣ), f′ = σ(1 − σ).
    Sigmoid,
    /// f(x) = ln(1 + eˣ) (as max(x, 0) + ln(1 + e^{−|x|})), f′ = σ(x).
    Softplus,
}

impl ActivationKind {
    /// The kernel's activation code.
    pub fn code(self) -> i32 {
        match self {
            ActivationKind::Identity => 0,
            ActivationKind::Relu => 1,
            ActivationKind::LeakyRelu(_) => 2,
            ActivationKind::Tanh => 3,
            ActivationKind::Sigmoid => 4,
            ActivationKind::Softplus => 5,
        }
    }

    /// Leaky ReLU's slope (0 for the others: the kernel ignores it).
    pub fn slope(self) -> f64 {
        match self {
            ActivationKind::LeakyRelu(s) => s,
            _ => 0.0,
        }
    }
}

/// Adam on a device: the kernels' [`Adam`] (its hyperparameters `lr`, `beta1`, `beta2`, `eps`,
/// `weight_decay` and defaults) over a layer with no parameters, because the moments live in
/// device buffers beside the network's, not in the optimizer value.
pub type DeviceAdam<T> = Adam<T, Act<Identity, 0>>;

/// [`Adam::new`] with learning rate `lr` and PyTorch's defaults, for a device network.
pub fn device_adam<T: Real>(lr: T) -> DeviceAdam<T> {
    Adam::new(&Act(Identity), lr)
}

/// (step_size, √(bias correction 2)) for step t ≥ 1, computed in T exactly as the kernels'
/// `Adam::step`: lr / (1 − β₁ᵗ) and √(1 − β₂ᵗ).
pub fn adam_step_scalars<T: Real>(adam: &DeviceAdam<T>, t: u32) -> (T, T) {
    let tt = T::from_usize(t as usize);
    (adam.lr / (T::ONE - adam.beta1.powf(tt)), (T::ONE - adam.beta2.powf(tt)).sqrt())
}

/// The device kernels a network needs, launched on some executor (a CUDA stream, or the g++ shim
/// on the CPU). `Buf` is the executor's buffer of T.
///
/// Launch methods are `unsafe`: the kernels index raw pointers, so every buffer must hold at least
/// the number of values stated on the method (the executors cannot check device-side indexing).
/// [`DeviceMlp`] and [`DeviceVae`] allocate every buffer to those sizes and are safe.
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
    /// `dense_forward`: pre = X Wᵀ + b, y = f(pre).
    ///
    /// # Safety
    /// x ≥ batch·inp, w ≥ out·inp, b ≥ out, pre and y ≥ batch·out values.
    unsafe fn dense_forward(
        &self,
        x: &Self::Buf,
        w: &Self::Buf,
        b: &Self::Buf,
        batch: usize,
        inp: usize,
        out: usize,
        act: ActivationKind,
        pre: &mut Self::Buf,
        y: &mut Self::Buf,
    ) -> Result<()>;
    /// `dense_backward_input`: dx (=|+=) G W.
    ///
    /// # Safety
    /// g ≥ batch·out, w ≥ out·inp, dx ≥ batch·inp values.
    unsafe fn dense_backward_input(
        &self,
        g: &Self::Buf,
        w: &Self::Buf,
        batch: usize,
        inp: usize,
        out: usize,
        accumulate: bool,
        dx: &mut Self::Buf,
    ) -> Result<()>;
    /// `dense_backward_params`: per-chunk Gᵀ X and column sums of G.
    ///
    /// # Safety
    /// x ≥ batch·inp, g ≥ batch·out, partial_w ≥ chunks·out·inp, partial_b ≥ chunks·out values
    /// with chunks = ⌈batch / chunk_rows⌉; chunk_rows a positive multiple of [`MLP_TILE`].
    unsafe fn dense_backward_params(
        &self,
        x: &Self::Buf,
        g: &Self::Buf,
        batch: usize,
        inp: usize,
        out: usize,
        chunk_rows: usize,
        partial_w: &mut Self::Buf,
        partial_b: &mut Self::Buf,
    ) -> Result<()>;
    /// `mlp_sum_chunks`: `out[e] = Σ_c partials[c·len + e]` in chunk order.
    ///
    /// # Safety
    /// partials ≥ chunks·len, out ≥ len values.
    unsafe fn sum_chunks(
        &self,
        partials: &Self::Buf,
        chunks: usize,
        len: usize,
        out: &mut Self::Buf,
    ) -> Result<()>;
    /// `act_backward`: gpre = gy ⊙ f′(pre).
    ///
    /// # Safety
    /// pre, gy, gpre ≥ len values.
    unsafe fn act_backward(
        &self,
        pre: &Self::Buf,
        gy: &Self::Buf,
        len: usize,
        act: ActivationKind,
        gpre: &mut Self::Buf,
    ) -> Result<()>;
    /// `mse_rows`: per-row mean squared error and its gradient times `scale`.
    ///
    /// # Safety
    /// pred, target, grad ≥ batch·n, loss ≥ batch values.
    unsafe fn mse_rows(
        &self,
        pred: &Self::Buf,
        target: &Self::Buf,
        batch: usize,
        n: usize,
        scale: T,
        loss: &mut Self::Buf,
        grad: &mut Self::Buf,
    ) -> Result<()>;
    /// `bce_logits_rows`: per-row BCE with logits (times `norm`) and its gradient times `scale`.
    ///
    /// # Safety
    /// logits, target, grad ≥ batch·n, loss ≥ batch values.
    unsafe fn bce_logits_rows(
        &self,
        logits: &Self::Buf,
        target: &Self::Buf,
        batch: usize,
        n: usize,
        norm: T,
        scale: T,
        loss: &mut Self::Buf,
        grad: &mut Self::Buf,
    ) -> Result<()>;
    /// `adam_step` over `len` parameters; `t` ≥ 1 is the step number.
    ///
    /// # Safety
    /// p, grad, m, v ≥ len values.
    unsafe fn adam_step(
        &self,
        p: &mut Self::Buf,
        grad: &Self::Buf,
        m: &mut Self::Buf,
        v: &mut Self::Buf,
        len: usize,
        cfg: &DeviceAdam<T>,
        t: u32,
    ) -> Result<()>;
    /// `reparam_diag_philox`: ε from Philox(seed, flat index), z = μ + e^{½ lv} ε.
    ///
    /// # Safety
    /// mu, log_var, eps, z ≥ len values.
    unsafe fn reparam(
        &self,
        mu: &Self::Buf,
        log_var: &Self::Buf,
        len: usize,
        seed: u64,
        eps: &mut Self::Buf,
        z: &mut Self::Buf,
    ) -> Result<()>;
    /// `kl_diag_std_normal`: KL(N(μ_r, diag e^{lv_r}) ‖ N(0, I)) per row.
    ///
    /// # Safety
    /// mu, log_var ≥ n·d, out ≥ n values.
    unsafe fn kl_rows(
        &self,
        mu: &Self::Buf,
        log_var: &Self::Buf,
        n: usize,
        d: usize,
        out: &mut Self::Buf,
    ) -> Result<()>;
    /// `vae_latent_backward`: g_mu = μ·w + g_z, g_lv = ½(e^{lv} − 1)·w + ½ g_z σ ε.
    ///
    /// # Safety
    /// mu, log_var, eps, g_z, g_mu, g_lv ≥ len values.
    unsafe fn vae_latent_backward(
        &self,
        mu: &Self::Buf,
        log_var: &Self::Buf,
        eps: &Self::Buf,
        g_z: &Self::Buf,
        len: usize,
        weight: T,
        g_mu: &mut Self::Buf,
        g_lv: &mut Self::Buf,
    ) -> Result<()>;
}

/// Checks `have ≥ need` for a buffer named `what` (executors call it in `write`/`download`).
pub fn check_len(what: &'static str, have: usize, need: usize) -> Result<()> {
    if have < need {
        return Err(Error::ShapeMismatch { what, expected: need, found: have }.into());
    }
    Ok(())
}
