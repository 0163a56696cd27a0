//! The CUDA kernels (`host/cuda/*.cu`) run on the CPU through the g++ shim and are checked against
//! the kernels crate's serial f64 computations (the reference; the shim shares no arithmetic with
//! it) at small shapes. Run with `cargo test -p crabmix --features cuda-shim --test cuda_shim`
//! (scripts/cuda-check.sh). Tolerances: f64 kernels ≤ 1e-10 relative to each array's scale
//! (only summation order differs), f32 kernels ≤ 2e-4 (f32 rounding over ≤ 64-row tile sums).
//!
//! Over 700 lines because it is one integration-test binary on purpose: every test here needs
//! the g++ shim build (feature `cuda-shim`), and one binary links it once.
#![cfg(feature = "cuda-shim")]

use crabmix::backend::BackendError;
use crabmix::device::em_loop::device_em_loop;
use crabmix::device::layout::{EStepKernel, EStepLaunch};
use crabmix::device::shim::{self, ShimEStep, ShimEm, ShimScalar};
use crabmix::device::traits::{GmmDevice, MSTEP_TOO_LARGE, Slot};
use crabmix::gmm::{Mixture, ParallelEStep, Stats};
use crabmix::kernels::Real;
use crabmix::kernels::gaussian::kl::kl_diag_std_normal;
use crabmix::kernels::gmm::{CovarianceKind, EStep, FitConfig, SerialEStep, Shape};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

mod common;
use common::pass;

fn uniform(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A K-component mixture with means ~3 apart around `offset`, SPD covariances A Aᵀ/D + 0.3 I
/// (diag: their diagonals) and unequal weights.
fn random_model(kind: CovarianceKind, k: usize, d: usize, offset: f64, seed: u64) -> Mixture<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut w: Vec<f64> = (0..k).map(|_| 0.5 + uniform(&mut rng)).collect();
    let total: f64 = w.iter().sum();
    w.iter_mut().for_each(|v| *v /= total);
    let means: Vec<f64> = (0..k * d).map(|_| offset + 6.0 * (uniform(&mut rng) - 0.5)).collect();
    let mut covs = vec![0.0; k * d * d];
    for c in 0..k {
        let a: Vec<f64> = (0..d * d).map(|_| 2.0 * uniform(&mut rng) - 1.0).collect();
        for i in 0..d {
            for j in 0..d {
                let mut s: f64 = (0..d).map(|m| a[i * d + m] * a[j * d + m]).sum::<f64>() / d as f64;
                if i == j {
                    s += 0.3;
                }
                if kind == CovarianceKind::Full || i == j {
                    covs[c * d * d + i * d + j] = s;
                }
            }
        }
    }
    Mixture::new(kind, d, w, means, covs).unwrap()
}

fn cast<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f64(x)).collect()
}

/// Max |a − b| / max(1, max |b|): the deviation relative to the reference array's scale; +∞
/// when a value of `a` is NaN where `b`'s is not (`f64::max` alone would pass over it).
fn rel_dev<T: Real>(a: &[T], b: &[f64]) -> f64 {
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let dev = |x: f64, y: f64| if x.is_nan() && !y.is_nan() { f64::INFINITY } else { (x - y).abs() };
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max(dev(x.to_f64(), *y))) / scale
}

/// Statistics of one pass of the shim E-step (optionally with few blocks so each loops over
/// several tiles) vs the serial f64 pass of the kernels crate on the same data and model.
fn check_estep<T: ShimScalar>(
    kind: CovarianceKind,
    k: usize,
    d: usize,
    n: usize,
    max_blocks: Option<u32>,
    tol: f64,
    kernel: EStepKernel,
) {
    let model64 = random_model(kind, k, d, 10.0, 1000 + (k * 100 + d) as u64);
    let (data64, _) = model64.sample(n, &mut Xoshiro256PlusPlus::seed_from_u64(7));

    let (mut lp, mut work) = (vec![0.0; k], vec![0.0; 2 * d]);
    let mut reference = pass(&model64, &mut SerialEStep::new(&data64, &mut lp, &mut work));
    let rv = reference.view_mut();
    let r = rv.as_ref();

    let model = model64.cast::<T>().unwrap();
    let data: Vec<T> = cast(&data64);
    let mut estep = ShimEStep::new(&data, d).unwrap();
    if let Some(m) = max_blocks {
        estep = estep.with_max_blocks(m);
    }
    let mut stats = pass(&model, &mut estep);
    let sv = stats.view_mut();
    let s = sv.as_ref();

    let what = format!("{} {kind:?} K={k} D={d} N={n} blocks≤{max_blocks:?} {kernel:?}", T::NAME);
    assert_eq!(estep.last_kernel, Some(kernel), "{what}: ran another kernel");
    assert!(estep.last_partials.iter().all(|v| v.is_finite()), "{what}: a block partial was left unwritten");
    assert_eq!(s.totals().samples, n as u64, "{what}");
    let checks = [
        ("n_k", rel_dev(s.resp_sums(), r.resp_sums())),
        ("s1", rel_dev(s.s1(), r.s1())),
        ("s2", rel_dev(s.s2(), r.s2())),
        (
            "sum ln p",
            (s.totals().log_likelihood_sum().to_f64() - r.totals().log_likelihood_sum()).abs()
                / r.totals().log_likelihood_sum().abs(),
        ),
        (
            "worst ln p",
            (s.totals().worst_log_likelihood.to_f64() - r.totals().worst_log_likelihood).abs()
                / r.totals().worst_log_likelihood.abs(),
        ),
    ];
    for (name, dev) in checks {
        eprintln!("{what}: {name} deviation {dev:.2e}");
        assert!(dev <= tol, "{what}: {name} deviates by {dev:.3e} > {tol:.0e}");
    }
    // Σ_k n_k = N: responsibilities of every sample sum to one.
    let n_sum: f64 = s.resp_sums().iter().map(|v| v.to_f64()).sum();
    assert!((n_sum - n as f64).abs() <= tol * n as f64, "{what}: Σ n_k = {n_sum}");
}

#[test]
fn estep_full_f64_matches_serial_reference() {
    // E = 3·(1 + 4 + 10) = 45 < 256 entries: the generic kernel's row-group path of the
    // statistics phase (in f64 its 90 accumulator registers are over the registers kernel's 64).
    check_estep::<f64>(CovarianceKind::Full, 3, 4, 300, None, 1e-10, EStepKernel::Generic);
    // E = 3·(1 + 3 + 6) = 30, 60 registers: the registers kernel, 2 rows per step.
    check_estep::<f64>(CovarianceKind::Full, 3, 3, 300, Some(1), 1e-10, EStepKernel::Registers);
}

#[test]
fn estep_full_f64_many_entries_and_grid_stride() {
    // E = 6·(1 + 8 + 36) = 270 ≥ 256: the entry-loop path; 2 blocks over 4 tiles each.
    check_estep::<f64>(CovarianceKind::Full, 6, 8, 500, Some(2), 1e-10, EStepKernel::Generic);
}

#[test]
fn estep_diag_f64_matches_serial_reference() {
    check_estep::<f64>(CovarianceKind::Diag, 3, 3, 257, Some(3), 1e-10, EStepKernel::Registers);
    check_estep::<f64>(CovarianceKind::Diag, 4, 5, 257, Some(3), 1e-10, EStepKernel::Generic);
}

#[test]
fn estep_full_f32_matches_f64_reference() {
    check_estep::<f32>(CovarianceKind::Full, 4, 3, 400, Some(2), 2e-4, EStepKernel::Registers);
}

#[test]
fn estep_diag_f32_matches_f64_reference() {
    check_estep::<f32>(CovarianceKind::Diag, 2, 2, 130, None, 2e-4, EStepKernel::Registers);
}

#[test]
fn registers_estep_many_rows_per_thread() {
    // Two blocks of 256 threads over 1300 rows: threads walk 2–3 rows each (grid stride).
    check_estep::<f64>(CovarianceKind::Full, 4, 2, 1300, Some(2), 1e-10, EStepKernel::Registers);
    check_estep::<f32>(CovarianceKind::Full, 4, 2, 1300, Some(2), 2e-4, EStepKernel::Registers);
    check_estep::<f64>(CovarianceKind::Diag, 4, 2, 1300, Some(2), 1e-10, EStepKernel::Registers);
}

