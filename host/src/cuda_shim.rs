//! The CUDA kernels of `host/cuda` run on the CPU (feature `cuda-shim`, tests only): the `.cu`
//! sources compiled by g++ through `host/cuda/shim/cuda_host_shim.h` (build.rs), launched with the
//! same grid, block, tile and shared-memory sizes as the GPU ([`crate::gpu_layout`]), and merged
//! into the kernels crate's statistics by the same [`merge_device_stats`] the CUDA backend uses.
//! CI thus checks every kernel's logic, and the host side of the backend, without a GPU.
//!
//! Slow by design (one OS thread per CUDA thread, ≈ 13 ms per 256-thread block on two cores):
//! keep shapes small.

use crate::backend::BackendError;
use crate::backend::GpuScalar;
use crate::gmm_device::{GmmDevice, PassSummary, Slot};
use crate::gpu_layout::{EStepKernel, EStepLaunch, merge_device_stats, tree_sum, worst_of_blocks};
use crate::mlp_device::{Activation, AdamConfig, MlpKernels, check_len};
use crabmix_kernels::gmm::{CovarianceKind, EStep, MixtureMut, MixtureRef, Shape, StatsMut};
use crabmix_kernels::{Error, Result};

mod ffi {
    use core::ffi::{c_int, c_longlong, c_uint, c_ulonglong};
    macro_rules! shim_fns {
        ($t:ty, $estep:ident, $density:ident, $kl:ident, $reparam:ident) => {
            unsafe extern "C" {
                pub fn $estep(
                    full: c_int,
                    x: *const $t,
                    n: c_longlong,
                    d: c_int,
                    k: c_int,
                    tile_rows: c_int,
                    grid: c_uint,
                    smem_bytes: usize,
                    means: *const $t,
                    prec: *const $t,
                    log_norm: *const $t,
                    partials: *mut f64,
                    block_ll: *mut f64,
                    block_worst: *mut f64,
                    block_worst_row: *mut c_longlong,
                );
                pub fn $density(
                    full: c_int,
                    x: *const $t,
                    n: c_longlong,
                    d: c_int,
                    k: c_int,
                    means: *const $t,
                    prec: *const $t,
                    log_norm: *const $t,
                    out: *mut $t,
                );
                pub fn $kl(mu: *const $t, log_var: *const $t, n: c_longlong, d: c_int, out: *mut $t);
                pub fn $reparam(
                    mu: *const $t,
                    log_var: *const $t,
                    len: c_longlong,
                    seed: c_ulonglong,
                    eps: *mut $t,
                    z: *mut $t,
                );
            }
        };
    }
    shim_fns!(
        f32,
        crabmix_shim_gmm_estep_f32,
        crabmix_shim_gmm_log_density_f32,
        crabmix_shim_kl_diag_std_normal_f32,
        crabmix_shim_reparam_diag_philox_f32
    );
    shim_fns!(
        f64,
        crabmix_shim_gmm_estep_f64,
        crabmix_shim_gmm_log_density_f64,
        crabmix_shim_kl_diag_std_normal_f64,
        crabmix_shim_reparam_diag_philox_f64
    );
    macro_rules! shim_mstep_fns {
        ($t:ty, $mstep:ident, $weights:ident) => {
            unsafe extern "C" {
                pub fn $mstep(
                    full: c_int,
                    reduced: *const f64,
                    n: c_longlong,
                    d: c_int,
                    k: c_int,
                    reg: f64,
                    empty_below: f64,
                    shift: *const $t,
                    means: *mut $t,
                    covs: *mut $t,
                    prec: *mut $t,
                    w_raw: *mut f64,
                    log_det_u: *mut f64,
                    status: *mut c_int,
                );
                pub fn $weights(
                    w_raw: *const f64,
                    log_det_u: *const f64,
                    status: *const c_int,
                    k: c_int,
                    d: c_int,
                    weights: *mut $t,
                    log_norm: *mut $t,
                    flags: *mut c_longlong,
                );
            }
        };
    }
    macro_rules! shim_fixed_fns {
        ($t:ty, $fixed:ident) => {
            unsafe extern "C" {
                pub fn $fixed(
                    kernel: c_int,
                    full: c_int,
                    x: *const $t,
                    n: c_longlong,
                    d: c_int,
                    k: c_int,
                    tile_rows: c_int,
                    rows_per_thread: c_int,
                    min_blocks: c_int,
                    grid: c_uint,
                    smem_bytes: usize,
                    means: *const $t,
                    prec: *const $t,
                    log_norm: *const $t,
                    partials: *mut f64,
                    block_ll: *mut f64,
                    block_worst: *mut f64,
                    block_worst_row: *mut c_longlong,
                ) -> c_int;
            }
        };
    }
    shim_fixed_fns!(f32, crabmix_shim_gmm_estep_fixed_f32);
    shim_fixed_fns!(f64, crabmix_shim_gmm_estep_fixed_f64);
    shim_mstep_fns!(f32, crabmix_shim_gmm_mstep_f32, crabmix_shim_gmm_mstep_weights_f32);
    shim_mstep_fns!(f64, crabmix_shim_gmm_mstep_f64, crabmix_shim_gmm_mstep_weights_f64);
    unsafe extern "C" {
        pub fn crabmix_shim_gmm_pass_summary(
            block_ll: *const f64,
            block_worst: *const f64,
            block_worst_row: *const c_longlong,
            blocks: c_int,
            summary: *mut f64,
            flags: *mut c_longlong,
        );
        pub fn crabmix_shim_gmm_reduce_partials(
            partials: *const f64,
            blocks: c_int,
            e_total: c_int,
            out: *mut f64,
        );
        pub fn crabmix_shim_philox4x32_10_words(n: c_longlong, seed: c_ulonglong, out: *mut c_uint);
    }
}

