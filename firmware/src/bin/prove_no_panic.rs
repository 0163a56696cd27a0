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

/// The density loop's kernels at the app's size (K = 4, D = 2, full, f32): log density, E-step
/// accumulation, M-step, one online-EM update.
#[cfg(feature = "prove-no-panic-gmm")]
#[inline(never)]
fn gmm_density_estep_mstep_online() {
    use crabmix_kernels::gmm::{CovarianceKind, GaussianMixture, OnlineConfig, OnlineEm, SufficientStats};
    let eye = [[1.0f32, 0.0], [0.0, 1.0]];
    let Ok(mut model) = GaussianMixture::<f32, 4, 2>::new(
        black_box(CovarianceKind::Full),
        black_box([0.25; 4]),
        black_box([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
        black_box([eye; 4]),
    ) else {
        return;
    };
    let x = black_box([0.5f32, -0.25]);
    black_box(model.log_density(&x).ok());
    let mut stats = SufficientStats::<f32, 4, 2>::new(CovarianceKind::Full);
    stats.reset(&model);
    black_box(stats.accumulate(&model, &x).ok());
    black_box(stats.finish(&mut model, black_box(1e-6), true).ok());
    if let Ok(mut online) = OnlineEm::new(model, black_box(OnlineConfig::default())) {
        black_box(online.update(&x).ok());
        black_box(online.model());
    }
}

#[cortex_m_rt::entry]
fn main() -> ! {
    mlp_forward_backward_adam();
    gaussian_kl_and_reparam();
    #[cfg(feature = "prove-no-panic-gmm")]
    gmm_density_estep_mstep_online();
    // The control: with this feature the image must NOT link (run-tests.sh checks), which shows
    // that the handler above really turns a reachable panic into a link error.
    #[cfg(feature = "prove-no-panic-canary")]
    black_box(black_box([1u8; 2])[black_box(5usize)]);
    loop {
        cortex_m::asm::wfi();
    }
}
