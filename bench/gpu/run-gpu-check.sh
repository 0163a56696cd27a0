#!/usr/bin/env bash
# The lent-GPU check of issue 5, in one device call (< 5 minutes). The device machine has CUDA 13,
# PyTorch and Python but no Rust, so the Rust side is a prebuilt x86_64 binary carried from a
# development machine:
#
#   here:    cargo build -p crabmix-bench --release --features cuda --bin gpu-check
#            mkdir -p bench/gpu/bin && cp target/release/gpu-check bench/gpu/bin/
#            (bench/gpu/bin/ is git-ignored; name it in the device call's `carry`)
#   device:  bash bench/gpu/run-gpu-check.sh          (writes JSON and logs to $OUT)
#
# Steps: (1) correctness — the CUDA E-step (statistics, log-likelihood), log density, KL and
# Philox sampler vs the CPU backend on fresh random inputs (seed from the clock) at N from 1 to
# 10^6, D/K = 2/4 and 16/16, full and diag, f32 and f64, every device output poisoned with NaN
# first; (2) one EM iteration at N = 10^7 (D = K = 16 full; D = 2, K = 4 full) by crabmix and by
# bench/gpu/torch_em.py on the same GPU; (3) summary.json with the card, times, ratio and the
# fraction of the fp32-FMA / bandwidth roofline; (4) when ncu is there and time is left, an Nsight
# Compute report of each E-step. Copy $OUT's JSON into bench/results/ afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/target/gpu-check}
mkdir -p "$OUT"
# Per-run JSONs go to a scratch folder (the device call returns only a few files); summary.json
# embeds them all.
RUNS=$(mktemp -d)
BIN=${CRABMIX_GPU_CHECK:-bench/gpu/bin/gpu-check}
[[ -x $BIN ]] || { echo "missing $BIN: build it here (cargo build -p crabmix-bench --release --features cuda --bin gpu-check) and carry it" >&2; exit 2; }

# cudarc loads libnvrtc.so.13 at run time: take the CUDA 13 one from the toolkit or from
# PyTorch's nvidia-cuda-nvrtc wheel (the image has both; no downloads are possible there).
nvrtc=$(ls /usr/local/cuda/lib64/libnvrtc.so.13 2>/dev/null ||
  python3 -c 'import nvidia, pathlib; [print(p) for d in nvidia.__path__ for p in pathlib.Path(d).rglob("libnvrtc.so.13")]' 2>/dev/null | head -1 ||
  true)
[[ -n $nvrtc ]] || nvrtc=$(find / -name 'libnvrtc.so.13' -not -path '/proc/*' 2>/dev/null | head -1)
[[ -n $nvrtc ]] || { echo "no libnvrtc.so.13 on this machine" >&2; exit 2; }
export LD_LIBRARY_PATH="$(dirname "$nvrtc")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "NVRTC: $nvrtc"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv | tee "$OUT/nvidia-smi.csv"

status=0
timeout 150 "$BIN" check "$OUT/check.json" 2>&1 | tee "$OUT/check.log" || status=1
for shape in "16 16 full" "2 4 full"; do
  set -- $shape
  tag="d$1-k$2-$3"
  timeout 90 "$BIN" bench 10000000 "$1" "$2" "$3" "$RUNS/crabmix-$tag.json" 2>&1 | tee -a "$OUT/bench.log" || status=1
  # A PyTorch that failed or hung once would again: do not spend device time on it twice.
  if [[ ${torch_failed:-0} == 1 ]]; then
    echo "torch_em.py skipped for $tag (it failed before)" | tee -a "$OUT/bench.log"
  else
    for variant in plain split; do
      flag=; [[ $variant == split ]] && flag=--split
      if ! timeout 120 python3 -u bench/gpu/torch_em.py 10000000 "$1" "$2" "$3" "$RUNS/torch-$variant-$tag.json" $flag 2>&1 | tee -a "$OUT/bench.log"; then
        echo "torch_em.py $variant failed or timed out" | tee -a "$OUT/bench.log"
        torch_failed=1
        status=1
        break
      fi
    done
  fi
done

python3 - "$OUT" "$RUNS" <<'PY' || status=1
import json, pathlib, sys
out, runs = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
rows = []
for c in sorted(runs.glob("crabmix-*.json")):
    shape = c.stem.removeprefix("crabmix-")
    torch_runs = {v: json.loads((runs / f"torch-{v}-{shape}.json").read_text())
                  for v in ("plain", "split") if (runs / f"torch-{v}-{shape}.json").exists()}
    if not torch_runs:
        continue
    cm = json.loads(c.read_text())
    b = cm["bench"]
    # The peer's best form sets the ratio.
    best = min(torch_runs, key=lambda v: torch_runs[v]["seconds_median"])
    tm = torch_runs[best]
    rows.append({"device": cm["device"], "shape": shape, "n": b["n"], "kernel": b.get("kernel"),
                 "crabmix_ms": 1e3 * b["seconds_median"], "crabmix_estep_pass_ms": 1e3 * b.get("estep_pass_seconds", float("nan")),
                 "torch_ms": {v: 1e3 * t["seconds_median"] for v, t in torch_runs.items()},
                 "torch_best": best, "torch_version": tm.get("torch"),
                 "speedup_vs_torch": tm["seconds_median"] / b["seconds_median"],
                 "roofline_ms": 1e3 * b["roofline_seconds"], "roofline_fraction": b["roofline_fraction"],
                 "goal": ">= 5x torch eager, >= 50 % roofline"})
check = json.loads((out / "check.json").read_text()) if (out / "check.json").exists() else {"ok": False}
summary = {"check_ok": check.get("ok", False), "check_seed": check.get("seed"), "bench": rows,
           "runs": {p.stem: json.loads(p.read_text()) for p in sorted(runs.glob("*.json"))}}
(out / "summary.json").write_text(json.dumps(summary, indent=1))
print(json.dumps(summary, indent=1))
PY

# (4) Optional, after the results above, which it does not touch: an Nsight Compute report of
# each shape's E-step (the layout's kernel, first launch) when the image has ncu, the container
# permits GPU counters and the call has time left — where the issue slots and stalls go, which
# the timings alone do not say (bench/gpu/README.md).
ncu_bin=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1 || true)
if [[ -n $ncu_bin && $SECONDS -lt 200 ]]; then
  for shape in "16 16 full" "2 4 full"; do
    set -- $shape
    timeout 45 "$ncu_bin" --kernel-name regex:gmm_estep_ --launch-count 1 --section SpeedOfLight \
      --section Occupancy --section LaunchStats --section WarpStateStats --section InstructionStats \
      "$BIN" bench 10000000 "$1" "$2" "$3" /dev/null > "$OUT/ncu-d$1-k$2-$3.txt" 2>&1 ||
      echo "ncu d$1-k$2-$3: failed, timed out or not permitted (see $OUT/ncu-d$1-k$2-$3.txt)"
  done
else
  echo "ncu: ${ncu_bin:-not on this machine}; ${SECONDS} s elapsed; profile skipped"
fi
exit $status
