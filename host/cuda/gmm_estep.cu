// GMM E-step fused with the shifted sufficient statistics, as per-block partials (accumulate),
// and their reduction in a fixed order (merge); the M-step (finish) is gmm_mstep.cu on the device
// or the kernels crate's on the host. This is the generic kernel (any K, D ≤ 64);
// gmm_estep_fixed.cu has the shape-specialized ones, which write the same partials.
//
// Statistics of component k with shift c_k = μ_k (the model's means at the start of the pass),
// over samples x with responsibilities r_k(x) = α_k N_k(x) / Σ_l α_l N_l(x):
//   n_k = Σ r_k,   s1_k = Σ r_k (x − c_k),   s2_k = Σ r_k (x − c_k)(x − c_k)ᵀ
// (kernels/src/gmm/stats.rs). Per component the block writes 1 + D + P doubles, in this order:
//   n_k, s1_k[0..D], s2_k packed: P = D(D+1)/2 upper-triangle entries row by row (full) or the
//   D diagonal entries (diag).
// Every entry's rows are summed in type T within a tile, then added to the block's double
// partial; the reduction kernel adds the block partials in a fixed tree. With the grid, block and
// tile sizes fixed by (N, K, D, T) alone (host/src/device/layout.rs), every rounding is reproducible.
#include "gmm.cuh"

// Number of statistics entries of one component.
__device__ __forceinline__ int gmm_entries_per_component(int d, bool full) {
    return 1 + d + (full ? d * (d + 1) / 2 : d);
}

// Index q of the packed upper triangle (row-major, rows of length D − i) → (i, j), j ≥ i.
__device__ __forceinline__ void unpack_upper(int q, int d, int* i_out, int* j_out) {
    int i = 0;
    while (q >= d - i) {
        q -= d - i;
        ++i;
    }
    *i_out = i;
    *j_out = i + q;
}

// One statistics entry e (layout above) of component c = e / per_k over the tile's rows
// r = r0, r0 + step, … < rows: Σ r_c, Σ r_c (x_i − c_i) or Σ r_c (x_i − c_i)(x_j − c_j).
// `lp` holds the tile's responsibilities (rows × K), `xs` its samples (rows × D).
template <class T, bool FULL>
__device__ __forceinline__ T stat_entry(int e, int r0, int step, int rows, int d, int k, int per_k,
                                        const T* xs, const T* lp, const T* __restrict__ means) {
    const int c = e / per_k;
    const int w = e - c * per_k;
    const T* mu = means + c * d;
    const T* resp = lp + c;
    T acc = 0;
    if (w == 0) {
        for (int r = r0; r < rows; r += step) acc += resp[r * k];
    } else if (w <= d) {
        const int i = w - 1;
        const T ci = mu[i];
        for (int r = r0; r < rows; r += step) acc += resp[r * k] * (xs[r * d + i] - ci);
    } else {
        int i, j;
        if (FULL) {
            unpack_upper(w - 1 - d, d, &i, &j);
        } else {
            i = j = w - 1 - d;
        }
        const T ci = mu[i], cj = mu[j];
        for (int r = r0; r < rows; r += step) {
            const T rdi = resp[r * k] * (xs[r * d + i] - ci);
            acc += rdi * (xs[r * d + j] - cj);
        }
    }
    return acc;
}

