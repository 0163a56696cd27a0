#!/usr/bin/env bash
# Cross-check every target against the f64 references, with both math backends (libm, micromath).
# Firmware rows:
#  * every workload on the emulated Cortex-M4F: firmware/src/bin/crosscheck.rs computes them in f32
#    from the same seeded inputs (generated on the device; their digests are checked), run here
#    under QEMU (qemu-system-arm, defmt-print, flip-link and the thumbv7em target, installed by
#    scripts/prerequisites.sh: missing, they fail the run); its log goes to
#    $OUT/firmware-crosscheck.log. About 10 s of QEMU plus the firmware's release build.
#    CROSSCHECK_FIRMWARE=0 leaves the firmware rows out.
#  * the app's crab fit, from the firmware's last app run (firmware/target/measurements/app.log,
#    written by firmware/run-tests.sh or scripts/main-job.sh) when it exists.
# The firmware is built with libm, so its rows appear in the libm run only.
# Exits non-zero when any target is outside its stated tolerance (or the firmware run fails).
# Built with the `test` profile (optimized, as the test suite builds) so that in CI it reuses the
# test build's dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
source scripts/prerequisites.sh --no-install
require cargo
log=firmware/target/measurements/app.log
[[ -f $OUT/firmware-app.log ]] && log=$OUT/firmware-app.log
args=(--out "$OUT")
[[ -f $log ]] && args+=(--firmware-log "$log")
if [[ ${CROSSCHECK_FIRMWARE:-1} != 0 ]]; then
  require qemu-system-arm defmt-print flip-link
  cc_log=$PWD/$OUT/firmware-crosscheck.log
  [[ $OUT = /* ]] && cc_log=$OUT/firmware-crosscheck.log
  echo "crosscheck: running the cross-check workloads on the emulated Cortex-M4F (QEMU)"
  (cd firmware && QEMU_TIMEOUT=${QEMU_TIMEOUT:-120} cargo run --release --locked -q --bin crosscheck >"$cc_log")
  grep -q "crosscheck: ok" "$cc_log" || { echo "crosscheck: firmware run did not finish ok" >&2; exit 1; }
  args+=(--firmware-crosscheck-log "$cc_log")
else
  echo "crosscheck: CROSSCHECK_FIRMWARE=0: no firmware cross-check rows"
fi
cargo run --profile test --locked -q -p crabmix-bench --bin crosscheck -- "${args[@]}"
cargo run --profile test --locked -q -p crabmix-bench --bin crosscheck --features crabmix-kernels/micromath -- "${args[@]}"