/// The per-type shim entry points (f32 and f64), mirroring the kernels' `_f32`/`_f64` stamps.
pub trait ShimScalar: GpuScalar {
    /// Launches `gmm_estep_{full,diag}_T`; see [`ShimEStep`] for the buffer contract.
    ///
    /// # Safety
    /// Every slice must hold the lengths the kernel indexes (N·D data, K·D / K·D·D / K model,
    /// the launch's grid·E partials); the C side cannot check them.
    /// `l.kernel` selects the generic kernel or a specialized one; returns false (launching
    /// nothing) when the shim has no instance of the specialized kernel for this shape.
    #[allow(clippy::too_many_arguments)]
    #[doc(hidden)]
    unsafe fn estep(
        full: bool,
        x: &[Self],
        n: usize,
        d: usize,
        k: usize,
        l: &EStepLaunch,
        model: [&[Self]; 3],
        out: (&mut [f64], &mut [f64], &mut [f64], &mut [i64]),
    ) -> bool;
    /// Launches `gmm_log_density_{full,diag}_T`.
    ///
    /// # Safety
    /// Every slice must hold the lengths the kernel indexes (N·D data, K·D / K·D·D / K model,
    /// the launch's grid·E partials); the C side cannot check them.
    #[doc(hidden)]
    unsafe fn log_density(
        full: bool,
        x: &[Self],
        n: usize,
        d: usize,
        k: usize,
        model: [&[Self]; 3],
        out: &mut [Self],
    );
    /// Launches `kl_diag_std_normal_T`.
    ///
    /// # Safety
    /// Every slice must hold the lengths the kernel indexes (N·D data, K·D / K·D·D / K model,
    /// the launch's grid·E partials); the C side cannot check them.
    #[doc(hidden)]
    unsafe fn kl(mu: &[Self], log_var: &[Self], n: usize, d: usize, out: &mut [Self]);
    /// Launches `reparam_diag_philox_T`.
    ///
    /// # Safety
    /// Every slice must hold the lengths the kernel indexes (N·D data, K·D / K·D·D / K model,
    /// the launch's grid·E partials); the C side cannot check them.
    #[doc(hidden)]
    unsafe fn reparam(mu: &[Self], log_var: &[Self], seed: u64, eps: &mut [Self], z: &mut [Self]);
    /// Launches `gmm_mstep_{full,diag}_T` (K blocks) then `gmm_mstep_weights_T` into `next`.
    ///
    /// # Safety
    /// `reduced` must hold K·(1 + D + P) sums, `shift` K·D values and `next` a model of shape
    /// (K, D); `w_raw`, `log_det_u`, `status` K values each.
    #[allow(clippy::too_many_arguments)]
    #[doc(hidden)]
    unsafe fn mstep(
        full: bool,
        reduced: &[f64],
        n: usize,
        dk: (usize, usize),
        reg_empty_below: (f64, f64),
        shift: &[Self],
        next: &mut HostModel<Self>,
        per_component: (&mut [f64], &mut [f64], &mut [i32]),
        flags: &mut [i64; 3],
    );
}

macro_rules! impl_shim_scalar {
    ($t:ty, $estep:ident, $density:ident, $kl:ident, $reparam:ident, $mstep:ident, $weights:ident, $fixed:ident) => {
        impl ShimScalar for $t {
            unsafe fn mstep(
                full: bool,
                reduced: &[f64],
                n: usize,
                (d, k): (usize, usize),
                (reg, empty_below): (f64, f64),
                shift: &[Self],
                next: &mut HostModel<Self>,
                (w_raw, log_det_u, status): (&mut [f64], &mut [f64], &mut [i32]),
                flags: &mut [i64; 3],
            ) {
                // SAFETY: the caller guarantees the lengths documented on the trait.
                unsafe {
                    ffi::$mstep(
                        full as _,
                        reduced.as_ptr(),
                        n as _,
                        d as _,
                        k as _,
                        reg,
                        empty_below,
                        shift.as_ptr(),
                        next.means.as_mut_ptr(),
                        next.covs.as_mut_ptr(),
                        next.prec.as_mut_ptr(),
                        w_raw.as_mut_ptr(),
                        log_det_u.as_mut_ptr(),
                        status.as_mut_ptr(),
                    );
                    ffi::$weights(
                        w_raw.as_ptr(),
                        log_det_u.as_ptr(),
                        status.as_ptr(),
                        k as _,
                        d as _,
                        next.weights.as_mut_ptr(),
                        next.log_norm.as_mut_ptr(),
                        flags.as_mut_ptr(),
                    );
                }
            }
            unsafe fn estep(
                full: bool,
                x: &[Self],
                n: usize,
                d: usize,
                k: usize,
                l: &EStepLaunch,
                model: [&[Self]; 3],
                out: (&mut [f64], &mut [f64], &mut [f64], &mut [i64]),
            ) -> bool {
                let kernel = match l.kernel {
                    EStepKernel::Generic => 0,
                    EStepKernel::Registers => 1,
                    EStepKernel::TiledFull => 2,
                };
                if kernel != 0 {
                    // SAFETY: the caller guarantees the lengths documented on ShimEStep.
                    return unsafe {
                        ffi::$fixed(
                            kernel,
                            full as _,
                            x.as_ptr(),
                            n as _,
                            d as _,
                            k as _,
                            l.tile_rows as _,
                            l.rows_per_thread as _,
                            l.min_blocks as _,
                            l.grid,
                            l.shared_bytes as usize,
                            model[0].as_ptr(),
                            model[1].as_ptr(),
                            model[2].as_ptr(),
                            out.0.as_mut_ptr(),
                            out.1.as_mut_ptr(),
                            out.2.as_mut_ptr(),
                            out.3.as_mut_ptr(),
                        )
                    } == 0;
                }
                // SAFETY: the caller guarantees the lengths documented on ShimEStep.
                unsafe {
                    ffi::$estep(
                        full as _,
                        x.as_ptr(),
                        n as _,
                        d as _,
                        k as _,
                        l.tile_rows as _,
                        l.grid,
                        l.shared_bytes as usize,
                        model[0].as_ptr(),
                        model[1].as_ptr(),
                        model[2].as_ptr(),
                        out.0.as_mut_ptr(),
                        out.1.as_mut_ptr(),
                        out.2.as_mut_ptr(),
                        out.3.as_mut_ptr(),
                    )
                }
                true
            }
            unsafe fn log_density(
                full: bool,
                x: &[Self],
                n: usize,
                d: usize,
                k: usize,
                model: [&[Self]; 3],
                out: &mut [Self],
            ) {
                // SAFETY: the caller guarantees x n·D, model K·D, K·D·D, K, out n values.
                unsafe {
                    ffi::$density(
                        full as _,
                        x.as_ptr(),
                        n as _,
                        d as _,
                        k as _,
                        model[0].as_ptr(),
                        model[1].as_ptr(),
                        model[2].as_ptr(),
                        out.as_mut_ptr(),
                    )
                }
            }
            unsafe fn kl(mu: &[Self], log_var: &[Self], n: usize, d: usize, out: &mut [Self]) {
                // SAFETY: the caller guarantees mu and log_var n·D values, out n.
                unsafe { ffi::$kl(mu.as_ptr(), log_var.as_ptr(), n as _, d as _, out.as_mut_ptr()) }
            }
            unsafe fn reparam(mu: &[Self], log_var: &[Self], seed: u64, eps: &mut [Self], z: &mut [Self]) {
                // SAFETY: the caller guarantees all four slices have mu.len() values.
                unsafe {
                    ffi::$reparam(
                        mu.as_ptr(),
                        log_var.as_ptr(),
                        mu.len() as _,
                        seed,
                        eps.as_mut_ptr(),
                        z.as_mut_ptr(),
                    )
                }
            }
        }
    };
}
impl_shim_scalar!(
    f32,
    crabmix_shim_gmm_estep_f32,
    crabmix_shim_gmm_log_density_f32,
    crabmix_shim_kl_diag_std_normal_f32,
    crabmix_shim_reparam_diag_philox_f32,
    crabmix_shim_gmm_mstep_f32,
    crabmix_shim_gmm_mstep_weights_f32,
    crabmix_shim_gmm_estep_fixed_f32
);
impl_shim_scalar!(
    f64,
    crabmix_shim_gmm_estep_f64,
    crabmix_shim_gmm_log_density_f64,
    crabmix_shim_kl_diag_std_normal_f64,
    crabmix_shim_reparam_diag_philox_f64,
    crabmix_shim_gmm_mstep_f64,
    crabmix_shim_gmm_mstep_weights_f64,
    crabmix_shim_gmm_estep_fixed_f64
);