#[test]
fn registers_estep_rows_per_step_leave_every_sum_unchanged() {
    // 1, 2 and 4 rows loaded per step walk each thread's rows in the same order, so the
    // statistics, Σ ln p and the worst row are bit for bit the same. Two blocks over 1300 and
    // 2100 rows: 2–5 rows per thread, ragged against 2 and 4.
    for (kind, n) in [(CovarianceKind::Full, 1300), (CovarianceKind::Diag, 2100)] {
        let model = random_model(kind, 4, 2, 3.0, 11).cast::<f32>().unwrap();
        let (data, _) = model.sample(n, &mut Xoshiro256PlusPlus::seed_from_u64(4));
        let run = |rpi: u32| {
            let l = EStepLaunch::registers_with(model.shape(), n, 4, rpi, 2).unwrap();
            let mut estep = ShimEStep::new(&data, 2).unwrap().with_max_blocks(2).with_launch(l);
            let mut stats = pass(&model, &mut estep);
            assert_eq!(estep.last_kernel, Some(EStepKernel::Registers));
            let sv = stats.view_mut();
            let r = sv.as_ref();
            let t = r.totals();
            (
                r.resp_sums().to_vec(),
                r.s1().to_vec(),
                r.s2().to_vec(),
                t.log_likelihood_sum(),
                t.worst_log_likelihood,
            )
        };
        let one = run(1);
        assert!(one.3.is_finite() && one.0.iter().sum::<f32>() > 0.99 * n as f32, "{kind:?}");
        assert_eq!(run(2), one, "{kind:?}: 2 rows per step");
        assert_eq!(run(4), one, "{kind:?}: 4 rows per step");
    }
}

#[test]
fn tiled_estep_d16_k16_matches_serial_reference() {
    // The benchmark's D = K = 16 shape at small N: 160 phase-C threads, a ragged last tile,
    // blocks looping over several tiles.
    check_estep::<f64>(CovarianceKind::Full, 16, 16, 230, Some(3), 1e-10, EStepKernel::TiledFull);
    check_estep::<f32>(CovarianceKind::Full, 16, 16, 230, Some(2), 2e-4, EStepKernel::TiledFull);
}

#[test]
fn tiled_estep_variant_two_rows_per_thread_matches_serial_reference() {
    // The variant the GPU benchmark compares with the default: 2 rows per phase-A thread (512
    // phase-A items over 256 threads), 3 blocks per SM.
    let shape = Shape::new(16, 16, CovarianceKind::Full);
    let (model64, data) = {
        let m = random_model(CovarianceKind::Full, 16, 16, 10.0, 77);
        let (x, _) = m.sample(230, &mut Xoshiro256PlusPlus::seed_from_u64(3));
        (m, x)
    };
    let l = EStepLaunch::tiled_full_with(shape, 230, 4, 2, 3, 64).unwrap();
    let model = model64.cast::<f32>().unwrap();
    let data32: Vec<f32> = cast(&data);
    let mut variant = ShimEStep::new(&data32, 16).unwrap().with_max_blocks(2).with_launch(l);
    let mut got = pass(&model, &mut variant);
    assert_eq!(variant.last_kernel, Some(EStepKernel::TiledFull));
    let gv = got.view_mut();
    let g = gv.as_ref();
    let (mut lp, mut work) = (vec![0.0; 16], vec![0.0; 32]);
    let mut reference = pass(&model64, &mut SerialEStep::new(&data, &mut lp, &mut work));
    let rv = reference.view_mut();
    let r = rv.as_ref();
    for (name, a, b) in
        [("n_k", g.resp_sums(), r.resp_sums()), ("s1", g.s1(), r.s1()), ("s2", g.s2(), r.s2())]
    {
        let dv = rel_dev(a, b);
        assert!(dv <= 2e-4, "{name}: {dv:.2e}");
    }
}

#[test]
fn tiled_estep_ragged_column_blocks_match_serial_reference() {
    // D = 7: the second 4-wide column block is 3 wide; K = 24 gives 72 phase-C threads.
    check_estep::<f64>(CovarianceKind::Full, 24, 7, 301, Some(2), 1e-10, EStepKernel::TiledFull);
    check_estep::<f32>(CovarianceKind::Full, 24, 7, 301, Some(2), 2e-4, EStepKernel::TiledFull);
}

#[test]
fn shim_estep_is_bitwise_reproducible() {
    let model = random_model(CovarianceKind::Full, 3, 3, 0.0, 5).cast::<f32>().unwrap();
    let (data, _) = model.sample(200, &mut Xoshiro256PlusPlus::seed_from_u64(3));
    let run = || {
        let mut stats = pass(&model, &mut ShimEStep::new(&data, 3).unwrap());
        let sv = stats.view_mut();
        let r = sv.as_ref();
        (r.resp_sums().to_vec(), r.s1().to_vec(), r.s2().to_vec(), r.totals().log_likelihood_sum())
    };
    assert_eq!(run(), run());
}

#[test]
fn em_fit_through_shim_matches_cpu_fit() {
    // Whole fits (k-means++ init, EM loop, M-steps on the host) differing only in the E-step.
    let truth = random_model(CovarianceKind::Full, 2, 2, 0.0, 11);
    let (data, _) = truth.sample(240, &mut Xoshiro256PlusPlus::seed_from_u64(4));
    let config = FitConfig { max_iter: 8, tol: 0.0, ..FitConfig::default() };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    let (cpu, cpu_report) =
        Mixture::fit_with_estep(&data, 2, 2, &config, &mut rng, &mut ParallelEStep::new(&data, 2)).unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    let mut shim = ShimEStep::new(&data, 2).unwrap();
    let (gpu, gpu_report) = Mixture::fit_with_estep(&data, 2, 2, &config, &mut rng, &mut shim).unwrap();
    assert_eq!(cpu_report.n_iter, gpu_report.n_iter);
    for (a, b) in
        [(gpu.weights(), cpu.weights()), (gpu.means(), cpu.means()), (gpu.covariances(), cpu.covariances())]
    {
        let dev = rel_dev(a, b);
        assert!(dev < 1e-9, "fit parameters deviate by {dev:.2e}");
    }
    assert!((gpu_report.mean_log_likelihood - cpu_report.mean_log_likelihood).abs() < 1e-10);
}

// ---- The device-resident EM loop (gmm_mstep.cu, device/em_loop.rs) ----

/// Whole fits, CPU (em_loop, M-step on the host in T) vs the resident loop (M-step kernel in
/// double): same initialization, same number of iterations, parameters within `tol` of each
/// array's scale.
fn check_device_fit<T: ShimScalar>(kind: CovarianceKind, k: usize, d: usize, offset: f64, tol: f64) {
    let truth = random_model(kind, k, d, offset, 31 + d as u64);
    let (data64, _) = truth.sample(300, &mut Xoshiro256PlusPlus::seed_from_u64(6));
    let data = cast::<T>(&data64);
    let config = FitConfig { kind, max_iter: 12, tol: T::ZERO, ..FitConfig::default() };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
    let (cpu, cpu_report) = Mixture::fit(&data, d, k, &config, &mut rng, false).unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
    // Two blocks: the E-step kernel loops over tiles as at large N.
    let mut em = ShimEm::new(&data, Shape::new(k, d, kind)).unwrap().with_max_blocks(2);
    let (dev, dev_report) = Mixture::fit_with_em(&data, d, k, &config, &mut rng, |m, s, c| {
        device_em_loop(&mut em, m, s, c).map_err(|e| match e {
            BackendError::Kernels(e) => e,
            other => panic!("{other}"),
        })
    })
    .unwrap();
    assert_eq!((dev_report.n_iter, dev_report.converged), (cpu_report.n_iter, cpu_report.converged));
    assert_eq!(dev_report.reseeded, cpu_report.reseeded);
    // The agreement is the device M-step's, not the host fallback's: it finishes every component.
    em.pass().unwrap();
    em.mstep(1e-6, 0.0).unwrap();
    assert_eq!(em.read().unwrap().unfinished, None);
    let to64 = |v: &[T]| v.iter().map(|x| x.to_f64()).collect::<Vec<_>>();
    for (what, a, b) in [
        ("weights", dev.weights(), cpu.weights()),
        ("means", dev.means(), cpu.means()),
        ("covariances", dev.covariances(), cpu.covariances()),
    ] {
        let dv = rel_dev(a, &to64(b));
        eprintln!("device EM {} {kind:?} K={k} D={d} offset {offset}: {what} {dv:.2e}", T::NAME);
        assert!(dv <= tol, "{what} deviate by {dv:.2e} > {tol:.0e}");
    }
    let ll = (dev_report.mean_log_likelihood - cpu_report.mean_log_likelihood).to_f64().abs();
    assert!(
        ll <= tol * cpu_report.mean_log_likelihood.to_f64().abs().max(1.0),
        "mean ln p deviates by {ll:.2e}"
    );
}

