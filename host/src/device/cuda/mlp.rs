//! The MLP family on CUDA: [`MlpKernels`] for `Arc<CudaDevice>`.

use super::{CudaDevice, Module, driver, rows_config};
use crate::device::error::BackendError;
use crate::device::layout::MLP_TILE;
use crate::device::scalar::GpuScalar;
use crate::device::traits::{ActivationKind, DeviceAdam, MlpKernels, adam_step_scalars, check_len};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use std::sync::Arc;

/// Grid of 16 × 16-thread blocks (the dense kernels' tiles) covering `cols` × `rows` × `chunks`.
fn tile_config(cols: usize, rows: usize, chunks: usize) -> LaunchConfig {
    let t = MLP_TILE as usize;
    LaunchConfig {
        grid_dim: (cols.div_ceil(t).max(1) as u32, rows.div_ceil(t).max(1) as u32, chunks.max(1) as u32),
        block_dim: (MLP_TILE, MLP_TILE, 1),
        shared_mem_bytes: 0,
    }
}

/// The MLP/VAE executor on a CUDA device ([`crate::device::mlp`]): every launch on the device's
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
        act: ActivationKind,
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
        act: ActivationKind,
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
        cfg: &DeviceAdam<T>,
        t: u32,
    ) -> std::result::Result<(), BackendError> {
        let f = self.function(Module::Mlp, &format!("adam_step_{}", T::SUFFIX))?;
        let (step_size, sqrt_bc2) = adam_step_scalars(cfg, t);
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
