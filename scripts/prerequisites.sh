# Sourced by scripts/main-job.sh and scripts/test-all.sh: installs what crabmix needs and is
# missing — Rust targets for the microcontrollers, QEMU (Debian package, as root), defmt-print,
# flip-link (the firmware's linker: stack overflow faults instead of corrupting RAM; a small crate,
# ≈ 10 s to build, skipped when present).
installed=$(rustup target list --installed)
for t in thumbv7em-none-eabihf thumbv6m-none-eabi; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done
if ! command -v qemu-system-arm >/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends qemu-system-arm
  else
    echo "qemu-system-arm is missing: sudo apt-get install qemu-system-arm" >&2
    exit 1
  fi
fi
export PATH=$HOME/.cargo/bin:$PATH
command -v defmt-print >/dev/null || cargo install defmt-print --locked
command -v flip-link >/dev/null || cargo install flip-link --locked