#[test]
fn device_em_loop_matches_cpu_fit_f64() {
    check_device_fit::<f64>(CovarianceKind::Full, 3, 3, 0.0, 1e-9);
    check_device_fit::<f64>(CovarianceKind::Diag, 3, 3, 0.0, 1e-9);
}

#[test]
fn device_em_loop_matches_cpu_fit_f32_far_from_zero() {
    // Data around 100: the shifted statistics keep f32 close; the device M-step works in double
    // from double block sums, so it is the more accurate of the two.
    check_device_fit::<f32>(CovarianceKind::Full, 2, 2, 100.0, 2e-3);
    check_device_fit::<f32>(CovarianceKind::Diag, 2, 2, 100.0, 2e-3);
}

type Fitted = Result<(Mixture<f64>, crabmix::kernels::gmm::FitReport<f64>), crabmix::kernels::Error>;

/// The CPU loop and the resident loop from the same starting model.
fn both_loops(model: &Mixture<f64>, data: &[f64], config: &FitConfig<f64>) -> (Fitted, Fitted) {
    let d = model.shape().features;
    let cpu = model.refine(data, config);
    let mut dev_model = model.clone();
    let mut stats = Stats::new(model.shape());
    let mut em = ShimEm::new(data, model.shape()).unwrap();
    let dev = device_em_loop(&mut em, &mut dev_model.view_mut(), &mut stats.view_mut(), config)
        .map_err(|e| match e {
            BackendError::Kernels(e) => e,
            other => panic!("{other}"),
        })
        .map(|r| (dev_model, r));
    let _ = d;
    (cpu, dev)
}

#[test]
fn device_em_loop_hands_empty_components_to_the_host_m_step() {
    // Component 2 starts far from every sample: n_2 = 0 after the first E-step, so the device
    // M-step leaves it to the host, which keeps it empty (weight 0, the CPU loop's behaviour:
    // EM iterations never re-seed), reported in `empty`.
    let truth = random_model(CovarianceKind::Full, 2, 2, 0.0, 8);
    let (data, _) = truth.sample(200, &mut Xoshiro256PlusPlus::seed_from_u64(1));
    let mut means = truth.means().to_vec();
    means.extend([40.0, 40.0]);
    let mut covs = truth.covariances().to_vec();
    covs.extend([1.0, 0.0, 0.0, 1.0]);
    let start = Mixture::new(CovarianceKind::Full, 2, vec![0.4, 0.4, 0.2], means, covs).unwrap();
    let config = FitConfig { max_iter: 6, tol: 0.0, ..FitConfig::default() };
    let (cpu, dev) = both_loops(&start, &data, &config);
    let ((cpu, cpu_r), (dev, dev_r)) = (cpu.unwrap(), dev.unwrap());
    assert_eq!(cpu_r.empty, 1, "the scenario must leave component 2 empty");
    assert_eq!(cpu.weights()[2], 0.0);
    assert_eq!((dev_r.empty, dev_r.reseeded, dev_r.n_iter), (cpu_r.empty, 0, cpu_r.n_iter));
    for (a, b) in
        [(dev.weights(), cpu.weights()), (dev.means(), cpu.means()), (dev.covariances(), cpu.covariances())]
    {
        let dv = rel_dev(a, b);
        assert!(dv < 1e-9, "{dv:.2e}");
    }
}

#[test]
fn device_em_loop_hands_d_above_64_to_the_host_m_step() {
    // D = 65 exceeds the device M-step's 64 × 64 shared square: the kernel must report it (not
    // write past the square) and the host M-step finish every iteration, as em_loop would.
    use crabmix::kernels::gmm::{MixtureMut, StatsMut, Totals, em_loop};
    let (k, d, n) = (1usize, 65usize, 90usize);
    let shape = Shape::new(k, d, CovarianceKind::Full);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(12);
    let data: Vec<f64> = (0..n * d).map(|i| 2.0 * uniform(&mut rng) + (i % d) as f64).collect();
    let start = || {
        let mut cov = vec![0.0; d * d];
        (0..d).for_each(|i| cov[i * d + i] = 1.0);
        (vec![1.0], (0..d).map(|i| i as f64 + 1.0).collect::<Vec<_>>(), cov, vec![0.0; d * d], vec![0.0])
    };
    let config = FitConfig { max_iter: 2, tol: 0.0, ..FitConfig::default() };
    let run = |device: bool| {
        let (mut w, mut mu, mut cov, mut u, mut ln) = start();
        let mut model = MixtureMut::new(shape, &mut w, &mut mu, &mut cov, &mut u, &mut ln).unwrap();
        model.refresh().unwrap();
        let (mut sh, mut r, mut s1, mut s2, mut worst) =
            (vec![0.0; k * d], vec![0.0; k], vec![0.0; k * d], vec![0.0; k * d * d], vec![0.0; d]);
        let mut totals = Totals::default();
        let mut stats =
            StatsMut::new(shape, &mut sh, &mut r, &mut s1, &mut s2, &mut worst, &mut totals).unwrap();
        let report = if device {
            let mut em = ShimEm::new(&data, shape).unwrap();
            em.load(&model.as_ref(), Slot::Current).unwrap();
            em.pass().unwrap();
            em.mstep(1e-6, 0.0).unwrap();
            assert_eq!(em.read().unwrap().unfinished, Some((0, MSTEP_TOO_LARGE)));
            device_em_loop(&mut em, &mut model, &mut stats, &config).unwrap()
        } else {
            let (mut lp, mut work) = (vec![0.0; k], vec![0.0; 2 * d]);
            em_loop(&mut model, &mut stats, &mut SerialEStep::new(&data, &mut lp, &mut work), &config)
                .unwrap()
        };
        (report.mean_log_likelihood, mu, cov)
    };
    let (ll_dev, mu_dev, cov_dev) = run(true);
    let (ll_cpu, mu_cpu, cov_cpu) = run(false);
    assert!((ll_dev - ll_cpu).abs() < 1e-9 * ll_cpu.abs(), "{ll_dev} vs {ll_cpu}");
    assert!(rel_dev(&mu_dev, &mu_cpu) < 1e-10 && rel_dev(&cov_dev, &cov_cpu) < 1e-10);
}

#[test]
fn device_em_loop_reports_singular_covariances_as_the_cpu_does() {
    // Every sample on the line x₂ = x₁ and no regularization: Σ is singular after the first
    // M-step; both loops must fail with the same typed error.
    let data: Vec<f64> = (0..50).flat_map(|i| [i as f64 * 0.1, i as f64 * 0.1]).collect();
    let start =
        Mixture::new(CovarianceKind::Full, 2, vec![1.0], vec![2.0, 2.0], vec![1.0, 0.0, 0.0, 1.0]).unwrap();
    let config = FitConfig { max_iter: 5, reg_covar: 0.0, ..FitConfig::default() };
    let (cpu, dev) = both_loops(&start, &data, &config);
    let cpu_err = cpu.unwrap_err();
    assert!(
        matches!(cpu_err, crabmix::kernels::Error::NotPositiveDefinite { component: 0, .. }),
        "{cpu_err:?}"
    );
    assert_eq!(dev.unwrap_err(), cpu_err);
}

fn check_log_density<T: ShimScalar>(kind: CovarianceKind, tol: f64) {
    let model64 = random_model(kind, 3, 4, -5.0, 21);
    let (data64, _) = model64.sample(300, &mut Xoshiro256PlusPlus::seed_from_u64(8));
    let reference = model64.score_samples(&data64).unwrap();
    let model = model64.cast::<T>().unwrap();
    let got = shim::log_density(&model.view(), &cast::<T>(&data64)).unwrap();
    let dev = rel_dev(&got, &reference);
    eprintln!("log density {} {kind:?}: deviation {dev:.2e}", T::NAME);
    assert!(dev <= tol, "{dev:.3e}");
}

#[test]
fn log_density_matches_reference() {
    check_log_density::<f64>(CovarianceKind::Full, 1e-12);
    check_log_density::<f64>(CovarianceKind::Diag, 1e-12);
    check_log_density::<f32>(CovarianceKind::Full, 1e-5);
    check_log_density::<f32>(CovarianceKind::Diag, 1e-5);
}

