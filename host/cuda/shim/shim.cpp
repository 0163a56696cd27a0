// The CUDA kernels of host/cuda compiled for the host CPU through cuda_host_shim.h, with C entry
// points that launch them the way host/src/device/cuda/ does on a GPU (same grid, block, tile and
// shared-memory sizes, chosen by the caller: host/src/device/layout.rs). Used only by tests
// (feature `cuda-shim`); see host/src/device/shim/ for the Rust side.
#include "../gaussian.cu"
#include "../gmm_density.cu"
#include "../gmm_estep.cu"
#include "../gmm_mstep.cu"
#include "../gmm_estep_fixed.cu"
#include "../mlp.cu"

namespace {
unsigned blocks_for(long long n) { return (unsigned)((n + CRABMIX_BLOCK - 1) / CRABMIX_BLOCK); }
}  // namespace

#define SHIM_GMM(SUFFIX, T)                                                                        \
    extern "C" void crabmix_shim_gmm_estep_##SUFFIX(                                               \
        int full, const T* x, long long n, int d, int k, int tile_rows, unsigned grid,             \
        size_t smem_bytes, const T* means, const T* prec, const T* log_norm, double* partials,     \
        double* block_ll, double* block_worst, long long* block_worst_row) {                       \
        cuda_shim::launch_threads({grid}, {CRABMIX_BLOCK}, smem_bytes,                             \
                                  full ? gmm_estep_full_##SUFFIX : gmm_estep_diag_##SUFFIX, x, n,  \
                                  d, k, tile_rows, means, prec, log_norm, partials, block_ll,      \
                                  block_worst, block_worst_row);                                   \
    }                                                                                              \
    extern "C" void crabmix_shim_gmm_log_density_##SUFFIX(int full, const T* x, long long n,      \
                                                          int d, int k, const T* means,           \
                                                          const T* prec, const T* log_norm,       \
                                                          T* out) {                                \
        cuda_shim::launch_seq({blocks_for(n)}, {CRABMIX_BLOCK},                                    \
                              full ? gmm_log_density_full_##SUFFIX : gmm_log_density_diag_##SUFFIX, \
                              x, n, d, k, means, prec, log_norm, out);                             \
    }                                                                                              \
    extern "C" void crabmix_shim_kl_diag_std_normal_##SUFFIX(const T* mu, const T* log_var,       \
                                                             long long n, int d, T* out) {         \
        cuda_shim::launch_seq({blocks_for(n)}, {CRABMIX_BLOCK}, kl_diag_std_normal_##SUFFIX, mu,   \
                              log_var, n, d, out);                                                 \
    }                                                                                              \
    extern "C" void crabmix_shim_reparam_diag_philox_##SUFFIX(                                     \
        const T* mu, const T* log_var, long long len, unsigned long long seed, T* eps, T* z) {    \
        cuda_shim::launch_seq({blocks_for(len)}, {CRABMIX_BLOCK}, reparam_diag_philox_##SUFFIX,    \
                              mu, log_var, len, seed, eps, z);                                     \
    }
SHIM_GMM(f32, float)
SHIM_GMM(f64, double)

// The run-time-specialized E-step kernels at the shapes the tests use (on a GPU the host
// instantiates whatever shape it fits). X(FULL, KIND, D, K) for the registers kernel (E ≤ 64);
// Y(D, RPT, B) for the tiled one, per scalar type (the layout's default RPT differs by type).
#define SHIM_REGS_SHAPES(X)                                                                        \
    X(true, full, 1, 2) X(true, full, 2, 2) X(true, full, 2, 3) X(true, full, 2, 4)                \
    X(true, full, 3, 3) X(true, full, 3, 4) X(true, full, 4, 3) X(false, diag, 2, 2)               \
    X(false, diag, 2, 4) X(false, diag, 3, 3) X(false, diag, 5, 4)
#define SHIM_TILED_SHAPES_f32(Y) Y(7, 4, 2) Y(16, 4, 2) Y(16, 2, 3)
#define SHIM_TILED_SHAPES_f64(Y) Y(7, 4, 2) Y(16, 2, 2)

// The registers kernel at 1, 2 and 4 rows per step; the register bound (B) means nothing on
// the CPU, so one instance (B = 1) serves every bound.
#define SHIM_REGS_INSTANCE_F32(FULL, KIND, D, K)                                                   \
    GMM_ESTEP_REGS_ENTRY(float, f32, FULL, KIND, D, K, 1, 1)                                       \
    GMM_ESTEP_REGS_ENTRY(float, f32, FULL, KIND, D, K, 2, 1)                                       \
    GMM_ESTEP_REGS_ENTRY(float, f32, FULL, KIND, D, K, 4, 1)
