//! The CUDA backend's API in a build without the `cuda` feature (candle's `dummy_cuda_backend`
//! pattern): the same types and signatures, every constructor returning
//! [`BackendError::NotCompiledWithCudaSupport`], so callers compile unchanged and choose the CPU
//! at run time. No value of these types can exist.

use crate::device::error::BackendError;
use crate::device::scalar::GpuScalar;
use crate::device::traits::{GmmDevice, PassSummary, Slot};
use crabmix_kernels::Result;
use crabmix_kernels::gmm::{EStep, MixtureMut, MixtureRef, Shape, StatsMut};
use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;

/// Whether the CUDA driver library can be loaded: never, in this build.
pub fn driver_available() -> bool {
    false
}

/// Whether NVRTC can be loaded: never, in this build.
pub fn nvrtc_available() -> bool {
    false
}

/// A CUDA device (uninhabited in this build).
#[derive(Debug)]
pub struct CudaDevice {
    never: Infallible,
}

impl CudaDevice {
    /// Always `Err(NotCompiledWithCudaSupport)`.
    pub fn open(_ordinal: usize) -> std::result::Result<Arc<Self>, BackendError> {
        Err(BackendError::NotCompiledWithCudaSupport)
    }
    /// Unreachable: no device exists.
    pub fn name(&self) -> &str {
        match self.never {}
    }
    /// Unreachable: no device exists.
    pub fn arch(&self) -> &str {
        match self.never {}
    }
    /// Unreachable: no device exists.
    pub fn log_density<T: GpuScalar>(
        &self,
        _model: &MixtureRef<'_, T>,
        _data: &[T],
    ) -> std::result::Result<Vec<T>, BackendError> {
        match self.never {}
    }
}

/// The CUDA E-step (uninhabited in this build).
#[derive(Debug)]
pub struct CudaEStep<T: GpuScalar> {
    never: Infallible,
    _t: PhantomData<T>,
}

impl<T: GpuScalar> CudaEStep<T> {
    /// Always `Err(NotCompiledWithCudaSupport)`.
    pub fn new(_device: &Arc<CudaDevice>, _data: &[T], _d: usize) -> std::result::Result<Self, BackendError> {
        Err(BackendError::NotCompiledWithCudaSupport)
    }
    /// Unreachable: no value exists.
    pub fn take_error(&mut self) -> Option<BackendError> {
        match self.never {}
    }
}

impl<T: GpuScalar> EStep<T> for CudaEStep<T> {
    fn accumulate(&mut self, _model: &MixtureRef<'_, T>, _stats: &mut StatsMut<'_, T>) -> Result<()> {
        match self.never {}
    }
}

/// The device-resident EM loop (uninhabited in this build).
#[derive(Debug)]
pub struct CudaEm<T: GpuScalar> {
    never: Infallible,
    _t: PhantomData<T>,
}

impl<T: GpuScalar> CudaEm<T> {
    /// Always `Err(NotCompiledWithCudaSupport)`.
    pub fn new(
        _device: &Arc<CudaDevice>,
        _data: &[T],
        _shape: Shape,
    ) -> std::result::Result<Self, BackendError> {
        Err(BackendError::NotCompiledWithCudaSupport)
    }
}

impl<T: GpuScalar> GmmDevice<T> for CudaEm<T> {
    fn samples(&self) -> usize {
        match self.never {}
    }
    fn load(&mut self, _model: &MixtureRef<'_, T>, _slot: Slot) -> std::result::Result<(), BackendError> {
        match self.never {}
    }
    fn pass(&mut self) -> std::result::Result<(), BackendError> {
        match self.never {}
    }
    fn mstep(&mut self, _reg: f64, _empty_below: f64) -> std::result::Result<(), BackendError> {
        match self.never {}
    }
    fn read(&mut self) -> std::result::Result<PassSummary, BackendError> {
        match self.never {}
    }
    fn swap(&mut self) {
        match self.never {}
    }
    fn store(
        &mut self,
        _slot: Slot,
        _model: &mut MixtureMut<'_, T>,
    ) -> std::result::Result<(), BackendError> {
        match self.never {}
    }
    fn reduced(&mut self) -> std::result::Result<Vec<f64>, BackendError> {
        match self.never {}
    }
    fn row(&mut self, _row: usize) -> std::result::Result<Vec<T>, BackendError> {
        match self.never {}
    }
}
