//! Board support shared by the firmware binaries and the on-target tests: board selection, the
//! defmt transport, how the program ends (semihosting exit, also from a HardFault), stack
//! painting and the instruction-count markers.
//!
//! Boards (exactly one feature):
//! * `qemu` (default): QEMU's `mps2-an386` (Cortex-M4F) for `thumbv7em-none-eabihf`, or QEMU's
//!   `microbit` (Cortex-M0, soft float) for `thumbv6m-none-eabi`; defmt over semihosting.
//! * `netduinoplus2` (with `qemu`): QEMU's `netduinoplus2` (STM32F405, Cortex-M4F, real MCU
//!   peripherals), `thumbv7em-none-eabihf`; defmt over semihosting.
//! * `nrf52840`: nRF52840-DK, defmt over RTT, run by `probe-rs run` (which also serves the
//!   semihosting exit call).
//! * `rp2040`: Raspberry Pi RP2040 (Cortex-M0+, `thumbv6m-none-eabi`), its second-stage
//!   bootloader from `rp2040-boot2`, defmt over RTT, run by `probe-rs run --chip RP2040`.
//!
//! A board is a feature and a memory map (`memory/*.x`, chosen by `build.rs`), nothing more.
#![no_std]
#![deny(missing_docs)]

#[cfg(not(any(feature = "qemu", feature = "nrf52840", feature = "rp2040")))]
compile_error!(
    "select a board: `--features qemu` (default, emulated mps2-an386/microbit) or \
     `--no-default-features --features nrf52840` (or `rp2040`)"
);
#[cfg(any(
    all(feature = "qemu", feature = "nrf52840"),
    all(feature = "qemu", feature = "rp2040"),
    all(feature = "nrf52840", feature = "rp2040")
))]
compile_error!("features `qemu`, `nrf52840` and `rp2040` select different boards: enable exactly one");

// The transport is chosen by the board: RTT on the real board (linking the crate registers its
// global defmt logger), semihosting under QEMU (`SemihostingLogger` below).
#[cfg(any(feature = "nrf52840", feature = "rp2040"))]
use defmt_rtt as _;
// Panics print through defmt, then `udf` → HardFault → `exit(false)` below. In the panic-freedom
// proof of the shipped app (feature `prove-no-panic-app`, panic-paths.sh) the handler is one that
// cannot link instead: see `panic` below.
#[cfg(not(feature = "prove-no-panic-app"))]
use panic_probe as _;

use cortex_m_rt::ExceptionFrame;

/// Name of the board this image was linked for.
#[cfg(all(feature = "qemu", target_arch = "arm", not(armv6m), not(feature = "netduinoplus2")))]
pub const BOARD: &str = "qemu-mps2-an386";
/// Name of the board this image was linked for.
#[cfg(all(feature = "qemu", feature = "netduinoplus2"))]
pub const BOARD: &str = "qemu-netduinoplus2";
/// Name of the board this image was linked for.
#[cfg(all(feature = "qemu", armv6m))]
pub const BOARD: &str = "qemu-microbit";
/// Name of the board this image was linked for.
#[cfg(feature = "nrf52840")]
pub const BOARD: &str = "nrf52840";
/// Name of the board this image was linked for.
#[cfg(feature = "rp2040")]
pub const BOARD: &str = "rp2040";

/// The RP2040's second-stage bootloader (for W25Q080-class QSPI flash, as on the Raspberry Pi
/// Pico): the boot ROM copies these 256 bytes from the start of flash and runs them to set up
/// execute-in-place; `memory/rp2040.x` places the `.boot2` section there.
#[cfg(feature = "rp2040")]
#[unsafe(link_section = ".boot2")]
#[unsafe(no_mangle)]
#[used]
pub static BOOT2_FIRMWARE: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

/// Ends the program through semihosting: QEMU (and `probe-rs run`) exit with status 0 on success
/// and 1 on failure, so CI sees the result in the exit code.
pub fn exit(success: bool) -> ! {
    semihosting::process::exit(if success { 0 } else { 1 })
}

mod console;

