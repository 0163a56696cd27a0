// E-step kernels specialized for one D (and K) at run time: the host appends an instantiation
// line (GMM_ESTEP_REGS_ENTRY / GMM_ESTEP_TILED_ENTRY) for the shape it fits and NVRTC compiles
// just that, so loops over D and K unroll and per-sample vectors live in registers. They write the
// generic kernel's per-block partial layout (gmm_estep.cu: per component n_k, s1_k, s2_k packed
// upper triangle or diagonal, in double) and its block_ll / block_worst / block_worst_row, so the
// reduction, the pass summary and the host merge are shared; host/src/device/layout.rs chooses the
// kernel and the launch from (N, K, D, T) alone, which keeps every sum's order reproducible.
//
//  * registers (`gmm_estep_regs_*`): for small shapes, E = K·(1 + D + P) in at most 64
//    accumulator registers (E·sizeof(T)/4). Each thread walks rows n = global thread id,
//    + grid·block, … (RPI of them loaded per step) and accumulates every statistic in registers
//    (type T), then the block adds its threads' sums in a fixed tree (double) and writes its
//    partial. No shared tile, no per-tile barrier.
//  * tiled (`gmm_estep_tiled_full_*`): full covariances with K·B(B+1)/2 ≤ 256, B = ⌈D/4⌉, and U in
//    ≤ 24 KiB. Per tile of rows: (A) thread (k, row group) computes ln α_k N_k for RPT rows at once
//    from centred samples in registers and U_k's columns in shared memory (padded to 4-vectors:
//    one U load feeds RPT multiply-adds per value); (B) one thread per row turns them into
//    responsibilities; (C) thread (k, 4 × 4 block of the upper triangle of s2_k) accumulates its
//    products (on diagonal blocks the block's upper triangle and its 4 entries of s1_k; block
//    (0, 0) also n_k) over the tile's rows in registers, then adds them to its own entries of the
//    block partial (double): each entry has one owner, so no atomics and a fixed order.
//  The hot loops' SASS instruction counts are held in bench/results/sass-sm_90.json
//  (scripts/sass_report.py).
#include "gmm.cuh"

// Index of (i, j), i ≤ j, in the packed upper triangle, rows of length D − i (the partials').
#define GMM_PACKED(i, j, D) ((i) * (D) - (i) * ((i) - 1) / 2 + ((j) - (i)))
// Start of column j of U in the tiled kernel's shared copy: column j (U_0j … U_jj) padded to
// 4·⌈(j + 1)/4⌉ values, so that every column starts 16-byte aligned and phase A reads it four
// values per vector load. GMM_UCOL(D) is the padded size of one U_k (device::layout mirrors it).
#define GMM_UCOL(j) (4 * ((j) / 4 + 1) * (2 * ((j) / 4) + (j) % 4))

// ---------------------------------------------------------------------------------------------
// Registers kernel.

// One row of the registers kernel: its K log-probabilities from the shared model, its
// responsibilities, then every statistic added to the thread's accumulators (acc, E of them,
// per component n_k, s1_k, s2_k packed) and ln p(x) to its running sum and worst row.
template <class T, bool FULL, int D, int K>
__device__ __forceinline__ void regs_row(const T* xr, i64 r, const T* s_mu, const T* s_u, const T* s_ln,
                                         T* acc, double& my_ll, double& my_worst, i64& my_row) {
    constexpr int P = FULL ? D * (D + 1) / 2 : D;
    constexpr int PER_K = 1 + D + P;
    T lp[K];
#pragma unroll
    for (int c = 0; c < K; ++c) {
        T maha = 0;
        if (FULL) {
#pragma unroll
            for (int j = 0; j < D; ++j) {
                T y = 0;
#pragma unroll
                for (int i = 0; i <= j; ++i) y += s_u[c * P + GMM_PACKED(i, j, D)] * (xr[i] - s_mu[c * D + i]);
                maha += y * y;
            }
        } else {
#pragma unroll
            for (int i = 0; i < D; ++i) {
                const T y = (xr[i] - s_mu[c * D + i]) * s_u[c * P + i];
                maha += y * y;
            }
        }
        lp[c] = s_ln[c] - T(0.5) * maha;
    }
    note_row_log_density(responsibilities_in_place(lp, K), r, my_ll, my_worst, my_row);
#pragma unroll
    for (int c = 0; c < K; ++c) {
        const T rc = lp[c];
        T dev[D];
#pragma unroll
        for (int i = 0; i < D; ++i) dev[i] = xr[i] - s_mu[c * D + i];
        acc[c * PER_K] += rc;
#pragma unroll
        for (int i = 0; i < D; ++i) {
            const T w = rc * dev[i];
            acc[c * PER_K + 1 + i] += w;
            if (FULL) {
#pragma unroll
                for (int j = i; j < D; ++j) acc[c * PER_K + 1 + D + GMM_PACKED(i, j, D)] += w * dev[j];
            } else {
                acc[c * PER_K + 1 + D + i] += w * dev[i];
            }
        }
    }
}

