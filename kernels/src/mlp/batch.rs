//! The runtime-sized MLP core: batched dense forward/backward over flat, caller-owned slices, at
//! any shape an [`Architecture`] describes (the const-generic [`Dense`](super::Dense) /
//! [`Act`](super::Act) chains are the fixed-size form of the same arithmetic; the two agree bit
//! for bit, see the tests).
//!
//! Buffers, all row-major, all owned by the caller (lengths from [`Architecture`]):
//!
//! | slice     | length                  | contents                                              |
//! |-----------|-------------------------|-------------------------------------------------------|
//! | `params`  | `params_len()`          | per layer W_l (out×in) then b_l (see [`arch`](super::arch)) |
//! | `wt`      | `weights_len()`         | per layer W_lᵀ (in×out), from [`transpose_weights`]   |
//! | `x`       | rows·inputs             | one sample per row                                    |
//! | `cache`   | `cache_len(rows)`       | per layer z_l = W_l a_{l−1} + b_l, then a_l = f_l(z_l) |
//! | `grads`   | `params_len()`          | ∂L/∂θ, *added into* (zero it to start a minibatch)    |
//! | `work`    | `work_len(rows)`        | backward scratch                                      |
//!
//! Why W and Wᵀ: the forward pass runs i-k-j (for each row, for each input k, y += x_k · Wᵀ_k),
//! whose inner loop walks contiguous outputs and vectorizes while every output keeps its own sum
//! in input order k = 0, 1, … — exactly the order of the fixed-size dot product, so the results
//! are identical. Backward walks W row by row (∂L/∂x += W_o g_o and ∂L/∂W_o += g_o x, both
//! contiguous). Transposing costs one pass over the weights; do it once per optimizer step and
//! share `wt` read-only between threads.
//!
//! Threads: split a minibatch into chunks of rows, give each chunk its own `cache`, `work` and a
//! zeroed gradient slice, then [`add_into`] the partial gradients in chunk order. With chunk
//! boundaries that do not depend on the thread count, neither does the result.
//!
//! NaN contract: values are not checked; NaN/∞ propagate. Only lengths are checked
//! (`ShapeMismatch` naming the slice), before anything is written.

use super::arch::{ActivationKind, Architecture, check_len, check_min_len};
use super::init::{Init, fill_weights};
use crate::{Error, Real, Result};
use rand_core::Rng;

/// Writes W_lᵀ (in×out, row-major) of every layer of `params` into `wt`.
///
/// Errors: `ShapeMismatch` when `params` or `wt` has the wrong length.
pub fn transpose_weights<T: Real>(arch: &Architecture<'_, T>, params: &[T], wt: &mut [T]) -> Result<()> {
    check_len("params", params, arch.params_len())?;
    check_len("transposed weights", wt, arch.weights_len())?;
    let (mut p, mut t) = (params, &mut wt[..]);
    for spec in arch.layers() {
        let (w, rest) = p.split_at(spec.outputs * spec.inputs);
        p = &rest[spec.outputs..];
        let (wt_l, rest) = core::mem::take(&mut t).split_at_mut(spec.outputs * spec.inputs);
        t = rest;
        for (o, row) in w.chunks_exact(spec.inputs).enumerate() {
            for (dst, v) in wt_l.iter_mut().skip(o).step_by(spec.outputs).zip(row) {
                *dst = *v;
            }
        }
    }
    Ok(())
}

/// Rows per register tile of the batched kernels (4 × 8 accumulators fit the 16 vector registers
/// of SSE2/AVX2 for f32 with room for the loads; 6 rows or 16 columns measured slower).
const MR: usize = 4;
/// Columns (outputs in forward, inputs in backward) per register tile.
const NB: usize = 8;

/// y = W x + b for every row of `x` (rows × `inputs`) into `y` (rows × `outputs`), with
/// W given transposed (`wt`, inputs × outputs). Per output: acc = Σ_k x_k W[o][k] in order
/// k = 0, 1, …, then y = b + acc. Lengths are the caller's contract (zip stops at the shortest).
///
/// Blocks of MR rows × NB outputs keep their accumulators in registers over the whole k loop
/// (each Wᵀ row is loaded once per MR rows); the summation order per output is unchanged, so
/// the result equals the row-by-row loop bit for bit.
#[inline]
pub(crate) fn dense_forward<T: Real>(wt: &[T], b: &[T], x: &[T], y: &mut [T], inputs: usize, outputs: usize) {
    let rows = (x.len() / inputs).min(y.len() / outputs);
    let full = rows / MR * MR;
    let (x_main, x_rest) = x.split_at(full * inputs);
    let (y_main, y_rest) = y.split_at_mut(full * outputs);
    let o_full = outputs / NB * NB;
    for (xb, yb) in x_main.chunks_exact(MR * inputs).zip(y_main.chunks_exact_mut(MR * outputs)) {
        for o0 in (0..o_full).step_by(NB) {
            let mut acc = [[T::ZERO; NB]; MR];
            for (k, wr) in wt.chunks_exact(outputs).enumerate() {
                let Some(Ok(w)) = wr.get(o0..o0 + NB).map(<&[T; NB]>::try_from) else { break };
                for r in 0..MR {
                    let xk = xb[r * inputs + k];
                    for (a, wj) in acc[r].iter_mut().zip(w) {
                        *a = a.mul_add_to(*wj, xk);
                    }
                }
            }
            for (r, acc_r) in acc.iter().enumerate() {
                let yr = &mut yb[r * outputs + o0..r * outputs + o0 + NB];
                for ((yo, a), bo) in yr.iter_mut().zip(acc_r).zip(&b[o0..]) {
                    *yo = *bo + *a;
                }
            }
        }
        if o_full < outputs {
            for (xr, yr) in xb.chunks_exact(inputs).zip(yb.chunks_exact_mut(outputs)) {
                let yr = &mut yr[o_full..];
                yr.fill(T::ZERO);
                for (xk, wr) in xr.iter().zip(wt.chunks_exact(outputs)) {
                    for (acc, w) in yr.iter_mut().zip(&wr[o_full..]) {
                        *acc = acc.mul_add_to(*w, *xk);
                    }
                }
                for (acc, bo) in yr.iter_mut().zip(&b[o_full..]) {
                    *acc = *bo + *acc;
                }
            }
        }
    }
    dense_forward_rowwise(wt, b, x_rest, y_rest, inputs, outputs);
}

