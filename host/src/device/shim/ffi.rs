//! The shim's C entry points (`host/cuda/shim/shim.cpp`), per kernel family, declared once for
//! f32 and f64 from a table: the GMM family's [`gmm_entry_table!`], the MLP family's
//! [`crate::device::launch`] table.

use crate::device::launch::mlp_entry_points;

/// The entry points that do not depend on the scalar type.
pub(super) mod gmm {
    use core::ffi::{c_int, c_longlong, c_uint, c_ulonglong};
    unsafe extern "C" {
        pub fn crabmix_shim_gmm_pass_summary(
            block_ll: *const f64,
            block_worst: *const f64,
            block_worst_row: *const c_longlong,
            blocks: c_int,
            summary: *mut f64,
            flags: *mut c_longlong,
        );
        pub fn crabmix_shim_gmm_reduce_partials(
            partials: *const f64,
            blocks: c_int,
            e_total: c_int,
            out: *mut f64,
        );
        pub fn crabmix_shim_philox4x32_10_words(n: c_longlong, seed: c_ulonglong, out: *mut c_uint);
    }
}

/// A table argument's C type for scalar type `$t`: `in` → `const T*`, `out` → `T*`, `T` → T, the
/// integer and `f64` scalars, and `f64_in`/`f64_out`, `i32_in`/`i32_out`, `i64_out` pointers.
macro_rules! c_type {
    ($t:ty, in) => { *const $t };
    ($t:ty, out) => { *mut $t };
    ($t:ty, T) => { $t };
    ($t:ty, i32) => { core::ffi::c_int };
    ($t:ty, i64) => { core::ffi::c_longlong };
    ($t:ty, u32) => { core::ffi::c_uint };
    ($t:ty, u64) => { core::ffi::c_ulonglong };
    ($t:ty, usize) => { usize };
    ($t:ty, f64) => { f64 };
    ($t:ty, f64_in) => { *const f64 };
    ($t:ty, f64_out) => { *mut f64 };
    ($t:ty, i32_in) => { *const core::ffi::c_int };
    ($t:ty, i32_out) => { *mut core::ffi::c_int };
    ($t:ty, i64_out) => { *mut core::ffi::c_longlong };
}
pub(super) use c_type;

/// The `extern "C"` declarations of one scalar type's MLP-family entry points,
/// `crabmix_shim_<kernel>_<suffix>`, in a module named after the type.
macro_rules! shim_externs_for {
    ($m:ident $t:ty, $suffix:literal, $($kernel:ident [$($k:tt $a:ident),*] -> $ret:ty)*) => {
        pub(super) mod $m {
            unsafe extern "C" {
                $(
                    #[link_name = concat!("crabmix_shim_", stringify!($kernel), "_", $suffix)]
                    pub(in crate::device::shim) fn $kernel($($a: c_type!($t, $k)),*) -> $ret;
                )*
            }
        }
    };
}

/// Calls `$callback! { $($extra)* ; <table> }` with the GMM family's typed shim entry points
/// (`SHIM_GMM`, `SHIM_FIXED`, `SHIM_MSTEP` in `host/cuda/shim/shim.cpp`): name, C-typed arguments
/// (see [`c_type!`]) and return type. Their C signatures are the shim's, not the kernels' (they
/// take the launch shape), so they have a table of their own.
macro_rules! gmm_entry_table {
    ($callback:ident $(, $extra:tt)*) => {
        $callback! { $($extra)* ;
            gmm_estep [
                i32 full, in x, i64 n, i32 d, i32 k, i32 tile_rows, u32 grid, usize smem_bytes,
                in means, in prec, in log_norm,
                f64_out partials, f64_out block_ll, f64_out block_worst, i64_out block_worst_row
            ] -> ();
            gmm_estep_fixed [
                i32 kernel, i32 full, in x, i64 n, i32 d, i32 k, i32 tile_rows, i32 rows_per_thread,
                i32 min_blocks, u32 grid, usize smem_bytes, in means, in prec, in log_norm,
                f64_out partials, f64_out block_ll, f64_out block_worst, i64_out block_worst_row
            ] -> i32;
            gmm_log_density [
                i32 full, in x, i64 n, i32 d, i32 k, in means, in prec, in log_norm, out out
            ] -> ();
            gmm_mstep [
                i32 full, f64_in reduced, i64 n, i32 d, i32 k, f64 reg, f64 empty_below, in shift,
                out means, out covs, out prec, f64_out w_raw, f64_out log_det_u, i32_out status
            ] -> ();
            gmm_mstep_weights [
                f64_in w_raw, f64_in log_det_u, i32_in status, i32 k, i32 d, out weights,
                out log_norm, i64_out flags
            ] -> ();
        }
    };
}
pub(super) use gmm_entry_table;

/// Both families' typed entry points for f32 and f64, in modules `$m32` and `$m64`.
macro_rules! shim_externs {
    ($m32:ident $m64:ident ; $($kernel:ident [$($k:tt $a:ident),* $(,)?] -> $ret:ty;)*) => {
        shim_externs_for!($m32 f32, "f32", $($kernel [$($k $a),*] -> $ret)*);
        shim_externs_for!($m64 f64, "f64", $($kernel [$($k $a),*] -> $ret)*);
    };
}

gmm_entry_table!(shim_externs, gmm_f32, gmm_f64);
mlp_entry_points!(shim_externs, mlp_f32, mlp_f64);
