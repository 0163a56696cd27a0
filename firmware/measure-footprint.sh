#!/usr/bin/env bash
# Footprint per feature (issue 18): builds the footprint-* binaries (src/footprint.rs: one kernel
# family each, on the smallest runtime that can run and report it: no defmt, no core::fmt) for
# the Cortex-M0 and the Cortex-M4F, runs each under QEMU for its painted stack, and writes
# OUT/footprint.txt: flash (size text), static RAM (data + bss) and stack per feature, the
# runtime (footprint-base: vectors, reset, exit, fault handler, stack painting, the report line)
# included, then the issue's goals checked with it and without it.
#   ./measure-footprint.sh OUT      (run-tests.sh compares OUT/footprint.txt with golden/)
set -euo pipefail
cd "$(dirname "$0")"
source ../scripts/prerequisites.sh --no-install
require cargo size awk grep sed qemu-system-arm timeout
OUT=${1:?usage: measure-footprint.sh OUT}
TD=${CARGO_TARGET_DIR:-$PWD/target}
features=(base score online batch monitor kl mlp)
bins=()
for f in "${features[@]}"; do bins+=(--bin "footprint-$f"); done
fail=0
{
  echo "# feature target flash=text ram=data+bss stack (bytes; release profile: opt-level \"s\", fat LTO, one codegen unit; K = 4, D = 2 full for the mixtures)"
  for target in thumbv6m-none-eabi thumbv7em-none-eabihf; do
    case $target in thumbv6m*) machine=microbit ;; *) machine=mps2-an386 ;; esac
    cargo build --release --target "$target" "${bins[@]}" >&2
    for f in "${features[@]}"; do
      elf=$TD/$target/release/footprint-$f
      log=$OUT/footprint-$f-$target.log
      # QEMU directly, not the cargo runner: these images carry no defmt for defmt-print. They
      # print one plain line on the semihosting console and exit 0 on success.
      timeout 120 qemu-system-arm -machine "$machine" -nographic -monitor none -serial none \
        -semihosting-config enable=on,target=native -kernel "$elf" >"$log" 2>&1 ||
        { echo "footprint-$f failed on $target" >&2; fail=1; }
      hex=$(sed -n 's/^footprint-[a-z]* stack=0x\([0-9a-f]*\) ok=true$/\1/p' "$log")
      stack=$([[ -n $hex ]] && echo $((16#$hex)) || echo "?")
      size "$elf" | awk -v f="$f" -v t="$target" -v s="$stack" 'NR==2{print f" "t" flash="$1" ram="$2+$3" stack="s}'
    done
  done
} >"$OUT/footprint.txt"
cat "$OUT/footprint.txt"
# Goals (issue 18), for each target: scoring only (K = 4, D = 2) < 8 KiB of flash; the monitor
# < 24 KiB of flash and < 4 KiB of RAM, stack included. Reported with and without the runtime.
awk '
  /^#/ { next }
  { split($3, a, "="); split($4, b, "="); split($5, c, "=");
    flash[$1, $2] = a[2]; ram[$1, $2] = b[2]; stack[$1, $2] = c[2]; targets[$2] = 1 }
  END {
    for (t in targets) {
      s = flash["score", t]; m = flash["monitor", t]; base = flash["base", t]
      r = ram["monitor", t] + stack["monitor", t]
      printf "goal %s: scoring flash %d B (%d B without the %d B runtime) < 8192: %s\n", t, s, s - base, base, (s < 8192 ? "met" : (s - base < 8192 ? "met without the runtime" : "NOT met"))
      printf "goal %s: monitor flash %d B (%d B without the runtime) < 24576: %s\n", t, m, m - base, (m < 24576 ? "met" : (m - base < 24576 ? "met without the runtime" : "NOT met"))
      printf "goal %s: monitor RAM + stack %d B < 4096: %s\n", t, r, (r < 4096 ? "met" : "NOT met")
    }
  }' "$OUT/footprint.txt" | tee "$OUT/footprint-goals.txt"
exit $fail