/// [`dense_forward`] one row at a time (the remainder rows).
#[inline]
fn dense_forward_rowwise<T: Real>(wt: &[T], b: &[T], x: &[T], y: &mut [T], inputs: usize, outputs: usize) {
    for (xr, yr) in x.chunks_exact(inputs).zip(y.chunks_exact_mut(outputs)) {
        yr.fill(T::ZERO);
        for (xk, wr) in xr.iter().zip(wt.chunks_exact(outputs)) {
            for (acc, w) in yr.iter_mut().zip(wr) {
                *acc = acc.mul_add_to(*w, *xk);
            }
        }
        for (acc, bo) in yr.iter_mut().zip(b) {
            *acc = *bo + *acc;
        }
    }
}

/// Batched [`dense_backward_rowwise`]: the same sums in the same order per entry (rows in order
/// for ∂L/∂W and ∂L/∂b, outputs in order for ∂L/∂x), computed in register tiles: ∂L/∂W in
/// blocks of MR outputs × NB inputs over all rows, ∂L/∂x in blocks of MR rows × NB inputs over
/// all outputs.
#[inline]
#[allow(clippy::too_many_arguments)] // W, x, g, their three gradients and the two widths
pub(crate) fn dense_backward<T: Real>(
    w: &[T],
    x: &[T],
    g: &[T],
    gw: &mut [T],
    gb: &mut [T],
    gx: Option<&mut [T]>,
    inputs: usize,
    outputs: usize,
) {
    let rows = (x.len() / inputs).min(g.len() / outputs);
    if rows < MR {
        return dense_backward_rowwise(w, x, g, gw, gb, gx, inputs, outputs);
    }
    let (x, g) = (&x[..rows * inputs], &g[..rows * outputs]);
    for gr in g.chunks_exact(outputs) {
        for (gbo, go) in gb.iter_mut().zip(gr) {
            *gbo += *go;
        }
    }
    dense_weight_gradient(x, g, gw, inputs, outputs);
    if let Some(gx) = gx {
        dense_input_gradient(w, g, gx, inputs, outputs);
    }
}

/// ∂L/∂W[o] += g_o x over the rows of `x` (rows × inputs) and `g` (rows × outputs), rows in
/// order for every entry, in register tiles of MR outputs × NB inputs (row by row below MR rows).
#[inline]
pub(crate) fn dense_weight_gradient<T: Real>(x: &[T], g: &[T], gw: &mut [T], inputs: usize, outputs: usize) {
    let rows = (x.len() / inputs).min(g.len() / outputs);
    if rows < MR {
        for (xr, gr) in x.chunks_exact(inputs).zip(g.chunks_exact(outputs)) {
            for (go, gwr) in gr.iter().zip(gw.chunks_exact_mut(inputs)) {
                for (gwk, xk) in gwr.iter_mut().zip(xr) {
                    *gwk = gwk.mul_add_to(*go, *xk);
                }
            }
        }
        return;
    }
    let (x, g) = (&x[..rows * inputs], &g[..rows * outputs]);
    let k_full = inputs / NB * NB;
    let o_full = outputs / MR * MR;
    for o0 in (0..o_full).step_by(MR) {
        for k0 in (0..k_full).step_by(NB) {
            let mut acc = [[T::ZERO; NB]; MR];
            for (i, acc_i) in acc.iter_mut().enumerate() {
                acc_i.copy_from_slice(&gw[(o0 + i) * inputs + k0..(o0 + i) * inputs + k0 + NB]);
            }
            for (xr, gr) in x.chunks_exact(inputs).zip(g.chunks_exact(outputs)) {
                let Some(Ok(xs)) = xr.get(k0..k0 + NB).map(<&[T; NB]>::try_from) else { break };
                for (i, acc_i) in acc.iter_mut().enumerate() {
                    let go = gr[o0 + i];
                    for (a, xk) in acc_i.iter_mut().zip(xs) {
                        *a = a.mul_add_to(go, *xk);
                    }
                }
            }
            for (i, acc_i) in acc.iter().enumerate() {
                gw[(o0 + i) * inputs + k0..(o0 + i) * inputs + k0 + NB].copy_from_slice(acc_i);
            }
        }
    }
    // Edges (outputs past o_full, inputs past k_full): entry by entry, rows in order.
    for (o, gwr) in gw.chunks_exact_mut(inputs).enumerate().take(outputs) {
        let k_start = if o < o_full { k_full } else { 0 };
        for (xr, gr) in x.chunks_exact(inputs).zip(g.chunks_exact(outputs)) {
            let go = gr[o];
            for (gwk, xk) in gwr[k_start..].iter_mut().zip(&xr[k_start..]) {
                *gwk = gwk.mul_add_to(go, *xk);
            }
        }
    }
}

