#!/usr/bin/env bash
# VAE training throughput against PyTorch eager on the CPU, same run, same architecture, batch,
# thread count and data: the digits 64-256-128-(8+8) and a 30-feature shape (issue 16).
# Installs group fixtures (PyTorch, into .venv-fixtures). Extra arguments go to the harness
# (e.g. --epochs 3 --batch 128). Output: a table on stdout, out/vae-throughput/vae-throughput.json.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
source scripts/prerequisites.sh core fixtures
cargo build --release --locked -p crabmix-bench --bin vae-throughput
./target/release/vae-throughput --out "$OUT/vae-throughput" \
  --torch ".venv-fixtures/bin/python bench/peers/torch_vae.py" "$@"
