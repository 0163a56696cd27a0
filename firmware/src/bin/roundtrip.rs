//! Host → board → host (issue 18). `run-tests.sh` fits Pearson's crabs with the host CLI and
//! exports the model twice into `target/roundtrip/` (`crabmix gmm export --format rust` and
//! `--format bin`); this program, built with `--features roundtrip`, then
//!
//! 1. loads the blob (`GaussianMixture::from_blob`) and the `include!`d Rust constants and
//!    requires the two models to be equal, bit for bit;
//! 2. scores every 15th crab ratio (64 of them) under it (`rt-score 0 <i> <ln p bits>`);
//! 3. adapts to the whole crab stream (1000 ratios, `CrabStream` order) by online EM from that
//!    model;
//! 4. prints the adapted model as one line (`gmm-model …`, IEEE bits, which `crabmix gmm
//!    import-log` turns back into MODEL.json) and the same ratios' ln p under it
//!    (`rt-score 1 <i> <bits>`).
//!
//! `run-tests.sh` compares both score sets with `crabmix gmm score` on the host (the exported
//! JSON, the imported JSON). Exit status 0 when every step succeeded.
#![no_std]
#![no_main]

use crabmix_app::crabs::RATIOS;
use crabmix_app::source::{CrabStream, SampleSource};
use crabmix_firmware::exit;
use crabmix_kernels::gmm::{GaussianMixture, OnlineConfig, OnlineEm};

mod exported {
    include!("../../target/roundtrip/model.rs");
}

/// The blob `crabmix gmm export --format bin` wrote.
static BLOB: &[u8] = include_bytes!("../../target/roundtrip/model.bin");

/// Ratios scored before and after adapting.
const SCORED: usize = 64;

type Model = GaussianMixture<f32, { exported::K }, { exported::D }>;

#[cortex_m_rt::entry]
fn main() -> ! {
    let (blob, consts) = (Model::from_blob(BLOB), exported::model());
    let model = match (blob, consts) {
        (Ok(b), Ok(c)) if b == c => b,
        (Ok(_), Ok(_)) => {
            defmt::error!("the blob and the Rust export hold different models");
            exit(false)
        }
        (Err(e), _) => {
            defmt::error!("blob rejected: {}", e);
            exit(false)
        }
        (_, Err(e)) => {
            defmt::error!("exported constants rejected: {}", e);
            exit(false)
        }
    };
    defmt::info!("rt-loaded {=usize} B blob == exported constants", BLOB.len());
    let ok = score(0, &model);
    let Ok(mut online) =
        OnlineEm::new(model, OnlineConfig { alpha: 1.0, n0: 128.0, ..OnlineConfig::default() })
    else {
        exit(false)
    };
    let mut stream = CrabStream::new();
    let mut adapted = true;
    while let Some(s) = stream.next_sample() {
        adapted &= online.update(&s.x).is_ok();
    }
    let m = online.model();
    log_model(m);
    let ok = ok & score(1, m) & adapted;
    defmt::info!("rt-result: {=str}", if ok { "ok" } else { "FAILED" });
    exit(ok)
}

/// The model as `crabmix gmm import-log` reads it: `gmm-model k=K d=D kind=KIND` and the
/// IEEE-754 bits (8 hex digits, comma-separated) of the weights (K), means (K·D) and dense
/// covariances (K·D·D), in that order.
fn log_model(m: &Model) {
    let (w, mu, cov) = (m.weights(), m.means().as_flattened(), m.covariances().as_flattened().as_flattened());
    defmt::info!(
        "gmm-model k={=usize} d={=usize} kind={=str} w={} mu={} cov={}",
        exported::K,
        exported::D,
        m.kind().name(),
        Hex(w),
        Hex(mu),
        Hex(cov)
    );
}

/// f32 values formatted as their bits, `3f000000,3e800000`.
struct Hex<'a>(&'a [f32]);

impl defmt::Format for Hex<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                defmt::write!(f, ",");
            }
            defmt::write!(f, "{=u32:08x}", v.to_bits());
        }
    }
}

/// Prints ln p of every 15th ratio (`SCORED` of them) under `m`; false if one failed.
fn score(phase: u32, m: &Model) -> bool {
    let mut ok = true;
    for (i, x) in RATIOS.iter().enumerate().step_by(15).take(SCORED) {
        match m.log_density(x) {
            Ok(lp) => defmt::info!("rt-score {=u32} {=usize} {=u32:08x}", phase, i, lp.to_bits()),
            Err(_) => ok = false,
        }
    }
    ok
}
