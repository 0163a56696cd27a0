#!/usr/bin/env python3
"""One EM iteration of a Gaussian mixture in PyTorch eager (float32, on the GPU): the baseline that
bench/gpu/run-gpu-check.sh times against crabmix's CUDA backend on the same card in the same call.

The iteration is the one crabmix runs (scikit-learn's semantics): E-step log responsibilities
through the precision Cholesky factor U_k = L_k⁻ᵀ of each covariance and log-sum-exp, then the
M-step α = n_k/N, μ_k = Σ r x / n_k, Σ_k = Σ r (x − μ_k)(x − μ_k)ᵀ / n_k + reg·I (full) or its
diagonal (diag). Written as scikit-learn's `_estimate_log_gaussian_prob` is, in batched PyTorch:
y = X U_k − μ_kᵀ U_k as one broadcast matrix product (a triangular solve against every sample,
`torch.linalg.solve_triangular` with 2^20 right-hand sides, took 70 s per iteration on an H200),
rows processed in chunks of 2^20 so that the K × chunk × D intermediates fit in memory at
N = 10^7, D = K = 16.

With --split the row reductions (Σ r x, Σ r (x − μ)(x − μ)ᵀ) run as batched matrix products over
blocks of 1024 rows whose results are then summed (split-K by hand): a matrix product whose inner
dimension is a whole 2^20-row chunk and whose output is K × D × D runs on a handful of SMs. The
harness times both forms and compares with the faster.

Usage: torch_em.py N D K full|diag OUT.json [--split]   (median of 5 timed iterations after 2
warm-ups, each bracketed by torch.cuda.synchronize()).
"""
import json
import math
import sys
import time

T0 = time.perf_counter()
import torch  # noqa: E402  (timed: the first device call pays for CUDA's initialization)


def log(msg):
    print(f"torch_em [{time.perf_counter() - T0:7.2f} s] {msg}", flush=True)

CHUNK = 1 << 20
SPLIT = 1024
SPLIT_K = False


def rows_outer(a, b):
    """Σ over rows of a_rᵀ b_r: a is K × c × P, b is K × c × Q → K × P × Q (one bmm over the whole
    chunk, or with SPLIT_K over blocks of SPLIT rows, then summed)."""
    if not SPLIT_K:
        return torch.bmm(a.transpose(1, 2), b)
    k, c, p = a.shape
    q = b.shape[-1]
    nb = c // SPLIT
    head = nb * SPLIT
    out = torch.bmm(a[:, :head].reshape(k * nb, SPLIT, p).transpose(1, 2),
                    b[:, :head].reshape(k * nb, SPLIT, q)).view(k, nb, p, q).sum(1)
    if head < c:
        out += torch.bmm(a[:, head:].transpose(1, 2), b[:, head:])
    return out


def em_iteration(x, w, mu, cov, full, reg=1e-6):
    n, d = x.shape
    k = w.shape[0]
    if full:
        chol = torch.linalg.cholesky(cov)  # K × D × D lower
        eye = torch.eye(d, device=x.device, dtype=x.dtype).expand(k, d, d)
        prec_chol = torch.linalg.solve_triangular(chol, eye, upper=False).mT  # U_k = L_k⁻ᵀ
        log_det_u = torch.log(torch.diagonal(prec_chol, dim1=-2, dim2=-1)).sum(-1)
        mu_u = torch.einsum("ki,kij->kj", mu, prec_chol)  # μ_kᵀ U_k
    else:
        var = cov  # K × D
        prec = torch.rsqrt(var)
        log_det_u = torch.log(prec).sum(-1)
    log_norm = torch.log(w) - 0.5 * d * math.log(2 * math.pi) + log_det_u
    nk = torch.zeros(k, device=x.device, dtype=x.dtype)
    sx = torch.zeros(k, d, device=x.device, dtype=x.dtype)
    ll = torch.zeros((), device=x.device, dtype=torch.float64)
    resp_chunks = []
    for s in range(0, n, CHUNK):
        xc = x[s:s + CHUNK]
        if full:
            y = torch.matmul(xc, prec_chol) - mu_u.unsqueeze(1)  # K × c × D
        else:
            y = (xc.unsqueeze(0) - mu.unsqueeze(1)) * prec.unsqueeze(1)
        maha = (y * y).sum(-1)  # K × c
        logp = log_norm.unsqueeze(1) - 0.5 * maha  # K × c
        lse = torch.logsumexp(logp, dim=0)
        r = torch.exp(logp - lse)  # K × c
        ll += lse.double().sum()
        nk += r.sum(1)
        sx += rows_outer(r.unsqueeze(-1), xc.expand(k, -1, -1)).squeeze(1) if SPLIT_K else r @ xc
        resp_chunks.append(r)
    w_new = nk / n
    mu_new = sx / nk.unsqueeze(1)
    if full:
        cov_new = torch.zeros(k, d, d, device=x.device, dtype=x.dtype)
    else:
        cov_new = torch.zeros(k, d, device=x.device, dtype=x.dtype)
    for i, s in enumerate(range(0, n, CHUNK)):
        xc = x[s:s + CHUNK]
        r = resp_chunks[i]
        diff = xc.unsqueeze(0) - mu_new.unsqueeze(1)  # K × c × D
        if full:
            cov_new += rows_outer(r.unsqueeze(-1) * diff, diff)
        else:
            cov_new += (r.unsqueeze(-1) * diff * diff).sum(1)
    cov_new = cov_new / nk.view(k, *([1] * (cov_new.dim() - 1)))
    if full:
        cov_new = cov_new + reg * torch.eye(d, device=x.device, dtype=x.dtype)
    else:
        cov_new = cov_new + reg
    return w_new, mu_new, cov_new, ll / n


def main():
    global SPLIT_K
    n, d, k, kind, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    SPLIT_K = "--split" in sys.argv[6:]
    full = kind == "full"
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 as crabmix computes it
    log(f"torch {torch.__version__} imported; N={n} D={d} K={k} {kind}{' split-K' if SPLIT_K else ''}")
    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(1)
    mu = 6.0 * (torch.rand(k, d, device=dev, generator=g) - 0.5)
    comp = torch.randint(0, k, (n,), device=dev, generator=g)
    x = mu[comp] + torch.randn(n, d, device=dev, generator=g)
    w = torch.full((k,), 1.0 / k, device=dev)
    cov = torch.eye(d, device=dev).expand(k, d, d).clone() if full else torch.ones(k, d, device=dev)
    torch.cuda.synchronize()
    log("data on the device")
    times = []
    for it in range(7):
        torch.cuda.synchronize()
        t = time.perf_counter()
        res = em_iteration(x, w, mu, cov, full)
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - t
        log(f"iteration {it}: {1e3 * elapsed:.3f} ms{' (warm-up)' if it < 2 else ''}")
        if it >= 2:
            times.append(elapsed)
        if elapsed > 10 and it >= 2:
            break  # pathologically slow: one timed iteration is enough
    times.sort()
    r = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "n": n, "d": d, "k": k, "kind": kind,
         "type": "f32", "split_k": SPLIT_K, "seconds_median": times[len(times) // 2], "seconds_all": times,
         "mean_log_likelihood": float(res[3])}
    print(f"torch{' split-K' if SPLIT_K else ''} {kind} N={n} D={d} K={k}: {r['seconds_median'] * 1e3:.3f} ms per EM iteration")
    with open(out, "w") as fh:
        json.dump(r, fh, indent=1)


if __name__ == "__main__":
    main()
