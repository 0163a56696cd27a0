//! The CUDA backend (feature `cuda`): the kernels of `host/cuda/*.cu`, embedded in the binary,
//! compiled at run time by NVRTC for the device's own architecture, loaded once per device and
//! cached; launched through cudarc.
//!
//! cudarc loads `libcuda` and `libnvrtc` dynamically and panics on first use when they are
//! missing, so [`CudaDevice::open`] probes both first and returns
//! [`BackendError::LibraryMissing`], then looks up every entry point this backend reaches
//! ([`BackendError::LibraryIncomplete`] when one is absent: cudarc would panic with "Missing
//! symbol" at its first call); with a driver but no device, `CudaContext::new` fails
//! cleanly ([`BackendError::NoDevice`]). Without the feature this module is `cuda/stub.rs`: the
//! same API, every constructor returning [`BackendError::NotCompiledWithCudaSupport`].

use crate::device::error::BackendError;
use crate::device::layout::{BLOCK_THREADS, EStepLaunch};
use crate::device::scalar::GpuScalar;
use crabmix_kernels::gmm::{CovarianceKind, MixtureRef, Shape};
use crabmix_kernels::{Error, Result};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtrMut, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::Ptx;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::sync::{Arc, Mutex};

mod gmm;
mod mlp;

/// The cudarc this backend is built on (for callers that query the device directly, e.g. its
/// attributes in `crabmix-bench`'s gpu-check), so they need no version pin of their own.
pub use cudarc;
pub use gmm::{CudaEStep, CudaEm};

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
            Module::GmmEstep => include_str!("../../../cuda/gmm_estep.cu"),
            Module::GmmDensity => include_str!("../../../cuda/gmm_density.cu"),
            Module::Gaussian => include_str!("../../../cuda/gaussian.cu"),
            Module::Mlp => include_str!("../../../cuda/mlp.cu"),
            Module::GmmMstep => include_str!("../../../cuda/gmm_mstep.cu"),
            Module::GmmEstepFixed => include_str!("../../../cuda/gmm_estep_fixed.cu"),
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

const HEADERS: [(&str, &str); 2] = [
    ("common.cuh", include_str!("../../../cuda/common.cuh")),
    ("gmm.cuh", include_str!("../../../cuda/gmm.cuh")),
];

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

/// Driver entry points reached by [`CudaDevice::open`] and a fit (context, stream, memory,
/// modules, launches, events), as cudarc's dynamic loader names them.
const DRIVER_SYMBOLS: [&str; 28] = [
    "cuInit",
    "cuDeviceGet",
    "cuDeviceGetCount",
    "cuDeviceGetAttribute",
    "cuDeviceGetName",
    "cuDevicePrimaryCtxRetain",
    "cuDevicePrimaryCtxRelease_v2",
    "cuCtxSetCurrent",
    "cuCtxGetCurrent",
    "cuCtxSynchronize",
    "cuStreamCreate",
    "cuStreamSynchronize",
    "cuMemAlloc_v2",
    "cuMemFree_v2",
    "cuMemAllocAsync",
    "cuMemFreeAsync",
    "cuMemcpyHtoDAsync_v2",
    "cuMemcpyDtoHAsync_v2",
    "cuMemsetD8_v2",
    "cuMemsetD8Async",
    "cuMemGetInfo_v2",
    "cuModuleLoadData",
    "cuModuleGetFunction",
    "cuModuleUnload",
    "cuLaunchKernel",
    "cuEventCreate",
    "cuEventRecord",
    "cuEventDestroy_v2",
];

/// NVRTC entry points of [`nvrtc_compile`].
const NVRTC_SYMBOLS: [&str; 7] = [
    "nvrtcCreateProgram",
    "nvrtcCompileProgram",
    "nvrtcGetProgramLogSize",
    "nvrtcGetProgramLog",
    "nvrtcGetPTXSize",
    "nvrtcGetPTX",
    "nvrtcDestroyProgram",
];

/// The first of `names` that the loaded driver library does not export. Call only after
/// [`driver_available`]: cudarc's loader panics when no library loads.
fn missing_driver_symbol() -> Option<&'static str> {
    // SAFETY: `culib` opens the same library `driver_available` found; looking a symbol up
    // (dlsym) calls nothing in it.
    let lib = unsafe { cudarc::driver::sys::culib() };
    DRIVER_SYMBOLS.into_iter().find(|n| unsafe { lib.get::<*const std::ffi::c_void>(n.as_bytes()) }.is_err())
}

/// As [`missing_driver_symbol`], for NVRTC (after [`nvrtc_available`]).
fn missing_nvrtc_symbol() -> Option<&'static str> {
    // SAFETY: as in `missing_driver_symbol`.
    let lib = unsafe { cudarc::nvrtc::sys::culib() };
    NVRTC_SYMBOLS.into_iter().find(|n| unsafe { lib.get::<*const std::ffi::c_void>(n.as_bytes()) }.is_err())
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
    /// Opens device `ordinal`: probes the driver and NVRTC libraries and their symbols (typed
    /// errors instead of cudarc's panic), creates the context and reads the compute capability.
    pub fn open(ordinal: usize) -> std::result::Result<Arc<Self>, BackendError> {
        if !driver_available() {
            return Err(BackendError::LibraryMissing { library: "the CUDA driver (libcuda.so)" });
        }
        if let Some(symbol) = missing_driver_symbol() {
            return Err(BackendError::LibraryIncomplete { library: "the CUDA driver (libcuda.so)", symbol });
        }
        if !nvrtc_available() {
            return Err(BackendError::LibraryMissing {
                library: "NVRTC (libnvrtc.so.13; e.g. pip install nvidia-cuda-nvrtc==13.0.88 and LD_LIBRARY_PATH)",
            });
        }
        if let Some(symbol) = missing_nvrtc_symbol() {
            return Err(BackendError::LibraryIncomplete { library: "NVRTC (libnvrtc.so)", symbol });
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
    ) -> std::result::Result<DensityModel<T>, BackendError> {
        Ok((
            self.upload(model.means())?,
            self.upload(model.precisions_cholesky())?,
            self.upload(model.log_norm())?,
        ))
    }
}

/// What the density kernels read of a mixture: means, precision factors U, log-normalizers.
type DensityModel<T> = (CudaSlice<T>, CudaSlice<T>, CudaSlice<T>);

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
        CovarianceKind::Tied => Err(BackendError::Unsupported("tied covariances")),
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
