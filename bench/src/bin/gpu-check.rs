//! `gpu-check`: the lent-GPU check of the CUDA backend, built here (`crabmix-bench` feature `cuda`,
//! x86_64) and carried to the device machine, which has no Rust (bench/gpu/run-gpu-check.sh).
//! Arguments are parsed by clap: an unknown flag or subcommand is a usage error (exit 2).
//!
//! * `check OUT.json` — fresh random models and data (seed from the clock, printed) at several
//!   sizes, full and diag, f32 and f64: the device E-step's statistics and log-likelihood, the
//!   log density, the KL batch and the Philox sampler against the CPU backend / kernels crate,
//!   every device output buffer poisoned (0xff bytes = NaN) before the kernels run; and the MLP
//!   kernels (a 2 → 32 → 32 → 2 network's forward, MSE backward and Adam step on a batch of 4099
//!   rows, several reduction chunks) and the batched VAE step (`DeviceVae`, batch 1000; Bernoulli
//!   and learned-variance Gaussian) against the kernels crate's `mlp`, `VaeTrainer::step_with` and
//!   `vae_net::step` on the same weights, data and ε, and the WGAN-GP steps (`DeviceWgan`, batch
//!   1024) against `wgan_net::critic_step` / `generator_step` on the same noise. The
//!   shapes cover the three E-step kernels (registers, tiled, generic). Then whole fits through
//!   `backend::fit` (k-means++ on the host, the resident EM loop on the device) against the CPU
//!   fit with the same seed.
//! * `bench N D K KIND OUT.json` — one EM iteration of the resident loop (E-step, reduction,
//!   M-step and weights on the device, a 5-word read) on N × D f32 data, median of 11 after 3
//!   warm-ups, and the E-step pass alone, with the device's fp32 FMA and memory-bandwidth
//!   roofline computed from its attributes.

use clap::{Parser, Subcommand, ValueEnum};
use crabmix::backend::GpuScalar;
use crabmix::backend::Selected;
use crabmix::device::cuda::{CudaDevice, CudaEStep, CudaEm};
use crabmix::device::layout::{EStepKernel, EStepLaunch};
use crabmix::device::traits::{GmmDevice, Slot};
use crabmix::gmm::{Mixture, ParallelEStep, Stats};
use crabmix::kernels::gaussian::kl::exp_excess;
use crabmix::kernels::gmm::FitConfig;
use crabmix::kernels::gmm::{CovarianceKind, EStep, Shape};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crabmix::device::mlp::{DenseSpec, DeviceMlp, DeviceVae};
use crabmix::device::traits::{ActivationKind, MlpKernels, device_adam};
use crabmix::kernels::mlp::loss::mse;
use crabmix::kernels::mlp::optim::Adam;
use crabmix::kernels::mlp::{Act, Dense, Init, Layer, LeakyRelu, Tanh};
use crabmix::kernels::models::{GaussianHead, Likelihood, Vae, VaeTrainer};
use crabmix::kernels::{chain, chain_type};

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
    let data = sample::<T>(&model64, n, seed + 1);
    check_data(dev, &model64, &data, seed, tol)
}

/// A sample ~1e36 from a tight, correlated component in f32 overflows that component's
/// Mahalanobis sum (a NaN log-probability), which counts as zero density on the GPU as on the
/// CPU: half the rows sit at (1e36, 1e36), explained by the other component.
fn check_overflow_case(dev: &Arc<CudaDevice>, seed: u64) -> Value {
    let covs = vec![1e-6, 0.5e-6, 0.5e-6, 1e-6, 1.0, 0.0, 0.0, 1.0];
    let model64 = Mixture::new(CovarianceKind::Full, 2, vec![0.5, 0.5], vec![0.0, 0.0, 1e36, 1e36], covs)
        .expect("SPD by construction");
    let data = sample::<f32>(&model64, 100_003, seed);
    check_data(dev, &model64, &data, seed, 2e-4)
}

