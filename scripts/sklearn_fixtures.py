#!/usr/bin/env python3
"""Generate scikit-learn reference fixtures for crabmix's Gaussian-mixture tests.

Each case: a data set, initial parameters, and scikit-learn's GaussianMixture parameters after a
fixed number of EM iterations from exactly those parameters (weights_init, means_init,
precisions_init; max_iter = n_iter, tol = 0 so every iteration runs). Outputs go to
tests/fixtures/sklearn/*.json and are committed: the Rust tests need no Python.

Run:  bash scripts/prerequisites.sh fixtures     (pinned scikit-learn, numpy, torch: .venv-fixtures)
      .venv-fixtures/bin/python scripts/sklearn_fixtures.py
"""
import json
import pathlib
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "sklearn"


def crabs():
    x = np.loadtxt(ROOT / "data" / "pearson_crabs.csv", delimiter=",", skiprows=1)
    return x.reshape(-1, 1)


def blobs(rng, n, centres, scales):
    k = len(centres)
    labels = rng.integers(0, k, size=n)
    d = len(centres[0])
    x = np.empty((n, d))
    for i, l in enumerate(labels):
        x[i] = np.asarray(centres[l]) + rng.normal(size=d) * np.asarray(scales[l])
    return x


def correlated(rng, n, d, k, spread):
    centres = rng.normal(size=(k, d)) * spread
    x = []
    for i in range(n):
        c = i % k
        a = rng.normal(size=(d, d)) * 0.3 + np.eye(d)
        x.append(centres[c] + a @ rng.normal(size=d) * 0.5)
    return np.array(x)


def init_params(rng, x, k, kind):
    n, d = x.shape
    idx = rng.choice(n, size=k, replace=False)
    means = x[idx].copy()
    var = x.var(axis=0) * rng.uniform(0.5, 1.5, size=(k, d))
    weights = rng.dirichlet(np.full(k, 5.0))
    if kind == "full":
        covs = np.array([np.diag(v) for v in var])
        # A little correlation so the full path is exercised from the first step.
        for c in covs:
            if d > 1:
                off = 0.3 * np.sqrt(c[0, 0] * c[1, 1])
                c[0, 1] = c[1, 0] = off
        precisions = np.array([np.linalg.inv(c) for c in covs])
        cov_out = covs
    elif kind == "diag":
        cov_out = var
        precisions = 1.0 / var
    else:
        cov_out = var.mean(axis=1)
        precisions = 1.0 / cov_out
    return weights, means, cov_out, precisions


def run(name, x, k, kind, n_iter, reg_covar, seed):
    rng = np.random.default_rng(seed)
    weights, means, covs, precisions = init_params(rng, x, k, kind)
    gm = GaussianMixture(
        n_components=k,
        covariance_type=kind,
        tol=0.0,
        max_iter=n_iter,
        reg_covar=reg_covar,
        weights_init=weights,
        means_init=means,
        precisions_init=precisions,
        init_params="random_from_data",
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(x)
    case = {
        "name": name,
        "source": f"scikit-learn {sklearn.__version__} GaussianMixture, numpy {np.__version__}",
        "covariance_type": kind,
        "n_components": k,
        "n_iter": n_iter,
        "reg_covar": reg_covar,
        "data": x.tolist(),
        "init": {"weights": weights.tolist(), "means": means.tolist(), "covariances": covs.tolist()},
        "expected": {
            "weights": gm.weights_.tolist(),
            "means": gm.means_.tolist(),
            "covariances": gm.covariances_.tolist(),
            "lower_bound": float(gm.lower_bound_),
            "n_iter": int(gm.n_iter_),
            "score": float(gm.score(x)),
            "score_samples": gm.score_samples(x).tolist(),
            "predict": gm.predict(x).tolist(),
            "bic": float(gm.bic(x)),
            "aic": float(gm.aic(x)),
        },
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(case, indent=None) + "\n")
    print(f"{name}: K={k} D={x.shape[1]} N={x.shape[0]} {kind} iters={n_iter} lb={gm.lower_bound_:.6f}")


def main():
    rng = np.random.default_rng(20261126)
    x2 = blobs(rng, 400, [[0, 0], [3, 1], [-1, 4]], [[1.0, 0.5], [0.6, 1.2], [0.8, 0.8]])
    run("blobs_full_2d", x2, 3, "full", 10, 1e-6, 1)
    x3 = blobs(rng, 450, [[0, 0, 0], [4, 1, -2], [-2, 3, 1]], [[1, 2, 0.5], [0.5, 0.5, 1], [1.5, 1, 1]])
    run("blobs_diag_3d", x3, 3, "diag", 10, 1e-6, 2)
    run("blobs_spherical_2d", x2, 4, "spherical", 10, 1e-6, 3)
    x8 = correlated(rng, 600, 8, 4, 3.0)
    run("correlated_full_8d", x8, 4, "full", 8, 1e-6, 4)
    run("correlated_diag_8d", x8, 4, "diag", 8, 1e-4, 5)
    xo = 100.0 + blobs(rng, 500, [[0, 0], [0.03, 0.02]], [[0.01, 0.01], [0.01, 0.005]])
    run("offset100_full_2d", xo, 2, "full", 10, 1e-8, 6)
    run("crabs_full_20_iter", crabs(), 2, "full", 20, 1e-6, 7)
    run("crabs_full_converged", crabs(), 2, "full", 5000, 1e-6, 7)


if __name__ == "__main__":
    main()