template <class T, bool FULL, int D, int K, int RPI>
__device__ void gmm_estep_regs_block(const T* __restrict__ x, i64 n, const T* __restrict__ means,
                                     const T* __restrict__ prec, const T* __restrict__ log_norm,
                                     double* __restrict__ partials, double* __restrict__ block_ll,
                                     double* __restrict__ block_worst, i64* __restrict__ block_worst_row) {
    constexpr int P = FULL ? D * (D + 1) / 2 : D;
    constexpr int PER_K = 1 + D + P;
    constexpr int E = K * PER_K;
    constexpr int CHUNK = 8;  // statistics reduced per round of the block tree
    __shared__ T s_mu[K * D];
    __shared__ T s_u[K * P];  // U_k's upper triangle packed (GMM_PACKED), or its diagonal
    __shared__ T s_ln[K];
    __shared__ double red[CHUNK * CRABMIX_BLOCK];
    __shared__ double red_worst[CRABMIX_BLOCK];
    __shared__ i64 red_row[CRABMIX_BLOCK];
    const int tid = threadIdx.x;
    for (int q = tid; q < K * D; q += blockDim.x) s_mu[q] = means[q];
    for (int q = tid; q < K * D * D; q += blockDim.x) {
        const int c = q / (D * D), ij = q - c * D * D, i = ij / D, j = ij - i * D;
        if (FULL ? i <= j : i == j) s_u[c * P + (FULL ? GMM_PACKED(i, j, D) : i)] = prec[q];
    }
    for (int q = tid; q < K; q += blockDim.x) s_ln[q] = log_norm[q];
    __syncthreads();

    T acc[E];
#pragma unroll
    for (int e = 0; e < E; ++e) acc[e] = 0;
    double my_ll = 0.0, my_worst = pos_inf_f64();
    i64 my_row = -1;
    const i64 stride = (i64)gridDim.x * blockDim.x;
    // A thread's rows are r, r + stride, r + 2·stride, … in this order whatever RPI is; RPI of
    // them are loaded before the first is used, so RPI loads per thread are in flight instead of
    // one (the pass is latency-bound otherwise), and every sum is the same as with RPI = 1. Whole
    // steps check no row against n; the last, partial step checks each.
    i64 r0 = (i64)blockIdx.x * blockDim.x + tid;
    for (; r0 + (RPI - 1) * stride < n; r0 += RPI * stride) {
        T xs[RPI][D];
#pragma unroll
        for (int m = 0; m < RPI; ++m)
#pragma unroll
            for (int i = 0; i < D; ++i) xs[m][i] = x[(r0 + m * stride) * D + i];
#pragma unroll
        for (int m = 0; m < RPI; ++m)
            regs_row<T, FULL, D, K>(xs[m], r0 + m * stride, s_mu, s_u, s_ln, acc, my_ll, my_worst, my_row);
    }
    if (RPI > 1 && r0 < n) {
        T xs[RPI][D];
#pragma unroll
        for (int m = 0; m < RPI; ++m) {
            const i64 r = r0 + m * stride;
#pragma unroll
            for (int i = 0; i < D; ++i) xs[m][i] = r < n ? x[r * D + i] : T(0);
        }
#pragma unroll
        for (int m = 0; m < RPI; ++m)
            if (r0 + m * stride < n)
                regs_row<T, FULL, D, K>(xs[m], r0 + m * stride, s_mu, s_u, s_ln, acc, my_ll, my_worst, my_row);
    }
    // Block sums: CHUNK statistics per round through a fixed tree over the threads, in double.
    double* part = partials + (i64)blockIdx.x * E;
#pragma unroll
    for (int e0 = 0; e0 < E; e0 += CHUNK) {
#pragma unroll
        for (int q = 0; q < CHUNK; ++q)
            red[q * CRABMIX_BLOCK + tid] = e0 + q < E ? (double)acc[e0 + q] : 0.0;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s >>= 1) {
            if (tid < s)
                for (int q = 0; q < CHUNK; ++q) red[q * CRABMIX_BLOCK + tid] += red[q * CRABMIX_BLOCK + tid + s];
            __syncthreads();
        }
        if (tid < CHUNK && e0 + tid < E) part[e0 + tid] = red[tid * CRABMIX_BLOCK];
        __syncthreads();
    }
    block_log_likelihood(my_ll, my_worst, my_row, red, red_worst, red_row, block_ll, block_worst,
                         block_worst_row);
}

