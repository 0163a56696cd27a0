//! The GMM family through the shim: the E-step pass ([`ShimEStep`]), the resident EM loop
//! ([`ShimEm`]) and the Gaussian kernels.

use super::ffi;
use super::scalar::{ShimMlpScalar, ShimScalar};
use crate::device::error::BackendError;
use crate::device::layout::{EStepKernel, EStepLaunch, merge_device_stats, tree_sum, worst_of_blocks};
use crate::device::traits::{GmmDevice, PassSummary, Slot};
use crabmix_kernels::gmm::{CovarianceKind, EStep, MixtureMut, MixtureRef, Shape, StatsMut};
use crabmix_kernels::{Error, Real, Result};

fn is_full(kind: CovarianceKind) -> Result<bool> {
    match kind {
        CovarianceKind::Full => Ok(true),
        CovarianceKind::Diag => Ok(false),
        CovarianceKind::Spherical => {
            Err(Error::InvalidParameter { name: "kind", reason: "no kernel for spherical" })
        }
        CovarianceKind::Tied => Err(Error::InvalidParameter { name: "kind", reason: "no kernel for tied" }),
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
            max_blocks: crate::device::layout::MAX_BLOCKS,
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

/// One E-step pass through the shim as the GPU runs it: the kernel device::layout chooses (the
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
            launch_estep::<T>(
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
            ffi::gmm::crabmix_shim_gmm_reduce_partials(
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

impl<T: Real> HostModel<T> {
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

/// The device-resident EM loop ([`crate::device::em_loop`]) on the CPU: the same kernels and launch
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
            max_blocks: crate::device::layout::MAX_BLOCKS,
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
            ffi::gmm::crabmix_shim_gmm_pass_summary(
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
            launch_mstep::<T>(
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
        T::gmm_log_density(
            is_full(shape.kind)? as i32,
            data.as_ptr(),
            n as i64,
            shape.features as i32,
            shape.components as i32,
            model.means().as_ptr(),
            model.precisions_cholesky().as_ptr(),
            model.log_norm().as_ptr(),
            out.as_mut_ptr(),
        )
    };
    Ok(out)
}

/// KL(N(μ_r, diag e^{lv_r}) ‖ N(0, I)) per row through `kl_diag_std_normal_*`.
pub fn kl_diag_std_normal<T: ShimMlpScalar>(mu: &[T], log_var: &[T], d: usize) -> Result<Vec<T>> {
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
    unsafe { T::kl_diag_std_normal(mu.as_ptr(), log_var.as_ptr(), n as i64, d as i32, out.as_mut_ptr()) };
    Ok(out)
}

/// (ε, z) through `reparam_diag_philox_*`: z = μ + e^{½ lv} ε, ε from Philox at the flat index.
pub fn reparam_diag_philox<T: ShimMlpScalar>(mu: &[T], log_var: &[T], seed: u64) -> Result<(Vec<T>, Vec<T>)> {
    if log_var.len() != mu.len() {
        return Err(Error::ShapeMismatch { what: "log_var", expected: mu.len(), found: log_var.len() });
    }
    let (mut eps, mut z) = (vec![T::from_f64(f64::NAN); mu.len()], vec![T::from_f64(f64::NAN); mu.len()]);
    // SAFETY: all four slices have mu.len() values.
    unsafe {
        T::reparam_diag_philox(
            mu.as_ptr(),
            log_var.as_ptr(),
            mu.len() as i64,
            seed,
            eps.as_mut_ptr(),
            z.as_mut_ptr(),
        )
    };
    Ok((eps, z))
}

/// Philox4x32-10 words for counters (i, 0, 0, 0), i < n, key (seed lo, seed hi): 4n words.
pub fn philox_words(n: usize, seed: u64) -> Vec<u32> {
    let mut out = vec![0xdead_beef; 4 * n];
    // SAFETY: out holds 4·n words.
    unsafe { ffi::gmm::crabmix_shim_philox4x32_10_words(n as i64, seed, out.as_mut_ptr()) };
    out
}

/// Launches `gmm_estep_{full,diag}_T` or, for `l.kernel` ≠ generic, the specialized kernel;
/// returns false (launching nothing) when the shim has no instance of that kernel for this shape.
///
/// # Safety
/// Every slice must hold the lengths the kernel indexes (N·D data, K·D / K·D·D / K model, the
/// launch's grid·E partials and grid block values); the C side cannot check them.
#[allow(clippy::too_many_arguments)]
unsafe fn launch_estep<T: ShimScalar>(
    full: bool,
    x: &[T],
    n: usize,
    d: usize,
    k: usize,
    l: &EStepLaunch,
    model: [&[T]; 3],
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
            T::gmm_estep_fixed(
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
        T::gmm_estep(
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

/// Launches `gmm_mstep_{full,diag}_T` (K blocks) then `gmm_mstep_weights_T` into `next`.
///
/// # Safety
/// `reduced` must hold K·(1 + D + P) sums, `shift` K·D values and `next` a model of shape (K, D);
/// `w_raw`, `log_det_u`, `status` K values each.
#[allow(clippy::too_many_arguments)]
unsafe fn launch_mstep<T: ShimScalar>(
    full: bool,
    reduced: &[f64],
    n: usize,
    (d, k): (usize, usize),
    (reg, empty_below): (f64, f64),
    shift: &[T],
    next: &mut HostModel<T>,
    (w_raw, log_det_u, status): (&mut [f64], &mut [f64], &mut [i32]),
    flags: &mut [i64; 3],
) {
    // SAFETY: the caller guarantees the lengths documented on the trait.
    unsafe {
        T::gmm_mstep(
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
        T::gmm_mstep_weights(
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
