#!/usr/bin/env bash
# Copies the harness's latest JSON (out/ from scripts/main-job.sh, scripts/bench.sh,
# scripts/crosscheck.sh) into bench/results/ and regenerates docs/results.md from it.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p bench/results
for f in "$OUT/main-job.json" "$OUT/throughput/throughput.json" "$OUT/crosscheck-libm.json" \
         "$OUT/crosscheck-micromath.json" "$OUT/mcu/mcu-cost.json" "$OUT/mcu/mcu-kernels.json" "$OUT/mcu/peers-cost.json" \
         "$OUT/vae-throughput/vae-throughput.json"; do
  [[ -f $f ]] && cp "$f" bench/results/
done
cargo run --release --locked -q -p crabmix-bench --bin readme-results
