#!/usr/bin/env bash
# Copies the harness's latest JSON (out/ from scripts/main-job.sh, scripts/bench.sh,
# scripts/crosscheck.sh) into bench/results/ and regenerates docs/results.md from it.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p bench/results
for f in "$OUT/main-job.json" "$OUT/throughput/throughput.json" "$OUT/crosscheck-libm.json" \
         "$OUT/crosscheck-micromath.json" "$OUT/mcu/mcu-cost.json" "$OUT/vae-throughput/vae-throughput.json"; do
  [[ -f $f ]] && cp "$f" bench/results/
done
# crabmix's MCU log density and the C peers form one table: copied as a pair, from one main job.
if [[ -f $OUT/mcu/mcu-kernels.json && -f $OUT/mcu/peers-cost.json ]]; then
  cp "$OUT/mcu/mcu-kernels.json" "$OUT/mcu/peers-cost.json" bench/results/
elif [[ -f $OUT/mcu/mcu-kernels.json || -f $OUT/mcu/peers-cost.json ]]; then
  echo "update-results: $OUT/mcu has only one of mcu-kernels.json, peers-cost.json; the MCU peer table keeps its previous pair" >&2
fi
cargo run --release --locked -q -p crabmix-bench --bin readme-results