/// Semihosting stderr as a `core::fmt::Write` sink, for the HardFault messages.
struct Stderr(usize);

impl core::fmt::Write for Stderr {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        console::write_all(self.0, s.as_bytes());
        Ok(())
    }
}

/// Prints one line on semihosting stderr (nothing if stderr cannot be opened).
fn eprintln(args: core::fmt::Arguments<'_>) {
    use core::fmt::Write as _;
    if let Some(handle) = console::open(true) {
        let mut err = Stderr(handle);
        let _ = err.write_fmt(args);
        let _ = err.write_str("\n");
    }
}

/// The global defmt logger under QEMU: frames go to semihosting stdout, where `tools/qemu-run.sh`
/// pipes them into `defmt-print`. Replaces the `defmt-semihosting` crate, whose logger panics when
/// it is re-entered and writes through the `semihosting` crate (see [`console`]): here a
/// re-entered logger (a
/// fault handler or an interrupt logging while a frame is open; neither happens in these programs)
/// drops the inner frame, so the shipped app has no panic path in its logging
/// (`panic-paths.sh`).
#[cfg(feature = "qemu")]
mod semihosting_logger {
    use core::cell::UnsafeCell;
    use core::sync::atomic::{AtomicU8, Ordering};

    /// Logger state: 0 free, 1 a frame open, 2 a frame open and a nested acquire being ignored.
    static STATE: AtomicU8 = AtomicU8::new(0);

    struct Frame {
        encoder: defmt::Encoder,
        /// The console's handle, once opened.
        out: Option<usize>,
        /// Whether interrupts were enabled at `acquire` (restored at `release`).
        interrupts: bool,
    }

    struct Shared(UnsafeCell<Frame>);

    // SAFETY: only touched between acquire and release, with interrupts disabled and STATE = 1
    // (single core), so never from two contexts at once.
    unsafe impl Sync for Shared {}

    static FRAME: Shared =
        Shared(UnsafeCell::new(Frame { encoder: defmt::Encoder::new(), out: None, interrupts: false }));

    fn emit(out: &Option<usize>, bytes: &[u8]) {
        if let Some(handle) = *out {
            super::console::write_all(handle, bytes);
        }
    }

    #[defmt::global_logger]
    struct SemihostingLogger;

    // SAFETY: defmt's contract: acquire/write/flush/release from one context at a time, which the
    // interrupt masking and STATE guarantee.
    unsafe impl defmt::Logger for SemihostingLogger {
        fn acquire() {
            let interrupts = cortex_m::register::primask::read().is_active();
            cortex_m::interrupt::disable();
            if STATE.load(Ordering::Relaxed) != 0 {
                STATE.store(2, Ordering::Relaxed);
                return;
            }
            STATE.store(1, Ordering::Relaxed);
            // SAFETY: STATE was 0 and interrupts are off: nobody else holds the frame.
            let frame = unsafe { &mut *FRAME.0.get() };
            frame.interrupts = interrupts;
            if frame.out.is_none() {
                frame.out = super::console::open(false);
            }
            let Frame { encoder, out, .. } = frame;
            encoder.start_frame(|b| emit(out, b));
        }

        unsafe fn flush() {}

        unsafe fn release() {
            match STATE.load(Ordering::Relaxed) {
                1 => {
                    // SAFETY: acquired by this context (STATE = 1).
                    let frame = unsafe { &mut *FRAME.0.get() };
                    let Frame { encoder, out, interrupts } = frame;
                    encoder.end_frame(|b| emit(out, b));
                    STATE.store(0, Ordering::Relaxed);
                    if *interrupts {
                        // SAFETY: interrupts were enabled before acquire disabled them.
                        unsafe { cortex_m::interrupt::enable() };
                    }
                }
                // The nested frame ends: the outer one stays open.
                2 => STATE.store(1, Ordering::Relaxed),
                _ => {}
            }
        }

        unsafe fn write(bytes: &[u8]) {
            if STATE.load(Ordering::Relaxed) == 1 {
                // SAFETY: acquired by this context (STATE = 1).
                let frame = unsafe { &mut *FRAME.0.get() };
                let Frame { encoder, out, .. } = frame;
                encoder.write(bytes, |b| emit(out, b));
            }
        }
    }
}

