//! Link-time proof that kernel entry points the firmware uses cannot panic (issue 8).
//!
//! Built only with `--features prove-no-panic` (run-tests.sh, profile `prove-no-panic`: release
//! with fat LTO). The panic handler below calls a function that exists nowhere, so the image
//! links only if the optimizer removed every path to a panic from everything reachable from
//! `main`: a bounds check it cannot discharge, an `unwrap`, an overflow check, a division by a
//! possibly-zero integer. A link error `undefined symbol: crabmix_panic_is_reachable` means a
//! panic path came back; `firmware/panic-paths.sh` names the functions that call into
//! `core::panicking` (the linker only names the handler).
//!
//! Each entry point gets its inputs through `black_box`, so nothing is constant-folded away, and
//! is wrapped in an `#[inline(never)]` function named after it, so a reachable panic is
//! attributed to it. The program is never run: it only has to link.
#![no_std]
#![no_main]

use core::hint::black_box;
use crabmix_kernels::gaussian::{
    kl_diag, kl_diag_std_normal_grad, kl_full, reparam_diag, reparam_diag_backward, reparam_full,
    reparam_full_backward, sample_diag,
};
use crabmix_kernels::mlp::loss::mse;
use crabmix_kernels::mlp::optim::Adam;
use crabmix_kernels::mlp::{Act, Chain, Dense, Layer, Sigmoid, Tanh};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

#[cfg_attr(feature = "prove-no-panic-report", allow(dead_code))]
unsafe extern "C" {
    /// Defined nowhere: referencing it from a live function is a link error.
    fn crabmix_panic_is_reachable() -> !;
}

#[cfg(not(feature = "prove-no-panic-report"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: never executed. If any panic path survives optimization this call stays live and
    // the link fails on the undefined symbol, which is the point.
    unsafe { crabmix_panic_is_reachable() }
}

/// Report mode (panic-paths.sh): the same image with a handler that links, so that its
/// disassembly shows which functions still call into `core::panicking`.
#[cfg(feature = "prove-no-panic-report")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        cortex_m::asm::udf();
    }
}

/// defmt's panic hook (`defmt::panic!`, `defmt::unwrap!`): same treatment.
#[defmt::panic_handler]
fn defmt_panic() -> ! {
    #[cfg(not(feature = "prove-no-panic-report"))]
    // SAFETY: as above.
    unsafe {
        crabmix_panic_is_reachable()
    }
    #[cfg(feature = "prove-no-panic-report")]
    cortex_m::asm::udf()
}

/// The VAE-sized pieces of the on-target MLP test: 3 → 4 (tanh) → 2 (sigmoid), MSE, backward,
/// one Adam step.
#[inline(never)]
fn mlp_forward_backward_adam() {
    let mut net = Chain(
        Dense::<f32, 3, 4>::zeros(),
        Chain(Act::<_, 4>(Tanh), Chain(Dense::<f32, 4, 2>::zeros(), Act::<_, 2>(Sigmoid))),
    );
    net.for_each_param(&mut |p| *p = black_box(0.25));
    let mut cache = net.new_cache_of();
    let y = net.forward(&black_box([0.5, -1.0, 2.0]), &mut cache);
    let mut dy = [0.0; 2];
    black_box(mse(&y, &black_box([0.25, 0.875]), &mut dy));
    let mut grads = net.zeros_like();
    black_box(net.backward(&cache, &dy, &mut grads));
    let mut adam = Adam::new(&net, black_box(1e-3));
    adam.step(&mut net, &grads);
    black_box(&net);
}

/// KL terms and the reparameterization of the VAE step (diagonal and full).
#[inline(never)]
fn gaussian_kl_and_reparam() {
    let (mu, lv): ([f32; 3], [f32; 3]) = (black_box([0.5, -1.0, 2.0]), black_box([0.375, -1.25, 0.75]));
    let (mut g1, mut g2) = ([0.0; 3], [0.0; 3]);
    black_box(kl_diag_std_normal_grad(&mu, &lv, &mut g1, &mut g2));
    black_box(kl_diag(&mu, &lv, &black_box([0.0; 3]), &black_box([0.0; 3])));
    let l: [[f32; 3]; 3] = black_box([[1.5, 0.0, 0.0], [-0.5, 0.75, 0.0], [0.25, 1.25, 0.5]]);
    black_box(kl_full(&mu, &l, &black_box([0.0; 3]), &l).ok());
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(black_box(1));
    let (mut eps, mut z) = ([0.0f32; 3], [0.0f32; 3]);
    sample_diag(&mu, &lv, &mut rng, &mut eps, &mut z);
    reparam_diag(&mu, &lv, &eps, &mut z);
    reparam_diag_backward(&lv, &eps, &black_box(z), &mut g1, &mut g2);
    reparam_full(&mu, &l, &eps, &mut z);
    let mut gl = [[0.0f32; 3]; 3];
    reparam_full_backward(&eps, &black_box(z), &mut g1, &mut gl);
    black_box((g1, g2, gl, z));
}

