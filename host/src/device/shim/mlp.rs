//! The MLP family through the shim: [`MlpKernels`] for [`ShimKernels`].

use super::scalar::ShimMlpScalar;
use crate::device::error::BackendError;
use crate::device::traits::{ActivationKind, DeviceAdam, MlpKernels, adam_step_scalars, check_len};

/// The MLP/VAE executor on the CPU: the `mlp.cu` and `gaussian.cu` kernels through the shim,
/// launched with the GPU's grids and blocks, buffers being `Vec<T>` (for [`DeviceMlp`] and
/// [`DeviceVae`](crate::device::mlp::DeviceVae)).
///
/// [`DeviceMlp`]: crate::device::mlp::DeviceMlp
#[derive(Clone, Copy, Debug, Default)]
pub struct ShimKernels;

type BResult<T> = std::result::Result<T, BackendError>;

fn i32_of(v: usize) -> i32 {
    i32::try_from(v).expect("shim shapes fit in i32")
}

#[allow(clippy::too_many_arguments)]
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
    unsafe fn dense_forward(
        &self,
        x: &Vec<T>,
        w: &Vec<T>,
        b: &Vec<T>,
        batch: usize,
        inp: usize,
        out: usize,
        act: ActivationKind,
        pre: &mut Vec<T>,
        y: &mut Vec<T>,
    ) -> BResult<()> {
        let d = [i32_of(batch), i32_of(inp), i32_of(out), act.code()];
        // SAFETY: the caller guarantees the lengths of MlpKernels::dense_forward.
        unsafe {
            T::fwd(
                x.as_ptr(),
                w.as_ptr(),
                b.as_ptr(),
                d,
                T::from_f64(act.slope()),
                pre.as_mut_ptr(),
                y.as_mut_ptr(),
            )
        };
        Ok(())
    }
    unsafe fn dense_backward_input(
        &self,
        g: &Vec<T>,
        w: &Vec<T>,
        batch: usize,
        inp: usize,
        out: usize,
        accumulate: bool,
        dx: &mut Vec<T>,
    ) -> BResult<()> {
        let d = [i32_of(batch), i32_of(inp), i32_of(out), accumulate as i32];
        // SAFETY: the caller guarantees the lengths of MlpKernels::dense_backward_input.
        unsafe { T::bin(g.as_ptr(), w.as_ptr(), d, dx.as_mut_ptr()) };
        Ok(())
    }
    unsafe fn dense_backward_params(
        &self,
        x: &Vec<T>,
        g: &Vec<T>,
        batch: usize,
        inp: usize,
        out: usize,
        chunk_rows: usize,
        partial_w: &mut Vec<T>,
        partial_b: &mut Vec<T>,
    ) -> BResult<()> {
        let d = [i32_of(batch), i32_of(inp), i32_of(out), i32_of(chunk_rows)];
        // SAFETY: the caller guarantees the lengths of MlpKernels::dense_backward_params.
        unsafe { T::bpar(x.as_ptr(), g.as_ptr(), d, partial_w.as_mut_ptr(), partial_b.as_mut_ptr()) };
        Ok(())
    }
    unsafe fn sum_chunks(
        &self,
        partials: &Vec<T>,
        chunks: usize,
        len: usize,
        out: &mut Vec<T>,
    ) -> BResult<()> {
        // SAFETY: the caller guarantees partials ≥ chunks·len and out ≥ len values.
        unsafe { T::sum(partials.as_ptr(), i32_of(chunks), len as i64, out.as_mut_ptr()) };
        Ok(())
    }
    unsafe fn act_backward(
        &self,
        pre: &Vec<T>,
        gy: &Vec<T>,
        len: usize,
        act: ActivationKind,
        gpre: &mut Vec<T>,
    ) -> BResult<()> {
        // SAFETY: the caller guarantees pre, gy, gpre ≥ len values.
        unsafe {
            T::act(
                pre.as_ptr(),
                gy.as_ptr(),
                len as i64,
                act.code(),
                T::from_f64(act.slope()),
                gpre.as_mut_ptr(),
            )
        };
        Ok(())
    }
    unsafe fn mse_rows(
        &self,
        pred: &Vec<T>,
        target: &Vec<T>,
        batch: usize,
        n: usize,
        scale: T,
        loss: &mut Vec<T>,
        grad: &mut Vec<T>,
    ) -> BResult<()> {
        // SAFETY: the caller guarantees the lengths of MlpKernels::mse_rows.
        unsafe {
            T::mse(
                pred.as_ptr(),
                target.as_ptr(),
                batch as i64,
                i32_of(n),
                scale,
                loss.as_mut_ptr(),
                grad.as_mut_ptr(),
            )
        };
        Ok(())
    }
    unsafe fn bce_logits_rows(
        &self,
        logits: &Vec<T>,
        target: &Vec<T>,
        batch: usize,
        n: usize,
        norm: T,
        scale: T,
        loss: &mut Vec<T>,
        grad: &mut Vec<T>,
    ) -> BResult<()> {
        // SAFETY: the caller guarantees the lengths of MlpKernels::bce_logits_rows.
        unsafe {
            T::bce(
                logits.as_ptr(),
                target.as_ptr(),
                batch as i64,
                i32_of(n),
                [norm, scale],
                loss.as_mut_ptr(),
                grad.as_mut_ptr(),
            )
        };
        Ok(())
    }
    unsafe fn adam_step(
        &self,
        p: &mut Vec<T>,
        grad: &Vec<T>,
        m: &mut Vec<T>,
        v: &mut Vec<T>,
        len: usize,
        cfg: &DeviceAdam<T>,
        t: u32,
    ) -> BResult<()> {
        let (step_size, sqrt_bc2) = adam_step_scalars(cfg, t);
        let h = [cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay, step_size, sqrt_bc2];
        // SAFETY: the caller guarantees p, grad, m, v ≥ len values.
        unsafe { T::adam(p.as_mut_ptr(), grad.as_ptr(), m.as_mut_ptr(), v.as_mut_ptr(), len as i64, h) };
        Ok(())
    }
    unsafe fn reparam(
        &self,
        mu: &Vec<T>,
        log_var: &Vec<T>,
        len: usize,
        seed: u64,
        eps: &mut Vec<T>,
        z: &mut Vec<T>,
    ) -> BResult<()> {
        // SAFETY: the caller guarantees all four buffers ≥ len values; the shim reads len.
        unsafe { T::reparam(&mu[..len], &log_var[..len], seed, &mut eps[..len], &mut z[..len]) };
        Ok(())
    }
    unsafe fn kl_rows(
        &self,
        mu: &Vec<T>,
        log_var: &Vec<T>,
        n: usize,
        d: usize,
        out: &mut Vec<T>,
    ) -> BResult<()> {
        // SAFETY: the caller guarantees mu, log_var ≥ n·d and out ≥ n values.
        unsafe { T::kl(mu, log_var, n, d, out) };
        Ok(())
    }
    unsafe fn vae_latent_backward(
        &self,
        mu: &Vec<T>,
        log_var: &Vec<T>,
        eps: &Vec<T>,
        g_z: &Vec<T>,
        len: usize,
        weight: T,
        g_mu: &mut Vec<T>,
        g_lv: &mut Vec<T>,
    ) -> BResult<()> {
        let q = [mu.as_ptr(), log_var.as_ptr(), eps.as_ptr(), g_z.as_ptr()];
        // SAFETY: the caller guarantees all six buffers ≥ len values.
        unsafe { T::latent(q, len as i64, weight, g_mu.as_mut_ptr(), g_lv.as_mut_ptr()) };
        Ok(())
    }
}
