// Footprint per feature (issue 18): one source, `include!`d by one binary per feature
// (`src/bin/footprint/*.rs`, the `footprint-*` bins in Cargo.toml), each using one kernel family
// and nothing else, so that `size` of the ELF is what a firmware author pays for that feature:
// the feature plus the smallest runtime that can run and report it (`footprint-base` measures
// that runtime alone), and the painted stack its stack. `run-tests.sh` builds them for thumbv6m
// and thumbv7em, runs each under QEMU and compares the table with `golden/footprint.txt`.
//
// The runtime is deliberately not the firmware library's (`crabmix_firmware`, which these
// binaries do not link): no defmt logger (no feature logs), no `core::fmt` fault report, a
// panic handler that only exits (panic-halt style; the kernels are proven panic-free, so it is
// normally absent from the image). What remains: cortex-m-rt's vectors and reset, a HardFault
// handler that exits with failure, the semihosting exit, stack painting (`src/stack.rs`) and one
// line on the semihosting console (`src/console.rs`, shared with the library):
// `footprint-NAME stack=0xHEX ok=BOOL`.
//
// Which workload runs is decided at compile time from the binary's name (`CARGO_BIN_NAME`), so
// the optimizer drops the others whole.
use core::hint::black_box;
#[path = "console.rs"]
#[allow(dead_code)]
mod console;
#[path = "stack.rs"]
mod stack;
use stack::measure_stack;
use crabmix_kernels::gmm::{CovarianceKind, FitConfig, GaussianMixture, OnlineConfig, OnlineEm};

const NAME: &str = env!("CARGO_BIN_NAME");

