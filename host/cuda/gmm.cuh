// Gaussian-mixture helpers shared by gmm_estep.cu, gmm_estep_fixed.cu, gmm_mstep.cu and
// gmm_density.cu.
//
// Model layout (the kernels crate's MixtureRef, host/src/gmm/mixture.rs): means μ K×D row-major; U_k =
// L_k⁻ᵀ K×D×D row-major upper triangular (Σ_k⁻¹ = U_k U_kᵀ); log_norm_k = ln α_k − (D/2) ln 2π +
// Σ_i ln U_k,ii; then ln α_k N(x; μ_k, Σ_k) = log_norm_k − ½ ‖U_kᵀ (x − μ_k)‖².
#pragma once
#include "common.cuh"

// ln α_k N(x; μ_k, Σ_k) for one sample x (D values) and one component.
// Full: y_j = Σ_{i≤j} U_ij (x_i − μ_i), D(D+1)/2 multiply-adds, column by column so that no
// per-thread array is needed (a D-long local array would live in local memory); the deviation
// x_i − μ_i is recomputed per column instead of stored, which is cheaper than the local-memory
// round trip. Diag: Σ_i ((x_i − μ_i) U_ii)², 2D operations.
template <class T, bool FULL>
__device__ __forceinline__ T component_log_prob(const T* x, const T* __restrict__ mu,
                                                const T* __restrict__ u, T log_norm, int d) {
    T maha = 0;
    if (FULL) {
        for (int j = 0; j < d; ++j) {
            T y = 0;
            for (int i = 0; i <= j; ++i) y += u[i * d + j] * (x[i] - mu[i]);
            maha += y * y;
        }
    } else {
        for (int i = 0; i < d; ++i) {
            T y = (x[i] - mu[i]) * u[i * d + i];
            maha += y * y;
        }
    }
    return log_norm - T(0.5) * maha;
}

// ln p(x) = logsumexp_c l[c] of one row's K log-probabilities, overwritten in place by the
// responsibilities: with m = max l[c] and s = Σ_c e^{l[c] − m} (≥ 1, the maximal term is
// e^0 = 1 exactly), the responsibilities are e^{l[c] − m} / s and ln p = m + ln s, so K
// exponentials, one log and one reciprocal per row (not 2K exponentials: each e^{l[c] − m} is
// reused; in f32 they are MUFU instructions, common.cuh's resp_*). A NaN l[c] counts as −∞. A
// row with zero density under every component (ln p = −∞) gets no responsibilities (zeros, not
// NaN); the caller reports its row (ZeroDensity).
template <class T>
__device__ __forceinline__ T responsibilities_in_place(T* l, int k) {
    T m = neg_inf<T>();
    for (int c = 0; c < k; ++c) m = c_max(m, l[c]);  // a NaN l[c] is passed over, as by l[c] > m
    if (m == neg_inf<T>()) {
        for (int c = 0; c < k; ++c) l[c] = 0;
        return m;
    }
    T s = 0;
    for (int c = 0; c < k; ++c) {
        // max(·, −∞) turns a NaN into −∞ and leaves the rest: the samples are finite (the host
        // validates them), so a NaN l[c] is a Mahalanobis sum whose partial products overflowed
        // to +∞ and −∞, i.e. zero density — the kernels crate's rule. One FMNMX per term; a
        // once-per-row NaN test with a repair loop executed as much and tripled the loop's code.
        l[c] = resp_exp(c_max(l[c] - m, neg_inf<T>()));
        s += l[c];
    }
    const T inv = resp_rcp(s);
    for (int c = 0; c < k; ++c) l[c] *= inv;
    return resp_add_log(m, s);
}

// Adds one row's ln p(x) to a thread's running Σ ln p(x) and smallest ln p(x) with its row. A
// thread visits its rows in increasing order, so strict < keeps the first of ties (the serial
// pass's rule, which block_log_likelihood then applies across threads).
template <class T>
__device__ __forceinline__ void note_row_log_density(T lse, i64 row, double& ll, double& worst,
                                                     i64& worst_row) {
    ll += (double)lse;
    if ((double)lse < worst) {
        worst = (double)lse;
        worst_row = row;
    }
}

// The block's Σ ln p(x) and its smallest ln p(x) with the row (the lowest row among ties; +∞ and
// −1 when the block had no rows) through a fixed tree over the threads' values, written to
// block_ll[b], block_worst[b], block_worst_row[b]. `red_*` are CRABMIX_BLOCK-long shared arrays.
__device__ __forceinline__ void block_log_likelihood(double my_ll, double my_worst, i64 my_row, double* red_ll,
                                                     double* red_worst, i64* red_row, double* block_ll,
                                                     double* block_worst, i64* block_worst_row) {
    const int tid = threadIdx.x;
    red_ll[tid] = my_ll;
    red_worst[tid] = my_worst;
    red_row[tid] = my_row;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (tid < s) {
            red_ll[tid] += red_ll[tid + s];
            const double w2 = red_worst[tid + s];
            const i64 r2 = red_row[tid + s];
            if (w2 < red_worst[tid] || (w2 == red_worst[tid] && r2 >= 0 && (red_row[tid] < 0 || r2 < red_row[tid]))) {
                red_worst[tid] = w2;
                red_row[tid] = r2;
            }
        }
        __syncthreads();
    }
    if (tid == 0) {
        block_ll[blockIdx.x] = red_ll[0];
        block_worst[blockIdx.x] = red_worst[0];
        block_worst_row[blockIdx.x] = red_row[0];
    }
}
