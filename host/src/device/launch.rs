//! The MLP family's launch table, written once: for every kernel of `host/cuda/mlp.cu` and the
//! VAE's Gaussian kernels of `host/cuda/gaussian.cu`, its [`MlpKernels`] method (docs, signature),
//! how the method's arguments become the kernel's (`let` lines), the kernel's module, entry point
//! and grid, and its argument list in the `.cu` order, each tagged with its C type.
//!
//! `mlp_kernel_table!` hands the table to a callback macro. Four expansions use it:
//! - `mlp_kernels_trait!`: the [`MlpKernels`] trait's launch methods (`device::traits`);
//! - `mlp_kernel_methods!`: their bodies, shared by both executors, each ending in the
//!   executor's launch macro — `cuda_launch!` (`device::cuda::mlp`: `launch_builder`, one `arg`
//!   per entry, the table's grid) or `shim_launch!` (`device::shim::mlp`: one C call);
//! - `mlp_entry_points!` (the entry points alone): the shim's `extern "C"` declarations
//!   (`device::shim::ffi`) and its f32/f64 dispatch trait `ShimMlpScalar` (`device::shim::scalar`).
//!
//! Adding a kernel: its `.cu` function, its `SHIM_MLP` line in `host/cuda/shim/shim.cpp`, and one
//! entry here.
//!
//! [`MlpKernels`]: crate::device::traits::MlpKernels

use super::error::BackendError;
use super::layout::MLP_TILE;
use crabmix_kernels::Real;
use crabmix_kernels::mlp::optim::Adam;
use crabmix_kernels::mlp::{Act, Identity};

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

/// The launch shape of one table entry, in the kernel's own terms; the CUDA executor turns it into
/// a `LaunchConfig` (the shim's C side launches the same shapes itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grid {
    /// One thread per row or element: ⌈n / `BLOCK_THREADS`⌉ blocks of `BLOCK_THREADS`.
    Rows(usize),
    /// 16 × 16-thread tiles (`MLP_TILE`) covering `cols` × `rows` × `chunks`.
    Tiles {
        /// Columns (x).
        cols: usize,
        /// Rows (y).
        rows: usize,
        /// Chunks (z).
        chunks: usize,
    },
}

impl Grid {
    /// Tiles over `cols` × `rows` × `chunks`.
    pub const fn tiles(cols: usize, rows: usize, chunks: usize) -> Self {
        Self::Tiles { cols, rows, chunks }
    }

    /// (grid, block) dimensions for `block_threads` threads per row block.
    pub fn dims(self, block_threads: u32) -> ((u32, u32, u32), (u32, u32, u32)) {
        match self {
            Grid::Rows(n) => {
                ((n.div_ceil(block_threads as usize).max(1) as u32, 1, 1), (block_threads, 1, 1))
            }
            Grid::Tiles { cols, rows, chunks } => {
                let t = MLP_TILE as usize;
                (
                    (cols.div_ceil(t).max(1) as u32, rows.div_ceil(t).max(1) as u32, chunks.max(1) as u32),
                    (MLP_TILE, MLP_TILE, 1),
                )
            }
        }
    }
}

/// `v` as a kernel's `int`: an error (not a wrapped value) when it does not fit.
pub fn c_int(v: usize) -> Result<i32, BackendError> {
    i32::try_from(v).map_err(|_| BackendError::Unsupported("a size above i32::MAX in an MLP kernel"))
}

/// `v` as a kernel's `long long`.
pub fn c_long(v: usize) -> Result<i64, BackendError> {
    i64::try_from(v).map_err(|_| BackendError::Unsupported("a size above i64::MAX in an MLP kernel"))
}

