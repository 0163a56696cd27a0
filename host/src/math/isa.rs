//! Which build of the vectorized CPU passes runs on this machine, chosen at run time.
//!
//! The workspace sets no `target-cpu`, so ordinary code gets SSE2 only. The hot passes are
//! written once, generic over `const FMA: bool`, and compiled three times: plainly (portable,
//! two roundings per multiply-add), inside a `#[target_feature(enable = "avx,avx2,fma")]`
//! wrapper (256-bit vectors, one rounding per multiply-add) and inside one that adds
//! `avx512f,avx512vl,avx512dq` (512-bit vectors, 32 vector registers). [`Isa::detect`] picks the
//! widest build the CPU reports every feature of.

/// The instruction set a CPU pass runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// x86-64 with AVX-512 (F, VL, DQ) besides AVX2 and FMA: 512-bit vectors, fused
    /// multiply-adds.
    Avx512,
    /// x86-64 with AVX2 and FMA: 256-bit vectors, fused multiply-adds.
    Avx2Fma,
    /// Whatever the target's baseline gives (SSE2 on x86-64), no fused multiply-add.
    Portable,
}

impl Isa {
    /// Every build, widest first.
    const WIDEST_FIRST: [Isa; 3] = [Isa::Avx512, Isa::Avx2Fma, Isa::Portable];

    /// The best build this CPU runs: [`Isa::Avx512`] when `is_x86_feature_detected!` reports
    /// `avx512f`, `avx512vl`, `avx512dq`, `avx2` and `fma`, else [`Isa::Avx2Fma`] when it reports
    /// `avx2` and `fma` (the checks are cached by std; cheap enough per pass), else
    /// [`Isa::Portable`].
    pub fn detect() -> Self {
        Isa::Avx512.or_supported()
    }

    /// Whether this CPU has every feature the build needs ([`Isa::Portable`]: always).
    pub fn is_supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let avx2 = has!("avx") && has!("avx2") && has!("fma");
            match self {
                Isa::Avx512 => avx2 && has!("avx512f") && has!("avx512vl") && has!("avx512dq"),
                Isa::Avx2Fma => avx2,
                Isa::Portable => true,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Isa::Portable
        }
    }

    /// `self` where this CPU supports it, else the widest supported build below it (the
    /// portable one at worst).
    pub fn or_supported(self) -> Self {
        Self::WIDEST_FIRST
            .into_iter()
            .skip_while(|&isa| isa != self)
            .find(|isa| isa.is_supported())
            .unwrap_or(Isa::Portable)
    }

    /// Every build this CPU runs, widest first (the portable one last).
    pub fn supported() -> Vec<Self> {
        Self::WIDEST_FIRST.into_iter().filter(|isa| isa.is_supported()).collect()
    }

    /// A short name for reports: `"avx512"`, `"avx2+fma"` or `"portable"`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2Fma => "avx2+fma",
            Isa::Portable => "portable",
        }
    }

    /// Peak floating-point operations per cycle and core for a scalar of `bytes` bytes (4 or 8):
    /// 2 vector pipes (the FMA pipes of AMD Zen 2–4 and Intel Haswell and later, and the two
    /// 512-bit FMA units of Intel's server cores; not detected, assumed — the upper figure, so a
    /// core with one 512-bit unit, or AMD Zen 4, which reports AVX-512 but runs each 512-bit
    /// operation on its 256-bit pipes, is held to twice its real peak) × lanes (64 / `bytes` for
    /// AVX-512, 32 / `bytes` for AVX2, 16 / `bytes` for SSE2) × 2 flops per fused multiply-add.
    /// The portable build has no fused multiply-add: a multiply and an add are 2 flops on the
    /// same 2 pipes, so its peak counts 1 flop per lane and pipe.
    pub fn peak_flops_per_cycle(self, bytes: usize) -> f64 {
        let bytes = bytes.max(1) as f64;
        match self {
            Isa::Avx512 => 2.0 * (64.0 / bytes) * 2.0,
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
        assert_eq!(Isa::Avx512.peak_flops_per_cycle(8), 32.0);
        assert_eq!(Isa::Portable.name(), "portable");
    }

    #[test]
    fn fallback_is_the_widest_supported_build_below() {
        let all = Isa::supported();
        assert_eq!(all.last(), Some(&Isa::Portable));
        assert_eq!(all[0], Isa::detect());
        assert_eq!(Isa::Portable.or_supported(), Isa::Portable);
        for isa in [Isa::Avx512, Isa::Avx2Fma] {
            let got = isa.or_supported();
            assert!(got.is_supported());
            if isa.is_supported() {
                assert_eq!(got, isa);
            }
        }
        // A CPU with AVX-512 has AVX2 too: the list is a chain.
        if Isa::Avx512.is_supported() {
            assert!(Isa::Avx2Fma.is_supported());
        }
    }
}
