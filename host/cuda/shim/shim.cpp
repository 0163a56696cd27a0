// The CUDA kernels of host/cuda compiled for the host CPU through cuda_host_shim.h, with C entry
// points that launch them the way host/src/cuda.rs does on a GPU (same grid, block, tile and
// shared-memory sizes, chosen by the caller: host/src/gpu_layout.rs). Used only by tests
// (feature `cuda-shim`); see host/src/cuda_shim.rs for the Rust side.
#include "../gaussian.cu"
#include "../gmm_density.cu"
#include "../gmm_estep.cu"

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

extern "C" void crabmix_shim_gmm_reduce_partials(const double* partials, int blocks, int e_total,
                                                 double* out) {
    cuda_shim::launch_seq({blocks_for(e_total)}, {CRABMIX_BLOCK}, gmm_reduce_partials, partials,
                          blocks, e_total, out);
}

extern "C" void crabmix_shim_philox4x32_10_words(long long n, unsigned long long seed, unsigned* out) {
    cuda_shim::launch_seq({blocks_for(n)}, {CRABMIX_BLOCK}, philox4x32_10_words, n, seed, out);
}