// gmm_estep_regs_{full,diag}_d{D}_k{K}_r{RPI}_b{B}_{f32,f64}(x, n, means, prec, log_norm,
// partials, block_ll, block_worst, block_worst_row); grid ≤ device::layout::REGS_MAX_BLOCKS,
// CRABMIX_BLOCK threads; RPI rows loaded per step; at most 65536 / (256·B) registers, so that B
// blocks share an SM.
#define GMM_ESTEP_REGS_ENTRY(T, TN, FULL, KIND, D, K, RPI, B)                                     \
    extern "C" __global__ void __launch_bounds__(CRABMIX_BLOCK, B)                                \
        gmm_estep_regs_##KIND##_d##D##_k##K##_r##RPI##_b##B##_##TN(                               \
            const T* x, i64 n, const T* means, const T* prec, const T* log_norm, double* partials, \
            double* block_ll, double* block_worst, i64* block_worst_row) {                        \
        gmm_estep_regs_block<T, FULL, D, K, RPI>(x, n, means, prec, log_norm, partials, block_ll, \
                                                 block_worst, block_worst_row);                   \
    }

// ---------------------------------------------------------------------------------------------
// Tiled kernel (full covariances).

// Phase C of the tiled kernel for one item: adds the tile's rows, in order, to block (bi, bj)
// of s2_kc, Σ_r r_kc (x_r − μ_kc)_[4bi, 4bi+4) (x_r − μ_kc)_[4bj, 4bj+4)ᵀ, from the centred tile
// values; a diagonal block (DIAG, bi = bj) loads and centres one 4-vector, keeps only its upper
// triangle, and also adds s1_kc's 4 entries (and n_kc for block (0, 0)). Each partial entry
// (pk = component kc's) has one owner: no atomics, a fixed order.
template <class T, int D, int XS, bool DIAG>
__device__ __forceinline__ void tiled_stats_block(const T* xs, const T* lp, int lps, int rows, int kc, int bi,
                                                  int bj, const T amu[4], const T bmu[4], double* pk) {
    T s2[4][4], s1[4], nk = 0;
#pragma unroll
    for (int q = 0; q < 4; ++q) {
        s1[q] = 0;
#pragma unroll
        for (int p = 0; p < 4; ++p) s2[q][p] = 0;
    }
#pragma unroll 4
    for (int r = 0; r < rows; ++r) {
        const T rr = lp[r * lps + kc];
        const T* xr = xs + r * XS;  // 16-byte aligned: XS and 4·bi are multiples of 4
        T a[4], b[4];
        load4(xr + 4 * bi, a);
        if (!DIAG) load4(xr + 4 * bj, b);
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            a[q] -= amu[q];
            b[q] = rr * (DIAG ? a[q] : b[q] - bmu[q]);
        }
#pragma unroll
        for (int q = 0; q < 4; ++q)
#pragma unroll
            for (int p = DIAG ? q : 0; p < 4; ++p) s2[q][p] += a[q] * b[p];
        if (DIAG) {
            nk += rr;
#pragma unroll
            for (int q = 0; q < 4; ++q) s1[q] += b[q];
        }
    }