#define SHIM_REGS_INSTANCE_F64(FULL, KIND, D, K)                                                   \
    GMM_ESTEP_REGS_ENTRY(double, f64, FULL, KIND, D, K, 1, 1)                                      \
    GMM_ESTEP_REGS_ENTRY(double, f64, FULL, KIND, D, K, 2, 1)                                      \
    GMM_ESTEP_REGS_ENTRY(double, f64, FULL, KIND, D, K, 4, 1)
#define SHIM_TILED_INSTANCE_F32(D, R, B) GMM_ESTEP_TILED_ENTRY(float, f32, D, R, B)
#define SHIM_TILED_INSTANCE_F64(D, R, B) GMM_ESTEP_TILED_ENTRY(double, f64, D, R, B)
SHIM_REGS_SHAPES(SHIM_REGS_INSTANCE_F32)
SHIM_REGS_SHAPES(SHIM_REGS_INSTANCE_F64)
SHIM_TILED_SHAPES_f32(SHIM_TILED_INSTANCE_F32)
SHIM_TILED_SHAPES_f64(SHIM_TILED_INSTANCE_F64)

// kernel: 1 registers, 2 tiled (device::layout::EStepKernel). Returns 0 when launched, 1 when the
// shim has no instance of that shape (the Rust side then uses the generic kernel).
#define SHIM_FIXED(SUFFIX, T)                                                                      \
    extern "C" int crabmix_shim_gmm_estep_fixed_##SUFFIX(                                          \
        int kernel, int full, const T* x, long long n, int d, int k, int tile_rows, int rpt,       \
        int min_blocks, unsigned grid, size_t smem_bytes, const T* means, const T* prec,           \
        const T* log_norm, double* partials, double* block_ll, double* block_worst,                \
        long long* block_worst_row) {                                                              \
        SHIM_REGS_SHAPES(SHIM_REGS_CASE_##SUFFIX)                                                  \
        SHIM_TILED_SHAPES_##SUFFIX(SHIM_TILED_CASE_##SUFFIX)                                       \
        return 1;                                                                                  \
    }
#define SHIM_REGS_CASE(TN, FULL, KIND, D, K)                                                       \
    SHIM_REGS_CASE_R(TN, FULL, KIND, D, K, 1)                                                      \
    SHIM_REGS_CASE_R(TN, FULL, KIND, D, K, 2)                                                      \
    SHIM_REGS_CASE_R(TN, FULL, KIND, D, K, 4)
#define SHIM_REGS_CASE_R(TN, FULL, KIND, D, K, R)                                                  \
    if (kernel == 1 && (full != 0) == FULL && d == D && k == K && rpt == R) {                      \
        cuda_shim::launch_threads({grid}, {CRABMIX_BLOCK}, 0,                                      \
                                  gmm_estep_regs_##KIND##_d##D##_k##K##_r##R##_b1_##TN, x, n,      \
                                  means, prec, log_norm, partials, block_ll, block_worst,          \
                                  block_worst_row);                                                \
        return 0;                                                                                  \
    }
#define SHIM_TILED_CASE(TN, D, R, B)                                                               \
    if (kernel == 2 && full && d == D && rpt == R && min_blocks == B) {                            \
        cuda_shim::launch_threads({grid}, {CRABMIX_BLOCK}, smem_bytes,                             \
                                  gmm_estep_tiled_full_d##D##_r##R##_b##B##_##TN, x, n, k,         \
                                  tile_rows, means, prec, log_norm, partials, block_ll,            \
                                  block_worst, block_worst_row);                                   \
        return 0;                                                                                  \
    }
#define SHIM_REGS_CASE_f32(FULL, KIND, D, K) SHIM_REGS_CASE(f32, FULL, KIND, D, K)
#define SHIM_REGS_CASE_f64(FULL, KIND, D, K) SHIM_REGS_CASE(f64, FULL, KIND, D, K)
#define SHIM_TILED_CASE_f32(D, R, B) SHIM_TILED_CASE(f32, D, R, B)
#define SHIM_TILED_CASE_f64(D, R, B) SHIM_TILED_CASE(f64, D, R, B)
SHIM_FIXED(f32, float)
SHIM_FIXED(f64, double)

// The M-step: one block per component with barriers; the weights: a single-thread kernel
// (threads other than 0 return at once on the GPU).
#define SHIM_MSTEP(SUFFIX, T)                                                                      \
    extern "C" void crabmix_shim_gmm_mstep_##SUFFIX(                                               \
        int full, const double* reduced, long long n, int d, int k, double reg, double empty_below, \
        const T* shift, T* means, T* covs, T* prec, double* w_raw, double* log_det_u, int* status) { \
        cuda_shim::launch_threads({(unsigned)k}, {CRABMIX_BLOCK}, 0,                               \
                                  full ? gmm_mstep_full_##SUFFIX : gmm_mstep_diag_##SUFFIX, reduced, \
                                  n, d, reg, empty_below, shift, means, covs, prec, w_raw,         \
                                  log_det_u, status);                                              \
    }                                                                                              \
    extern "C" void crabmix_shim_gmm_mstep_weights_##SUFFIX(const double* w_raw,                   \
                                                            const double* log_det_u,               \
                                                            const int* status, int k, int d,       \
                                                            T* weights, T* log_norm,               \
                                                            long long* flags) {                    \
        cuda_shim::launch_seq({1}, {1}, gmm_mstep_weights_##SUFFIX, w_raw, log_det_u, status, k, d, \
                              weights, log_norm, flags);                                           \
    }
