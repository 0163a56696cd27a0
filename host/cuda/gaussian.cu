// Batched Gaussian kernels for the VAE: KL(N(μ, diag σ²) ‖ N(0, I)) per row (lecture eq 15) and
// reparameterized sampling z = μ + σ ⊙ ε (eq 18) with ε from the counter-based Philox4x32-10
// generator, so a draw depends only on (seed, element index), never on the launch shape.
#include "common.cuh"

// g(x) = eˣ − 1 − x ≥ 0, as kernels/src/gaussian/kl.rs `exp_excess`: the Taylor series
// x² Σ_{n≥2} xⁿ⁻²/n! (Horner, 1/13! … 1/2!) for |x| ≤ ¼, where eˣ − 1 − x cancels; the direct
// form elsewhere.
template <class T>
__device__ __forceinline__ T exp_excess(T x) {
    if ((x < T(0) ? -x : x) <= T(0.25)) {
        const double inv_fact[12] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0,
                                     1.0 / 3628800.0,    1.0 / 362880.0,    1.0 / 40320.0,
                                     1.0 / 5040.0,       1.0 / 720.0,       1.0 / 120.0,
                                     1.0 / 24.0,         1.0 / 6.0,         0.5};
        T s = 0;
#pragma unroll
        for (int i = 0; i < 12; ++i) s = s * x + T(inv_fact[i]);
        return x * x * s;
    }
    return c_exp(x) - T(1) - x;
}

// out[r] = ½ Σ_i (g(ln σ²_ri) + μ_ri²) for r < n (rows of D values, row-major).
template <class T>
__device__ void kl_diag_std_normal_row(const T* __restrict__ mu, const T* __restrict__ log_var,
                                       i64 n, int d, T* __restrict__ out) {
    const i64 r = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n) return;
    T s = 0;
    for (int i = 0; i < d; ++i) {
        const T m = mu[r * d + i];
        s += exp_excess(log_var[r * d + i]) + m * m;
    }
    out[r] = T(0.5) * s;
}

// Philox4x32-10 (Salmon et al., SC'11, "Parallel random numbers: as easy as 1, 2, 3"; constants
// from Random123's philox.h). 64-bit products instead of __umulhi so the g++ shim compiles it.
struct philox4 {
    unsigned v[4];
};
__device__ __forceinline__ philox4 philox4x32_10(philox4 ctr, unsigned k0, unsigned k1) {
    const unsigned M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    for (int round = 0; round < 10; ++round) {
        const unsigned long long p0 = (unsigned long long)M0 * ctr.v[0];
        const unsigned long long p1 = (unsigned long long)M1 * ctr.v[2];
        const unsigned hi0 = (unsigned)(p0 >> 32), lo0 = (unsigned)p0;
        const unsigned hi1 = (unsigned)(p1 >> 32), lo1 = (unsigned)p1;
        philox4 next;
        next.v[0] = hi1 ^ ctr.v[1] ^ k0;
        next.v[1] = lo1;
        next.v[2] = hi0 ^ ctr.v[3] ^ k1;
        next.v[3] = lo0;
        ctr = next;
        k0 += W0;
        k1 += W1;
    }
    return ctr;
}

// ε for element e: Philox block at counter (e_lo, e_hi, 0, 0), key (seed_lo, seed_hi), then
// Box–Muller ε = √(−2 ln u₁) cos(2π u₂) (as cospi(2 u₂)) with u₁ ∈ (0, 1] (never ln 0) and u₂ ∈ [0, 1):
// f32 uses 32-bit uniforms from words 0 and 1, f64 53-bit uniforms from words (0, 1) and (2, 3).
template <class T>
__device__ __forceinline__ T philox_normal(unsigned long long seed, unsigned long long e);
template <>
__device__ __forceinline__ float philox_normal<float>(unsigned long long seed, unsigned long long e) {
    philox4 c = {{(unsigned)e, (unsigned)(e >> 32), 0u, 0u}};
    philox4 w = philox4x32_10(c, (unsigned)seed, (unsigned)(seed >> 32));
    // (w + 1)·2⁻³² in float rounds to 1 for the top 128 values: still in (0, 1].
    const float u1 = ((float)w.v[0] + 1.0f) * 2.3283064365386963e-10f;
    const float u2 = (float)(w.v[1] >> 8) * 5.9604644775390625e-08f;  // 24 bits · 2⁻²⁴
    return sqrtf(-2.0f * logf(u1)) * c_cospi(2.0f * u2);
}
template <>
__device__ __forceinline__ double philox_normal<double>(unsigned long long seed, unsigned long long e) {
    philox4 c = {{(unsigned)e, (unsigned)(e >> 32), 0u, 0u}};
    philox4 w = philox4x32_10(c, (unsigned)seed, (unsigned)(seed >> 32));
    const unsigned long long a = ((unsigned long long)w.v[0] << 21) ^ (w.v[1] >> 11);  // 53 bits
    const unsigned long long b = ((unsigned long long)w.v[2] << 21) ^ (w.v[3] >> 11);
    const double u1 = ((double)(a & ((1ull << 53) - 1)) + 1.0) * 1.1102230246251565e-16;  // 2⁻⁵³
    const double u2 = (double)(b & ((1ull << 53) - 1)) * 1.1102230246251565e-16;
    return sqrt(-2.0 * log(u1)) * c_cospi(2.0 * u2);
}

