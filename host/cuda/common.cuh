// Shared by every kernel family in host/cuda: portability between NVRTC (device) and g++ through
// shim/cuda_host_shim.h (host, CPU-only tests), scalar helpers for float and double, and the
// launch constants the Rust side mirrors (host/src/device/layout.rs).
//
// Rules for code in this directory (so that the same source runs on both):
//  * no warp intrinsics (__shfl*, __ballot): reductions go through __shared__ memory;
//  * no INFINITY/NAN macros (NVRTC has none): use neg_inf<T>() and friends;
//  * block-wide reductions use a fixed tree, and every floating-point sum has an order fixed by
//    the launch shape alone, never by scheduling: results are reproducible run to run.
#pragma once

#if defined(__CUDACC_RTC__) || defined(__CUDACC__)
#define CRABMIX_DEVICE 1
// One dynamic shared buffer per kernel, typed as T. Declared as double so that all template
// instantiations share one declaration (an extern __shared__ name may have only one type).
#define CRABMIX_DYN_SHARED(T, name)                                \
    extern __shared__ __align__(16) double crabmix_dyn_smem_[];   \
    T* name = reinterpret_cast<T*>(crabmix_dyn_smem_)
typedef long long i64;
#else
#include "shim/cuda_host_shim.h"
// CUDA's cospi/cospif are not in the C++ standard library (C23 only).
inline double cospi(double x) { return std::cos(3.14159265358979323846 * x); }
inline float cospif(float x) { return (float)cospi((double)x); }
#define CRABMIX_DYN_SHARED(T, name) T* name = reinterpret_cast<T*>(cuda_shim::dyn_smem.data())
typedef long long i64;
#endif

// Threads per block of every kernel with a block reduction (a power of two; the Rust launcher
// uses the same value: device::layout::BLOCK_THREADS).
#define CRABMIX_BLOCK 256

// Scalar helpers: one overload per type so that templates call expf/logf for float (the double
// versions would silently promote and run at a fraction of the speed).
__device__ __forceinline__ float c_exp(float x) { return expf(x); }
__device__ __forceinline__ double c_exp(double x) { return exp(x); }
__device__ __forceinline__ float c_log(float x) { return logf(x); }
__device__ __forceinline__ double c_log(double x) { return log(x); }
__device__ __forceinline__ float c_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double c_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float c_expm1(float x) { return expm1f(x); }
__device__ __forceinline__ double c_expm1(double x) { return expm1(x); }
__device__ __forceinline__ float c_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double c_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float c_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double c_tanh(double x) { return tanh(x); }
// max(a, b); when one is NaN, the other (fmax's rule).
__device__ __forceinline__ float c_max(float a, float b) { return fmaxf(a, b); }
__device__ __forceinline__ double c_max(double a, double b) { return fmax(a, b); }
__device__ __forceinline__ float c_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double c_abs(double x) { return fabs(x); }
// cos(π x): no large-argument (Payne–Hanek) reduction path, which for cos(double) costs a
// 40-byte local array (stack) in every kernel that calls it, although arguments here are < 2π.
__device__ __forceinline__ float c_cospi(float x) { return cospif(x); }
__device__ __forceinline__ double c_cospi(double x) { return cospi(x); }

