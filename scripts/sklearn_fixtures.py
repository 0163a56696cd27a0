#!/usr/bin/env python3
"""Generate scikit-learn reference fixtures for crabmix's Gaussian-mixture tests.

Each EM case: a data set, initial parameters, and scikit-learn's GaussianMixture parameters after a
fixed number of EM iterations from exactly those parameters (weights_init, means_init,
precisions_init; max_iter = n_iter, tol = 0 so every iteration runs, unless the case says
otherwise). Cases of the `kmeans` initialization also carry the k-means labels scikit-learn's
GaussianMixture starts from (given the same labels, crabmix's M-step must equal its initial
model), and `ports.json` holds the data and scikit-learn's results for the scenarios of
scikit-learn's own sklearn/mixture/tests/test_gaussian_mixture.py that crabmix ports
(docs/sklearn-parity.md lists them). Outputs go to tests/fixtures/sklearn/*.json and are
committed: the Rust tests need no Python.

Run:  bash scripts/prerequisites.sh fixtures     (pinned scikit-learn, numpy, torch: .venv-fixtures)
      .venv-fixtures/bin/python scripts/sklearn_fixtures.py
"""
import json
import pathlib
import warnings

import numpy as np
import sklearn
from scipy import linalg
from sklearn.cluster import KMeans
from sklearn.datasets import make_spd_matrix
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky, _estimate_gaussian_parameters
from sklearn.utils.extmath import fast_logdet

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "sklearn"
SOURCE = f"scikit-learn {sklearn.__version__} GaussianMixture, numpy {np.__version__}"
KINDS = ["full", "tied", "diag", "spherical"]


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
    if kind in ("full", "tied"):
        covs = np.array([np.diag(v) for v in var])
        # A little correlation so the full path is exercised from the first step.
        for c in covs:
            if d > 1:
                off = 0.3 * np.sqrt(c[0, 0] * c[1, 1])
                c[0, 1] = c[1, 0] = off
        if kind == "tied":
            covs = covs.mean(axis=0)
            precisions = np.linalg.inv(covs)
        else:
            precisions = np.array([np.linalg.inv(c) for c in covs])
        cov_out = covs
    elif kind == "diag":
        cov_out = var
        precisions = 1.0 / var
    else:
        cov_out = var.mean(axis=1)
        precisions = 1.0 / cov_out
    return weights, means, cov_out, precisions


def fit_quietly(gm, x):
    """Fits, returning whether scikit-learn raised its ConvergenceWarning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        gm.fit(x)
    return any(issubclass(w.category, ConvergenceWarning) for w in caught)


def expected_of(gm, x, warned, scored=None):
    """scikit-learn's fitted attributes; `scored` (default x) is what score/bic/aic see."""
    scored = x if scored is None else scored
    return {
        "weights": gm.weights_.tolist(),
        "means": gm.means_.tolist(),
        "covariances": gm.covariances_.tolist(),
        "lower_bound": float(gm.lower_bound_),
        "lower_bounds": [float(v) for v in gm.lower_bounds_],
        "n_iter": int(gm.n_iter_),
        "converged": bool(gm.converged_),
        "convergence_warning": bool(warned),
        "score": float(gm.score(scored)),
        "score_samples": gm.score_samples(x).tolist(),
        "predict": gm.predict(x).tolist(),
        "predict_proba": gm.predict_proba(x).tolist(),
        "bic": float(gm.bic(scored)),
        "aic": float(gm.aic(scored)),
    }


def write(name, case):
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(case, indent=None) + "\n")


def case_of(name, x, k, kind, n_iter, reg_covar, tol, init, expected, **extra):
    case = {
        "name": name,
        "source": SOURCE,
        "covariance_type": kind,
        "n_components": k,
        "n_iter": n_iter,
        "tol": tol,
        "reg_covar": reg_covar,
        "data": x.tolist(),
        "init": init,
        "expected": expected,
    }
    case.update(extra)
    return case


def run(name, x, k, kind, n_iter, reg_covar, seed, tol=0.0):
    rng = np.random.default_rng(seed)
    weights, means, covs, precisions = init_params(rng, x, k, kind)
    gm = GaussianMixture(
        n_components=k,
        covariance_type=kind,
        tol=tol,
        max_iter=n_iter,
        reg_covar=reg_covar,
        weights_init=weights,
        means_init=means,
        precisions_init=precisions,
        init_params="random_from_data",
        random_state=0,
    )
    warned = fit_quietly(gm, x)
    init = {"weights": weights.tolist(), "means": means.tolist(), "covariances": covs.tolist()}
    write(name, case_of(name, x, k, kind, n_iter, reg_covar, tol, init, expected_of(gm, x, warned)))
    print(f"{name}: K={k} D={x.shape[1]} N={x.shape[0]} {kind} iters={gm.n_iter_} lb={gm.lower_bound_:.6f}")