fn is_full(kind: CovarianceKind) -> Result<bool> {
    match kind {
        CovarianceKind::Full => Ok(true),
        CovarianceKind::Diag => Ok(false),
        CovarianceKind::Spherical => {
            Err(Error::InvalidParameter { name: "kind", reason: "no kernel for spherical" })
        }
    }
}

/// The GPU E-step pipeline on the CPU: `gmm_estep_*` with the GPU's launch shape into
/// NaN-poisoned block buffers, `gmm_reduce_partials`, then [`merge_device_stats`].
#[derive(Debug)]
pub struct ShimEStep<'a, T> {
    data: &'a [T],
    d: usize,
    max_blocks: u32,
    /// The last pass's per-block partials (grid · E), kept for inspection by tests.
    pub last_partials: Vec<f64>,
    /// The kernel the last pass ran.
    pub last_kernel: Option<EStepKernel>,
    launch: Option<EStepLaunch>,
}

impl<'a, T: ShimScalar> ShimEStep<'a, T> {
    /// Over `data` (N × D row-major, finite: checked here).
    pub fn new(data: &'a [T], d: usize) -> Result<Self> {
        crabmix_kernels::gmm::validate_data(data, d, 1)?;
        Ok(Self {
            data,
            d,
            max_blocks: crate::gpu_layout::MAX_BLOCKS,
            last_partials: Vec::new(),
            last_kernel: None,
            launch: None,
        })
    }

    /// Caps the grid at `max_blocks` (≥ 1) so that small test inputs still make each block loop
    /// over several tiles, as large inputs do on the GPU.
    pub fn with_max_blocks(mut self, max_blocks: u32) -> Self {
        self.max_blocks = max_blocks.max(1);
        self
    }

    /// Runs `launch` (e.g. a tiled variant from [`EStepLaunch::tiled_full_with`]) instead of the
    /// layout's choice (its grid still capped by `with_max_blocks`).
    pub fn with_launch(mut self, launch: EStepLaunch) -> Self {
        self.launch = Some(launch);
        self
    }
}

/// One E-step pass's device outputs on the host.
struct ShimPass {
    launch: EStepLaunch,
    partials: Vec<f64>,
    reduced: Vec<f64>,
    block_ll: Vec<f64>,
    block_worst: Vec<f64>,
    block_rows: Vec<i64>,
}

