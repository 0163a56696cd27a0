#!/usr/bin/env python3
"""Times one scikit-learn GaussianMixture EM iteration (E-step + M-step) on the harness's data.

Usage: sklearn_em.py MANIFEST.json > RESULT.json. Each workload names a raw little-endian f64 file
(N x D row-major) and starting parameters; the model is set to exactly those parameters and
`_e_step` + `_m_step` are timed (best of `repeats`), the same iteration crabmix times. The result
also carries the mean log-likelihood at the E-step and the updated parameters for cross-checking.
"""
import json
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.mixture import GaussianMixture
from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky


def main():
    manifest = json.load(open(sys.argv[1]))
    repeats = manifest.get("repeats", 3)
    out = []
    for w in manifest["workloads"]:
        n, d, k = w["n"], w["d"], w["k"]
        x = np.fromfile(w["path"], dtype="<f8").reshape(n, d)
        cov = np.array(w["covariances"]).reshape(k, d, d)
        gm = GaussianMixture(k, covariance_type="full", reg_covar=w["reg_covar"])
        gm.weights_ = np.array(w["weights"])
        gm.means_ = np.array(w["means"]).reshape(k, d)
        gm.covariances_ = cov
        gm.precisions_cholesky_ = _compute_precision_cholesky(cov, "full")
        start = (gm.weights_.copy(), gm.means_.copy(), gm.covariances_.copy(), gm.precisions_cholesky_.copy())
        times = []
        for _ in range(repeats):
            gm.weights_, gm.means_, gm.covariances_, gm.precisions_cholesky_ = (a.copy() for a in start)
            t = time.perf_counter()
            log_prob_norm, log_resp = gm._e_step(x)
            gm._m_step(x, log_resp)
            times.append(time.perf_counter() - t)
        out.append(
            {
                "name": w["name"],
                "seconds_per_iteration": min(times),
                "mean_log_likelihood": float(log_prob_norm),
                "weights": gm.weights_.tolist(),
                "means": gm.means_.ravel().tolist(),
                "version": f"scikit-learn {sklearn.__version__}, numpy {np.__version__}",
            }
        )
        print(f"sklearn {w['name']}: {min(times):.4f} s/iteration", file=sys.stderr)
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    main()