/// One E-step pass and the log density of `data` under `model64` (cast to T), GPU against CPU.
fn check_data<T: GpuScalar>(
    dev: &Arc<CudaDevice>,
    model64: &Mixture<f64>,
    data: &[T],
    seed: u64,
    tol: f64,
) -> Value {
    let shape = model64.shape();
    let (kind, n, d, k) = (shape.kind, data.len() / shape.features, shape.features, shape.components);
    let model = model64.cast::<T>().unwrap();
    let mut gpu = CudaEStep::new(dev, data, d).unwrap();
    let (g, g_ll) = pass(&mut gpu, &model).unwrap_or_else(|e| panic!("{e}: {:?}", gpu.take_error()));
    let (c, c_ll) = pass(&mut ParallelEStep::new(data, d), &model).unwrap();
    let stats_dev = max_rel(&g, &c);
    let ll_dev = (g_ll - c_ll).abs() / c_ll.abs();
    let dens_gpu: Vec<f64> =
        dev.log_density(&model.view(), data).unwrap().iter().map(|v| v.to_f64()).collect();
    let dens_cpu: Vec<f64> = model.score_samples(data).unwrap().iter().map(|v| v.to_f64()).collect();
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

fn flat<T: GpuScalar, L: Layer<T>>(net: &L) -> Vec<f64> {
    let mut v = Vec::new();
    net.visit_params(&mut |p| v.push(p.to_f64()));
    v
}

fn to_f64<T: GpuScalar>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// The MLP kernels on the device vs the kernels crate: a 2 → 32 → 32 → 2 network (tanh, leaky
/// ReLU), batch 4099 (17 reduction chunks, a ragged last tile), MSE loss: output, ∂L/∂θ, ∂L/∂X
/// and the parameters after one Adam step; max deviation relative to each array's scale.
fn check_mlp<T: GpuScalar>(dev: &Arc<CudaDevice>, seed: u64, tol: f64) -> Value {
    const B: usize = 4099;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut net = chain!(
        Dense::<T, 2, 32>::zeros(),
        Act::<_, 32>(Tanh),
        Dense::<T, 32, 32>::zeros(),
        Act::<_, 32>(LeakyRelu { slope: T::from_f64(0.2) }),
        Dense::<T, 32, 2>::zeros()
    );
    net.init(Init::XavierNormal, &mut rng);
    net.for_each_param(&mut |p| *p += T::from_f64(0.1 * (uniform(&mut rng) - 0.5)));
    let x: Vec<T> = (0..B * 2).map(|_| T::from_f64(4.0 * uniform(&mut rng) - 2.0)).collect();
    let t: Vec<T> = (0..B * 2).map(|_| T::from_f64(2.0 * uniform(&mut rng) - 1.0)).collect();
    let scale = T::ONE / T::from_usize(B);
    let (mut grads, mut cache) = (net.zeros_like(), net.new_cache_of());
    let (mut y_ref, mut dx_ref) = (Vec::new(), Vec::new());
    for b in 0..B {
        let y = net.forward(&[x[2 * b], x[2 * b + 1]], &mut cache);
        let mut g = [T::ZERO; 2];
        mse(&y, &[t[2 * b], t[2 * b + 1]], &mut g);
        dx_ref.extend(to_f64(&net.backward(&cache, &g.map(|v| v * scale), &mut grads)));
        y_ref.extend(to_f64(&y));
    }
    let mut stepped = net;
    Adam::new(&net, T::from_f64(1e-3)).step(&mut stepped, &grads);
    let run = || -> Result<[f64; 4], crabmix::backend::BackendError> {
        let specs = [
            DenseSpec::new(2, 32, ActivationKind::Tanh),
            DenseSpec::new(32, 32, ActivationKind::LeakyRelu(0.2)),
            DenseSpec::new(32, 2, ActivationKind::Identity),
        ];
        let mut mlp = DeviceMlp::<T, _>::new(
            dev,
            &specs,
            B,
            &flat(&net).iter().map(|&v| T::from_f64(v)).collect::<Vec<_>>(),
        )?;
        let (xd, td) = (dev.upload(&x)?, dev.upload(&t)?);
        let (mut loss, mut g, mut dx) = (dev.alloc(B)?, dev.alloc(B * 2)?, dev.alloc(B * 2)?);
        // SAFETY: xd, td, g, dx hold B·2 values and loss B, as the network (2 in, 2 out, batch B)
        // and mse_rows require.
        unsafe {
            mlp.forward(&xd)?;
            MlpKernels::<T>::mse_rows(dev, mlp.output(), &td, B, 2, scale, &mut loss, &mut g)?;
            mlp.backward(&xd, &g, Some((&mut dx, false)))?;
        }
        let y = to_f64(&dev.download(mlp.output(), B * 2)?);
        let gr = to_f64(&mlp.grads()?);
        mlp.adam_step(&device_adam(T::from_f64(1e-3)))?;
        let p = to_f64(&mlp.params()?);
        let dxv = to_f64(&MlpKernels::<T>::download(dev, &dx, B * 2)?);
        Ok([
            max_rel(&y, &y_ref),
            max_rel(&gr, &flat(&grads)),
            max_rel(&dxv, &dx_ref),
            max_rel(&p, &flat(&stepped)),
        ])
    };
    let (devs, err) = match run() {
        Ok(d) => (d, None),
        Err(e) => ([f64::NAN; 4], Some(e.to_string())),
    };
    let ok = err.is_none() && devs.iter().all(|&d| d <= tol);
    println!(
        "{} MLP {} 2-32-32-2 B={B}: output {:.1e} grads {:.1e} dX {:.1e} Adam params {:.1e} (tol {tol:.0e}){}",
        if ok { "ok  " } else { "FAIL" },
        T::NAME,
        devs[0],
        devs[1],
        devs[2],
        devs[3],
        err.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
    );
    json!({"type": T::NAME, "batch": B, "output_rel_dev": devs[0], "grads_rel_dev": devs[1], "dx_rel_dev": devs[2],
           "adam_params_rel_dev": devs[3], "tol": tol, "error": err, "ok": ok})
}

/// One batched VAE step on the device with the learned-variance Gaussian (X = 16, H = 64 ReLU,
/// Z = 4, batch 1000, ln σ² ∈ [−0.6, 0.6]) vs the kernels' runtime-shaped `vae_net::step` fed the
/// device's ε: ELBO terms, gradient (ln σ² included), parameters after Adam.
fn check_gaussian_vae<T: GpuScalar>(dev: &Arc<CudaDevice>, seed: u64, tol: f64) -> Value {
    use crabmix::kernels::mlp::optim::SliceAdam;
    use crabmix::kernels::mlp::{ActivationKind as K, Architecture, LayerSpec};
    use crabmix::kernels::models::vae_net::{self, VaeLikelihood, VaeShape};
    const B: usize = 1000;
    let enc = [LayerSpec::<T>::new(16, 64, K::Relu)];
    let dec = [LayerSpec::<T>::new(4, 64, K::Relu), LayerSpec::new(64, 16, K::Identity)];
    let lik = VaeLikelihood::GaussianLearned;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut run = || -> Result<[f64; 3], crabmix::backend::BackendError> {
        let k = crabmix::backend::BackendError::Kernels;
        let shape =
            VaeShape::new(Architecture::new(&enc).map_err(k)?, 4, Architecture::new(&dec).map_err(k)?, lik)
                .map_err(k)?;
        let n = shape.params_len();
        let mut params = vec![T::ZERO; n];
        shape.init_params(&mut params, Init::XavierNormal, &mut rng).map_err(k)?;
        for p in &mut params[shape.param_ranges()[4].clone()] {
            *p = T::from_f64(1.2 * uniform(&mut rng) - 0.6);
        }
        let data: Vec<T> = (0..B * 16).map(|_| T::from_f64(4.0 * uniform(&mut rng) - 2.0)).collect();
        let lr = T::from_f64(1e-3);
        let body = [DenseSpec::new(16, 64, ActivationKind::Relu)];
        let ddec =
            [DenseSpec::new(4, 64, ActivationKind::Relu), DenseSpec::new(64, 16, ActivationKind::Identity)];
        let mut d =
            DeviceVae::<T, _>::with_likelihood(dev, &body, 4, &ddec, B, &params, lik, device_adam(lr))?;
        let terms = d.step(&data, seed)?;
        let eps = d.last_eps()?;
        let mut wt = vec![T::ZERO; shape.weights_len()];
        shape.transpose_weights(&params, &mut wt).map_err(k)?;
        let mut work = vec![T::ZERO; shape.work_len(B).map_err(k)?];
        let (mut grads, mut m, mut v) = (vec![T::ZERO; n], vec![T::ZERO; n], vec![T::ZERO; n]);
        let mut adam = SliceAdam::new(lr);
        let want = vae_net::step(
            &shape,
            &mut params,
            &mut wt,
            &data,
            &eps,
            B,
            &mut work,
            &mut grads,
            &mut adam,
            &mut m,
            &mut v,
        )
        .map_err(k)?;
        Ok([
            max_rel(&to_f64(&[terms.log_likelihood, terms.kl]), &to_f64(&[want.log_likelihood, want.kl])),
            max_rel(&to_f64(&d.grads()?), &to_f64(&grads)),
            max_rel(&to_f64(&d.params()?), &to_f64(&params)),
        ])
    };
    let (devs, err) = match run() {
        Ok(d) => (d, None),
        Err(e) => ([f64::NAN; 3], Some(e.to_string())),
    };
    let ok = err.is_none() && devs.iter().all(|&d| d <= tol);
    println!(
        "{} Gaussian-learned VAE step {} B={B}: ELBO terms {:.1e} grads {:.1e} Adam params {:.1e} (tol {tol:.0e}){}",
        if ok { "ok  " } else { "FAIL" },
        T::NAME,
        devs[0],
        devs[1],
        devs[2],
        err.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
    );
    json!({"type": T::NAME, "batch": B, "likelihood": "gaussian-learned", "elbo_rel_dev": devs[0],
           "grads_rel_dev": devs[1], "adam_params_rel_dev": devs[2], "tol": tol, "error": err, "ok": ok})
}

/// Two WGAN-GP critic steps and one generator step on the device (`DeviceWgan`: generator
/// 4 → 64 → 64 → 5 ReLU, critic 5 → 64 → 64 → 1 leaky ReLU 0.2, batch 1024, so 2048 critic rows
/// in eight gradient chunks) vs the kernels' `wgan_net::critic_step` / `generator_step` on the same
/// parameters, data and noise: statistics, both gradients, parameters after each Adam update.
fn check_wgan<T: GpuScalar>(dev: &Arc<CudaDevice>, seed: u64, tol: f64) -> Value {
    use crabmix::device::wgan::DeviceWgan;
    use crabmix::kernels::mlp::batch::transpose_weights;
    use crabmix::kernels::mlp::{ActivationKind as K, Architecture, LayerSpec};
    use crabmix::kernels::models::WganConfig;
    use crabmix::kernels::models::wgan_net::{self, NetState, SliceOptimizer, WganShape, draw_critic_noise};
    const B: usize = 1024;
    let leaky = K::LeakyRelu { slope: T::from_f64(0.2) };
    let gl = [
        LayerSpec::<T>::new(4, 64, K::Relu),
        LayerSpec::new(64, 64, K::Relu),
        LayerSpec::new(64, 5, K::Identity),
    ];
    let cl = [
        LayerSpec::<T>::new(5, 64, leaky),
        LayerSpec::new(64, 64, leaky),
        LayerSpec::new(64, 1, K::Identity),
    ];
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut run = || -> Result<[f64; 3], crabmix::backend::BackendError> {
        let k = crabmix::backend::BackendError::Kernels;
        let config = WganConfig::<T>::gradient_penalty().with_lr(T::from_f64(1e-3));
        let (ga, ca) = (Architecture::new(&gl).map_err(k)?, Architecture::new(&cl).map_err(k)?);
        let shape = WganShape::new(ga, ca, config.lipschitz).map_err(k)?;
        let mut init = |arch: &Architecture<'_, T>| -> Vec<T> {
            let mut p = vec![T::ZERO; arch.params_len()];
            crabmix::kernels::mlp::init_params(arch, &mut p, Init::HeNormal, &mut rng).expect("sized");
            p
        };
        let (mut gp, mut cp) = (init(&ga), init(&ca));
        let mut d = DeviceWgan::<T, _>::new(dev, &shape, B, &gp, &cp, &config, (Vec::new(), Vec::new()))?;
        let wt = |arch: &Architecture<'_, T>, p: &[T]| {
            let mut w = vec![T::ZERO; arch.weights_len()];
            transpose_weights(arch, p, &mut w).map(|_| w)
        };
        let (mut gwt, mut cwt) = (wt(&ga, &gp).map_err(k)?, wt(&ca, &cp).map_err(k)?);
        let (ng, nc) = (gp.len(), cp.len());
        let (mut gg, mut g1, mut g2) = (vec![T::ZERO; ng], vec![T::ZERO; ng], vec![T::ZERO; ng]);
        let (mut gc, mut c1, mut c2) = (vec![T::ZERO; nc], vec![T::ZERO; nc], vec![T::ZERO; nc]);
        let (mut go, mut co) =
            (SliceOptimizer::new(config.generator_opt), SliceOptimizer::new(config.critic_opt));
        let real: Vec<T> = (0..B * 5).map(|_| T::from_f64(4.0 * uniform(&mut rng) - 2.0)).collect();
        let mut work = vec![T::ZERO; shape.work_len(B).map_err(k)?];
        let mut devs = [0.0f64; 3];
        for _ in 0..2 {
            let (mut z, mut t) = (vec![T::ZERO; B * 4], vec![T::ZERO; B]);
            draw_critic_noise(&mut rng, 4, &mut z, Some(&mut t[..])).map_err(k)?;
            let got = d.critic_step(&real, &z, Some(&t))?;
            let state = NetState {
                params: &mut cp,
                wt: &mut cwt,
                grads: &mut gc,
                opt: &mut co,
                s1: &mut c1,
                s2: &mut c2,
            };
            let want = wgan_net::critic_step(
                &shape,
                config.lipschitz,
                (&gp, &gwt),
                state,
                (&mut [], &mut []),
                &real,
                &z,
                Some(&t),
                &mut work,
            )
            .map_err(k)?;
            let st = |s: &crabmix::kernels::models::CriticStats<T>| {
                to_f64(&[s.d_real, s.d_fake, s.penalty, s.grad_norm])
            };
            devs[0] = devs[0].max(max_rel(&st(&got), &st(&want)));
            devs[1] = devs[1].max(max_rel(&to_f64(&d.critic_grads()?), &to_f64(&gc)));
            devs[2] = devs[2].max(max_rel(&to_f64(&d.critic_params()?), &to_f64(&cp)));
        }
        let mut z = vec![T::ZERO; B * 4];
        draw_critic_noise(&mut rng, 4, &mut z, None).map_err(k)?;
        let got = d.generator_step(&z)?;
        let state = NetState {
            params: &mut gp,
            wt: &mut gwt,
            grads: &mut gg,
            opt: &mut go,
            s1: &mut g1,
            s2: &mut g2,
        };
        let want = wgan_net::generator_step(&shape, state, (&cp, &cwt), &z, &mut work).map_err(k)?;
        devs[0] = devs[0].max(max_rel(&to_f64(&[got]), &to_f64(&[want])));
        devs[1] = devs[1].max(max_rel(&to_f64(&d.generator_grads()?), &to_f64(&gg)));
        devs[2] = devs[2].max(max_rel(&to_f64(&d.generator_params()?), &to_f64(&gp)));
        Ok(devs)
    };
    let (devs, err) = match run() {
        Ok(d) => (d, None),
        Err(e) => ([f64::NAN; 3], Some(e.to_string())),
    };
    let ok = err.is_none() && devs.iter().all(|&d| d <= tol);
    println!(
        "{} WGAN-GP steps {} B={B}: stats/loss {:.1e} grads {:.1e} Adam params {:.1e} (tol {tol:.0e}){}",
        if ok { "ok  " } else { "FAIL" },
        T::NAME,
        devs[0],
        devs[1],
        devs[2],
        err.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
    );
    json!({"type": T::NAME, "batch": B, "model": "wgan-gp", "stats_rel_dev": devs[0],
           "grads_rel_dev": devs[1], "adam_params_rel_dev": devs[2], "tol": tol, "error": err, "ok": ok})
}

