//! The density-estimation application (the loop is the library's `crabmix_kernels::monitor`):
//! 1. a synthetic 2-D sensor with drift and injected anomalies through a K = 4 full-covariance
//!    monitor (online EM + batch refits over a 128-sample window), flags logged;
//! 2. Pearson's 1000 crab ratios through a K = 2 monitor;
//! 3. the batch EM fit of the crabs, printed as the line the host must reproduce bit for bit.
//!
//! Exits 0 through semihosting when every anomaly was caught, false alarms stayed ≤ 0.5 % and the
//! memory budgets (model + statistics ≤ 1 KiB, sensor density-loop stack ≤ 2 KiB) hold; 1
//! otherwise.
#![no_std]
#![no_main]

use core::mem::size_of;
use crabmix_app::report::{self, CrabMonitor, SENSOR_WINDOW, SensorMonitor};
use crabmix_app::source::SyntheticSensor;
use crabmix_firmware::{BOARD, exit, measure_stack};
use crabmix_kernels::gmm::{OnlineEm, SufficientStats};
use crabmix_kernels::monitor::{DensityMonitor, MonitorConfig, Verdict};

/// Sensor samples to run (2000: the drift moves the clusters by 5 σ over the run).
const SENSOR_SAMPLES: u32 = 2000;
/// Issue budget: model + statistics at K = 4, D = 2, full covariance.
const MODEL_BUDGET: usize = 1024;
/// Issue budget: stack of the density loop.
const STACK_BUDGET: usize = 2048;

#[cortex_m_rt::entry]
fn main() -> ! {
    defmt::info!("crabmix firmware on {=str}", BOARD);
    let model_bytes = size_of::<OnlineEm<f32, 4, 2>>();
    let stats_bytes = size_of::<SufficientStats<f32, 4, 2>>();
    let window_bytes = SENSOR_WINDOW * size_of::<[f32; 2]>();
    defmt::info!(
        "ram K=4 D=2 full: online model {=usize} B, statistics {=usize} B, window {=usize} B",
        model_bytes,
        stats_bytes,
        window_bytes
    );
    let mut ok = model_bytes + stats_bytes <= MODEL_BUDGET;

    // The monitors live in statics: their state (model, online state, window) is the RAM budget,
    // not the loop's stack.
    let (Some(sensor_monitor), Some(crab_monitor)) = (
        cortex_m::singleton!(: Option<SensorMonitor> = None),
        cortex_m::singleton!(: Option<CrabMonitor> = None),
    ) else {
        exit(false)
    };
    let (Ok(sensor_monitor), Ok(crab_monitor)) =
        (init(sensor_monitor, report::sensor_config()), init(crab_monitor, report::crab_config()))
    else {
        defmt::error!("invalid monitor configuration");
        exit(false)
    };

    // 1. The sensor stream. The hook runs per sample: log flags and each refitted model.
    let mut last_refits = 0;
    let (sensor, stack) = measure_stack(|| {
        report::run_monitor(sensor_monitor, &mut SyntheticSensor::new(11, SENSOR_SAMPLES), |t, x, v, mon| {
            if let Verdict::Anomalous { log_density } = v {
                log_flag(t, x, log_density);
            }
            let refits = mon.stats().refits;
            if refits != last_refits && refits % 8 == 0 {
                log_refit(t, mon);
            }
            last_refits = refits;
        })
    });
    defmt::info!("stack density_loop_sensor {=usize}", stack);
    if stack > STACK_BUDGET {
        // The budget (K = 4, D = 2, full): a regression here fails the run.
        defmt::error!("density loop stack {=usize} B exceeds the {=usize} B budget", stack, STACK_BUDGET);
        ok = false;
    }
    match sensor {
        Ok(s) => {
            defmt::info!(
                "sensor: {=u32} injected, {=u32} caught, {=u32} false alarms; {}",
                s.injected,
                s.true_positives,
                s.false_positives,
                s.stats
            );
            if let Some(m) = sensor_monitor.model() {
                defmt::info!("sensor model: {}", m);
            }
            defmt::info!("sensor alarm threshold (calibrated): ln p < {=f32}", sensor_monitor.threshold());
            ok &= s.true_positives == s.injected && s.false_positives.saturating_mul(200) <= SENSOR_SAMPLES;
        }
        Err(e) => {
            defmt::error!("sensor run failed: {}", e);
            ok = false;
        }
    }

    // 2. The crabs, one at a time.
    let (crabs, stack) = measure_stack(|| report::run_crabs_online(crab_monitor));
    defmt::info!("stack density_loop_crabs {=usize}", stack);
    match crabs {
        Ok(s) => {
            if let Some(m) = crab_monitor.model() {
                defmt::info!("crabs online: {} weights {} means {}", s.stats, m.weights(), m.means());
            }
        }
        Err(e) => {
            defmt::error!("crab monitor failed: {}", e);
            ok = false;
        }
    }

    // 3. The batch fit, compared with the host's line by run-tests.sh.
    let (line, stack) = measure_stack(report::crab_fit_line);
    defmt::info!("stack crab_batch_fit {=usize}", stack);
    match line {
        Ok(l) => defmt::info!("{=str}", l.as_str()),
        Err(e) => {
            defmt::error!("crab fit failed: {}", e);
            ok = false;
        }
    }
    defmt::info!("result: {=str}", if ok { "ok" } else { "FAILED" });
    // The control of the app's panic-freedom proof (panic-paths.sh): with this feature the image
    // must NOT link.
    #[cfg(feature = "prove-no-panic-app-canary")]
    core::hint::black_box(core::hint::black_box([1u8; 2])[core::hint::black_box(5usize)]);
    exit(ok)
}

/// Constructs a monitor in its static slot (built in place by `Option::insert`, after the
/// configuration was checked by `new`).
fn init<const K: usize, const D: usize, const W: usize>(
    slot: &'static mut Option<DensityMonitor<f32, K, D, W>>,
    config: MonitorConfig<f32>,
) -> crabmix_kernels::Result<&'static mut DensityMonitor<f32, K, D, W>> {
    Ok(slot.insert(DensityMonitor::new(config)?))
}

// Logging is kept out of line so that its formatting frames do not add to the loop's stack
// except at the samples that log.

#[inline(never)]
fn log_flag(t: u32, x: &[f32; 2], log_density: f32) {
    defmt::warn!(
        "t={=u32} x=[{=f32} {=f32}] ln p={=f32}: flagged (injected: {=bool})",
        t,
        x[0],
        x[1],
        log_density,
        SyntheticSensor::is_anomaly(t)
    );
}

#[inline(never)]
fn log_refit(t: u32, mon: &SensorMonitor) {
    if let Some(m) = mon.model() {
        defmt::info!("t={=u32} refit {=u32}: means {}", t, mon.stats().refits, m.means());
    }
}