/// Backward of y = W x + b over rows: adds ∂L/∂W[o] += g_o x and ∂L/∂b_o += g_o (rows in
/// order) and, when `gx` is given, writes ∂L/∂x = Wᵀ g (sum over o in order) per row.
#[inline]
#[allow(clippy::too_many_arguments)] // W, x, g, their three gradients and the two widths
pub(crate) fn dense_backward_rowwise<T: Real>(
    w: &[T],
    x: &[T],
    g: &[T],
    gw: &mut [T],
    gb: &mut [T],
    gx: Option<&mut [T]>,
    inputs: usize,
    outputs: usize,
) {
    for (xr, gr) in x.chunks_exact(inputs).zip(g.chunks_exact(outputs)) {
        let rows = gr.iter().zip(gw.chunks_exact_mut(inputs).zip(gb.iter_mut()));
        for (go, (gwr, gbo)) in rows {
            *gbo += *go;
            for (gwk, xk) in gwr.iter_mut().zip(xr) {
                *gwk = gwk.mul_add_to(*go, *xk);
            }
        }
    }
    if let Some(gx) = gx {
        dense_input_gradient_rowwise(w, g, gx, inputs, outputs);
    }
}

/// ∂L/∂x = Wᵀ g per row (sum over o in order), written into `gx` (rows × inputs); blocks of MR
/// rows × NB inputs accumulate in registers over all outputs.
#[inline]
pub(crate) fn dense_input_gradient<T: Real>(w: &[T], g: &[T], gx: &mut [T], inputs: usize, outputs: usize) {
    let rows = (g.len() / outputs).min(gx.len() / inputs);
    let full = rows / MR * MR;
    let (g_main, g_rest) = g.split_at(full * outputs);
    let (gx_main, gx_rest) = gx.split_at_mut(full * inputs);
    let k_full = inputs / NB * NB;
    for (gb, gxb) in g_main.chunks_exact(MR * outputs).zip(gx_main.chunks_exact_mut(MR * inputs)) {
        for k0 in (0..k_full).step_by(NB) {
            let mut acc = [[T::ZERO; NB]; MR];
            for (o, wr) in w.chunks_exact(inputs).enumerate().take(outputs) {
                let Some(Ok(ws)) = wr.get(k0..k0 + NB).map(<&[T; NB]>::try_from) else { break };
                for (r, acc_r) in acc.iter_mut().enumerate() {
                    let go = gb[r * outputs + o];
                    for (a, wk) in acc_r.iter_mut().zip(ws) {
                        *a = a.mul_add_to(*wk, go);
                    }
                }
            }
            for (r, acc_r) in acc.iter().enumerate() {
                gxb[r * inputs + k0..r * inputs + k0 + NB].copy_from_slice(acc_r);
            }
        }
        if k_full < inputs {
            for (gr, gxr) in gb.chunks_exact(outputs).zip(gxb.chunks_exact_mut(inputs)) {
                let gxr = &mut gxr[k_full..];
                gxr.fill(T::ZERO);
                for (go, wr) in gr.iter().zip(w.chunks_exact(inputs)) {
                    for (gxk, wk) in gxr.iter_mut().zip(&wr[k_full..]) {
                        *gxk = gxk.mul_add_to(*wk, *go);
                    }
                }
            }
        }
    }
    dense_input_gradient_rowwise(w, g_rest, gx_rest, inputs, outputs);
}

/// [`dense_input_gradient`] one row at a time.
#[inline]
pub(crate) fn dense_input_gradient_rowwise<T: Real>(
    w: &[T],
    g: &[T],
    gx: &mut [T],
    inputs: usize,
    outputs: usize,
) {
    for (gr, gxr) in g.chunks_exact(outputs).zip(gx.chunks_exact_mut(inputs)) {
        gxr.fill(T::ZERO);
        for (go, wr) in gr.iter().zip(w.chunks_exact(inputs)) {
            for (gxk, wk) in gxr.iter_mut().zip(wr) {
                *gxk = gxk.mul_add_to(*wk, *go);
            }
        }
    }
}

/// a = f(z) element-wise (identity copies).
#[inline]
pub(crate) fn activate<T: Real>(f: ActivationKind<T>, z: &[T], a: &mut [T]) {
    match f {
        ActivationKind::Identity => a.copy_from_slice(z),
        f => {
            for (ai, zi) in a.iter_mut().zip(z) {
                *ai = f.apply(*zi);
            }
        }
    }
}

