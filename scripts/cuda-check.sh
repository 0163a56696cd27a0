#!/usr/bin/env bash
# CUDA checks that need no GPU (issue 5), run by scripts/test-all.sh:
#   1. every host/cuda/*.cu compiles through the pinned NVRTC 13.0 for sm_90 (the lent H100/H200)
#      with zero spills and zero stack, per ptxas's report (scripts/nvrtc_check.py);
#   2. the same kernels run on the CPU through the g++ shim (host/cuda/shim) and match the
#      kernels crate's f64 results (cargo test --features cuda-shim --test cuda_shim);
#   3. the cudarc backend type-checks and its tests run (they skip, saying why, with no device),
#      and the lent-GPU checker (crabmix-bench's gpu-check) builds;
#   4. the E-step's hot loops take no more SASS instructions per row than
#      bench/results/sass-sm_90.json records (scripts/sass_report.py; nvdisasm from PyPI, any
#      13.x reads NVRTC 13.0's cubins, and 13.2 is the oldest on PyPI).
# NVRTC and nvdisasm come from PyPI into the project's venv (scripts/requirements.txt, installed by
# scripts/prerequisites.sh; no CUDA toolkit). NVRTC is loaded through LD_LIBRARY_PATH, not an
# rpath, because libnvrtc needs libnvrtc-builtins beside it.
#
#   scripts/cuda-check.sh [nvrtc|sass|rust|shim|cudarc]...   (default: nvrtc sass rust; `rust` is
#   shim and cudarc in one cargo invocation, so the host crate is built once with both features)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prerequisites.sh --no-install
require python3 cargo
steps=("$@")
((${#steps[@]})) || steps=(nvrtc sass rust)

use_nvrtc() {
  local cu13
  cu13=$(python3 -c 'import nvidia.cu13 as m; print(list(m.__path__)[0])' 2>/dev/null) ||
    { echo "cuda-check: NVRTC missing from .venv: run bash scripts/prerequisites.sh" >&2; exit 1; }
  NVDISASM=$cu13/bin/nvdisasm
  export LD_LIBRARY_PATH="$cu13/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

for s in "${steps[@]}"; do
  case $s in
    nvrtc)
      use_nvrtc
      mkdir -p target/cuda-check
      python3 scripts/nvrtc_check.py --arch sm_90 --json target/cuda-check/nvrtc-sm_90.json host/cuda/*.cu
      ;;
    sass)
      use_nvrtc
      mkdir -p target/cuda-check
      python3 scripts/sass_report.py --nvdisasm "$NVDISASM" \
        --json target/cuda-check/sass-sm_90.json --check bench/results/sass-sm_90.json
      ;;
    shim)
      cargo test -p crabmix --locked --features cuda-shim --test cuda_shim
      ;;
    cudarc)
      # With NVRTC on the path the backend's NVRTC test compiles every module for real; the
      # device tests print why they skip (no driver on CI machines). Then the lent-GPU checker,
      # crabmix-bench's gpu-check (bench/gpu/run-gpu-check.sh), builds against the same backend.
      use_nvrtc
      cargo test -p crabmix --locked --features cuda --test cuda_backend --test backend
      cargo build -p crabmix-bench --locked --features cuda --bin gpu-check
      ;;
    rust)
      use_nvrtc
      cargo test -p crabmix --locked --features cuda,cuda-shim --test cuda_shim --test cuda_backend --test backend
      cargo build -p crabmix-bench --locked --features cuda --bin gpu-check
      ;;
    *)
      echo "unknown step $s (nvrtc, sass, rust, shim, cudarc)" >&2
      exit 2
      ;;
  esac
done
echo "cuda-check: ${steps[*]}: ok"
