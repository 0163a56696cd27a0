//! The per-type dispatch of the shim's entry points ([`ShimScalar`], [`ShimMlpScalar`]) and the
//! host buffers of a model ([`HostModel`]).

use super::ffi;
use crate::device::layout::{EStepKernel, EStepLaunch};
use crate::device::scalar::GpuScalar;
use crabmix_kernels::Real;
use crabmix_kernels::gmm::Shape;

/// A mixture's parameters in host buffers laid out as on the device (weights K, means K·D,
/// covariances and U K·D·D, log_norm K): [`ShimEm`](super::gmm::ShimEm)'s two model slots.
#[derive(Clone, Debug)]
pub struct HostModel<T> {
    pub(super) weights: Vec<T>,
    pub(super) means: Vec<T>,
    pub(super) covs: Vec<T>,
    pub(super) prec: Vec<T>,
    pub(super) log_norm: Vec<T>,
}

impl<T: Real> HostModel<T> {
    /// NaN-poisoned buffers for `shape` (an unwritten entry shows up in the results).
    pub(super) fn poisoned(shape: Shape) -> Self {
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

/// The per-type shim entry points (f32 and f64), mirroring the kernels' `_f32`/`_f64` stamps.
pub trait ShimScalar: GpuScalar {
    /// Launches `gmm_estep_{full,diag}_T`; see [`ShimEStep`](super::gmm::ShimEStep) for the buffer contract.
    ///
    /// # Safety
    /// Every slice must hold the lengths the kernel indexes (N·D data, K·D / K·D·D / K model,
    /// the launch's grid·E partials); the C side cannot check them.
    /// `l.kernel` selects the generic kernel or a specialized one; returns false (launching
    /// nothing) when the shim has no instance of the specialized kernel for this shape.
    #[allow(clippy::too_many_arguments)]
    #[doc(hidden)]
    unsafe fn estep(
        full: bool,
        x: &[Self],
        n: usize,
        d: usize,
        k: usize,
        l: &EStepLaunch,
        model: [&[Self]; 3],
        out: (&mut [f64], &mut [f64], &mut [f64], &mut [i64]),
    ) -> bool;
    /// Launches `gmm_log_density_{full,diag}_T`.
    ///
    /// # Safety
    /// Every slice must hold the lengths the kernel indexes (N·D data, K·D / K·D·D / K model,
    /// the launch's grid·E partials); the C side cannot check them.
    #[doc(hidden)]
    unsafe fn log_density(
        full: bool,
        x: &[Self],
        n: usize,
        d: usize,
        k: usize,
        model: [&[Self]; 3],
        out: &mut [Self],
    );
    /// Launches `kl_diag_std_normal_T`.
    ///
    /// # Safety
    /// Every slice must hold the lengths the kernel indexes (N·D data, K·D / K·D·D / K model,
    /// the launch's grid·E partials); the C side cannot check them.
    #[doc(hidden)]
    unsafe fn kl(mu: &[Self], log_var: &[Self], n: usize, d: usize, out: &mut [Self]);
    /// Launches `reparam_diag_philox_T`.
    ///
    /// # Safety
    /// Every slice must hold the lengths the kernel indexes (N·D data, K·D / K·D·D / K model,
    /// the launch's grid·E partials); the C side cannot check them.
    #[doc(hidden)]
    unsafe fn reparam(mu: &[Self], log_var: &[Self], seed: u64, eps: &mut [Self], z: &mut [Self]);
    /// Launches `gmm_mstep_{full,diag}_T` (K blocks) then `gmm_mstep_weights_T` into `next`.
    ///
    /// # Safety
    /// `reduced` must hold K·(1 + D + P) sums, `shift` K·D values and `next` a model of shape
    /// (K, D); `w_raw`, `log_det_u`, `status` K values each.
    #[allow(clippy::too_many_arguments)]
    #[doc(hidden)]
    unsafe fn mstep(
        full: bool,
        reduced: &[f64],
        n: usize,
        dk: (usize, usize),
        reg_empty_below: (f64, f64),
        shift: &[Self],
        next: &mut HostModel<Self>,
        per_component: (&mut [f64], &mut [f64], &mut [i32]),
        flags: &mut [i64; 3],
    );
}

macro_rules! impl_shim_scalar {
    ($t:ty, $estep:ident, $density:ident, $kl:ident, $reparam:ident, $mstep:ident, $weights:ident, $fixed:ident) => {
        impl ShimScalar for $t {
            unsafe fn mstep(
                full: bool,
                reduced: &[f64],
                n: usize,
                (d, k): (usize, usize),
                (reg, empty_below): (f64, f64),
                shift: &[Self],
                next: &mut HostModel<Self>,
                (w_raw, log_det_u, status): (&mut [f64], &mut [f64], &mut [i32]),
                flags: &mut [i64; 3],
            ) {
                // SAFETY: the caller guarantees the lengths documented on the trait.
                unsafe {
                    ffi::gmm::$mstep(
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
                    ffi::gmm::$weights(
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
            unsafe fn estep(
                full: bool,
                x: &[Self],
                n: usize,
                d: usize,
                k: usize,
                l: &EStepLaunch,
                model: [&[Self]; 3],
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
                        ffi::gmm::$fixed(
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
                    ffi::gmm::$estep(
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
            unsafe fn log_density(
                full: bool,
                x: &[Self],
                n: usize,
                d: usize,
                k: usize,
                model: [&[Self]; 3],
                out: &mut [Self],
            ) {
                // SAFETY: the caller guarantees x n·D, model K·D, K·D·D, K, out n values.
                unsafe {
                    ffi::gmm::$density(
                        full as _,
                        x.as_ptr(),
                        n as _,
                        d as _,
                        k as _,
                        model[0].as_ptr(),
                        model[1].as_ptr(),
                        model[2].as_ptr(),
                        out.as_mut_ptr(),
                    )
                }
            }
            unsafe fn kl(mu: &[Self], log_var: &[Self], n: usize, d: usize, out: &mut [Self]) {
                // SAFETY: the caller guarantees mu and log_var n·D values, out n.
                unsafe { ffi::gmm::$kl(mu.as_ptr(), log_var.as_ptr(), n as _, d as _, out.as_mut_ptr()) }
            }
            unsafe fn reparam(mu: &[Self], log_var: &[Self], seed: u64, eps: &mut [Self], z: &mut [Self]) {
                // SAFETY: the caller guarantees all four slices have mu.len() values.
                unsafe {
                    ffi::gmm::$reparam(
                        mu.as_ptr(),
                        log_var.as_ptr(),
                        mu.len() as _,
                        seed,
                        eps.as_mut_ptr(),
                        z.as_mut_ptr(),
                    )
                }
            }
        }
    };
}
impl_shim_scalar!(
    f32,
    crabmix_shim_gmm_estep_f32,
    crabmix_shim_gmm_log_density_f32,
    crabmix_shim_kl_diag_std_normal_f32,
    crabmix_shim_reparam_diag_philox_f32,
    crabmix_shim_gmm_mstep_f32,
    crabmix_shim_gmm_mstep_weights_f32,
    crabmix_shim_gmm_estep_fixed_f32
);
impl_shim_scalar!(
    f64,
    crabmix_shim_gmm_estep_f64,
    crabmix_shim_gmm_log_density_f64,
    crabmix_shim_kl_diag_std_normal_f64,
    crabmix_shim_reparam_diag_philox_f64,
    crabmix_shim_gmm_mstep_f64,
    crabmix_shim_gmm_mstep_weights_f64,
    crabmix_shim_gmm_estep_fixed_f64
);

/// The MLP kernels' shim entry points for one scalar type (`mlp.cu`'s `_f32`/`_f64` stamps and
/// `vae_latent_backward_*` of `gaussian.cu`), as raw C calls.
///
/// # Safety
/// Every method passes raw pointers to C: the caller guarantees the lengths documented on the
/// matching [`MlpKernels`] method.
#[doc(hidden)]
#[allow(clippy::too_many_arguments, clippy::missing_safety_doc)]
pub unsafe trait ShimMlpScalar: ShimScalar {
    unsafe fn fwd(
        x: *const Self,
        w: *const Self,
        b: *const Self,
        dims: [i32; 4],
        slope: Self,
        pre: *mut Self,
        y: *mut Self,
    );
    unsafe fn bin(g: *const Self, w: *const Self, dims: [i32; 4], dx: *mut Self);
    unsafe fn bpar(x: *const Self, g: *const Self, dims: [i32; 4], pw: *mut Self, pb: *mut Self);
    unsafe fn sum(p: *const Self, chunks: i32, len: i64, out: *mut Self);
    unsafe fn act(pre: *const Self, gy: *const Self, len: i64, act: i32, slope: Self, gpre: *mut Self);
    unsafe fn mse(
        p: *const Self,
        t: *const Self,
        batch: i64,
        n: i32,
        scale: Self,
        loss: *mut Self,
        g: *mut Self,
    );
    unsafe fn bce(
        p: *const Self,
        t: *const Self,
        batch: i64,
        n: i32,
        s: [Self; 2],
        loss: *mut Self,
        g: *mut Self,
    );
    unsafe fn adam(p: *mut Self, g: *const Self, m: *mut Self, v: *mut Self, len: i64, h: [Self; 6]);
    unsafe fn latent(ptrs: [*const Self; 4], len: i64, weight: Self, g_mu: *mut Self, g_lv: *mut Self);
}

macro_rules! impl_shim_mlp {
    ($t:ty, $fwd:ident, $bin:ident, $bpar:ident, $sum:ident, $act:ident, $mse:ident, $bce:ident,
     $adam:ident, $latent:ident) => {
        // SAFETY: each method forwards to the C entry point with the same contract.
        unsafe impl ShimMlpScalar for $t {
            unsafe fn fwd(
                x: *const Self,
                w: *const Self,
                b: *const Self,
                d: [i32; 4],
                slope: Self,
                pre: *mut Self,
                y: *mut Self,
            ) {
                // SAFETY: the caller guarantees the lengths (MlpKernels::dense_forward).
                unsafe { ffi::mlp::$fwd(x, w, b, d[0], d[1], d[2], d[3], slope, pre, y) }
            }
            unsafe fn bin(g: *const Self, w: *const Self, d: [i32; 4], dx: *mut Self) {
                // SAFETY: the caller guarantees the lengths (MlpKernels::dense_backward_input).
                unsafe { ffi::mlp::$bin(g, w, d[0], d[1], d[2], d[3], dx) }
            }
            unsafe fn bpar(x: *const Self, g: *const Self, d: [i32; 4], pw: *mut Self, pb: *mut Self) {
                // SAFETY: the caller guarantees the lengths (MlpKernels::dense_backward_params).
                unsafe { ffi::mlp::$bpar(x, g, d[0], d[1], d[2], d[3], pw, pb) }
            }
            unsafe fn sum(p: *const Self, chunks: i32, len: i64, out: *mut Self) {
                // SAFETY: the caller guarantees the lengths (MlpKernels::sum_chunks).
                unsafe { ffi::mlp::$sum(p, chunks, len, out) }
            }
            unsafe fn act(
                pre: *const Self,
                gy: *const Self,
                len: i64,
                act: i32,
                slope: Self,
                gpre: *mut Self,
            ) {
                // SAFETY: the caller guarantees the lengths (MlpKernels::act_backward).
                unsafe { ffi::mlp::$act(pre, gy, len, act, slope, gpre) }
            }
            unsafe fn mse(
                p: *const Self,
                t: *const Self,
                batch: i64,
                n: i32,
                scale: Self,
                loss: *mut Self,
                g: *mut Self,
            ) {
                // SAFETY: the caller guarantees the lengths (MlpKernels::mse_rows).
                unsafe { ffi::mlp::$mse(p, t, batch, n, scale, loss, g) }
            }
            unsafe fn bce(
                p: *const Self,
                t: *const Self,
                batch: i64,
                n: i32,
                s: [Self; 2],
                loss: *mut Self,
                g: *mut Self,
            ) {
                // SAFETY: the caller guarantees the lengths (MlpKernels::bce_logits_rows).
                unsafe { ffi::mlp::$bce(p, t, batch, n, s[0], s[1], loss, g) }
            }
            unsafe fn adam(p: *mut Self, g: *const Self, m: *mut Self, v: *mut Self, len: i64, h: [Self; 6]) {
                // SAFETY: the caller guarantees the lengths (MlpKernels::adam_step).
                unsafe { ffi::mlp::$adam(p, g, m, v, len, h[0], h[1], h[2], h[3], h[4], h[5]) }
            }
            unsafe fn latent(q: [*const Self; 4], len: i64, weight: Self, g_mu: *mut Self, g_lv: *mut Self) {
                // SAFETY: the caller guarantees the lengths (MlpKernels::vae_latent_backward).
                unsafe { ffi::mlp::$latent(q[0], q[1], q[2], q[3], len, weight, g_mu, g_lv) }
            }
        }
    };
}
impl_shim_mlp!(
    f32,
    crabmix_shim_dense_forward_f32,
    crabmix_shim_dense_backward_input_f32,
    crabmix_shim_dense_backward_params_f32,
    crabmix_shim_mlp_sum_chunks_f32,
    crabmix_shim_act_backward_f32,
    crabmix_shim_mse_rows_f32,
    crabmix_shim_bce_logits_rows_f32,
    crabmix_shim_adam_step_f32,
    crabmix_shim_vae_latent_backward_f32
);
impl_shim_mlp!(
    f64,
    crabmix_shim_dense_forward_f64,
    crabmix_shim_dense_backward_input_f64,
    crabmix_shim_dense_backward_params_f64,
    crabmix_shim_mlp_sum_chunks_f64,
    crabmix_shim_act_backward_f64,
    crabmix_shim_mse_rows_f64,
    crabmix_shim_bce_logits_rows_f64,
    crabmix_shim_adam_step_f64,
    crabmix_shim_vae_latent_backward_f64
);
