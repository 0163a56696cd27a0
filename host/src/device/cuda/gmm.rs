//! The GMM family on CUDA: the E-step pass ([`CudaEStep`]) and the resident EM loop ([`CudaEm`]).

use super::{CudaDevice, Module, driver, kind_name, rows_config};
use crate::device::error::BackendError;
use crate::device::layout::{
    BLOCK_THREADS, EStepKernel, EStepLaunch, merge_device_stats, reduce_blocks, tree_sum, worst_of_blocks,
};
use crate::device::scalar::GpuScalar;
use crate::device::traits::{GmmDevice, PassSummary, Slot};
use crabmix_kernels::gmm::{EStep, MixtureMut, MixtureRef, Shape, StatsMut};
use crabmix_kernels::{Error, Result};
use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};
use std::sync::Arc;

/// Device buffers of one E-step shape, reused across passes.
#[derive(Debug)]
struct Buffers<T> {
    shape: Shape,
    launch: EStepLaunch,
    estep: CudaFunction,
    reduce: CudaFunction,
    /// The model the E-step reads (the current one of a resident EM loop).
    model: DeviceModel<T>,
    partials: CudaSlice<f64>,
    reduced: CudaSlice<f64>,
    block_ll: CudaSlice<f64>,
    block_worst: CudaSlice<f64>,
    block_rows: CudaSlice<i64>,
}

/// The E-step on a CUDA device, for [`crabmix_kernels::gmm::em_loop`] and `fit`: the data set
/// is uploaded once and stays resident; each pass uploads the model (K·D² values), launches the
/// fused E-step kernel and the fixed-order reduction, downloads K·(1 + D + P) sums and merges
/// them into the caller's statistics ([`merge_device_stats`]).
///
/// Full and diag covariances; K, D ≤ 64 (the host's runtime limit). A driver failure inside
/// [`EStep::accumulate`] (whose error type is the kernels crate's) returns
/// `InvalidParameter { name: "cuda", .. }`; [`CudaEStep::take_error`] has the driver's message.
#[derive(Debug)]
pub struct CudaEStep<T: GpuScalar> {
    device: Arc<CudaDevice>,
    data: CudaSlice<T>,
    n: usize,
    d: usize,
    buffers: Option<Buffers<T>>,
    error: Option<BackendError>,
    forced: Option<EStepLaunch>,
}

impl<T: GpuScalar> CudaEStep<T> {
    /// Uploads `data` (N × D row-major, every value finite: checked here once, so the kernel
    /// needs no per-pass check) to `device`.
    pub fn new(device: &Arc<CudaDevice>, data: &[T], d: usize) -> std::result::Result<Self, BackendError> {
        let n = crabmix_kernels::gmm::validate_data(data, d, 1)?;
        let buf = device.upload(data)?;
        Ok(Self { device: device.clone(), data: buf, n, d, buffers: None, error: None, forced: None })
    }

    /// Number of samples N resident on the device.
    pub fn samples(&self) -> usize {
        self.n
    }

    /// The driver error behind the last failed pass, if any (taken: a second call gives None).
    pub fn take_error(&mut self) -> Option<BackendError> {
        self.error.take()
    }

    /// The launch shape used for `shape` over this data set.
    pub fn launch(&self, shape: Shape) -> Result<EStepLaunch> {
        let elem = core::mem::size_of::<T>();
        match self.forced {
            Some(l) if l.is_valid_for(shape, self.n, elem) => Ok(l),
            Some(_) => Err(Error::InvalidParameter {
                name: "launch",
                reason: "not a launch the layout makes for this shape, N and scalar type",
            }),
            None => EStepLaunch::new(shape, self.n, elem),
        }
    }

    /// Runs `launch` (e.g. a tiled variant from [`EStepLaunch::tiled_full_with`], made for this
    /// data's N and the model's shape) instead of the layout's choice; `None` restores it. The
    /// next pass reallocates the buffers.
    pub fn set_launch(&mut self, launch: Option<EStepLaunch>) {
        self.forced = launch;
    }

    /// Sample `row` (D values) of the resident data (waits for the stream).
    fn row(&self, row: usize) -> std::result::Result<Vec<T>, BackendError> {
        let (d, stream) = (self.d, &self.device.stream);
        let v = stream.clone_dtoh(&self.data.slice(row * d..(row + 1) * d)).map_err(driver)?;
        stream.synchronize().map_err(driver)?;
        Ok(v)
    }