/// The density loop's kernels at the app's size (K = 4, D = 2, f32; the covariance kind is a
/// runtime value, so full, diag and spherical are all in): log density, E-step accumulation,
/// M-step, one online-EM update, the in-place batch fits, prediction, sampling, merging.
#[cfg(feature = "prove-no-panic-gmm")]
#[inline(never)]
fn gmm_density_estep_mstep_online() {
    use crabmix_kernels::gmm::{
        CovarianceKind, FitConfig, GaussianMixture, OnlineConfig, OnlineEm, SufficientStats,
    };
    let eye = [[1.0f32, 0.0], [0.0, 1.0]];
    let kind = black_box(CovarianceKind::Full);
    let Ok(mut model) = GaussianMixture::<f32, 4, 2>::new(
        kind,
        black_box([0.25; 4]),
        black_box([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
        black_box([eye; 4]),
    ) else {
        return;
    };
    let x = black_box([0.5f32, -0.25]);
    black_box(model.log_density(&x).ok());
    let mut stats = SufficientStats::<f32, 4, 2>::new(kind);
    stats.reset(&model);
    black_box(stats.accumulate(&model, &x).ok());
    let other = black_box(stats);
    black_box(stats.merge(&other).ok());
    black_box(stats.finish(&mut model, black_box(1e-6), true).ok());
    let mut proba = [0.0f32; 4];
    black_box((model.predict_proba(&x, &mut proba).ok(), model.predict(&x).ok(), proba));
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(black_box(2));
    black_box(model.sample(&mut rng));
    let data: [[f32; 2]; 16] = black_box(core::array::from_fn(|i| [i as f32, (i * i) as f32]));
    let config = black_box(FitConfig::<f32> { kind, ..FitConfig::default() });
    black_box(model.score(&data).ok());
    if let Ok(mut online) = OnlineEm::new(model, black_box(OnlineConfig::default())) {
        black_box(online.update(&x).ok());
        black_box(online.fit(&data, &config, &mut stats, &mut rng).ok());
        black_box(online.refine(&data, &config, &mut stats).ok());
        black_box(online.averaged().ok());
    }
}

/// Five consecutive slices of `buf` with the given lengths, hidden from the optimizer.
#[cfg(feature = "prove-no-panic-gmm")]
fn carve(buf: &mut [f64], lens: [usize; 5]) -> Option<[&mut [f64]; 5]> {
    let [l0, l1, l2, l3, l4] = black_box(lens);
    let (a, rest) = black_box(buf).split_at_mut_checked(l0)?;
    let (b, rest) = rest.split_at_mut_checked(l1)?;
    let (c, rest) = rest.split_at_mut_checked(l2)?;
    let (d, rest) = rest.split_at_mut_checked(l3)?;
    let (e, _) = rest.split_at_mut_checked(l4)?;
    Some([a, b, c, d, e])
}

/// The runtime-sized (slice) kernels the host fits with, at sizes the optimizer cannot see (K, D
/// and the buffers' lengths are runtime values): model and statistics views, refresh, densities,
/// the batch E-step, merge, M-step, k-means++ initialization, a whole fit, an online step, and the
/// Cholesky routines.
#[cfg(feature = "prove-no-panic-gmm")]
#[inline(never)]
fn gmm_runtime_sized() {
    use crabmix_kernels::gmm::{
        CovarianceKind, FitConfig, MixtureMut, SerialEStep, Shape, StatsMut, Totals, fit, online_step,
    };
    use crabmix_kernels::linalg::{
        cholesky_in_place, lower_inverse_transpose_in_place, solve_lower_in_place,
    };
    const N: usize = 64;
    let shape = black_box(Shape::new(3, 4, CovarianceKind::Full));
    let (k, d) = (shape.components, shape.features);
    let mut buf = [0.0f64; 4 * N];
    let Some([w, mu, cov, u, ln]) = carve(&mut buf, [3, 12, 48, 48, 3]) else {
        return;
    };
    let Ok(mut model) = MixtureMut::new(shape, w, mu, cov, u, ln) else {
        return;
    };
    black_box(model.refresh().ok());
    let mut sbuf = [0.0f64; 4 * N];
    let Some([shift, resp, s1, s2, worst]) = carve(&mut sbuf, [12, 3, 12, 48, 4]) else {
        return;
    };
    let mut totals = Totals::default();
    let Ok(mut stats) = StatsMut::new(shape, shift, resp, s1, s2, worst, &mut totals) else {
        return;
    };
    let data = black_box([0.25f64; N]);
    let (mut lp, mut work) = ([0.0f64; 8], [0.0f64; 16]);
    let (lp, work) = (black_box(&mut lp[..]), black_box(&mut work[..]));
    let Some(x) = data.get(..d) else {
        return;
    };
    black_box(model.as_ref().log_density(x, lp, work).ok());
    black_box(model.as_ref().predict(x, lp, work).ok());
    black_box(stats.reset(model.as_ref().means()).ok());
    black_box(stats.accumulate_batch(&model.as_ref(), &data, lp, work).ok());
    let snapshot = black_box([0.0f64; 4 * N]);
    let other_totals = Totals::default();
    if let (Some(c), Some(n), Some(s1), Some(s2), Some(worst)) = (
        snapshot.get(..12),
        snapshot.get(12..15),
        snapshot.get(15..27),
        snapshot.get(27..75),
        snapshot.get(75..79),
    ) && let Ok(other) = crabmix_kernels::gmm::StatsRef::new(shape, c, n, s1, s2, worst, &other_totals)
    {
        black_box(stats.merge(&other).ok());
    }
    black_box(stats.finish(&mut model, black_box(1e-6), black_box(true)).ok());
    black_box(online_step(&mut model, x, black_box(0.5), black_box(1e-6), lp, work).ok());
    // A whole fit with k-means++ and the distance cache, into a second model.
    let mut tbuf = [0.0f64; 4 * N];
    if let Some([tw, tmu, tcov, tu, tln]) = carve(&mut tbuf, [3, 12, 48, 48, 3])
        && let Ok(mut trial) = MixtureMut::new(shape, tw, tmu, tcov, tu, tln)
    {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(black_box(3));
        let mut dist = [0.0f64; N / 4];
        let (mut flp, mut fwork) = ([0.0f64; 8], [0.0f64; 16]);
        let mut estep = SerialEStep::new(&data, black_box(&mut flp[..]), black_box(&mut fwork[..]));
        let config = black_box(FitConfig::<f64> { kind: shape.kind, ..FitConfig::default() });
        let mut init_work = [0.0f64; 8];
        let report = fit(
            &data,
            &mut model,
            &mut trial,
            &mut stats,
            &mut estep,
            &config,
            &mut rng,
            black_box(&mut init_work[..]),
            Some(black_box(&mut dist[..])),
        );
        black_box(report.ok());
    }
    let mut m =
        black_box([4.0f64, 2.0, 0.4, -1.0, 2.0, 5.0, 1.0, 0.5, 0.4, 1.0, 3.0, 0.2, -1.0, 0.5, 0.2, 2.0]);
    let dd = black_box(4);
    black_box(cholesky_in_place(&mut m[..], dd).ok());
    let mut b = black_box([1.0f64, -2.0, 0.5, 3.0]);
    solve_lower_in_place(&m, &mut b, dd);
    lower_inverse_transpose_in_place(&mut m, dd);
    black_box((k, m, b));
}

/// The model blob (loader and writer) and the library's density monitor, both alarm kinds, at
/// the app's K = 4, D = 2 (issue 18).
#[cfg(feature = "prove-no-panic-gmm")]
#[inline(never)]
fn gmm_blob_and_monitor() {
    use crabmix_kernels::gmm::{CovarianceKind, FitConfig, GaussianMixture, OnlineConfig};
    use crabmix_kernels::monitor::{Alarm, DensityMonitor, MonitorConfig};
    let mut bytes = black_box([0u8; 160]);
    let len = black_box(bytes.len());
    let loaded = GaussianMixture::<f32, 4, 2>::from_blob(black_box(bytes.get(..len).unwrap_or(&[])));
    if let Ok(m) = loaded {
        black_box(m.to_blob(&mut bytes).ok());
    }
    black_box(bytes);
    for alarm in [Alarm::LogDensityBelow(black_box(-10.0f32)), Alarm::FalseAlarmRate(black_box(0.001))] {
        let batch = FitConfig::<f32> { kind: black_box(CovarianceKind::Full), ..FitConfig::default() };
        let config =
            MonitorConfig { alarm, refit_every: black_box(64), online: OnlineConfig::default(), batch };
        if let Ok(mut monitor) = DensityMonitor::<f32, 4, 2, 32>::new(black_box(config)) {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(black_box(4));
            for i in 0..black_box(100) {
                black_box(monitor.push(&black_box([i as f32, 0.5]), &mut rng).ok());
            }
            black_box((monitor.threshold(), monitor.stats(), monitor.model().copied()));
        }
    }
}

#[cortex_m_rt::entry]
fn main() -> ! {
    mlp_forward_backward_adam();
    gaussian_kl_and_reparam();
    #[cfg(feature = "prove-no-panic-gmm")]
    gmm_density_estep_mstep_online();
    #[cfg(feature = "prove-no-panic-gmm")]
    gmm_runtime_sized();
    #[cfg(feature = "prove-no-panic-gmm")]
    gmm_blob_and_monitor();
    // The control: with this feature the image must NOT link (run-tests.sh checks), which shows
    // that the handler above really turns a reachable panic into a link error.
    #[cfg(feature = "prove-no-panic-canary")]
    black_box(black_box([1u8; 2])[black_box(5usize)]);
    loop {
        cortex_m::asm::wfi();
    }
}
