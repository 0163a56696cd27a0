#!/usr/bin/env bash
# Throughput against peers, measured in the same run: one EM iteration at N = 100 000,
# D ∈ {2, 8, 16}, K ∈ {2, 8, 16}, full covariance — crabmix (f32/f64, 1 thread and all threads),
# scikit-learn (scripts/requirements-bench.txt, into .venv) and linfa-clustering (bench/peers/linfa, its own
# cargo workspace). Extra arguments go to the harness (e.g. --n 20000 --repeats 3).
# The criterion benches are separate: cargo bench -p crabmix-bench.
# Outputs: a table on stdout, out/throughput/{throughput.json,throughput.svg}.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
source scripts/prerequisites.sh core bench
cargo build --release --manifest-path bench/peers/linfa/Cargo.toml
cargo build --release --locked -p crabmix-bench --bin throughput
./target/release/throughput --out "$OUT/throughput" \
  --sklearn ".venv/bin/python bench/peers/sklearn_em.py" \
  --linfa "bench/peers/linfa/target/release/crabmix-peer-linfa" "$@"
