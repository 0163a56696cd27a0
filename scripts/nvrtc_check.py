#!/usr/bin/env python3
"""Compile every host/cuda/*.cu through NVRTC (ctypes, no CUDA toolkit) for one GPU architecture
and check the ptxas report: zero spill stores/loads and zero stack frame per kernel.

Usage: nvrtc_check.py [--arch sm_90] [--json OUT] FILE.cu...
Needs libnvrtc.so.13 on LD_LIBRARY_PATH (scripts/cuda-check.sh installs the pinned wheel).
The options mirror host/src/device/cuda/mod.rs (`NVRTC_OPTIONS`) plus `--ptxas-options=-v`, which makes
NVRTC run ptxas for the real architecture and print registers, stack and spills per kernel.
Exit status: 0 when every file compiles and no kernel spills, 1 otherwise.
"""
import argparse
import ctypes
import json
import os
import re
import sys

# Keep in sync with host/src/device/cuda/mod.rs NVRTC_OPTIONS (the runtime build differs only in the
# architecture, which is the device's own there).
COMMON_OPTIONS = ["--std=c++17", "--fmad=true"]
# Instantiates the run-time-specialized kernels (gmm_estep_fixed.cu) at the shapes worth checking.
CHECK_OPTIONS = ["-DCRABMIX_CHECK_INSTANCES"]


def nvrtc():
    lib = ctypes.CDLL("libnvrtc.so.13")
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p
    return lib


def check(lib, rc, what):
    if rc != 0:
        raise RuntimeError(f"{what}: {lib.nvrtcGetErrorString(rc).decode()}")


def compile_source(lib, src, name, opts, want_cubin=False):
    """NVRTC-compile `src` (bytes) with `opts`: (status, log, cubin bytes when asked and built)."""
    prog = ctypes.c_void_p()
    check(lib, lib.nvrtcCreateProgram(ctypes.byref(prog), src, name.encode(), 0, None, None), "nvrtcCreateProgram")
    arr = (ctypes.c_char_p * len(opts))(*[o.encode() for o in opts])
    rc = lib.nvrtcCompileProgram(prog, len(opts), arr)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    buf = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, buf)
    log = buf.value.decode(errors="replace")
    binary = None
    if want_cubin and rc == 0:
        lib.nvrtcGetCUBINSize(prog, ctypes.byref(size))
        out = ctypes.create_string_buffer(size.value)
        check(lib, lib.nvrtcGetCUBIN(prog, out), "nvrtcGetCUBIN")
        binary = out.raw
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    return rc, log, binary


def compile_file(lib, path, arch, include_dir):
    opts = COMMON_OPTIONS + CHECK_OPTIONS + [f"--gpu-architecture={arch}", f"--include-path={include_dir}", "--ptxas-options=-v"]
    rc, log, _ = compile_source(lib, open(path, "rb").read(), os.path.basename(path), opts)
    return rc, log


FUNC_RE = re.compile(r"Compiling entry function '(\w+)'")
PROPS_RE = re.compile(r"Function properties for (\w+)")
STACK_RE = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
REGS_RE = re.compile(r"Used (\d+) registers")


def parse(log):
    """Per function (entry kernels and the device functions ptxas reports separately, e.g.
    libdevice slow paths): registers (entries only), stack bytes, spill stores, spill loads."""
    kernels, current = {}, None
    for line in log.splitlines():
        if m := FUNC_RE.search(line):
            current = m.group(1)
            kernels[current] = {"entry": True}
        elif m := PROPS_RE.search(line):
            current = m.group(1)
            kernels.setdefault(current, {"entry": False})
        elif current and (m := STACK_RE.search(line)):
            kernels[current].update(stack=int(m.group(1)), spill_stores=int(m.group(2)), spill_loads=int(m.group(3)))
        elif current and (m := REGS_RE.search(line)):
            kernels[current]["registers"] = int(m.group(1))
    return kernels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="sm_90")
    ap.add_argument("--json")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    lib = nvrtc()
    ok, report = True, {}
    for f in a.files:
        rc, log = compile_file(lib, f, a.arch, os.path.dirname(os.path.abspath(f)))
        if rc != 0:
            print(f"FAIL {f}: compile error\n{log}")
            ok = False
            continue
        kernels = parse(log)
        if not kernels:
            print(f"FAIL {f}: no ptxas report in the log (is --ptxas-options=-v honoured?)\n{log}")
            ok = False
            continue
        report[os.path.basename(f)] = kernels
        for name, k in sorted(kernels.items()):
            spills = k.get("spill_stores", -1) + k.get("spill_loads", -1)
            bad = spills != 0 or (k["entry"] and "registers" not in k)
            ok &= not bad
            print(f"{'FAIL' if bad else 'ok  '} {a.arch} {name:32s} registers {k.get('registers', '?'):>3} "
                  f"stack {k.get('stack', '?'):>3} B  spill stores {k.get('spill_stores', '?')} "
                  f"loads {k.get('spill_loads', '?')}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"arch": a.arch, "kernels": report}, fh, indent=1, sort_keys=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