def kmeans_labels(x, k, random_state, n_init=1):
    """The labels of each of GaussianMixture's `n_init` kmeans initializations: it passes its one
    RandomState to KMeans(n_clusters=k, n_init=1) once per initialization (_base.py)."""
    rs = np.random.RandomState(random_state)
    return [KMeans(n_clusters=k, n_init=1, random_state=rs).fit(x).labels_ for _ in range(n_init)]


def hard_m_step(x, labels, k, kind, reg_covar):
    """scikit-learn's own M-step of one-hot responsibilities (what `_initialize` runs)."""
    resp = np.zeros((x.shape[0], k))
    resp[np.arange(x.shape[0]), labels] = 1
    nk, means, covs = _estimate_gaussian_parameters(x, resp, reg_covar, kind)
    return nk / x.shape[0], means, covs


def params(gm):
    return {"weights": gm.weights_.tolist(), "means": gm.means_.tolist(), "covariances": gm.covariances_.tolist()}


def kmeans_case(name, x, k, kind, n_iter, seed, reg_covar=1e-6, partial=None):
    """The `kmeans` initialization (scikit-learn's default): the KMeans labels, scikit-learn's
    initial model (max_iter = 0) and the model after n_iter iterations (tol 0). `partial`: user
    fields ({"means": …} etc.) that replace the labels' M-step values, as means_init/
    weights_init/precisions_init do."""
    labels = kmeans_labels(x, k, seed)[0]
    user = {}
    if partial:
        user = {key: np.asarray(v) for key, v in partial.items()}
    kw = {}
    if "weights" in user:
        kw["weights_init"] = user["weights"]
    if "means" in user:
        kw["means_init"] = user["means"]
    if "precisions" in user:
        kw["precisions_init"] = user["precisions"]
    common = dict(n_components=k, covariance_type=kind, reg_covar=reg_covar, init_params="kmeans", random_state=seed, **kw)
    w, m, c = hard_m_step(x, labels, k, kind, reg_covar)
    init = {"weights": w, "means": m, "covariances": c}
    for key, v in user.items():
        if key == "precisions":
            init["covariances"] = np.linalg.inv(v) if kind in ("full", "tied") else 1.0 / v
        else:
            init[key] = v
    # scikit-learn's own initial model (max_iter = 0) is the M-step of these labels (and the
    # user's fields). With precisions_init, scikit-learn 1.9.1's max_iter = 0 fit raises
    # AttributeError (no covariances_ before an M-step), so that case is checked after EM only.
    if "precisions" not in user:
        zero = GaussianMixture(max_iter=0, **common)
        fit_quietly(zero, x)
        assert np.allclose(zero.weights_, init["weights"], rtol=1e-12, atol=0)
        assert np.allclose(zero.means_, init["means"], rtol=1e-12, atol=1e-14)
        assert np.allclose(zero.covariances_, init["covariances"], rtol=1e-12, atol=1e-15)
    gm = GaussianMixture(max_iter=n_iter, tol=0.0, **common)
    warned = fit_quietly(gm, x)
    init = {key: np.asarray(v).tolist() for key, v in init.items()}
    extra = {"labels": labels.tolist(), "init_model": {key: v.tolist() for key, v in user.items()}}
    write(name, case_of(name, x, k, kind, n_iter, reg_covar, 0.0, init, expected_of(gm, x, warned), **extra))
    print(f"{name}: kmeans init K={k} {kind} iters={n_iter} lb={gm.lower_bound_:.6f} user={sorted(user)}")


def warm_start_case(name, seed):
    """scikit-learn's test_warm_start: two warm fits of one iteration equal one cold fit of two.
    The fixture's `init` is the model after the first warm fit (given to crabmix as weights,
    means and precisions, `init_model`); `expected` is the second warm fit, `cold` the cold
    fit of max_iter = 2."""
    rng = np.random.RandomState(seed)
    x = rng.rand(500, 2)
    k = 2
    g = GaussianMixture(n_components=k, n_init=1, max_iter=2, reg_covar=0, random_state=seed)
    h = GaussianMixture(n_components=k, n_init=1, max_iter=1, reg_covar=0, random_state=seed, warm_start=True)
    fit_quietly(g, x)
    fit_quietly(h, x)
    first = params(h)
    precisions = h.precisions_.tolist()
    warned = fit_quietly(h, x)
    assert np.allclose(g.means_, h.means_, rtol=1e-12)
    case = case_of(name, x, k, "full", 1, 0.0, 0.0, first, expected_of(h, x, warned),
                   init_model={"weights": first["weights"], "means": first["means"], "precisions": precisions},
                   cold=params(g))
    write(name, case)
    print(f"{name}: warm start, lb={h.lower_bound_:.6f}")