/// One E-step pass through the shim as the GPU runs it: the kernel gpu_layout chooses (the
/// generic one when the shim has no instance of the specialized kernel for this shape), grid
/// capped at `max_blocks`, NaN-poisoned outputs, then the fixed-order reduction.
fn shim_pass<T: ShimScalar>(
    data: &[T],
    shape: Shape,
    max_blocks: u32,
    forced: Option<EStepLaunch>,
    model: [&[T]; 3],
) -> Result<ShimPass> {
    let (k, d) = (shape.components, shape.features);
    let n = data.len() / d;
    let full = is_full(shape.kind)?;
    let elem = core::mem::size_of::<T>();
    let chosen = match forced {
        Some(l) if l.is_valid_for(shape, n, elem) => l,
        Some(_) => {
            return Err(Error::InvalidParameter {
                name: "launch",
                reason: "not a launch the layout makes for this shape, N and scalar type",
            });
        }
        None => EStepLaunch::new(shape, n, elem)?,
    };
    for mut l in [chosen, EStepLaunch::generic(shape, n, elem)?] {
        l.grid = l.grid.min(max_blocks);
        let grid = l.grid as usize;
        let mut partials = vec![f64::NAN; grid * l.entries];
        let (mut block_ll, mut block_worst, mut block_rows) =
            (vec![f64::NAN; grid], vec![f64::NAN; grid], vec![-7i64; grid]);
        // SAFETY: data n·D; model K·D, K·D·D, K (the callers' MixtureRef or HostModel of this
        // shape); partials grid·E and the block arrays grid values, from the same EStepLaunch
        // the kernel's indexing assumes.
        let launched = unsafe {
            T::estep(
                full,
                data,
                n,
                d,
                k,
                &l,
                model,
                (&mut partials, &mut block_ll, &mut block_worst, &mut block_rows),
            )
        };
        if !launched {
            continue;
        }
        let mut reduced = vec![f64::NAN; l.entries];
        // SAFETY: partials grid·E, reduced E values.
        unsafe {
            ffi::crabmix_shim_gmm_reduce_partials(
                partials.as_ptr(),
                grid as i32,
                l.entries as i32,
                reduced.as_mut_ptr(),
            )
        };
        return Ok(ShimPass { launch: l, partials, reduced, block_ll, block_worst, block_rows });
    }
    Err(Error::InvalidParameter { name: "kernel", reason: "the generic E-step kernel did not launch" })
}

impl<T: ShimScalar> EStep<T> for ShimEStep<'_, T> {
    fn accumulate(&mut self, model: &MixtureRef<'_, T>, stats: &mut StatsMut<'_, T>) -> Result<()> {
        let shape = model.shape();
        if shape.features != self.d {
            return Err(Error::ShapeMismatch {
                what: "model features",
                expected: self.d,
                found: shape.features,
            });
        }
        let (n, d) = (self.data.len() / self.d, self.d);
        let model_bufs = [model.means(), model.precisions_cholesky(), model.log_norm()];
        let pass = shim_pass(self.data, shape, self.max_blocks, self.launch, model_bufs)?;
        let log_likelihood = tree_sum(&pass.block_ll);
        let worst = worst_of_blocks(&pass.block_worst, &pass.block_rows);
        self.last_partials = pass.partials;
        self.last_kernel = Some(pass.launch.kernel);
        let reduced = pass.reduced;
        merge_device_stats(
            model,
            n as u64,
            &reduced,
            log_likelihood,
            worst.map(|(w, r)| (w, r, &self.data[r * d..(r + 1) * d])),
            stats,
        )
    }
}

/// A mixture's parameters in host buffers laid out as on the device (weights K, means K·D,
/// covariances and U K·D·D, log_norm K): [`ShimEm`]'s two model slots.
#[derive(Clone, Debug)]
pub struct HostModel<T> {
    weights: Vec<T>,
    means: Vec<T>,
    covs: Vec<T>,
    prec: Vec<T>,
    log_norm: Vec<T>,
}

impl<T: ShimScalar> HostModel<T> {
    /// NaN-poisoned buffers for `shape` (an unwritten entry shows up in the results).
    fn poisoned(shape: Shape) -> Self {
        let (k, d) = (shape.components, shape.features);
        let nan = T::from_f64(f64::NAN);
        Self {
            weights: vec![nan; k],
            means: vec![nan; k * d],
            covs: vec![nan; k * d * d],
            prec: vec![nan; k * d * d],
            log_norm: vec![nan; k],
        }
    }
}

/// The device-resident EM loop ([`crate::gmm_device`]) on the CPU: the same kernels and launch
/// sequence as `cuda::CudaEm` — E-step, reduction, pass summary, M-step (one block per component),
/// weights — over host buffers, the M-step's outputs poisoned first.
#[derive(Debug)]
pub struct ShimEm<'a, T> {
    data: &'a [T],
    shape: Shape,
    max_blocks: u32,
    cur: HostModel<T>,
    next: HostModel<T>,
    reduced: Vec<f64>,
    summary: [f64; 2],
    flags: [i64; 3],
}

impl<'a, T: ShimScalar> ShimEm<'a, T> {
    /// Over `data` (N × D row-major, finite: checked here) for a `shape` mixture (full or diag).
    pub fn new(data: &'a [T], shape: Shape) -> Result<Self> {
        crabmix_kernels::gmm::validate_data(data, shape.features, shape.components)?;
        is_full(shape.kind)?;
        Ok(Self {
            data,
            shape,
            max_blocks: crate::gpu_layout::MAX_BLOCKS,
            cur: HostModel::poisoned(shape),
            next: HostModel::poisoned(shape),
            reduced: Vec::new(),
            summary: [f64::NAN; 2],
            flags: [-7; 3],
        })
    }

    /// Caps the E-step grid (see [`ShimEStep::with_max_blocks`]).
    pub fn with_max_blocks(mut self, max_blocks: u32) -> Self {
        self.max_blocks = max_blocks.max(1);
        self
    }

    fn summary(&self) -> PassSummary {
        PassSummary::from_words(self.summary, self.flags)
    }
}