// One block: tiles t = blockIdx.x, blockIdx.x + gridDim.x, … of `tile_rows` rows each.
// Dynamic shared memory: tile_rows·(D + K) values of T (the tile's samples, then its log
// probabilities, overwritten in place by the responsibilities).
// Outputs (block b): partials[b·E .. (b+1)·E) with E = K·(1 + D + P) (every entry written);
// block_ll[b] = Σ ln p(x) over the block's rows (double); block_worst[b], block_worst_row[b] = the
// smallest ln p(x) and its row (the lowest row among ties; +∞ and −1 for a block with no rows).
template <class T, bool FULL>
__device__ void gmm_estep_block(const T* __restrict__ x, i64 n, int d, int k, int tile_rows,
                                const T* __restrict__ means, const T* __restrict__ prec,
                                const T* __restrict__ log_norm, double* __restrict__ partials,
                                double* __restrict__ block_ll, double* __restrict__ block_worst,
                                i64* __restrict__ block_worst_row) {
    CRABMIX_DYN_SHARED(T, smem);
    __shared__ double red_ll[CRABMIX_BLOCK];
    __shared__ double red_worst[CRABMIX_BLOCK];
    __shared__ i64 red_row[CRABMIX_BLOCK];
    T* xs = smem;
    T* lp = smem + tile_rows * d;
    const int tid = threadIdx.x;
    const int per_k = gmm_entries_per_component(d, FULL);
    const int e_total = k * per_k;
    double* part = partials + (i64)blockIdx.x * e_total;
    // The block owns its slice: zero it here instead of a separate memset launch.
    for (int e = tid; e < e_total; e += blockDim.x) part[e] = 0.0;
    double my_ll = 0.0;
    double my_worst = pos_inf_f64();
    i64 my_row = -1;
    const i64 tiles = (n + tile_rows - 1) / tile_rows;
    for (i64 t = blockIdx.x; t < tiles; t += gridDim.x) {
        const i64 row0 = t * tile_rows;
        const int rows = (int)min((i64)tile_rows, n - row0);
        // Stage the tile (contiguous rows: coalesced loads).
        const T* src = x + row0 * d;
        for (int i = tid; i < rows * d; i += blockDim.x) xs[i] = src[i];
        __syncthreads();
        // ln α_c N_c(x_r) for every (row, component) pair of the tile.
        for (int q = tid; q < rows * k; q += blockDim.x) {
            const int r = q / k, c = q - (q / k) * k;
            lp[q] = component_log_prob<T, FULL>(xs + r * d, means + c * d, prec + (i64)c * d * d,
                                                log_norm[c], d);
        }
        __syncthreads();
        // Per row: ln p(x) by log-sum-exp, then responsibilities in place (a zero-density row
        // gets none; its −∞ becomes the block's worst ln p and the host reports the row).
        for (int r = tid; r < rows; r += blockDim.x) {
            T* l = lp + r * k;
            note_row_log_density(responsibilities_in_place(l, k), row0 + r, my_ll, my_worst, my_row);
        }
        __syncthreads();
        // Statistics: thread-owned entries, so no atomics and a fixed summation order. When
        // there are fewer entries than threads (small K and D), `groups` threads share an entry,
        // each over every groups-th row, and their sums are added in group order.
        if (e_total >= (int)blockDim.x) {
            for (int e = tid; e < e_total; e += blockDim.x)
                part[e] += (double)stat_entry<T, FULL>(e, 0, 1, rows, d, k, per_k, xs, lp, means);
        } else {
            const int groups = blockDim.x / e_total;
            if (tid < groups * e_total) {
                const int e = tid % e_total, g = tid / e_total;
                red_ll[tid] = (double)stat_entry<T, FULL>(e, g, groups, rows, d, k, per_k, xs, lp, means);
            }
            __syncthreads();
            if (tid < e_total) {
                double sum = 0.0;
                for (int g = 0; g < groups; ++g) sum += red_ll[g * e_total + tid];
                part[tid] += sum;
            }
        }
        __syncthreads();  // the next tile overwrites xs and lp
    }
    block_log_likelihood(my_ll, my_worst, my_row, red_ll, red_worst, red_row, block_ll, block_worst,
                         block_worst_row);
}

// Entry points, one per (covariance kind, scalar type): gmm_estep_{full,diag}_{f32,f64}.
#define GMM_ESTEP_ENTRY(NAME, T, FULL)                                                            \
    extern "C" __global__ void NAME(const T* x, i64 n, int d, int k, int tile_rows,              \
                                    const T* means, const T* prec, const T* log_norm,            \
                                    double* partials, double* block_ll, double* block_worst,     \
                                    i64* block_worst_row) {                                       \
        gmm_estep_block<T, FULL>(x, n, d, k, tile_rows, means, prec, log_norm, partials,         \
                                 block_ll, block_worst, block_worst_row);                        \
    }
GMM_ESTEP_ENTRY(gmm_estep_full_f32, float, true)
GMM_ESTEP_ENTRY(gmm_estep_diag_f32, float, false)
GMM_ESTEP_ENTRY(gmm_estep_full_f64, double, true)
GMM_ESTEP_ENTRY(gmm_estep_diag_f64, double, false)

