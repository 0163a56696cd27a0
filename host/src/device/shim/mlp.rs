//! The MLP family through the shim: [`MlpKernels`] for [`ShimKernels`].

use super::scalar::ShimMlpScalar;
use crate::device::error::BackendError;
use crate::device::launch::{mlp_kernel_methods, mlp_kernel_table};
use crate::device::traits::{MlpKernels, check_len};

/// The MLP/VAE executor on the CPU: the `mlp.cu` and `gaussian.cu` kernels through the shim,
/// launched with the GPU's grids and blocks, buffers being `Vec<T>` (for [`DeviceMlp`] and
/// [`DeviceVae`](crate::device::mlp::DeviceVae)).
///
/// [`DeviceMlp`]: crate::device::mlp::DeviceMlp
#[derive(Clone, Copy, Debug, Default)]
pub struct ShimKernels;

/// One kernel argument as the C call takes it: `in` buffers as `const T*`, `out` as `T*`,
/// scalars by value.
macro_rules! shim_arg {
    (in $a:ident) => {
        $a.as_ptr()
    };
    (out $a:ident) => {
        $a.as_mut_ptr()
    };
    ($c:tt $a:ident) => {
        $a
    };
}

/// Calls the shim's `crabmix_shim_<kernel>_<T>` with the table's arguments; the C side launches
/// the table's grid (`host/cuda/shim/shim.cpp`), so the grid is not passed.
macro_rules! shim_launch {
    ($dev:ident, $module:ident, $kernel:ident, ($grid:expr), [$($k:tt $a:ident),*]) => {{
        let _ = ($dev, $grid);
        T::$kernel($(shim_arg!($k $a)),*);
        Ok(())
    }};
}

type BResult<T> = std::result::Result<T, BackendError>;

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
    mlp_kernel_table!(mlp_kernel_methods, shim_launch);
}
