//! The CUDA kernels of `host/cuda` run on the CPU (feature `cuda-shim`, tests only): the `.cu`
//! sources compiled by g++ through `host/cuda/shim/cuda_host_shim.h` (build.rs), launched with the
//! same grid, block, tile and shared-memory sizes as the GPU ([`crate::gpu_layout`]), and merged
//! into the kernels crate's statistics by the same [`merge_device_stats`] the CUDA backend uses.
//! CI thus checks every kernel's logic, and the host side of the backend, without a GPU.
//!
//! Slow by design (one OS thread per CUDA thread, ≈ 13 ms per 256-thread block on two cores):
//! keep shapes small.

use crate::backend::GpuScalar;
use crate::gpu_layout::{EStepLaunch, merge_device_stats, worst_of_blocks};
use crabmix_kernels::gmm::{CovarianceKind, EStep, MixtureRef, StatsMut};
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
    unsafe extern "C" {
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
    );
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
}

macro_rules! impl_shim_scalar {
    ($t:ty, $estep:ident, $density:ident, $kl:ident, $reparam:ident) => {
        impl ShimScalar for $t {
            unsafe fn estep(
                full: bool,
                x: &[Self],
                n: usize,
                d: usize,
                k: usize,
                l: &EStepLaunch,
                model: [&[Self]; 3],
                out: (&mut [f64], &mut [f64], &mut [f64], &mut [i64]),
            ) {
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
    crabmix_shim_reparam_diag_philox_f32
);
impl_shim_scalar!(
    f64,
    crabmix_shim_gmm_estep_f64,
    crabmix_shim_gmm_log_density_f64,
    crabmix_shim_kl_diag_std_normal_f64,
    crabmix_shim_reparam_diag_philox_f64
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
}

impl<'a, T: ShimScalar> ShimEStep<'a, T> {
    /// Over `data` (N × D row-major, finite: checked here).
    pub fn new(data: &'a [T], d: usize) -> Result<Self> {
        crabmix_kernels::gmm::validate_data(data, d, 1)?;
        Ok(Self { data, d, max_blocks: crate::gpu_layout::MAX_BLOCKS, last_partials: Vec::new() })
    }

    /// Caps the grid at `max_blocks` (≥ 1) so that small test inputs still make each block loop
    /// over several tiles, as large inputs do on the GPU.
    pub fn with_max_blocks(mut self, max_blocks: u32) -> Self {
        self.max_blocks = max_blocks.max(1);
        self
    }
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
        let (n, d, k) = (self.data.len() / self.d, self.d, shape.components);
        let full = is_full(shape.kind)?;
        let mut l = EStepLaunch::new(shape, n, core::mem::size_of::<T>())?;
        l.grid = l.grid.min(self.max_blocks);
        let grid = l.grid as usize;
        let mut partials = vec![f64::NAN; grid * l.entries];
        let (mut block_ll, mut block_worst, mut block_rows) =
            (vec![f64::NAN; grid], vec![f64::NAN; grid], vec![-7i64; grid]);
        let model_bufs = [model.means(), model.precisions_cholesky(), model.log_norm()];
        // SAFETY: data n·D; model K·D, K·D·D, K (MixtureRef checked them); partials grid·E and the
        // block arrays grid values, from the same EStepLaunch the kernel's indexing assumes.
        unsafe {
            T::estep(
                full,
                self.data,
                n,
                d,
                k,
                &l,
                model_bufs,
                (&mut partials, &mut block_ll, &mut block_worst, &mut block_rows),
            )
        };
        let mut reduced = vec![f64::NAN; l.entries];
        // SAFETY: partials grid·E, reduced E values.
        unsafe {
            ffi::crabmix_shim_gmm_reduce_partials(
                partials.as_ptr(),
                l.grid as i32,
                l.entries as i32,
                reduced.as_mut_ptr(),
            )
        };
        let log_likelihood: f64 = block_ll.iter().sum();
        let worst = worst_of_blocks(&block_worst, &block_rows);
        self.last_partials = partials;
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