impl<T: ShimScalar> GmmDevice<T> for ShimEm<'_, T> {
    fn samples(&self) -> usize {
        self.data.len() / self.shape.features
    }

    fn load(&mut self, model: &MixtureRef<'_, T>, slot: Slot) -> std::result::Result<(), BackendError> {
        if model.shape() != self.shape {
            return Err(
                Error::InvalidParameter { name: "model", reason: "shape differs from the buffers'" }.into()
            );
        }
        let m = match slot {
            Slot::Current => &mut self.cur,
            Slot::Next => &mut self.next,
        };
        m.weights.copy_from_slice(model.weights());
        m.means.copy_from_slice(model.means());
        m.covs.copy_from_slice(model.covariances());
        m.prec.copy_from_slice(model.precisions_cholesky());
        m.log_norm.copy_from_slice(model.log_norm());
        Ok(())
    }

    fn pass(&mut self) -> std::result::Result<(), BackendError> {
        let model = [self.cur.means.as_slice(), &self.cur.prec, &self.cur.log_norm];
        let pass = shim_pass(self.data, self.shape, self.max_blocks, None, model)?;
        self.reduced = pass.reduced;
        // SAFETY: the block arrays hold the pass's grid values, summary 2, flags 3.
        unsafe {
            ffi::crabmix_shim_gmm_pass_summary(
                pass.block_ll.as_ptr(),
                pass.block_worst.as_ptr(),
                pass.block_rows.as_ptr(),
                pass.launch.grid as i32,
                self.summary.as_mut_ptr(),
                self.flags.as_mut_ptr(),
            );
        }
        Ok(())
    }

    fn read(&mut self) -> std::result::Result<PassSummary, BackendError> {
        Ok(self.summary())
    }

    fn mstep(&mut self, reg: f64, empty_below: f64) -> std::result::Result<(), BackendError> {
        let (k, d) = (self.shape.components, self.shape.features);
        let full = is_full(self.shape.kind)?;
        self.next = HostModel::poisoned(self.shape);
        let (mut w_raw, mut log_det_u, mut status) = (vec![f64::NAN; k], vec![f64::NAN; k], vec![-7i32; k]);
        // SAFETY: reduced holds the last pass's K·(1 + D + P) sums (pass() ran first, as the
        // trait requires; an empty vector fails the length check below), shift K·D, next a model
        // of this shape, the per-component arrays K.
        if self.reduced.len() != EStepLaunch::new(self.shape, 1, core::mem::size_of::<T>())?.entries {
            return Err(BackendError::Unsupported("an M-step before a pass"));
        }
        unsafe {
            T::mstep(
                full,
                &self.reduced,
                self.samples(),
                (d, k),
                (reg, empty_below),
                &self.cur.means,
                &mut self.next,
                (&mut w_raw, &mut log_det_u, &mut status),
                &mut self.flags,
            )
        };
        Ok(())
    }

    fn swap(&mut self) {
        std::mem::swap(&mut self.cur, &mut self.next);
    }

    fn store(&mut self, slot: Slot, model: &mut MixtureMut<'_, T>) -> std::result::Result<(), BackendError> {
        let m = match slot {
            Slot::Current => &self.cur,
            Slot::Next => &self.next,
        };
        model.weights_mut().copy_from_slice(&m.weights);
        let (means, covs) = model.means_and_covariances_mut();
        means.copy_from_slice(&m.means);
        covs.copy_from_slice(&m.covs);
        Ok(())
    }

    fn reduced(&mut self) -> std::result::Result<Vec<f64>, BackendError> {
        Ok(self.reduced.clone())
    }

    fn row(&mut self, row: usize) -> std::result::Result<Vec<T>, BackendError> {
        let d = self.shape.features;
        self.data
            .get(row * d..(row + 1) * d)
            .map(<[T]>::to_vec)
            .ok_or(BackendError::Kernels(Error::InvalidParameter { name: "row", reason: "out of range" }))
    }
}

/// Per-sample ln p(x) through `gmm_log_density_*` (output NaN-poisoned first).
pub fn log_density<T: ShimScalar>(model: &MixtureRef<'_, T>, data: &[T]) -> Result<Vec<T>> {
    let shape = model.shape();
    let n = crabmix_kernels::gmm::validate_data(data, shape.features, 1)?;
    let mut out = vec![T::from_f64(f64::NAN); n];
    // SAFETY: data n·D, the model's buffers as MixtureRef checked, out n values.
    unsafe {
        T::log_density(
            is_full(shape.kind)?,
            data,
            n,
            shape.features,
            shape.components,
            [model.means(), model.precisions_cholesky(), model.log_norm()],
            &mut out,
        )
    };
    Ok(out)
}

/// KL(N(μ_r, diag e^{lv_r}) ‖ N(0, I)) per row through `kl_diag_std_normal_*`.
pub fn kl_diag_std_normal<T: ShimScalar>(mu: &[T], log_var: &[T], d: usize) -> Result<Vec<T>> {
    if d == 0 || mu.len() % d != 0 || log_var.len() != mu.len() {
        return Err(Error::ShapeMismatch {
            what: "mu/log_var (N × D)",
            expected: mu.len(),
            found: log_var.len(),
        });
    }
    let n = mu.len() / d;
    let mut out = vec![T::from_f64(f64::NAN); n];
    // SAFETY: mu and log_var n·D values, out n.
    unsafe { T::kl(mu, log_var, n, d, &mut out) };
    Ok(out)
}

/// (ε, z) through `reparam_diag_philox_*`: z = μ + e^{½ lv} ε, ε from Philox at the flat index.
pub fn reparam_diag_philox<T: ShimScalar>(mu: &[T], log_var: &[T], seed: u64) -> Result<(Vec<T>, Vec<T>)> {
    if log_var.len() != mu.len() {
        return Err(Error::ShapeMismatch { what: "log_var", expected: mu.len(), found: log_var.len() });
    }
    let (mut eps, mut z) = (vec![T::from_f64(f64::NAN); mu.len()], vec![T::from_f64(f64::NAN); mu.len()]);
    // SAFETY: all four slices have mu.len() values.
    unsafe { T::reparam(mu, log_var, seed, &mut eps, &mut z) };
    Ok((eps, z))
}

/// Philox4x32-10 words for counters (i, 0, 0, 0), i < n, key (seed lo, seed hi): 4n words.
pub fn philox_words(n: usize, seed: u64) -> Vec<u32> {
    let mut out = vec![0xdead_beef; 4 * n];
    // SAFETY: out holds 4·n words.
    unsafe { ffi::crabmix_shim_philox4x32_10_words(n as i64, seed, out.as_mut_ptr()) };
    out
}

