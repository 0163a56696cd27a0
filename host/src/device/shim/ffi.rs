//! The shim's C entry points (`host/cuda/shim/shim.cpp`), per kernel family.

pub(super) mod gmm {
    use core::ffi::{c_int, c_longlong, c_uint, c_ulonglong};
    macro_rules! shim_fns {
        ($t:ty, $estep:ident, $density:ident, $kl:ident, $reparam:ident) => {
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
                pub fn $kl(mu: *const $t, log_var: *const $t, n: c_longlong, d: c_int, out: *mut $t);
                pub fn $reparam(
                    mu: *const $t,
                    log_var: *const $t,
                    len: c_longlong,
                    seed: c_ulonglong,
                    eps: *mut $t,
                    z: *mut $t,
                );
            }
        };
    }
    shim_fns!(
        f32,
        crabmix_shim_gmm_estep_f32,
        crabmix_shim_gmm_log_density_f32,
        crabmix_shim_kl_diag_std_normal_f32,
        crabmix_shim_reparam_diag_philox_f32
    );
    shim_fns!(
        f64,
        crabmix_shim_gmm_estep_f64,
        crabmix_shim_gmm_log_density_f64,
        crabmix_shim_kl_diag_std_normal_f64,
        crabmix_shim_reparam_diag_philox_f64
    );
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

pub(super) mod mlp {
    use core::ffi::{c_int, c_longlong};
    macro_rules! mlp_fns {
        ($t:ty, $fwd:ident, $bin:ident, $bpar:ident, $sum:ident, $act:ident, $mse:ident, $bce:ident,
         $adam:ident, $latent:ident) => {
            unsafe extern "C" {
                pub fn $fwd(
                    x: *const $t,
                    w: *const $t,
                    b: *const $t,
                    batch: c_int,
                    inp: c_int,
                    out: c_int,
                    act: c_int,
                    slope: $t,
                    pre: *mut $t,
                    y: *mut $t,
                );
                pub fn $bin(
                    g: *const $t,
                    w: *const $t,
                    batch: c_int,
                    inp: c_int,
                    out: c_int,
                    accumulate: c_int,
                    dx: *mut $t,
                );
                pub fn $bpar(
                    x: *const $t,
                    g: *const $t,
                    batch: c_int,
                    inp: c_int,
                    out: c_int,
                    chunk_rows: c_int,
                    partial_w: *mut $t,
                    partial_b: *mut $t,
                );
                pub fn $sum(partials: *const $t, chunks: c_int, len: c_longlong, out: *mut $t);
                pub fn $act(
                    pre: *const $t,
                    gy: *const $t,
                    len: c_longlong,
                    act: c_int,
                    slope: $t,
                    gpre: *mut $t,
                );
                pub fn $mse(
                    pred: *const $t,
                    target: *const $t,
                    batch: c_longlong,
                    n: c_int,
                    scale: $t,
                    loss: *mut $t,
                    grad: *mut $t,
                );
                pub fn $bce(
                    logits: *const $t,
                    target: *const $t,
                    batch: c_longlong,
                    n: c_int,
                    norm: $t,
                    scale: $t,
                    loss: *mut $t,
                    grad: *mut $t,
                );
                pub fn $adam(
                    p: *mut $t,
                    grad: *const $t,
                    m: *mut $t,
                    v: *mut $t,
                    len: c_longlong,
                    b1: $t,
                    b2: $t,
                    eps: $t,
                    wd: $t,
                    step_size: $t,
                    sqrt_bc2: $t,
                );
                pub fn $latent(
                    mu: *const $t,
                    log_var: *const $t,
                    eps: *const $t,
                    g_z: *const $t,
                    len: c_longlong,
                    weight: $t,
                    g_mu: *mut $t,
                    g_lv: *mut $t,
                );
            }
        };
    }
    mlp_fns!(
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
    mlp_fns!(
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
}