/// One batched VAE step on the device (X = 16, H = 64, Z = 4, batch 1000, Bernoulli, tanh) vs the
/// crate's `VaeTrainer::step_with` fed the device's ε: ELBO terms, gradient, parameters after Adam.
fn check_vae<T: GpuScalar>(dev: &Arc<CudaDevice>, seed: u64, tol: f64) -> Value {
    const B: usize = 1000;
    type Enc<T> = chain_type!(Dense<T, 16, 64>, Act<Tanh, 64>, GaussianHead<T, 64, 4>);
    type Dec<T> = chain_type!(Dense<T, 4, 64>, Act<Tanh, 64>, Dense<T, 64, 16>);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut vae: Vae<Enc<T>, Dec<T>> = Vae {
        encoder: chain!(Dense::zeros(), Act(Tanh), GaussianHead::zeros()),
        decoder: chain!(Dense::zeros(), Act(Tanh), Dense::zeros()),
        likelihood: Likelihood::BernoulliLogits,
    };
    vae.init(Init::XavierNormal, &mut rng);
    let mut params: Vec<T> = flat(&vae.encoder).iter().map(|&v| T::from_f64(v)).collect();
    params.extend(flat(&vae.decoder).iter().map(|&v| T::from_f64(v)));
    let data: Vec<T> = (0..B * 16).map(|_| T::from_f64(uniform(&mut rng))).collect();
    let batch: Vec<[T; 16]> = data.chunks(16).map(|r| core::array::from_fn(|i| r[i])).collect();
    let lr = T::from_f64(1e-3);
    let mut trainer = VaeTrainer::new(&vae, lr);
    let mut run = || -> Result<[f64; 3], crabmix::backend::BackendError> {
        let body = [DenseSpec::new(16, 64, ActivationKind::Tanh)];
        let dec =
            [DenseSpec::new(4, 64, ActivationKind::Tanh), DenseSpec::new(64, 16, ActivationKind::Identity)];
        let mut d = DeviceVae::<T, _>::new(dev, &body, 4, &dec, B, &params, device_adam(lr))?;
        let terms = d.step(&data, seed)?;
        let eps = d.last_eps()?;
        let mut row = 0;
        let want = trainer
            .step_with(&mut vae, &batch, |e: &mut [T; 4]| {
                e.copy_from_slice(&eps[4 * row..4 * row + 4]);
                row += 1;
            })
            .map_err(crabmix::backend::BackendError::Kernels)?;
        let mut g_ref = flat(&trainer.gradient().encoder);
        g_ref.extend(flat(&trainer.gradient().decoder));
        let mut p_ref = flat(&vae.encoder);
        p_ref.extend(flat(&vae.decoder));
        Ok([
            max_rel(&to_f64(&[terms.log_likelihood, terms.kl]), &to_f64(&[want.log_likelihood, want.kl])),
            max_rel(&to_f64(&d.grads()?), &g_ref),
            max_rel(&to_f64(&d.params()?), &p_ref),
        ])
    };
    let (devs, err) = match run() {
        Ok(d) => (d, None),
        Err(e) => ([f64::NAN; 3], Some(e.to_string())),
    };
    let ok = err.is_none() && devs.iter().all(|&d| d <= tol);
    println!(
        "{} VAE step {} B={B}: ELBO terms {:.1e} grads {:.1e} Adam params {:.1e} (tol {tol:.0e}){}",
        if ok { "ok  " } else { "FAIL" },
        T::NAME,
        devs[0],
        devs[1],
        devs[2],
        err.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
    );
    json!({"type": T::NAME, "batch": B, "elbo_rel_dev": devs[0], "grads_rel_dev": devs[1],
           "adam_params_rel_dev": devs[2], "tol": tol, "error": err, "ok": ok})
}

