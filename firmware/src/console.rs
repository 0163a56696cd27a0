//! Raw semihosting console output (ARM semihosting `SYS_OPEN` of `:tt` and `SYS_WRITE`, through
//! `bkpt 0xab`) for the defmt logger and the fault messages. The `semihosting` crate's streams
//! keep panic paths the link-time proof cannot rule out (an `assert!` that a handle is not −1 on
//! every write, `write_all`'s slice index); here a failed call just drops the output.
//!
//! Its own file so that the footprint binaries (`src/footprint.rs`), which do not link this
//! library, print through the same code.

const SYS_OPEN: usize = 0x01;
const SYS_WRITE: usize = 0x05;

/// # Safety
/// `op` is a semihosting operation whose parameter block is `block`.
unsafe fn call(op: usize, block: &[usize]) -> isize {
    let ret: isize;
    // SAFETY: the debugger (QEMU, probe-rs) serves the call; it reads `block` and the memory
    // it points to, and returns in r0.
    unsafe {
        core::arch::asm!("bkpt #0xab", inout("r0") op => ret, in("r1") block.as_ptr(), options(nostack, preserves_flags))
    };
    ret
}

/// Opens the host console: stdout, or stderr (`:tt` in mode "w" or "a", as the semihosting
/// specification maps them). `None` if the host refuses.
pub(crate) fn open(stderr: bool) -> Option<usize> {
    let name = b":tt\0";
    let mode = if stderr { 8 } else { 4 };
    // SAFETY: SYS_OPEN's block is (name, mode, length of the name without its NUL).
    let handle = unsafe { call(SYS_OPEN, &[name.as_ptr() as usize, mode, 3]) };
    usize::try_from(handle).ok()
}

/// Writes all of `bytes`, giving up silently if the host refuses some.
pub(crate) fn write_all(handle: usize, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let len = bytes.len();
        // SAFETY: SYS_WRITE's block is (handle, buffer, length); it returns the bytes not written.
        let not_written = unsafe { call(SYS_WRITE, &[handle, bytes.as_ptr() as usize, len]) } as usize;
        if not_written >= len {
            return;
        }
        bytes = bytes.get(len - not_written..).unwrap_or(&[]);
    }
}
