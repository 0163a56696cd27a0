// Gaussian-mixture helpers shared by gmm_estep.cu and gmm_density.cu.
//
// Model layout (the kernels crate's MixtureRef, host/src/gmm.rs): means μ K×D row-major; U_k =
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