    fn buffers(&mut self, shape: Shape) -> std::result::Result<&mut Buffers<T>, BackendError> {
        let launch = self.launch(shape)?;
        if self.buffers.as_ref().map(|b| (b.shape, b.launch)) != Some((shape, launch)) {
            let dev = &self.device;
            kind_name(shape)?;

            let grid = launch.grid as usize;
            self.buffers = Some(Buffers {
                shape,
                launch,
                estep: dev.estep_function::<T>(&launch, shape)?,
                reduce: dev.function(Module::GmmEstep, "gmm_reduce_partials")?,
                model: DeviceModel::poisoned(dev, shape)?,
                partials: dev.poisoned(grid * launch.entries)?,
                reduced: dev.poisoned(launch.entries)?,
                block_ll: dev.poisoned(grid)?,
                block_worst: dev.poisoned(grid)?,
                block_rows: dev.poisoned(grid)?,
            });
        }
        Ok(self.buffers.as_mut().expect("set above"))
    }

    /// One pass; device errors as [`BackendError`].
    pub fn try_accumulate(
        &mut self,
        model: &MixtureRef<'_, T>,
        stats: &mut StatsMut<'_, T>,
    ) -> std::result::Result<(), BackendError> {
        let shape = model.shape();
        if shape.features != self.d {
            return Err(Error::ShapeMismatch {
                what: "model features vs data columns",
                expected: self.d,
                found: shape.features,
            }
            .into());
        }
        let stream = self.device.stream.clone();
        self.buffers(shape)?.model.load(&stream, model)?;
        self.launch_pass()?;
        let bufs = self.buffers.as_mut().expect("allocated by buffers() above");
        let reduced = stream.clone_dtoh(&bufs.reduced).map_err(driver)?;
        let block_ll = stream.clone_dtoh(&bufs.block_ll).map_err(driver)?;
        let block_worst = stream.clone_dtoh(&bufs.block_worst).map_err(driver)?;
        let block_rows = stream.clone_dtoh(&bufs.block_rows).map_err(driver)?;
        stream.synchronize().map_err(driver)?;
        // Block order: the same sum on every run and every card.
        let log_likelihood = tree_sum(&block_ll);
        let worst = worst_of_blocks(&block_worst, &block_rows);
        let worst_sample = match worst {
            Some((_, row)) => self.row(row)?,
            None => Vec::new(),
        };
        merge_device_stats(
            model,
            self.n as u64,
            &reduced,
            log_likelihood,
            worst.map(|(w, row)| (w, row, worst_sample.as_slice())),
            stats,
        )?;
        Ok(())
    }