mod mlp_ffi {
    use core::ffi::{c_int, c_longlong};
    macro_rules! mlp_fns {
        ($t:ty, $fwd:ident, $bin:ident, $bpar:ident, $sum:ident, $act:ident, $mse:ident, $bce:ident,
         $adam:ident, $latent:ident) => {
            unsafe extern "C" {
                pub fn $fwd(
                    x: *const $t,
                    w: *const $t,
                    b: *const $t,
                    batch: c_int,
                    inp: c_int,
                    out: c_int,
                    act: c_int,
                    slope: $t,
                    pre: *mut $t,
                    y: *mut $t,
                );
                pub fn $bin(
                    g: *const $t,
                    w: *const $t,
                    batch: c_int,
                    inp: c_int,
                    out: c_int,
                    accumulate: c_int,
                    dx: *mut $t,
                );
                pub fn $bpar(
                    x: *const $t,
                    g: *const $t,
                    batch: c_int,
                    inp: c_int,
                    out: c_int,
                    chunk_rows: c_int,
                    partial_w: *mut $t,
                    partial_b: *mut $t,
                );
                pub fn $sum(partials: *const $t, chunks: c_int, len: c_longlong, out: *mut $t);
                pub fn $act(
                    pre: *const $t,
                    gy: *const $t,
                    len: c_longlong,
                    act: c_int,
                    slope: $t,
                    gpre: *mut $t,
                );
                pub fn $mse(
                    pred: *const $t,
                    target: *const $t,
                    batch: c_longlong,
                    n: c_int,
                    scale: $t,
                    loss: *mut $t,
                    grad: *mut $t,
                );
                pub fn $bce(
                    logits: *const $t,
                    target: *const $t,
                    batch: c_longlong,
                    n: c_int,
                    norm: $t,
                    scale: $t,
                    loss: *mut $t,
                    grad: *mut $t,
                );
                pub fn $adam(
                    p: *mut $t,
                    grad: *const $t,
                    m: *mut $t,
                    v: *mut $t,
                    len: c_longlong,
                    b1: $t,
                    b2: $t,
                    eps: $t,
                    wd: $t,
                    step_size: $t,
                    sqrt_bc2: $t,
                );
                pub fn $latent(
                    mu: *const $t,
                    log_var: *const $t,
                    eps: *const $t,
                    g_z: *const $t,
                    len: c_longlong,
                    weight: $t,
                    g_mu: *mut $t,
                    g_lv: *mut $t,
                );
            }
        };
    }
    mlp_fns!(
        f32,
        crabmix_shim_dense_forward_f32,
        crabmix_shim_dense_backward_input_f32,
        crabmix_shim_dense_backward_params_f32,
        crabmix_shim_mlp_sum_chunks_f32,
        crabmix_shim_act_backward_f32,
        crabmix_shim_mse_rows_f32,
        crabmix_shim_bce_logits_rows_f32,
        crabmix_shim_adam_step_f32,
        crabmix_shim_vae_latent_backward_f32
    );
    mlp_fns!(
        f64,
        crabmix_shim_dense_forward_f64,
        crabmix_shim_dense_backward_input_f64,
        crabmix_shim_dense_backward_params_f64,
        crabmix_shim_mlp_sum_chunks_f64,
        crabmix_shim_act_backward_f64,
        crabmix_shim_mse_rows_f64,
        crabmix_shim_bce_logits_rows_f64,
        crabmix_shim_adam_step_f64,
        crabmix_shim_vae_latent_backward_f64
    );
}

/// The MLP kernels' shim entry points for one scalar type (`mlp.cu`'s `_f32`/`_f64` stamps and
/// `vae_latent_backward_*` of `gaussian.cu`), as raw C calls.
///
/// # Safety
/// Every method passes raw pointers to C: the caller guarantees the lengths documented on the
/// matching [`MlpKernels`] method.
#[doc(hidden)]
#[allow(clippy::too_many_arguments, clippy::missing_safety_doc)]
pub unsafe trait ShimMlpScalar: ShimScalar {
    unsafe fn fwd(
        x: *const Self,
        w: *const Self,
        b: *const Self,
        dims: [i32; 4],
        slope: Self,
        pre: *mut Self,
        y: *mut Self,
    );
    unsafe fn bin(g: *const Self, w: *const Self, dims: [i32; 4], dx: *mut Self);
    unsafe fn bpar(x: *const Self, g: *const Self, dims: [i32; 4], pw: *mut Self, pb: *mut Self);
    unsafe fn sum(p: *const Self, chunks: i32, len: i64, out: *mut Self);
    unsafe fn act(pre: *const Self, gy: *const Self, len: i64, act: i32, slope: Self, gpre: *mut Self);
    unsafe fn mse(
        p: *const Self,
        t: *const Self,
        batch: i64,
        n: i32,
        scale: Self,
        loss: *mut Self,
        g: *mut Self,
    );
    unsafe fn bce(
        p: *const Self,
        t: *const Self,
        batch: i64,
        n: i32,
        s: [Self; 2],
        loss: *mut Self,
        g: *mut Self,
    );
    unsafe fn adam(p: *mut Self, g: *const Self, m: *mut Self, v: *mut Self, len: i64, h: [Self; 6]);
    unsafe fn latent(ptrs: [*const Self; 4], len: i64, weight: Self, g_mu: *mut Self, g_lv: *mut Self);
}