SHIM_MSTEP(f32, float)
SHIM_MSTEP(f64, double)

// The pass summary: one block with a tree.
extern "C" void crabmix_shim_gmm_pass_summary(const double* block_ll, const double* block_worst,
                                              const long long* block_worst_row, int blocks,
                                              double* summary, long long* flags) {
    cuda_shim::launch_threads({1}, {CRABMIX_BLOCK}, 0, gmm_pass_summary, block_ll, block_worst,
                              block_worst_row, blocks, summary, flags);
}

extern "C" void crabmix_shim_gmm_reduce_partials(const double* partials, int blocks, int e_total,
                                                 double* out) {
    const unsigned grid = (unsigned)((e_total + GMM_REDUCE_ENTRIES - 1) / GMM_REDUCE_ENTRIES);
    cuda_shim::launch_threads({grid}, {CRABMIX_BLOCK}, 0, gmm_reduce_partials, partials, blocks, e_total, out);
}

extern "C" void crabmix_shim_philox4x32_10_words(long long n, unsigned long long seed, unsigned* out) {
    cuda_shim::launch_seq({blocks_for(n)}, {CRABMIX_BLOCK}, philox4x32_10_words, n, seed, out);
}

// Dense kernels: blocks of MLP_TILE × MLP_TILE threads with barriers (launch_threads); the
// element-wise kernels run sequentially (launch_seq). Grids as host/src/device/cuda/ launches them.
namespace {
unsigned tiles_for(int n) { return (unsigned)((n + MLP_TILE - 1) / MLP_TILE); }
}  // namespace

