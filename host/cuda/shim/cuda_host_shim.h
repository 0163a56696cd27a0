// Host-side emulation of the CUDA execution model, so that the kernels in host/cuda/*.cu run on
// the CPU in tests without a GPU (adapted from shared/recipes/cuda-host-shim.h).
//
// Semantics kept: blocks run one after another; the threads of one block run as user-level
// contexts (ucontext fibers) on the calling thread, switched round-robin at each __syncthreads()
// (in thread order, reversed on odd blocks), so that a barrier lets no thread past it before
// every live thread of the block has reached it (a thread that returns drops out, as on the
// GPU); `__shared__` arrays become function-local statics (one instance, valid because only one
// block runs at a time); dynamic shared memory (CRABMIX_DYN_SHARED in common.cuh) is one buffer
// sized by the launch. The shim first ran each
// CUDA thread as an OS thread behind a std::barrier: 256 threads per block on two cores made the
// shim tests take ~170 s of the suite, nearly all of it in context switches.
// Not emulated: warp intrinsics (__shfl*, __ballot; the kernels guard or avoid them), memory
// fences beyond the barrier, concurrent launches (a mutex serializes them: the state is global).
// Results differ from the GPU in the last bits (NVRTC contracts a*b+c into FMAs): compare with
// tolerances.
#pragma once
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#error "host shim included in device compilation"
#endif
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};
namespace cuda_shim {
inline dim3 tidx, bidx, bdim, gdim;
// The block being run by `launch_threads`: one context per CUDA thread, and the scheduler's.
struct Fibers {
    static constexpr size_t stack_bytes = 256 * 1024;
    // Each stack sits above an inaccessible guard page, so an overflow faults instead of
    // overwriting the next fiber's stack.
    struct Stack {
        char* base = nullptr;
        size_t guard = 0;
        Stack() {
            guard = (size_t)sysconf(_SC_PAGESIZE);
            void* p = mmap(nullptr, guard + stack_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED || mprotect(p, guard, PROT_NONE) != 0) {
                std::fprintf(stderr, "cuda shim: cannot map a fiber stack\n");
                std::abort();
            }
            base = (char*)p;
        }
        Stack(const Stack&) = delete;
        Stack& operator=(const Stack&) = delete;
        ~Stack() { munmap(base, guard + stack_bytes); }
        char* region() const { return base + guard; }  // the stack proper, above the guard
    };
    std::vector<ucontext_t> ctx;
    std::vector<std::unique_ptr<Stack>> stacks;  // kept across launches
    std::vector<dim3> idx;
    std::vector<char> live;
    ucontext_t sched;
    unsigned cur = 0;
    // Odd blocks run their threads in the opposite order: a missing barrier between a write
    // and another thread's read then fails whichever of the two threads comes first.
    bool reverse = false;
    unsigned after(unsigned t) const {
        const unsigned n = (unsigned)ctx.size();
        return reverse ? (t + n - 1) % n : (t + 1) % n;
    }
    // The next live thread after t in this block's order (t itself when it is the only one).
    unsigned next_live(unsigned t) const {
        unsigned n = t;
        do n = after(n);
        while (!live[n]);
        return n;
    }
    // Makes thread t the running one and switches to it, saving the current context in `from`.
    void resume(ucontext_t* from, unsigned t) {
        cur = t;
        tidx = idx[t];
        swapcontext(from, &ctx[t]);
    }
    // The kernel call of the running launch; empty outside `launch_threads`.
    std::function<void()> body;
};
inline Fibers fibers;
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
    using cuda_shim::fibers;
    if (!fibers.body) {
        std::fprintf(stderr, "__syncthreads in a sequential launch\n");
        std::abort();
    }
    // Hand over to the next live thread; the last to arrive hands back to the first, which is
    // then past the barrier with every other live thread.
    const unsigned next = fibers.next_live(fibers.cur);
    if (next != fibers.cur) fibers.resume(&fibers.ctx[fibers.cur], next);
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
inline void fiber_entry() {
    fibers.body();
    // Returning switches to `sched` (uc_link), which retires this thread.
}
// One block: a fresh context per thread, run until every thread has returned. Out of line, so
// that getcontext/swapcontext (which return twice) share no frame with the launch's loops.
[[gnu::noinline]] inline void run_block(unsigned n) {
    for (unsigned t = 0; t < n; ++t) {
        fibers.live[t] = 1;
        getcontext(&fibers.ctx[t]);
        fibers.ctx[t].uc_stack.ss_sp = fibers.stacks[t]->region();
        fibers.ctx[t].uc_stack.ss_size = Fibers::stack_bytes;
        fibers.ctx[t].uc_link = &fibers.sched;
        makecontext(&fibers.ctx[t], fiber_entry, 0);
    }
    // Run the first thread (0, or n − 1 in reverse); each time a thread returns, control comes
    // back here, the thread is retired and the next live one (after it, round-robin) resumed.
    fibers.resume(&fibers.sched, fibers.reverse ? n - 1 : 0);
    for (unsigned remaining = n - 1; remaining > 0; --remaining) {
        fibers.live[fibers.cur] = 0;
        fibers.resume(&fibers.sched, fibers.next_live(fibers.cur));
    }
    fibers.live[fibers.cur] = 0;
}
// Kernels with __syncthreads: one fiber per CUDA thread, one block at a time, with `smem_bytes`
// of dynamic shared memory, poisoned with 0xff bytes (NaN as f32 and f64) so that a read before
// a write shows up in the results.
template <class F, class... A>
void launch_threads(dim3 g, dim3 b, size_t smem_bytes, F k, A... a) {
    std::lock_guard<std::mutex> lock(launch_mutex);
    gdim = g;
    bdim = b;
    const unsigned n = b.x * b.y * b.z;
    if (n == 0) return;
    fibers.ctx.resize(n);
    fibers.idx.resize(n);
    fibers.live.resize(n);
    while (fibers.stacks.size() < n) fibers.stacks.emplace_back(std::make_unique<Fibers::Stack>());
    for (unsigned t = 0; t < n; ++t) fibers.idx[t] = {t % b.x, (t / b.x) % b.y, t / (b.x * b.y)};
    fibers.body = [&] { k(a...); };
    for (unsigned bz = 0; bz < g.z; ++bz)
        for (unsigned by = 0; by < g.y; ++by)
            for (unsigned bx = 0; bx < g.x; ++bx) {
                bidx = {bx, by, bz};
                dyn_smem.assign((smem_bytes + 7) / 8, 0.0);
                std::memset(dyn_smem.data(), 0xff, dyn_smem.size() * sizeof(double));
                fibers.reverse = ((bx + by + bz) & 1) != 0;
                run_block(n);
            }
    fibers.body = nullptr;
}
}  // namespace cuda_shim