macro_rules! impl_shim_mlp {
    ($t:ty, $fwd:ident, $bin:ident, $bpar:ident, $sum:ident, $act:ident, $mse:ident, $bce:ident,
     $adam:ident, $latent:ident) => {
        // SAFETY: each method forwards to the C entry point with the same contract.
        unsafe impl ShimMlpScalar for $t {
            unsafe fn fwd(
                x: *const Self,
                w: *const Self,
                b: *const Self,
                d: [i32; 4],
                slope: Self,
                pre: *mut Self,
                y: *mut Self,
            ) {
                // SAFETY: the caller guarantees the lengths (MlpKernels::dense_forward).
                unsafe { mlp_ffi::$fwd(x, w, b, d[0], d[1], d[2], d[3], slope, pre, y) }
            }
            unsafe fn bin(g: *const Self, w: *const Self, d: [i32; 4], dx: *mut Self) {
                // SAFETY: the caller guarantees the lengths (MlpKernels::dense_backward_input).
                unsafe { mlp_ffi::$bin(g, w, d[0], d[1], d[2], d[3], dx) }
            }
            unsafe fn bpar(x: *const Self, g: *const Self, d: [i32; 4], pw: *mut Self, pb: *mut Self) {
                // SAFETY: the caller guarantees the lengths (MlpKernels::dense_backward_params).
                unsafe { mlp_ffi::$bpar(x, g, d[0], d[1], d[2], d[3], pw, pb) }
            }
            unsafe fn sum(p: *const Self, chunks: i32, len: i64, out: *mut Self) {
                // SAFETY: the caller guarantees the lengths (MlpKernels::sum_chunks).
                unsafe { mlp_ffi::$sum(p, chunks, len, out) }
            }
            unsafe fn act(
                pre: *const Self,
                gy: *const Self,
                len: i64,
                act: i32,
                slope: Self,
                gpre: *mut Self,
            ) {
                // SAFETY: the caller guarantees the lengths (MlpKernels::act_backward).
                unsafe { mlp_ffi::$act(pre, gy, len, act, slope, gpre) }
            }
            unsafe fn mse(
                p: *const Self,
                t: *const Self,
                batch: i64,
                n: i32,
                scale: Self,
                loss: *mut Self,
                g: *mut Self,
            ) {
                // SAFETY: the caller guarantees the lengths (MlpKernels::mse_rows).
                unsafe { mlp_ffi::$mse(p, t, batch, n, scale, loss, g) }
            }
            unsafe fn bce(
                p: *const Self,
                t: *const Self,
                batch: i64,
                n: i32,
                s: [Self; 2],
                loss: *mut Self,
                g: *mut Self,
            ) {
                // SAFETY: the caller guarantees the lengths (MlpKernels::bce_logits_rows).
                unsafe { mlp_ffi::$bce(p, t, batch, n, s[0], s[1], loss, g) }
            }
            unsafe fn adam(p: *mut Self, g: *const Self, m: *mut Self, v: *mut Self, len: i64, h: [Self; 6]) {
                // SAFETY: the caller guarantees the lengths (MlpKernels::adam_step).
                unsafe { mlp_ffi::$adam(p, g, m, v, len, h[0], h[1], h[2], h[3], h[4], h[5]) }
            }
            unsafe fn latent(q: [*const Self; 4], len: i64, weight: Self, g_mu: *mut Self, g_lv: *mut Self) {
                // SAFETY: the caller guarantees the lengths (MlpKernels::vae_latent_backward).
                unsafe { mlp_ffi::$latent(q[0], q[1], q[2], q[3], len, weight, g_mu, g_lv) }
            }
        }
    };
}
impl_shim_mlp!(
    f32,
    crabmix_shim_dense_forward_f32,
    crabmix_shim_dense_backward_input_f32,
    crabmix_shim_dense_backward_params_f32,
    crabmix_shim_mlp_sum_chunks_f32,
    crabmix_shim_act_backward_f32,
    crabmix_shim_mse_rows_f32,
    crabmix_shim_bce_logits_rows_f32,
    crabmix_shim_adam_step_f32,
    crabmix_shim_vae_latent_backward_f32
);
impl_shim_mlp!(
    f64,
    crabmix_shim_dense_forward_f64,
    crabmix_shim_dense_backward_input_f64,
    crabmix_shim_dense_backward_params_f64,
    crabmix_shim_mlp_sum_chunks_f64,
    crabmix_shim_act_backward_f64,
    crabmix_shim_mse_rows_f64,
    crabmix_shim_bce_logits_rows_f64,
    crabmix_shim_adam_step_f64,
    crabmix_shim_vae_latent_backward_f64
);

/// The MLP/VAE executor on the CPU: the `mlp.cu` and `gaussian.cu` kernels through the shim,
/// launched with the GPU's grids and blocks, buffers being `Vec<T>` (for [`DeviceMlp`] and
/// [`DeviceVae`](crate::mlp_device::DeviceVae)).
///
/// [`DeviceMlp`]: crate::mlp_device::DeviceMlp
#[derive(Clone, Copy, Debug, Default)]
pub struct ShimKernels;

type BResult<T> = std::result::Result<T, BackendError>;

fn i32_of(v: usize) -> i32 {
    i32::try_from(v).expect("shim shapes fit in i32")
}

