//! `crabmix-gpu-check`: the lent-GPU check of the CUDA backend, built here (feature `cuda`,
//! x86_64) and carried to the device machine, which has no Rust (bench/gpu/run-gpu-check.sh).
//!
//! * `check OUT.json` — fresh random models and data (seed from the clock, printed) at several
//!   sizes, full and diag, f32 and f64: the device E-step's statistics and log-likelihood, the
//!   log density, the KL batch and the Philox sampler against the CPU backend / kernels crate,
//!   every device output buffer poisoned (0xff bytes = NaN) before the kernels run.
//! * `bench N D K KIND OUT.json` — one EM iteration (E-step pass on the device + M-step on the
//!   host) on N × D f32 data, median of 5 after 2 warm-ups, with the device's fp32 FMA and
//!   memory-bandwidth roofline computed from its attributes.

use crabmix::backend::GpuScalar;
use crabmix::cuda::{CudaDevice, CudaEStep};
use crabmix::gmm::{Mixture, ParallelEStep, Stats};
use crabmix::kernels::gaussian::kl::exp_excess;
use crabmix::kernels::gmm::{CovarianceKind, EStep, Shape};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

fn uniform(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Means ~U(−3, 3)·spread per coordinate, covariances A Aᵀ/D + 0.3 I (diag: the diagonal).
fn random_model(kind: CovarianceKind, k: usize, d: usize, seed: u64) -> Mixture<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut w: Vec<f64> = (0..k).map(|_| 0.5 + uniform(&mut rng)).collect();
    let t: f64 = w.iter().sum();
    w.iter_mut().for_each(|v| *v /= t);
    let means: Vec<f64> = (0..k * d).map(|_| 6.0 * (uniform(&mut rng) - 0.5)).collect();
    let mut covs = vec![0.0; k * d * d];
    for c in 0..k {
        let a: Vec<f64> = (0..d * d).map(|_| 2.0 * uniform(&mut rng) - 1.0).collect();
        for i in 0..d {
            for j in 0..d {
                if kind == CovarianceKind::Full || i == j {
                    let s: f64 = (0..d).map(|m| a[i * d + m] * a[j * d + m]).sum::<f64>() / d as f64;
                    covs[c * d * d + i * d + j] = s + if i == j { 0.3 } else { 0.0 };
                }
            }
        }
    }
    Mixture::new(kind, d, w, means, covs).expect("SPD by construction")
}