def weighted_case(name, kind, seed):
    """Sample weights (scikit-learn has none): the unique rows with integer counts here; the
    expected values are scikit-learn's fit of the rows repeated count times (score, BIC and
    AIC over the repeated rows; score_samples and predict per unique row)."""
    rng = np.random.default_rng(seed)
    u = blobs(rng, 60, [[0, 0], [3, 1], [-1, 4]], [[1.0, 0.5], [0.6, 1.2], [0.8, 0.8]])
    counts = rng.integers(1, 6, size=len(u))
    rep = np.repeat(u, counts, axis=0)
    weights, means, covs, precisions = init_params(rng, u, 3, kind)
    gm = GaussianMixture(n_components=3, covariance_type=kind, tol=0.0, max_iter=10, reg_covar=1e-6,
                         weights_init=weights, means_init=means, precisions_init=precisions, random_state=0)
    warned = fit_quietly(gm, rep)
    init = {"weights": weights.tolist(), "means": means.tolist(), "covariances": covs.tolist()}
    case = case_of(name, u, 3, kind, 10, 1e-6, 0.0, init, expected_of(gm, u, warned, scored=rep),
                   sample_weight=counts.astype(float).tolist(), repeated_rows=int(len(rep)))
    write(name, case)
    print(f"{name}: {len(u)} rows with counts = {len(rep)} rows, {kind}, lb={gm.lower_bound_:.6f}")


def max_iter_zero_case(name, x, k, seed, n_init):
    """max_iter = 0 with several initializations: scikit-learn keeps the LAST one (_base.py sets
    best_params in every initialization when max_iter == 0), lower_bound_ −∞, n_iter_ 0."""
    all_labels = kmeans_labels(x, k, seed, n_init)
    gm = GaussianMixture(n_components=k, max_iter=0, n_init=n_init, init_params="kmeans", random_state=seed)
    warned = fit_quietly(gm, x)
    last = hard_m_step(x, all_labels[-1], k, "full", 1e-6)
    first = hard_m_step(x, all_labels[0], k, "full", 1e-6)
    assert np.allclose(gm.means_, last[1], rtol=1e-12) and not np.allclose(gm.means_, first[1], rtol=1e-3)
    assert gm.lower_bound_ == -np.inf and gm.n_iter_ == 0 and not gm.converged_ and not warned
    e = expected_of(gm, x, warned)
    e["lower_bound"] = None  # −∞: JSON has no infinity
    init = {"weights": last[0].tolist(), "means": last[1].tolist(), "covariances": last[2].tolist()}
    case = case_of(name, x, k, "full", 0, 1e-6, 1e-3, init, e, n_init=n_init,
                   all_labels=[lab.tolist() for lab in all_labels])
    write(name, case)
    print(f"{name}: max_iter 0, n_init {n_init}: the last init kept")


class RandomData:
    """scikit-learn's RandomData (test_gaussian_mixture.py), same draws: per covariance type a
    data set of n_samples from the mixture of `weights`, `means`, `covariances`."""

    def __init__(self, rng, n_samples=200, n_components=2, n_features=2, scale=50):
        self.weights = rng.rand(n_components)
        self.weights = self.weights / self.weights.sum()
        self.means = rng.rand(n_components, n_features) * scale
        self.covariances = {
            "spherical": 0.5 + rng.rand(n_components),
            "diag": (0.5 + rng.rand(n_components, n_features)) ** 2,
            "tied": make_spd_matrix(n_features, random_state=rng),
            "full": np.array([make_spd_matrix(n_features, random_state=rng) * 0.5 for _ in range(n_components)]),
        }
        self.precisions = {
            "spherical": 1.0 / self.covariances["spherical"],
            "diag": 1.0 / self.covariances["diag"],
            "tied": linalg.inv(self.covariances["tied"]),
            "full": np.array([linalg.inv(c) for c in self.covariances["full"]]),
        }
        self.X = {}
        for kind in KINDS:
            r = np.random.RandomState(0)
            xs = []
            for i, w in enumerate(self.weights):
                m = self.means[i]
                cov = {
                    "spherical": lambda: self.covariances["spherical"][i] * np.eye(n_features),
                    "diag": lambda: np.diag(self.covariances["diag"][i]),
                    "tied": lambda: self.covariances["tied"],
                    "full": lambda: self.covariances["full"][i],
                }[kind]()
                xs.append(r.multivariate_normal(m, cov, int(np.round(w * n_samples))))
            self.X[kind] = np.vstack(xs)
        self.Y = np.hstack([np.full(int(np.round(w * n_samples)), k, dtype=int) for k, w in enumerate(self.weights)])

    def to_json(self):
        return {
            "weights": self.weights.tolist(),
            "means": self.means.tolist(),
            "covariances": {k: v.tolist() for k, v in self.covariances.items()},
            "X": {k: v.tolist() for k, v in self.X.items()},
            "Y": self.Y.tolist(),
        }