#[allow(clippy::too_many_arguments)]
impl<T: ShimMlpScalar> MlpKernels<T> for ShimKernels {
    type Buf = Vec<T>;
    fn alloc(&self, len: usize) -> BResult<Vec<T>> {
        Ok(vec![T::from_f64(f64::NAN); len])
    }
    fn upload(&self, host: &[T]) -> BResult<Vec<T>> {
        Ok(host.to_vec())
    }
    fn write(&self, buf: &mut Vec<T>, host: &[T]) -> BResult<()> {
        check_len("buffer", buf.len(), host.len())?;
        buf[..host.len()].copy_from_slice(host);
        Ok(())
    }
    fn download(&self, buf: &Vec<T>, len: usize) -> BResult<Vec<T>> {
        check_len("buffer", buf.len(), len)?;
        Ok(buf[..len].to_vec())
    }
    unsafe fn dense_forward(
        &self,
        x: &Vec<T>,
        w: &Vec<T>,
        b: &Vec<T>,
        batch: usize,
        inp: usize,
        out: usize,
        act: Activation,
        pre: &mut Vec<T>,
        y: &mut Vec<T>,
    ) -> BResult<()> {
        let d = [i32_of(batch), i32_of(inp), i32_of(out), act.code()];
        // SAFETY: the caller guarantees the lengths of MlpKernels::dense_forward.
        unsafe {
            T::fwd(
                x.as_ptr(),
                w.as_ptr(),
                b.as_ptr(),
                d,
                T::from_f64(act.slope()),
                pre.as_mut_ptr(),
                y.as_mut_ptr(),
            )
        };
        Ok(())
    }
    unsafe fn dense_backward_input(
        &self,
        g: &Vec<T>,
        w: &Vec<T>,
        batch: usize,
        inp: usize,
        out: usize,
        accumulate: bool,
        dx: &mut Vec<T>,
    ) -> BResult<()> {
        let d = [i32_of(batch), i32_of(inp), i32_of(out), accumulate as i32];
        // SAFETY: the caller guarantees the lengths of MlpKernels::dense_backward_input.
        unsafe { T::bin(g.as_ptr(), w.as_ptr(), d, dx.as_mut_ptr()) };
        Ok(())
    }
    unsafe fn dense_backward_params(
        &self,
        x: &Vec<T>,
        g: &Vec<T>,
        batch: usize,
        inp: usize,
        out: usize,
        chunk_rows: usize,
        partial_w: &mut Vec<T>,
        partial_b: &mut Vec<T>,
    ) -> BResult<()> {
        let d = [i32_of(batch), i32_of(inp), i32_of(out), i32_of(chunk_rows)];
        // SAFETY: the caller guarantees the lengths of MlpKernels::dense_backward_params.
        unsafe { T::bpar(x.as_ptr(), g.as_ptr(), d, partial_w.as_mut_ptr(), partial_b.as_mut_ptr()) };
        Ok(())
    }
    unsafe fn sum_chunks(
        &self,
        partials: &Vec<T>,
        chunks: usize,
        len: usize,
        out: &mut Vec<T>,
    ) -> BResult<()> {
        // SAFETY: the caller guarantees partials ≥ chunks·len and out ≥ len values.
        unsafe { T::sum(partials.as_ptr(), i32_of(chunks), len as i64, out.as_mut_ptr()) };
        Ok(())
    }
    unsafe fn act_backward(
        &self,
        pre: &Vec<T>,
        gy: &Vec<T>,
        len: usize,
        act: Activation,
        gpre: &mut Vec<T>,
    ) -> BResult<()> {
        // SAFETY: the caller guarantees pre, gy, gpre ≥ len values.
        unsafe {
            T::act(
                pre.as_ptr(),
                gy.as_ptr(),
                len as i64,
                act.code(),
                T::from_f64(act.slope()),
                gpre.as_mut_ptr(),
            )
        };
        Ok(())
    }
    unsafe fn mse_rows(
        &self,
        pred: &Vec<T>,
        target: &Vec<T>,
        batch: usize,
        n: usize,
        scale: T,
        loss: &mut Vec<T>,
        grad: &mut Vec<T>,
    ) -> BResult<()> {
        // SAFETY: the caller guarantees the lengths of MlpKernels::mse_rows.
        unsafe {
            T::mse(
                pred.as_ptr(),
                target.as_ptr(),
                batch as i64,
                i32_of(n),
                scale,
                loss.as_mut_ptr(),
                grad.as_mut_ptr(),
            )
        };
        Ok(())
    }
    unsafe fn bce_logits_rows(
        &self,
        logits: &Vec<T>,
        target: &Vec<T>,
        batch: usize,
        n: usize,
        norm: T,
        scale: T,
        loss: &mut Vec<T>,
        grad: &mut Vec<T>,
    ) -> BResult<()> {
        // SAFETY: the caller guarantees the lengths of MlpKernels::bce_logits_rows.
        unsafe {
            T::bce(
                logits.as_ptr(),
                target.as_ptr(),
                batch as i64,
                i32_of(n),
                [norm, scale],
                loss.as_mut_ptr(),
                grad.as_mut_ptr(),
            )
        };
        Ok(())
    }
    unsafe fn adam_step(
        &self,
        p: &mut Vec<T>,
        grad: &Vec<T>,
        m: &mut Vec<T>,
        v: &mut Vec<T>,
        len: usize,
        cfg: &AdamConfig<T>,
        t: u32,
    ) -> BResult<()> {
        let (step_size, sqrt_bc2) = cfg.step_scalars(t);
        let h = [cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay, step_size, sqrt_bc2];
        // SAFETY: the caller guarantees p, grad, m, v ≥ len values.
        unsafe { T::adam(p.as_mut_ptr(), grad.as_ptr(), m.as_mut_ptr(), v.as_mut_ptr(), len as i64, h) };
        Ok(())
    }
    unsafe fn reparam(
        &self,
        mu: &Vec<T>,
        log_var: &Vec<T>,
        len: usize,
        seed: u64,
        eps: &mut Vec<T>,
        z: &mut Vec<T>,
    ) -> BResult<()> {
        // SAFETY: the caller guarantees all four buffers ≥ len values; the shim reads len.
        unsafe { T::reparam(&mu[..len], &log_var[..len], seed, &mut eps[..len], &mut z[..len]) };
        Ok(())
    }
    unsafe fn kl_rows(
        &self,
        mu: &Vec<T>,
        log_var: &Vec<T>,
        n: usize,
        d: usize,
        out: &mut Vec<T>,
    ) -> BResult<()> {
        // SAFETY: the caller guarantees mu, log_var ≥ n·d and out ≥ n values.
        unsafe { T::kl(mu, log_var, n, d, out) };
        Ok(())
    }
    unsafe fn vae_latent_backward(
        &self,
        mu: &Vec<T>,
        log_var: &Vec<T>,
        eps: &Vec<T>,
        g_z: &Vec<T>,
        len: usize,
        weight: T,
        g_mu: &mut Vec<T>,
        g_lv: &mut Vec<T>,
    ) -> BResult<()> {
        let q = [mu.as_ptr(), log_var.as_ptr(), eps.as_ptr(), g_z.as_ptr()];
        // SAFETY: the caller guarantees all six buffers ≥ len values.
        unsafe { T::latent(q, len as i64, weight, g_mu.as_mut_ptr(), g_lv.as_mut_ptr()) };
        Ok(())
    }
}
