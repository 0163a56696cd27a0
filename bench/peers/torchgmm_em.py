#!/usr/bin/env python3
"""Times one torchgmm (PyPI `torchgmm`, PyTorch on the CPU) GaussianMixture EM iteration.

Usage: torchgmm_em.py MANIFEST.json > RESULT.json. Optional peer of scripts/bench.sh: it runs
from its own virtual environment (`TORCHGMM_VENV`, made by scripts/bench.sh when asked) and the
harness reports it as skipped when it cannot be imported. torchgmm fits through PyTorch
Lightning and cannot start EM from given covariances, so, as for linfa, one iteration is timed
as (t(1 + m iterations) − t(1)) / m (each t the best of 2 fits) from the workload's starting means (`init_means`, which skips
its k-means), convergence tolerance 0 (every iteration runs), all CPU threads, float64 through
Lightning's `precision=64` and float32 as it is.
"""
import json
import os
import sys
import time
import warnings
from importlib.metadata import version


def main():
    manifest = json.load(open(sys.argv[1]))
    extra = manifest.get("torchgmm_extra_iterations", 5)
    import logging

    for name in ("lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import numpy as np
    import torch
    from torchgmm.bayes import GaussianMixture

    torch.set_num_threads(os.cpu_count() or 1)

    def fit_seconds(x, means, kind, k, iters, precision):
        gm = GaussianMixture(
            k,
            covariance_type=kind,
            init_means=means,
            convergence_tolerance=0.0,
            covariance_regularization=1e-6,
            trainer_params={
                "accelerator": "cpu",
                "devices": 1,
                "max_epochs": iters,
                "precision": precision,
                "enable_progress_bar": False,
                "logger": False,
                "enable_checkpointing": False,
                "enable_model_summary": False,
            },
        )
        t = time.perf_counter()
        gm.fit(x)
        return time.perf_counter() - t

    out = []
    for w in manifest["workloads"]:
        n, d, k, kind = w["n"], w["d"], w["k"], w["kind"]
        x64 = np.fromfile(w["path"], dtype="<f8").reshape(n, d)
        row = {"name": w["name"], "kind": kind, "version": f"torchgmm {version('torchgmm')}, torch {torch.__version__}"}
        for key, dtype, precision in [("seconds_f64", torch.float64, 64), ("seconds_f32", torch.float32, 32)]:
            x = torch.from_numpy(x64).to(dtype)
            means = torch.tensor(w["means"], dtype=dtype).reshape(k, d)
            try:
                # Best of 2 of each fit: the difference of two noisy times is noisier still.
                t1 = min(fit_seconds(x, means, kind, k, 1, precision) for _ in range(2))
                tm = min(fit_seconds(x, means, kind, k, 1 + extra, precision) for _ in range(2))
                row[key] = max((tm - t1) / extra, 0.0)
            except Exception as e:  # a configuration torchgmm rejects: reported, not fatal
                print(f"torchgmm {w['name']} {dtype}: {e}", file=sys.stderr)
                row[key] = None
        print(f"torchgmm {w['name']}: f64 {row['seconds_f64']} s, f32 {row['seconds_f32']} s", file=sys.stderr)
        out.append(row)
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    main()
