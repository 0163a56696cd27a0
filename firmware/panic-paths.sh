#!/usr/bin/env bash
# Panic-freedom proven at link time (issue 8). Each proof links an image whose panic handler calls
# a function defined nowhere, under fat LTO: it links only if the optimizer removed every path to a
# panic (bounds check, unwrap, overflow check, division by zero, assert) from everything reachable.
#   1. the kernel entry points, src/bin/prove_no_panic.rs with feature prove-no-panic-gmm: MLP,
#      Gaussian KL, reparameterization, and the GMM kernels (fixed-size types at the app's K = 4,
#      D = 2, and the runtime-sized slice API with K, D and buffer lengths unknown to the
#      optimizer), profile prove-no-panic = the release profile in its own directory;
#   2. control: the same with one reachable panic (feature prove-no-panic-canary) must fail to
#      link, with the undefined symbol, or the proof would be vacuous;
#   3. the shipped app, src/main.rs, built exactly as `cargo build --release` builds it except for
#      the panic handler (feature prove-no-panic-app replaces panic-probe's), in its own target
#      directory so the shipped ELF is untouched;
#   4. control: the app with one reachable panic (prove-no-panic-app-canary) must fail to link;
#   5. lists the functions that call into core::panicking (linker errors only name the handler) in
#      the proof binary and in the shipped release ELF: empty when the proofs hold, the culprits
#      when one fails (target/measurements/panic-paths-{gmm,firmware}.txt).
# Any failure of 1–4 fails CI. Usage: panic-paths.sh [--list-only] (only step 5).
set -euo pipefail
cd "$(dirname "$0")"
source ../scripts/prerequisites.sh --no-install
require cargo llvm-objdump python3
TD=${CARGO_TARGET_DIR:-$PWD/target}
OUT=$TD/measurements
mkdir -p "$OUT"
fail=0
SYMBOL=crabmix_panic_is_reachable

callers() { # ELF → "function -> panic entry points" lines, for functions outside core
  # llvm-objdump (rustup's llvm-tools) reads every target's ELF; symbols lose their hash suffix.
  llvm-objdump -d -C "$1" | python3 -c '
import re, sys, collections
fn = re.compile(r"^[0-9a-f]+ <(.*?)(?:::h[0-9a-f]{16})?>:$")
call = re.compile(r"\s(?:bl|b(?:\w\w)?(?:\.w)?)\s+(?:0x)?[0-9a-f]+ <([^>+]*)")
panics = ("core::panicking::", "core::slice::index::", "core::option::unwrap_failed",
          "core::result::unwrap_failed", "core::option::expect_failed", "len_mismatch_fail")
cur, out = None, collections.defaultdict(set)
for line in sys.stdin:
    m = fn.match(line)
    if m:
        cur = m.group(1)
        continue
    m = call.search(line)
    if cur and m and m.group(1).startswith(panics) and not cur.startswith(panics):
        out[cur].add(re.sub(r"::h[0-9a-f]{16}$", "", m.group(1)).split("::")[-1])
for f in sorted(out):
    print(f, "->", " ".join(sorted(out[f])))
'
}

# prove NAME CARGO-ARGS…: the build must succeed (the handler's symbol unreferenced).
prove() {
  local name=$1 log
  shift
  log=$(mktemp)
  if cargo build "$@" >"$log" 2>&1; then
    echo "proven panic-free: $name"
  else
    grep -E "undefined symbol|^error" "$log" | head -5 >&2
    echo "NOT proven: a panic path is reachable in $name (callers below)" >&2
    fail=1
  fi
  rm -f "$log"
}

# control NAME CARGO-ARGS…: the build must fail on exactly the handler's undefined symbol.
control() {
  local name=$1 log
  shift
  log=$(mktemp)
  if cargo build "$@" >"$log" 2>&1; then
    echo "the canary of $name linked: the proof is vacuous" >&2
    fail=1
  elif grep -q "undefined symbol: $SYMBOL" "$log"; then
    echo "canary of $name rejected by the linker (undefined $SYMBOL), as it must be"
  else
    tail -5 "$log" >&2
    echo "the canary of $name failed for another reason than the panic handler" >&2
    fail=1
  fi
  rm -f "$log"
}

if [[ ${1:-} != --list-only ]]; then
  echo "=== 1. kernel entry points (MLP, KL, reparameterization, GMM fixed-size and slice API)"
  prove "kernel entry points" --profile prove-no-panic --features prove-no-panic-gmm --bin prove-no-panic
  echo "=== 2. control: a reachable panic must fail the link"
  control "kernel entry points" --profile prove-no-panic --features prove-no-panic-canary --bin prove-no-panic
  echo "=== 3. the shipped app (src/main.rs, release profile)"
  prove "the shipped app" --release --features prove-no-panic-app --bin crabmix-firmware --target-dir "$TD/prove-app"
  echo "=== 4. control: the app with a reachable panic must fail the link"
  control "the shipped app" --release --features prove-no-panic-app-canary --bin crabmix-firmware --target-dir "$TD/prove-app"
fi

echo "=== 5. functions calling into core::panicking (empty = none)"
cargo build --profile prove-no-panic --features prove-no-panic-report,prove-no-panic-gmm --bin prove-no-panic -q
callers "$TD/thumbv7em-none-eabihf/prove-no-panic/prove-no-panic" | tee "$OUT/panic-paths-gmm.txt" | sed 's/^/kernel entry points: /'
cargo build --release --bin crabmix-firmware -q
callers "$TD/thumbv7em-none-eabihf/release/crabmix-firmware" | tee "$OUT/panic-paths-firmware.txt" | sed 's/^/shipped app: /'
echo "kernel entry points: $(wc -l <"$OUT/panic-paths-gmm.txt") callers; shipped app: $(wc -l <"$OUT/panic-paths-firmware.txt") callers"
exit $fail
