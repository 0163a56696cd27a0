//! Stack painting: [`measure_stack`] runs a closure and returns the bytes of stack it used.
//!
//! Its own file so that the footprint binaries (`src/footprint.rs`), which do not link this
//! library, measure with the same code.

use core::sync::atomic::{Ordering, compiler_fence};

unsafe extern "C" {
    // Bottom of the stack region (cortex-m-rt's link.x; flip-link sets it to the start of RAM).
    pub(crate) static _stack_end: u32;
}

/// Value written over free stack by [`measure_stack`]; an unlikely float or pointer.
const PAINT: u32 = 0xDEAD_C0DE;
/// Paint at most this much below the stack pointer: enough for every loop measured here, and it
/// keeps painting fast on the 4 MiB of the mps2-an386.
const PAINT_LIMIT: usize = 32 * 1024;

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
    // Only the address of the linker symbol is taken (no read), which needs no `unsafe`. The stack
    // grows down towards it: the start of RAM under flip-link, the end of static data without.
    let stack_end = core::ptr::addr_of!(_stack_end) as usize;
    let bottom = stack_end.max(sp.saturating_sub(PAINT_LIMIT)) & !3;
    // Everything below this function's frame, i.e. below `sp`, is free: no interrupts are
    // enabled in these programs and ARM has no red zone.
    let mut p = bottom;
    while p < sp {
        // SAFETY: [bottom, sp) lies between the bottom of the stack region and the live stack, is
        // word-aligned and owned by nobody now.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p = p.wrapping_add(4);
    }
    compiler_fence(Ordering::SeqCst);
    let r = call_not_inlined(f);
    compiler_fence(Ordering::SeqCst);
    let mut p = bottom;
    // SAFETY: same region as above, read back after `f` returned.
    while p < sp && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p = p.wrapping_add(4);
    }
    (r, sp.saturating_sub(p))
}

/// Keeps `f`'s frame out of `measure_stack`'s own frame, which sits above the measured `sp`.
#[inline(never)]
fn call_not_inlined<R>(f: impl FnOnce() -> R) -> R {
    f()
}
