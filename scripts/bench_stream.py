#!/usr/bin/env python3
"""Throughput and peak RSS of `crabmix gmm fit` in memory, `--stream` and `--online` on one large
CSV (issue 15): the three runs share the file, K, D, covariance and iterations, in one run of this
script, so their ratios compare like with like on whatever load the machine has.

Peak RSS is the child's own ru_maxrss (os.wait4), wall time its elapsed time. Throughput is
rows × passes / seconds, passes = EM iterations + 1 scoring pass (+ 1 sampling pass for
--stream's initialization sample; --online: one online pass + one scoring pass, the batch start
on its first 65 536 rows not counted). Called by scripts/bench-stream.sh (which builds the binary).
Standard library only.
"""
import argparse
import json
import os
import pathlib
import platform
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def write_data(path, rows, seed):
    """rows × 2 columns from three Gaussian clusters (xorshift64* uniforms, Box-Muller free:
    sums of uniforms), written in blocks; the same file for every mode."""
    state = seed or 1

    def uniform():
        nonlocal state
        state ^= state >> 12
        state ^= (state << 25) & 0xFFFFFFFFFFFFFFFF
        state ^= state >> 27
        return ((state * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF) / 2.0**64

    centres = [(0.0, 0.0), (4.0, 1.0), (-2.0, 5.0)]
    with open(path, "w") as f:
        block = []
        for i in range(rows):
            cx, cy = centres[i % 3]
            x = cx + (uniform() + uniform() + uniform() - 1.5)
            y = cy + (uniform() + uniform() + uniform() - 1.5)
            block.append(f"{x:.6f},{y:.6f}\n")
            if len(block) == 65536:
                f.write("".join(block))
                block.clear()
        f.write("".join(block))


def run(cmd):
    """(wall seconds, peak RSS in MiB, stdout) of one child."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024.0, json.loads(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--max-iter", type=int, default=5)
    ap.add_argument("--components", type=int, default=3)
    ap.add_argument("--covariance", default="diag")
    ap.add_argument("--out", default=str(ROOT / "out" / "bench-stream"))
    ap.add_argument("--bin", default=str(ROOT / "target" / "release" / "crabmix"))
    a = ap.parse_args()
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    data = out / f"rows-{a.rows}.csv"
    if not data.exists():
        write_data(data, a.rows, 20261202)
    common = ["-k", str(a.components), "--covariance", a.covariance, "--max-iter", str(a.max_iter), "--tol", "0"]
    results = []
    for mode, extra in [("in memory", []), ("--stream", ["--stream"]), ("--online", ["--online"])]:
        wall, rss, model = run([a.bin, "gmm", "fit", str(data), *common, *extra])
        n_iter = model["n_iter"]
        passes = {"in memory": n_iter + 1, "--stream": n_iter + 2, "--online": 2}[mode]
        results.append({
            "mode": mode,
            "wall_s": round(wall, 3),
            "peak_rss_mib": round(rss, 1),
            "passes": passes,
            "rows_per_s": round(a.rows * passes / wall),
            "mean_log_likelihood": model["mean_log_likelihood"],
        })
    load = os.getloadavg()[0]
    report = {
        "rows": a.rows,
        "columns": 2,
        "csv_bytes": data.stat().st_size,
        "components": a.components,
        "covariance": a.covariance,
        "max_iter": a.max_iter,
        "cpus": os.cpu_count(),
        "load_average_1min": load,
        "machine": platform.processor() or platform.machine(),
        "results": results,
    }
    (out / "bench-stream.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{a.rows} rows × 2 ({data.stat().st_size / 1e6:.0f} MB CSV), K = {a.components} {a.covariance}, "
          f"max_iter {a.max_iter}, {os.cpu_count()} CPUs, load {load:.2f}")
    print(f"{'mode':<10} {'wall s':>8} {'peak RSS MiB':>13} {'passes':>7} {'rows/s':>12}  vs in memory")
    base = results[0]["rows_per_s"]
    for r in results:
        print(f"{r['mode']:<10} {r['wall_s']:>8.2f} {r['peak_rss_mib']:>13.1f} {r['passes']:>7} "
              f"{r['rows_per_s']:>12,}  {r['rows_per_s'] / base:.2f}×")


if __name__ == "__main__":
    main()