fn roofline(dev: &CudaDevice) -> (f64, f64) {
    use crabmix::device::cuda::cudarc::driver::sys::CUdevice_attribute as A;
    let ctx = dev.context();
    let get = |a| ctx.attribute(a).unwrap_or(0) as f64;
    let sms = get(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
    let clock_khz = get(A::CU_DEVICE_ATTRIBUTE_CLOCK_RATE);
    let mem_khz = get(A::CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE);
    let bus_bits = get(A::CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH);
    // Hopper: 128 fp32 lanes per SM, 2 flops per FMA; DDR: 2 transfers per memory clock.
    (sms * 128.0 * 2.0 * clock_khz * 1e3, 2.0 * mem_khz * 1e3 * bus_bits / 8.0)
}

/// Median seconds of `f` over `reps` runs after `warm` unmeasured ones.
fn median_secs(warm: usize, reps: usize, mut f: impl FnMut()) -> (f64, Vec<f64>) {
    for _ in 0..warm {
        f();
    }
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    let all = times.clone();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], all)
}

/// One EM iteration of the resident loop as `device_em_loop` runs it — E-step pass, reduction,
/// pass summary, M-step, weights, the 5-word read that ends it, the model swap — on N × D f32
/// data, median of 11 after 3 warm-ups (EM keeps iterating: every iteration does the same work);
/// and the E-step pass alone.
fn bench(dev: &Arc<CudaDevice>, n: usize, d: usize, k: usize, kind: CovarianceKind) -> Value {
    let model64 = random_model(kind, k, d, 7);
    let data = sample::<f32>(&model64, n, 8);
    let model = model64.cast::<f32>().unwrap();
    let shape = Shape::new(k, d, kind);
    let mut em = CudaEm::new(dev, &data, shape).unwrap_or_else(|e| panic!("{e}"));
    let mut launch = EStepLaunch::new(shape, n, 4).unwrap();
    // Time the layout's choice and its variants by the E-step pass (each compiles without
    // spills, scripts/nvrtc_check.py), then the EM iteration with the fastest. Tiled: rows per
    // phase-A thread, blocks per SM, tile rows. Registers: rows loaded per step and blocks per
    // SM, the layout's two settings and two others; (1, 1) loads one row at a time, as the
    // kernel first measured did.
    let candidates: Vec<EStepLaunch> = match launch.kernel {
        EStepKernel::TiledFull => [(4, 2, 0), (2, 3, 64), (4, 2, 128), (2, 3, 128)]
            .iter()
            .filter_map(|&(rpt, blocks, rows)| EStepLaunch::tiled_full_with(shape, n, 4, rpt, blocks, rows))
            .collect(),
        EStepKernel::Registers => [(4, 2), (2, 1), (2, 2), (1, 1)]
            .iter()
            .filter_map(|&(rpi, blocks)| EStepLaunch::registers_with(shape, n, 4, rpi, blocks))
            .collect(),
        EStepKernel::Generic => Vec::new(),
    };
    let mut variants = Vec::new();
    for v in candidates {
        em.set_launch(Some(v)).unwrap();
        em.load(&model.view(), Slot::Current).unwrap();
        let (t, _) = median_secs(2, 7, || {
            em.pass().unwrap();
            em.read().unwrap();
        });
        println!(
            "  {:?} variant rows={} blocks/SM={} tile_rows={}: E-step pass {:.3} ms",
            v.kernel,
            v.rows_per_thread,
            v.min_blocks,
            v.tile_rows,
            t * 1e3
        );
        variants.push((t, v));
    }
    if let Some((_, best)) = variants.iter().min_by(|a, b| a.0.total_cmp(&b.0)) {
        launch = *best;
        em.set_launch(Some(launch)).unwrap();
    }
    let variants: Vec<Value> = variants
        .iter()
        .map(|(t, v)| json!({"rows_per_thread": v.rows_per_thread, "min_blocks": v.min_blocks, "tile_rows": v.tile_rows, "estep_pass_seconds": t}))
        .collect();
    em.load(&model.view(), Slot::Current).unwrap();
    let (secs, times) = median_secs(3, 11, || {
        em.pass().unwrap();
        em.mstep(1e-6, 0.0).unwrap();
        let s = em.read().unwrap();
        assert!(s.unfinished.is_none() && s.log_likelihood.is_finite(), "{s:?}");
        em.swap();
    });
    let (pass_secs, _) = median_secs(3, 11, || {
        em.pass().unwrap();
        em.read().unwrap();
    });
    // Useful flops per sample and component: Mahalanobis + statistics multiply-adds, 2 flops each.
    let p = if kind == CovarianceKind::Full { d * (d + 1) / 2 } else { d };
    let flops = 2.0 * (n * k) as f64 * (p + d + p + d + 1) as f64;
    let bytes = (n * d * 4) as f64;
    let (peak_flops, peak_bw) = roofline(dev);
    let roof = (flops / peak_flops).max(bytes / peak_bw);
    let iter_secs = secs;
    println!(
        "bench {} N={n} D={d} K={k} ({:?}): EM iteration {:.3} ms (E-step pass {:.3} ms), roofline {:.3} ms ({:.1} %)",
        kind.name(),
        launch.kernel,
        iter_secs * 1e3,
        pass_secs * 1e3,
        roof * 1e3,
        100.0 * roof / iter_secs
    );
    json!({"n": n, "d": d, "k": k, "kind": kind.name(), "type": "f32", "kernel": format!("{:?}", launch.kernel),
           "seconds_median": iter_secs, "seconds_all": times,
           "estep_pass_seconds": pass_secs,
           "useful_flops": flops, "bytes": bytes, "peak_fp32_flops": peak_flops, "peak_bytes_per_s": peak_bw,
           "roofline_seconds": roof, "roofline_fraction": roof / iter_secs, "tile_rows": launch.tile_rows, "grid": launch.grid,
           "rows_per_thread": launch.rows_per_thread, "min_blocks": launch.min_blocks, "variants": variants})
}

