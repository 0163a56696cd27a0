#!/usr/bin/env bash
# Throughput against peers, measured in the same run and in the same precision: one EM iteration
# at N = 100 000 (20 000 with --quick), D ∈ {2, 8, 16}, K ∈ {2, 8, 16}, covariance full, diag,
# spherical and tied — crabmix (f32/f64, 1 thread and all threads), scikit-learn f64 and f32
# (scripts/requirements-bench.txt, into .venv), linfa-clustering (f64, full only;
# bench/peers/linfa, its own cargo workspace) and, optionally, torchgmm on the CPU (PyPI
# torchgmm 0.1.4 and its torch, in .venv-torchgmm; TORCHGMM=skip leaves it out, and a failed
# install is reported as skipped). Extra arguments go to the harness (e.g. --quick, --n 20000
# --repeats 3). The criterion benches are separate: cargo bench -p crabmix-criterion.
# Outputs: a table on stdout, out/throughput/{throughput.json,throughput.svg};
# scripts/update-results.sh then regenerates docs/results.md from the JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
source scripts/prerequisites.sh core bench
cargo build --release --manifest-path bench/peers/linfa/Cargo.toml
cargo build --release --locked -p crabmix-bench --bin throughput
torchgmm=(--torchgmm-skipped "TORCHGMM=skip")
if [[ ${TORCHGMM:-auto} != skip ]]; then
  venv=.venv-torchgmm
  if ! "$venv/bin/python" -c "import torchgmm" 2>/dev/null; then
    echo "bench.sh: installing torchgmm 0.1.4 (and torch) into $venv …" >&2
    { python3 -m venv "$venv" && "$venv/bin/pip" install -q torchgmm==0.1.4; } >&2 || true
  fi
  if "$venv/bin/python" -c "import torchgmm" 2>/dev/null; then
    torchgmm=(--torchgmm "$venv/bin/python bench/peers/torchgmm_em.py")
  else
    torchgmm=(--torchgmm-skipped "torchgmm could not be installed")
  fi
fi
./target/release/throughput --out "$OUT/throughput" \
  --sklearn ".venv/bin/python bench/peers/sklearn_em.py" \
  --linfa "bench/peers/linfa/target/release/crabmix-peer-linfa" "${torchgmm[@]}" "$@"
