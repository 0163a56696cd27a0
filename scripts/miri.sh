#!/usr/bin/env bash
# Miri over the kernels' unit tests (issue 8): undefined behaviour, out-of-bounds and overflow
# in the kernels and the dependencies they call (libm, rand_core), on a nightly toolchain.
# Miri interprets every instruction (~10⁴× slower than native): the statistical tests that draw
# 10⁵–10⁶ variates and the model-training tests would take hours, so they are skipped here (they
# run natively in the workspace tests); everything else runs. MIRI_FILTER narrows further; proptest
# runs 4 cases per property.
# The nightly toolchain with miri comes from scripts/prerequisites.txt (group miri; test-all.sh
# installs it when CRABMIX_MIRI=1, or: bash scripts/prerequisites.sh miri).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/prerequisites.sh --no-install
require cargo rustup
if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^miri'; then
  echo "miri: no nightly toolchain with miri: run bash scripts/prerequisites.sh miri" >&2
  exit 1
fi
export PROPTEST_CASES=${PROPTEST_CASES:-4}
# Isolation off: proptest reads the clock and looks for its failure-persistence files.
# Deterministic floats: Miri otherwise perturbs std's exp/ln by a few ulp to model platform
# differences, and the tests' references (std's expm1, ln) then miss their ulp tolerances.
export MIRIFLAGS=${MIRIFLAGS:-"-Zmiri-disable-isolation -Zmiri-deterministic-floats"}
# libm/force-soft-floats: libm's x86 sqrt is inline `sqrtsd`, which Miri cannot interpret; the
# software sqrt is correctly rounded too, so results are the same bits.
skip=(
  gaussian::normal::tests::million_ gaussian::normal::tests::ks_statistic
  gaussian::reparam::tests::diag_samples_have gaussian::reparam::tests::full_samples_have
  mlp::init::tests::sample_variance mlp::optim::tests::every_optimizer_minimizes
  models::vae::tests::training_raises
)
exec cargo +nightly miri test -p crabmix-kernels --lib --features libm/force-soft-floats -- \
  ${MIRI_FILTER:-} "${skip[@]/#/--skip=}" "$@"