const fn is(name: &str) -> bool {
    let (a, b) = (NAME.as_bytes(), name.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Point i of 64 around four centres (computed, so that no data array counts as the feature's
/// flash or stack).
const fn point(i: usize) -> [f32; 2] {
    let centres = [[3.0, 3.0], [-3.0, 3.0], [-3.0, -3.0], [3.0, -3.0]];
    let c = centres[i % 4];
    [c[0] + 0.1 * (i % 7) as f32 - 0.3, c[1] + 0.1 * (i % 5) as f32 - 0.2]
}

/// The 64 points as an array, in flash: batch EM needs the data set whole (512 B of its flash).
static DATA: [[f32; 2]; 64] = {
    let mut a = [[0.0f32; 2]; 64];
    let mut i = 0;
    while i < 64 {
        a[i] = point(i);
        i += 1;
    }
    a
};

fn sample(i: usize) -> [f32; 2] {
    point(black_box(i) % 64)
}

/// K = 4, D = 2, full: the app's sensor model.
fn model() -> Option<GaussianMixture<f32, 4, 2>> {
    let eye = [[0.16, 0.0], [0.0, 0.16]];
    GaussianMixture::new(
        black_box(CovarianceKind::Full),
        black_box([0.25; 4]),
        black_box([[3.0, 3.0], [-3.0, 3.0], [-3.0, -3.0], [3.0, -3.0]]),
        black_box([eye; 4]),
    )
    .ok()
}

type Monitor = crabmix_kernels::monitor::DensityMonitor<f32, 4, 2, 128>;

#[inline(never)]
fn workload(monitor_slot: Option<&mut Monitor>) -> bool {
    if is("footprint-score") {
        let Some(m) = model() else { return false };
        return (0..64).all(|i| black_box(m.log_density(&sample(i))).is_ok());
    }
    if is("footprint-online") {
        let Some(m) = model() else { return false };
        let Ok(mut online) = OnlineEm::new(m, OnlineConfig::default()) else { return false };
        return (0..64).all(|i| black_box(online.update(&sample(i))).is_ok());
    }
    if is("footprint-batch") {
        use rand_core::SeedableRng;
        let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(black_box(1));
        let config = FitConfig::<f32> { kind: black_box(CovarianceKind::Full), ..FitConfig::default() };
        return black_box(GaussianMixture::<f32, 4, 2>::fit(black_box(&DATA), &config, &mut rng)).is_ok();
    }
    if is("footprint-monitor") {
        return monitor_slot.is_some_and(run_monitor);
    }
    if is("footprint-kl") {
        use crabmix_kernels::gaussian::{kl_diag, kl_diag_std_normal, kl_full};
        let (mu, lv): ([f32; 3], [f32; 3]) = (black_box([0.5, -1.0, 2.0]), black_box([0.375, -1.25, 0.75]));
        let l: [[f32; 3]; 3] = black_box([[1.5, 0.0, 0.0], [-0.5, 0.75, 0.0], [0.25, 1.25, 0.5]]);
        black_box(kl_diag_std_normal(&mu, &lv));
        black_box(kl_diag(&mu, &lv, &black_box([0.0; 3]), &black_box([0.0; 3])));
        return black_box(kl_full(&mu, &l, &black_box([0.0; 3]), &l)).is_ok();
    }
    if is("footprint-mlp") {
        use crabmix_kernels::mlp::loss::mse;
        use crabmix_kernels::mlp::{Act, Chain, Dense, Layer, Sigmoid, Tanh};
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
        black_box(&grads);
        return true;
    }
    // footprint-base: the runtime alone.
    black_box(true)
}

/// The library monitor at the app's size (K = 4, D = 2, W = 128) with calibrated alarms, built
/// in a static before the stack is measured (as the app does: its state is the RAM budget).
fn new_monitor() -> Option<&'static mut Monitor> {
    use crabmix_kernels::monitor::{Alarm, MonitorConfig};
    let batch = FitConfig::<f32> { kind: CovarianceKind::Full, max_iter: 50, tol: 1e-4, ..FitConfig::default() };
    let online = OnlineConfig { alpha: 1.0, n0: 128.0, ..OnlineConfig::default() };
    let config = MonitorConfig { alarm: Alarm::FalseAlarmRate(0.001), refit_every: 64, online, batch };
    let slot = cortex_m::singleton!(: Option<Monitor> = None)?;
    Some(slot.insert(Monitor::new(black_box(config)).ok()?))
}

/// 400 samples: the warm-up fit, refits and calibrations.
fn run_monitor(monitor: &mut Monitor) -> bool {
    use rand_core::SeedableRng;
    let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(black_box(1));
    (0..400).all(|i| monitor.push(&sample(i), &mut rng).is_ok())
}

/// Ends the run through semihosting: QEMU exits with status 0 on success, 1 on failure.
fn exit(success: bool) -> ! {
    semihosting::process::exit(if success { 0 } else { 1 })
}

/// Panic-halt style: nothing printed, the run fails. Unreachable (the kernels are proven
/// panic-free at link time, `panic-paths.sh`), so normally not in the image at all.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(false)
}

/// Any fault fails the run instead of hanging QEMU (cortex-m-rt's default handler loops).
#[cortex_m_rt::exception]
unsafe fn HardFault(_: &cortex_m_rt::ExceptionFrame) -> ! {
    exit(false)
}

/// `footprint-NAME stack=0x… ok=…` on the semihosting console: hexadecimal, which needs no
/// division (on the Cortex-M0 that would link the runtime's division routine).
fn report(stack: usize, ok: bool) {
    let Some(out) = console::open(false) else { return };
    console::write_all(out, NAME.as_bytes());
    let mut hex = *b" stack=0x00000000";
    let digits = hex.iter_mut().rev().take(8);
    for (shift, d) in (0..8u32).map(|i| 4 * i).zip(digits) {
        *d = b"0123456789abcdef"[(stack >> shift) & 0xf];
    }
    console::write_all(out, &hex);
    console::write_all(out, if ok { b" ok=true\n" } else { b" ok=false\n" });
}

#[cortex_m_rt::entry]
fn main() -> ! {
    let slot = if is("footprint-monitor") { new_monitor() } else { None };
    let (ok, stack) = measure_stack(|| workload(slot));
    report(stack, ok);
    exit(ok)
}
