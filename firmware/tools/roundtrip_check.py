#!/usr/bin/env python3
"""The host half of the round trip (run-tests.sh, issue 18): compares the ln p the firmware's
`roundtrip` binary printed (`rt-score PHASE INDEX BITS`, f32 bits) with `crabmix gmm score` on the
host for the same crab ratios (every 15th row of data/pearson_crabs.csv), phase 0 under the
exported model (host: the f64 JSON, device: that model rounded to f32), phase 1 under the adapted
model the device sent back (host: `gmm import-log`'s JSON, the device's f32 values exactly).

Tolerance: |ln p_device − ln p_host| ≤ 3e-5 · max(1, |ln p_host|) (measured: 5.6e-6 and 2.9e-6). The device evaluates in f32
(ε = 6e-8) from f32 parameters; the host in f64. Phase 0 also carries the rounding of the
parameters to f32 (relative 6e-8 on variances of 1e-4: ln p moves by ≈ z²·6e-8); measured
worst cases are printed.

  python3 tools/roundtrip_check.py DEVICE_LOG HOST_SCORES_0 HOST_SCORES_1
"""
import re
import struct
import sys


def main():
    log, host0, host1 = sys.argv[1:4]
    device = {0: {}, 1: {}}
    for line in open(log, encoding="utf-8", errors="replace"):
        m = re.search(r"rt-score (\d) (\d+) ([0-9a-f]{8})\b", line)
        if m:
            value = struct.unpack("<f", struct.pack("<I", int(m.group(3), 16)))[0]
            device[int(m.group(1))][int(m.group(2))] = value
    ok = True
    for phase, path in ((0, host0), (1, host1)):
        host = [float(x) for x in open(path)]
        rows = sorted(device[phase])
        if len(rows) != 64 or rows != list(range(0, 64 * 15, 15)):
            print(f"roundtrip: phase {phase}: device printed rows {rows[:3]}…, expected 64", file=sys.stderr)
            ok = False
            continue
        worst = max(abs(device[phase][i] - h) / max(1.0, abs(h)) for i, h in zip(rows, host))
        print(f"roundtrip: phase {phase}: 64 ln p, device vs host, worst relative difference {worst:.2e}")
        ok &= worst <= 3e-5
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