/// N samples of `model` drawn in parallel (one generator per 65536-row chunk).
fn sample<T: GpuScalar>(model: &Mixture<f64>, n: usize, seed: u64) -> Vec<T> {
    let d = model.shape().features;
    let mut out = vec![T::ZERO; n * d];
    out.par_chunks_mut(65536 * d).enumerate().for_each(|(c, chunk)| {
        let mut rng =
            Xoshiro256PlusPlus::seed_from_u64(seed ^ (c as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (x, _) = model.sample(chunk.len() / d, &mut rng);
        chunk.iter_mut().zip(x).for_each(|(o, v)| *o = T::from_f64(v));
    });
    out
}

fn pass<T: GpuScalar>(e: &mut dyn EStep<T>, model: &Mixture<T>) -> Result<(Vec<f64>, f64), String> {
    let mut s = Stats::<T>::new(model.shape());
    let mut v = s.view_mut();
    v.reset(model.means()).map_err(|e| e.to_string())?;
    e.accumulate(&model.view(), &mut v).map_err(|e| e.to_string())?;
    let r = v.as_ref();
    let all = r.resp_sums().iter().chain(r.s1()).chain(r.s2()).map(|x| x.to_f64()).collect();
    Ok((all, r.totals().log_likelihood_sum().to_f64()))
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| if x.is_finite() { (x - y).abs() } else { f64::INFINITY })
        .fold(0.0, f64::max)
        / scale
}

fn check_case<T: GpuScalar>(
    dev: &Arc<CudaDevice>,
    kind: CovarianceKind,
    n: usize,
    d: usize,
    k: usize,
    seed: u64,
    tol: f64,
) -> Value {
    let model64 = random_model(kind, k, d, seed);
    let model = model64.cast::<T>().unwrap();
    let data = sample::<T>(&model64, n, seed + 1);
    let mut gpu = CudaEStep::new(dev, &data, d).unwrap();
    let (g, g_ll) = pass(&mut gpu, &model).unwrap_or_else(|e| panic!("{e}: {:?}", gpu.take_error()));
    let (c, c_ll) = pass(&mut ParallelEStep::new(&data, d), &model).unwrap();
    let stats_dev = max_rel(&g, &c);
    let ll_dev = (g_ll - c_ll).abs() / c_ll.abs();
    let dens_gpu: Vec<f64> =
        dev.log_density(&model.view(), &data).unwrap().iter().map(|v| v.to_f64()).collect();
    let dens_cpu: Vec<f64> = model.score_samples(&data).unwrap().iter().map(|v| v.to_f64()).collect();
    let dens_dev = max_rel(&dens_gpu, &dens_cpu);
    let ok = stats_dev <= tol && ll_dev <= tol && dens_dev <= tol;
    println!(
        "{} {:4} {} N={n:>8} D={d:>2} K={k:>2}: stats {stats_dev:.2e} ln-lik {ll_dev:.2e} density {dens_dev:.2e} (tol {tol:.0e})",
        if ok { "ok  " } else { "FAIL" },
        kind.name(),
        T::NAME
    );
    json!({"type": T::NAME, "kind": kind.name(), "n": n, "d": d, "k": k, "seed": seed, "tol": tol,
           "stats_rel_dev": stats_dev, "loglik_rel_dev": ll_dev, "density_rel_dev": dens_dev, "ok": ok})
}

fn check_gaussian(dev: &Arc<CudaDevice>, seed: u64) -> Value {
    let (n, d) = (100_000, 8);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mu: Vec<f32> = (0..n * d).map(|_| (4.0 * uniform(&mut rng) - 2.0) as f32).collect();
    let lv: Vec<f32> = (0..n * d).map(|_| (6.0 * uniform(&mut rng) - 3.0) as f32).collect();
    let kl = dev.kl_diag_std_normal(&mu, &lv, d).unwrap();
    let mut kl_dev = 0.0f64;
    for r in 0..n {
        let want: f64 =
            (0..d).map(|i| exp_excess(lv[r * d + i] as f64) + (mu[r * d + i] as f64).powi(2)).sum::<f64>()
                * 0.5;
        kl_dev = kl_dev.max((kl[r] as f64 - want).abs() / want.max(1.0));
    }
    let (eps, z) = dev.reparam_diag_philox(&mu, &lv, seed).unwrap();
    let (eps2, _) = dev.reparam_diag_philox(&mu, &lv, seed).unwrap();
    let m = eps.iter().map(|&e| e as f64).sum::<f64>() / eps.len() as f64;
    let var = eps.iter().map(|&e| (e as f64 - m).powi(2)).sum::<f64>() / eps.len() as f64;
    let z_dev = (0..eps.len())
        .map(|e| (z[e] - (mu[e] + (0.5 * lv[e]).exp() * eps[e])).abs() as f64)
        .fold(0.0, f64::max);
    let sd = (1.0 / eps.len() as f64).sqrt();
    let ok = kl_dev < 1e-5
        && eps == eps2
        && m.abs() < 5.0 * sd
        && (var - 1.0).abs() < 5.0 * 2f64.sqrt() * sd
        && z_dev < 1e-4;
    println!(
        "{} KL f32 dev {kl_dev:.2e}; Philox ε mean {m:+.2e} var {var:.5} reproducible {}; z dev {z_dev:.1e}",
        if ok { "ok  " } else { "FAIL" },
        eps == eps2
    );
    json!({"kl_rel_dev": kl_dev, "eps_mean": m, "eps_var": var, "reproducible": eps == eps2, "z_dev": z_dev, "ok": ok})
}

fn roofline(dev: &CudaDevice) -> (f64, f64) {
    use cudarc::driver::sys::CUdevice_attribute as A;
    let ctx = dev.context();
    let get = |a| ctx.attribute(a).unwrap_or(0) as f64;
    let sms = get(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
    let clock_khz = get(A::CU_DEVICE_ATTRIBUTE_CLOCK_RATE);
    let mem_khz = get(A::CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE);
    let bus_bits = get(A::CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH);
    // Hopper: 128 fp32 lanes per SM, 2 flops per FMA; DDR: 2 transfers per memory clock.
    (sms * 128.0 * 2.0 * clock_khz * 1e3, 2.0 * mem_khz * 1e3 * bus_bits / 8.0)
}

fn bench(dev: &Arc<CudaDevice>, n: usize, d: usize, k: usize, kind: CovarianceKind) -> Value {
    let model64 = random_model(kind, k, d, 7);
    let data = sample::<f32>(&model64, n, 8);
    let model = model64.cast::<f32>().unwrap();
    let mut gpu = CudaEStep::new(dev, &data, d).unwrap();
    let launch = gpu.launch(Shape::new(k, d, kind)).unwrap();
    let mut times = Vec::new();
    for it in 0..7 {
        let t = Instant::now();
        let mut s = Stats::<f32>::new(model.shape());
        let mut v = s.view_mut();
        v.reset(model.means()).unwrap();
        gpu.accumulate(&model.view(), &mut v).unwrap_or_else(|e| panic!("{e}: {:?}", gpu.take_error()));
        let mut next = model.clone();
        v.finish(&mut next.view_mut(), 1e-6, true).unwrap();
        if it >= 2 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    let secs = times[times.len() / 2];
    // Useful flops per sample and component: Mahalanobis + statistics multiply-adds, 2 flops each.
    let p = if kind == CovarianceKind::Full { d * (d + 1) / 2 } else { d };
    let flops = 2.0 * (n * k) as f64 * (p + d + p + d + 1) as f64;
    let bytes = (n * d * 4) as f64;
    let (peak_flops, peak_bw) = roofline(dev);
    let roof = (flops / peak_flops).max(bytes / peak_bw);
    println!(
        "bench {} N={n} D={d} K={k}: {:.3} ms per EM iteration, roofline {:.3} ms ({:.1} %)",
        kind.name(),
        secs * 1e3,
        roof * 1e3,
        100.0 * roof / secs
    );
    json!({"n": n, "d": d, "k": k, "kind": kind.name(), "type": "f32", "seconds_median": secs, "seconds_all": times,
           "useful_flops": flops, "bytes": bytes, "peak_fp32_flops": peak_flops, "peak_bytes_per_s": peak_bw,
           "roofline_seconds": roof, "roofline_fraction": roof / secs, "tile_rows": launch.tile_rows, "grid": launch.grid})
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dev = match CudaDevice::open(0) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("crabmix-gpu-check: {e}");
            std::process::exit(2);
        }
    };
    println!("device: {} ({})", dev.name(), dev.arch());
    let result = match args.get(1).map(String::as_str) {
        Some("check") => {
            let seed =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
            println!("seed {seed}");
            let mut cases = Vec::new();
            for kind in [CovarianceKind::Full, CovarianceKind::Diag] {
                for &(n, d, k) in &[
                    (1usize, 2usize, 1usize),
                    (1000, 2, 4),
                    (100_003, 16, 16),
                    (1_000_000, 2, 4),
                    (1_000_000, 16, 16),
                ] {
                    cases.push(check_case::<f32>(
                        &dev,
                        kind,
                        n,
                        d,
                        k,
                        seed ^ (n * 31 + d * 7 + k) as u64,
                        2e-4,
                    ));
                    cases.push(check_case::<f64>(
                        &dev,
                        kind,
                        n,
                        d,
                        k,
                        seed ^ (n * 31 + d * 7 + k + 1) as u64,
                        1e-9,
                    ));
                }
            }
            let gauss = check_gaussian(&dev, seed);
            let ok = cases.iter().all(|c| c["ok"] == true) && gauss["ok"] == true;
            json!({"device": dev.name(), "arch": dev.arch(), "seed": seed, "estep_and_density": cases, "gaussian": gauss, "ok": ok})
        }
        Some("bench") if args.len() == 6 => {
            let p = |i: usize| args[i].parse::<usize>().expect("N D K are integers");
            let kind = if args[5] == "diag" { CovarianceKind::Diag } else { CovarianceKind::Full };
            let r = bench(&dev, p(2), p(3), p(4), kind);
            json!({"device": dev.name(), "arch": dev.arch(), "bench": r, "ok": true})
        }
        _ => {
            eprintln!("usage: crabmix-gpu-check check OUT.json | bench N D K full|diag OUT.json");
            std::process::exit(2);
        }
    };
    let out = args.last().unwrap();
    std::fs::write(out, serde_json::to_string_pretty(&result).unwrap()).expect("write the JSON");
    if result["ok"] != true {
        std::process::exit(1);
    }
}