#pragma unroll
    for (int q = 0; q < 4; ++q) {
        const int i = 4 * bi + q;
#pragma unroll
        for (int p = DIAG ? q : 0; p < 4; ++p) {
            const int j = 4 * bj + p;
            if (i < D && j < D) pk[1 + D + GMM_PACKED(i, j, D)] += (double)s2[q][p];
        }
        if (DIAG && i < D) pk[1 + i] += (double)s1[q];
    }
    if (DIAG && bi == 0) pk[0] += (double)nk;
}

// RPT: rows per thread in phase A, whose centred rows (RPT·D values) stay in registers; the host
// picks it (device::layout: 4, 2 or 1 as D·sizeof(T)/4 ≤ 16, ≤ 32 or more) and makes tile_rows a
// multiple of 4.
template <class T, int D, int RPT>
__device__ void gmm_estep_tiled_full_block(const T* __restrict__ x, i64 n, int k, int tile_rows,
                                           const T* __restrict__ means, const T* __restrict__ prec,
                                           const T* __restrict__ log_norm, double* __restrict__ partials,
                                           double* __restrict__ block_ll, double* __restrict__ block_worst,
                                           i64* __restrict__ block_worst_row) {
    constexpr int P = D * (D + 1) / 2;
    constexpr int B = (D + 3) / 4;         // 4-wide column blocks
    constexpr int XS = 4 * B + 4;          // tile row stride: 16-byte aligned rows; the +4 skews banks
    constexpr int NBP = B * (B + 1) / 2;   // blocks of the upper triangle
    constexpr int PER_K = 1 + D + P;
    CRABMIX_DYN_SHARED(T, smem);
    __shared__ double red_ll[CRABMIX_BLOCK];
    __shared__ double red_worst[CRABMIX_BLOCK];
    __shared__ i64 red_row[CRABMIX_BLOCK];
    const int lps = k | 1;                 // odd row stride of the log-probabilities: no conflicts
    T* xs = smem;                          // tile_rows × XS samples, columns ≥ D zero
    T* lp = xs + tile_rows * XS;           // tile_rows × lps log-probabilities → responsibilities
    constexpr int PU = GMM_UCOL(D);        // padded U_k
    // Phase A's mean and U reads: vector loads in f32, for U only at RPT = 4 (then each U value
    // feeds 4 multiply-adds); scalar ones otherwise, since ptxas spilled the 4-value vectors held
    // beside 2 centred rows (f32, D = 32; and at 3 blocks per SM, D = 16) or in f64.
    constexpr bool VEC_MU = sizeof(T) == 4;
    constexpr bool VEC_U = sizeof(T) == 4 && RPT == 4;
    T* uc = lp + tile_rows * lps;          // K × PU: U_k by columns (GMM_UCOL), zero-padded
    T* mu = uc + k * PU;                   // K × 4B means, zero-padded
    const int tid = threadIdx.x;
    const int e_total = k * PER_K;
    double* part = partials + (i64)blockIdx.x * e_total;
    for (int e = tid; e < e_total; e += blockDim.x) part[e] = 0.0;
    for (int q = tid; q < k * D * 4 * B; q += blockDim.x) {
        const int c = q / (D * 4 * B), ji = q - c * D * 4 * B, j = ji / (4 * B), i = ji - j * 4 * B;
        if (i < 4 * (j / 4 + 1)) uc[c * PU + GMM_UCOL(j) + i] = i <= j ? prec[c * D * D + i * D + j] : T(0);
    }
    for (int q = tid; q < k * 4 * B; q += blockDim.x) {
        const int c = q / (4 * B), i = q - c * 4 * B;
        mu[q] = i < D ? means[c * D + i] : T(0);
    }
    // Phase C's item: component kc, block (bi, bj), bi ≤ bj. The K·B diagonal blocks come first
    // (kc = tid / B), then the K·B(B − 1)/2 others (per component, row by row), so that at
    // D = K = 16 each warp takes one kind and runs one of tiled_stats_block's two loops.
    constexpr int NOD = B * (B - 1) / 2;   // off-diagonal blocks per component
    const bool c_active = tid < k * NBP;
    const bool c_diag = tid < k * B;
    int kc = 0, bi = 0, bj = 0;            // idle threads keep block (0, 0) of component 0, unused
    if (c_diag) {
        kc = tid / B;
        bi = bj = tid - kc * B;
    } else if (c_active) {
        const int t = tid - k * B;
        kc = t / (NOD > 0 ? NOD : 1);
        int q = t - kc * NOD;
        while (q >= B - 1 - bi) {
            q -= B - 1 - bi;
            ++bi;
        }
        bj = bi + 1 + q;
    }
    __syncthreads();
    // Phase C's means: held across tiles in f32; read per tile in f64, where holding them would
    // take 16 of the registers phases A and B need (ptxas spills otherwise).
    constexpr bool HOLD_MEANS = sizeof(T) == 4;
    T amu[4], bmu[4];
    if (HOLD_MEANS) {
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            amu[q] = mu[kc * 4 * B + 4 * bi + q];
            bmu[q] = mu[kc * 4 * B + 4 * bj + q];
        }
    }
    const int groups = tile_rows / RPT;
    double my_ll = 0.0, my_worst = pos_inf_f64();
    i64 my_row = -1;
    const i64 tiles = (n + tile_rows - 1) / tile_rows;
    // Tile loads: 4 values per load when D is a multiple of 4 and x 16-byte aligned (then every
    // row is); the padding columns D … XS − 1 are zeroed once, here, and never written again.
    const bool vec_rows = D % 4 == 0 && reinterpret_cast<unsigned long long>(x) % 16 == 0;
    if (vec_rows)
        for (int q = tid; q < tile_rows * (XS - D); q += blockDim.x) {
            const int r = q / (XS - D);
            xs[r * XS + D + (q - r * (XS - D))] = T(0);
        }
    for (i64 t = blockIdx.x; t < tiles; t += gridDim.x) {
        const i64 row0 = t * tile_rows;
        const int rows = (int)min((i64)tile_rows, n - row0);
        const T* src = x + row0 * D;
        if (vec_rows) {
            constexpr int D4 = D / 4 > 0 ? D / 4 : 1;
            for (int q = tid; q < tile_rows * D4; q += blockDim.x) {
                const int r = q / D4, i = 4 * (q - r * D4);
                T v[4] = {T(0), T(0), T(0), T(0)};
                if (r < rows) load4(src + r * D + i, v);
                store4(xs + r * XS + i, v);
            }
        } else {
            for (int q = tid; q < tile_rows * XS; q += blockDim.x) {
                const int r = q / XS, i = q - (q / XS) * XS;
                xs[q] = (r < rows && i < D) ? src[r * D + i] : T(0);
            }
        }
        __syncthreads();
        // (A) ln α_c N_c(x) for rows g, g + groups, …: consecutive threads share c, so U loads
        // are broadcasts.
        for (int item = tid; item < k * groups; item += blockDim.x) {
            const int c = item / groups, g = item - (item / groups) * groups;
            T xt[RPT][D];
#pragma unroll
            for (int b = 0; b < B; ++b) {
                T m4[4];
                load4_or_scalars<VEC_MU>(mu + c * 4 * B + 4 * b, m4, 4);
#pragma unroll
                for (int m = 0; m < RPT; ++m)
#pragma unroll
                    for (int q = 0; q < 4; ++q)
                        if (4 * b + q < D) xt[m][4 * b + q] = xs[(g + m * groups) * XS + 4 * b + q] - m4[q];
            }
            T maha[RPT];
#pragma unroll
            for (int m = 0; m < RPT; ++m) maha[m] = 0;
            const T* u = uc + c * PU;
#pragma unroll
            for (int j = 0; j < D; ++j) {
                T y[RPT];
#pragma unroll
                for (int m = 0; m < RPT; ++m) y[m] = 0;
#pragma unroll
                for (int i0 = 0; i0 <= j; i0 += 4) {
                    T u4[4];
                    load4_or_scalars<VEC_U>(u + GMM_UCOL(j) + i0, u4, j + 1 - i0);
#pragma unroll
                    for (int q = 0; q < 4; ++q)
                        if (i0 + q <= j)
#pragma unroll
                            for (int m = 0; m < RPT; ++m) y[m] += u4[q] * xt[m][i0 + q];
                }
#pragma unroll
                for (int m = 0; m < RPT; ++m) maha[m] += y[m] * y[m];
            }
            const T ln = log_norm[c];
#pragma unroll
            for (int m = 0; m < RPT; ++m) lp[(g + m * groups) * lps + c] = ln - T(0.5) * maha[m];
        }
        __syncthreads();
        // (B) responsibilities, one thread per row.
        for (int r = tid; r < rows; r += blockDim.x) {
            T* l = lp + r * lps;
            note_row_log_density(responsibilities_in_place(l, k), row0 + r, my_ll, my_worst, my_row);
        }
        __syncthreads();
        // (C) statistics: a 4 × 4 block of s2_kc (and s1_kc, n_kc on the diagonal) per thread.
        if (c_active) {
            if (!HOLD_MEANS) {
#pragma unroll
                for (int q = 0; q < 4; ++q) {
                    amu[q] = mu[kc * 4 * B + 4 * bi + q];
                    bmu[q] = mu[kc * 4 * B + 4 * bj + q];
                }
            }
            double* pk = part + kc * PER_K;
            if (c_diag)
                tiled_stats_block<T, D, XS, true>(xs, lp, lps, rows, kc, bi, bj, amu, bmu, pk);
            else
                tiled_stats_block<T, D, XS, false>(xs, lp, lps, rows, kc, bi, bj, amu, bmu, pk);
        }
        __syncthreads();  // the next tile overwrites xs and lp
    }
    block_log_likelihood(my_ll, my_worst, my_row, red_ll, red_worst, red_row, block_ll, block_worst,
                         block_worst_row);
}

