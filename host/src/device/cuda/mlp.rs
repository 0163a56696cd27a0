//! The MLP family on CUDA: [`MlpKernels`] for `Arc<CudaDevice>`.

use super::{CudaDevice, Module, driver};
use crate::device::error::BackendError;
use crate::device::launch::{Grid, mlp_kernel_methods, mlp_kernel_table};
use crate::device::layout::BLOCK_THREADS;
use crate::device::scalar::GpuScalar;
use crate::device::traits::{MlpKernels, check_len};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use std::sync::Arc;

/// The table's grid as cudarc's launch configuration (no dynamic shared memory).
fn launch_config(grid: Grid) -> LaunchConfig {
    let (grid_dim, block_dim) = grid.dims(BLOCK_THREADS);
    LaunchConfig { grid_dim, block_dim, shared_mem_bytes: 0 }
}

/// One kernel argument pushed onto a launch: buffers by reference (`in` shared, `out` exclusive),
/// scalars by reference to the caller's local.
macro_rules! cuda_arg {
    ($l:ident, in $a:ident) => {
        $l.arg($a)
    };
    ($l:ident, out $a:ident) => {
        $l.arg($a)
    };
    ($l:ident, $c:tt $a:ident) => {
        $l.arg(&$a)
    };
}

/// Launches `<kernel>_<T::SUFFIX>` of `module` with the table's arguments and grid, on the
/// device's stream (no wait).
macro_rules! cuda_launch {
    ($dev:ident, $module:ident, $kernel:ident, ($grid:expr), [$($k:tt $a:ident),*]) => {{
        let f = $dev.function(Module::$module, &format!(concat!(stringify!($kernel), "_{}"), T::SUFFIX))?;
        let mut l = $dev.stream.launch_builder(&f);
        $(cuda_arg!(l, $k $a);)*
        l.launch(launch_config($grid)).map(|_| ()).map_err(driver)
    }};
}

/// The MLP/VAE executor on a CUDA device ([`crate::device::mlp`]): every launch on the device's
/// stream, in order; buffers are `CudaSlice<T>`. Kernel entry points are `<name>_<T::SUFFIX>` of
/// `mlp.cu` and `gaussian.cu`, launched as [`crate::device::launch`]'s table says.
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
    mlp_kernel_table!(mlp_kernel_methods, cuda_launch);
}
