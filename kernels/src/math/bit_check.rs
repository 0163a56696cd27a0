//! Test support: a function of f32 against a reference, bit for bit, over bit patterns.

/// Whether `a` and `b` have the same bits (every NaN counts as the same NaN).
pub(crate) fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Checks `f` against `reference` (both named `name` in a failure) on the patterns
/// `0, step, 2·step, …` of both signs; returns how many it checked (2³² for `step` 1).
pub(crate) fn check_stride(name: &str, f: fn(f32) -> f32, reference: fn(f32) -> f32, step: u32) -> u64 {
    let mut n = 0;
    for sign in [0u32, 0x8000_0000] {
        let mut b = 0u32;
        while b <= 0x7fff_ffff {
            let x = f32::from_bits(sign | b);
            assert!(same(f(x), reference(x)), "{name}({x:e} = {:#010x})", x.to_bits());
            n += 1;
            b = match b.checked_add(step) {
                Some(v) => v,
                None => break,
            };
        }
    }
    n
}