// eps[e] = ε_e, z[e] = μ_e + exp(½ ln σ²_e) ε_e for e < len (flat index over all rows·D).
template <class T>
__device__ void reparam_diag_philox_elem(const T* __restrict__ mu, const T* __restrict__ log_var,
                                         i64 len, unsigned long long seed, T* __restrict__ eps,
                                         T* __restrict__ z) {
    const i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= len) return;
    const T ep = philox_normal<T>(seed, (unsigned long long)e);
    eps[e] = ep;
    z[e] = mu[e] + c_exp(T(0.5) * log_var[e]) * ep;
}

// Backward of the VAE's latent layer (kernels/src/models/vae.rs `accumulate_with_eps`) for
// e < len (flat over rows·Z), given g_z = ∂L/∂z from the decoder and the ε of the forward pass:
// the weighted KL gradient (kl.rs `kl_diag_std_normal_grad`) plus the reparameterization's
// (reparam.rs `reparam_diag_backward`), in the crate's order:
//   g_mu = μ·w + g_z,   g_lv = (½(e^{ln σ²} − 1))·w + ½ g_z σ ε,   σ = e^{½ ln σ²}.
template <class T>
__device__ void vae_latent_backward_elem(const T* __restrict__ mu, const T* __restrict__ log_var,
                                         const T* __restrict__ eps, const T* __restrict__ g_z,
                                         i64 len, T weight, T* __restrict__ g_mu,
                                         T* __restrict__ g_lv) {
    const i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= len) return;
    const T lv = log_var[e], gz = g_z[e];
    const T sigma = c_exp(T(0.5) * lv);
    g_mu[e] = mu[e] * weight + gz;
    g_lv[e] = T(0.5) * (c_exp(lv) - T(1)) * weight + T(0.5) * gz * sigma * eps[e];
}

// Raw Philox4x32-10 words for counters (i, 0, 0, 0), i < n: out[4i..4i+4) (known-answer tests).
extern "C" __global__ void philox4x32_10_words(i64 n, unsigned long long seed, unsigned* out) {
    const i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    philox4 c = {{(unsigned)i, (unsigned)((unsigned long long)i >> 32), 0u, 0u}};
    philox4 w = philox4x32_10(c, (unsigned)seed, (unsigned)(seed >> 32));
    for (int j = 0; j < 4; ++j) out[4 * i + j] = w.v[j];
}

#define GAUSSIAN_ENTRIES(SUFFIX, T)                                                             \
    extern "C" __global__ void kl_diag_std_normal_##SUFFIX(const T* mu, const T* log_var, i64 n, \
                                                          int d, T* out) {                      \
        kl_diag_std_normal_row<T>(mu, log_var, n, d, out);                                      \
    }                                                                                           \
    extern "C" __global__ void reparam_diag_philox_##SUFFIX(const T* mu, const T* log_var,      \
                                                           i64 len, unsigned long long seed,    \
                                                           T* eps, T* z) {                      \
        reparam_diag_philox_elem<T>(mu, log_var, len, seed, eps, z);                            \
    }                                                                                           \
    extern "C" __global__ void vae_latent_backward_##SUFFIX(const T* mu, const T* log_var,      \
                                                           const T* eps, const T* g_z, i64 len, \
                                                           T weight, T* g_mu, T* g_lv) {        \
        vae_latent_backward_elem<T>(mu, log_var, eps, g_z, len, weight, g_mu, g_lv);            \
    }
GAUSSIAN_ENTRIES(f32, float)
GAUSSIAN_ENTRIES(f64, double)