/// g ← g ⊙ f′(z) element-wise (identity leaves g).
#[inline]
pub(crate) fn activate_backward<T: Real>(f: ActivationKind<T>, z: &[T], g: &mut [T]) {
    if f != ActivationKind::Identity {
        for (gi, zi) in g.iter_mut().zip(z) {
            *gi *= f.derivative(*zi);
        }
    }
}

/// Forward pass for `rows` rows of `x`: fills `cache` with every layer's z_l and a_l (the
/// network output a_L is [`Architecture::output`]).
///
/// Errors: `EmptyData` for 0 rows; `ShapeMismatch` when `params`, `wt` or `x`
/// (rows·inputs) has the wrong length or `cache` is shorter than `cache_len(rows)`.
pub fn forward<T: Real>(
    arch: &Architecture<'_, T>,
    params: &[T],
    wt: &[T],
    x: &[T],
    rows: usize,
    cache: &mut [T],
) -> Result<()> {
    check_shapes(arch, params, x, rows)?;
    check_len("transposed weights", wt, arch.weights_len())?;
    check_min_len("activation cache", cache, arch.cache_len(rows)?)?;
    let (mut p, mut t, mut c) = (params, wt, &mut cache[..]);
    let mut input: &[T] = x;
    for spec in arch.layers() {
        let nw = spec.outputs * spec.inputs;
        let (b, rest) = p[nw..].split_at(spec.outputs);
        p = rest;
        let (wt_l, rest) = t.split_at(nw);
        t = rest;
        let n = rows * spec.outputs;
        let (z, rest) = core::mem::take(&mut c).split_at_mut(n);
        let (a, rest) = rest.split_at_mut(n);
        c = rest;
        dense_forward(wt_l, b, input, z, spec.inputs, spec.outputs);
        activate(spec.activation, z, a);
        input = a;
    }
    Ok(())
}

/// Backward pass after [`forward`] on the same `x`, `rows` and `cache`: given
/// `grad_out` = ∂L/∂a_L (rows × outputs), adds ∂L/∂θ into `grads` and, when `grad_in` is given,
/// writes ∂L/∂x (rows × inputs) there.
///
/// Per layer from the last: g_z = g_a ⊙ f′(z); ∂L/∂W += g_z a_{l−1}ᵀ, ∂L/∂b += g_z summed over
/// rows in order; g_{a_{l−1}} = Wᵀ g_z.
///
/// Errors: `EmptyData` for 0 rows; `ShapeMismatch` for a wrong `params`, `x`, `grad_out`,
/// `grads` or `grad_in` length, or a `cache`/`work` shorter than `cache_len`/`work_len(rows)`.
#[allow(clippy::too_many_arguments)] // the slices of the table above, named as there
pub fn backward<T: Real>(
    arch: &Architecture<'_, T>,
    params: &[T],
    x: &[T],
    rows: usize,
    cache: &[T],
    grad_out: &[T],
    grads: &mut [T],
    grad_in: Option<&mut [T]>,
    work: &mut [T],
) -> Result<()> {
    check_len("gradient", grads, arch.params_len())?;
    backward_impl(arch, params, x, rows, cache, grad_out, Some(grads), grad_in, work)
}

/// ∂L/∂x only (rows × inputs, written into `grad_in`), after [`forward`]: [`backward`] without
/// the parameter gradient (the WGAN generator step needs the critic's input gradient alone).
///
/// Errors as [`backward`].
#[allow(clippy::too_many_arguments)] // as backward, less the parameter gradient
pub fn input_gradient<T: Real>(
    arch: &Architecture<'_, T>,
    params: &[T],
    x: &[T],
    rows: usize,
    cache: &[T],
    grad_out: &[T],
    grad_in: &mut [T],
    work: &mut [T],
) -> Result<()> {
    backward_impl(arch, params, x, rows, cache, grad_out, None, Some(grad_in), work)
}

#[allow(clippy::too_many_arguments)] // backward and input_gradient in one
fn backward_impl<T: Real>(
    arch: &Architecture<'_, T>,
    params: &[T],
    x: &[T],
    rows: usize,
    cache: &[T],
    grad_out: &[T],
    mut grads: Option<&mut [T]>,
    mut grad_in: Option<&mut [T]>,
    work: &mut [T],
) -> Result<()> {
    check_shapes(arch, params, x, rows)?;
    check_min_len("activation cache", cache, arch.cache_len(rows)?)?;
    check_len("output gradient", grad_out, rows * arch.outputs())?;
    if let Some(gi) = grad_in.as_deref() {
        check_len("input gradient", gi, rows * arch.inputs())?;
    }
    let half = rows * arch.max_width();
    check_min_len("backward scratch", work, arch.work_len(rows)?)?;
    let (mut cur, mut next) = work.split_at_mut(half);
    let layers = arch.layers();
    let (mut p_end, mut c_end) = (arch.params_len(), arch.cache_len(rows)?);
    for (l, spec) in layers.iter().enumerate().rev() {
        let (nw, n) = (spec.outputs * spec.inputs, rows * spec.outputs);
        let p_start = p_end - nw - spec.outputs;
        let w = &params[p_start..p_start + nw];
        let z = &cache[c_end - 2 * n..c_end - n];
        c_end -= 2 * n;
        let g = &mut cur[..n];
        if l + 1 == layers.len() {
            g.copy_from_slice(grad_out);
        }
        activate_backward(spec.activation, z, g);
        let input = if l == 0 { x } else { &cache[c_end - rows * spec.inputs..c_end] };
        let gx = if l == 0 { grad_in.as_deref_mut() } else { Some(&mut next[..rows * spec.inputs]) };
        match grads.as_deref_mut() {
            Some(grads) => {
                let (gw, gb) = grads[p_start..p_end].split_at_mut(nw);
                dense_backward(w, input, g, gw, gb, gx, spec.inputs, spec.outputs);
            }
            None => {
                if let Some(gx) = gx {
                    dense_input_gradient(w, g, gx, spec.inputs, spec.outputs);
                }
            }
        }
        p_end = p_start;
        core::mem::swap(&mut cur, &mut next);
    }
    Ok(())
}

