//! The CUDA backend (feature `cuda`): the kernels of `host/cuda/*.cu`, embedded in the binary,
//! compiled at run time by NVRTC for the device's own architecture, loaded once per device and
//! cached; launched through cudarc.
//!
//! cudarc loads `libcuda` and `libnvrtc` dynamically and panics on first use when they are
//! missing, so [`CudaDevice::open`] probes both first and returns
//! [`BackendError::LibraryMissing`]; with a driver but no device, `CudaContext::new` fails
//! cleanly ([`BackendError::NoDevice`]). Without the feature this module is `cuda_stub.rs`: the
//! same API, every constructor returning [`BackendError::NotCompiledWithCudaSupport`].

use crate::backend::{BackendError, GpuScalar};
use crate::gmm_device::{GmmDevice, PassSummary, Slot};
use crate::gpu_layout::{
    BLOCK_THREADS, EStepKernel, EStepLaunch, MLP_TILE, merge_device_stats, reduce_blocks, tree_sum,
    worst_of_blocks,
};
use crate::mlp_device::{Activation, AdamConfig, MlpKernels, check_len};
use crabmix_kernels::gmm::{CovarianceKind, EStep, MixtureMut, MixtureRef, Shape, StatsMut};
use crabmix_kernels::{Error, Result};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtrMut, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::Ptx;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::sync::{Arc, Mutex};

/// The kernel families, one `.cu` file each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Module {
    /// `gmm_estep.cu`: fused E-step with per-block sufficient statistics, and their reduction.
    GmmEstep,
    /// `gmm_density.cu`: per-sample log density.
    GmmDensity,
    /// `gaussian.cu`: KL(N(μ, σ²) ‖ N(0, I)) per row, Philox reparameterized sampling, the VAE
    /// latent layer's backward.
    Gaussian,
    /// `mlp.cu`: dense layers forward/backward, activations, MSE/BCE gradients, Adam.
    Mlp,
    /// `gmm_mstep.cu`: the M-step (one block per component) and the weights' normalization.
    GmmMstep,
    /// `gmm_estep_fixed.cu`: E-step kernels specialized for one D (and K), instantiated by a
    /// line the host appends ([`EStepLaunch::entry_point`]).
    GmmEstepFixed,
}

impl Module {
    /// Every family.
    pub const ALL: [Module; 6] = [
        Module::GmmEstep,
        Module::GmmDensity,
        Module::Gaussian,
        Module::Mlp,
        Module::GmmMstep,
        Module::GmmEstepFixed,
    ];

    /// The file stem in `host/cuda/`.
    pub const fn name(self) -> &'static str {
        match self {
            Module::GmmEstep => "gmm_estep",
            Module::GmmDensity => "gmm_density",
            Module::Gaussian => "gaussian",
            Module::Mlp => "mlp",
            Module::GmmMstep => "gmm_mstep",
            Module::GmmEstepFixed => "gmm_estep_fixed",
        }
    }

    fn file(self) -> &'static str {
        match self {
            Module::GmmEstep => include_str!("../cuda/gmm_estep.cu"),
            Module::GmmDensity => include_str!("../cuda/gmm_density.cu"),
            Module::Gaussian => include_str!("../cuda/gaussian.cu"),
            Module::Mlp => include_str!("../cuda/mlp.cu"),
            Module::GmmMstep => include_str!("../cuda/gmm_mstep.cu"),
            Module::GmmEstepFixed => include_str!("../cuda/gmm_estep_fixed.cu"),
        }
    }

    /// The module's source with its project headers inlined (each once, as `#pragma once`
    /// would), ready for NVRTC without include paths: the binary carries its kernels.
    /// Includes of other files (the host shim, inside `#if !device`) are left for the
    /// preprocessor, which skips them on the device.
    pub fn source(self) -> String {
        let mut out = String::new();
        let mut seen = Vec::new();
        inline_includes(self.file(), &mut out, &mut seen);
        out
    }
}

const HEADERS: [(&str, &str); 2] =
    [("common.cuh", include_str!("../cuda/common.cuh")), ("gmm.cuh", include_str!("../cuda/gmm.cuh"))];

