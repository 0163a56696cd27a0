#!/usr/bin/env python3
"""Machine code of the E-step's hot loops, without a GPU: compile the benchmark kernels through
NVRTC (ctypes, the pinned 13.0 as in nvrtc_check.py) to sm_90 cubins with line info,
disassemble them with nvdisasm (PyPI wheel), find each loop by the source line of its back edge,
and count its SASS instructions per unit of work (a row, a (row, component) pair).

The cubins carry -lineinfo, which the run-time build does not; the hot loops' code was checked
to be the same without it. Counts are static: a loop's rarely taken branches (a row with zero
density) count as if executed.

Instructions per row bound the E-step from below on the card: an SM issues 4 warp-instructions
per clock, so N rows take ≥ N · instructions / (32 · 4 · SMs · clock) seconds. The GPU run
(bench/gpu/run-gpu-check.sh) measures the rest; this tracks what a kernel change does to the
code between GPU runs, as the firmware's instruction budgets do on the MCU.

Usage: sass_report.py [--arch sm_90] [--json OUT] [--check BUDGET.json] [--nvdisasm PATH]
                      [--cuda-dir DIR] [--card RUN.json]
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

# Each kernel: its family file, the instantiation line appended for NVRTC, the entry point, and
# loops, each found by a regex over the source (its start is the line of the loop's back edge;
# `file` when the loop is in a header): `per_iter` units of work per iteration (a number, or a
# function of the loop's opcode counts where the compiler chose the unrolling; None: the
# `#pragma unroll N` above the line, or 1), `rank` which of the loops on that line, largest
# first (a helper instantiated twice, as phase C's, puts two loops on one line). The instances
# are the GPU benchmark's: D = 2, K = 4 registers variants; D = K = 16 tiled, the layout's default.
ROWS_RE = r"for \(; r0 \+ \(RPI - 1\) \* stride < n; r0 \+= RPI \* stride\)"
C_ROWS_RE = r"for \(int r = 0; r < rows; \+\+r\)"
KERNELS = [
    {"file": "gmm_estep_fixed.cu", "instance": f"GMM_ESTEP_REGS_ENTRY(float, f32, true, full, 2, 4, {rpi}, {b})",
     "entry": f"gmm_estep_regs_full_d2_k4_r{rpi}_b{b}_f32",
     "loops": [{"name": "rows", "re": ROWS_RE, "unit": "row", "per_iter": rpi}]}
    for rpi, b in [(4, 2), (2, 1), (2, 2), (1, 1)]
] + [
    {"file": "gmm_estep_fixed.cu", "instance": "GMM_ESTEP_TILED_ENTRY(float, f32, 16, 4, 2)",
     "entry": "gmm_estep_tiled_full_d16_r4_b2_f32",
     "loops": [
         {"name": "tile load", "re": r"for \(int q = tid; q < tile_rows \* D4;", "unit": "row", "per_iter": 0.25},
         {"name": "phase A", "re": r"for \(int item = tid; item < k \* groups;", "unit": "(row, component)",
          "per_iter": 4},
         {"name": "phase B max", "file": "gmm.cuh", "re": r"for \(int c = 0; c < k; \+\+c\) m = c_max",
          "unit": "(row, component)", "per_iter": lambda ops: ops["FMNMX"]},
         {"name": "phase B exp", "file": "gmm.cuh", "re": r"for \(int c = 0; c < k; \+\+c\) \{\n(?:\s*//.*\n)*\s*l\[c\] = resp_exp",
          "unit": "(row, component)", "per_iter": lambda ops: ops["MUFU"]},
         {"name": "phase B scale", "file": "gmm.cuh", "re": r"for \(int c = 0; c < k; \+\+c\) l\[c\] \*= inv",
          "unit": "(row, component)", "per_iter": lambda ops: ops["FMUL"]},
         {"name": "phase C, off-diagonal block", "re": C_ROWS_RE, "unit": "row per thread"},
         {"name": "phase C, diagonal block", "re": C_ROWS_RE, "unit": "row per thread", "rank": 1},
     ]},
]

# Instructions per row of one E-step pass of each benchmark shape, from the loops above: every
# loop's instructions per unit times its units per row (phase C: K·B diagonal and K·B(B − 1)/2
# off-diagonal items, B = 4, each visiting every row). About a lower bound: the code outside these
# loops (tile bookkeeping, phase B's per-row part, block reductions) is left out.
PER_ROW = {
    "d2-k4-full": {"gmm_estep_regs_full_d2_k4_r4_b2_f32": {"rows": 1}},
    "d16-k16-full": {"gmm_estep_tiled_full_d16_r4_b2_f32": {
        "tile load": 1, "phase A": 16, "phase B max": 16, "phase B exp": 16, "phase B scale": 16,
        "phase C, diagonal block": 16 * 4, "phase C, off-diagonal block": 16 * 6}},
}

LINE_RE = re.compile(r'//## File "([^"]*)", line (\d+)')
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
    """Backward branches of a disassembly as ((file name, line) of the branch, opcodes of the
    body)."""
    line, labels, ins, found = None, {}, [], []
    for text in sass.splitlines():
        if m := LINE_RE.search(text):
            line = (os.path.basename(m.group(1)), int(m.group(2)))
        elif m := LABEL_RE.match(text.strip()):
            labels[m.group(1)] = len(ins)
        elif m := INS_RE.search(text):
            ins.append((line, m.group(2), m.group(3)))
            if m.group(2).startswith("BRA") and (t := BRA_RE.search(m.group(3))) and labels.get(t.group(1), 1 << 60) < len(ins):
                found.append((line, [op for _, op, _ in ins[labels[t.group(1)]:]]))
    return found


def source_line(path, pattern):
    """(1-based line where the first match starts, the `#pragma unroll N` count above it or 1)."""
    text = open(path).read()
    m = re.search(pattern, text)
    if not m:
        raise RuntimeError(f"{path}: nothing matches {pattern!r}")
    i = text.count("\n", 0, m.start())
    above = text.splitlines()[i - 1] if i else ""
    u = re.match(r"\s*#pragma unroll (\d+)", above)
    return i + 1, int(u.group(1)) if u else 1


def report(arch, nvdisasm, cuda_dir=CUDA_DIR):
    lib = nvrtc_check.nvrtc()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in KERNELS:
            fname, entry = k["file"], k["entry"]
            path = os.path.join(cuda_dir, fname)
            binary, props = cubin(lib, path, k["instance"], arch)
            cb = os.path.join(tmp, entry + ".cubin")
            open(cb, "wb").write(binary)
            sass = subprocess.run([nvdisasm, "-g", "-c", cb], check=True, capture_output=True, text=True).stdout
            found = loops(sass)
            kernel = {"registers": props.get(entry, {}).get("registers"), "loops": {}}
            for lp in k["loops"]:
                lfile = lp.get("file", fname)
                line, unroll = source_line(os.path.join(cuda_dir, lfile), lp["re"])
                rank = lp.get("rank", 0)
                bodies = sorted((ops for ln, ops in found if ln == (lfile, line)), key=len, reverse=True)
                if len(bodies) <= rank:
                    raise RuntimeError(f"{entry}: no loop {lp['name']!r} with its back edge on {lfile}:{line}")
                ops = bodies[rank]
                opcodes = collections.Counter(op.split(".")[0] for op in ops)
                per_iter = lp.get("per_iter") or unroll
                per_iter = per_iter(opcodes) if callable(per_iter) else per_iter
                groups = collections.Counter(GROUPS.get(op, "other") for op in opcodes.elements())
                kernel["loops"][lp["name"]] = {
                    "source": f"{lfile}:{line}",
                    "unit": lp["unit"],
                    "units_per_iteration": per_iter,
                    "instructions_per_unit": round(len(ops) / per_iter, 2),
                    "per_unit": {g: round(c / per_iter, 2) for g, c in sorted(groups.items())},
                }
            out[entry] = kernel
    return out


def issue_bound(rep, card):
    """Per benchmark shape: instructions per row (PER_ROW) and the E-step time they take at the
    card's issue rate (4 warp-instructions per SM and clock = peak fp32 flops / 2 thread-
    instructions per second), against the roofline and the pass time of the card's run JSON."""
    out = {}
    for shape, parts in PER_ROW.items():
        per_row = sum(rep[entry]["loops"][name]["instructions_per_unit"] * units
                      for entry, loops in parts.items() for name, units in loops.items())
        run = card["runs"][f"crabmix-{shape}"]["bench"]
        seconds = run["n"] * per_row / (run["peak_fp32_flops"] / 2)
        out[shape] = {
            "instructions_per_row": round(per_row, 1),
            "n": run["n"],
            "card": card["bench"][0]["device"],
            "issue_bound_seconds": seconds,
            "roofline_seconds": run["roofline_seconds"],
            "roofline_fraction_at_issue_bound": run["roofline_seconds"] / seconds,
            "measured_estep_pass_seconds": run["estep_pass_seconds"],
        }
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
    ap.add_argument("--card", default=os.path.join(CUDA_DIR, "..", "..", "bench", "results", "gpu-em-h200.json"),
                    help="a GPU run's summary (bench/gpu/run-gpu-check.sh): peak rate, roofline, times")
    args = ap.parse_args()
    rep = report(args.arch, args.nvdisasm, args.cuda_dir)
    for entry, k in rep.items():
        for name, lp in k["loops"].items():
            mix = ", ".join(f"{g} {c:g}" for g, c in lp["per_unit"].items())
            print(f"{entry} ({k['registers']} registers) {name} [{lp['source']}]: "
                  f"{lp['instructions_per_unit']:g} instructions per {lp['unit']} ({mix})")
    bound = issue_bound(rep, json.load(open(args.card)))
    for shape, b in bound.items():
        print(f"{shape}: {b['instructions_per_row']:g} instructions per row in the hot loops; at the {b['card']}'s "
              f"issue rate ≥ {b['issue_bound_seconds'] * 1e3:.3f} ms for N = {b['n']:.0e} "
              f"(roofline {b['roofline_seconds'] * 1e3:.3f} ms: ≤ {100 * b['roofline_fraction_at_issue_bound']:.0f} %; "
              f"that card's last measured pass {b['measured_estep_pass_seconds'] * 1e3:.3f} ms)")
    doc = {"arch": args.arch, "kernels": rep, "issue_bound": bound}
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
