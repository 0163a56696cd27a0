// The M-step on the device (finish), so that an EM loop keeps data, model and statistics
// resident: per iteration only a few summary words cross the bus (host/src/device/em_loop.rs).
//
// Input: the reduced statistics of one E-step pass (gmm_estep.cu's layout: per component n_k,
// s1_k (D), s2_k packed upper triangle (full) or diagonal (diag)), shifted by the means c_k the
// pass used. Output, per component k (the kernels crate's StatsRef::finish, computed in double):
//   m = s1_k / n_k,  μ_k = c_k + m,  Σ_k = s2_k / n_k − m mᵀ + reg·I,
//   L Lᵀ = Σ_k (Cholesky),  U_k = L⁻ᵀ,  ln det U_k = −Σ_i ln L_ii,  α_k ∝ n_k / N,
//   log_norm_k = ln α_k − (D/2) ln 2π + ln det U_k.
// A component the device cannot finish the way the host would — empty (n_k in T ≤ empty_below),
// not positive definite (in double), a mean or covariance entry not finite in T, or D larger
// than the shared square — gets a status code instead, and the host runs the kernels crate's
// M-step on the downloaded statistics for that iteration (re-seeding, typed errors): one
// behaviour, with the rare paths kept in one place. (One difference remains for f32: a
// covariance positive definite in double but not in f32 is finished here, where the f32 host
// M-step would report NotPositiveDefinite.)
#include "gmm.cuh"

// Largest D the M-step's shared-memory square holds (the host's runtime limit, MAX_RUNTIME_SIZE).
#define GMM_MAX_D 64
// Per-component status codes (host/src/device/traits.rs: MSTEP_*).
#define GMM_MSTEP_OK 0
#define GMM_MSTEP_EMPTY 1
#define GMM_MSTEP_NOT_PD 2
#define GMM_MSTEP_NON_FINITE 3
#define GMM_MSTEP_TOO_LARGE 4

// Index of (i, j), i ≤ j, in the packed upper triangle (rows of length D − i, row-major).
__device__ __forceinline__ int packed_upper(int i, int j, int d) { return i * d - i * (i - 1) / 2 + (j - i); }

__device__ __forceinline__ bool finite_f64(double v) { return v - v == 0.0; }

// Whether v is finite once rounded to T (the host M-step checks the T values).
template <class T>
__device__ __forceinline__ bool finite_as(double v) {
    return finite_f64((double)(T)v);
}

// One block per component (blockIdx.x = k). Writes the component's mean, covariance and U (T),
// its unnormalized weight n_k / N and ln det U (double), and status[k].
template <class T, bool FULL>
__device__ void gmm_mstep_component(const double* __restrict__ reduced, i64 n_samples, int d,
                                    double reg, double empty_below, const T* __restrict__ shift,
                                    T* __restrict__ means, T* __restrict__ covs, T* __restrict__ prec,
                                    double* __restrict__ w_raw, double* __restrict__ log_det_u,
                                    int* __restrict__ status) {
    __shared__ double a[GMM_MAX_D * GMM_MAX_D];
    __shared__ double m[GMM_MAX_D];
    __shared__ int code;
    const int c = blockIdx.x, tid = threadIdx.x, nt = blockDim.x;
    const int per_k = 1 + d + (FULL ? d * (d + 1) / 2 : d);
    const double* e = reduced + (i64)c * per_k;
    const double n = e[0];
    const i64 mat = (i64)c * d * d;
    if (tid == 0) {
        w_raw[c] = n / (double)n_samples;
        // The host's test, on n_k rounded to T.
        code = d > GMM_MAX_D ? GMM_MSTEP_TOO_LARGE : ((double)(T)n > empty_below ? GMM_MSTEP_OK : GMM_MSTEP_EMPTY);
    }
    __syncthreads();
    const int first = code;
    __syncthreads();  // every thread has read `code` before any thread may write it below
    if (first != GMM_MSTEP_OK) {
        if (tid == 0) status[c] = first;
        return;  // uniform: every thread read the same value
    }
    const double inv_n = 1.0 / n;
    for (int i = tid; i < d; i += nt) {
        m[i] = e[1 + i] * inv_n;
        const double mu = (double)shift[(i64)c * d + i] + m[i];
        means[(i64)c * d + i] = (T)mu;
        if (!finite_as<T>(mu)) code = GMM_MSTEP_NON_FINITE;
    }
    __syncthreads();
    const double* s2 = e + 1 + d;
    for (int q = tid; q < d * d; q += nt) {
        const int i = q / d, j = q - (q / d) * d;
        double v = 0.0;
        if (FULL) {
            const int lo = min(i, j), hi = max(i, j);
            v = s2[packed_upper(lo, hi, d)] * inv_n - m[lo] * m[hi];
        } else if (i == j) {
            v = s2[i] * inv_n - m[i] * m[i];
        }
        if (i == j) v += reg;
        a[q] = v;
        covs[mat + q] = (T)v;
        if (!finite_as<T>(v)) code = GMM_MSTEP_NON_FINITE;
    }
    __syncthreads();
    const int finite = code;
    __syncthreads();  // read by all before the pivot thread may write `code`
    if (finite != GMM_MSTEP_OK) {
        if (tid == 0) status[c] = finite;
        return;
    }
    // Cholesky, column by column: the pivot on one thread, the column below it on all.
    for (int j = 0; j < d; ++j) {
        if (tid == 0) {
            double diag = a[j * d + j];
            if (FULL)
                for (int q = 0; q < j; ++q) diag -= a[j * d + q] * a[j * d + q];
            // `!(diag > 0)` also catches NaN; +∞ is caught by the upper bound.
            if (diag > 0.0 && diag < pos_inf_f64())
                a[j * d + j] = sqrt(diag);
            else
                code = GMM_MSTEP_NOT_PD;
        }
        __syncthreads();
        if (code != GMM_MSTEP_OK) break;  // uniform: written before the barrier
        if (FULL) {
            const double ljj = a[j * d + j];
            for (int i = j + 1 + tid; i < d; i += nt) {
                double s = a[i * d + j];
                for (int q = 0; q < j; ++q) s -= a[i * d + q] * a[j * d + q];
                a[i * d + j] = s / ljj;
            }
        }
        __syncthreads();
    }
    if (code != GMM_MSTEP_OK) {
        if (tid == 0) status[c] = code;
        return;
    }
    // U = L⁻ᵀ: thread `col` solves L x = e_col by forward substitution and stores x_i (i > col) in
    // row col of the strict upper triangle, which the Cholesky left unused (the kernels crate's
    // lower_inverse_transpose_in_place, one column per thread).
    if (FULL) {
        for (int col = tid; col < d; col += nt) {
            const double inv = 1.0 / a[col * d + col];
            for (int i = col + 1; i < d; ++i) {
                double s = -a[i * d + col] * inv;
                for (int q = col + 1; q < i; ++q) s -= a[i * d + q] * a[col * d + q];
                a[col * d + i] = s / a[i * d + i];
            }
        }
        __syncthreads();
    }
    for (int q = tid; q < d * d; q += nt) {
        const int i = q / d, j = q - (q / d) * d;
        const double u = j == i ? 1.0 / a[q] : (FULL && j > i ? a[q] : 0.0);
        prec[mat + q] = (T)u;
    }
    if (tid == 0) {
        double ld = 0.0;
        for (int i = 0; i < d; ++i) ld -= log(a[i * d + i]);
        log_det_u[c] = ld;
        status[c] = GMM_MSTEP_OK;
    }
}