def ports():
    """Data and results of the ported scikit-learn tests (docs/sklearn-parity.md)."""
    out = {"source": SOURCE}
    # RandomData(RandomState(0)) at the scales the tests use.
    out["random_data"] = {str(s): RandomData(np.random.RandomState(0), scale=s).to_json() for s in (1, 5, 7, 50)}
    # test_gaussian_mixture_fit_predict (and predict_predict_proba): EM from the true
    # parameters with each (seed, max_iter, tol); fit_predict's labels and the fitted model.
    cases = []
    for seed, max_iter, tol in [(0, 2, 1e-7), (1, 2, 1e-1), (3, 300, 1e-7), (4, 300, 1e-1)]:
        rng = np.random.RandomState(seed)
        rd = RandomData(rng)
        for kind in KINDS:
            x = rd.X[kind]
            common = dict(n_components=2, random_state=rng, weights_init=rd.weights, means_init=rd.means,
                          precisions_init=rd.precisions[kind], covariance_type=kind, max_iter=max_iter, tol=tol)
            g = GaussianMixture(**common)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                labels = g.fit_predict(x)
            warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
            # make_spd_matrix's U·S·Vᵀ is symmetric only to ~1e-13 relative, beyond what crabmix
            # accepts as a covariance (1e3·ε); crabmix starts from the symmetrized matrix.
            cov = rd.covariances[kind]
            if kind in ("full", "tied"):
                cov = (cov + np.swapaxes(cov, -1, -2)) / 2
            init = {"weights": rd.weights.tolist(), "means": rd.means.tolist(), "covariances": cov.tolist()}
            e = expected_of(g, x, warned)
            e["fit_predict"] = labels.tolist()
            # The true model's own densities (test_gaussian_mixture_log_probabilities,
            # estimate_log_prob_resp): score_samples and predict_proba at the initial parameters.
            # (A max_iter = 0 fit with precisions_init raises AttributeError in scikit-learn
            # 1.9.1, so the true model's attributes are set directly.)
            t = GaussianMixture(n_components=2, covariance_type=kind)
            t.weights_, t.means_, t.covariances_ = rd.weights, rd.means, rd.covariances[kind]
            t.precisions_cholesky_ = _compute_precision_cholesky(rd.covariances[kind], kind)
            t.n_features_in_ = x.shape[1]
            case = case_of(f"fit_predict_s{seed}_{kind}", x, 2, kind, max_iter, 1e-6, tol, init, e, Y=rd.Y.tolist(),
                           init_score_samples=t.score_samples(x).tolist(),
                           init_predict_proba=t.predict_proba(x).tolist())
            cases.append(case)
    out["fit_predict"] = cases
    # test_suffstat_sk_*: scikit-learn's M-step of random responsibilities, every kind.
    rng = np.random.RandomState(0)
    x = rng.rand(500, 2)
    resp = rng.rand(500, 2)
    resp = resp / resp.sum(axis=1)[:, None]
    out["suffstat"] = {"X": x.tolist(), "resp": resp.tolist(), "reg_covar": 0.0}
    for kind in KINDS:
        nk, means, covs = _estimate_gaussian_parameters(x, resp, 0.0, kind)
        out["suffstat"][kind] = {"nk": nk.tolist(), "means": means.tolist(), "covariances": covs.tolist()}
    # test_gaussian_mixture_aic_bic: randn(50, 3), K = 2; sgh, the standard Gaussian entropy.
    rng = np.random.RandomState(0)
    x = rng.randn(50, 3)
    sgh = 0.5 * (fast_logdet(np.cov(x.T, bias=1)) + 3 * (1 + np.log(2 * np.pi)))
    out["aic_bic"] = {"X": x.tolist(), "sgh": float(sgh)}
    # test_bic_1d_1component: randn(100, 1), K = 1, every kind gives the same BIC.
    rng = np.random.RandomState(0)
    x = rng.randn(100, 1)
    bics = {kind: float(GaussianMixture(n_components=1, covariance_type=kind, random_state=rng).fit(x).bic(x)) for kind in KINDS}
    out["bic_1d"] = {"X": x.tolist(), "bic": bics}
    # test_multiple_init, test_gaussian_mixture_n_parameters: randn(50, 5).
    rng = np.random.RandomState(0)
    x = rng.randn(50, 5)
    out["randn_50x5"] = {"X": x.tolist(),
                         "n_parameters": {k: int(GaussianMixture(n_components=2, covariance_type=k).fit(x)._n_parameters()) for k in KINDS}}
    # test_max_iter_zero: means_init returned as is.
    rd = RandomData(np.random.RandomState(0), scale=5)
    means_init = [[20, 30], [30, 25]]
    g = GaussianMixture(n_components=2, random_state=0, means_init=means_init, tol=1e-6, max_iter=0).fit(rd.X["full"])
    out["max_iter_zero"] = {"means_init": means_init, "means": g.means_.tolist()}
    # test_gaussian_mixture_setting_best_params: a spherical start that diverges in one step.
    rnd = np.random.RandomState(0)
    x = rnd.uniform(size=(30, 3))
    means_init = np.array([
        [0.670637869618158, 0.21038256107384043, 0.12892629765485303],
        [0.09394051075844147, 0.5759464955561779, 0.929296197576212],
        [0.5033230372781258, 0.9569852381759425, 0.08654043447295741],
        [0.18578301420435747, 0.5531158970919143, 0.19388943970532435],
        [0.4548589928173794, 0.35182513658825276, 0.568146063202464],
        [0.609279894978321, 0.7929063819678847, 0.9620097270828052],
    ])
    precisions_init = np.array([999999.999604483, 999999.9990869573, 553.7603944542167, 204.78596008931834,
                                15.867423501783637, 85.4595728389735])
    weights_init = [0.03333333333333341, 0.03333333333333341, 0.06666666666666674, 0.06666666666666674,
                    0.7000000000000001, 0.10000000000000007]
    g = GaussianMixture(covariance_type="spherical", reg_covar=0, means_init=means_init, weights_init=weights_init,
                        random_state=rnd, n_components=6, precisions_init=precisions_init, max_iter=1)
    warned = fit_quietly(g, x)
    init = {"weights": weights_init, "means": means_init.tolist(), "covariances": (1.0 / precisions_init).tolist()}
    out["setting_best_params"] = case_of("setting_best_params", x, 6, "spherical", 1, 0.0, 1e-3, init,
                                         expected_of(g, x, warned))
    (OUT / "ports.json").write_text(json.dumps(out, indent=None) + "\n")
    print(f"ports: {len(cases)} fit_predict cases, suffstat, aic_bic, bic_1d, randn_50x5, max_iter_zero")


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
    # New with scikit-learn 1.9.1 (issue 15): tied covariances.
    run("blobs_tied_2d", x2, 3, "tied", 10, 1e-6, 8)
    run("correlated_tied_8d", x8, 4, "tied", 8, 1e-6, 9)
    # The ConvergenceWarning case: 2 iterations, tol 1e-10 (the kept run did not converge).
    run("blobs_full_2d_not_converged", x2, 3, "full", 2, 1e-6, 10, tol=1e-10)
    # The kmeans initialization, every kind: the labels' M-step, then 10 iterations.
    for kind in KINDS:
        kmeans_case(f"kmeans_init_{kind}_2d", x2, 3, kind, 10, 11)
    # Partial user initialization over the kmeans labels (means_init, weights_init,
    # precisions_init alone).
    kmeans_case("kmeans_means_init_full_2d", x2, 3, "full", 5, 12,
                partial={"means": [[0.5, 0.0], [2.5, 1.5], [-0.5, 3.5]]})
    kmeans_case("kmeans_weights_init_diag_2d", x2, 3, "diag", 5, 13, partial={"weights": [0.2, 0.3, 0.5]})
    kmeans_case("kmeans_precisions_init_tied_2d", x2, 3, "tied", 5, 14,
                partial={"precisions": [[2.0, 0.3], [0.3, 1.5]]})
    # Warm start (scikit-learn's warm_start, crabmix's --init-model with a whole model).
    warm_start_case("warm_start_full_2d", 0)
    # Sample weights against repeated rows.
    weighted_case("weighted_full_2d", "full", 15)
    weighted_case("weighted_tied_2d", "tied", 16)
    # max_iter 0 with n_init 3: the last initialization.
    max_iter_zero_case("max_iter_zero_n_init_3", x2, 3, 17, 3)
    ports()


if __name__ == "__main__":
    main()
