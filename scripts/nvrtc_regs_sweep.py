#!/usr/bin/env python3
"""Register sweep of the registers E-step kernel (host/cuda/gmm_estep_fixed.cu): compiles every
full and diag shape with D ≤ 8 and E = K(1 + D + P) ≤ 64 statistics (what the layout allowed
before; up to 128 accumulator registers, E · sizeof(T)/4, in f64), in f32 and f64, at each
(rows per step, blocks per SM) setting, through the pinned NVRTC for sm_90, and prints per shape
which settings spill. It is the evidence for host/src/device/layout.rs's REGS_MAX_ENTRIES (above 64
registers a shape spills at every setting or needs ≥ 194 registers, one block per SM) and
REGS_FOUR_ROWS_MAX, and checks that the layout's rule picks a spill-free setting for every shape
it sends to this kernel. Not part of CI (≈ 10 minutes on 2 cores); needs libnvrtc.so.13 on
LD_LIBRARY_PATH (scripts/cuda-check.sh installs it).

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
MAX_REGS, FOUR_ROWS_MAX = 64, 24  # device::layout::REGS_MAX_ENTRIES, REGS_FOUR_ROWS_MAX
OLD_MAX_ENTRIES = 64  # the limit before it counted registers: E ≤ 64 entries, whatever the scalar


def rule(regs):
    return (4, 2) if regs <= FOUR_ROWS_MAX else (2, 1)


def shapes():
    for full in (True, False):
        for d in range(1, 9):
            for k in range(1, 65):
                e = k * (1 + d + (d * (d + 1) // 2 if full else d))
                for ctype, tn, elem in (("float", "f32", 4), ("double", "f64", 8)):
                    if e <= OLD_MAX_ENTRIES:
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
    ok, over, over_spill, over_fewest = True, 0, 0, []
    for full, d, k, _, tn, regs in shapes():
        kind = "full" if full else "diag"
        cells, chosen_ok, clean_regs = [], None, []
        for r, b in SETTINGS:
            kr = kernels[f"gmm_estep_regs_{kind}_d{d}_k{k}_r{r}_b{b}_{tn}"]
            clean = kr.get("spill_stores", 1) + kr.get("spill_loads", 1) == 0
            cells.append(f"{r}/{b}:{'ok' if clean else 'spill'}({kr.get('registers', '?')})")
            if clean:
                clean_regs.append(kr.get("registers", 255))
            if (r, b) == rule(regs):
                chosen_ok = clean
        if regs > MAX_REGS:
            over += 1
            over_spill += not clean_regs
            over_fewest += [min(clean_regs)] if clean_regs else []
            status = "over"
        else:
            ok &= bool(chosen_ok)
            status = "ok  " if chosen_ok else "FAIL"
        print(f"{status} {tn} {kind} D={d} K={k} regs={regs:3d} rule={rule(regs)} " + " ".join(cells))
    print(f"over {MAX_REGS} registers: {over} shapes, {over_spill} spill at every setting, the others "
          f"need at least {min(over_fewest, default=0)} registers")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
