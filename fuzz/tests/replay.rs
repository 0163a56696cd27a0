//! Stable-toolchain half of the fuzzing (issue 8): replays every saved input under
//! `regressions/<target>/` (crashes found by libFuzzer, minimized, kept forever) and a fixed set
//! of pseudo-random inputs per target, through the same property checks as the fuzz targets.
//! Runs in scripts/test-all.sh; needs no nightly and no libFuzzer.

use std::path::Path;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 7] = [
    ("csv_reader", crabmix_fuzz::csv_reader),
    ("gmm_fit", crabmix_fuzz::gmm_fit),
    ("em_step", crabmix_fuzz::em_step),
    ("kl", crabmix_fuzz::kl),
    ("sampling", crabmix_fuzz::sampling),
    ("mlp", crabmix_fuzz::mlp),
    ("cli_inputs", crabmix_fuzz::cli_inputs),
];

#[test]
fn saved_regressions_still_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut replayed = 0;
    for (name, target) in TARGETS {
        let Ok(dir) = std::fs::read_dir(root.join(name)) else { continue };
        let mut files: Vec<_> = dir.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
        files.sort();
        for f in files {
            if f.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                continue;
            }
            eprintln!("replay {}", f.display());
            target(&std::fs::read(&f).unwrap());
            replayed += 1;
        }
    }
    eprintln!("{replayed} saved inputs replayed");
}

/// A few hundred pseudo-random inputs per target (seconds in all): a smoke run of every property
/// on stable, so a regression shows up in CI even before anyone fuzzes again.
#[test]
fn pseudo_random_inputs_pass() {
    for (i, (name, target)) in TARGETS.into_iter().enumerate() {
        let mut state = 0x5EED_0000 + i as u64;
        for case in 0..300 {
            // SplitMix64 steps: lengths 0..512, so short and long inputs both occur.
            let mut next = || {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^ (z >> 31)
            };
            let len = (next() % 512) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let r = std::panic::catch_unwind(|| target(&bytes));
            assert!(r.is_ok(), "{name}: case {case} panicked on {bytes:02x?}");
        }
    }
}