    /// Launches the E-step and the reduction on the model already in the buffers (no transfer,
    /// no wait): the reduced statistics and the block arrays are then on the device.
    fn launch_pass(&mut self) -> std::result::Result<(), BackendError> {
        let stream = self.device.stream.clone();
        let bufs =
            self.buffers.as_mut().ok_or(BackendError::Unsupported("a pass before any model was loaded"))?;
        let l = bufs.launch;
        let shape = bufs.shape;
        let (n64, d32, k32, tile) =
            (self.n as i64, self.d as i32, shape.components as i32, l.tile_rows as i32);
        let cfg = LaunchConfig {
            grid_dim: (l.grid, 1, 1),
            block_dim: (BLOCK_THREADS, 1, 1),
            shared_mem_bytes: l.shared_bytes,
        };
        let mut b = stream.launch_builder(&bufs.estep);
        b.arg(&self.data).arg(&n64);
        match l.kernel {
            EStepKernel::Generic => b.arg(&d32).arg(&k32).arg(&tile),
            EStepKernel::Registers => &mut b,
            EStepKernel::TiledFull => b.arg(&k32).arg(&tile),
        };
        b.arg(&bufs.model.means).arg(&bufs.model.prec).arg(&bufs.model.log_norm);
        b.arg(&mut bufs.partials)
            .arg(&mut bufs.block_ll)
            .arg(&mut bufs.block_worst)
            .arg(&mut bufs.block_rows);
        // SAFETY: matches the kernel `l.kernel` names: gmm_estep_{full,diag}_*(const T* x, i64 n,
        // int d, int k, int tile_rows, <model>, <outputs>), gmm_estep_regs_*(const T* x, i64 n,
        // <model>, <outputs>) or gmm_estep_tiled_full_*(const T* x, i64 n, int k, int tile_rows,
        // <model>, <outputs>), with <model> = const T* means, prec, log_norm and <outputs> =
        // double* partials, block_ll, block_worst, i64* block_worst_row. x holds n·d values; the
        // model buffers K·D, K·D·D, K (allocated for `shape`, whose D and K the specialized
        // kernels were compiled for; callers check the model against it); partials grid·E and the
        // block arrays grid entries, E and grid from the same EStepLaunch; shared_mem_bytes is
        // what the kernel carves up (device::layout's formulas): generic and tiled ≤ 40 KiB dynamic +
        // 6 KiB static, registers none dynamic + < 21 KiB static, all < the 48 KiB default.
        unsafe { b.launch(cfg) }.map_err(driver)?;
        let (grid32, e32) = (l.grid as i32, l.entries as i32);
        let mut r = stream.launch_builder(&bufs.reduce);
        r.arg(&bufs.partials).arg(&grid32).arg(&e32).arg(&mut bufs.reduced);
        // SAFETY: matches gmm_reduce_partials(const double*, int blocks, int e_total, double* out)
        // with partials of grid·E and out of E values; ⌈E/32⌉ blocks of 256 threads, entries ≥ E
        // skipped.
        let cfg = LaunchConfig {
            grid_dim: (reduce_blocks(l.entries), 1, 1),
            block_dim: (BLOCK_THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        unsafe { r.launch(cfg) }.map_err(driver)?;
        Ok(())
    }
}

impl<T: GpuScalar> EStep<T> for CudaEStep<T> {
    fn accumulate(&mut self, model: &MixtureRef<'_, T>, stats: &mut StatsMut<'_, T>) -> Result<()> {
        match self.try_accumulate(model, stats) {
            Ok(()) => Ok(()),
            Err(BackendError::Kernels(e)) => Err(e),
            Err(e) => {
                self.error = Some(e);
                Err(Error::InvalidParameter {
                    name: "cuda",
                    reason: "the CUDA E-step failed (CudaEStep::take_error has the driver's message)",
                })
            }
        }
    }
}

/// A mixture's parameters on the device, in the kernels crate's layout (weights K, means K·D,
/// covariances and U K·D·D, log_norm K).
#[derive(Debug)]
struct DeviceModel<T> {
    weights: CudaSlice<T>,
    means: CudaSlice<T>,
    covs: CudaSlice<T>,
    prec: CudaSlice<T>,
    log_norm: CudaSlice<T>,
}

impl<T: GpuScalar> DeviceModel<T> {
    fn poisoned(dev: &CudaDevice, shape: Shape) -> std::result::Result<Self, BackendError> {
        let (k, d) = (shape.components, shape.features);
        Ok(Self {
            weights: dev.poisoned(k)?,
            means: dev.poisoned(k * d)?,
            covs: dev.poisoned(k * d * d)?,
            prec: dev.poisoned(k * d * d)?,
            log_norm: dev.poisoned(k)?,
        })
    }

    /// Uploads `model` (its shape is the allocation's: the callers check it).
    fn load(
        &mut self,
        stream: &Arc<CudaStream>,
        model: &MixtureRef<'_, T>,
    ) -> std::result::Result<(), BackendError> {
        stream.memcpy_htod(model.weights(), &mut self.weights).map_err(driver)?;
        stream.memcpy_htod(model.means(), &mut self.means).map_err(driver)?;
        stream.memcpy_htod(model.covariances(), &mut self.covs).map_err(driver)?;
        stream.memcpy_htod(model.precisions_cholesky(), &mut self.prec).map_err(driver)?;
        stream.memcpy_htod(model.log_norm(), &mut self.log_norm).map_err(driver)
    }

    /// Downloads weights, means and covariances into `model` (waits for the stream).
    fn store(
        &self,
        stream: &Arc<CudaStream>,
        model: &mut MixtureMut<'_, T>,
    ) -> std::result::Result<(), BackendError> {
        stream.memcpy_dtoh(&self.weights, model.weights_mut()).map_err(driver)?;
        let (means, covs) = model.means_and_covariances_mut();
        stream.memcpy_dtoh(&self.means, means).map_err(driver)?;
        stream.memcpy_dtoh(&self.covs, covs).map_err(driver)?;
        stream.synchronize().map_err(driver)
    }
}

/// EM with data, model and statistics resident on a CUDA device ([`crate::device::em_loop`]): per
/// iteration the E-step, the fixed-order reduction, the M-step (`gmm_mstep.cu`, one block per
/// component) and the weights run back to back on the stream, and five words come back.
#[derive(Debug)]
pub struct CudaEm<T: GpuScalar> {
    estep: CudaEStep<T>,
    shape: Shape,
    next: DeviceModel<T>,
    w_raw: CudaSlice<f64>,
    log_det_u: CudaSlice<f64>,
    status: CudaSlice<i32>,
    summary: CudaSlice<f64>,
    flags: CudaSlice<i64>,
    mstep: CudaFunction,
    weights: CudaFunction,
    pass_summary: CudaFunction,
}

impl<T: GpuScalar> CudaEm<T> {
    /// Uploads `data` (N × D row-major, finite) for a `shape` mixture (full or diag).
    pub fn new(
        device: &Arc<CudaDevice>,
        data: &[T],
        shape: Shape,
    ) -> std::result::Result<Self, BackendError> {
        let mut estep = CudaEStep::new(device, data, shape.features)?;
        estep.buffers(shape)?;
        let k = shape.components;
        let kind = kind_name(shape)?;
        Ok(Self {
            estep,
            shape,
            next: DeviceModel::poisoned(device, shape)?,
            w_raw: device.poisoned(k)?,
            log_det_u: device.poisoned(k)?,
            status: device.poisoned(k)?,
            summary: device.poisoned(2)?,
            flags: device.poisoned(3)?,
            mstep: device.function(Module::GmmMstep, &format!("gmm_mstep_{kind}_{}", T::SUFFIX))?,
            weights: device.function(Module::GmmMstep, &format!("gmm_mstep_weights_{}", T::SUFFIX))?,
            pass_summary: device.function(Module::GmmEstep, "gmm_pass_summary")?,
        })
    }

    /// Runs `launch` for the E-step instead of the layout's choice (see
    /// [`CudaEStep::set_launch`]); the current model must be loaded again afterwards.
    pub fn set_launch(&mut self, launch: Option<EStepLaunch>) -> std::result::Result<(), BackendError> {
        self.estep.set_launch(launch);
        self.bufs().map(|_| ())
    }

    fn stream(&self) -> Arc<CudaStream> {
        self.estep.device.stream.clone()
    }

    fn bufs(&mut self) -> std::result::Result<&mut Buffers<T>, BackendError> {
        let shape = self.shape;
        self.estep.buffers(shape)
    }

    /// Launches gmm_pass_summary over the last pass's block arrays.
    fn launch_summary(&mut self) -> std::result::Result<(), BackendError> {
        let stream = self.stream();
        let bufs = self.estep.buffers.as_ref().ok_or(BackendError::Unsupported("no pass yet"))?;
        let grid32 = bufs.launch.grid as i32;
        let mut b = stream.launch_builder(&self.pass_summary);
        b.arg(&bufs.block_ll).arg(&bufs.block_worst).arg(&bufs.block_rows).arg(&grid32);
        b.arg(&mut self.summary).arg(&mut self.flags);
        // SAFETY: matches gmm_pass_summary(const double*, const double*, const i64*, int blocks,
        // double* summary, i64* flags): the block arrays hold `grid` values, summary 2, flags 3;
        // exactly one block (the kernel writes its words as block 0's).
        unsafe { b.launch(rows_config(1)) }.map_err(driver)?;
        Ok(())
    }

    fn read_summary(&mut self) -> std::result::Result<PassSummary, BackendError> {
        let stream = self.stream();
        let (mut s, mut f) = ([0f64; 2], [0i64; 3]);
        stream.memcpy_dtoh(&self.summary, &mut s[..]).map_err(driver)?;
        stream.memcpy_dtoh(&self.flags, &mut f[..]).map_err(driver)?;
        stream.synchronize().map_err(driver)?;
        Ok(PassSummary::from_words(s, f))
    }
}

impl<T: GpuScalar> GmmDevice<T> for CudaEm<T> {
    fn samples(&self) -> usize {
        self.estep.n
    }

    fn load(&mut self, model: &MixtureRef<'_, T>, slot: Slot) -> std::result::Result<(), BackendError> {
        if model.shape() != self.shape {
            return Err(Error::ShapeMismatch {
                what: "model shape vs the device buffers'",
                expected: self.shape.components * self.shape.features,
                found: model.shape().components * model.shape().features,
            }
            .into());
        }
        let stream = self.stream();
        match slot {
            Slot::Current => self.bufs()?.model.load(&stream, model),
            Slot::Next => self.next.load(&stream, model),
        }
    }

    fn pass(&mut self) -> std::result::Result<(), BackendError> {
        self.estep.launch_pass()?;
        // The summary kernel also clears the M-step's words: no transfer here.
        self.launch_summary()
    }

    fn read(&mut self) -> std::result::Result<PassSummary, BackendError> {
        self.read_summary()
    }

    fn mstep(&mut self, reg: f64, empty_below: f64) -> std::result::Result<(), BackendError> {
        let stream = self.stream();
        let (k, d) = (self.shape.components, self.shape.features);
        let n64 = self.estep.n as i64;
        let (d32, k32) = (d as i32, k as i32);
        let bufs = self.estep.buffers.as_ref().ok_or(BackendError::Unsupported("an M-step before a pass"))?;
        let mut b = stream.launch_builder(&self.mstep);
        b.arg(&bufs.reduced).arg(&n64).arg(&d32).arg(&reg).arg(&empty_below).arg(&bufs.model.means);
        b.arg(&mut self.next.means).arg(&mut self.next.covs).arg(&mut self.next.prec);
        b.arg(&mut self.w_raw).arg(&mut self.log_det_u).arg(&mut self.status);
        let cfg = LaunchConfig {
            grid_dim: (k as u32, 1, 1),
            block_dim: (BLOCK_THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: matches gmm_mstep_{full,diag}_*(const double* reduced, i64 n, int d, double reg,
        // double empty_below, const T* shift, T* means, T* covs, T* prec, double* w_raw,
        // double* log_det_u, int* status): reduced holds K·(1 + D + P) sums of this shape, the
        // model buffers K·D / K·D·D, the per-component arrays K; one block per component (the
        // kernel reports D > 64, which its 64 × 64 shared square cannot hold, as a status).
        unsafe { b.launch(cfg) }.map_err(driver)?;
        let mut w = stream.launch_builder(&self.weights);
        w.arg(&self.w_raw).arg(&self.log_det_u).arg(&self.status).arg(&k32).arg(&d32);
        w.arg(&mut self.next.weights).arg(&mut self.next.log_norm).arg(&mut self.flags);
        // SAFETY: matches gmm_mstep_weights_*(const double* w_raw, const double* log_det_u,
        // const int* status, int k, int d, T* weights, T* log_norm, i64* flags): K values each,
        // flags 3; a single thread does the work.
        unsafe { w.launch(rows_config(1)) }.map_err(driver)?;
        Ok(())
    }

    fn swap(&mut self) {
        if let Some(bufs) = self.estep.buffers.as_mut() {
            std::mem::swap(&mut bufs.model, &mut self.next);
        }
    }

    fn store(&mut self, slot: Slot, model: &mut MixtureMut<'_, T>) -> std::result::Result<(), BackendError> {
        let stream = self.stream();
        match slot {
            Slot::Current => self.bufs()?.model.store(&stream, model),
            Slot::Next => self.next.store(&stream, model),
        }
    }

    fn reduced(&mut self) -> std::result::Result<Vec<f64>, BackendError> {
        let stream = self.stream();
        let v = stream.clone_dtoh(&self.bufs()?.reduced).map_err(driver)?;
        stream.synchronize().map_err(driver)?;
        Ok(v)
    }

    fn row(&mut self, row: usize) -> std::result::Result<Vec<T>, BackendError> {
        self.estep.row(row)
    }
}
