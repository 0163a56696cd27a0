//! Instructions per call of the mixture kernels, f32, counted exactly by the TCG plugin
//! (tools/kcount.c) between `crabmix_mark_start` and `crabmix_mark_end`. QEMU has no timing
//! model: these are guest instructions, not cycles.
//!
//! Regions (each `CALLS` calls on fixed inputs, so every count is deterministic):
//! * `online_update`: `OnlineEm::update`, full, (K, D) = (2, 1), (4, 1), (2, 2), (4, 2);
//! * `log_density`: `GaussianMixture::log_density`, full, (4, 2);
//! * `online_update_slice`, `log_density_slice`: the same through the runtime-sized core, as the
//!   monitor runs them (`online_step` on a copy of the model's slices, `MixtureRef::log_density`;
//!   issue 18: one copy of each kernel in its image, at this cost per sample), full, (4, 2);
//! * `estep`: `SufficientStats::accumulate` (E-step of one sample fused with its accumulation),
//!   D = 2, K = 2 and 4, full and diag;
//! * `mstep`: `SufficientStats::finish` (the M-step of all K components, including the copy of
//!   the model it makes so that an error leaves the model untouched), same shapes.
//!
//! Before each region the program logs `region <kernel> k=<K> d=<D> kind=<kind> calls=<n>
//! floor=<flops>`; run-tests.sh pairs these lines, in order, with the plugin's region counts and
//! writes golden/insns.txt and target/measurements/mcu-cost.json. `floor` is the operation-count
//! floor per sample per component ([`estep_floor`], [`mstep_floor`]; 0 where none is stated).
#![no_std]
#![no_main]

use core::hint::black_box;
use crabmix_firmware::{crabmix_mark_end, crabmix_mark_start, exit};
use crabmix_kernels::gmm::{CovarianceKind, OnlineConfig, OnlineEm, SufficientStats, online_step};

/// Calls per region.
const CALLS: u32 = 64;

/// Operation-count floor of one sample's E-step and accumulation for one component, in flops
/// (+, −, ×, ÷, exp each 1; a multiply-add 2), for a kernel that knows nothing in advance:
/// δ = x − μ (D); the Mahalanobis projection y = Uᵀδ, U triangular: D(D+1)/2 multiply-adds
/// (`diag`: D products); ‖y‖²: D multiply-adds; −½‖y‖² + ln c (2); the responsibility: exp, the
/// sum over components, the scaling by its inverse (3); rδ (D); s1 += rδ (D); s2 += (rδ)δᵀ over
/// the upper triangle: D(D+1)/2 multiply-adds (`diag`: D); n += r (1). Total: `full`
/// 2D(D+1) + 5D + 6 (28 at D = 2), `diag` 8D + 6 (22 at D = 2).
pub const fn estep_floor(d: usize, full: bool) -> usize {
    let projection = if full { d * (d + 1) } else { d };
    let second_moment = if full { d * (d + 1) } else { 2 * d };
    d + projection + 2 * d + 2 + 3 + d + d + second_moment + 1
}

/// Flops of a D × D Cholesky factorization: column j costs j multiply-adds and a √ for the
/// pivot and, for each of the D − 1 − j entries below it, j multiply-adds and a division:
/// Σ_j (2j + 1)(D − j) (5 at D = 2).
pub const fn cholesky_flops(d: usize) -> usize {
    let mut s = 0;
    let mut j = 0;
    while j < d {
        s += (2 * j + 1) * (d - j);
        j += 1;
    }
    s
}

/// Flops of inverting a lower-triangular D × D factor (U = L⁻ᵀ): D reciprocals of the pivots and,
/// per entry i > j, i − j multiply-adds and one product: D + Σ_{i>j} (2(i − j) + 1) (5 at D = 2).
pub const fn triangular_inverse_flops(d: usize) -> usize {
    let mut s = d;
    let mut i = 0;
    while i < d {
        let mut j = 0;
        while j < i {
            s += 2 * (i - j) + 1;
            j += 1;
        }
        i += 1;
    }
    s
}

/// Operation-count floor of the M-step for one component, in flops as [`estep_floor`]: 1/n (1);
/// m = s1/n (D); μ = c + m (D); Σ_ij = s2_ij/n − m_i m_j over the upper triangle (3 per entry:
/// 3·D(D+1)/2, `diag` 3D); + reg on the diagonal (D); α = n/N (1); the weights' renormalization
/// (2); the precision factor: [`cholesky_flops`] + [`triangular_inverse_flops`] (`diag`: D √ and
/// D divisions); ln det: D logarithms and D additions (2D); ln c = ln α − (D/2) ln 2π + ln det (3).
/// Total at D = 2: `full` 36, `diag` 27.
pub const fn mstep_floor(d: usize, full: bool) -> usize {
    let covariance = if full { 3 * d * (d + 1) / 2 } else { 3 * d };
    let factor = if full { cholesky_flops(d) + triangular_inverse_flops(d) } else { 2 * d };
    1 + d + d + covariance + d + 1 + 2 + factor + 2 * d + 3
}