// Exponential, logarithm and reciprocal for the E-step's responsibilities (gmm.cuh), where the
// arguments are bounded: e^d for d = l − max l ≤ 0, and ln s, 1/s for s = Σ e^d ∈ [1, K]. In
// f32 they are MUFU instructions (ex2/lg2/rcp.approx.ftz), as CUDA's __expf, __log2f and
// __fdividef: e^d within (2 + |d|) ulp — the product d·log₂e is rounded — so within
// (2 + 1/e)·2⁻²⁴ ≈ 1.4e-7 of e^d absolutely for every d ≤ 0 (e^d·|d| ≤ 1/e); ln s within 2⁻²²
// absolutely on [1, 2] and 2 ulp of log₂ s above; 1/s within 2 ulp. So a responsibility is
// within a few f32 ulps (≈ 2e-7 absolute) of the exact one. That is 3 SASS instructions per exponential instead
// of 9, 2 for the logarithm instead of 25, 1 for the reciprocal instead of 4 plus a slow path
// (scripts/sass_report.py). ex2 flushes results below 2⁻¹²⁶ to zero: responsibilities under
// 1e-38. f64 keeps the accurate library functions. The shim (CPU tests) computes them exactly.
#ifdef CRABMIX_DEVICE
__device__ __forceinline__ float approx_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
__device__ __forceinline__ float approx_log2(float x) {
    float y;
    asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
__device__ __forceinline__ float approx_rcp(float x) {
    float y;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
#else
inline float approx_exp2(float x) { return std::exp2(x); }
inline float approx_log2(float x) { return std::log2(x); }
inline float approx_rcp(float x) { return 1.0f / x; }
#endif
// e^d for d ≤ 0.
__device__ __forceinline__ float resp_exp(float d) { return approx_exp2(d * 1.44269504088896341f); }
__device__ __forceinline__ double resp_exp(double d) { return exp(d); }
// m + ln s for s ∈ [1, K].
__device__ __forceinline__ float resp_add_log(float m, float s) {
    return fmaf(0.693147180559945309f, approx_log2(s), m);
}
__device__ __forceinline__ double resp_add_log(double m, double s) { return m + log(s); }
// 1/s for s ∈ [1, K].
__device__ __forceinline__ float resp_rcp(float s) { return approx_rcp(s); }
__device__ __forceinline__ double resp_rcp(double s) { return 1.0 / s; }

template <class T>
__device__ __forceinline__ T neg_inf();
template <>
__device__ __forceinline__ float neg_inf<float>() {
    return __int_as_float(0xff800000);  // −∞: NVRTC defines no INFINITY
}
template <>
__device__ __forceinline__ double neg_inf<double>() {
    return __longlong_as_double(0xfff0000000000000LL);
}
__device__ __forceinline__ double pos_inf_f64() { return __longlong_as_double(0x7ff0000000000000LL); }

// Four consecutive values at a 16-byte-aligned address, loaded or stored (one or two vector
// accesses on the device; shared-memory loads are what the tiled E-step's inner loop waits on).
#ifdef CRABMIX_DEVICE
__device__ __forceinline__ void load4(const float* p, float out[4]) {
    const float4 v = *reinterpret_cast<const float4*>(p);
    out[0] = v.x;
    out[1] = v.y;
    out[2] = v.z;
    out[3] = v.w;
}
__device__ __forceinline__ void load4(const double* p, double out[4]) {
    const double2 a = *reinterpret_cast<const double2*>(p);
    const double2 b = *reinterpret_cast<const double2*>(p + 2);
    out[0] = a.x;
    out[1] = a.y;
    out[2] = b.x;
    out[3] = b.y;
}
__device__ __forceinline__ void store4(float* p, const float v[4]) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
}
__device__ __forceinline__ void store4(double* p, const double v[4]) {
    *reinterpret_cast<double2*>(p) = make_double2(v[0], v[1]);
    *reinterpret_cast<double2*>(p + 2) = make_double2(v[2], v[3]);
}
#else
template <class T>
inline void load4(const T* p, T out[4]) {
    for (int q = 0; q < 4; ++q) out[q] = p[q];
}
template <class T>
inline void store4(T* p, const T v[4]) {
    for (int q = 0; q < 4; ++q) p[q] = v[q];
}
#endif
// out[q] = p[q] for q < min(used, 4): one load4 when VECTOR (p 16-byte aligned; the unused
// values are read too), else `used` scalar loads. `used` is a compile-time constant where this is
// called in unrolled loops, so the scalar form reads only what is used.
template <bool VECTOR, class T>
__device__ __forceinline__ void load4_or_scalars(const T* p, T out[4], int used) {
    if (VECTOR) {
        load4(p, out);
    } else {
#pragma unroll
        for (int q = 0; q < 4; ++q) out[q] = q < used ? p[q] : T(0);
    }
}
