//! [`GpuScalar`]: the scalar types with device kernels (`f32`, `f64`). A leaf of the device tree.

use crabmix_kernels::Real;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A scalar type with CUDA kernels: `f32` and `f64`. `SUFFIX` names the kernel entry points
/// (`gmm_estep_full_f32`, …), stamped per type by a macro in each `.cu` file.
#[cfg(feature = "cuda")]
pub trait GpuScalar:
    Real + cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits + sealed::Sealed
{
    /// Entry-point suffix: `"f32"` or `"f64"`.
    const SUFFIX: &'static str;
}
/// A scalar type with CUDA kernels: `f32` and `f64`. `SUFFIX` names the kernel entry points
/// (`gmm_estep_full_f32`, …), stamped per type by a macro in each `.cu` file.
#[cfg(not(feature = "cuda"))]
pub trait GpuScalar: Real + sealed::Sealed {
    /// Entry-point suffix: `"f32"` or `"f64"`.
    const SUFFIX: &'static str;
}
impl GpuScalar for f32 {
    const SUFFIX: &'static str = "f32";
}
impl GpuScalar for f64 {
    const SUFFIX: &'static str = "f64";
}