#[test]
fn kl_batch_matches_kernels_kl() {
    // Log-variances straddle the ±¼ switch between the series and the direct form.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
    let (n, d) = (300, 3);
    let mu: Vec<f64> = (0..n * d).map(|_| 4.0 * uniform(&mut rng) - 2.0).collect();
    let lv: Vec<f64> = (0..n * d)
        .map(|i| if i % 3 == 0 { 0.5 * (uniform(&mut rng) - 0.5) } else { 6.0 * uniform(&mut rng) - 3.0 })
        .collect();
    let reference: Vec<f64> = (0..n)
        .map(|r| {
            let m: [f64; 3] = mu[r * d..(r + 1) * d].try_into().unwrap();
            let l: [f64; 3] = lv[r * d..(r + 1) * d].try_into().unwrap();
            kl_diag_std_normal(&m, &l)
        })
        .collect();
    let got64 = shim::kl_diag_std_normal(&mu, &lv, d).unwrap();
    let got32 = shim::kl_diag_std_normal::<f32>(&cast(&mu), &cast(&lv), d).unwrap();
    for r in 0..n {
        assert!((got64[r] - reference[r]).abs() <= 1e-14 * reference[r].max(1.0), "row {r}");
        assert!((got32[r] as f64 - reference[r]).abs() <= 2e-6 * reference[r].max(1.0), "row {r}");
    }
}

/// Philox4x32-10, written from the paper's definition (Salmon et al. 2011), independent of the
/// CUDA source: the reference for the kernel.
fn philox_reference(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (ctr, key);
    for _ in 0..10 {
        let p0 = 0xD251_1F53u64 * c[0] as u64;
        let p1 = 0xCD9E_8D57u64 * c[2] as u64;
        c = [(p1 >> 32) as u32 ^ c[1] ^ k[0], p1 as u32, (p0 >> 32) as u32 ^ c[3] ^ k[1], p0 as u32];
        k = [k[0].wrapping_add(0x9E37_79B9), k[1].wrapping_add(0xBB67_AE85)];
    }
    c
}

