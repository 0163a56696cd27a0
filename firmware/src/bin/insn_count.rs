//! Instructions per online-EM update (`OnlineEm::update`, full covariance) at D = 1, 2 and
//! K = 2, 4, counted exactly by the TCG plugin (tools/kcount.c) between `crabmix_mark_start` and
//! `crabmix_mark_end`. Regions, in order: (K, D) = (2, 1), (4, 1), (2, 2), (4, 2), then
//! `log_density` alone at (4, 2). Each region covers `UPDATES` calls on fixed inputs, so the count
//! is deterministic; QEMU has no timing model: these are instructions, not cycles.
#![no_std]
#![no_main]

use core::hint::black_box;
use crabmix_firmware::{crabmix_mark_end, crabmix_mark_start, exit};
use crabmix_kernels::gmm::{CovarianceKind, GaussianMixture, OnlineConfig, OnlineEm};

/// Calls per region.
const UPDATES: u32 = 64;

/// A well-separated mixture: means on a line 4 apart, unit covariances, equal weights.
fn model<const K: usize, const D: usize>() -> Option<GaussianMixture<f32, K, D>> {
    let mut means = [[0.0f32; D]; K];
    let mut covs = [[[0.0f32; D]; D]; K];
    for k in 0..K {
        means[k][0] = 4.0 * k as f32;
        for i in 0..D {
            covs[k][i][i] = 1.0;
        }
    }
    GaussianMixture::new(CovarianceKind::Full, [1.0 / K as f32; K], means, covs).ok()
}

/// Sample `i`: cycles through the components with a small deterministic offset.
fn sample<const K: usize, const D: usize>(i: u32) -> [f32; D] {
    let mut x = [0.25f32; D];
    x[0] = 4.0 * (i as usize % K) as f32 + 0.125 * (i % 7) as f32 - 0.375;
    x
}

fn count_updates<const K: usize, const D: usize>() -> bool {
    let Some(m) = model::<K, D>() else { return false };
    let Ok(mut em) = OnlineEm::new(m, OnlineConfig::default()) else { return false };
    // Warm-up outside the region, so the counted updates are steady-state ones.
    for i in 0..16 {
        if em.update(&sample::<K, D>(i)).is_err() {
            return false;
        }
    }
    let mut ok = true;
    crabmix_mark_start();
    for i in 0..UPDATES {
        ok &= black_box(em.update(black_box(&sample::<K, D>(i)))).is_ok();
    }
    crabmix_mark_end();
    defmt::info!("region K={=usize} D={=usize}: {=u32} updates", K, D, UPDATES);
    ok
}

fn count_log_density() -> bool {
    let Some(m) = model::<4, 2>() else { return false };
    let mut ok = true;
    crabmix_mark_start();
    for i in 0..UPDATES {
        ok &= black_box(m.log_density(black_box(&sample::<4, 2>(i)))).is_ok();
    }
    crabmix_mark_end();
    defmt::info!("region log_density K=4 D=2: {=u32} calls", UPDATES);
    ok
}

#[cortex_m_rt::entry]
fn main() -> ! {
    let ok = count_updates::<2, 1>()
        & count_updates::<4, 1>()
        & count_updates::<2, 2>()
        & count_updates::<4, 2>()
        & count_log_density();
    exit(ok)
}
