#!/usr/bin/env bash
# The C peers of crabmix on the same emulated Cortex-M4F (QEMU mps2-an386), counted by the same
# TCG plugin (tools/kcount.c) on crabmix's own K = 4, D = 2 full model and 64 samples (the
# log_density region of src/bin/insn_count.rs; export/ writes them, and crabmix's results, into
# peers_inputs.h):
#   * emlearn 0.23.2 eml_mixture_score (eml_mixture.h, from its PyPI wheel), at -O2, at
#     -O2 -fsingle-precision-constant (without it, its double constants make soft-float doubles)
#     and at -Os;
#   * CMSIS-DSP 1.10.3 arm_gaussian_naive_bayes_predict_f32 (PyPI sdist; 4 classes, D = 2);
#   * newlib's expf and logf alone.
# Compiled with arm-none-eabi-gcc -O2 -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16,
# bare metal (startup.c, link.ld, semihosting exit), newlib (nano) for expf/logf.
#   run.sh [OUT]   (default OUT: target/measurements)
# Writes OUT/peers.txt (compared with ../golden/peers.txt: a per-call count off by > 2 % fails;
# GOLDEN=update rewrites it) and OUT/peers-cost.json for the bench harness. Fails when a peer's
# results differ from crabmix's beyond the tolerance in peers.c.
set -euo pipefail
# OUT relative to the caller's directory, resolved before the cd below.
OUT_ARG=${1:+$(realpath -m "$1")}
cd "$(dirname "$0")"
PEERS=$PWD
FW=$(dirname "$PEERS")
TD=${CARGO_TARGET_DIR:-$FW/target}
OUT=${OUT_ARG:-$TD/measurements}
GOLDEN=${GOLDEN:-check}
mkdir -p "$OUT"
source ../../scripts/prerequisites.sh --no-install
require arm-none-eabi-gcc qemu-system-arm gcc readelf cargo rustc python3 sha256sum timeout
B=$TD/peers
CACHE=$TD/peers-cache
mkdir -p "$B" "$CACHE"

# --- the peers' sources, pinned (version and sha256), downloaded once into the cache -------------
# pip from the project's .venv (scripts/prerequisites.sh core creates it): a fresh Debian's
# python3 has no pip module.
PIP=("$FW/../.venv/bin/python" -m pip)
[[ -x $FW/../.venv/bin/python ]] || {
  echo "peers: $FW/../.venv is missing: run bash scripts/prerequisites.sh core" >&2
  exit 1
}
EMLEARN=emlearn-0.23.2-py3-none-any.whl
CMSIS=cmsisdsp-1.10.3.tar.gz
[[ -f $CACHE/$EMLEARN ]] ||
  "${PIP[@]}" download --quiet --no-deps --only-binary :all: emlearn==0.23.2 -d "$CACHE"
[[ -f $CACHE/$CMSIS ]] ||
  "${PIP[@]}" download --quiet --no-deps --no-binary cmsisdsp cmsisdsp==1.10.3 -d "$CACHE"
(cd "$CACHE" && sha256sum -c --quiet) <<'SUMS'
d50982a7b3808823c943d0858e1ce7862ae88d2009d2d548e951434e3c4774cd  emlearn-0.23.2-py3-none-any.whl
307d32298faa7c58db912851027fce35f886fec7eb1a27c4b309ce1a97f47519  cmsisdsp-1.10.3.tar.gz
SUMS
python3 - "$CACHE/$EMLEARN" "$CACHE/$CMSIS" "$B/src" <<'PY'
import sys, tarfile, zipfile, pathlib
wheel, sdist, dest = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
(dest / "emlearn").mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for n in z.namelist():
        if n.startswith("emlearn/") and n.endswith(".h"):
            (dest / "emlearn" / pathlib.Path(n).name).write_bytes(z.read(n))
with tarfile.open(sdist) as t:
    t.extractall(dest, filter="data")
PY
CM=$B/src/cmsisdsp-1.10.3

# --- crabmix's model, samples and results, from the kernels' own code (host) -------------------
HOST=$(rustc -vV | sed -n 's/^host: //p')
(cd export && cargo run --quiet --release --offline --target "$HOST" --target-dir "$TD/peers-export" -- "$B/peers_inputs.h")

