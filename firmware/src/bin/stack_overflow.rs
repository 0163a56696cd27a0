//! Deliberate unbounded recursion: must end in a HardFault, not run on (issue 8).
//!
//! The firmware links with flip-link (`.cargo/config.toml`), which puts the stack at the bottom of
//! RAM, below the static data: a stack that outgrows its region runs off the start of RAM into
//! unmapped memory, and the first push there is a bus fault (escalated to HardFault) instead of a
//! silent overwrite of `.bss`/`.data`. The HardFault handler (`src/lib.rs`) sees the stack pointer
//! below the region and exits with `EXIT_STACK_OVERFLOW` (3). Every level also checks a canary in
//! `.bss` and one in `.data`: without flip-link (the stack above the statics) the recursion runs
//! over them first, and this program exits 1 saying so. `run-tests.sh` runs it on both QEMU boards
//! and requires exit status 3 and the handler's message; 0, 1 or a timeout fails CI.
#![no_std]
#![no_main]

use core::hint::black_box;
use core::sync::atomic::{AtomicU32, Ordering};
use crabmix_firmware::{BOARD, exit};

/// In `.bss` (zero-initialized): 1 KiB, more than two recursion levels (536 B each on the M4F), so
/// the stack cannot pass it without one level's `frame` landing on it.
static CANARY_BSS: [AtomicU32; 256] = [const { AtomicU32::new(0) }; 256];
/// In `.data` (initialized from flash).
static CANARY_DATA: AtomicU32 = AtomicU32::new(0xC0FF_EE42);

fn statics_intact() -> bool {
    CANARY_DATA.load(Ordering::Relaxed) == 0xC0FF_EE42
        && CANARY_BSS.iter().all(|w| w.load(Ordering::Relaxed) == 0)
}

/// Stores the canaries' own values through `black_box`ed references, so that the optimizer must
/// keep them as writable statics in RAM (never stored to, LTO would fold them into constants).
fn arm_canaries() {
    black_box(&CANARY_DATA).store(0xC0FF_EE42, Ordering::Relaxed);
    for w in black_box(&CANARY_BSS) {
        w.store(0, Ordering::Relaxed);
    }
}

/// Each call keeps 64 words live across the recursive call (no tail call, nothing to fold away).
#[inline(never)]
fn recurse(depth: u32) -> u32 {
    let mut frame = [depth; 64];
    black_box(&mut frame);
    if !statics_intact() {
        defmt::error!("depth {=u32}: the stack overwrote static data (no overflow protection)", depth);
        exit(false);
    }
    if depth.is_multiple_of(256) {
        defmt::info!("depth {=u32}", depth);
    }
    let below = if black_box(true) { recurse(depth.wrapping_add(1)) } else { 0 };
    below.wrapping_add(black_box(frame)[depth as usize % 64])
}

#[cortex_m_rt::entry]
fn main() -> ! {
    defmt::info!("stack-overflow test on {=str}: recursing without bound", BOARD);
    arm_canaries();
    let r = recurse(0);
    // Unreachable when the overflow faults: returning means the recursion was bounded after all.
    defmt::error!("recursion returned {=u32}: no stack overflow fault", r);
    exit(false)
}
