#!/usr/bin/env bash
# Cargo runner: tools/qemu-run.sh MACHINE ELF [args...]
# Runs ELF on QEMU's MACHINE with semihosting, decodes its defmt frames with defmt-print and exits
# with the program's own exit status (semihosting exit: 0 = success). Never hangs: a program that
# neither exits nor faults is killed after QEMU_TIMEOUT seconds (default 300) and fails.
#
# Optional environment:
#   CRABMIX_KCOUNT=path/to/libkcount.so  count instructions between the marker functions
#     (crabmix_mark_start/crabmix_mark_end); the plugin's lines go to CRABMIX_KCOUNT_LOG.
#   CRABMIX_ICOUNT=N  run with -icount shift=N,align=off,sleep=off (repeatable virtual time).
set -uo pipefail
source "$(dirname "$0")/../../scripts/prerequisites.sh" --no-install
require qemu-system-arm defmt-print readelf timeout || exit 1
machine=$1
elf=$2
cpu_opts=()
case "$machine" in
  # The FPU-less M3 machines would fault on hard-float code; refuse them loudly.
  lm3s6965evb|mps2-an385) echo "qemu-run.sh: $machine has no FPU" >&2; exit 2 ;;
esac
extra=()
if [[ -n "${CRABMIX_KCOUNT:-}" ]]; then
  # Marker addresses from the symbol table; the plugin ignores the Thumb bit.
  start=$(readelf -sW "$elf" | awk '$8=="crabmix_mark_start"{print "0x"$2; exit}')
  end=$(readelf -sW "$elf" | awk '$8=="crabmix_mark_end"{print "0x"$2; exit}')
  extra+=(-plugin "$CRABMIX_KCOUNT,start=${start:-0},end=${end:-0}" -d plugin
          -D "${CRABMIX_KCOUNT_LOG:-/dev/stderr}")
fi
if [[ -n "${CRABMIX_ICOUNT:-}" ]]; then
  extra+=(-icount "shift=${CRABMIX_ICOUNT},align=off,sleep=off")
fi
timeout "${QEMU_TIMEOUT:-300}" qemu-system-arm "${cpu_opts[@]}" -machine "$machine" -nographic \
  -monitor none -serial none -semihosting-config enable=on,target=native "${extra[@]}" \
  -kernel "$elf" | defmt-print -e "$elf"
status=("${PIPESTATUS[@]}")
if [[ ${status[0]} -eq 124 ]]; then
  echo "qemu-run.sh: $elf timed out after ${QEMU_TIMEOUT:-300} s" >&2
fi
# QEMU's status is the program's; a decoder failure is a failure too.
[[ ${status[0]} -ne 0 ]] && exit "${status[0]}"
exit "${status[1]}"