/// Initializes a flat parameter slice of `arch` as the const-generic chain's
/// [`Layer::init`](super::Layer::init) does (same draws in the same order): per layer, W by
/// `scheme` with fan-in `inputs` and fan-out `outputs`, then b = 0.
///
/// Errors: `ShapeMismatch` when `params` is not `arch.params_len()` long (nothing is drawn).
pub fn init_params<T: Real, R: Rng + ?Sized>(
    arch: &Architecture<'_, T>,
    params: &mut [T],
    scheme: Init,
    rng: &mut R,
) -> Result<()> {
    check_len("params", params, arch.params_len())?;
    let mut rest = params;
    for spec in arch.layers() {
        let (w, tail) = core::mem::take(&mut rest).split_at_mut(spec.outputs * spec.inputs);
        let (b, tail) = tail.split_at_mut(spec.outputs);
        rest = tail;
        fill_weights(w, spec.inputs, spec.outputs, scheme, rng);
        b.fill(T::ZERO);
    }
    Ok(())
}

/// `into[i] += part[i]`: merges a chunk's partial gradient (call in a fixed chunk order).
///
/// Errors: `ShapeMismatch` when the lengths differ (nothing is added).
pub fn add_into<T: Real>(into: &mut [T], part: &[T]) -> Result<()> {
    check_len("partial gradient", part, into.len())?;
    for (a, b) in into.iter_mut().zip(part) {
        *a += *b;
    }
    Ok(())
}

/// Common checks of `forward` and `backward`.
fn check_shapes<T: Real>(arch: &Architecture<'_, T>, params: &[T], x: &[T], rows: usize) -> Result<()> {
    if rows == 0 {
        return Err(Error::EmptyData);
    }
    check_len("params", params, arch.params_len())?;
    let n = rows.checked_mul(arch.inputs()).ok_or(Error::CapacityExceeded {
        what: "input rows",
        capacity: usize::MAX,
        requested: rows,
    })?;
    check_len("input", x, n)
}

#[cfg(test)]
mod tests {
    use super::super::arch::LayerSpec;
    use super::super::{Act, Dense, Init, Layer, LeakyRelu, Relu, Sigmoid, Softplus, Tanh};
    use super::*;
    use crate::{chain, chain_type};
    use proptest::prelude::*;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// Everything one forward/backward needs, sized for `arch` and `rows`.
    pub(crate) struct Buffers<T> {
        pub wt: Vec<T>,
        pub cache: Vec<T>,
        pub grads: Vec<T>,
        pub work: Vec<T>,
        pub gx: Vec<T>,
    }

    pub(crate) fn run<T: Real>(
        arch: &Architecture<'_, T>,
        params: &[T],
        x: &[T],
        rows: usize,
        gy: &[T],
    ) -> Buffers<T> {
        let mut b = Buffers {
            wt: vec![T::ZERO; arch.weights_len()],
            cache: vec![T::ZERO; arch.cache_len(rows).unwrap()],
            grads: vec![T::ZERO; arch.params_len()],
            work: vec![T::ZERO; arch.work_len(rows).unwrap()],
            gx: vec![T::ZERO; rows * arch.inputs()],
        };
        transpose_weights(arch, params, &mut b.wt).unwrap();
        forward(arch, params, &b.wt, x, rows, &mut b.cache).unwrap();
        backward(arch, params, x, rows, &b.cache, gy, &mut b.grads, Some(&mut b.gx), &mut b.work).unwrap();
        b
    }

    fn flat<L: Layer<f64>>(net: &L) -> Vec<f64> {
        let mut v = Vec::new();
        net.visit_params(&mut |p| v.push(p));
        v
    }

    type Net = chain_type!(
        Dense<f64, 3, 7>,
        Act<Tanh, 7>,
        Dense<f64, 7, 5>,
        Act<LeakyRelu<f64>, 5>,
        Dense<f64, 5, 4>,
        Act<Softplus, 4>,
        Dense<f64, 4, 2>,
        Act<Sigmoid, 2>,
        Dense<f64, 2, 3>,
    );
    const SPECS: [LayerSpec<f64>; 5] = [
        LayerSpec::new(3, 7, ActivationKind::Tanh),
        LayerSpec::new(7, 5, ActivationKind::LeakyRelu { slope: 0.1 }),
        LayerSpec::new(5, 4, ActivationKind::Softplus),
        LayerSpec::new(4, 2, ActivationKind::Sigmoid),
        LayerSpec::new(2, 3, ActivationKind::Identity),
    ];

