#!/usr/bin/env bash
# Streaming fits (issue 15): throughput and peak RSS of `gmm fit` in memory, `--stream` and
# `--online` on one 10^7-row CSV (generated once into out/bench-stream/, 168 MB), same run, same
# settings. Extra arguments go to scripts/bench_stream.py (e.g. --rows 1000000 --max-iter 10).
# Output: a table on stdout, out/bench-stream/bench-stream.json.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prerequisites.sh core
cargo build --release --locked -p crabmix --bin crabmix
python3 scripts/bench_stream.py "$@"