#[path = "../../peers/inputs.rs"]
mod inputs;
use inputs::{model, sample};

/// Logs the region's description, then counts `CALLS` calls of `f` between the markers.
fn region(
    kernel: &str,
    k: usize,
    d: usize,
    kind: CovarianceKind,
    floor: usize,
    mut f: impl FnMut(u32) -> bool,
) -> bool {
    defmt::info!(
        "region {=str} k={=usize} d={=usize} kind={=str} calls={=u32} floor={=usize}",
        kernel,
        k,
        d,
        kind.name(),
        CALLS,
        floor
    );
    let mut ok = true;
    crabmix_mark_start();
    for i in 0..CALLS {
        ok &= black_box(f(black_box(i)));
    }
    crabmix_mark_end();
    ok
}

fn count_updates<const K: usize, const D: usize>() -> bool {
    let Some(m) = model::<K, D>(CovarianceKind::Full) else { return false };
    let Ok(mut em) = OnlineEm::new(m, OnlineConfig::default()) else { return false };
    // Warm-up outside the region, so the counted updates are steady-state ones.
    for i in 0..16 {
        if em.update(&sample::<K, D>(i)).is_err() {
            return false;
        }
    }
    region("online_update", K, D, CovarianceKind::Full, 0, |i| em.update(&sample::<K, D>(i)).is_ok())
}

fn count_log_density() -> bool {
    let Some(m) = model::<4, 2>(CovarianceKind::Full) else { return false };
    // black_box on the value: with the kernel inlined, an unused density would be optimized away.
    region("log_density", 4, 2, CovarianceKind::Full, 0, |i| {
        black_box(m.log_density(&sample::<4, 2>(i))).is_ok()
    })
}

/// [`count_updates`] and [`count_log_density`] at K = 4, D = 2 through the slice routines the
/// monitor uses (`DensityMonitor`: `OnlineEm`'s runtime-sized update, the same steps: γ, a copy
/// of the model, `online_step`, the copy kept on success).
fn count_runtime_sized() -> bool {
    let Some(mut m) = model::<4, 2>(CovarianceKind::Full) else { return false };
    let config = OnlineConfig::default();
    let (mut lp, mut work) = ([0.0f32; 4], [0.0f32; 4]);
    let mut n = 0u64;
    let mut update = |m: &mut crabmix_kernels::gmm::GaussianMixture<f32, 4, 2>, x: &[f32; 2]| {
        n = n.saturating_add(1);
        let mut next = *m;
        let step =
            online_step(&mut next.view_mut(), x, config.step_size(n), config.reg_covar, &mut lp, &mut work);
        if step.is_ok() {
            *m = next;
        }
        step.is_ok()
    };
    for i in 0..16 {
        if !update(&mut m, &sample::<4, 2>(i)) {
            return false;
        }
    }
    let mut ok =
        region("online_update_slice", 4, 2, CovarianceKind::Full, 0, |i| update(&mut m, &sample::<4, 2>(i)));
    // A fresh model, as `count_log_density` scores.
    let Some(scored) = model::<4, 2>(CovarianceKind::Full) else { return false };
    ok &= region("log_density_slice", 4, 2, CovarianceKind::Full, 0, |i| {
        let (mut lp, mut work) = ([0.0f32; 4], [0.0f32; 4]);
        black_box(scored.view().log_density(&sample::<4, 2>(i), &mut lp, &mut work)).is_ok()
    });
    ok
}

/// E-step + accumulation per sample, then the M-step on statistics of `CALLS` samples (every
/// component holds data, so no re-seeding path runs).
fn count_em_steps<const K: usize, const D: usize>(kind: CovarianceKind) -> bool {
    let full = kind == CovarianceKind::Full;
    let Some(m) = model::<K, D>(kind) else { return false };
    let mut stats = SufficientStats::<f32, K, D>::new(kind);
    stats.reset(&m);
    let mut ok = region("estep", K, D, kind, estep_floor(D, full), |i| {
        stats.accumulate(&m, &sample::<K, D>(i)).is_ok()
    });
    // Each call rewrites `target` with the same M-step result: identical work per call.
    let mut target = m;
    ok &=
        region("mstep", K, D, kind, mstep_floor(D, full), |_| stats.finish(&mut target, 1e-6, true) == Ok(0));
    ok
}

#[cortex_m_rt::entry]
fn main() -> ! {
    let ok = count_updates::<2, 1>()
        & count_updates::<4, 1>()
        & count_updates::<2, 2>()
        & count_updates::<4, 2>()
        & count_log_density()
        & count_runtime_sized()
        & count_em_steps::<2, 2>(CovarianceKind::Full)
        & count_em_steps::<4, 2>(CovarianceKind::Full)
        & count_em_steps::<2, 2>(CovarianceKind::Diag)
        & count_em_steps::<4, 2>(CovarianceKind::Diag);
    defmt::info!("insn-count: {=str}", if ok { "ok" } else { "FAILED" });
    exit(ok)
}