// gmm_estep_tiled_full_d{D}_r{RPT}_b{B}_{f32,f64}(x, n, k, tile_rows, means, prec, log_norm,
// partials, block_ll, block_worst, block_worst_row): at most 65536 / (256·B) registers, so that
// B blocks share an SM.
#define GMM_ESTEP_TILED_ENTRY(T, TN, D, RPT, B)                                                        \
    extern "C" __global__ void __launch_bounds__(CRABMIX_BLOCK, B)                                    \
        gmm_estep_tiled_full_d##D##_r##RPT##_b##B##_##TN(                                             \
            const T* x, i64 n, int k, int tile_rows, const T* means, const T* prec, const T* log_norm, \
            double* partials, double* block_ll, double* block_worst, i64* block_worst_row) {          \
        gmm_estep_tiled_full_block<T, D, RPT>(x, n, k, tile_rows, means, prec, log_norm, partials,    \
                                              block_ll, block_worst, block_worst_row);                \
    }

// The instances the CI spill check compiles (scripts/nvrtc_check.py defines the macro): the
// benchmark shapes with the variants the GPU benchmark compares, and the largest E or D of each
// kernel. At run time the host appends its own.
#ifdef CRABMIX_CHECK_INSTANCES
GMM_ESTEP_REGS_ENTRY(float, f32, true, full, 2, 4, 4, 2)
GMM_ESTEP_REGS_ENTRY(float, f32, true, full, 2, 4, 2, 2)
GMM_ESTEP_REGS_ENTRY(float, f32, true, full, 2, 4, 1, 1)
GMM_ESTEP_REGS_ENTRY(float, f32, false, diag, 2, 4, 4, 2)
GMM_ESTEP_REGS_ENTRY(double, f64, true, full, 2, 4, 2, 1)
GMM_ESTEP_REGS_ENTRY(double, f64, true, full, 2, 2, 4, 2)
GMM_ESTEP_REGS_ENTRY(float, f32, true, full, 1, 8, 4, 2)
GMM_ESTEP_REGS_ENTRY(float, f32, true, full, 3, 6, 2, 1)
GMM_ESTEP_TILED_ENTRY(float, f32, 16, 4, 2)
GMM_ESTEP_TILED_ENTRY(float, f32, 16, 2, 3)
GMM_ESTEP_TILED_ENTRY(double, f64, 16, 2, 2)
GMM_ESTEP_TILED_ENTRY(float, f32, 8, 4, 2)
GMM_ESTEP_TILED_ENTRY(float, f32, 32, 2, 2)
#endif
