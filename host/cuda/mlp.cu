// Batched multilayer-perceptron kernels: dense layer forward and backward, element-wise
// activations and their derivatives, MSE and BCE-with-logits loss gradients, and the Adam and RMSProp updates,
// weight clipping, and the WGAN critic's input mixing and gradient-penalty rows (host/src/device/wgan.rs).
// The reference is the kernels crate's `mlp` (kernels/src/mlp): a `Dense<T, IN, OUT>` with
// weights w[o][i] (row-major OUT × IN) and bias b[o], y = W x + b per sample; here a batch of B
// samples at once, X row-major B × IN, Y = X Wᵀ + b row-major B × OUT.
//
// Summation orders (so that f64 results agree with the crate to rounding, and every result is
// reproducible run to run and card to card):
//   forward   y[r][o]  = b[o] + (Σ_{i = 0, 1, …} w[o][i] x[r][i])          (crate: same order)
//   dX        dx[r][i] = Σ_{o = 0, 1, …} w[o][i] g[r][o]                    (crate: same order)
//   dW, db    Σ over rows in increasing order within a chunk of `chunk_rows` rows, then the
//             chunk partials added in chunk order (mlp_sum_chunks); with one chunk this is the
//             crate's sample-by-sample accumulation order exactly.
// Every thread owns its outputs (no atomics); tiles of MLP_TILE × MLP_TILE go through
// __shared__ memory; no warp intrinsics (the same source runs through the g++ shim).
#include "common.cuh"

// Tile edge of the dense kernels: blocks are MLP_TILE × MLP_TILE = 256 threads (= CRABMIX_BLOCK;
// the Rust side mirrors it as device::layout::MLP_TILE).
#define MLP_TILE 16

// Activation codes (host/src/device/launch.rs `ActivationKind`).
#define MLP_ACT_IDENTITY 0
#define MLP_ACT_RELU 1
#define MLP_ACT_LEAKY_RELU 2
#define MLP_ACT_TANH 3
#define MLP_ACT_SIGMOID 4
#define MLP_ACT_SOFTPLUS 5

// σ(x) as kernels/src/mlp/activation.rs `logistic`: 1/(1 + e⁻ˣ) for x ≥ 0, eˣ/(1 + eˣ) otherwise
// (never exp of a large positive number; NaN takes the second branch and stays NaN).
template <class T>
__device__ __forceinline__ T mlp_logistic(T x) {
    if (x >= T(0)) return T(1) / (T(1) + c_exp(-x));
    const T e = c_exp(x);
    return e / (T(1) + e);
}

// f(x) for activation `act` (the crate's Activation::apply; `slope` is leaky ReLU's).
template <class T>
__device__ __forceinline__ T mlp_act(int act, T x, T slope) {
    switch (act) {
        case MLP_ACT_RELU: return x < T(0) ? T(0) : x;
        case MLP_ACT_LEAKY_RELU: return x > T(0) ? x : slope * x;
        case MLP_ACT_TANH: return c_tanh(x);
        case MLP_ACT_SIGMOID: return mlp_logistic(x);
        case MLP_ACT_SOFTPLUS: {
            const T pos = x > T(0) ? x : T(0);
            return pos + c_log1p(c_exp(-c_abs(x)));
        }
        default: return x;
    }
}

// f′(x) (the crate's Activation::derivative; NaN maps to NaN for every activation).
template <class T>
__device__ __forceinline__ T mlp_act_derivative(int act, T x, T slope) {
    switch (act) {
        case MLP_ACT_RELU: return x > T(0) ? T(1) : (x <= T(0) ? T(0) : x);
        case MLP_ACT_LEAKY_RELU: return x > T(0) ? T(1) : (x <= T(0) ? slope : x);
        case MLP_ACT_TANH: {
            const T t = c_tanh(x);
            return T(1) - t * t;
        }
        case MLP_ACT_SIGMOID: {
            const T s = mlp_logistic(x);
            return s * (T(1) - s);
        }
        case MLP_ACT_SOFTPLUS: return mlp_logistic(x);
        default: return x != x ? x : T(1);
    }
}