/// Calls `$callback! { $($extra)* ; <table> }` with the MLP family's table (see the module docs).
///
/// Entry: `docs fn method(params) { let lines } => Module kernel_name grid [C-typed args];` where
/// a C type is `in` (`const T*`), `out` (`T*`), `T`, `i32`, `i64` or `u64`.
macro_rules! mlp_kernel_table {
    ($callback:ident $(, $extra:tt)*) => {
        $callback! { $($extra)* ;
            /// `dense_forward`: pre = X Wᵀ + b, y = f(pre).
            ///
            /// # Safety
            /// x ≥ batch·inp, w ≥ out·inp, b ≥ out, pre and y ≥ batch·out values.
            fn dense_forward(
                x: &Self::Buf, w: &Self::Buf, b: &Self::Buf, batch: usize, inp: usize, out: usize,
                act: $crate::device::launch::ActivationKind, pre: &mut Self::Buf, y: &mut Self::Buf,
            ) {
                let bt = $crate::device::launch::c_int(batch)?;
                let i = $crate::device::launch::c_int(inp)?;
                let o = $crate::device::launch::c_int(out)?;
                let a = act.code();
                let slope = T::from_f64(act.slope());
            } => Mlp dense_forward ($crate::device::launch::Grid::tiles(out, batch, 1))
              [in x, in w, in b, i32 bt, i32 i, i32 o, i32 a, T slope, out pre, out y];

            /// `dense_backward_input`: dx (=|+=) G W.
            ///
            /// # Safety
            /// g ≥ batch·out, w ≥ out·inp, dx ≥ batch·inp values.
            fn dense_backward_input(
                g: &Self::Buf, w: &Self::Buf, batch: usize, inp: usize, out: usize, accumulate: bool,
                dx: &mut Self::Buf,
            ) {
                let bt = $crate::device::launch::c_int(batch)?;
                let i = $crate::device::launch::c_int(inp)?;
                let o = $crate::device::launch::c_int(out)?;
                let acc = accumulate as i32;
            } => Mlp dense_backward_input ($crate::device::launch::Grid::tiles(inp, batch, 1))
              [in g, in w, i32 bt, i32 i, i32 o, i32 acc, out dx];

            /// `dense_backward_params`: per-chunk Gᵀ X and column sums of G.
            ///
            /// # Safety
            /// x ≥ batch·inp, g ≥ batch·out, partial_w ≥ chunks·out·inp, partial_b ≥ chunks·out values
            /// with chunks = ⌈batch / chunk_rows⌉; chunk_rows a positive multiple of [`MLP_TILE`].
            ///
            /// [`MLP_TILE`]: crate::device::layout::MLP_TILE
            fn dense_backward_params(
                x: &Self::Buf, g: &Self::Buf, batch: usize, inp: usize, out: usize, chunk_rows: usize,
                partial_w: &mut Self::Buf, partial_b: &mut Self::Buf,
            ) {
                let bt = $crate::device::launch::c_int(batch)?;
                let i = $crate::device::launch::c_int(inp)?;
                let o = $crate::device::launch::c_int(out)?;
                let cr = $crate::device::launch::c_int(chunk_rows)?;
            } => Mlp dense_backward_params
                ($crate::device::launch::Grid::tiles(inp, out, batch.div_ceil(chunk_rows.max(1))))
              [in x, in g, i32 bt, i32 i, i32 o, i32 cr, out partial_w, out partial_b];

            /// `mlp_sum_chunks`: `out[e] = Σ_c partials[c·len + e]` in chunk order.
            ///
            /// # Safety
            /// partials ≥ chunks·len, out ≥ len values.
            fn sum_chunks(partials: &Self::Buf, chunks: usize, len: usize, out: &mut Self::Buf) {
                let c = $crate::device::launch::c_int(chunks)?;
                let n = $crate::device::launch::c_long(len)?;
            } => Mlp mlp_sum_chunks ($crate::device::launch::Grid::Rows(len))
              [in partials, i32 c, i64 n, out out];

            /// `act_backward`: gpre = gy ⊙ f′(pre).
            ///
            /// # Safety
            /// pre, gy, gpre ≥ len values.
            fn act_backward(
                pre: &Self::Buf, gy: &Self::Buf, len: usize, act: $crate::device::launch::ActivationKind,
                gpre: &mut Self::Buf,
            ) {
                let n = $crate::device::launch::c_long(len)?;
                let a = act.code();
                let slope = T::from_f64(act.slope());
            } => Mlp act_backward ($crate::device::launch::Grid::Rows(len))
              [in pre, in gy, i64 n, i32 a, T slope, out gpre];

            /// `mse_rows`: per-row mean squared error and its gradient times `scale`.
            ///
            /// # Safety
            /// pred, target, grad ≥ batch·n, loss ≥ batch values.
            fn mse_rows(
                pred: &Self::Buf, target: &Self::Buf, batch: usize, n: usize, scale: T,
                loss: &mut Self::Buf, grad: &mut Self::Buf,
            ) {
                let bt = $crate::device::launch::c_long(batch)?;
                let nn = $crate::device::launch::c_int(n)?;
            } => Mlp mse_rows ($crate::device::launch::Grid::Rows(batch))
              [in pred, in target, i64 bt, i32 nn, T scale, out loss, out grad];

            /// `bce_logits_rows`: per-row BCE with logits (times `norm`) and its gradient times `scale`.
            ///
            /// # Safety
            /// logits, target, grad ≥ batch·n, loss ≥ batch values.
            fn bce_logits_rows(
                logits: &Self::Buf, target: &Self::Buf, batch: usize, n: usize, norm: T, scale: T,
                loss: &mut Self::Buf, grad: &mut Self::Buf,
            ) {
                let bt = $crate::device::launch::c_long(batch)?;
                let nn = $crate::device::launch::c_int(n)?;
            } => Mlp bce_logits_rows ($crate::device::launch::Grid::Rows(batch))
              [in logits, in target, i64 bt, i32 nn, T norm, T scale, out loss, out grad];

            /// `gaussian_nll_rows`: per-row Gaussian −ln p(x | mean), unit variance or per-feature
            /// ln σ² = `log_var` (`learned`), its gradient times `scale`, and (learned) the per-row
            /// ln σ² gradients times `scale`.
            ///
            /// # Safety
            /// mean, target, grad, grad_lv_rows ≥ batch·n, log_var ≥ n, loss ≥ batch values.
            fn gaussian_nll_rows(
                mean: &Self::Buf, target: &Self::Buf, log_var: &Self::Buf, batch: usize, n: usize,
                learned: bool, scale: T, loss: &mut Self::Buf, grad: &mut Self::Buf,
                grad_lv_rows: &mut Self::Buf,
            ) {
                let bt = $crate::device::launch::c_long(batch)?;
                let nn = $crate::device::launch::c_int(n)?;
                let lrn = learned as i32;
            } => Mlp gaussian_nll_rows ($crate::device::launch::Grid::Rows(batch))
              [in mean, in target, in log_var, i64 bt, i32 nn, i32 lrn, T scale, out loss, out grad,
               out grad_lv_rows];

            /// `adam_step` over `len` parameters; `t` ≥ 1 is the step number.
            ///
            /// # Safety
            /// p, grad, m, v ≥ len values.
            fn adam_step(
                p: &mut Self::Buf, grad: &Self::Buf, m: &mut Self::Buf, v: &mut Self::Buf, len: usize,
                cfg: &$crate::device::launch::DeviceAdam<T>, t: u32,
            ) {
                let n = $crate::device::launch::c_long(len)?;
                let (step_size, sqrt_bc2) = $crate::device::launch::adam_step_scalars(cfg, t);
                let (b1, b2, eps, wd) = (cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay);
            } => Mlp adam_step ($crate::device::launch::Grid::Rows(len))
              [out p, in grad, out m, out v, i64 n, T b1, T b2, T eps, T wd, T step_size, T sqrt_bc2];

            /// `rmsprop_step` over `len` parameters (the kernels' `SliceRmsProp::step`).
            ///
            /// # Safety
            /// p, grad, square_avg ≥ len values.
            fn rmsprop_step(
                p: &mut Self::Buf, grad: &Self::Buf, square_avg: &mut Self::Buf, len: usize,
                cfg: &$crate::kernels::mlp::optim::SliceRmsProp<T>,
            ) {
                let n = $crate::device::launch::c_long(len)?;
                let (lr, alpha, eps, wd) = (cfg.lr, cfg.alpha, cfg.eps, cfg.weight_decay);
            } => Mlp rmsprop_step ($crate::device::launch::Grid::Rows(len))
              [out p, in grad, out square_avg, i64 n, T lr, T alpha, T eps, T wd];

            /// `clip_params`: p ← clamp(p, −c, c) (NaN unchanged), the kernels' `clip_slice`.
            ///
            /// # Safety
            /// p ≥ len values.
            fn clip_params(p: &mut Self::Buf, len: usize, c: T) {
                let n = $crate::device::launch::c_long(len)?;
            } => Mlp clip_params ($crate::device::launch::Grid::Rows(len))
              [out p, i64 n, T c];

            /// `add_into`: acc ← acc + a, element-wise.
            ///
            /// # Safety
            /// acc, a ≥ len values.
            fn add_into(acc: &mut Self::Buf, a: &Self::Buf, len: usize) {
                let n = $crate::device::launch::c_long(len)?;
            } => Mlp add_into ($crate::device::launch::Grid::Rows(len))
              [out acc, in a, i64 n];

            /// `wgan_mix`: pairs = (real_0, fake_0, real_1, …), x̂_r = t_r x_r + (1 − t_r) f_r.
            ///
            /// # Safety
            /// real, fake, xhat ≥ rows·n, t ≥ rows, pairs ≥ 2·rows·n values.
            fn wgan_mix(
                real: &Self::Buf, fake: &Self::Buf, t: &Self::Buf, rows: usize, n: usize,
                pairs: &mut Self::Buf, xhat: &mut Self::Buf,
            ) {
                let r = $crate::device::launch::c_long(rows)?;
                let nn = $crate::device::launch::c_int(n)?;
            } => Mlp wgan_mix ($crate::device::launch::Grid::Rows(rows * n))
              [in real, in fake, in t, i64 r, i32 nn, out pairs, out xhat];

            /// `wgan_penalty`: per row of g, P = λ(‖g‖ − 1)² and ‖g‖ into stats (2·rows), g scaled
            /// in place to weight·2λ(‖g‖ − 1) g/‖g‖ (0 at ‖g‖ = 0).
            ///
            /// # Safety
            /// g ≥ rows·n, stats ≥ 2·rows values.
            fn wgan_penalty(g: &mut Self::Buf, rows: usize, n: usize, lambda: T, weight: T, stats: &mut Self::Buf) {
                let r = $crate::device::launch::c_long(rows)?;
                let nn = $crate::device::launch::c_int(n)?;
            } => Mlp wgan_penalty ($crate::device::launch::Grid::Rows(rows))
              [out g, i64 r, i32 nn, T lambda, T weight, out stats];

            /// `reparam_diag_philox`: ε from Philox(seed, flat index), z = μ + e^{½ lv} ε.
            ///
            /// # Safety
            /// mu, log_var, eps, z ≥ len values.
            fn reparam(
                mu: &Self::Buf, log_var: &Self::Buf, len: usize, seed: u64, eps: &mut Self::Buf,
                z: &mut Self::Buf,
            ) {
                let n = $crate::device::launch::c_long(len)?;
            } => Gaussian reparam_diag_philox ($crate::device::launch::Grid::Rows(len))
              [in mu, in log_var, i64 n, u64 seed, out eps, out z];

            /// `kl_diag_std_normal`: KL(N(μ_r, diag e^{lv_r}) ‖ N(0, I)) per row.
            ///
            /// # Safety
            /// mu, log_var ≥ n·d, out ≥ n values.
            fn kl_rows(mu: &Self::Buf, log_var: &Self::Buf, n: usize, d: usize, out: &mut Self::Buf) {
                let nn = $crate::device::launch::c_long(n)?;
                let dd = $crate::device::launch::c_int(d)?;
            } => Gaussian kl_diag_std_normal ($crate::device::launch::Grid::Rows(n))
              [in mu, in log_var, i64 nn, i32 dd, out out];

            /// `vae_latent_backward`: g_mu = μ·w + g_z, g_lv = ½(e^{lv} − 1)·w + ½ g_z σ ε.
            ///
            /// # Safety
            /// mu, log_var, eps, g_z, g_mu, g_lv ≥ len values.
            fn vae_latent_backward(
                mu: &Self::Buf, log_var: &Self::Buf, eps: &Self::Buf, g_z: &Self::Buf, len: usize,
                weight: T, g_mu: &mut Self::Buf, g_lv: &mut Self::Buf,
            ) {
                let n = $crate::device::launch::c_long(len)?;
            } => Gaussian vae_latent_backward ($crate::device::launch::Grid::Rows(len))
              [in mu, in log_var, in eps, in g_z, i64 n, T weight, out g_mu, out g_lv];
        }
    };
}
pub(crate) use mlp_kernel_table;