#[test]
fn philox_reference_matches_random123_known_answers() {
    // Random123 kat_vectors, philox4x32 with 10 rounds.
    assert_eq!(philox_reference([0; 4], [0; 2]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    assert_eq!(
        philox_reference([u32::MAX; 4], [u32::MAX; 2]),
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    );
    assert_eq!(
        philox_reference([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]),
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
}

#[test]
fn philox_kernel_words_match_reference() {
    let seed = 0x0123_4567_89ab_cdefu64;
    let words = shim::philox_words(300, seed);
    for i in 0..300u32 {
        let want = philox_reference([i, 0, 0, 0], [seed as u32, (seed >> 32) as u32]);
        assert_eq!(&words[4 * i as usize..4 * i as usize + 4], &want, "counter {i}");
    }
}

#[test]
fn reparam_philox_is_box_muller_of_the_reference_stream() {
    let seed = 42u64;
    let n = 2048;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let mu: Vec<f64> = (0..n).map(|_| uniform(&mut rng) - 0.5).collect();
    let lv: Vec<f64> = (0..n).map(|_| 2.0 * uniform(&mut rng) - 1.0).collect();
    let (eps, z) = shim::reparam_diag_philox(&mu, &lv, seed).unwrap();
    let (eps32, z32) = shim::reparam_diag_philox::<f32>(&cast(&mu), &cast(&lv), seed).unwrap();
    let key = [seed as u32, (seed >> 32) as u32];
    for e in 0..n {
        let w = philox_reference([e as u32, 0, 0, 0], key);
        // f64: 53-bit uniforms from word pairs; u1 ∈ (0, 1] so ln u1 is finite.
        let a = (((w[0] as u64) << 21) ^ (w[1] as u64 >> 11)) & ((1 << 53) - 1);
        let b = (((w[2] as u64) << 21) ^ (w[3] as u64 >> 11)) & ((1 << 53) - 1);
        let (u1, u2) = ((a as f64 + 1.0) / (1u64 << 53) as f64, b as f64 / (1u64 << 53) as f64);
        let want = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        assert!((eps[e] - want).abs() <= 1e-13 * want.abs().max(1.0), "eps[{e}] {} vs {want}", eps[e]);
        assert!((z[e] - (mu[e] + (0.5 * lv[e]).exp() * eps[e])).abs() <= 1e-14, "z[{e}]");
        // f32: 32-bit u1 from word 0, 24-bit u2 from word 1 (same formula in f64 as reference).
        let (u1, u2) = ((w[0] as f64 + 1.0) / 4294967296.0, (w[1] >> 8) as f64 / 16777216.0);
        let want32 = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        assert!(
            (eps32[e] as f64 - want32).abs() <= 1e-5 * want32.abs().max(1.0),
            "eps32[{e}] {} vs {want32}",
            eps32[e]
        );
        assert!((z32[e] as f64 - (mu[e] + (0.5 * lv[e]).exp() * eps32[e] as f64)).abs() <= 1e-5, "z32[{e}]");
    }
    // The stream is N(0, 1): mean within 4σ/√n, variance within 4·√(2/n).
    let mean = eps.iter().sum::<f64>() / n as f64;
    let var = eps.iter().map(|e| (e - mean) * (e - mean)).sum::<f64>() / n as f64;
    assert!(mean.abs() < 4.0 / (n as f64).sqrt(), "mean {mean}");
    assert!((var - 1.0).abs() < 4.0 * (2.0 / n as f64).sqrt(), "variance {var}");
}

#[test]
fn zero_density_sample_is_reported_with_its_row() {
    // 1e30 is finite in f32 but its squared Mahalanobis distance overflows: ln p = −∞ under
    // every component, which the serial pass reports as ZeroDensity; so must the kernel path.
    let model = random_model(CovarianceKind::Diag, 2, 2, 0.0, 3).cast::<f32>().unwrap();
    let (mut data, _) = model.sample(100, &mut Xoshiro256PlusPlus::seed_from_u64(5));
    data[2 * 70] = 1e30;
    let mut stats = Stats::<f32>::new(model.shape());
    let mut sv = stats.view_mut();
    sv.reset(model.means()).unwrap();
    let err = ShimEStep::new(&data, 2).unwrap().accumulate(&model.view(), &mut sv).unwrap_err();
    assert_eq!(err, crabmix::kernels::Error::ZeroDensity { sample: 70 });
}

#[test]
fn overflowed_component_counts_as_zero_density_as_on_the_cpu() {
    // Component 0: tight and correlated at the origin, so U has entries ≈ ±1e3 of both signs;
    // component 1: unit covariance at (1e36, 1e36). For a sample at component 1, finite in f32,
    // component 0's partial products overflow to +∞ and −∞: a NaN log-probability, which the
    // kernels crate counts as −∞ (zero density). The kernels must too: responsibilities (0, 1),
    // finite statistics and log densities, as the f64 reference (which does not overflow) has.
    let covs = vec![1e-6, 0.5e-6, 0.5e-6, 1e-6, 1.0, 0.0, 0.0, 1.0];
    let model64 =
        Mixture::new(CovarianceKind::Full, 2, vec![0.5, 0.5], vec![0.0, 0.0, 1e36, 1e36], covs).unwrap();
    let (data64, labels) = model64.sample(200, &mut Xoshiro256PlusPlus::seed_from_u64(11));
    assert!(labels.contains(&0) && labels.contains(&1));
    let model = model64.cast::<f32>().unwrap();
    let data: Vec<f32> = cast(&data64);
    let (mut lp, mut work) = ([0.0f32; 2], [0.0f32; 4]);
    let far = data64.chunks_exact(2).position(|x| x[0] > 1e35).unwrap();
    model.view().component_log_probs(&data[2 * far..2 * far + 2], &mut lp, &mut work).unwrap();
    assert!(lp[0].is_nan() && lp[1].is_finite(), "the overflow this test is about: {lp:?}");

    let (mut lp64, mut work64) = (vec![0.0; 2], vec![0.0; 4]);
    let mut reference = pass(&model64, &mut SerialEStep::new(&data64, &mut lp64, &mut work64));
    let rv = reference.view_mut();
    let r = rv.as_ref();
    let generic = EStepLaunch::generic(model.shape(), 200, 4).unwrap();
    for launch in [None, Some(generic)] {
        let mut estep = ShimEStep::new(&data, 2).unwrap();
        if let Some(l) = launch {
            estep = estep.with_launch(l);
        }
        let mut stats = pass(&model, &mut estep);
        let sv = stats.view_mut();
        let g = sv.as_ref();
        let what = format!("{:?}", estep.last_kernel);
        for (name, a, b) in
            [("n_k", g.resp_sums(), r.resp_sums()), ("s1", g.s1(), r.s1()), ("s2", g.s2(), r.s2())]
        {
            let dv = rel_dev(a, b);
            assert!(dv <= 2e-4, "{what} {name}: {dv:.2e} ({a:?} vs {b:?})");
        }
        let (gl, rl) = (g.totals().log_likelihood_sum().to_f64(), r.totals().log_likelihood_sum());
        assert!((gl - rl).abs() <= 2e-4 * rl.abs(), "{what} Σ ln p: {gl} vs {rl}");
    }
    let dens = shim::log_density(&model.view(), &data).unwrap();
    let dev = rel_dev(&dens, &model64.score_samples(&data64).unwrap());
    assert!(dev <= 1e-5, "log density: {dev:.2e}");
}

// ---- MLP and VAE kernels (host/cuda/mlp.cu, gaussian.cu's latent backward) ----

use crabmix::device::mlp::{DenseSpec, DeviceMlp, DeviceVae};
use crabmix::device::shim::{ShimKernels, ShimMlpScalar};
use crabmix::device::traits::{ActivationKind, MlpKernels, device_adam};
use crabmix::kernels::mlp::loss::mse;
use crabmix::kernels::mlp::optim::Adam;
use crabmix::kernels::mlp::{
    Act, Activation as CrateAct, Dense, Init, Layer, LeakyRelu, Sigmoid, Softplus, Tanh,
};
use crabmix::kernels::models::{GaussianHead, Likelihood, Vae, VaeTrainer};
use crabmix::kernels::{chain, chain_type};

/// Every parameter of `net`, flat in `visit_params` order.
fn flat_params<T: Real, L: Layer<T>>(net: &L) -> Vec<T> {
    let mut v = Vec::new();
    net.visit_params(&mut |p| v.push(p));
    v
}

/// Initializes `net` (Xavier normal, seeded) and sets its biases to small non-zero values so their
/// gradients are exercised.
fn init_net<T: Real, L: Layer<T>>(net: &mut L, seed: u64) {
    net.init(Init::XavierNormal, &mut Xoshiro256PlusPlus::seed_from_u64(seed));
    let mut k = 0.0;
    net.for_each_param(&mut |p| {
        if *p == T::ZERO {
            k += 0.37;
            *p = T::from_f64(0.3 * f64::sin(k));
        }
    });
}

fn to_f64<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// A 2 → 32 → 32 → 2 network (activations `a1`, `a2`, identity output) on a batch of 40 with MSE
/// loss (batch mean): output, per-row loss, ∂L/∂θ, ∂L/∂X and one Adam step through the shim vs
/// the crate's per-sample forward/backward accumulated in batch order. Returns the largest
/// relative deviation over all compared arrays.
fn check_mlp<T: ShimMlpScalar, A1: CrateAct<T>, A2: CrateAct<T>>(
    a1: (A1, ActivationKind),
    a2: (A2, ActivationKind),
    chunk_rows: Option<usize>,
) -> f64 {
    const B: usize = 40;
    let mut net = chain!(
        Dense::<T, 2, 32>::zeros(),
        Act::<_, 32>(a1.0),
        Dense::<T, 32, 32>::zeros(),
        Act::<_, 32>(a2.0),
        Dense::<T, 32, 2>::zeros()
    );
    init_net(&mut net, 21);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(22);
    let x: Vec<T> = (0..B * 2).map(|_| T::from_f64(4.0 * uniform(&mut rng) - 2.0)).collect();
    let t: Vec<T> = (0..B * 2).map(|_| T::from_f64(2.0 * uniform(&mut rng) - 1.0)).collect();
    let scale = T::ONE / T::from_usize(B);

    // Reference: sample by sample, gradients accumulated from zero in batch order.
    let mut grads = net.zeros_like();
    let mut cache = net.new_cache_of();
    let (mut y_ref, mut loss_ref, mut dx_ref) = (Vec::new(), Vec::new(), Vec::new());
    for b in 0..B {
        let xb = [x[2 * b], x[2 * b + 1]];
        let y = net.forward(&xb, &mut cache);
        let mut g = [T::ZERO; 2];
        loss_ref.push(mse(&y, &[t[2 * b], t[2 * b + 1]], &mut g).to_f64());
        let g = g.map(|v| v * scale);
        let gx = net.backward(&cache, &g, &mut grads);
        y_ref.extend(to_f64(&y));
        dx_ref.extend(to_f64(&gx));
    }
    let grads_ref = to_f64(&flat_params(&grads));
    let mut adam = Adam::new(&net, T::from_f64(0.01));
    let mut stepped = net;
    adam.step(&mut stepped, &grads);
    let params_ref = to_f64(&flat_params(&stepped));

    // Device (shim): the same network as DenseSpecs.
    let k = ShimKernels;
    let specs = [
        DenseSpec::new(2, 32, a1.1),
        DenseSpec::new(32, 32, a2.1),
        DenseSpec::new(32, 2, ActivationKind::Identity),
    ];
    let mut dev = DeviceMlp::<T, _>::new(&k, &specs, B, &flat_params(&net)).unwrap();
    if let Some(rows) = chunk_rows {
        dev.set_chunk_rows(rows).unwrap();
    }
    let xd = k.upload(&x).unwrap();
    let td = k.upload(&t).unwrap();
    let (mut loss, mut g, mut dx) = (k.alloc(B).unwrap(), k.alloc(B * 2).unwrap(), k.alloc(B * 2).unwrap());
    // SAFETY: xd, td hold B·2 values (the network's batch × inputs and × outputs); loss B, g and
    // dx B·2, as forward/mse_rows/backward require.
    unsafe {
        dev.forward(&xd).unwrap();
        k.mse_rows(dev.output(), &td, B, 2, scale, &mut loss, &mut g).unwrap();
        dev.backward(&xd, &g, Some((&mut dx, false))).unwrap();
    }
    let y = k.download(dev.output(), B * 2).unwrap();
    let grads_dev = dev.grads().unwrap();
    dev.adam_step(&device_adam(T::from_f64(0.01))).unwrap();
    let params_dev = dev.params().unwrap();
    [
        rel_dev(&y, &y_ref),
        rel_dev(&loss, &loss_ref),
        rel_dev(&grads_dev, &grads_ref),
        rel_dev(&dx, &dx_ref),
        rel_dev(&params_dev, &params_ref),
    ]
    .into_iter()
    .fold(0.0, f64::max)
}

#[test]
fn mlp_2_32_32_2_f64_matches_kernels_mlp() {
    // One chunk (the crate's accumulation order) and three chunks of 16 rows (fixed-order merge).
    for chunk in [None, Some(16)] {
        let dev = check_mlp::<f64, _, _>(
            (Tanh, ActivationKind::Tanh),
            (LeakyRelu { slope: 0.2 }, ActivationKind::LeakyRelu(0.2)),
            chunk,
        );
        eprintln!("mlp f64 tanh/leaky-relu chunk {chunk:?}: max rel dev {dev:.3e}");
        assert!(dev < 1e-12, "{dev}");
    }
    let dev = check_mlp::<f64, _, _>(
        (Softplus, ActivationKind::Softplus),
        (Sigmoid, ActivationKind::Sigmoid),
        Some(16),
    );
    eprintln!("mlp f64 softplus/sigmoid: max rel dev {dev:.3e}");
    assert!(dev < 1e-12, "{dev}");
}

#[test]
fn mlp_2_32_32_2_f32_matches_kernels_mlp() {
    use crabmix::kernels::mlp::Relu;
    let dev = check_mlp::<f32, _, _>((Relu, ActivationKind::Relu), (Tanh, ActivationKind::Tanh), Some(16));
    eprintln!("mlp f32 relu/tanh: max rel dev {dev:.3e}");
    assert!(dev < 1e-5, "{dev}");
}

/// Two VAE training steps (X = 6, H = 16, Z = 2, batch 20, Bernoulli likelihood, tanh) through the
/// shim vs the crate's `VaeTrainer::step_with` on the same weights, data and ε (the shim's Philox
/// draws, fed row by row): batch ELBO terms, gradient of −L_B and parameters after each Adam
/// update. Returns the largest relative deviation over the compared arrays.
fn check_vae<T: ShimMlpScalar>() -> f64 {
    const B: usize = 20;
    type Enc<T> = chain_type!(Dense<T, 6, 16>, Act<Tanh, 16>, GaussianHead<T, 16, 2>);
    type Dec<T> = chain_type!(Dense<T, 2, 16>, Act<Tanh, 16>, Dense<T, 16, 6>);
    let mut vae: Vae<Enc<T>, Dec<T>> = Vae {
        encoder: chain!(Dense::zeros(), Act(Tanh), GaussianHead::zeros()),
        decoder: chain!(Dense::zeros(), Act(Tanh), Dense::zeros()),
        likelihood: Likelihood::BernoulliLogits,
    };
    init_net(&mut vae.encoder, 31);
    init_net(&mut vae.decoder, 32);
    let mut params = flat_params(&vae.encoder);
    params.extend(flat_params(&vae.decoder));
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(33);
    // Grey levels in [0, 1] with a few exact 0s and 1s.
    let data: Vec<T> =
        (0..B * 6).map(|_| T::from_f64((1.4 * uniform(&mut rng) - 0.2).clamp(0.0, 1.0))).collect();
    let batch: Vec<[T; 6]> = data.chunks(6).map(|r| core::array::from_fn(|i| r[i])).collect();
    let lr = T::from_f64(0.01);
    let mut trainer = VaeTrainer::new(&vae, lr);
    let body = [DenseSpec::new(6, 16, ActivationKind::Tanh)];
    let dec = [DenseSpec::new(2, 16, ActivationKind::Tanh), DenseSpec::new(16, 6, ActivationKind::Identity)];
    let mut dev = DeviceVae::<T, _>::new(&ShimKernels, &body, 2, &dec, B, &params, device_adam(lr)).unwrap();
    let mut worst = 0.0f64;
    for seed in [41u64, 42] {
        let terms = dev.step(&data, seed).unwrap();
        let eps = dev.last_eps().unwrap();
        let mut row = 0;
        let want = trainer
            .step_with(&mut vae, &batch, |e: &mut [T; 2]| {
                e.copy_from_slice(&eps[2 * row..2 * row + 2]);
                row += 1;
            })
            .unwrap();
        let mut g_ref = flat_params(&trainer.gradient().encoder);
        g_ref.extend(flat_params(&trainer.gradient().decoder));
        let mut p_ref = flat_params(&vae.encoder);
        p_ref.extend(flat_params(&vae.decoder));
        let devs = [
            rel_dev(&[terms.log_likelihood, terms.kl], &[want.log_likelihood.to_f64(), want.kl.to_f64()]),
            rel_dev(&dev.grads().unwrap(), &to_f64(&g_ref)),
            rel_dev(&dev.params().unwrap(), &to_f64(&p_ref)),
        ];
        eprintln!(
            "vae {} step seed {seed}: elbo terms, grads, params rel dev {:.3e} {:.3e} {:.3e}",
            T::SUFFIX,
            devs[0],
            devs[1],
            devs[2]
        );
        worst = devs.into_iter().fold(worst, f64::max);
    }
    worst
}

#[test]
fn vae_step_f64_matches_kernels_vae_trainer() {
    // Bernoulli vs the fixed-size trainer; both Gaussians vs the runtime-shaped core.
    let dev = check_vae::<f64>().max(check_gaussian_vae_shapes::<f64>());
    assert!(dev < 1e-12, "{dev}");
}

#[test]
fn vae_step_f32_matches_kernels_vae_trainer() {
    let dev = check_vae::<f32>().max(check_gaussian_vae_shapes::<f32>());
    assert!(dev < 1e-5, "{dev}");
}

/// `vae train --backend cuda`'s training loop (`vae_model::train_on_device`) through the shim:
/// the device pipeline trains a runtime-shaped VAE (two hidden layers), its ELBO rises, the
/// validation ELBO is kept, and the parameters read back into the host model score the training
/// rows on the host close to the device's last-epoch ELBO.
#[test]
fn vae_training_loop_runs_through_the_device_pipeline() {
    use crabmix::train::vae_model::{LikelihoodKind, VaeArch, VaeModel, VaeTrainConfig, train_on_device};
    let mut g = Xoshiro256PlusPlus::seed_from_u64(12);
    // 48 rows of 6 features in [0, 1]: two prototypes with noise (pixel means away from ½, so
    // the ELBO rises within a few steps; the CLI's CPU trainer: −4.36 → −2.94 in 8 epochs).
    let data: Vec<f32> = (0..48 * 6)
        .map(|k| {
            let proto = if (k / 6) % 2 == 0 {
                [0.9, 0.9, 0.9, 0.9, 0.1, 0.1]
            } else {
                [0.9, 0.9, 0.9, 0.1, 0.9, 0.1]
            };
            (proto[k % 6] + 0.1 * (g.next_u32() as f32 / u32::MAX as f32 - 0.5)).clamp(0.0, 1.0)
        })
        .collect();
    let arch = VaeArch { features: 6, hidden: vec![8, 4], latent: 2, likelihood: LikelihoodKind::Bernoulli };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let mut model = VaeModel::new(arch, None, &mut rng).unwrap();
    let config = VaeTrainConfig { epochs: 8, batch: 16, lr: 2e-2 };
    let curves = train_on_device(
        &shim::ShimKernels,
        &mut model,
        &data,
        &data[..12 * 6],
        &config,
        &mut rng,
        3,
        &mut |_, _, _| {},
    )
    .unwrap();
    let e = &curves.elbo_per_epoch;
    assert_eq!((e.len(), curves.validation_elbo_per_epoch.len()), (8, 8));
    assert!(e[7] > e[0] + 0.8, "device ELBO per epoch {e:?}");
    let (ll, kl) = model.mean_elbo(&data, 4, &mut rng);
    assert!(((ll - kl) - e[7]).abs() < 1.0, "host ELBO {} vs device {}", ll - kl, e[7]);
    assert!(model.to_json(None).is_some(), "finite parameters");
}

/// Two VAE training steps with a Gaussian likelihood (unit variance, or X learned per-feature
/// ln σ², started away from 0) through the shim vs the kernels' runtime-shaped core
/// (`vae_net::step`, which equals `VaeTrainer::step_with` bit for bit) on the same parameters,
/// data and ε (the shim's Philox draws): batch ELBO terms, gradient of −L_B (ln σ² included) and
/// parameters after each Adam update. `hidden` is the encoder body's widths (ReLU; the decoder
/// mirrors them, linear output). Returns the largest relative deviation.
fn check_gaussian_vae<T: ShimMlpScalar>(
    lik: crabmix::kernels::models::vae_net::VaeLikelihood,
    features: usize,
    hidden: &[usize],
    latent: usize,
    batch: usize,
) -> f64 {
    use crabmix::kernels::mlp::optim::SliceAdam;
    use crabmix::kernels::mlp::{ActivationKind as K, Architecture, LayerSpec};
    use crabmix::kernels::models::vae_net::{self, VaeShape};
    let mut sizes = vec![features];
    sizes.extend(hidden);
    let enc: Vec<LayerSpec<T>> = sizes.windows(2).map(|w| LayerSpec::new(w[0], w[1], K::Relu)).collect();
    let mut d = vec![latent];
    d.extend(hidden.iter().rev());
    d.push(features);
    let n_dec = d.len() - 1;
    let dec: Vec<LayerSpec<T>> = (0..n_dec)
        .map(|l| LayerSpec::new(d[l], d[l + 1], if l + 1 == n_dec { K::Identity } else { K::Relu }))
        .collect();
    let shape =
        VaeShape::new(Architecture::new(&enc).unwrap(), latent, Architecture::new(&dec).unwrap(), lik)
            .unwrap();
    let to_dev = |l: &[LayerSpec<T>]| -> Vec<DenseSpec> {
        let act =
            |k: K<T>| if matches!(k, K::Relu) { ActivationKind::Relu } else { ActivationKind::Identity };
        l.iter().map(|s| DenseSpec::new(s.inputs, s.outputs, act(s.activation))).collect()
    };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(51);
    let mut params = vec![T::ZERO; shape.params_len()];
    shape.init_params(&mut params, Init::XavierNormal, &mut rng).unwrap();
    // Non-zero biases and ln σ² ∈ [−0.6, 0.6], so their gradients are exercised.
    for (k, p) in params.iter_mut().enumerate() {
        if *p == T::ZERO {
            *p = T::from_f64(0.3 * f64::sin(0.37 * k as f64));
        }
    }
    for p in &mut params[shape.param_ranges()[4].clone()] {
        *p = T::from_f64(1.2 * uniform(&mut rng) - 0.6);
    }
    // Standardized-looking data in [−2, 2].
    let data: Vec<T> = (0..batch * features).map(|_| T::from_f64(4.0 * uniform(&mut rng) - 2.0)).collect();
    let lr = T::from_f64(0.01);
    let mut dev = DeviceVae::<T, _>::with_likelihood(
        &ShimKernels,
        &to_dev(&enc),
        latent,
        &to_dev(&dec),
        batch,
        &params,
        lik,
        device_adam(lr),
    )
    .unwrap();
    let n = shape.params_len();
    let mut wt = vec![T::ZERO; shape.weights_len()];
    shape.transpose_weights(&params, &mut wt).unwrap();
    let mut work = vec![T::ZERO; shape.work_len(batch).unwrap()];
    let (mut grads, mut m, mut v) = (vec![T::ZERO; n], vec![T::ZERO; n], vec![T::ZERO; n]);
    let mut adam = SliceAdam::new(lr);
    let mut worst = 0.0f64;
    for seed in [61u64, 62] {
        let terms = dev.step(&data, seed).unwrap();
        let eps = dev.last_eps().unwrap();
        let want = vae_net::step(
            &shape,
            &mut params,
            &mut wt,
            &data,
            &eps,
            batch,
            &mut work,
            &mut grads,
            &mut adam,
            &mut m,
            &mut v,
        )
        .unwrap();
        let (g_dev, p_dev) = (dev.grads().unwrap(), dev.params().unwrap());
        assert_eq!((g_dev.len(), p_dev.len()), (n, n));
        let devs = [
            rel_dev(&[terms.log_likelihood, terms.kl], &[want.log_likelihood.to_f64(), want.kl.to_f64()]),
            rel_dev(&g_dev, &to_f64(&grads)),
            rel_dev(&p_dev, &to_f64(&params)),
        ];
        eprintln!(
            "gaussian vae {lik:?} {} X {features} H {hidden:?} Z {latent} B {batch} seed {seed}: \
             elbo terms, grads, params rel dev {:.3e} {:.3e} {:.3e}",
            T::SUFFIX,
            devs[0],
            devs[1],
            devs[2]
        );
        worst = devs.into_iter().fold(worst, f64::max);
    }
    worst
}

/// [`check_gaussian_vae`] for both Gaussian likelihoods at two shapes: one tile and one chunk;
/// then two hidden layers, ragged tiles and a batch past a tile. The worst deviation.
fn check_gaussian_vae_shapes<T: ShimMlpScalar>() -> f64 {
    use crabmix::kernels::models::vae_net::VaeLikelihood::{GaussianLearned, GaussianUnit};
    [GaussianUnit, GaussianLearned].into_iter().fold(0.0f64, |w, lik| {
        let a = check_gaussian_vae::<T>(lik, 6, &[16], 2, 20);
        w.max(a).max(check_gaussian_vae::<T>(lik, 5, &[12, 7], 3, 37))
    })
}

/// The device training loop with the learned-variance Gaussian on standardized data: features at
/// scales 1 to 100 and offsets up to 50 (so training on the raw values would start with a
/// log-likelihood near −10⁴ per row); `train_on_device` standardizes them as the CPU trainer
/// does, the ELBO rises, and the host model scores the rows close to the device's last epoch.
#[test]
fn gaussian_learned_training_loop_standardizes_like_the_cpu_trainer() {
    use crabmix::train::data::Standardization;
    use crabmix::train::vae_model::{LikelihoodKind, VaeArch, VaeModel, VaeTrainConfig, train_on_device};
    let mut g = Xoshiro256PlusPlus::seed_from_u64(14);
    // 64 rows of 4 features: a 1-d latent t, features a·t + offset + small noise.
    let (scale, offset) = ([1.0f32, 10.0, 100.0, 3.0], [0.0f32, 50.0, -20.0, 5.0]);
    let data: Vec<f32> = (0..64)
        .flat_map(|_| {
            let t = 2.0 * uniform(&mut g) as f32 - 1.0;
            let noise: [f32; 4] = core::array::from_fn(|_| 0.05 * (uniform(&mut g) as f32 - 0.5));
            (0..4).map(move |i| scale[i] * (t + noise[i]) + offset[i])
        })
        .collect();
    let arch =
        VaeArch { features: 4, hidden: vec![8], latent: 1, likelihood: LikelihoodKind::GaussianLearned };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
    let mut model = VaeModel::new(arch, Some(Standardization::fit(&data, 4)), &mut rng).unwrap();
    let config = VaeTrainConfig { epochs: 10, batch: 16, lr: 2e-2 };
    let curves =
        train_on_device(&shim::ShimKernels, &mut model, &data, &[], &config, &mut rng, 3, &mut |_, _, _| {})
            .unwrap();
    let e = &curves.elbo_per_epoch;
    eprintln!("gaussian-learned device ELBO per epoch {e:?}");
    assert_eq!(e.len(), 10);
    // Standardized rows start near −(X/2)(ln 2π + 1) ≈ −5.7 per row, far above raw-scale values.
    assert!(e[0] > -30.0 && e[9] > e[0] + 1.0, "device ELBO per epoch {e:?}");
    let lv = model.decoder_log_var().unwrap();
    assert!(lv.iter().any(|v| *v != 0.0), "the learned ln σ² trained: {lv:?}");
    let (ll, kl) = model.mean_elbo(&data, 4, &mut rng);
    assert!(((ll - kl) - e[9]).abs() < 1.5, "host ELBO {} vs device {}", ll - kl, e[9]);
}

// ---- WGAN (device::wgan: critic and generator steps from the mlp.cu kernels) ----

use crabmix::device::wgan::DeviceWgan;
use crabmix::kernels::mlp::batch::transpose_weights;
use crabmix::kernels::mlp::{ActivationKind as NetAct, Architecture, LayerSpec};
use crabmix::kernels::models::wgan_net::{
    self, NetState, SliceOptimizer, WganShape, draw_critic_noise, spectral_init,
};
use crabmix::kernels::models::{Lipschitz, WganConfig};

/// One network's state for the kernels' serial WGAN steps.
struct RefNet<T> {
    params: Vec<T>,
    wt: Vec<T>,
    grads: Vec<T>,
    s1: Vec<T>,
    s2: Vec<T>,
    opt: SliceOptimizer<T>,
}

impl<T: Real> RefNet<T> {
    fn new(
        arch: &Architecture<'_, T>,
        params: Vec<T>,
        kind: crabmix::kernels::models::OptimizerKind<T>,
    ) -> Self {
        let n = params.len();
        let mut wt = vec![T::ZERO; arch.weights_len()];
        transpose_weights(arch, &params, &mut wt).unwrap();
        let z = vec![T::ZERO; n];
        Self { params, wt, grads: z.clone(), s1: z.clone(), s2: z, opt: SliceOptimizer::new(kind) }
    }
    fn state(&mut self) -> NetState<'_, T> {
        NetState {
            params: &mut self.params,
            wt: &mut self.wt,
            grads: &mut self.grads,
            opt: &mut self.opt,
            s1: &mut self.s1,
            s2: &mut self.s2,
        }
    }
}

/// Layers over `sizes` with activation `hidden(l)` on layer l and identity on the last.
fn wgan_layers<T: Real>(sizes: &[usize], hidden: impl Fn(usize) -> NetAct<T>) -> Vec<LayerSpec<T>> {
    let n = sizes.len() - 1;
    (0..n)
        .map(|l| {
            LayerSpec::new(sizes[l], sizes[l + 1], if l + 1 == n { NetAct::Identity } else { hidden(l) })
        })
        .collect()
}

/// Two critic steps and one generator step of [`DeviceWgan`] through the shim against the
/// kernels' `wgan_net::critic_step` / `generator_step` from the same parameters, data and noise:
/// the statistics, both gradients and the parameters after each update, for the Lipschitz rule
/// `rule` (0 clipping + RMSProp, 1 spectral normalization + Adam, 2 gradient penalty + Adam).
/// Generator Z → `gen_hidden` → X (ReLU), critic X → `critic_hidden` → 1 (leaky ReLU 0.2 and
/// ReLU alternating). Returns the largest deviation ([`rel_dev`]).
fn check_wgan<T: ShimMlpScalar>(
    rule: usize,
    latent: usize,
    gen_hidden: &[usize],
    features: usize,
    critic_hidden: &[usize],
    batch: usize,
) -> f64 {
    let config = [WganConfig::<T>::paper_clip(), WganConfig::spectral_norm(), WganConfig::gradient_penalty()]
        [rule]
        .with_lr(T::from_f64(0.01));
    let lip = config.lipschitz;
    let mut gs = vec![latent];
    gs.extend(gen_hidden);
    gs.push(features);
    let mut cs = vec![features];
    cs.extend(critic_hidden);
    cs.push(1);
    let gl = wgan_layers::<T>(&gs, |_| NetAct::Relu);
    let cl = wgan_layers::<T>(&cs, |l| {
        if l % 2 == 0 { NetAct::LeakyRelu { slope: T::from_f64(0.2) } } else { NetAct::Relu }
    });
    let (ga, ca) = (Architecture::new(&gl).unwrap(), Architecture::new(&cl).unwrap());
    let shape = WganShape::new(ga, ca, lip).unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(71 + rule as u64);
    // Weights ~ U(−1, 1)·1.5/√in and biases ~ U(−0.3, 0.3), so every gradient entry is exercised.
    let mut init = |arch: &Architecture<'_, T>| -> Vec<T> {
        let mut p = Vec::with_capacity(arch.params_len());
        for s in arch.layers() {
            let sc = 1.5 / (s.inputs as f64).sqrt();
            p.extend((0..s.outputs * s.inputs).map(|_| T::from_f64(sc * (2.0 * uniform(&mut rng) - 1.0))));
            p.extend((0..s.outputs).map(|_| T::from_f64(0.6 * uniform(&mut rng) - 0.3)));
        }
        p
    };
    let (gp, mut cp) = (init(&ga), init(&ca));
    let (nu, nv) = shape.spectral_state_len();
    let (mut u, mut v) = (vec![T::ZERO; nu], vec![T::ZERO; nv]);
    if let Lipschitz::SpectralNorm = lip {
        spectral_init(&shape, &mut u, &mut v, &mut rng).unwrap();
    }
    wgan_net::constrain(&shape, lip, &mut cp, &mut u, &mut v).unwrap();
    let mut dev =
        DeviceWgan::<T, _>::new(&ShimKernels, &shape, batch, &gp, &cp, &config, (u.clone(), v.clone()))
            .unwrap();
    let mut gnet = RefNet::new(&ga, gp, config.generator_opt);
    let mut cnet = RefNet::new(&ca, cp, config.critic_opt);
    let real: Vec<T> = (0..batch * features).map(|_| T::from_f64(3.0 * uniform(&mut rng) - 1.0)).collect();
    let mut work = vec![T::ZERO; shape.work_len(batch).unwrap()];
    let penalty = matches!(lip, Lipschitz::GradientPenalty { .. });
    let mut worst = 0.0f64;
    let mut note = |what: &str, a: &[T], b: &[T]| {
        assert_eq!(a.len(), b.len(), "{what}");
        // Relative to the array's own scale (clipped critics have gradients near 1e-6).
        let b = to_f64(b);
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "{what}: all zero");
        let d = rel_dev(a, &b) * scale.max(1.0) / scale;
        eprintln!(
            "wgan {} rule {rule} Z {latent} G {gen_hidden:?} X {features} C {critic_hidden:?} B {batch}: {what} {d:.3e}",
            T::SUFFIX
        );
        worst = worst.max(d);
    };
    for _ in 0..2 {
        let (mut z, mut t) = (vec![T::ZERO; batch * latent], vec![T::ZERO; batch]);
        draw_critic_noise(&mut rng, latent, &mut z, penalty.then_some(&mut t[..])).unwrap();
        let got = dev.critic_step(&real, &z, penalty.then_some(&t[..])).unwrap();
        let want = wgan_net::critic_step(
            &shape,
            lip,
            (&gnet.params, &gnet.wt),
            cnet.state(),
            (&mut u, &mut v),
            &real,
            &z,
            penalty.then_some(&t[..]),
            &mut work,
        )
        .unwrap();
        let stats =
            |s: &crabmix::kernels::models::CriticStats<T>| [s.d_real, s.d_fake, s.penalty, s.grad_norm];
        note("critic stats", &stats(&got), &stats(&want));
        note("critic grads", &dev.critic_grads().unwrap(), &cnet.grads);
        note("critic params", &dev.critic_params().unwrap(), &cnet.params);
    }
    let mut z = vec![T::ZERO; batch * latent];
    draw_critic_noise(&mut rng, latent, &mut z, None).unwrap();
    let got = dev.generator_step(&z).unwrap();
    let want =
        wgan_net::generator_step(&shape, gnet.state(), (&cnet.params, &cnet.wt), &z, &mut work).unwrap();
    note("generator loss", &[got], &[want]);
    note("generator grads", &dev.generator_grads().unwrap(), &gnet.grads);
    note("generator params", &dev.generator_params().unwrap(), &gnet.params);
    worst
}