/// Exit status of a HardFault whose exception frame could not be pushed because the stack was
/// exhausted (flip-link puts the stack at the bottom of RAM, so an overflow runs off the start of
/// RAM into unmapped memory and faults instead of overwriting static data): CI tells it apart
/// from other failures (1).
pub const EXIT_STACK_OVERFLOW: i32 = 3;

// Every fault ends in `HardFault` (panic-probe's `udf` included). Without a handler the default one
// loops forever and QEMU would hang instead of failing. The vector points straight at this
// assembly, not at a Rust function: after a stack overflow the stack pointer lies below RAM and
// any push (a Rust prologue, cortex-m-rt's trampoline target) would fault again, which is a
// lockup. It hands the faulting SP to `crabmix_hard_fault` on a fresh stack (the top of the stack
// region: the program is ending, nothing on the old stack is needed). Thumb-1 only, so it serves
// the Cortex-M0 too; these programs never use the process stack.
core::arch::global_asm!(
    ".section .HardFault.user, \"ax\"",
    ".global HardFault",
    ".type HardFault,%function",
    ".thumb_func",
    "HardFault:",
    "    mrs r0, MSP",
    "    ldr r1, =_stack_start",
    "    mov sp, r1",
    "    bl crabmix_hard_fault",
    "    .ltorg",
    ".size HardFault, . - HardFault",
);

use stack::_stack_end;

/// A fault with the stack pointer this close to the bottom of the stack region (or below it) is
/// reported as a stack overflow: the faulting access was a push off the end of the stack (the
/// largest single push, `vpush {d8-d15}` + `push {r4-r11, lr}` plus the 26-word FP exception frame
/// the hardware adds, stays below this).
const OVERFLOW_SLACK: usize = 256;

/// The HardFault handler proper, on a fresh stack; `sp` is the stack pointer at the fault, after
/// the hardware pushed (or failed to push) the exception frame. The message goes to semihosting
/// stderr, not through defmt: the fault may have hit while the defmt logger was held, and
/// re-entering it would fault again.
#[unsafe(no_mangle)]
unsafe extern "C" fn crabmix_hard_fault(sp: usize) -> ! {
    let bottom = core::ptr::addr_of!(_stack_end) as usize;
    if sp < bottom.saturating_add(OVERFLOW_SLACK) {
        eprintln(format_args!("HardFault: stack overflow (sp={:#010x}, stack bottom {:#010x})", sp, bottom));
        semihosting::process::exit(EXIT_STACK_OVERFLOW)
    }
    // SAFETY: sp lies inside the stack region, where the hardware pushed the frame.
    let ef = unsafe { &*(sp as *const ExceptionFrame) };
    eprintln(format_args!("HardFault: pc={:#010x} lr={:#010x} xpsr={:#010x}", ef.pc(), ef.lr(), ef.xpsr()));
    exit(false)
}

#[cfg(feature = "prove-no-panic-app")]
unsafe extern "C" {
    /// Defined nowhere: referencing it from a live function is a link error.
    fn crabmix_panic_is_reachable() -> !;
}

/// The panic-freedom proof of the shipped app (`panic-paths.sh`): the release image with this
/// handler in place of panic-probe's links only if no panic path is reachable from `main`.
#[cfg(feature = "prove-no-panic-app")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: never executed; a reachable panic keeps this call and fails the link.
    unsafe { crabmix_panic_is_reachable() }
}

/// defmt timestamps are omitted: QEMU has no timing model and the logs are compared as text.
#[defmt::panic_handler]
fn defmt_panic() -> ! {
    // Reached by `defmt::panic!`/`assert!`: the message is already printed; fault to exit(false).
    #[cfg(not(feature = "prove-no-panic-app"))]
    panic_probe::hard_fault();
    // SAFETY: as `panic` above.
    #[cfg(feature = "prove-no-panic-app")]
    unsafe {
        crabmix_panic_is_reachable()
    }
}

mod stack;
pub use stack::measure_stack;

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