fn inline_includes(text: &str, out: &mut String, seen: &mut Vec<&'static str>) {
    for line in text.lines() {
        let header = line
            .trim()
            .strip_prefix("#include \"")
            .and_then(|rest| rest.strip_suffix('"'))
            .and_then(|name| HEADERS.iter().find(|(h, _)| *h == name));
        match header {
            Some((name, body)) => {
                if !seen.contains(name) {
                    seen.push(name);
                    inline_includes(body, out, seen);
                }
            }
            None if line.trim() == "#pragma once" => {}
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
}

/// NVRTC options of every module (scripts/nvrtc_check.py mirrors them): C++17; multiply-adds
/// contracted into FMAs (the default, stated: it is why the GPU differs from the CPU in the
/// last bits); precise division and square root (defaults kept).
pub const NVRTC_OPTIONS: [&str; 2] = ["--std=c++17", "--fmad=true"];

/// Compiles `src` with NVRTC for `arch` (`compute_90`, `sm_90`, …) plus `extra` options and
/// returns (PTX, log). The log is returned on success too: with `--ptxas-options=-v` and a real
/// `sm_XY` architecture it carries ptxas's registers, stack and spill report.
///
/// Requires NVRTC to be loadable (see [`nvrtc_available`]); cudarc panics otherwise.
pub fn nvrtc_compile(
    name: &str,
    src: &str,
    arch: &str,
    extra: &[&str],
) -> std::result::Result<(String, String), BackendError> {
    let module: &'static str =
        Module::ALL.iter().find(|m| m.name() == name).map(|m| m.name()).unwrap_or("kernel");
    let c_src =
        CString::new(src).map_err(|_| BackendError::Compile { module, log: "NUL byte in source".into() })?;
    let c_name = CString::new(format!("{name}.cu")).expect("module names have no NUL");
    let mut options: Vec<String> = NVRTC_OPTIONS.iter().map(|s| s.to_string()).collect();
    options.push(format!("--gpu-architecture={arch}"));
    options.extend(extra.iter().map(|s| s.to_string()));
    let driver_err =
        |e: cudarc::nvrtc::result::NvrtcError| BackendError::Compile { module, log: format!("{e:?}") };
    let prog = cudarc::nvrtc::result::create_program(&c_src, Some(&c_name)).map_err(driver_err)?;
    // SAFETY: `prog` is the live program created above (destroyed once, below); the options are
    // owned Strings that outlive the call; `c_src`/`c_name` outlive the program.
    let compiled = unsafe { cudarc::nvrtc::result::compile_program(prog, &options) };
    // SAFETY: `prog` is live; the log is copied into an owned buffer.
    let log = unsafe { cudarc::nvrtc::result::get_program_log(prog) }.map(|raw| c_chars_to_string(&raw));
    let ptx = match compiled {
        // SAFETY: `prog` compiled successfully and is live.
        Ok(()) => unsafe { cudarc::nvrtc::result::get_ptx(prog) }.map(|raw| c_chars_to_string(&raw)),
        Err(e) => Err(e),
    };
    // SAFETY: `prog` is not used after this.
    let _ = unsafe { cudarc::nvrtc::result::destroy_program(prog) };
    let log = log.unwrap_or_default();
    match ptx {
        Ok(ptx) => Ok((ptx, log)),
        Err(e) => Err(BackendError::Compile { module, log: format!("{e:?}\n{log}") }),
    }
}

fn c_chars_to_string(raw: &[std::ffi::c_char]) -> String {
    // The buffers NVRTC fills are NUL-terminated; fall back to the whole buffer if not.
    let bytes: Vec<u8> = raw.iter().map(|&c| c as u8).collect();
    match CStr::from_bytes_until_nul(&bytes) {
        Ok(c) => c.to_string_lossy().into_owned(),
        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Whether the CUDA driver library can be loaded (no call into it is made).
pub fn driver_available() -> bool {
    // SAFETY: only tries to dlopen the candidate library names; touches no CUDA state.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// Whether NVRTC can be loaded (e.g. the pinned wheel on `LD_LIBRARY_PATH`).
pub fn nvrtc_available() -> bool {
    // SAFETY: only tries to dlopen the candidate library names; touches no NVRTC state.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

fn driver(e: cudarc::driver::DriverError) -> BackendError {
    BackendError::Driver(e.to_string())
}

/// One CUDA device: its context, a stream, and the kernel modules compiled for it (each
/// compiled on first use, then cached for the device's lifetime).
#[derive(Debug)]
pub struct CudaDevice {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    name: String,
    arch: String,
    modules: Mutex<HashMap<(Module, String), Arc<CudaModule>>>,
}

impl CudaDevice {
    /// Opens device `ordinal`: probes the driver and NVRTC libraries (typed errors instead of
    /// cudarc's panic), creates the context and reads the compute capability.
    pub fn open(ordinal: usize) -> std::result::Result<Arc<Self>, BackendError> {
        if !driver_available() {
            return Err(BackendError::LibraryMissing { library: "the CUDA driver (libcuda.so)" });
        }
        if !nvrtc_available() {
            return Err(BackendError::LibraryMissing {
                library: "NVRTC (libnvrtc.so.13; e.g. pip install nvidia-cuda-nvrtc==13.0.88 and LD_LIBRARY_PATH)",
            });
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| BackendError::NoDevice(e.to_string()))?;
        let (major, minor) = ctx.compute_capability().map_err(driver)?;
        let name = ctx.name().map_err(driver)?;
        let stream = ctx.default_stream();
        Ok(Arc::new(Self {
            ctx,
            stream,
            name,
            arch: format!("sm_{major}{minor}"),
            modules: Mutex::new(HashMap::new()),
        }))
    }

    /// The device's name as the driver reports it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device's architecture, `sm_XY` from its compute capability X.Y.
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// The stream every launch of this backend goes to (callers time work with it).
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// The context (for events and memory queries).
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    /// `module` compiled for this device (virtual architecture `compute_XY`, JIT-finished by the
    /// driver), loaded once and cached.
    pub fn module(&self, module: Module) -> std::result::Result<Arc<CudaModule>, BackendError> {
        self.module_with(module, "")
    }

    /// `module` with `instantiate` (lines of source, e.g. a specialized kernel's instantiation)
    /// appended, compiled and cached per (module, lines).
    pub fn module_with(
        &self,
        module: Module,
        instantiate: &str,
    ) -> std::result::Result<Arc<CudaModule>, BackendError> {
        let key = (module, instantiate.to_string());
        let mut cache = self.modules.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = cache.get(&key) {
            return Ok(m.clone());
        }
        let arch = self.arch.replacen("sm_", "compute_", 1);
        let src = module.source() + instantiate;
        let (ptx, _log) = nvrtc_compile(module.name(), &src, &arch, &[])?;
        let loaded = self.ctx.load_module(Ptx::from_src(ptx)).map_err(driver)?;
        cache.insert(key, loaded.clone());
        Ok(loaded)
    }

    /// The kernel `name` of `module`.
    pub fn function(&self, module: Module, name: &str) -> std::result::Result<CudaFunction, BackendError> {
        self.module(module)?.load_function(name).map_err(driver)
    }

    /// The E-step kernel of `launch` for `shape` and scalar `T` (compiling its specialization on
    /// first use).
    fn estep_function<T: GpuScalar>(
        &self,
        launch: &EStepLaunch,
        shape: Shape,
    ) -> std::result::Result<CudaFunction, BackendError> {
        let (name, instantiate) = launch.entry_point(shape, T::SUFFIX);
        match instantiate {
            None => self.function(Module::GmmEstep, &name),
            Some(line) => {
                self.module_with(Module::GmmEstepFixed, &line)?.load_function(&name).map_err(driver)
            }
        }
    }

    /// Copies `host` to a new device buffer.
    pub fn upload<T: cudarc::driver::DeviceRepr>(
        &self,
        host: &[T],
    ) -> std::result::Result<CudaSlice<T>, BackendError> {
        self.stream.clone_htod(host).map_err(driver)
    }

    /// Copies a device buffer back (waits for the stream).
    pub fn download<T: cudarc::driver::DeviceRepr>(
        &self,
        dev: &CudaSlice<T>,
    ) -> std::result::Result<Vec<T>, BackendError> {
        self.stream.clone_dtoh(dev).map_err(driver)
    }

    /// A device buffer of `len` values, every byte 0xff (NaN for floats, −1 for integers): a
    /// kernel that fails to write an output leaves a value no check accepts.
    pub fn poisoned<T: cudarc::driver::DeviceRepr>(
        &self,
        len: usize,
    ) -> std::result::Result<CudaSlice<T>, BackendError> {
        // SAFETY: the buffer is filled with 0xff bytes before it is returned, so no uninitialized
        // memory is ever read; every caller's T (f32, f64, i32, i64, u32) is valid for any bit
        // pattern.
        let mut buf = unsafe { self.stream.alloc::<T>(len.max(1)) }.map_err(driver)?;
        let bytes = buf.num_bytes();
        {
            let (ptr, _sync) = buf.device_ptr_mut(&self.stream);
            // SAFETY: `ptr` is the start of `buf`'s allocation of exactly `bytes` bytes, alive
            // for this scope; the memset is ordered on the same stream as every later use.
            unsafe { cudarc::driver::result::memset_d8_async(ptr, 0xff, bytes, self.stream.cu_stream()) }
                .map_err(driver)?;
        }
        Ok(buf)
    }

    /// Per-sample ln p(x) of `model` over `data` (N × D row-major) on the device.
    pub fn log_density<T: GpuScalar>(
        &self,
        model: &MixtureRef<'_, T>,
        data: &[T],
    ) -> std::result::Result<Vec<T>, BackendError> {
        let shape = model.shape();
        let d = shape.features;
        let n = crabmix_kernels::gmm::validate_data(data, d, 1)?;
        let f = self
            .function(Module::GmmDensity, &format!("gmm_log_density_{}_{}", kind_name(shape)?, T::SUFFIX))?;
        let x = self.upload(data)?;
        let (means, prec, log_norm) = self.upload_model(model)?;
        let mut out = self.poisoned::<T>(n)?;
        let (n64, d32, k32) = (n as i64, d as i32, shape.components as i32);
        let mut b = self.stream.launch_builder(&f);
        b.arg(&x).arg(&n64).arg(&d32).arg(&k32).arg(&means).arg(&prec).arg(&log_norm).arg(&mut out);
        // SAFETY: the argument list matches gmm_log_density_*(const T*, i64, int, int, const T*,
        // const T*, const T*, T*); x has n·d values, the model buffers K·D, K·D·D, K, out n; the
        // grid covers n rows and the kernel returns for r ≥ n.
        unsafe { b.launch(rows_config(n)) }.map_err(driver)?;
        let mut v = self.download(&out)?;
        v.truncate(n);
        Ok(v)
    }

    /// KL(N(μ_r, diag e^{lv_r}) ‖ N(0, I)) per row of `mu`/`log_var` (N × D row-major).
    pub fn kl_diag_std_normal<T: GpuScalar>(
        &self,
        mu: &[T],
        log_var: &[T],
        d: usize,
    ) -> std::result::Result<Vec<T>, BackendError> {
        let n = gaussian_rows(mu, log_var, d)?;
        let f = self.function(Module::Gaussian, &format!("kl_diag_std_normal_{}", T::SUFFIX))?;
        let (m, lv) = (self.upload(mu)?, self.upload(log_var)?);
        let mut out = self.poisoned::<T>(n)?;
        let (n64, d32) = (n as i64, d as i32);
        let mut b = self.stream.launch_builder(&f);
        b.arg(&m).arg(&lv).arg(&n64).arg(&d32).arg(&mut out);
        // SAFETY: matches kl_diag_std_normal_*(const T*, const T*, i64, int, T*); inputs n·d,
        // output n; rows r ≥ n return.
        unsafe { b.launch(rows_config(n)) }.map_err(driver)?;
        let mut v = self.download(&out)?;
        v.truncate(n);
        Ok(v)
    }

    /// Reparameterized draws z = μ + e^{½ lv} ⊙ ε with ε from Philox4x32-10 keyed by `seed` at
    /// counter = flat element index (reproducible for any launch shape). Returns (ε, z).
    pub fn reparam_diag_philox<T: GpuScalar>(
        &self,
        mu: &[T],
        log_var: &[T],
        seed: u64,
    ) -> std::result::Result<(Vec<T>, Vec<T>), BackendError> {
        if mu.len() != log_var.len() {
            return Err(
                Error::ShapeMismatch { what: "log_var", expected: mu.len(), found: log_var.len() }.into()
            );
        }
        let len = mu.len();
        let f = self.function(Module::Gaussian, &format!("reparam_diag_philox_{}", T::SUFFIX))?;
        let (m, lv) = (self.upload(mu)?, self.upload(log_var)?);
        let (mut eps, mut z) = (self.poisoned::<T>(len)?, self.poisoned::<T>(len)?);
        let len64 = len as i64;
        let mut b = self.stream.launch_builder(&f);
        b.arg(&m).arg(&lv).arg(&len64).arg(&seed).arg(&mut eps).arg(&mut z);
        // SAFETY: matches reparam_diag_philox_*(const T*, const T*, i64, u64, T*, T*); all
        // buffers hold `len` values; elements e ≥ len return.
        unsafe { b.launch(rows_config(len)) }.map_err(driver)?;
        let (mut e, mut zz) = (self.download(&eps)?, self.download(&z)?);
        e.truncate(len);
        zz.truncate(len);
        Ok((e, zz))
    }

    fn upload_model<T: GpuScalar>(
        &self,
        model: &MixtureRef<'_, T>,
    ) -> std::result::Result<(CudaSlice<T>, CudaSlice<T>, CudaSlice<T>), BackendError> {
        Ok((
            self.upload(model.means())?,
            self.upload(model.precisions_cholesky())?,
            self.upload(model.log_norm())?,
        ))
    }
}

fn gaussian_rows<T>(mu: &[T], log_var: &[T], d: usize) -> Result<usize> {
    if d == 0 || mu.len() % d != 0 {
        return Err(Error::ShapeMismatch {
            what: "mu (a multiple of D)",
            expected: mu.len().div_ceil(d.max(1)) * d.max(1),
            found: mu.len(),
        });
    }
    if log_var.len() != mu.len() {
        return Err(Error::ShapeMismatch { what: "log_var", expected: mu.len(), found: log_var.len() });
    }
    Ok(mu.len() / d)
}

fn kind_name(shape: Shape) -> std::result::Result<&'static str, BackendError> {
    match shape.kind {
        CovarianceKind::Full => Ok("full"),
        CovarianceKind::Diag => Ok("diag"),
        CovarianceKind::Spherical => Err(BackendError::Unsupported("spherical covariances")),
    }
}

/// One thread per row/element, [`BLOCK_THREADS`] per block.
fn rows_config(n: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (n.div_ceil(BLOCK_THREADS as usize).max(1) as u32, 1, 1),
        block_dim: (BLOCK_THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

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
        // what the kernel carves up (gpu_layout's formulas): generic and tiled ≤ 40 KiB dynamic +
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

/// EM with data, model and statistics resident on a CUDA device ([`crate::gmm_device`]): per
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

/// Grid of 16 × 16-thread blocks (the dense kernels' tiles) covering `cols` × `rows` × `chunks`.
fn tile_config(cols: usize, rows: usize, chunks: usize) -> LaunchConfig {
    let t = MLP_TILE as usize;
    LaunchConfig {
        grid_dim: (cols.div_ceil(t).max(1) as u32, rows.div_ceil(t).max(1) as u32, chunks.max(1) as u32),
        block_dim: (MLP_TILE, MLP_TILE, 1),
        shared_mem_bytes: 0,
    }
}

/// The MLP/VAE executor on a CUDA device ([`crate::mlp_device`]): every launch on the device's
/// stream, in order; buffers are `CudaSlice<T>`. Kernel entry points are `<name>_<T::SUFFIX>` of
/// `mlp.cu` and `gaussian.cu`, with the grids the shim uses (`host/cuda/shim/shim.cpp`).
#[allow(clippy::too_many_arguments)]
impl<T: GpuScalar> MlpKernels<T> for Arc<CudaDevice> {
    type Buf = CudaSlice<T>;
    fn alloc(&self, len: usize) -> std::result::Result<CudaSlice<T>, BackendError> {
        CudaDevice::poisoned(self, len)
    }
    fn upload(&self, host: &[T]) -> std::result::Result<CudaSlice<T>, BackendError> {
        CudaDevice::upload(self, host)
    }
    fn write(&self, buf: &mut CudaSlice<T>, host: &[T]) -> std::result::Result<(), BackendError> {
        check_len("device buffer", buf.len(), host.len())?;
        self.stream.memcpy_htod(host, &mut buf.slice_mut(0..host.len())).map_err(driver)
    }
    fn download(&self, buf: &CudaSlice<T>, len: usize) -> std::result::Result<Vec<T>, BackendError> {
        check_len("device buffer", buf.len(), len)?;
        self.stream.clone_dtoh(&buf.slice(0..len)).map_err(driver)
    }
    unsafe fn dense_forward(
        &self,
        x: &CudaSlice<T>,
        w: &CudaSlice<T>,
        b: &CudaSlice<T>,
        batch: usize,
        inp: usize,
        out: usize,
        act: Activation,
        pre: &mut CudaSlice<T>,
        y: &mut CudaSlice<T>,
    ) -> std::result::Result<(), BackendError> {
        let f = self.function(Module::Mlp, &format!("dense_forward_{}", T::SUFFIX))?;
        let (bt, i, o, a, slope) =
            (batch as i32, inp as i32, out as i32, act.code(), T::from_f64(act.slope()));
        let mut l = self.stream.launch_builder(&f);
        l.arg(x).arg(w).arg(b).arg(&bt).arg(&i).arg(&o).arg(&a).arg(&slope).arg(pre).arg(y);
        // SAFETY: matches dense_forward_*(const T* x, const T* w, const T* b, int batch, int in,
        // int out, int act, T slope, T* pre, T* y); the caller guarantees the buffer lengths; the
        // grid covers out × batch and threads outside return without writing.
        unsafe { l.launch(tile_config(out, batch, 1)) }.map_err(driver)?;
        Ok(())
    }
    unsafe fn dense_backward_input(
        &self,
        g: &CudaSlice<T>,
        w: &CudaSlice<T>,
        batch: usize,
        inp: usize,
        out: usize,
        accumulate: bool,
        dx: &mut CudaSlice<T>,
    ) -> std::result::Result<(), BackendError> {
        let f = self.function(Module::Mlp, &format!("dense_backward_input_{}", T::SUFFIX))?;
        let (bt, i, o, acc) = (batch as i32, inp as i32, out as i32, accumulate as i32);
        let mut l = self.stream.launch_builder(&f);
        l.arg(g).arg(w).arg(&bt).arg(&i).arg(&o).arg(&acc).arg(dx);
        // SAFETY: matches dense_backward_input_*(const T* g, const T* w, int batch, int in,
        // int out, int accumulate, T* dx); lengths guaranteed by the caller; grid in × batch.
        unsafe { l.launch(tile_config(inp, batch, 1)) }.map_err(driver)?;
        Ok(())
    }
    unsafe fn dense_backward_params(
        &self,
        x: &CudaSlice<T>,
        g: &CudaSlice<T>,
        batch: usize,
        inp: usize,
        out: usize,
        chunk_rows: usize,
        partial_w: &mut CudaSlice<T>,
        partial_b: &mut CudaSlice<T>,
    ) -> std::result::Result<(), BackendError> {
        let f = self.function(Module::Mlp, &format!("dense_backward_params_{}", T::SUFFIX))?;
        let (bt, i, o, cr) = (batch as i32, inp as i32, out as i32, chunk_rows as i32);
        let mut l = self.stream.launch_builder(&f);
        l.arg(x).arg(g).arg(&bt).arg(&i).arg(&o).arg(&cr).arg(partial_w).arg(partial_b);
        // SAFETY: matches dense_backward_params_*(const T* x, const T* g, int batch, int in,
        // int out, int chunk_rows, T* partial_w, T* partial_b); lengths guaranteed by the caller
        // for chunks = ⌈batch / chunk_rows⌉, which is the grid's z extent.
        unsafe { l.launch(tile_config(inp, out, batch.div_ceil(chunk_rows.max(1)))) }.map_err(driver)?;
        Ok(())
    }
    unsafe fn sum_chunks(
        &self,
        partials: &CudaSlice<T>,
        chunks: usize,
        len: usize,
        out: &mut CudaSlice<T>,
    ) -> std::result::Result<(), BackendError> {
        let f = self.function(Module::Mlp, &format!("mlp_sum_chunks_{}", T::SUFFIX))?;
        let (c, n) = (chunks as i32, len as i64);
        let mut l = self.stream.launch_builder(&f);
        l.arg(partials).arg(&c).arg(&n).arg(out);
        // SAFETY: matches mlp_sum_chunks_*(const T*, int chunks, i64 len, T* out); partials
        // chunks·len and out len values (caller); threads e ≥ len return.
        unsafe { l.launch(rows_config(len)) }.map_err(driver)?;
        Ok(())
    }
    unsafe fn act_backward(
        &self,
        pre: &CudaSlice<T>,
        gy: &CudaSlice<T>,
        len: usize,
        act: Activation,
        gpre: &mut CudaSlice<T>,
    ) -> std::result::Result<(), BackendError> {
        let f = self.function(Module::Mlp, &format!("act_backward_{}", T::SUFFIX))?;
        let (n, a, slope) = (len as i64, act.code(), T::from_f64(act.slope()));
        let mut l = self.stream.launch_builder(&f);
        l.arg(pre).arg(gy).arg(&n).arg(&a).arg(&slope).arg(gpre);
        // SAFETY: matches act_backward_*(const T* pre, const T* gy, i64 len, int act, T slope,
        // T* gpre); all three buffers ≥ len (caller); threads e ≥ len return.
        unsafe { l.launch(rows_config(len)) }.map_err(driver)?;
        Ok(())
    }
    unsafe fn mse_rows(
        &self,
        pred: &CudaSlice<T>,
        target: &CudaSlice<T>,
        batch: usize,
        n: usize,
        scale: T,
        loss: &mut CudaSlice<T>,
        grad: &mut CudaSlice<T>,
    ) -> std::result::Result<(), BackendError> {
        let f = self.function(Module::Mlp, &format!("mse_rows_{}", T::SUFFIX))?;
        let (bt, nn) = (batch as i64, n as i32);
        let mut l = self.stream.launch_builder(&f);
        l.arg(pred).arg(target).arg(&bt).arg(&nn).arg(&scale).arg(loss).arg(grad);
        // SAFETY: matches mse_rows_*(const T*, const T*, i64 batch, int n, T scale, T* loss,
        // T* grad); lengths guaranteed by the caller; rows r ≥ batch return.
        unsafe { l.launch(rows_config(batch)) }.map_err(driver)?;
        Ok(())
    }
    unsafe fn bce_logits_rows(
        &self,
        logits: &CudaSlice<T>,
        target: &CudaSlice<T>,
        batch: usize,
        n: usize,
        norm: T,
        scale: T,
        loss: &mut CudaSlice<T>,
        grad: &mut CudaSlice<T>,
    ) -> std::result::Result<(), BackendError> {
        let f = self.function(Module::Mlp, &format!("bce_logits_rows_{}", T::SUFFIX))?;
        let (bt, nn) = (batch as i64, n as i32);
        let mut l = self.stream.launch_builder(&f);
        l.arg(logits).arg(target).arg(&bt).arg(&nn).arg(&norm).arg(&scale).arg(loss).arg(grad);
        // SAFETY: matches bce_logits_rows_*(const T*, const T*, i64 batch, int n, T norm,
        // T scale, T* loss, T* grad); lengths guaranteed by the caller; rows r ≥ batch return.
        unsafe { l.launch(rows_config(batch)) }.map_err(driver)?;
        Ok(())
    }
    unsafe fn adam_step(
        &self,
        p: &mut CudaSlice<T>,
        grad: &CudaSlice<T>,
        m: &mut CudaSlice<T>,
        v: &mut CudaSlice<T>,
        len: usize,
        cfg: &AdamConfig<T>,
        t: u32,
    ) -> std::result::Result<(), BackendError> {
        let f = self.function(Module::Mlp, &format!("adam_step_{}", T::SUFFIX))?;
        let (step_size, sqrt_bc2) = cfg.step_scalars(t);
        let n = len as i64;
        let mut l = self.stream.launch_builder(&f);
        l.arg(p).arg(grad).arg(m).arg(v).arg(&n);
        l.arg(&cfg.beta1).arg(&cfg.beta2).arg(&cfg.eps).arg(&cfg.weight_decay).arg(&step_size).arg(&sqrt_bc2);
        // SAFETY: matches adam_step_*(T* p, const T* grad, T* m, T* v, i64 len, T b1, T b2,
        // T eps, T wd, T step_size, T sqrt_bc2); p, grad, m, v ≥ len (caller).
        unsafe { l.launch(rows_config(len)) }.map_err(driver)?;
        Ok(())
    }
    unsafe fn reparam(
        &self,
        mu: &CudaSlice<T>,
        log_var: &CudaSlice<T>,
        len: usize,
        seed: u64,
        eps: &mut CudaSlice<T>,
        z: &mut CudaSlice<T>,
    ) -> std::result::Result<(), BackendError> {
        let f = self.function(Module::Gaussian, &format!("reparam_diag_philox_{}", T::SUFFIX))?;
        let n = len as i64;
        let mut l = self.stream.launch_builder(&f);
        l.arg(mu).arg(log_var).arg(&n).arg(&seed).arg(eps).arg(z);
        // SAFETY: matches reparam_diag_philox_*(const T*, const T*, i64, u64, T*, T*); all four
        // buffers ≥ len (caller); elements e ≥ len return.
        unsafe { l.launch(rows_config(len)) }.map_err(driver)?;
        Ok(())
    }
    unsafe fn kl_rows(
        &self,
        mu: &CudaSlice<T>,
        log_var: &CudaSlice<T>,
        n: usize,
        d: usize,
        out: &mut CudaSlice<T>,
    ) -> std::result::Result<(), BackendError> {
        let f = self.function(Module::Gaussian, &format!("kl_diag_std_normal_{}", T::SUFFIX))?;
        let (nn, dd) = (n as i64, d as i32);
        let mut l = self.stream.launch_builder(&f);
        l.arg(mu).arg(log_var).arg(&nn).arg(&dd).arg(out);
        // SAFETY: matches kl_diag_std_normal_*(const T*, const T*, i64, int, T*); inputs ≥ n·d,
        // out ≥ n (caller); rows r ≥ n return.
        unsafe { l.launch(rows_config(n)) }.map_err(driver)?;
        Ok(())
    }
    unsafe fn vae_latent_backward(
        &self,
        mu: &CudaSlice<T>,
        log_var: &CudaSlice<T>,
        eps: &CudaSlice<T>,
        g_z: &CudaSlice<T>,
        len: usize,
        weight: T,
        g_mu: &mut CudaSlice<T>,
        g_lv: &mut CudaSlice<T>,
    ) -> std::result::Result<(), BackendError> {
        let f = self.function(Module::Gaussian, &format!("vae_latent_backward_{}", T::SUFFIX))?;
        let n = len as i64;
        let mut l = self.stream.launch_builder(&f);
        l.arg(mu).arg(log_var).arg(eps).arg(g_z).arg(&n).arg(&weight).arg(g_mu).arg(g_lv);
        // SAFETY: matches vae_latent_backward_*(const T* mu, const T* log_var, const T* eps,
        // const T* g_z, i64 len, T weight, T* g_mu, T* g_lv); all six ≥ len (caller).
        unsafe { l.launch(rows_config(len)) }.map_err(driver)?;
        Ok(())
    }
}
