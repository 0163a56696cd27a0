#!/usr/bin/env bash
# Cross-check every target against the f64 references, with both math backends (libm, micromath).
# Uses the firmware's last run (firmware/target/measurements/app.log, written by
# firmware/run-tests.sh or scripts/main-job.sh) for the Cortex-M4F row when it exists.
# Exits non-zero when any target is outside its stated tolerance. Built with the `test` profile
# (optimized, as the test suite builds) so that in CI it reuses the test build's dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
log=firmware/target/measurements/app.log
[[ -f $OUT/firmware-app.log ]] && log=$OUT/firmware-app.log
args=(--out "$OUT")
[[ -f $log ]] && args+=(--firmware-log "$log")
cargo run --profile test --locked -q -p crabmix-bench --bin crosscheck -- "${args[@]}"
cargo run --profile test --locked -q -p crabmix-bench --bin crosscheck --features crabmix-kernels/micromath -- "${args[@]}"
