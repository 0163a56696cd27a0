//! FNV-1a digest of a workload's inputs.

/// FNV-1a (64-bit) over 64-bit words: a digest of a workload's inputs (f64 bits, or f32 bits
/// widened). The cross-check's generators keep one each; the firmware prints it with its results
/// and the host harness compares it with its own, so equal digests show the device computed from
/// the very inputs the f64 references were computed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputDigest(u64);

impl Default for InputDigest {
    fn default() -> Self {
        Self::new()
    }
}

impl InputDigest {
    /// The empty digest (FNV-1a's offset basis).
    pub const fn new() -> Self {
        InputDigest(0xcbf2_9ce4_8422_2325)
    }

    /// Adds one 64-bit word, least significant byte first.
    pub fn word(&mut self, w: u64) {
        for b in w.to_le_bytes() {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Adds the bits of each f64.
    pub fn f64s(&mut self, v: &[f64]) {
        v.iter().for_each(|x| self.word(x.to_bits()));
    }

    /// Adds the bits of each f32, widened to a word.
    pub fn f32s(&mut self, v: &[f32]) {
        v.iter().for_each(|x| self.word(x.to_bits() as u64));
    }

    /// The digest so far.
    pub const fn value(&self) -> u64 {
        self.0
    }
}
