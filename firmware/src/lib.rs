//! Board support shared by the firmware binaries and the on-target tests: board selection, the
//! defmt transport, how the program ends (semihosting exit, also from a HardFault), stack
//! painting and the instruction-count markers.
//!
//! Boards (exactly one feature):
//! * `qemu` (default): QEMU's `mps2-an386` (Cortex-M4F) for `thumbv7em-none-eabihf`, or QEMU's
//!   `microbit` (Cortex-M0, soft float) for `thumbv6m-none-eabi`; defmt over semihosting.
//! * `nrf52840`: nRF52840-DK, defmt over RTT, run by `probe-rs run` (which also serves the
//!   semihosting exit call).
#![no_std]

#[cfg(not(any(feature = "qemu", feature = "nrf52840")))]
compile_error!(
    "select a board: `--features qemu` (default, emulated mps2-an386/microbit) or \
     `--no-default-features --features nrf52840`"
);
#[cfg(all(feature = "qemu", feature = "nrf52840"))]
compile_error!("features `qemu` and `nrf52840` select different boards: enable exactly one");

// The transport is chosen by the board; linking the crate registers the global defmt logger.
#[cfg(feature = "nrf52840")]
use defmt_rtt as _;
#[cfg(feature = "qemu")]
use defmt_semihosting as _;
// Panics print through defmt, then `udf` → HardFault → `exit(false)` below.
use panic_probe as _;

use core::sync::atomic::{Ordering, compiler_fence};
use cortex_m_rt::{ExceptionFrame, exception};

/// Name of the board this image was linked for.
#[cfg(all(feature = "qemu", target_arch = "arm", not(armv6m)))]
pub const BOARD: &str = "qemu-mps2-an386";
/// Name of the board this image was linked for.
#[cfg(all(feature = "qemu", armv6m))]
pub const BOARD: &str = "qemu-microbit";
/// Name of the board this image was linked for.
#[cfg(feature = "nrf52840")]
pub const BOARD: &str = "nrf52840";

/// Ends the program through semihosting: QEMU (and `probe-rs run`) exit with status 0 on success
/// and 1 on failure, so CI sees the result in the exit code.
pub fn exit(success: bool) -> ! {
    semihosting::process::exit(if success { 0 } else { 1 })
}

/// Every fault ends here (panic-probe's `udf` included). Without this handler the default one
/// loops forever and QEMU would hang instead of failing. The message goes to semihosting stderr,
/// not through defmt: the fault may have hit while the defmt logger was held, and re-entering it
/// would fault again (a lockup, which QEMU also turns into a hang).
#[exception]
unsafe fn HardFault(ef: &ExceptionFrame) -> ! {
    semihosting::eprintln!("HardFault: pc={:#010x} lr={:#010x} xpsr={:#010x}", ef.pc(), ef.lr(), ef.xpsr());
    exit(false)
}

/// defmt timestamps are omitted: QEMU has no timing model and the logs are compared as text.
#[defmt::panic_handler]
fn defmt_panic() -> ! {
    // Reached by `defmt::panic!`/`assert!`: the message is already printed; fault to exit(false).
    panic_probe::hard_fault()
}

/// Value written over free stack by [`measure_stack`]; an unlikely float or pointer.
const PAINT: u32 = 0xDEAD_C0DE;
/// Paint at most this much below the stack pointer: enough for every loop measured here, and it
/// keeps painting fast on the 4 MiB of the mps2-an386.
const PAINT_LIMIT: usize = 32 * 1024;

unsafe extern "C" {
    // Start of the heap (end of .bss/.uninit), from cortex-m-rt's link.x; the stack grows down
    // towards it.
    static mut __sheap: u32;
}

#[inline(always)]
fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads SP into a register; no memory is touched.
    unsafe { core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    sp
}

/// Runs `f` and returns its result with the bytes of stack it used (high-water mark, including
/// the call into `f`), measured by painting the free stack before and scanning it after.
///
/// Repeatable (same image, same input → same number); it cannot see stack that `f` reserved but
/// never wrote, which LLVM rarely emits. Returns `PAINT_LIMIT` if everything painted was used.
#[inline(never)]
pub fn measure_stack<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let sp = stack_pointer();
    // Only the address of the linker symbol is taken (no read), which needs no `unsafe`.
    let heap_start = core::ptr::addr_of!(__sheap) as usize;
    let bottom = heap_start.max(sp.saturating_sub(PAINT_LIMIT)) & !3;
    // Everything below this function's frame, i.e. below `sp`, is free: no interrupts are
    // enabled in these programs and ARM has no red zone.
    let mut p = bottom;
    while p < sp {
        // SAFETY: [bottom, sp) lies between the end of static data and the live stack, is
        // word-aligned and owned by nobody now.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
    compiler_fence(Ordering::SeqCst);
    let r = call_not_inlined(f);
    compiler_fence(Ordering::SeqCst);
    let mut p = bottom;
    // SAFETY: same region as above, read back after `f` returned.
    while p < sp && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    (r, sp - p)
}

/// Keeps `f`'s frame out of `measure_stack`'s own frame, which sits above the measured `sp`.
#[inline(never)]
fn call_not_inlined<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Start marker for the instruction-count plugin (`tools/kcount.c`): it snapshots the count when
/// the first instruction of this function executes. `no_mangle` so the runner finds it by name.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn crabmix_mark_start() {
    // The asm (no `nomem`) is a compiler barrier, and differs from the end marker's so the two
    // functions can never be folded into one address.
    // SAFETY: a single `nop`, no operands.
    unsafe { core::arch::asm!("nop", options(nostack, preserves_flags)) };
}

/// End marker for the instruction-count plugin: it prints the instructions since the start marker.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn crabmix_mark_end() {
    // SAFETY: two `nop`s, no operands.
    unsafe { core::arch::asm!("nop", "nop", options(nostack, preserves_flags)) };
}
