//! The shim's C entry points (`host/cuda/shim/shim.cpp`), per kernel family: the GMM family's
//! written out, the MLP family's generated from [`crate::device::launch`]'s table.

use crate::device::launch::mlp_kernel_table;

pub(super) mod gmm {
    use core::ffi::{c_int, c_longlong, c_uint, c_ulonglong};
    macro_rules! shim_fns {
        ($t:ty, $estep:ident, $density:ident) => {
            unsafe extern "C" {
                pub fn $estep(
                    full: c_int,
                    x: *const $t,
                    n: c_longlong,
                    d: c_int,
                    k: c_int,
                    tile_rows: c_int,
                    grid: c_uint,
                    smem_bytes: usize,
                    means: *const $t,
                    prec: *const $t,
                    log_norm: *const $t,
                    partials: *mut f64,
                    block_ll: *mut f64,
                    block_worst: *mut f64,
                    block_worst_row: *mut c_longlong,
                );
                pub fn $density(
                    full: c_int,
                    x: *const $t,
                    n: c_longlong,
                    d: c_int,
                    k: c_int,
                    means: *const $t,
                    prec: *const $t,
                    log_norm: *const $t,
                    out: *mut $t,
                );
            }
        };
    }
    shim_fns!(f32, crabmix_shim_gmm_estep_f32, crabmix_shim_gmm_log_density_f32);
    shim_fns!(f64, crabmix_shim_gmm_estep_f64, crabmix_shim_gmm_log_density_f64);
    macro_rules! shim_mstep_fns {
        ($t:ty, $mstep:ident, $weights:ident) => {
            unsafe extern "C" {
                pub fn $mstep(
                    full: c_int,
                    reduced: *const f64,
                    n: c_longlong,
                    d: c_int,
                    k: c_int,
                    reg: f64,
                    empty_below: f64,
                    shift: *const $t,
                    means: *mut $t,
                    covs: *mut $t,
                    prec: *mut $t,
                    w_raw: *mut f64,
                    log_det_u: *mut f64,
                    status: *mut c_int,
                );
                pub fn $weights(
                    w_raw: *const f64,
                    log_det_u: *const f64,
                    status: *const c_int,
                    k: c_int,
                    d: c_int,
                    weights: *mut $t,
                    log_norm: *mut $t,
                    flags: *mut c_longlong,
                );
            }
        };
    }
    macro_rules! shim_fixed_fns {
        ($t:ty, $fixed:ident) => {
            unsafe extern "C" {
                pub fn $fixed(
                    kernel: c_int,
                    full: c_int,
                    x: *const $t,
                    n: c_longlong,
                    d: c_int,
                    k: c_int,
                    tile_rows: c_int,
                    rows_per_thread: c_int,
                    min_blocks: c_int,
                    grid: c_uint,
                    smem_bytes: usize,
                    means: *const $t,
                    prec: *const $t,
                    log_norm: *const $t,
                    partials: *mut f64,
                    block_ll: *mut f64,
                    block_worst: *mut f64,
                    block_worst_row: *mut c_longlong,
                ) -> c_int;
            }
        };
    }
    shim_fixed_fns!(f32, crabmix_shim_gmm_estep_fixed_f32);
    shim_fixed_fns!(f64, crabmix_shim_gmm_estep_fixed_f64);
    shim_mstep_fns!(f32, crabmix_shim_gmm_mstep_f32, crabmix_shim_gmm_mstep_weights_f32);
    shim_mstep_fns!(f64, crabmix_shim_gmm_mstep_f64, crabmix_shim_gmm_mstep_weights_f64);
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

/// A table argument's C type for scalar type `$t`: `in` → `const T*`, `out` → `T*`, `T` → T, and
/// the integer types.
macro_rules! c_type {
    ($t:ty, in) => { *const $t };
    ($t:ty, out) => { *mut $t };
    ($t:ty, T) => { $t };
    ($t:ty, i32) => { core::ffi::c_int };
    ($t:ty, i64) => { core::ffi::c_longlong };
    ($t:ty, u64) => { core::ffi::c_ulonglong };
}
pub(super) use c_type;

/// The `extern "C"` declarations of one scalar type's MLP-family entry points,
/// `crabmix_shim_<kernel>_<suffix>`, in a module named after the type.
macro_rules! shim_externs_for {
    ($m:ident $t:ty, $suffix:literal, $($kernel:ident [$($k:tt $a:ident),*])*) => {
        pub(super) mod $m {
            unsafe extern "C" {
                $(
                    #[link_name = concat!("crabmix_shim_", stringify!($kernel), "_", $suffix)]
                    pub(in crate::device::shim) fn $kernel($($a: c_type!($t, $k)),*);
                )*
            }
        }
    };
}

/// The MLP family's entry points for f32 and f64, from [`mlp_kernel_table!`].
macro_rules! shim_externs {
    (; $(
        $(#[$doc:meta])*
        fn $method:ident($($p:ident: $pt:ty),* $(,)?) { $($prologue:tt)* }
        => $module:ident $kernel:ident ($grid:expr) [$($k:tt $a:ident),*];
    )*) => {
        shim_externs_for!(mlp_f32 f32, "f32", $($kernel [$($k $a),*])*);
        shim_externs_for!(mlp_f64 f64, "f64", $($kernel [$($k $a),*])*);
    };
}

mlp_kernel_table!(shim_externs);