#define GMM_MSTEP_ENTRY(NAME, T, FULL)                                                             \
    extern "C" __global__ void NAME(const double* reduced, i64 n_samples, int d, double reg,      \
                                    double empty_below, const T* shift, T* means, T* covs,        \
                                    T* prec, double* w_raw, double* log_det_u, int* status) {     \
        gmm_mstep_component<T, FULL>(reduced, n_samples, d, reg, empty_below, shift, means, covs, \
                                     prec, w_raw, log_det_u, status);                             \
    }
GMM_MSTEP_ENTRY(gmm_mstep_full_f32, float, true)
GMM_MSTEP_ENTRY(gmm_mstep_diag_f32, float, false)
GMM_MSTEP_ENTRY(gmm_mstep_full_f64, double, true)
GMM_MSTEP_ENTRY(gmm_mstep_diag_f64, double, false)

// The weights and normalizers once every component is finished (one thread; K ≤ 64):
// α_k = w_k / Σ w (the sum in component order), log_norm_k as above. flags[1], flags[2] = the
// first component with a non-zero status and its code (−1, 0 when none); with one, nothing else
// is written: the host finishes this iteration.
template <class T>
__device__ void gmm_mstep_weights(const double* __restrict__ w_raw, const double* __restrict__ log_det_u,
                                  const int* __restrict__ status, int k, int d, T* __restrict__ weights,
                                  T* __restrict__ log_norm, i64* __restrict__ flags) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    i64 bad = -1, code = 0;
    double total = 0.0;
    for (int c = 0; c < k; ++c) {
        if (status[c] != GMM_MSTEP_OK && bad < 0) {
            bad = c;
            code = status[c];
        }
        total += w_raw[c];
    }
    flags[1] = bad;
    flags[2] = code;
    if (bad >= 0) return;
    const double half_d_ln2pi = 0.5 * d * 1.8378770664093454836;  // ln 2π
    for (int c = 0; c < k; ++c) {
        const double w = w_raw[c] / total;
        weights[c] = (T)w;
        log_norm[c] = (T)(log(w) - half_d_ln2pi + log_det_u[c]);
    }
}

extern "C" __global__ void gmm_mstep_weights_f32(const double* w_raw, const double* log_det_u, const int* status,
                                                 int k, int d, float* weights, float* log_norm, i64* flags) {
    gmm_mstep_weights<float>(w_raw, log_det_u, status, k, d, weights, log_norm, flags);
}
extern "C" __global__ void gmm_mstep_weights_f64(const double* w_raw, const double* log_det_u, const int* status,
                                                 int k, int d, double* weights, double* log_norm, i64* flags) {
    gmm_mstep_weights<double>(w_raw, log_det_u, status, k, d, weights, log_norm, flags);
}
