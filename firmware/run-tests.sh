#!/usr/bin/env bash
# Firmware CI (what scripts/prerequisites.sh installs must be there), then
#   1. host half of the host/device bit-identity check (crabmix-app's tests on the host),
#   2. on-target kernel tests on the emulated Cortex-M4F (mps2-an386) and Cortex-M0 (microbit),
#   3. the density-estimation app on the M4F (its crab-fit line must equal golden/crab-fit.txt,
#      which the host test also checks: same bits on both),
#   3b. host → board → host (issue 18): the host CLI fits the crabs and exports the model (Rust
#      constants and blob) into target/roundtrip/; src/bin/roundtrip.rs loads both, scores,
#      adapts by online EM and prints the model; `crabmix gmm import-log` reads it back and
#      `crabmix gmm score` on the host must agree with the device's ln p (tools/roundtrip_check.py),
#   2b. the on-target tests on QEMU netduinoplus2 (STM32F405),
#   4. the real-board builds (nRF52840, RP2040 with boot2; defmt-rtt) — built, not run: no board here,
#   4b. panic-freedom proven at link time (panic-paths.sh): the kernel entry points in
#      src/bin/prove_no_panic.rs (MLP, KL, reparameterization, GMM) and the shipped app link
#      against an undefined panic handler; a canary of each must not,
#   4c. stack overflow is a fault (flip-link): src/bin/stack_overflow.rs recurses without bound on
#      both QEMU boards and must end in the HardFault handler's exit status 3,
#   5. measurements: footprint per feature (measure-footprint.sh: flash, RAM, stack of one-feature
#      binaries on thumbv6m and thumbv7em), flash/RAM (size), stack high-water marks, instructions per call of online EM,
#      log density, E-step and M-step (TCG plugin), compared with golden/{size,stack,insns}.txt;
#      the E-/M-step figures also go to target/measurements/mcu-cost.json for the bench harness;
#   5b. the C peers (peers/run.sh) on the same core and inputs, compared with golden/peers.txt.
# Exits non-zero on any failure. Golden files: GOLDEN=check (default) prints differences as
# warnings, GOLDEN=strict fails on them, GOLDEN=update rewrites them. Budgets always fail.
set -euo pipefail
cd "$(dirname "$0")"
FW=$PWD
GOLDEN=${GOLDEN:-check}
TD=${CARGO_TARGET_DIR:-$FW/target}
OUT=$TD/measurements
mkdir -p "$OUT"
fail=0
step() { echo; echo "=== firmware: $*"; }

# --- prerequisites (installed by scripts/prerequisites.sh from scripts/prerequisites.txt) --------
source ../scripts/prerequisites.sh --no-install
# flip-link: the linker of both thumb targets (.cargo/config.toml): stack at the bottom of RAM.
require cargo rustc rustup qemu-system-arm defmt-print flip-link gcc readelf size llvm-objdump python3 awk
installed=$(rustup target list --installed)
for t in thumbv7em-none-eabihf thumbv6m-none-eabi; do
  grep -qx "$t" <<<"$installed" || { echo "target $t missing: run bash scripts/prerequisites.sh" >&2; exit 1; }
done
HOST=$(rustc -vV | sed -n 's/^host: //p')
export QEMU_TIMEOUT=${QEMU_TIMEOUT:-300}

# --- 1. host half of the bit-identity check ------------------------------------------------
step "host tests of crabmix-app ($HOST)"
cargo test --release -p crabmix-app --target "$HOST" 2>&1 | tee "$OUT/host-tests.log"

# --- 2. on-target kernel tests ---------------------------------------------------------------
step "on-target tests, Cortex-M4F (QEMU mps2-an386)"
cargo test --release --test kernels 2>&1 | tee "$OUT/tests-m4f.log"
step "on-target tests, Cortex-M0 soft float (QEMU microbit)"
cargo test --release --target thumbv6m-none-eabi --test kernels 2>&1 | tee "$OUT/tests-m0.log"

step "on-target tests, STM32F405 (QEMU netduinoplus2; own target dir: another memory map)"
cargo test-f405 --release --test kernels --target-dir "$TD/netduinoplus2" 2>&1 | tee "$OUT/tests-f405.log"

# --- 3. the application ------------------------------------------------------------------------
step "density-estimation app (QEMU mps2-an386)"
cargo run --release 2>&1 | tee "$OUT/app.log"
grep -q "result: ok" "$OUT/app.log" || { echo "app did not report ok" >&2; fail=1; }
device_line=$(grep -o 'crab-fit .*' "$OUT/app.log" | head -1)
golden_line=$(cat golden/crab-fit.txt)
if [[ "$device_line" == "$golden_line" ]]; then
  echo "crab fit: device == host (bit-identical f32)"