// Forward of one dense layer. Grid (⌈OUT/16⌉, ⌈B/16⌉), block (16, 16): thread (tx, ty) of block
// (bx, by) computes row r = 16·by + ty, unit o = 16·bx + tx:
//   pre[r][o] = b[o] + Σ_i w[o][i] x[r][i],   y[r][o] = f(pre[r][o]).
// `pre` (the backward pass's cache) may alias nothing else; both are B × OUT.
template <class T>
__device__ void dense_forward_tile(const T* __restrict__ x, const T* __restrict__ w,
                                   const T* __restrict__ bias, int batch, int in, int out, int act,
                                   T slope, T* __restrict__ pre, T* __restrict__ y) {
    __shared__ T xs[MLP_TILE][MLP_TILE + 1];
    __shared__ T ws[MLP_TILE][MLP_TILE + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int r = blockIdx.y * MLP_TILE + ty;
    const int o = blockIdx.x * MLP_TILE + tx;
    const int w_row = blockIdx.x * MLP_TILE + ty;  // the weight row this thread stages
    T acc = 0;
    for (int i0 = 0; i0 < in; i0 += MLP_TILE) {
        const int i = i0 + tx;
        xs[ty][tx] = (r < batch && i < in) ? x[(i64)r * in + i] : T(0);
        ws[ty][tx] = (w_row < out && i < in) ? w[(i64)w_row * in + i] : T(0);
        __syncthreads();
        const int lim = min(MLP_TILE, in - i0);
        for (int q = 0; q < lim; ++q) acc += ws[tx][q] * xs[ty][q];
        __syncthreads();
    }
    if (r < batch && o < out) {
        const T p = bias[o] + acc;
        pre[(i64)r * out + o] = p;
        y[(i64)r * out + o] = mlp_act(act, p, slope);
    }
}

// ∂L/∂X of one dense layer from g = ∂L/∂pre (B × OUT): dx[r][i] = Σ_o w[o][i] g[r][o], written
// (accumulate = 0) or added to dx (accumulate = 1: the encoder's two heads share their input).
// Grid (⌈IN/16⌉, ⌈B/16⌉), block (16, 16): thread (tx, ty) → row 16·by + ty, input 16·bx + tx.
template <class T>
__device__ void dense_backward_input_tile(const T* __restrict__ g, const T* __restrict__ w, int batch,
                                          int in, int out, int accumulate, T* __restrict__ dx) {
    __shared__ T gs[MLP_TILE][MLP_TILE + 1];
    __shared__ T ws[MLP_TILE][MLP_TILE + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int r = blockIdx.y * MLP_TILE + ty;
    const int i = blockIdx.x * MLP_TILE + tx;
    T acc = 0;
    for (int o0 = 0; o0 < out; o0 += MLP_TILE) {
        gs[ty][tx] = (r < batch && o0 + tx < out) ? g[(i64)r * out + o0 + tx] : T(0);
        ws[ty][tx] = (o0 + ty < out && i < in) ? w[(i64)(o0 + ty) * in + i] : T(0);
        __syncthreads();
        const int lim = min(MLP_TILE, out - o0);
        for (int q = 0; q < lim; ++q) acc += ws[q][tx] * gs[ty][q];
        __syncthreads();
    }
    if (r < batch && i < in) {
        T* p = dx + (i64)r * in + i;
        *p = accumulate ? *p + acc : acc;
    }
}

// Per-chunk partial parameter gradients of one dense layer. Chunk c covers rows
// [c·chunk_rows, min(B, (c+1)·chunk_rows)); chunk_rows is a multiple of 16. Grid
// (⌈IN/16⌉, ⌈OUT/16⌉, chunks), block (16, 16): thread (tx, ty) → unit o = 16·by + ty, input
// i = 16·bx + tx, and it writes
//   partial_w[c][o][i] = Σ_{r in chunk, increasing} g[r][o] x[r][i]
//   partial_b[c][o]    = Σ_{r in chunk, increasing} g[r][o]      (threads of bx = 0, tx = 0)
// Every entry of both partial arrays is written by exactly one thread.
template <class T>
__device__ void dense_backward_params_tile(const T* __restrict__ x, const T* __restrict__ g, int batch,
                                           int in, int out, int chunk_rows, T* __restrict__ partial_w,
                                           T* __restrict__ partial_b) {
    __shared__ T xs[MLP_TILE][MLP_TILE + 1];
    __shared__ T gs[MLP_TILE][MLP_TILE + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int o = blockIdx.y * MLP_TILE + ty;
    const int i = blockIdx.x * MLP_TILE + tx;
    const int o_stage = blockIdx.y * MLP_TILE + tx;  // the g column this thread stages
    const int c = blockIdx.z;
    const int r_begin = c * chunk_rows;
    const int r_end = min(batch, r_begin + chunk_rows);
    const bool do_bias = blockIdx.x == 0 && tx == 0;
    T acc_w = 0, acc_b = 0;
    for (int r0 = r_begin; r0 < r_end; r0 += MLP_TILE) {
        const int r = r0 + ty;
        xs[ty][tx] = (r < r_end && i < in) ? x[(i64)r * in + i] : T(0);
        gs[ty][tx] = (r < r_end && o_stage < out) ? g[(i64)r * out + o_stage] : T(0);
        __syncthreads();
        const int lim = min(MLP_TILE, r_end - r0);
        for (int q = 0; q < lim; ++q) acc_w += gs[q][ty] * xs[q][tx];
        if (do_bias)
            for (int q = 0; q < lim; ++q) acc_b += gs[q][ty];
        __syncthreads();
    }
    if (o < out && i < in) partial_w[((i64)c * out + o) * in + i] = acc_w;
    if (do_bias && o < out) partial_b[(i64)c * out + o] = acc_b;
}

// out[e] = Σ_{c = 0, 1, …, chunks−1} partials[c·len + e], in that order (the merge of the
// per-chunk parameter gradients). One thread per entry; grid ⌈len/256⌉, block 256.
template <class T>
__device__ void sum_chunks_elem(const T* __restrict__ partials, int chunks, i64 len, T* __restrict__ out) {
    const i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= len) return;
    T s = 0;
    for (int c = 0; c < chunks; ++c) s += partials[(i64)c * len + e];
    out[e] = s;
}

// g_pre[e] = g_y[e] · f′(pre[e]) for e < len (the Act layer's backward). One thread per element.
template <class T>
__device__ void act_backward_elem(const T* __restrict__ pre, const T* __restrict__ gy, i64 len, int act,
                                  T slope, T* __restrict__ gpre) {
    const i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= len) return;
    gpre[e] = gy[e] * mlp_act_derivative(act, pre[e], slope);
}

// Mean squared error per row of N entries (kernels/src/mlp/loss.rs `mse`) and its gradient:
//   loss[r] = (1/N) Σ_i (p_ri − t_ri)²,   grad[r][i] = ((2/N)(p_ri − t_ri)) · scale
// (scale = 1/B for the batch mean). One thread per row.
template <class T>
__device__ void mse_rows(const T* __restrict__ pred, const T* __restrict__ target, i64 batch, int n,
                         T scale, T* __restrict__ loss, T* __restrict__ grad) {
    const i64 r = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= batch) return;
    const T inv_n = T(1) / T(n);
    const T two_over_n = T(2) * inv_n;
    T s = 0;
    for (int i = 0; i < n; ++i) {
        const T d = pred[r * n + i] - target[r * n + i];
        s += d * d;
        grad[r * n + i] = two_over_n * d * scale;
    }
    loss[r] = s * inv_n;
}

