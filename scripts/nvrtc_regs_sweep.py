#!/usr/bin/env python3
"""Register sweep of the registers E-step kernel (host/cuda/gmm_estep_fixed.cu): compiles every
full and diag shape with D ≤ 8 whose statistics take at most 64 accumulator registers
(E · sizeof(T)/4, E = K(1 + D + P)), in f32 and f64, at each (rows per step, blocks per SM) the
layout may pick, through the pinned NVRTC for sm_90, and prints per shape which settings spill.
It is the evidence for host/src/gpu_layout.rs's REGS_MAX_ENTRIES and REGS_FOUR_ROWS_MAX, and checks
that the layout's rule picks a spill-free setting for every shape. Not part of CI (≈ 8 minutes on
2 cores); needs libnvrtc.so.13 on LD_LIBRARY_PATH (scripts/cuda-check.sh installs it).

Usage: nvrtc_regs_sweep.py [--arch sm_90]
Exit status: 0 when the rule's choice compiles without spills for every shape, 1 otherwise.
"""
import argparse
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nvrtc_check import compile_file, nvrtc, parse  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SETTINGS = [(1, 1), (2, 1), (2, 2), (4, 1), (4, 2)]
MAX_REGS, FOUR_ROWS_MAX = 64, 24  # gpu_layout::REGS_MAX_ENTRIES, REGS_FOUR_ROWS_MAX


def rule(regs):
    return (4, 2) if regs <= FOUR_ROWS_MAX else (2, 1)


def shapes():
    for full in (True, False):
        for d in range(1, 9):
            for k in range(1, 65):
                e = k * (1 + d + (d * (d + 1) // 2 if full else d))
                for ctype, tn, elem in (("float", "f32", 4), ("double", "f64", 8)):
                    if e * elem // 4 <= MAX_REGS:
                        yield full, d, k, ctype, tn, e * elem // 4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="sm_90")
    a = ap.parse_args()
    src = open(os.path.join(ROOT, "host/cuda/gmm_estep_fixed.cu")).read()
    src = re.sub(r"#ifdef CRABMIX_CHECK_INSTANCES.*?#endif", "", src, flags=re.S)
    lines = []
    for full, d, k, ctype, tn, _ in shapes():
        kind = "full" if full else "diag"
        for r, b in SETTINGS:
            lines.append(f"GMM_ESTEP_REGS_ENTRY({ctype}, {tn}, {str(full).lower()}, {kind}, {d}, {k}, {r}, {b})")
    with tempfile.TemporaryDirectory() as tmp:
        for h in ("common.cuh", "gmm.cuh"):
            with open(os.path.join(tmp, h), "w") as fh:
                fh.write(open(os.path.join(ROOT, "host/cuda", h)).read())
        path = os.path.join(tmp, "sweep.cu")
        with open(path, "w") as fh:
            fh.write(src + "\n" + "\n".join(lines) + "\n")
        rc, log = compile_file(nvrtc(), path, a.arch, tmp)
    if rc != 0:
        print(log)
        return 1
    kernels = parse(log)
    ok = True
    for full, d, k, _, tn, regs in shapes():
        kind = "full" if full else "diag"
        cells, chosen_ok = [], None
        for r, b in SETTINGS:
            kr = kernels[f"gmm_estep_regs_{kind}_d{d}_k{k}_r{r}_b{b}_{tn}"]
            clean = kr.get("spill_stores", 1) + kr.get("spill_loads", 1) == 0
            cells.append(f"{r}/{b}:{'ok' if clean else 'spill'}({kr.get('registers', '?')})")
            if (r, b) == rule(regs):
                chosen_ok = clean
        ok &= bool(chosen_ok)
        print(f"{'ok  ' if chosen_ok else 'FAIL'} {tn} {kind} D={d} K={k} regs={regs:2d} rule={rule(regs)} " + " ".join(cells))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