    fn net(seed: u64) -> Net {
        let mut n: Net = chain!(
            Dense::zeros(),
            Act(Tanh),
            Dense::zeros(),
            Act(LeakyRelu { slope: 0.1 }),
            Dense::zeros(),
            Act(Softplus),
            Dense::zeros(),
            Act(Sigmoid),
            Dense::zeros(),
        );
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        n.init(Init::XavierNormal, &mut rng);
        let mut k = seed as f64;
        n.for_each_param(&mut |p| {
            if *p == 0.0 {
                k += 0.37;
                *p = f64::sin(k) * 0.3;
            }
        });
        n
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Core and const-generic chain agree bit for bit: output, parameter gradient (summed
        /// over rows in order) and input gradient.
        #[test]
        fn core_equals_const_generic_chain_bit_for_bit(
            seed in 0u64..1000,
            rows in 1usize..6,
            xs in proptest::collection::vec(-3.0f64..3.0, 15),
            gs in proptest::collection::vec(-2.0f64..2.0, 15),
        ) {
            let n = net(seed);
            let arch = Architecture::new(&SPECS).unwrap();
            let params = flat(&n);
            prop_assert_eq!(params.len(), arch.params_len());
            let (x, gy) = (&xs[..3 * rows], &gs[..3 * rows]);
            let b = run(&arch, &params, x, rows, gy);
            let out = arch.output(&b.cache, rows).unwrap();
            let mut cache = Net::new_cache();
            let mut grads = n.zeros_like();
            for r in 0..rows {
                let xr = [x[3 * r], x[3 * r + 1], x[3 * r + 2]];
                let y = n.forward(&xr, &mut cache);
                prop_assert_eq!(&y[..], &out[3 * r..3 * r + 3]);
                let gx = n.backward(&cache, &[gy[3 * r], gy[3 * r + 1], gy[3 * r + 2]], &mut grads);
                prop_assert_eq!(&gx[..], &b.gx[3 * r..3 * r + 3]);
            }
            prop_assert_eq!(flat(&grads), b.grads);
        }
    }

    type Wide =
        chain_type!(Dense<f32, 19, 37>, Act<Relu, 37>, Dense<f32, 37, 18>, Act<Tanh, 18>, Dense<f32, 18, 33>);
    const WIDE: [LayerSpec<f32>; 3] = [
        LayerSpec::new(19, 37, ActivationKind::Relu),
        LayerSpec::new(37, 18, ActivationKind::Tanh),
        LayerSpec::new(18, 33, ActivationKind::Identity),
    ];

    fn spec_strategy() -> impl Strategy<Value = (Vec<LayerSpec<f64>>, usize, u64)> {
        let act = prop_oneof![
            Just(ActivationKind::Identity),
            Just(ActivationKind::Relu),
            Just(ActivationKind::LeakyRelu { slope: 0.2 }),
            Just(ActivationKind::Tanh),
            Just(ActivationKind::Sigmoid),
            Just(ActivationKind::Softplus),
        ];
        (proptest::collection::vec((1usize..40, act), 2..5), 1usize..14, 0u64..1000).prop_map(
            |(w, rows, seed)| {
                let specs = w.windows(2).map(|p| LayerSpec::new(p[0].0, p[1].0, p[1].1)).collect();
                (specs, rows, seed)
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// The register-tiled batch (any shape, any row count) equals the same core run one row
        /// at a time (the fixed-size types' arithmetic) bit for bit.
        #[test]
        fn tiled_batch_equals_row_by_row_at_random_shapes((specs, rows, seed) in spec_strategy()) {
            let arch = Architecture::new(&specs).unwrap();
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let mut params = vec![0.0; arch.params_len()];
            crate::mlp::init_params(&arch, &mut params, Init::XavierUniform, &mut rng).unwrap();
            for (i, p) in params.iter_mut().enumerate() {
                *p += 0.01 * f64::sin(i as f64);
            }
            let (ni, no) = (arch.inputs(), arch.outputs());
            let x: Vec<f64> = (0..rows * ni).map(|i| f64::sin(0.37 * i as f64 + seed as f64)).collect();
            let gy: Vec<f64> = (0..rows * no).map(|i| f64::cos(0.53 * i as f64)).collect();
            let all = run(&arch, &params, &x, rows, &gy);
            // Both start from the same non-zero gradient: backward adds into it.
            let start: Vec<f64> = (0..arch.params_len()).map(|i| f64::cos(1.1 * i as f64)).collect();
            let mut batched = start.clone();
            let mut work = vec![0.0; arch.work_len(rows).unwrap()];
            backward(&arch, &params, &x, rows, &all.cache, &gy, &mut batched, None, &mut work).unwrap();
            let mut grads = start;
            for r in 0..rows {
                let one = run(&arch, &params, &x[r * ni..(r + 1) * ni], 1, &gy[r * no..(r + 1) * no]);
                prop_assert_eq!(arch.output(&one.cache, 1).unwrap(), &arch.output(&all.cache, rows).unwrap()[r * no..(r + 1) * no]);
                prop_assert_eq!(&one.gx[..], &all.gx[r * ni..(r + 1) * ni]);
                // Row r's contribution added on top of rows 0..r, as the fixed-size loop does.
                let mut cache = vec![0.0; arch.cache_len(1).unwrap()];
                forward(&arch, &params, &one.wt, &x[r * ni..(r + 1) * ni], 1, &mut cache).unwrap();
                let mut work = vec![0.0; arch.work_len(1).unwrap()];
                backward(&arch, &params, &x[r * ni..(r + 1) * ni], 1, &cache, &gy[r * no..(r + 1) * no], &mut grads, None, &mut work).unwrap();
            }
            prop_assert_eq!(grads, batched);
        }

        /// At widths past the tile sizes, f32: the core equals the const-generic chain bit for bit.
        #[test]
        fn core_equals_wide_const_generic_chain_bit_for_bit(seed in 0u64..1000, rows in 1usize..11) {
            let mut n: Wide = chain!(Dense::zeros(), Act(Relu), Dense::zeros(), Act(Tanh), Dense::zeros());
            n.init(Init::HeUniform, &mut Xoshiro256PlusPlus::seed_from_u64(seed));
            let mut params = Vec::new();
            n.visit_params(&mut |p| params.push(p));
            let arch = Architecture::new(&WIDE).unwrap();
            let x: Vec<f32> = (0..rows * 19).map(|i| (0.3 * i as f32 + seed as f32).sin()).collect();
            let gy: Vec<f32> = (0..rows * 33).map(|i| (0.7 * i as f32).cos()).collect();
            let b = run(&arch, &params, &x, rows, &gy);
            let out = arch.output(&b.cache, rows).unwrap();
            let mut cache = Wide::new_cache();
            let mut grads = n.zeros_like();
            for r in 0..rows {
                let xr: [f32; 19] = core::array::from_fn(|i| x[19 * r + i]);
                let gr: [f32; 33] = core::array::from_fn(|i| gy[33 * r + i]);
                prop_assert_eq!(&n.forward(&xr, &mut cache)[..], &out[33 * r..33 * (r + 1)]);
                prop_assert_eq!(&n.backward(&cache, &gr, &mut grads)[..], &b.gx[19 * r..19 * (r + 1)]);
            }
            let mut g = Vec::new();
            grads.visit_params(&mut |p| g.push(p));
            prop_assert_eq!(g, b.grads);
        }
    }

    /// Max relative |analytic − central difference| over parameters and inputs for
    /// L = Σ_rows Σ_k (w_k y_k² / 2 + y_k), at an odd shape.
    fn fd_error(specs: &[LayerSpec<f64>], rows: usize, seed: u64) -> f64 {
        let arch = Architecture::new(specs).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let params: Vec<f64> = (0..arch.params_len())
            .map(|_| crate::gaussian::standard_normal::<f64, _>(&mut rng) * 0.5)
            .collect();
        let x: Vec<f64> = (0..rows * arch.inputs()).map(|i| f64::sin(1.3 * i as f64 + 0.2)).collect();
        let outs = arch.outputs();
        let loss = |p: &[f64], x: &[f64]| {
            let mut wt = vec![0.0; arch.weights_len()];
            let mut cache = vec![0.0; arch.cache_len(rows).unwrap()];
            transpose_weights(&arch, p, &mut wt).unwrap();
            forward(&arch, p, &wt, x, rows, &mut cache).unwrap();
            let y = arch.output(&cache, rows).unwrap();
            y.iter().enumerate().map(|(i, v)| 0.5 * (0.5 + 0.3 * (i % outs) as f64) * v * v + v).sum::<f64>()
        };
        let mut wt = vec![0.0; arch.weights_len()];
        let mut cache = vec![0.0; arch.cache_len(rows).unwrap()];
        transpose_weights(&arch, &params, &mut wt).unwrap();
        forward(&arch, &params, &wt, &x, rows, &mut cache).unwrap();
        let y = arch.output(&cache, rows).unwrap();
        let gy: Vec<f64> =
            y.iter().enumerate().map(|(i, v)| (0.5 + 0.3 * (i % outs) as f64) * v + 1.0).collect();
        let b = run(&arch, &params, &x, rows, &gy);
        let h = 1e-6;
        let mut worst: f64 = 0.0;
        for i in 0..params.len() {
            let (mut p, mut m) = (params.clone(), params.clone());
            p[i] += h;
            m[i] -= h;
            let numeric = (loss(&p, &x) - loss(&m, &x)) / (2.0 * h);
            worst = worst.max((b.grads[i] - numeric).abs() / (1.0 + numeric.abs()));
        }
        for i in 0..x.len() {
            let (mut p, mut m) = (x.clone(), x.clone());
            p[i] += h;
            m[i] -= h;
            let numeric = (loss(&params, &p) - loss(&params, &m)) / (2.0 * h);
            worst = worst.max((b.gx[i] - numeric).abs() / (1.0 + numeric.abs()));
        }
        worst
    }

    #[test]
    fn gradients_match_finite_differences_at_odd_shapes() {
        let a = ActivationKind::LeakyRelu { slope: 0.2 };
        let shapes: [&[LayerSpec<f64>]; 3] = [
            &[LayerSpec::new(1, 1, ActivationKind::Identity)],
            &[LayerSpec::new(7, 13, ActivationKind::Tanh), LayerSpec::new(13, 1, ActivationKind::Identity)],
            &[
                LayerSpec::new(5, 3, a),
                LayerSpec::new(3, 11, ActivationKind::Softplus),
                LayerSpec::new(11, 2, ActivationKind::Sigmoid),
                LayerSpec::new(2, 9, ActivationKind::Identity),
            ],
        ];
        for (k, s) in shapes.iter().enumerate() {
            let err = fd_error(s, 3, k as u64);
            assert!(err < 1e-7, "shape {k}: {err}");
        }
    }

    #[test]
    fn init_params_draws_as_the_chain_does() {
        use super::super::{Act, ActivationKind, Architecture, LayerSpec, Relu};
        let specs =
            [LayerSpec::new(3, 5, ActivationKind::Relu), LayerSpec::new(5, 2, ActivationKind::Identity)];
        let arch = Architecture::<f32>::new(&specs).unwrap();
        let mut net =
            crate::chain!(Dense::<f32, 3, 5>::zeros(), Act::<_, 5>(Relu), Dense::<f32, 5, 2>::zeros());
        net.init(Init::HeUniform, &mut Xoshiro256PlusPlus::seed_from_u64(8));
        let mut flat = vec![1.0f32; arch.params_len()];
        init_params(&arch, &mut flat, Init::HeUniform, &mut Xoshiro256PlusPlus::seed_from_u64(8)).unwrap();
        let mut want = Vec::new();
        net.visit_params(&mut |p| want.push(p));
        assert_eq!(flat, want);
        assert!(
            init_params(&arch, &mut flat[1..], Init::HeUniform, &mut Xoshiro256PlusPlus::seed_from_u64(8))
                .is_err()
        );
    }

    #[test]
    fn wrong_lengths_are_typed_errors() {
        let arch = Architecture::new(&SPECS).unwrap();
        let params = vec![0.0; arch.params_len()];
        let wt = vec![0.0; arch.weights_len()];
        let mut cache = vec![0.0; arch.cache_len(2).unwrap()];
        let x = [0.0; 6];
        assert_eq!(forward(&arch, &params, &wt, &x, 0, &mut cache), Err(Error::EmptyData));
        assert_eq!(
            forward(&arch, &params[1..], &wt, &x, 2, &mut cache),
            Err(Error::ShapeMismatch { what: "params", expected: params.len(), found: params.len() - 1 })
        );
        assert!(matches!(
            forward(&arch, &params, &wt, &x[1..], 2, &mut cache),
            Err(Error::ShapeMismatch { what: "input", .. })
        ));
        assert!(matches!(
            forward(&arch, &params, &wt, &x, 2, &mut cache[1..]),
            Err(Error::ShapeMismatch { what: "activation cache", .. })
        ));
        forward(&arch, &params, &wt, &x, 2, &mut cache).unwrap();
        let mut grads = vec![0.0; arch.params_len()];
        let mut work = vec![0.0; arch.work_len(2).unwrap() - 1];
        let gy = [0.0; 6];
        assert!(matches!(
            backward(&arch, &params, &x, 2, &cache, &gy, &mut grads, None, &mut work),
            Err(Error::ShapeMismatch { what: "backward scratch", .. })
        ));
        assert!(matches!(add_into(&mut grads, &params[1..]), Err(Error::ShapeMismatch { .. })));
    }

    #[test]
    fn chunked_gradients_merged_in_order_do_not_depend_on_thread_count() {
        // 10 rows as chunks of 4, 4, 2, computed in any order and merged in chunk order, equal
        // a serial loop over the same chunks; a different chunking may differ only by rounding.
        let arch = Architecture::new(&SPECS).unwrap();
        let params = flat(&net(5));
        let rows = 10;
        let x: Vec<f64> = (0..rows * 3).map(|i| f64::cos(0.7 * i as f64)).collect();
        let gy: Vec<f64> = (0..rows * 3).map(|i| f64::sin(0.3 * i as f64)).collect();
        let chunk = |r0: usize, r1: usize| {
            run(&arch, &params, &x[3 * r0..3 * r1], r1 - r0, &gy[3 * r0..3 * r1]).grads
        };
        let parts = [chunk(8, 10), chunk(0, 4), chunk(4, 8)];
        let mut merged = vec![0.0; arch.params_len()];
        for p in [&parts[1], &parts[2], &parts[0]] {
            add_into(&mut merged, p).unwrap();
        }
        let mut serial = vec![0.0; arch.params_len()];
        for (r0, r1) in [(0, 4), (4, 8), (8, 10)] {
            add_into(&mut serial, &chunk(r0, r1)).unwrap();
        }
        assert_eq!(merged, serial);
        let whole = run(&arch, &params, &x, rows, &gy).grads;
        for (a, b) in whole.iter().zip(&merged) {
            assert!((a - b).abs() <= 1e-12 * (1.0 + a.abs()));
        }
    }
}
