// Per-sample log density of a Gaussian mixture: out[r] = ln p(x_r) = logsumexp_k(ln α_k N_k(x_r))
// (scikit-learn's score_samples), one thread per sample, no barriers.
#include "gmm.cuh"

// Streaming log-sum-exp over the components (one pass, no K-long array): keeps the running
// maximum m and s = Σ exp(l − m), rescaling s when m grows. Components at −∞ (zero weight, or an
// underflowed density) are skipped so that −∞ − (−∞) never produces NaN, and so are NaN ones:
// the samples are finite (the host validates them), so a NaN is a Mahalanobis sum whose partial
// products overflowed to +∞ and −∞, zero density, as the kernels crate rules.
template <class T, bool FULL>
__device__ void gmm_log_density_row(const T* __restrict__ x, i64 n, int d, int k,
                                    const T* __restrict__ means, const T* __restrict__ prec,
                                    const T* __restrict__ log_norm, T* __restrict__ out) {
    const i64 r = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n) return;
    const T* xr = x + r * d;
    T m = neg_inf<T>();
    T s = 0;
    for (int c = 0; c < k; ++c) {
        const T l = component_log_prob<T, FULL>(xr, means + c * d, prec + (i64)c * d * d, log_norm[c], d);
        if (!(l > neg_inf<T>())) continue;
        if (l > m) {
            s = s * c_exp(m - l) + T(1);
            m = l;
        } else {
            s += c_exp(l - m);
        }
    }
    out[r] = m + c_log(s);
}

#define GMM_DENSITY_ENTRY(NAME, T, FULL)                                                        \
    extern "C" __global__ void NAME(const T* x, i64 n, int d, int k, const T* means,           \
                                    const T* prec, const T* log_norm, T* out) {                 \
        gmm_log_density_row<T, FULL>(x, n, d, k, means, prec, log_norm, out);                  \
    }
GMM_DENSITY_ENTRY(gmm_log_density_full_f32, float, true)
GMM_DENSITY_ENTRY(gmm_log_density_diag_f32, float, false)
GMM_DENSITY_ENTRY(gmm_log_density_full_f64, double, true)
GMM_DENSITY_ENTRY(gmm_log_density_diag_f64, double, false)