// Binary cross-entropy with logits per row of N entries, soft labels t ∈ [0, 1]:
//   loss[r] = norm · Σ_i [max(z, 0) − z t + ln(1 + e^{−|z|})],   grad[r][i] = ((σ(z) − t)·norm)·scale
// norm = 1/N is kernels/src/mlp/loss.rs `bce_with_logits` (PyTorch's mean); norm = 1 is the VAE's
// −ln p(x | z) (kernels/src/models/vae.rs Likelihood::BernoulliLogits). One thread per row.
template <class T>
__device__ void bce_logits_rows(const T* __restrict__ logits, const T* __restrict__ target, i64 batch,
                                int n, T norm, T scale, T* __restrict__ loss, T* __restrict__ grad) {
    const i64 r = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= batch) return;
    T s = 0;
    for (int i = 0; i < n; ++i) {
        const T z = logits[r * n + i], t = target[r * n + i];
        const T pos = z > T(0) ? z : T(0);
        s += pos - z * t + c_log1p(c_exp(-c_abs(z)));
        grad[r * n + i] = (mlp_logistic(z) - t) * norm * scale;
    }
    loss[r] = s * norm;
}

// Gaussian −ln p(x | out) per row of N entries, unit variance (learned = 0) or per-feature
// ln σ² = log_var[i] (learned = 1); the VAE's GaussianUnit and GaussianLearned likelihoods
// (kernels/src/models/vae.rs Likelihood::GaussianUnit, kernels/src/mlp/loss.rs gaussian_nll_slice):
//   unit:    loss[r] = ½ (Σ_i (m − x)² + N ln 2π),          grad[r][i] = (m − x)·scale
//   learned: loss[r] = ½ Σ_i (ln 2π + ℓ_i + (m − x)² e^{−ℓ_i}),
//            grad[r][i] = ((m − x) e^{−ℓ_i})·scale,  grad_lv_rows[r][i] = scale·½(1 − (m − x)² e^{−ℓ_i})
// (the rows of grad_lv_rows are summed in row order by mlp_sum_chunks; unit writes none of it).
// One thread per row; same operation order as the crate, so f64 agrees to rounding.
template <class T>
__device__ void gaussian_nll_rows(const T* __restrict__ mean, const T* __restrict__ target,
                                  const T* __restrict__ log_var, i64 batch, int n, int learned, T scale,
                                  T* __restrict__ loss, T* __restrict__ grad, T* __restrict__ grad_lv_rows) {
    const i64 r = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= batch) return;
    const T ln_2pi = T(1.8378770664093454836);
    const T half = T(0.5);
    T s = 0;
    for (int i = 0; i < n; ++i) {
        const T d = mean[r * n + i] - target[r * n + i];
        if (learned) {
            const T l = log_var[i];
            const T inv_var = c_exp(-l);
            const T q = d * d * inv_var;
            s += ln_2pi + l + q;
            grad[r * n + i] = d * inv_var * scale;
            grad_lv_rows[r * n + i] = scale * (half * (T(1) - q));
        } else {
            s += d * d;
            grad[r * n + i] = d * scale;
        }
    }
    loss[r] = learned ? half * s : half * (s + T(n) * ln_2pi);
}