/// A whole fit through `backend::fit` on the device (k-means++ on the host, the resident EM
/// loop) vs the CPU fit with the same seed: iterations, parameters and mean ln p.
fn check_fit<T: GpuScalar>(
    dev: &Arc<CudaDevice>,
    kind: CovarianceKind,
    n: usize,
    d: usize,
    k: usize,
    seed: u64,
    tol: f64,
) -> Value {
    let truth = random_model(kind, k, d, seed);
    let data = sample::<T>(&truth, n, seed + 1);
    let config = FitConfig { kind, max_iter: 30, tol: T::from_f64(1e-4), ..FitConfig::default() };
    let selected = Selected::Cuda(dev.clone());
    let run = |sel: &Selected| {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        crabmix::backend::fit(sel, &data, d, k, &config, &mut rng, &mut Default::default())
    };
    let t = Instant::now();
    let gpu = run(&selected);
    let gpu_secs = t.elapsed().as_secs_f64();
    let cpu = run(&Selected::Cpu { fallback_reason: None });
    let (ok, devs, iters, err) = match (gpu, cpu) {
        (Ok((g, gr)), Ok((c, cr))) => {
            let to64 = |v: &[T]| v.iter().map(|x| x.to_f64()).collect::<Vec<_>>();
            let devs = [
                max_rel(&to64(g.weights()), &to64(c.weights())),
                max_rel(&to64(g.means()), &to64(c.means())),
                max_rel(&to64(g.covariances()), &to64(c.covariances())),
                (gr.mean_log_likelihood.to_f64() - cr.mean_log_likelihood.to_f64()).abs()
                    / cr.mean_log_likelihood.to_f64().abs().max(1.0),
            ];
            let ok = gr.n_iter == cr.n_iter && devs.iter().all(|&v| v <= tol);
            (ok, devs, (gr.n_iter, cr.n_iter), None)
        }
        (g, c) => (false, [f64::NAN; 4], (0, 0), Some(format!("gpu {:?} / cpu {:?}", g.err(), c.err()))),
    };
    println!(
        "{} fit {} {} N={n} D={d} K={k}: iterations {} vs {}; weights {:.1e} means {:.1e} covariances {:.1e} mean ln p {:.1e} (tol {tol:.0e}); {:.2} s{}",
        if ok { "ok  " } else { "FAIL" },
        kind.name(),
        T::NAME,
        iters.0,
        iters.1,
        devs[0],
        devs[1],
        devs[2],
        devs[3],
        gpu_secs,
        err.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
    );
    json!({"type": T::NAME, "kind": kind.name(), "n": n, "d": d, "k": k, "seed": seed, "tol": tol,
           "iterations_gpu": iters.0, "iterations_cpu": iters.1, "weights_rel_dev": devs[0], "means_rel_dev": devs[1],
           "covariances_rel_dev": devs[2], "mean_log_likelihood_rel_dev": devs[3], "error": err, "ok": ok})
}

