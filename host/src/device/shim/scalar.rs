//! The per-type dispatch of the shim's entry points ([`ShimScalar`], [`ShimMlpScalar`]) and the
//! host buffers of a model ([`HostModel`]).

use super::ffi::{self, c_type};
use crate::device::launch::mlp_kernel_table;
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
    ($t:ty, $estep:ident, $density:ident, $mstep:ident, $weights:ident, $fixed:ident) => {
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
        }
    };
}
impl_shim_scalar!(
    f32,
    crabmix_shim_gmm_estep_f32,
    crabmix_shim_gmm_log_density_f32,
    crabmix_shim_gmm_mstep_f32,
    crabmix_shim_gmm_mstep_weights_f32,
    crabmix_shim_gmm_estep_fixed_f32
);
impl_shim_scalar!(
    f64,
    crabmix_shim_gmm_estep_f64,
    crabmix_shim_gmm_log_density_f64,
    crabmix_shim_gmm_mstep_f64,
    crabmix_shim_gmm_mstep_weights_f64,
    crabmix_shim_gmm_estep_fixed_f64
);

/// The dispatch trait of the MLP family's entry points: one `unsafe fn <kernel>` per table entry
/// with the kernel's C arguments, implemented for f32 and f64 by the matching `extern "C"`
/// declarations.
macro_rules! shim_mlp_scalar {
    (; $(
        $(#[$doc:meta])*
        fn $method:ident($($p:ident: $pt:ty),* $(,)?) { $($prologue:tt)* }
        => $module:ident $kernel:ident ($grid:expr) [$($k:tt $a:ident),*];
    )*) => {
        /// The MLP family's shim entry points for one scalar type (`mlp.cu`'s and `gaussian.cu`'s
        /// `_f32`/`_f64` stamps), as raw C calls with the arguments of
        /// [`crate::device::launch`]'s table.
        ///
        /// # Safety
        /// Every method passes raw pointers to C: the caller guarantees the lengths documented on
        /// the matching [`MlpKernels`](crate::device::traits::MlpKernels) method.
        #[doc(hidden)]
        #[allow(clippy::too_many_arguments, clippy::missing_safety_doc)]
        pub unsafe trait ShimMlpScalar: ShimScalar {
            $(unsafe fn $kernel($($a: c_type!(Self, $k)),*);)*
        }
        shim_mlp_scalar_for!(f32, mlp_f32, $($kernel [$($k $a),*])*);
        shim_mlp_scalar_for!(f64, mlp_f64, $($kernel [$($k $a),*])*);
    };
}

/// [`ShimMlpScalar`] for `$t`, forwarding to the declarations in `ffi::$m`.
macro_rules! shim_mlp_scalar_for {
    ($t:ty, $m:ident, $($kernel:ident [$($k:tt $a:ident),*])*) => {
        // SAFETY: each method forwards to the C entry point of the same signature and contract.
        #[allow(clippy::too_many_arguments)]
        unsafe impl ShimMlpScalar for $t {
            $(unsafe fn $kernel($($a: c_type!(Self, $k)),*) {
                // SAFETY: the caller guarantees the lengths (the MlpKernels method's contract).
                unsafe { ffi::$m::$kernel($($a),*) }
            })*
        }
    };
}

mlp_kernel_table!(shim_mlp_scalar);