// One Adam step per element (kernels/src/mlp/optim.rs `Adam::step`), e < len:
//   g ← g + wd·p;  m ← β₁ m + (1 − β₁) g;  v ← β₂ v + (1 − β₂) g²;
//   p ← p − step_size · m / (√v / sqrt_bc2 + eps)
// with step_size = lr / (1 − β₁ᵗ) and sqrt_bc2 = √(1 − β₂ᵗ) computed by the host (in T).
template <class T>
__device__ void adam_elem(T* __restrict__ p, const T* __restrict__ grad, T* __restrict__ m,
                          T* __restrict__ v, i64 len, T b1, T b2, T eps, T wd, T step_size,
                          T sqrt_bc2) {
    const i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= len) return;
    const T pe = p[e];
    const T g = grad[e] + wd * pe;
    const T me = b1 * m[e] + (T(1) - b1) * g;
    const T ve = b2 * v[e] + (T(1) - b2) * g * g;
    m[e] = me;
    v[e] = ve;
    p[e] = pe - step_size * me / (c_sqrt(ve) / sqrt_bc2 + eps);
}

// RMSProp per element (kernels/src/mlp/optim.rs `rmsprop_update`, PyTorch's rule), e < len:
//   g ← g + wd·p;  s ← α s + (1 − α) g²;  p ← p − lr · g / (√s + eps)
template <class T>
__device__ void rmsprop_elem(T* __restrict__ p, const T* __restrict__ grad, T* __restrict__ s, i64 len,
                             T lr, T alpha, T eps, T wd) {
    const i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= len) return;
    const T pe = p[e];
    const T g = grad[e] + wd * pe;
    const T se = alpha * s[e] + (T(1) - alpha) * g * g;
    s[e] = se;
    p[e] = pe - lr * g / (c_sqrt(se) + eps);
}