/// The command line (see the module documentation).
#[derive(Parser)]
#[command(name = "gpu-check", about = "The lent-GPU check and bench of crabmix's CUDA backend")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Device E-step, density, Gaussian kernels, MLP/VAE and whole fits against the CPU.
    Check {
        /// Where the JSON report goes.
        out: PathBuf,
    },
    /// One resident EM iteration and the E-step pass on N × D f32 data, K components.
    Bench {
        /// Samples.
        n: usize,
        /// Features.
        d: usize,
        /// Components.
        k: usize,
        /// Covariance kind.
        kind: KindArg,
        /// Where the JSON report goes.
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    Full,
    Diag,
}

fn main() {
    let cli = Cli::parse();
    let dev = match CudaDevice::open(0) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("gpu-check: {e}");
            std::process::exit(2);
        }
    };
    println!("device: {} ({})", dev.name(), dev.arch());
    let (result, out) = match cli.command {
        Command::Check { out } => {
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
                    (100_003, 8, 6),
                    (300_007, 32, 4),
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
            cases.push(check_overflow_case(&dev, seed ^ 0x0f));
            let gauss = check_gaussian(&dev, seed);
            // f32: FMA contraction and a 4099-row reduction; Adam's update m/√v amplifies the
            // relative error of near-zero gradients, hence the looser parameter bound in f32.
            let nets = vec![
                check_mlp::<f64>(&dev, seed ^ 0x11, 1e-11),
                check_mlp::<f32>(&dev, seed ^ 0x12, 1e-4),
                check_vae::<f64>(&dev, seed ^ 0x13, 1e-11),
                check_vae::<f32>(&dev, seed ^ 0x14, 1e-4),
                check_gaussian_vae::<f64>(&dev, seed ^ 0x15, 1e-11),
                check_gaussian_vae::<f32>(&dev, seed ^ 0x16, 1e-4),
                check_wgan::<f64>(&dev, seed ^ 0x17, 1e-11),
                check_wgan::<f32>(&dev, seed ^ 0x18, 1e-4),
            ];
            let fits = vec![
                check_fit::<f64>(&dev, CovarianceKind::Full, 200_000, 3, 4, seed ^ 0x21, 1e-8),
                check_fit::<f64>(&dev, CovarianceKind::Full, 200_000, 16, 16, seed ^ 0x22, 1e-8),
                check_fit::<f64>(&dev, CovarianceKind::Diag, 200_000, 16, 16, seed ^ 0x23, 1e-8),
                check_fit::<f32>(&dev, CovarianceKind::Full, 200_000, 2, 4, seed ^ 0x24, 1e-3),
            ];
            let ok = cases.iter().all(|c| c["ok"] == true)
                && fits.iter().all(|c| c["ok"] == true)
                && gauss["ok"] == true
                && nets.iter().all(|c| c["ok"] == true);
            let report = json!({"device": dev.name(), "arch": dev.arch(), "seed": seed, "estep_and_density": cases, "em_fits": fits, "gaussian": gauss,
                   "mlp_and_vae": nets, "ok": ok});
            (report, out)
        }
        Command::Bench { n, d, k, kind, out } => {
            let kind = match kind {
                KindArg::Full => CovarianceKind::Full,
                KindArg::Diag => CovarianceKind::Diag,
            };
            let r = bench(&dev, n, d, k, kind);
            (json!({"device": dev.name(), "arch": dev.arch(), "bench": r, "ok": true}), out)
        }
    };
    std::fs::write(out, serde_json::to_string_pretty(&result).unwrap()).expect("write the JSON");
    if result["ok"] != true {
        std::process::exit(1);
    }
}
