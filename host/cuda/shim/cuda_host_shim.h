// Host-side emulation of the CUDA execution model, so that the kernels in host/cuda/*.cu run on
// the CPU in tests without a GPU (adapted from shared/recipes/cuda-host-shim.h).
//
// Semantics kept: blocks run one after another; the threads of one block run as OS threads so
// that __syncthreads() is a real barrier; `__shared__` arrays become function-local statics (one
// instance, valid because only one block runs at a time); dynamic shared memory
// (CRABMIX_DYN_SHARED in common.cuh) is one buffer sized by the launch.
// Not emulated: warp intrinsics (__shfl*, __ballot; the kernels guard or avoid them), memory
// fences beyond the barrier, concurrent launches (a mutex serializes them: the state is global).
// Results differ from the GPU in the last bits (NVRTC contracts a*b+c into FMAs): compare with
// tolerances.
#pragma once
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#error "host shim included in device compilation"
#endif
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};
namespace cuda_shim {
inline thread_local dim3 tidx;
inline dim3 bidx, bdim, gdim;
inline std::barrier<>* bar = nullptr;
// Dynamic shared memory of the running block; doubles so every scalar type is aligned.
inline std::vector<double> dyn_smem;
inline std::mutex launch_mutex;
}  // namespace cuda_shim
#define threadIdx (cuda_shim::tidx)
#define blockIdx (cuda_shim::bidx)
#define blockDim (cuda_shim::bdim)
#define gridDim (cuda_shim::gdim)
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __shared__ static
inline void __syncthreads() {
    if (!cuda_shim::bar) {
        std::fprintf(stderr, "__syncthreads in a sequential launch\n");
        std::abort();
    }
    cuda_shim::bar->arrive_and_wait();
}
inline float __int_as_float(int i) {
    float f;
    std::memcpy(&f, &i, 4);
    return f;
}
inline int __float_as_int(float f) {
    int i;
    std::memcpy(&i, &f, 4);
    return i;
}
inline double __longlong_as_double(long long i) {
    double f;
    std::memcpy(&f, &i, 8);
    return f;
}
inline float atomicAdd(float* p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }
inline int atomicAdd(int* p, int v) { return std::atomic_ref<int>(*p).fetch_add(v); }
using std::max;
using std::min;

namespace cuda_shim {
// Barrier-free kernels: every thread of the grid in turn on the calling thread.
template <class F, class... A>
void launch_seq(dim3 g, dim3 b, F k, A... a) {
    std::lock_guard<std::mutex> lock(launch_mutex);
    gdim = g;
    bdim = b;
    bar = nullptr;
    for (unsigned bz = 0; bz < g.z; ++bz)
        for (unsigned by = 0; by < g.y; ++by)
            for (unsigned bx = 0; bx < g.x; ++bx) {
                bidx = {bx, by, bz};
                for (unsigned tz = 0; tz < b.z; ++tz)
                    for (unsigned ty = 0; ty < b.y; ++ty)
                        for (unsigned tx = 0; tx < b.x; ++tx) {
                            tidx = {tx, ty, tz};
                            k(a...);
                        }
            }
}
// Kernels with __syncthreads: one OS thread per CUDA thread, one block at a time, with
// `smem_bytes` of dynamic shared memory, poisoned with 0xff bytes (NaN as f32 and f64) so that a
// read before a write shows up in the results.
template <class F, class... A>
void launch_threads(dim3 g, dim3 b, size_t smem_bytes, F k, A... a) {
    std::lock_guard<std::mutex> lock(launch_mutex);
    gdim = g;
    bdim = b;
    const unsigned n = b.x * b.y * b.z;
    for (unsigned bz = 0; bz < g.z; ++bz)
        for (unsigned by = 0; by < g.y; ++by)
            for (unsigned bx = 0; bx < g.x; ++bx) {
                bidx = {bx, by, bz};
                dyn_smem.assign((smem_bytes + 7) / 8, 0.0);
                std::memset(dyn_smem.data(), 0xff, dyn_smem.size() * sizeof(double));
                std::barrier<> block_bar(n);
                bar = &block_bar;
                std::vector<std::thread> ts;
                ts.reserve(n);
                for (unsigned t = 0; t < n; ++t)
                    ts.emplace_back([&, t] {
                        tidx = {t % b.x, (t / b.x) % b.y, t / (b.x * b.y)};
                        k(a...);
                        block_bar.arrive_and_drop();  // exited threads no longer hold barriers
                    });
                for (auto& th : ts) th.join();
                bar = nullptr;
            }
}
}  // namespace cuda_shim
