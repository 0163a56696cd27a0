#!/usr/bin/env python3
"""Times one scikit-learn GaussianMixture EM iteration (E-step + M-step) on the harness's data,
in float64 and in float32.

Usage: sklearn_em.py MANIFEST.json > RESULT.json. Each workload names a raw little-endian f64 file
(N x D row-major), a covariance kind and starting parameters (full-shaped covariances, reduced
here to the kind's form: the diagonal, its mean, component 0's matrix for tied); the model is set
to exactly those parameters and `_e_step` + `_m_step` are timed (best of `repeats`), the same
iteration crabmix times. float32: the data and every parameter are float32, as scikit-learn keeps
them when `fit` is given float32 data (it validates with dtype=[float64, float32]). The result
carries the float64 iteration's mean log-likelihood and updated parameters for cross-checking.
"""
import json
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.mixture import GaussianMixture
from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky


def kind_covariances(full, kind):
    """The kind's form of K full D x D matrices (scikit-learn's covariances_ shapes)."""
    if kind == "full":
        return full
    if kind == "tied":
        return full[0]
    diag = np.array([np.diag(c) for c in full])
    return diag if kind == "diag" else diag.mean(axis=1)


def time_iteration(x, w, kind, dtype, repeats):
    n, d, k = w["n"], w["d"], w["k"]
    cov = kind_covariances(np.array(w["covariances"]).reshape(k, d, d), kind).astype(dtype)
    gm = GaussianMixture(k, covariance_type=kind, reg_covar=w["reg_covar"])
    start = (
        np.array(w["weights"], dtype=dtype),
        np.array(w["means"], dtype=dtype).reshape(k, d),
        cov,
        _compute_precision_cholesky(cov, kind).astype(dtype),
    )
    x = x.astype(dtype)
    times = []
    for _ in range(repeats):
        gm.weights_, gm.means_, gm.covariances_, gm.precisions_cholesky_ = (a.copy() for a in start)
        t = time.perf_counter()
        log_prob_norm, log_resp = gm._e_step(x)
        gm._m_step(x, log_resp)
        times.append(time.perf_counter() - t)
    return min(times), float(log_prob_norm), gm


def main():
    manifest = json.load(open(sys.argv[1]))
    repeats = manifest.get("repeats", 3)
    out = []
    for w in manifest["workloads"]:
        n, d, kind = w["n"], w["d"], w.get("kind", "full")
        x = np.fromfile(w["path"], dtype="<f8").reshape(n, d)
        t64, ll, gm = time_iteration(x, w, kind, np.float64, repeats)
        t32, _, gm32 = time_iteration(x, w, kind, np.float32, repeats)
        assert gm32.means_.dtype == np.float32, "scikit-learn kept float32"
        out.append(
            {
                "name": w["name"],
                "kind": kind,
                "seconds_per_iteration": t64,
                "seconds_per_iteration_f32": t32,
                "mean_log_likelihood": ll,
                "weights": gm.weights_.tolist(),
                "means": gm.means_.ravel().tolist(),
                "version": f"scikit-learn {sklearn.__version__}, numpy {np.__version__}",
            }
        )
        print(f"sklearn {w['name']}: f64 {t64:.4f} s, f32 {t32:.4f} s per iteration", file=sys.stderr)
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    main()