# --- build: -O2, and emlearn alone at -O2 -fsingle-precision-constant and at -Os -----------------
# The sdist ships no CMSIS-Core (cmsis_compiler.h): __GNUC_PYTHON__ selects arm_math_types.h's
# own GCC definitions, as the Python package's build does; the scalar C path compiles either way.
FLAGS=(-O2 -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -std=gnu11 -D__GNUC_PYTHON__
       -I"$B" -I"$B/src/emlearn" -I"$CM/Include" -I"$CM/PrivateInclude"
       -nostartfiles -T link.ld --specs=nano.specs --specs=nosys.specs)
arm-none-eabi-gcc "${FLAGS[@]}" startup.c peers.c "$CM/Source/BayesFunctions/arm_gaussian_naive_bayes_predict_f32.c" \
  "$CM/Source/StatisticsFunctions/arm_max_f32.c" -lm -o "$B/peers-o2.elf"
arm-none-eabi-gcc "${FLAGS[@]}" -fsingle-precision-constant -DPEER_EML_ONLY -DPEER_EML_NAME='"emlearn_spc"' \
  startup.c peers.c -lm -o "$B/peers-spc.elf"
arm-none-eabi-gcc "${FLAGS[@]}" -Os -DPEER_EML_ONLY -DPEER_EML_NAME='"emlearn_os"' startup.c peers.c -lm -o "$B/peers-os.elf"
gcc -O2 -shared -fPIC -o "$TD/libkcount.so" ../tools/kcount.c

# --- run and count -------------------------------------------------------------------------------
fail=0
: >"$OUT/peers-regions.txt"
for v in o2 spc os; do
  elf=$B/peers-$v.elf
  # awk reads all of readelf's output: an early exit would make readelf die of SIGPIPE, fatal here.
  start=$(readelf -sW "$elf" | awk '$8=="peer_mark_start" && !n++ {print "0x"$2}')
  end=$(readelf -sW "$elf" | awk '$8=="peer_mark_end" && !n++ {print "0x"$2}')
  timeout 60 qemu-system-arm -machine mps2-an386 -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -plugin "$TD/libkcount.so,start=$start,end=$end" \
    -d plugin -D "$OUT/peers-kcount-$v.log" -kernel "$elf" >"$OUT/peers-$v.log" 2>&1 || { echo "peers ($v) failed" >&2; fail=1; }
  cat "$OUT/peers-$v.log"
  grep -q "^peers: ok" "$OUT/peers-$v.log" || { echo "peers ($v): results differ from crabmix's" >&2; fail=1; }
  # `region NAME calls=N` lines pair, in order, with the plugin's region counts and results.
  paste -d' ' <(sed -n 's/^region \([a-z_0-9]*\) calls=\([0-9]*\)$/\1 \2/p' "$OUT/peers-$v.log") \
    <(sed -n 's/^kcount: region [0-9]*: \([0-9]*\) insns.*$/\1/p' "$OUT/peers-kcount-$v.log") \
    <(sed -n 's/^result [a-z_0-9]* max_abs_diff_e9=\([-0-9]*\) sum_e6=\([-0-9]*\) \(ok\|FAILED\)$/\1 \2 \3/p' "$OUT/peers-$v.log") \
    <(sed -n 's/^kcount: region [0-9]* mix: .* est_cycles=\([0-9]*\) .*$/\1/p' "$OUT/peers-kcount-$v.log") \
    >>"$OUT/peers-regions.txt"
