#!/usr/bin/env bash
# Exact guest-instruction counts of the kernels on the emulated Cortex-M4F (QEMU TCG plugin
# tools/kcount.c between marker functions; src/bin/insn_count.rs runs the regions). Used by
# run-tests.sh and by the main job (scripts/main-job.sh).
#   measure-mcu-cost.sh [OUT]   (default OUT: target/measurements)
# Writes OUT/insn-count.log, OUT/kcount.log, OUT/regions.txt, OUT/insns.txt, OUT/mcu-cost.json
# (one record per E-step/M-step region, for the bench harness), OUT/mcu-kernels.json (every region
# per call with its estimated cycles: the harness's table beside the C peers), and OUT/cycles.txt: each region's
# instruction mix and ESTIMATED Cortex-M4 cycles (the plugin's TRM table; QEMU has no timing). Exits non-zero when a count is
# missing or the kernels under count failed.
set -euo pipefail
# OUT relative to the caller's directory, resolved before the cd below.
OUT_ARG=${1:+$(realpath -m "$1")}
cd "$(dirname "$0")"
FW=$PWD
OUT=${OUT_ARG:-$FW/target/measurements}
mkdir -p "$OUT"
TD=${CARGO_TARGET_DIR:-$FW/target}
source ../scripts/prerequisites.sh --no-install
require gcc cargo python3 qemu-system-arm defmt-print readelf
fail=0
gcc -O2 -shared -fPIC -o "$TD/libkcount.so" tools/kcount.c
rm -f "$OUT/kcount.log"
CRABMIX_KCOUNT=$TD/libkcount.so CRABMIX_KCOUNT_LOG=$OUT/kcount.log \
  cargo run --release --bin insn-count 2>&1 | tee "$OUT/insn-count.log" | grep -E "region|insn-count"
cat "$OUT/kcount.log"
# The program logs one `region <kernel> k= d= kind= calls= floor=` line before each counted
# region; the plugin prints the regions' counts in the same order: pair them line by line.
paste -d' ' \
  <(sed -n 's/.*INFO  region \([a-z_]*\) k=\([0-9]*\) d=\([0-9]*\) kind=\([a-z]*\) calls=\([0-9]*\) floor=\([0-9]*\)$/\1 \2 \3 \4 \5 \6/p' "$OUT/insn-count.log") \
  <(sed -n 's/^kcount: region [0-9]*: \([0-9]*\) insns$/\1/p' "$OUT/kcount.log") >"$OUT/regions.txt"
{
  echo "# guest instructions (QEMU TCG plugin, exact; not cycles), f32, Cortex-M4F; per_call = region / calls"
  echo "# estep = SufficientStats::accumulate (one sample), mstep = SufficientStats::finish (all K components);"
  echo "# per_component = per_call / K; floor = operation-count floor per sample per component (src/bin/insn_count.rs)"
  awk '{ line = sprintf("%s K=%s D=%s %s per_call=%d region=%s", $1, $2, $3, $4, $7 / $5, $7)
         if ($1 == "estep" || $1 == "mstep") line = line sprintf(" per_component=%d floor=%s", $7 / $5 / $2, $6)
         print line }' "$OUT/regions.txt"
} >"$OUT/insns.txt"
# The MCU-cost figures for the bench harness (issue 7), one record per E-step/M-step region.
awk 'BEGIN { printf "[" }
     $1 == "estep" || $1 == "mstep" {
       printf "%s\n  {\"kernel\": \"%s\", \"function\": \"%s\", \"k\": %s, \"d\": %s, \"kind\": \"%s\", ", n++ ? "," : "", $1,
         ($1 == "estep" ? "SufficientStats::accumulate" : "SufficientStats::finish"), $2, $3, $4
       printf "\"scalar\": \"f32\", \"target\": \"cortex-m4f\", \"machine\": \"qemu-7.2 mps2-an386 (TCG plugin)\", "
       printf "\"unit\": \"guest instructions\", \"calls\": %s, \"instructions_per_call\": %.2f, ", $5, $7 / $5
       printf "\"instructions_per_sample_per_component\": %.2f, \"floor_flops\": %s}", $7 / $5 / $2, $6 }
     END { print "\n]" }' "$OUT/regions.txt" >"$OUT/mcu-cost.json"
cat "$OUT/mcu-cost.json"
# Estimated cycles (issue 19): the plugin's `region N mix: ... est_cycles=` lines, in region order.
paste -d' ' "$OUT/regions.txt" <(sed -n 's/^kcount: region [0-9]* mix: \(.*\) est_cycles=\([0-9]*\) .*$/\2 \1/p' "$OUT/kcount.log") |
  awk 'BEGIN { print "# ESTIMATED Cortex-M4 cycles per call (not measured: QEMU has no timing model; cycle table of"
               print "# tools/kcount.c from the Cortex-M4 TRM), next to the exact guest instructions per call; mix per call" }
       { line = sprintf("%s K=%s D=%s %s insns_per_call=%d est_cycles_per_call=%d est_cpi=%.2f", $1, $2, $3, $4, $7 / $5, $8 / $5, $8 / $7)
         for (i = 9; i <= NF; i++) { split($i, kv, "="); line = line sprintf(" %s=%.1f", kv[1], kv[2] / $5) }
         print line }' >"$OUT/cycles.txt"
cat "$OUT/cycles.txt"
# Every region per call, with its estimated cycles, for the bench harness's side-by-side table with
# the C peers (peers/run.sh writes their peers-cost.json in the same form).
paste -d' ' "$OUT/regions.txt" <(sed -n 's/^kcount: region [0-9]* mix: .* est_cycles=\([0-9]*\) .*$/\1/p' "$OUT/kcount.log") |
  awk 'BEGIN { printf "[" }
       { printf "%s\n  {\"kernel\": \"%s\", \"k\": %s, \"d\": %s, \"kind\": \"%s\", \"scalar\": \"f32\", \"target\": \"cortex-m4f\", ", n++ ? "," : "", $1, $2, $3, $4
         printf "\"machine\": \"qemu-7.2 mps2-an386 (TCG plugin)\", \"unit\": \"guest instructions\", \"calls\": %s, \"instructions_per_call\": %.2f, ", $5, $7 / $5
         printf "\"estimated_cycles_per_call\": %.2f}", $8 / $5 }
       END { print "\n]" }' >"$OUT/mcu-kernels.json"
[[ $(grep -vc '^#' "$OUT/cycles.txt") -eq 15 ]] || { echo "cycle estimates missing" >&2; fail=1; }
grep -q "insn-count: ok" "$OUT/insn-count.log" || { echo "insn-count kernels failed" >&2; fail=1; }
[[ $(wc -l <"$OUT/regions.txt") -eq 15 ]] || { echo "instruction counts missing" >&2; fail=1; }
python3 -c 'import json,sys; [json.load(open(f)) for f in sys.argv[1:]]' "$OUT/mcu-cost.json" "$OUT/mcu-kernels.json" || fail=1

exit "$fail"
