#!/usr/bin/env bash
# Every test of crabmix, from a fresh machine: installs what is missing from the one list,
# scripts/prerequisites.txt (group core: Rust targets and llvm-tools, QEMU, gcc, defmt-print,
# flip-link, NVRTC into .venv), then runs each suite as its own step, prints each step's wall
# time at the end, and fails if any step fails.
#
#   0. the tools guard (scripts/check_tools.py): every program a script, test or cargo config
#      calls is provided by scripts/prerequisites.txt; the architecture guards: no import circle
#      between files of a crate (scripts/check_imports.py), README's layout table = the tree
#      (scripts/check_layout.py)
#   1. host workspace tests (kernels unit tests, host + CLI, cross-crate tests incl. the seed's claims)
#   2. kernels with the micromath backend
#   3. kernels build for Cortex-M4F and Cortex-M0 (no_std, no alloc), with and without defmt, and
#      the README's firmware example; clippy -D warnings over every crate and target
#   3b. CUDA without a GPU (scripts/cuda-check.sh): NVRTC sm_90 spill check, the E-step's SASS
#      instruction budgets, kernels through the g++ shim, the cudarc backend's build and
#      skip-or-run tests
#   4. firmware: on-target tests under QEMU, the density-estimation app, size/stack/instruction budgets,
#      panic-freedom proven at link time (kernels and the shipped app), stack overflow = HardFault
#   5. the cross-check harness: every target (kernels f64/f32 with libm and micromath, host threads,
#      firmware under QEMU) against the f64 references, within stated tolerances
#   6. fuzzing's regression replay and smoke (stable); Miri over the kernels' unit tests only
#      with CRABMIX_MIRI=1 (nightly, about 17 minutes: see scripts/miri.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
failed=()
times=()
step() {
  local name=$1 start=$SECONDS verdict=ok
  shift
  echo
  echo "=== $name"
  if "$@"; then echo "=== $name: ok"; else verdict=FAILED; echo "=== $name: FAILED"; failed+=("$name"); fi
  times+=("$(printf '%5d s  %-6s %s' $((SECONDS - start)) "$verdict" "$name")")
}

groups=(core)
[[ ${CRABMIX_MIRI:-0} == 1 ]] && groups+=(miri)
step "prerequisites (scripts/prerequisites.txt: ${groups[*]})" source scripts/prerequisites.sh "${groups[@]}"
if ((${#failed[@]})); then
  echo "FAILED: prerequisites could not be installed; nothing was tested" >&2
  exit 1
fi
step "tools guard: every program called is in scripts/prerequisites.txt" python3 scripts/check_tools.py
architecture_guards() {
  python3 scripts/check_imports.py && python3 scripts/check_layout.py
}
step "architecture guards: no import circle between files of a crate, README's layout = the tree" architecture_guards

step "workspace tests" cargo test --workspace --locked
step "kernels tests, micromath backend" cargo test -p crabmix-kernels --features micromath --locked
no_std_builds() {
  for t in thumbv7em-none-eabihf thumbv6m-none-eabi; do
    cargo build -p crabmix-kernels --locked --release --target "$t" --no-default-features --features libm || return 1
    cargo build -p crabmix-kernels --locked --release --target "$t" --no-default-features --features libm,defmt,nalgebra || return 1
    cargo build -p crabmix-workloads --locked --release --target "$t" --features defmt || return 1
    # kernels/examples/monitor.rs: the README's firmware example, as a firmware would build it.
    cargo build -p crabmix-kernels --locked --release --target "$t" --example monitor || return 1
  done
  cargo build -p crabmix-kernels --locked --release --target thumbv7em-none-eabihf --no-default-features --features micromath
}
step "kernels, workloads and the firmware example, no_std builds (thumbv7em-none-eabihf, thumbv6m-none-eabi)" no_std_builds
# clippy with warnings as errors, every target of every crate: the root workspace, the host and
# bench with the CUDA backend and the shim, the firmware (thumb) and its app crate (host, tests).
clippy_all() {
  local host
  host=$(rustc -vV | sed -n 's/^host: //p')
  cargo clippy --workspace --all-targets --locked -- -D warnings &&
    cargo clippy -p crabmix -p crabmix-bench --all-targets --locked \
      --features crabmix/cuda,crabmix/cuda-shim,crabmix-bench/cuda -- -D warnings &&
    (cd firmware && cargo clippy --release --all-targets --locked -- -D warnings &&
      cargo clippy --release -p crabmix-app --target "$host" --all-targets --locked -- -D warnings)
}
step "clippy -D warnings (workspace, CUDA features, firmware)" clippy_all
# CUDA without a GPU: every host/cuda/*.cu through the pinned NVRTC for sm_90 (zero spills), the
# E-step's hot loops within their SASS instruction budgets, the kernels on the CPU through the g++
# shim vs the f64 references, the cudarc backend type-checked.
step "CUDA checks without a GPU (NVRTC sm_90, SASS budgets, g++ shim, cudarc build)" scripts/cuda-check.sh
step "firmware under QEMU" firmware/run-tests.sh
step "cross-check of every target against the f64 references" scripts/crosscheck.sh
# Fuzzing's stable half: saved crash inputs and a pseudo-random smoke per target through the same
# property checks as the libFuzzer targets (fuzz/, its own workspace; sharing target/ reuses the
# host build).
step "fuzz regressions and smoke (stable replay of fuzz/regressions)" cargo test --manifest-path fuzz/Cargo.toml --no-default-features --locked --target-dir target
# Miri (scripts/miri.sh, nightly) is a separate job: interpreting the kernels' unit tests takes
# about 17 minutes on two shared cores, most of this suite's 20-minute budget.
# CRABMIX_MIRI=1 includes it.
if [[ ${CRABMIX_MIRI:-0} == 1 ]]; then
  step "Miri: kernels unit tests" scripts/miri.sh
fi
step "VAE/WGAN steps on the emulated Cortex-M4F: host f32 parity, stack < 64 KiB" bash -c 'cd firmware && cargo test --release --locked --test models'

echo
echo "=== wall time per step (total $SECONDS s)"
printf '%s\n' "${times[@]}"
echo
if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test steps passed"
