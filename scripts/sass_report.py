#!/usr/bin/env python3
"""Machine code of the E-step's hot loops, without a GPU: compile the benchmark kernels through
NVRTC (ctypes, the pinned 13.0 as in nvrtc_check.py) to sm_90 cubins with line info,
disassemble them with nvdisasm (PyPI wheel), find each loop by the source line of its back edge,
and count its SASS instructions per unit of work (a row, a (row, component) pair).

Instructions per row bound the E-step from below on the card: an SM issues 4 warp-instructions
per clock, so N rows take ≥ N · instructions / (32 · 4 · SMs · clock) seconds. The GPU run
(bench/gpu/run-gpu-check.sh) measures the rest; this tracks what a kernel change does to the
code between GPU runs, as the firmware's instruction budgets do on the MCU.

Usage: sass_report.py [--arch sm_90] [--json OUT] [--check BUDGET.json] [--nvdisasm PATH]
                      [--cuda-dir DIR]
Needs libnvrtc.so.13 on LD_LIBRARY_PATH and nvdisasm (scripts/cuda-check.sh installs both).
--check fails (exit 1) when a loop takes more instructions per unit than BUDGET.json records,
or is not found; fewer is reported, so that the budget can be lowered with the change.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nvrtc_check  # noqa: E402  (same options and library loading as the spill check)

CUDA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "host", "cuda")

# (kernel family file, instantiation line, entry point, loops): each loop is (name, regex of its
# `for` line in the file, unit, units per iteration — None: the `#pragma unroll N` above the line
# or 1 — and optionally which of the loops on that line, largest first: a helper instantiated
# twice, as phase C's, puts two loops on one line). The instances are the GPU benchmark's (D = 2, K = 4 registers variants; D = K = 16
# tiled, the layout's default).
KERNELS = [
    ("gmm_estep_fixed.cu", f"GMM_ESTEP_REGS_ENTRY(float, f32, true, full, 2, 4, {rpi}, {b})",
     f"gmm_estep_regs_full_d2_k4_r{rpi}_b{b}_f32",
     [("rows", r"for \(i64 r0 = .*r0 \+= RPI \* stride\)", "row", rpi)])
    for rpi, b in [(4, 2), (2, 1), (2, 2), (1, 1)]
] + [
    ("gmm_estep_fixed.cu", "GMM_ESTEP_TILED_ENTRY(float, f32, 16, 4, 2)", "gmm_estep_tiled_full_d16_r4_b2_f32",
     [("phase A", r"for \(int item = tid; item < k \* groups;", "(row, component)", 4),
      ("phase C, off-diagonal block", r"for \(int r = 0; r < rows; \+\+r\)", "row per thread", None),
      ("phase C, diagonal block", r"for \(int r = 0; r < rows; \+\+r\)", "row per thread", None, 1)]),
]

LINE_RE = re.compile(r'//## File "[^"]*", line (\d+)')
LABEL_RE = re.compile(r"^(\.L_x_\d+):")
INS_RE = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)([^;]*);")
BRA_RE = re.compile(r"`\((\.L_x_\d+)\)")
# Opcode groups worth reading off a loop: FP32 pipe, MUFU (ex2/lg2/rcp), shared and global memory.
GROUPS = {"FFMA": "ffma", "FADD": "fadd_fmul", "FMUL": "fadd_fmul", "MUFU": "mufu", "LDS": "lds", "LDG": "ldg",
          "DADD": "fp64", "DFMA": "fp64", "DMUL": "fp64", "DSETP": "fp64"}


def cubin(lib, path, instance, arch):
    src = open(path, "rb").read() + b"\n" + instance.encode() + b"\n"
    opts = nvrtc_check.COMMON_OPTIONS + [f"--gpu-architecture={arch}", f"--include-path={os.path.dirname(path)}",
                                         "-lineinfo", "--ptxas-options=-v"]
    rc, log, binary = nvrtc_check.compile_source(lib, src, os.path.basename(path), opts, want_cubin=True)
    if rc != 0:
        raise RuntimeError(f"{path} {instance}: {log}")
    return binary, nvrtc_check.parse(log)


def loops(sass):
    """Backward branches of a disassembly as (source line of the branch, opcodes of the body)."""
    line, labels, ins, found = None, {}, [], []
    for text in sass.splitlines():
        if m := LINE_RE.search(text):
            line = int(m.group(1))
        elif m := LABEL_RE.match(text.strip()):
            labels[m.group(1)] = len(ins)
        elif m := INS_RE.search(text):
            ins.append((line, m.group(2), m.group(3)))
            if m.group(2).startswith("BRA") and (t := BRA_RE.search(m.group(3))) and labels.get(t.group(1), 1 << 60) < len(ins):
                found.append((line, [op for _, op, _ in ins[labels[t.group(1)]:]]))
    return found


def source_line(path, pattern):
    """(1-based line of the first match, the `#pragma unroll N` count above it or 1)."""
    lines = open(path).read().splitlines()
    for i, text in enumerate(lines):
        if re.search(pattern, text):
            m = re.match(r"\s*#pragma unroll (\d+)", lines[i - 1]) if i else None
            return i + 1, int(m.group(1)) if m else 1
    raise RuntimeError(f"{path}: no line matches {pattern!r}")


def report(arch, nvdisasm, cuda_dir=CUDA_DIR):
    lib = nvrtc_check.nvrtc()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fname, instance, entry, wanted in KERNELS:
            path = os.path.join(cuda_dir, fname)
            binary, props = cubin(lib, path, instance, arch)
            cb = os.path.join(tmp, entry + ".cubin")
            open(cb, "wb").write(binary)
            sass = subprocess.run([nvdisasm, "-g", "-c", cb], check=True, capture_output=True, text=True).stdout
            found = loops(sass)
            kernel = {"registers": props.get(entry, {}).get("registers"), "loops": {}}
            for name, pattern, unit, per_iter, *rank in wanted:
                line, unroll = source_line(path, pattern)
                per_iter = per_iter or unroll
                bodies = sorted((ops for ln, ops in found if ln == line), key=len, reverse=True)
                if len(bodies) <= (rank[0] if rank else 0):
                    raise RuntimeError(f"{entry}: no loop {name!r} with its back edge on {fname}:{line}")
                ops = bodies[rank[0] if rank else 0]
                groups = collections.Counter(GROUPS.get(op.split(".")[0], "other") for op in ops)
                kernel["loops"][name] = {
                    "source": f"{fname}:{line}",
                    "unit": unit,
                    "units_per_iteration": per_iter,
                    "instructions_per_unit": round(len(ops) / per_iter, 2),
                    "per_unit": {g: round(c / per_iter, 2) for g, c in sorted(groups.items())},
                }
            out[entry] = kernel
    return out


def check(rep, budget):
    bad = []
    for entry, kb in budget.items():
        for name, lb in kb["loops"].items():
            got = rep.get(entry, {}).get("loops", {}).get(name)
            if got is None:
                bad.append(f"{entry} {name}: not found")
                continue
            have, allowed = got["instructions_per_unit"], lb["instructions_per_unit"]
            if have > allowed:
                bad.append(f"{entry} {name}: {have} instructions per {got['unit']} > budget {allowed}")
            elif have < allowed:
                print(f"note: {entry} {name}: {have} instructions per {got['unit']} < budget {allowed}: "
                      "lower the budget with this change")
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="sm_90")
    ap.add_argument("--json")
    ap.add_argument("--check")
    ap.add_argument("--nvdisasm", default=os.environ.get("CRABMIX_NVDISASM", "nvdisasm"))
    ap.add_argument("--cuda-dir", default=CUDA_DIR, help="the .cu sources (e.g. an older checkout's)")
    args = ap.parse_args()
    rep = report(args.arch, args.nvdisasm, args.cuda_dir)
    for entry, k in rep.items():
        for name, lp in k["loops"].items():
            mix = ", ".join(f"{g} {c:g}" for g, c in lp["per_unit"].items())
            print(f"{entry} ({k['registers']} registers) {name} [{lp['source']}]: "
                  f"{lp['instructions_per_unit']:g} instructions per {lp['unit']} ({mix})")
    doc = {"arch": args.arch, "kernels": rep}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.write("\n")
    if args.check:
        bad = check(rep, json.load(open(args.check))["kernels"])
        for b in bad:
            print("FAIL", b)
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
