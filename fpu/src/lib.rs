//! The FPU instructions the kernels want and stable `core` does not expose, each behind one safe
//! function, so that `crabmix-kernels` keeps `#![forbid(unsafe_code)]` (issue 19).
//!
//! One function, one instruction, one audited `asm!`: on 32-bit Arm hard-float targets
//! (`target_arch = "arm"`, `target_abi = "eabihf"`: Cortex-M4F/M7/M33 with an FPU, Cortex-R/A in
//! hard-float builds) [`sqrtf`] is `VSQRT.F32`; everywhere else it is libm's `sqrtf`. Stable Rust
//! exposes no Arm target feature to `cfg` (they are all unstable), so the ABI is the switch: an
//! `eabihf` target passes floats in S registers, so it has at least VFPv2, and every VFP has
//! `VSQRT.F32`.
//!
//! Why results do not change: `VSQRT.F32` is IEEE 754 `squareRoot`, correctly rounded in the
//! current rounding mode (Arm ARM, A2.7 / "VSQRT"), and libm's `sqrtf` is correctly rounded to
//! nearest too, so the two agree bit for bit on every input in the reset rounding mode
//! (round-to-nearest, FZ = 0, which cortex-m-rt leaves as is). The one difference is the payload
//! of the NaN for negative or NaN inputs (`VSQRT` returns the default NaN when FPSCR.DN = 1);
//! the kernels reject non-positive pivots before taking a root.

#![no_std]
#![deny(missing_docs)]

/// √x, correctly rounded (round to nearest): one `VSQRT.F32` on Arm hard-float targets, libm's
/// `sqrtf` elsewhere. Equal bit for bit on every non-NaN input (module docs).
#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
#[inline(always)]
pub fn sqrtf(x: f32) -> f32 {
    let y: u32;
    // Through core registers: rustc's `sreg` operand class requires its `vfp2` feature (double
    // precision), which the single-precision FPv4-SP of thumbv7em-none-eabihf does not enable.
    // So S0 is borrowed: saved in a core register, used, and restored before the block ends.
    // SAFETY: the block reads `x` and writes `y`/`t` (core registers the compiler allocates) and
    // S0, which it restores to its value on entry; it touches no memory and no stack. On an
    // eabihf target the FPU is present and enabled (cortex-m-rt's reset handler turns on
    // CP10/CP11 for `*-eabihf`, and the ABI already passes floats in S registers). VSQRT may set
    // the FPSCR cumulative exception flags (IOC, IXC): hence no `preserves_flags`.
    unsafe {
        core::arch::asm!(
            "vmov {t}, s0",
            "vmov s0, {x}",
            "vsqrt.f32 s0, s0",
            "vmov {y}, s0",
            "vmov s0, {t}",
            x = in(reg) x.to_bits(),
            y = lateout(reg) y,
            t = out(reg) _,
            options(pure, nomem, nostack),
        );
    }
    f32::from_bits(y)
}

/// √x, correctly rounded: libm's `sqrtf` (no FPU instruction is assumed on this target).
#[cfg(not(all(target_arch = "arm", target_abi = "eabihf")))]
#[inline(always)]
pub fn sqrtf(x: f32) -> f32 {
    libm::sqrtf(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the correctly rounded root, checked exactly: r = sqrtf(x) must satisfy
    /// (r − ½ulp)² ≤ x ≤ (r + ½ulp)² in f64 (exact products of 24-bit values), on a sweep of
    /// bit patterns over every binade, subnormals and the special values.
    #[test]
    fn sqrtf_is_correctly_rounded() {
        for bits in (0u32..0x7f80_0000).step_by(9_973) {
            let x = f32::from_bits(bits);
            let r = sqrtf(x);
            assert_eq!(r.to_bits(), libm::sqrtf(x).to_bits(), "x = {x:e}");
            let (lo, hi) = (f32::from_bits(r.to_bits().saturating_sub(1)), f32::from_bits(r.to_bits() + 1));
            let (xl, rl, rh) = (x as f64, (r as f64 + lo as f64) / 2.0, (r as f64 + hi as f64) / 2.0);
            assert!(rl * rl <= xl && xl <= rh * rh, "x = {x:e}, r = {r:e}");
        }
        assert_eq!(sqrtf(0.0).to_bits(), 0.0f32.to_bits());
        assert_eq!(sqrtf(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(sqrtf(f32::INFINITY), f32::INFINITY);
        assert!(sqrtf(-1.0).is_nan());
        assert!(sqrtf(f32::NAN).is_nan());
    }
}