else
  echo "crab fit differs between device and host:" >&2
  echo "  device: $device_line" >&2
  echo "  host:   $golden_line" >&2
  fail=1
fi

# --- 3b. host → board → host round trip (issue 18) ---------------------------------------------
step "round trip: host fit + export → QEMU (load, score, adapt) → import-log → host score"
RT=$FW/target/roundtrip
mkdir -p "$RT"
(cd .. && cargo build --release --locked -p crabmix 2>&1 | tail -1)
CLI=${CARGO_TARGET_DIR:-$FW/../target}/release/crabmix
"$CLI" gmm fit ../data/pearson_crabs.csv --components 2 --seed 1 --output "$RT/model.json"
"$CLI" gmm export "$RT/model.json" --format rust --output "$RT/model.rs"
"$CLI" gmm export "$RT/model.json" --format bin --output "$RT/model.bin"
if cargo run --release --features roundtrip --bin roundtrip >"$OUT/roundtrip.log" 2>&1 &&
  grep -q "rt-result: ok" "$OUT/roundtrip.log"; then
  # The same rows the device scored: every 15th crab ratio (the CSV holds them in RATIOS' order).
  awk 'NR > 1 && (NR - 2) % 15 == 0' ../data/pearson_crabs.csv | head -64 >"$RT/points.csv"
  "$CLI" gmm import-log "$OUT/roundtrip.log" --output "$RT/adapted.json"
  "$CLI" gmm score "$RT/points.csv" --model "$RT/model.json" >"$RT/host-exported.txt"
  "$CLI" gmm score "$RT/points.csv" --model "$RT/adapted.json" >"$RT/host-adapted.txt"
  python3 tools/roundtrip_check.py "$OUT/roundtrip.log" "$RT/host-exported.txt" "$RT/host-adapted.txt" || fail=1
else
  tail -5 "$OUT/roundtrip.log" >&2
  echo "round trip: the device run failed" >&2
  fail=1
fi

# --- 4. real board: must build ---------------------------------------------------------------
step "real board build (nRF52840, defmt-rtt)"
cargo build --release --no-default-features --features nrf52840 --target-dir "$TD/nrf52840" 2>&1 | tail -2

step "real board build (RP2040, thumbv6m, boot2 + defmt-rtt)"
cargo build-rp2040 --release --target-dir "$TD/rp2040" 2>&1 | tail -2
RP=$TD/rp2040/thumbv6m-none-eabi/release/crabmix-firmware
# The boot ROM runs the 256 bytes at the start of flash: boot2 must be there, the vectors after.
readelf -SW "$RP" | grep -q '\.boot2 *PROGBITS *10000000 .* 000100 ' ||
  { echo "rp2040: .boot2 is not the first 256 bytes of flash" >&2; fail=1; }

# --- 4b. panic-freedom proven at link time (issue 8) -------------------------------------------
step "panic-freedom: kernel entry points and the shipped app link with an undefined panic handler"
./panic-paths.sh || fail=1

# --- 4c. stack overflow faults (flip-link, issue 8) -----------------------------------------------
# Exit status 3 = the HardFault handler saw the stack pointer below the stack region; 1 would be a
# static canary found overwritten (no protection), 124 a hang, 0 a bounded recursion.
for target in thumbv7em-none-eabihf thumbv6m-none-eabi; do
  step "stack overflow ends in a HardFault ($target)"
  set +e
  QEMU_TIMEOUT=60 cargo run --release --target "$target" --bin stack-overflow >"$OUT/stack-overflow-$target.log" 2>&1
  status=$?
  set -e
  tail -3 "$OUT/stack-overflow-$target.log"
  if [[ $status -eq 3 ]] && grep -q "HardFault: stack overflow" "$OUT/stack-overflow-$target.log"; then
    echo "stack overflow: HardFault, exit status 3 (as required)"
  else
    echo "stack overflow did not end in the HardFault handler (exit status $status)" >&2
    fail=1
  fi
done

# --- 5. measurements -------------------------------------------------------------------------
step "instruction counts (TCG plugin)"
./measure-mcu-cost.sh "$OUT" || fail=1

step "footprint per feature (thumbv6m, thumbv7em)"
./measure-footprint.sh "$OUT" || fail=1