// Weight clipping (kernels/src/mlp/constraint.rs `clip_slice`): p ← min(max(p, −c), c), e < len;
// NaN stays NaN (both comparisons false), as in the crate.
template <class T>
__device__ void clip_elem(T* __restrict__ p, i64 len, T c) {
    const i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= len) return;
    const T v = p[e];
    if (v > c) p[e] = c;
    else if (v < -c) p[e] = -c;
}

// acc[e] ← acc[e] + a[e], e < len (the penalty's weight gradients added to the critic's).
template <class T>
__device__ void add_elem(T* __restrict__ acc, const T* __restrict__ a, i64 len) {
    const i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= len) return;
    acc[e] = acc[e] + a[e];
}

// The WGAN critic's inputs for `rows` rows of N features (kernels/src/models/wgan_net.rs
// `penalty_batch`): pairs interleaves real and fake rows (real_0, fake_0, real_1, …; 2·rows × N)
// and x̂_r = t_r x_r + (1 − t_r) f_r (rows × N), in the crate's operation order. One thread per
// entry e = r·N + i.
template <class T>
__device__ void wgan_mix_elem(const T* __restrict__ real, const T* __restrict__ fake, const T* __restrict__ t,
                              i64 rows, int n, T* __restrict__ pairs, T* __restrict__ xhat) {
    const i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= rows * n) return;
    const i64 r = e / n;
    const int i = (int)(e - r * n);
    const T x = real[e], f = fake[e], tr = t[r];
    pairs[(2 * r) * n + i] = x;
    pairs[(2 * r + 1) * n + i] = f;
    xhat[e] = tr * x + (T(1) - tr) * f;
}

// The gradient penalty per row of g = ∇ₓD(x̂_r) (rows × N; kernels/src/models/wgan.rs
// `penalty_scale`): ‖g‖ = √(Σ_i g_i²) in index order, P_r = λ (‖g‖ − 1)², and g is scaled in
// place to r = weight · 2λ (‖g‖ − 1) g / ‖g‖ (0 when ‖g‖ = 0: torch's subgradient).
// stats[r] = P_r, stats[rows + r] = ‖g‖. One thread per row.
template <class T>
__device__ void wgan_penalty_rows(T* __restrict__ g, i64 rows, int n, T lambda, T weight, T* __restrict__ stats) {
    const i64 r = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    T* row = g + r * n;
    T sq = 0;
    for (int i = 0; i < n; ++i) sq += row[i] * row[i];
    const T norm = c_sqrt(sq);
    const T excess = norm - T(1);
    const T scale = norm > T(0) ? weight * T(2) * lambda * excess / norm : T(0);
    for (int i = 0; i < n; ++i) row[i] *= scale;
    stats[r] = lambda * excess * excess;
    stats[rows + r] = norm;
}