#define SHIM_MLP(SUFFIX, T)                                                                        \
    extern "C" void crabmix_shim_dense_forward_##SUFFIX(const T* x, const T* w, const T* b,        \
                                                        int batch, int in, int out, int act,      \
                                                        T slope, T* pre, T* y) {                   \
        cuda_shim::launch_threads({tiles_for(out), tiles_for(batch)}, {MLP_TILE, MLP_TILE}, 0,     \
                                  dense_forward_##SUFFIX, x, w, b, batch, in, out, act, slope,     \
                                  pre, y);                                                         \
    }                                                                                              \
    extern "C" void crabmix_shim_dense_backward_input_##SUFFIX(const T* g, const T* w, int batch,  \
                                                               int in, int out, int accumulate,    \
                                                               T* dx) {                            \
        cuda_shim::launch_threads({tiles_for(in), tiles_for(batch)}, {MLP_TILE, MLP_TILE}, 0,      \
                                  dense_backward_input_##SUFFIX, g, w, batch, in, out, accumulate, \
                                  dx);                                                             \
    }                                                                                              \
    extern "C" void crabmix_shim_dense_backward_params_##SUFFIX(                                   \
        const T* x, const T* g, int batch, int in, int out, int chunk_rows, T* partial_w,         \
        T* partial_b) {                                                                            \
        const unsigned chunks = (unsigned)((batch + chunk_rows - 1) / chunk_rows);                 \
        cuda_shim::launch_threads({tiles_for(in), tiles_for(out), chunks}, {MLP_TILE, MLP_TILE},   \
                                  0, dense_backward_params_##SUFFIX, x, g, batch, in, out,        \
                                  chunk_rows, partial_w, partial_b);                               \
    }                                                                                              \
    extern "C" void crabmix_shim_mlp_sum_chunks_##SUFFIX(const T* partials, int chunks,           \
                                                         long long len, T* out) {                  \
        cuda_shim::launch_seq({blocks_for(len)}, {CRABMIX_BLOCK}, mlp_sum_chunks_##SUFFIX,         \
                              partials, chunks, len, out);                                         \
    }                                                                                              \
    extern "C" void crabmix_shim_act_backward_##SUFFIX(const T* pre, const T* gy, long long len,  \
                                                       int act, T slope, T* gpre) {                \
        cuda_shim::launch_seq({blocks_for(len)}, {CRABMIX_BLOCK}, act_backward_##SUFFIX, pre, gy,  \
                              len, act, slope, gpre);                                              \
    }                                                                                              \
    extern "C" void crabmix_shim_mse_rows_##SUFFIX(const T* pred, const T* target,                \
                                                   long long batch, int n, T scale, T* loss,       \
                                                   T* grad) {                                      \
        cuda_shim::launch_seq({blocks_for(batch)}, {CRABMIX_BLOCK}, mse_rows_##SUFFIX, pred,       \
                              target, batch, n, scale, loss, grad);                                \
    }                                                                                              \
    extern "C" void crabmix_shim_bce_logits_rows_##SUFFIX(const T* logits, const T* target,       \
                                                          long long batch, int n, T norm, T scale, \
                                                          T* loss, T* grad) {                      \
        cuda_shim::launch_seq({blocks_for(batch)}, {CRABMIX_BLOCK}, bce_logits_rows_##SUFFIX,      \
                              logits, target, batch, n, norm, scale, loss, grad);                  \
    }                                                                                              \
    extern "C" void crabmix_shim_gaussian_nll_rows_##SUFFIX(                                      \
        const T* mean, const T* target, const T* log_var, long long batch, int n, int learned,    \
        T scale, T* loss, T* grad, T* grad_lv_rows) {                                              \
        cuda_shim::launch_seq({blocks_for(batch)}, {CRABMIX_BLOCK}, gaussian_nll_rows_##SUFFIX,    \
                              mean, target, log_var, batch, n, learned, scale, loss, grad,         \
                              grad_lv_rows);                                                       \
    }                                                                                              \
    extern "C" void crabmix_shim_adam_step_##SUFFIX(T* p, const T* grad, T* m, T* v,              \
                                                    long long len, T b1, T b2, T eps, T wd,        \
                                                    T step_size, T sqrt_bc2) {                     \
        cuda_shim::launch_seq({blocks_for(len)}, {CRABMIX_BLOCK}, adam_step_##SUFFIX, p, grad, m,  \
                              v, len, b1, b2, eps, wd, step_size, sqrt_bc2);                       \
    }                                                                                              \
    extern "C" void crabmix_shim_rmsprop_step_##SUFFIX(T* p, const T* grad, T* s, long long len,  \
                                                       T lr, T alpha, T eps, T wd) {               \
        cuda_shim::launch_seq({blocks_for(len)}, {CRABMIX_BLOCK}, rmsprop_step_##SUFFIX, p, grad,  \
                              s, len, lr, alpha, eps, wd);                                         \
    }                                                                                              \
    extern "C" void crabmix_shim_clip_params_##SUFFIX(T* p, long long len, T c) {                 \
        cuda_shim::launch_seq({blocks_for(len)}, {CRABMIX_BLOCK}, clip_params_##SUFFIX, p, len,    \
                              c);                                                                  \
    }                                                                                              \
    extern "C" void crabmix_shim_add_into_##SUFFIX(T* acc, const T* a, long long len) {           \
        cuda_shim::launch_seq({blocks_for(len)}, {CRABMIX_BLOCK}, add_into_##SUFFIX, acc, a, len); \
    }                                                                                              \
    extern "C" void crabmix_shim_wgan_mix_##SUFFIX(const T* real, const T* fake, const T* t,      \
                                                   long long rows, int n, T* pairs, T* xhat) {     \
        cuda_shim::launch_seq({blocks_for(rows * n)}, {CRABMIX_BLOCK}, wgan_mix_##SUFFIX, real,    \
                              fake, t, rows, n, pairs, xhat);                                      \
    }                                                                                              \
    extern "C" void crabmix_shim_wgan_penalty_##SUFFIX(T* g, long long rows, int n, T lambda,     \
                                                       T weight, T* stats) {                       \
        cuda_shim::launch_seq({blocks_for(rows)}, {CRABMIX_BLOCK}, wgan_penalty_##SUFFIX, g, rows, \
                              n, lambda, weight, stats);                                           \
    }                                                                                              \
    extern "C" void crabmix_shim_vae_latent_backward_##SUFFIX(const T* mu, const T* log_var,      \
                                                              const T* eps, const T* g_z,          \
                                                              long long len, T weight, T* g_mu,    \
                                                              T* g_lv) {                           \
        cuda_shim::launch_seq({blocks_for(len)}, {CRABMIX_BLOCK}, vae_latent_backward_##SUFFIX,    \
                              mu, log_var, eps, g_z, len, weight, g_mu, g_lv);                     \
    }
SHIM_MLP(f32, float)
SHIM_MLP(f64, double)