done
{
  echo "# guest instructions (QEMU TCG plugin, exact; not cycles), Cortex-M4F (mps2-an386), f32, K=4 D=2 full,"
  echo "# crabmix's model and 64 samples; per_call = region / calls; result_sum = sum of the peer's outputs"
  echo "# (log densities; naive Bayes: all class log-likelihoods), max_abs_diff = max |peer - crabmix|;"
  echo "# est_cycles_per_call: an ESTIMATE (cycle table of tools/kcount.c, Cortex-M4 TRM; QEMU has no timing)"
  awk '{ printf "%s per_call=%d region=%s result_sum=%.6f max_abs_diff=%.9f est_cycles_per_call=%d\n", $1, $3 / $2, $3, $5 / 1e6, $4 / 1e9, $7 / $2 }' \
    "$OUT/peers-regions.txt"
} >"$OUT/peers.txt"
cat "$OUT/peers.txt"
[[ $(wc -l <"$OUT/peers-regions.txt") -eq 7 ]] || { echo "peer counts missing" >&2; fail=1; }
# The plugin's instruction classes and cycle table on peers.c's known sequence (region 4 of the
# -O2 program): 4 ALU (cmp, movs, cmp, nop), 4 branches (the markers' bx lr and bl, a taken and
# an untaken beq); cycles 4 + 3 + (3 + 3 + 3 + 1) + (3 + 1) + 14 + 14 = 49 by that table.
selftest=$(sed -n 's/^kcount: region 4 mix: //p' "$OUT/peers-kcount-o2.log")
for want in alu=4 mul=2 branch=4 fpu=2 vdiv=1 vsqrt=1 fp_ldst=0 other=0 taken=1 est_cycles=49; do
  [[ " $selftest " == *" $want "* ]] || { echo "kcount self-test: want $want in: $selftest" >&2; fail=1; }
done
# Fields of peers-regions.txt: name calls region max_abs_diff_e9 sum_e6 ok|FAILED est_cycles; a
# line short of one (a result or mix line missing) fails here rather than shifting the others.
awk 'NF != 7 { print "peers-regions.txt: line " NR " has " NF " fields, not 7" > "/dev/stderr"; exit 1 }' \
  "$OUT/peers-regions.txt" || fail=1
awk 'BEGIN { printf "[" }
     { flags = $1 ~ /^newlib_/ ? "newlib nano, prebuilt" : ($1 ~ /_spc$/ ? "-O2 -fsingle-precision-constant" : ($1 ~ /_os$/ ? "-Os" : "-O2"))
       printf "%s\n  {\"peer\": \"%s\", \"flags\": \"%s\", \"k\": 4, \"d\": 2, \"kind\": \"full\", \"scalar\": \"f32\", \"target\": \"cortex-m4f\", ", n++ ? "," : "", $1, flags
       printf "\"machine\": \"qemu-7.2 mps2-an386 (TCG plugin)\", \"unit\": \"guest instructions\", \"calls\": %s, \"instructions_per_call\": %.2f, ", $2, $3 / $2
       printf "\"result_sum\": %.6f, \"max_abs_diff_vs_crabmix\": %.9f, \"agrees\": %s, ", $5 / 1e6, $4 / 1e9, $6 == "ok" ? "true" : "false"
       printf "\"estimated_cycles_per_call\": %.2f, \"cycles\": \"estimate: Cortex-M4 TRM table in firmware/tools/kcount.c\"}", $7 / $2 }
     END { print "\n]" }' "$OUT/peers-regions.txt" >"$OUT/peers-cost.json"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$OUT/peers-cost.json" || fail=1

# --- golden: each peer's per-call count within 2 % of golden/peers.txt -----------------------------
if [[ $GOLDEN == update ]]; then
  cp "$OUT/peers.txt" ../golden/peers.txt
  echo "golden/peers.txt updated"
else
  awk 'NR == FNR { if ($1 !~ /^#/) { sub("per_call=", "", $2); g[$1] = $2 }; next }
       $1 !~ /^#/ { sub("per_call=", "", $2); seen[$1] = 1
         if (!($1 in g)) { print "peer " $1 ": not in golden/peers.txt"; bad = 1; next }
         d = ($2 - g[$1]) / g[$1]; if (d < 0) d = -d
         if (d > 0.02) { printf "peer %s: %d insns/call, golden %d (%.1f %% > 2 %%)\n", $1, $2, g[$1], 100 * d; bad = 1 } }
       END { for (p in g) if (!(p in seen)) { print "peer " p ": missing"; bad = 1 }; exit bad }' \
    ../golden/peers.txt "$OUT/peers.txt" || { echo "golden/peers.txt: a count drifted (GOLDEN=update to accept)" >&2; fail=1; }
fi
if ((fail)); then echo "peers: FAILED"; exit 1; fi
echo "peers: counted, results agree with crabmix's, counts within 2 % of golden/peers.txt"