/// Every Lipschitz rule at one tile (Z 2 → 6 → X 3, critic 3 → 4 → 4 → 1, B 20); then the
/// gradient penalty (the rule with its own kernels) at ragged tiles with three hidden
/// critic layers over two gradient chunks (Z 4 → 17 → 9 → X 5, critic 5 → 19 → 11 → 7 → 1,
/// B 130: 260 critic rows, chunks of 256). The shim starts 256 threads a block, so the shapes
/// stay small.
fn check_wgan_shapes<T: ShimMlpScalar>() -> f64 {
    let small = (0..3).fold(0.0f64, |w, rule| w.max(check_wgan::<T>(rule, 2, &[6], 3, &[4, 4], 20)));
    small.max(check_wgan::<T>(2, 4, &[17, 9], 5, &[19, 11, 7], 130))
}

#[test]
fn wgan_steps_f64_match_kernels_wgan_net() {
    let dev = check_wgan_shapes::<f64>();
    assert!(dev < 1e-12, "{dev}");
}

#[test]
fn wgan_steps_f32_match_kernels_wgan_net() {
    let dev = check_wgan_shapes::<f32>();
    assert!(dev < 1e-5, "{dev}");
}

/// `wgan train --backend cuda`'s loop (`wgan_model::train_on_device`) through the shim against
/// the CPU trainer (`wgan_model::train`) from the same seed, for every Lipschitz rule: the same
/// random draws, so the W₁ curves and the trained parameters agree up to f32 summation order.
#[test]
fn wgan_training_loop_on_the_device_follows_the_cpu_trainer() {
    use crabmix::train::wgan_model::{WganArch, WganModel, train, train_on_device};
    let mut g = Xoshiro256PlusPlus::seed_from_u64(5);
    // 200 rows of 3 features around two centres.
    let data: Vec<f32> = (0..200 * 3)
        .map(|k| if (k / 3) % 2 == 0 { 1.0 } else { -1.0 } + 0.3 * (uniform(&mut g) as f32 - 0.5))
        .collect();
    for config in
        [crabmix::train::wgan::ring_config_gp(), WganConfig::paper_clip(), WganConfig::spectral_norm()]
    {
        let run = |on_device: bool| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
            let arch = WganArch { features: 3, latent: 2, hidden: vec![16, 16], slope: 0.2 };
            let mut m = WganModel::new(arch, None, &mut rng).unwrap();
            let curve = if on_device {
                train_on_device(&ShimKernels, &mut m, &data, &config, 4, 32, &mut rng, |_, _| {})
            } else {
                train(&mut m, &data, &config, 4, 32, &mut rng, |_, _| {})
            }
            .unwrap();
            (curve, m)
        };
        let ((c_dev, m_dev), (c_cpu, m_cpu)) = (run(true), run(false));
        let d_curve = rel_dev(&c_dev, &c_cpu);
        let d_gen = rel_dev(&m_dev.generator, &to_f64(&m_cpu.generator));
        let d_critic = rel_dev(&m_dev.critic, &to_f64(&m_cpu.critic));
        eprintln!(
            "{:?}: curve {d_curve:.2e}, generator {d_gen:.2e}, critic {d_critic:.2e}",
            config.lipschitz
        );
        assert_eq!(c_dev.len(), 4);
        assert!(d_curve < 3e-4 && d_gen < 3e-4 && d_critic < 3e-4, "{d_curve} {d_gen} {d_critic}");
    }
}