#define MLP_ENTRIES(SUFFIX, T)                                                                        \
    extern "C" __global__ void dense_forward_##SUFFIX(const T* x, const T* w, const T* b, int batch, \
                                                     int in, int out, int act, T slope, T* pre,      \
                                                     T* y) {                                          \
        dense_forward_tile<T>(x, w, b, batch, in, out, act, slope, pre, y);                           \
    }                                                                                                 \
    extern "C" __global__ void dense_backward_input_##SUFFIX(const T* g, const T* w, int batch,      \
                                                            int in, int out, int accumulate, T* dx) { \
        dense_backward_input_tile<T>(g, w, batch, in, out, accumulate, dx);                           \
    }                                                                                                 \
    extern "C" __global__ void dense_backward_params_##SUFFIX(const T* x, const T* g, int batch,     \
                                                             int in, int out, int chunk_rows,        \
                                                             T* partial_w, T* partial_b) {           \
        dense_backward_params_tile<T>(x, g, batch, in, out, chunk_rows, partial_w, partial_b);        \
    }                                                                                                 \
    extern "C" __global__ void mlp_sum_chunks_##SUFFIX(const T* partials, int chunks, i64 len,       \
                                                      T* out) {                                       \
        sum_chunks_elem<T>(partials, chunks, len, out);                                               \
    }                                                                                                 \
    extern "C" __global__ void act_backward_##SUFFIX(const T* pre, const T* gy, i64 len, int act,    \
                                                    T slope, T* gpre) {                               \
        act_backward_elem<T>(pre, gy, len, act, slope, gpre);                                         \
    }                                                                                                 \
    extern "C" __global__ void mse_rows_##SUFFIX(const T* pred, const T* target, i64 batch, int n,   \
                                                T scale, T* loss, T* grad) {                          \
        mse_rows<T>(pred, target, batch, n, scale, loss, grad);                                       \
    }                                                                                                 \
    extern "C" __global__ void bce_logits_rows_##SUFFIX(const T* logits, const T* target, i64 batch, \
                                                       int n, T norm, T scale, T* loss, T* grad) {    \
        bce_logits_rows<T>(logits, target, batch, n, norm, scale, loss, grad);                        \
    }                                                                                                 \
    extern "C" __global__ void gaussian_nll_rows_##SUFFIX(const T* mean, const T* target,           \
                                                         const T* log_var, i64 batch, int n,          \
                                                         int learned, T scale, T* loss, T* grad,      \
                                                         T* grad_lv_rows) {                           \
        gaussian_nll_rows<T>(mean, target, log_var, batch, n, learned, scale, loss, grad,             \
                             grad_lv_rows);                                                           \
    }                                                                                                 \
    extern "C" __global__ void rmsprop_step_##SUFFIX(T* p, const T* grad, T* s, i64 len, T lr,      \
                                                    T alpha, T eps, T wd) {                           \
        rmsprop_elem<T>(p, grad, s, len, lr, alpha, eps, wd);                                         \
    }                                                                                                 \
    extern "C" __global__ void clip_params_##SUFFIX(T* p, i64 len, T c) { clip_elem<T>(p, len, c); } \
    extern "C" __global__ void add_into_##SUFFIX(T* acc, const T* a, i64 len) {                      \
        add_elem<T>(acc, a, len);                                                                     \
    }                                                                                                 \
    extern "C" __global__ void wgan_mix_##SUFFIX(const T* real, const T* fake, const T* t, i64 rows, \
                                                int n, T* pairs, T* xhat) {                           \
        wgan_mix_elem<T>(real, fake, t, rows, n, pairs, xhat);                                        \
    }                                                                                                 \
    extern "C" __global__ void wgan_penalty_##SUFFIX(T* g, i64 rows, int n, T lambda, T weight,      \
                                                    T* stats) {                                       \
        wgan_penalty_rows<T>(g, rows, n, lambda, weight, stats);                                      \
    }                                                                                                 \
    extern "C" __global__ void adam_step_##SUFFIX(T* p, const T* grad, T* m, T* v, i64 len, T b1,    \
                                                 T b2, T eps, T wd, T step_size, T sqrt_bc2) {        \
        adam_elem<T>(p, grad, m, v, len, b1, b2, eps, wd, step_size, sqrt_bc2);                       \
    }
MLP_ENTRIES(f32, float)
MLP_ENTRIES(f64, double)