/// Calls `$callback! { $($extra)* ; $(kernel [C-typed args] -> ();)* }`: the table's entry points
/// alone, in the form of the shim's GMM entry table (for the shim's declarations and dispatch).
#[cfg(feature = "cuda-shim")]
macro_rules! mlp_entry_points {
    ($callback:ident $(, $extra:tt)*) => {
        $crate::device::launch::mlp_kernel_table!(mlp_entry_points, reduce, $callback, [$($extra)*]);
    };
    (reduce $callback:ident [$($extra:tt)*] ; $(
        $(#[$doc:meta])*
        fn $method:ident($($p:ident: $pt:ty),* $(,)?) { $($prologue:tt)* }
        => $module:ident $kernel:ident ($grid:expr) [$($k:tt $a:ident),*];
    )*) => {
        $callback! { $($extra)* ; $($kernel [$($k $a),*] -> ();)* }
    };
}
#[cfg(feature = "cuda-shim")]
pub(crate) use mlp_entry_points;

/// The [`MlpKernels`](crate::device::traits::MlpKernels) launch methods' declarations, from the
/// table.
macro_rules! mlp_kernels_trait {
    (; $(
        $(#[$doc:meta])*
        fn $method:ident($($p:ident: $pt:ty),* $(,)?) { $($prologue:tt)* }
        => $module:ident $kernel:ident ($grid:expr) [$($k:tt $a:ident),*];
    )*) => {
        $(
            $(#[$doc])*
            unsafe fn $method(&self, $($p: $pt),*) -> Result<()>;
        )*
    };
}
pub(crate) use mlp_kernels_trait;

/// The launch methods' bodies for one executor: the table's `let` lines, then
/// `$launch!(self, Module, kernel, grid, [C-typed args])`.
#[cfg(any(feature = "cuda", feature = "cuda-shim"))]
macro_rules! mlp_kernel_methods {
    ($launch:ident ; $(
        $(#[$doc:meta])*
        fn $method:ident($($p:ident: $pt:ty),* $(,)?) { $($prologue:tt)* }
        => $module:ident $kernel:ident ($grid:expr) [$($k:tt $a:ident),*];
    )*) => {
        $(
            unsafe fn $method(
                &self,
                $($p: $pt),*
            ) -> ::core::result::Result<(), $crate::device::error::BackendError> {
                $($prologue)*
                // SAFETY: the argument list is the kernel's signature as the table states it; the
                // caller guarantees every buffer's length (the MlpKernels method's contract); the
                // grid covers the outputs and threads outside them return without writing.
                unsafe { $launch!(self, $module, $kernel, ($grid), [$($k $a),*]) }
            }
        )*
    };
}
#[cfg(any(feature = "cuda", feature = "cuda-shim"))]
pub(crate) use mlp_kernel_methods;
