//! The per-type dispatch of the shim's entry points: [`ShimScalar`] (the GMM family) and
//! [`ShimMlpScalar`] (the MLP family), one `unsafe fn` per table entry with the entry point's C
//! arguments, implemented for f32 and f64 by the `extern "C"` declarations of `shim::ffi`.

use super::ffi::{self, c_type, gmm_entry_table};
use crate::device::launch::mlp_entry_points;
use crate::device::scalar::GpuScalar;

/// A dispatch trait over `$super` with one method per entry, and its f32 and f64 impls forwarding
/// to the declarations in `ffi::$m32` and `ffi::$m64`.
macro_rules! shim_dispatch {
    (@impl $name:ident $t:ty, $m:ident; $($kernel:ident [$($k:tt $a:ident),*] -> $ret:ty)*) => {
        // SAFETY: each method forwards to the C entry point of the same signature and contract.
        #[allow(clippy::too_many_arguments)]
        unsafe impl $name for $t {
            $(unsafe fn $kernel($($a: c_type!(Self, $k)),*) -> $ret {
                // SAFETY: the caller guarantees the lengths (the trait's contract).
                unsafe { ffi::$m::$kernel($($a),*) }
            })*
        }
    };
    ($doc:literal $name:ident $super:ident $m32:ident $m64:ident ;
     $($kernel:ident [$($k:tt $a:ident),* $(,)?] -> $ret:ty;)*) => {
        #[doc = $doc]
        ///
        /// # Safety
        /// Every method passes raw pointers to C: the caller guarantees the lengths the entry point
        /// indexes (documented where the crate calls it).
        #[doc(hidden)]
        #[allow(clippy::too_many_arguments, clippy::missing_safety_doc)]
        pub unsafe trait $name: $super {
            $(unsafe fn $kernel($($a: c_type!(Self, $k)),*) -> $ret;)*
        }
        shim_dispatch!(@impl $name f32, $m32; $($kernel [$($k $a),*] -> $ret)*);
        shim_dispatch!(@impl $name f64, $m64; $($kernel [$($k $a),*] -> $ret)*);
    };
}

gmm_entry_table!(
    shim_dispatch,
    "The GMM family's shim entry points for one scalar type (`SHIM_GMM`, `SHIM_FIXED`, `SHIM_MSTEP` of `host/cuda/shim/shim.cpp`).",
    ShimScalar,
    GpuScalar,
    gmm_f32,
    gmm_f64
);
mlp_entry_points!(
    shim_dispatch,
    "The MLP family's shim entry points for one scalar type (`mlp.cu`'s and `gaussian.cu`'s stamps), with the launch table's arguments.",
    ShimMlpScalar,
    ShimScalar,
    mlp_f32,
    mlp_f64
);