# The C peers on the same core and inputs (peers/run.sh, issue 19): golden/peers.txt, ±2 %.
step "C peers: emlearn, CMSIS-DSP naive Bayes, newlib expf/logf (TCG plugin)"
./peers/run.sh "$OUT" || fail=1

step "measurements"
ELF=$TD/thumbv7em-none-eabihf/release/crabmix-firmware
NRF=$TD/nrf52840/thumbv7em-none-eabihf/release/crabmix-firmware
{
  echo "# size in bytes (GNU size, Berkeley: text = flash incl. rodata; data + bss = static RAM)"
  size "$ELF" | awk -v n="mps2-an386" 'NR==2{print n" text="$1" data="$2" bss="$3}'
  size "$NRF" | awk -v n="nrf52840" 'NR==2{print n" text="$1" data="$2" bss="$3}'
  sed -n 's/.*ram K=4 D=2 full: online model \([0-9]*\) B, statistics \([0-9]*\) B, window \([0-9]*\) B.*/ram-k4-d2-full online_model=\1 statistics=\2 window=\3/p' "$OUT/app.log"
} >"$OUT/size.txt"
{
  echo "# stack high-water mark in bytes (painted stack, release build)"
  sed -n 's/.*INFO  stack \([^ ]*\) \([0-9]*\)$/m4f \1 \2/p' "$OUT/tests-m4f.log"
  sed -n 's/.*INFO  stack \([^ ]*\) \([0-9]*\)$/m0 \1 \2/p' "$OUT/tests-m0.log"
  sed -n 's/.*INFO  stack \([^ ]*\) \([0-9]*\)$/app \1 \2/p' "$OUT/app.log"
} >"$OUT/stack.txt"
# Budgets (issue 4): flash ≤ 64 KiB with defmt; model + statistics ≤ 1 KiB and density-loop stack
# ≤ 2 KiB (K = 4, D = 2, full). Each one fails the run.
flash=$(awk '/^mps2-an386/{sub("text=","",$2); print $2}' "$OUT/size.txt")
model=$(awk '/^ram-k4/{split($2,a,"="); split($3,b,"="); print a[2]+b[2]}' "$OUT/size.txt")
echo "budget: flash $flash / 65536 B, model+statistics ${model:-?} / 1024 B"
(( flash <= 65536 )) || { echo "flash budget exceeded" >&2; fail=1; }
(( ${model:-99999} <= 1024 )) || { echo "RAM budget exceeded" >&2; fail=1; }
loop_stack=$(awk '$1=="app" && $2=="density_loop_sensor"{print $3}' "$OUT/stack.txt")
echo "budget: density loop stack ${loop_stack:-?} / 2048 B"
(( ${loop_stack:-99999} <= 2048 )) || { echo "density loop stack budget exceeded" >&2; fail=1; }

# Instruction counts (issue 19): a kernel whose count per call grew by more than 2 % over
# golden/insns.txt fails the run whatever GOLDEN says (except update); shrinking only shows in the diff.
if [[ $GOLDEN != update ]]; then
  awk 'NR == FNR { if ($1 !~ /^#/) { key = $1 " " $2 " " $3 " " $4; sub("per_call=", "", $5); g[key] = $5 }; next }
       $1 !~ /^#/ { key = $1 " " $2 " " $3 " " $4; sub("per_call=", "", $5); seen[key] = 1
         if (!(key in g)) { print "insns: " key " not in golden/insns.txt"; bad = 1; next }
         if ($5 > 1.02 * g[key]) { printf "insns: %s: %d per call, golden %d (+%.1f %% > 2 %%)\n", key, $5, g[key], 100 * ($5 / g[key] - 1); bad = 1 } }
       END { for (k in g) if (!(k in seen)) { print "insns: " k " missing"; bad = 1 }; exit bad }' \
    golden/insns.txt "$OUT/insns.txt" || { echo "golden/insns.txt: an instruction count grew by more than 2 %" >&2; fail=1; }
fi

for f in size stack insns footprint; do
  if ! diff -u "golden/$f.txt" "$OUT/$f.txt" >"$OUT/$f.diff" 2>&1; then
    case "$GOLDEN" in
      update) cp "$OUT/$f.txt" "golden/$f.txt"; echo "golden/$f.txt updated" ;;
      strict) cat "$OUT/$f.diff"; echo "golden/$f.txt differs" >&2; fail=1 ;;
      *) cat "$OUT/$f.diff"; echo "WARNING: golden/$f.txt differs (GOLDEN=update to accept)" ;;
    esac
  fi
done

if (( fail )); then
  echo "firmware: FAILED"; exit 1
fi
echo "firmware: all on-target tests, the app and the budgets passed"
