//! Which build of the vectorized CPU passes runs on this machine, chosen at run time.
//!
//! The workspace sets no `target-cpu`, so ordinary code gets SSE2 only. The hot passes are
//! written once, generic over `const FMA: bool`, and compiled twice: plainly (portable, two
//! roundings per multiply-add) and inside a `#[target_feature(enable = "avx,avx2,fma")]`
//! wrapper (256-bit vectors, one rounding per multiply-add). [`Isa::detect`] picks the second
//! where the CPU reports AVX2 and FMA.

/// The instruction set a CPU pass runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// x86-64 with AVX2 and FMA: 256-bit vectors, fused multiply-adds.
    Avx2Fma,
    /// Whatever the target's baseline gives (SSE2 on x86-64), no fused multiply-add.
    Portable,
}

impl Isa {
    /// The best build this CPU runs: [`Isa::Avx2Fma`] when `is_x86_feature_detected!` reports
    /// `avx2` and `fma` (the check is cached by std; cheap enough per pass), else
    /// [`Isa::Portable`].
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Isa::Avx2Fma;
        }
        Isa::Portable
    }

    /// A short name for reports: `"avx2+fma"` or `"portable"`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx2Fma => "avx2+fma",
            Isa::Portable => "portable",
        }
    }

    /// Peak floating-point operations per cycle and core for a scalar of `bytes` bytes (4 or 8):
    /// 2 vector pipes (the FMA pipes of AMD Zen 2–4 and Intel Haswell and later; not detected,
    /// assumed) × lanes (32 / `bytes` for 256-bit AVX2, 16 / `bytes` for SSE2) × 2 flops per
    /// fused multiply-add. The portable build has no fused multiply-add: a multiply and an add
    /// are 2 flops on the same 2 pipes, so its peak counts 1 flop per lane and pipe.
    pub fn peak_flops_per_cycle(self, bytes: usize) -> f64 {
        let bytes = bytes.max(1) as f64;
        match self {
            Isa::Avx2Fma => 2.0 * (32.0 / bytes) * 2.0,
            Isa::Portable => 2.0 * (16.0 / bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_counts_lanes_pipes_and_fma() {
        // f64 under AVX2+FMA: 2 pipes × 4 lanes × 2 flops; f32 twice that.
        assert_eq!(Isa::Avx2Fma.peak_flops_per_cycle(8), 16.0);
        assert_eq!(Isa::Avx2Fma.peak_flops_per_cycle(4), 32.0);
        assert_eq!(Isa::Portable.peak_flops_per_cycle(8), 4.0);
        assert_eq!(Isa::Portable.name(), "portable");
    }
}
