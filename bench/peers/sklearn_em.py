#!/usr/bin/env python3
"""Times one scikit-learn GaussianMixture EM iteration (E-step + M-step) on the harness's data,
in float64 and in float32.

Usage: sklearn_em.py MANIFEST.json > RESULT.json. Each workload names a raw little-endian f64 file
(N x D row-major), a covariance kind and starting parameters (full-shaped covariances, reduced
here to the kind's form: the diagonal, its mean, component 0's matrix for tied); the model is set
to exactly those parameters and `_e_step` + `_m_step` are timed (best of `repeats`, taken in
passes over every workload), the same iteration crabmix times. float32: the data and every
parameter are float32, as scikit-learn keeps them when `fit` is given float32 data (it validates
with dtype=[float64, float32]). The result carries the float64 iteration's mean log-likelihood
and updated parameters for cross-checking.
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


class Case:
    """One workload in one precision: the data, the starting parameters and the estimator."""

    def __init__(self, x, w, kind, dtype):
        n, d, k = w["n"], w["d"], w["k"]
        cov = kind_covariances(np.array(w["covariances"]).reshape(k, d, d), kind).astype(dtype)
        self.gm = GaussianMixture(k, covariance_type=kind, reg_covar=w["reg_covar"])
        self.start = (
            np.array(w["weights"], dtype=dtype),
            np.array(w["means"], dtype=dtype).reshape(k, d),
            cov,
            _compute_precision_cholesky(cov, kind).astype(dtype),
        )
        self.x = x[np.dtype(dtype).name]
        self.times = []
        self.log_prob_norm = None

    def once(self):
        gm = self.gm
        gm.weights_, gm.means_, gm.covariances_, gm.precisions_cholesky_ = (a.copy() for a in self.start)
        t = time.perf_counter()
        log_prob_norm, log_resp = gm._e_step(self.x)
        gm._m_step(self.x, log_resp)
        self.times.append(time.perf_counter() - t)
        self.log_prob_norm = float(log_prob_norm)


def main():
    manifest = json.load(open(sys.argv[1]))
    repeats = manifest.get("repeats", 3)
    cases = []
    files = {}
    for w in manifest["workloads"]:
        n, d, kind = w["n"], w["d"], w.get("kind", "full")
        if w["path"] not in files:
            x = np.fromfile(w["path"], dtype="<f8").reshape(n, d)
            files[w["path"]] = {"float64": x, "float32": x.astype(np.float32)}
        x = files[w["path"]]
        cases.append((w, Case(x, w, kind, np.float64), Case(x, w, kind, np.float32)))
    # The repeats are spread over the run, as crabmix's harness does: every case once per pass,
    # each keeping its best (back-to-back repeats share whatever else the machine is doing).
    for rep in range(repeats):
        for w, c64, c32 in cases:
            c64.once()
            c32.once()
        print(f"sklearn: pass {rep + 1} of {repeats}", file=sys.stderr)
    out = []
    for w, c64, c32 in cases:
        gm, gm32 = c64.gm, c32.gm
        assert gm32.means_.dtype == np.float32, "scikit-learn kept float32"
        t64, t32 = min(c64.times), min(c32.times)
        out.append(
            {
                "name": w["name"],
                "kind": w.get("kind", "full"),
                "seconds_per_iteration": t64,
                "seconds_per_iteration_f32": t32,
                "mean_log_likelihood": c64.log_prob_norm,
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