// Entries per block of gmm_reduce_partials: 32 consecutive entries × 8 groups of blocks, so that a
// warp reads 256 contiguous bytes of one block's partial.
#define GMM_REDUCE_ENTRIES 32
#define GMM_REDUCE_GROUPS (CRABMIX_BLOCK / GMM_REDUCE_ENTRIES)

// out[e] = Σ_b partials[b·E + e] (the merge step), in an order fixed by (blocks, E) alone: thread
// (group g, entry e) adds blocks g, g + 8, g + 16, … in turn, then the 8 group sums are added in a
// fixed tree. Grid ⌈E / 32⌉ blocks of CRABMIX_BLOCK threads. Parallel over blocks as well as
// entries: a thread per entry walking 2048 partials one by one is latency-bound.
extern "C" __global__ void gmm_reduce_partials(const double* __restrict__ partials, int blocks,
                                               int e_total, double* __restrict__ out) {
    __shared__ double red[CRABMIX_BLOCK];
    const int lane = threadIdx.x % GMM_REDUCE_ENTRIES, group = threadIdx.x / GMM_REDUCE_ENTRIES;
    const int e = blockIdx.x * GMM_REDUCE_ENTRIES + lane;
    double s = 0.0;
    if (e < e_total) {
        // Four loads issued before their adds (the adds keep block order): one load in flight at
        // a time would make this loop ~blocks/8 memory latencies long.
        constexpr int AHEAD = 4;
        int b = group;
        for (; b + (AHEAD - 1) * GMM_REDUCE_GROUPS < blocks; b += AHEAD * GMM_REDUCE_GROUPS) {
            double v[AHEAD];
#pragma unroll
            for (int m = 0; m < AHEAD; ++m) v[m] = partials[(i64)(b + m * GMM_REDUCE_GROUPS) * e_total + e];
#pragma unroll
            for (int m = 0; m < AHEAD; ++m) s += v[m];
        }
        for (; b < blocks; b += GMM_REDUCE_GROUPS) s += partials[(i64)b * e_total + e];
    }
    red[threadIdx.x] = s;
    __syncthreads();
    for (int half = GMM_REDUCE_GROUPS / 2; half > 0; half >>= 1) {
        if (group < half) red[threadIdx.x] += red[threadIdx.x + half * GMM_REDUCE_ENTRIES];
        __syncthreads();
    }
    if (group == 0 && e < e_total) out[e] = red[lane];
}

// The pass's by-products merged on the device, for a resident EM loop (host/src/device/em_loop.rs);
// one block of CRABMIX_BLOCK threads. summary[0] = Σ_b block_ll[b] in device::layout::tree_sum's
// order (thread t adds blocks t, t + 256, …; then a fixed tree), which the host uses for the
// same sum, so both paths agree bit for bit; summary[1] = the smallest block_worst and flags[0]
// its row (the lowest row among ties; +∞ and −1 when no block had rows), as worst_of_blocks;
// flags[1], flags[2] = −1, 0 (no unfinished component until an M-step says otherwise).
extern "C" __global__ void gmm_pass_summary(const double* __restrict__ block_ll,
                                            const double* __restrict__ block_worst,
                                            const i64* __restrict__ block_worst_row, int blocks,
                                            double* __restrict__ summary, i64* __restrict__ flags) {
    __shared__ double red_ll[CRABMIX_BLOCK];
    __shared__ double red_worst[CRABMIX_BLOCK];
    __shared__ i64 red_row[CRABMIX_BLOCK];
    double ll = 0.0, worst = pos_inf_f64();
    i64 row = -1;
    for (int b = threadIdx.x; b < blocks; b += blockDim.x) {
        ll += block_ll[b];
        const i64 r = block_worst_row[b];
        if (r < 0) continue;
        const double w = block_worst[b];
        if (row < 0 || w < worst || (w == worst && r < row)) {
            worst = w;
            row = r;
        }
    }
    // One block (blockIdx.x = 0): the tree's "block 0" outputs are the summary's words.
    block_log_likelihood(ll, worst, row, red_ll, red_worst, red_row, summary, summary + 1, flags);
    // No M-step has run on this pass yet: no unfinished component (gmm_mstep_weights sets them).
    if (threadIdx.x == 0) {
        flags[1] = -1;
        flags[2] = 0;
    }
}
