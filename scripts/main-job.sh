#!/usr/bin/env bash
# The main job, from a fresh machine: installs what is missing from scripts/prerequisites.txt
# (group core, the same as the test suite's),
# builds the firmware and fits Pearson's crabs on the emulated Cortex-M4F, counts its kernels and
# the C peers (emlearn, CMSIS-DSP) on the same emulated core, fits the same data on
# the CPU (f64, f32) and on the GPU when present, prints the comparison table and writes the
# picture of the fit. Outputs go to $OUT (default: out/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$(realpath -m "${OUT:-$ROOT/out}")
mkdir -p "$OUT"
source scripts/prerequisites.sh core

echo "=== firmware: build and run on the emulated Cortex-M4F (QEMU mps2-an386)"
(cd firmware && cargo run --release) 2>&1 | tee "$OUT/firmware-app.log"

echo "=== firmware: instruction counts (QEMU TCG plugin)"
firmware/measure-mcu-cost.sh "$OUT/mcu" >"$OUT/mcu-count.log" 2>&1 \
  || echo "instruction counts failed (see $OUT/mcu-count.log); the table says so"

echo "=== firmware: the C peers on the same core, model and samples (emlearn, CMSIS-DSP; TCG plugin)"
firmware/peers/run.sh "$OUT/mcu" >"$OUT/mcu-peers.log" 2>&1 \
  || echo "C peers failed or moved past their golden counts (see $OUT/mcu-peers.log)"

echo "=== CPU (and GPU when present): fit, compare, draw"
cargo run --release --locked -p crabmix-bench --bin main-job -- \
  --firmware-log "$OUT/firmware-app.log" --mcu-cost "$OUT/mcu/mcu-cost.json" --out "$OUT"
echo "=== main job: $SECONDS s wall, installs included"
