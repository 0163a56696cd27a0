//! Cross-check workloads on the emulated Cortex-M4F (issue 7): every workload of the host harness
//! (`bench/src/bin/crosscheck.rs`) computed here in f32 from the *same* seeded inputs, which the
//! harness then compares with its f64 references (`--firmware-crosscheck-log`).
//!
//! Inputs are generated on the device by the generators the harness uses
//! (`crabmix_workloads::crosscheck`: xoshiro256++ `seed_from_u64`, `GaussianMixture::sample`,
//! `standard_normal`, Xavier initialization, all in f64 and then cast), so they are identical bit
//! for bit: f64 arithmetic is IEEE on both (soft float here), and the f64 math is the same `libm`
//! code on both. To prove it rather than assume it, each workload also prints the FNV-1a digest
//! of its inputs' bits that the generator kept, which the harness compares with its own.
//!
//! No workload is shrunk: 4 MiB of RAM holds every state (streamed, nothing is stored per sample)
//! and the whole run takes a few seconds of QEMU time.
//!
//! Output (defmt, one frame per line), per workload `<tag>`:
//! * `cc <tag> <i> <h0> <h1> <h2> <h3>`: result values i..i+4 as f32 bit patterns (hex; the last
//!   line is padded with zeros),
//! * `cc-end <tag> n=<n> digest=<hex>`: the number of values and the input digest;
//! * first `cc-backend <name>`, last `crosscheck: ok` (then exit status 0).
#![no_std]
#![no_main]

use crabmix_firmware::exit;
use crabmix_kernels::gaussian::{kl_diag_std_normal, kl_full, sample_diag};
use crabmix_kernels::gmm::{CovarianceKind, FitConfig, GaussianMixture, SufficientStats};
use crabmix_kernels::mlp::Layer;
use crabmix_kernels::mlp::loss::mse;
use crabmix_kernels::models::VaeTrainer;
// `Real` supplies `exp`/`sqrt` on f64 in no_std (libm, as on the host).
use crabmix_kernels::{BACKEND, Real};
use crabmix_workloads::InputDigest;
use crabmix_workloads::crosscheck::{self as workloads, gmm::D, gmm::K};
use crabmix_workloads::tiny::{TinyVae, tiny_vae_zeros};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Streams f32 results to the log, four to a line, without holding them.
struct Emit {
    tag: &'static str,
    buf: [u32; 4],
    fill: usize,
    n: usize,
}

impl Emit {
    fn new(tag: &'static str) -> Self {
        Emit { tag, buf: [0; 4], fill: 0, n: 0 }
    }
    fn push(&mut self, v: f32) {
        self.buf[self.fill] = v.to_bits();
        self.fill += 1;
        self.n += 1;
        if self.fill == 4 {
            self.flush();
        }
    }
    /// A mixture's weights, means and covariances, in storage order.
    fn push_mixture<const K2: usize, const D2: usize>(&mut self, m: &GaussianMixture<f32, K2, D2>) {
        m.weights()
            .iter()
            .chain(m.means().as_flattened())
            .chain(m.covariances().as_flattened().as_flattened())
            .for_each(|&v| self.push(v));
    }
    fn flush(&mut self) {
        if self.fill == 0 {
            return;
        }
        let [a, b, c, d] = self.buf;
        defmt::info!(
            "cc {=str} {=usize} {=u32:x} {=u32:x} {=u32:x} {=u32:x}",
            self.tag,
            self.n - self.fill,
            a,
            b,
            c,
            d
        );
        self.buf = [0; 4];
        self.fill = 0;
    }
    fn end(mut self, digest: u64) {
        self.flush();
        defmt::info!("cc-end {=str} n={=usize} digest={=u64:x}", self.tag, self.n, digest);
    }
}

fn cast_model(m: &GaussianMixture<f64, K, D>) -> Option<GaussianMixture<f32, K, D>> {
    let c = |v: f64| v as f32;
    GaussianMixture::new(
        m.kind(),
        m.weights().map(c),
        m.means().map(|r| r.map(c)),
        m.covariances().map(|a| a.map(|r| r.map(c))),
    )
    .ok()
}

/// `gmm_em_iteration` (one EM step from the start, then the mean log-likelihood under the start)
/// and `log_density` (each sample under the start). The samples are streamed from the generator
/// twice rather than stored.
fn gmm_em_and_log_density() -> Option<()> {
    let model = cast_model(&workloads::gmm::start().ok()?)?;
    let mut stats = SufficientStats::<f32, K, D>::new(CovarianceKind::Full);
    stats.reset(&model);
    let mut samples = workloads::gmm::Samples::new().ok()?;
    for x in samples.by_ref() {
        stats.accumulate(&model, &x.map(|v| v as f32)).ok()?;
    }
    let mut next = model;
    stats.finish(&mut next, 1e-6, false).ok()?;
    let mut e = Emit::new("gmm_em_iteration");
    e.push_mixture(&next);
    e.push(stats.totals().mean_log_likelihood().ok()?);
    e.end(samples.digest());

    let mut e = Emit::new("log_density");
    let mut samples = workloads::gmm::Samples::new().ok()?;
    for x in samples.by_ref() {
        e.push(model.log_density(&x.map(|v| v as f32)).ok()?);
    }
    e.end(samples.digest());
    Some(())
}

/// `gmm_fit_crabs`: the harness's f32 fit (k-means++ seed 1894, 3000 EM steps, tol 0) on the
/// crabs as the app embeds them (sorted bin centres, the f32 nearest each decimal, which is what
/// the harness's cast of the CSV's f64 gives; the digest checks it). Raw (w, μ, σ²), unsorted.
fn crabs() -> Option<()> {
    let data = &crabmix_app::crabs::RATIOS;
    let mut digest = InputDigest::new();
    data.iter().for_each(|x| digest.f32s(x));
    let cfg = FitConfig { max_iter: 3000, tol: 0.0f32, ..FitConfig::default() };
    let (m, _) =
        GaussianMixture::<f32, 2, 1>::fit(data, &cfg, &mut Xoshiro256PlusPlus::seed_from_u64(1894)).ok()?;
    let mut e = Emit::new("gmm_fit_crabs");
    e.push_mixture(&m);
    e.end(digest.value());
    Some(())
}

/// `kl_diag_batch` (1000 pairs, L = 8, seed 11) and `kl_full` (200 pairs of 3-D Gaussians through
/// Cholesky factors, continuing the same generator), inputs in f64 cast to f32.
fn kl() -> Option<()> {
    use workloads::kl::{DIAG_PAIRS, FULL_PAIRS, KlInputs};
    let mut inputs = KlInputs::new();
    let mut e = Emit::new("kl_diag_batch");
    for _ in 0..DIAG_PAIRS {
        let p = inputs.diag_pair();
        e.push(kl_diag_std_normal(&p.mu.map(|v| v as f32), &p.log_var.map(|v| v as f32)));
    }
    e.end(inputs.take_digest());

    let mut e = Emit::new("kl_full");
    for _ in 0..FULL_PAIRS {
        let p = inputs.full_pair();
        let c = |a: [[f64; 3]; 3]| a.map(|r| r.map(|v| v as f32));
        e.push(kl_full(&p.m1.map(|v| v as f32), &c(p.l1), &p.m2.map(|v| v as f32), &c(p.l2)).ok()?);
    }
    e.end(inputs.take_digest());
    Some(())
}

/// `reparam_sampling`: 2·10⁵ f32 draws z = μ + σ ε from seed 3, moments accumulated in f64 (as
/// the harness does), reported standardized: (mean − μ)/σ and sd/σ.
fn sampling() -> Option<()> {
    use workloads::sampling::{DRAWS, L, LOG_VAR as lv64, MU as mu64, SEED};
    let sigma: [f64; L] = core::array::from_fn(|i| (0.5 * lv64[i]).exp());
    let n = DRAWS;
    let mut rng = workloads::rng(SEED);
    let (mu, lv) = (mu64.map(|v| v as f32), lv64.map(|v| v as f32));
    let (mut eps, mut z) = ([0.0f32; L], [0.0f32; L]);
    let (mut s1, mut s2) = ([0.0f64; L], [0.0f64; L]);
    for _ in 0..n {
        sample_diag(&mu, &lv, &mut rng, &mut eps, &mut z);
        for i in 0..L {
            s1[i] += z[i] as f64;
            s2[i] += z[i] as f64 * z[i] as f64;
        }
    }
    let mean: [f64; L] = core::array::from_fn(|i| s1[i] / n as f64);
    let mut e = Emit::new("reparam_sampling");
    for i in 0..L {
        e.push(((mean[i] - mu[i] as f64) / sigma[i]) as f32);
    }
    for i in 0..L {
        e.push(((s2[i] / n as f64 - mean[i] * mean[i]).sqrt() / sigma[i]) as f32);
    }
    e.end(workloads::sampling::digest());
    Some(())
}

/// `mlp_forward_backward`: the 2-32-32-2 tanh network Xavier-initialized in f64 from seed 5 and
/// cast to f32, then 64 (x, t) pairs from the same generator: outputs, MSE, ∂/∂x per pair and the
/// accumulated parameter gradient.
fn mlp() -> Option<()> {
    use workloads::mlp::{Mlp, PARAMS};
    let (net64, mut pairs) = workloads::mlp::inputs();
    let mut net: Mlp<f32> = workloads::mlp::zeros();
    let mut params = [0.0f32; PARAMS];
    let mut i = 0;
    net64.visit_params(&mut |p| {
        if let Some(slot) = params.get_mut(i) {
            *slot = p as f32;
        }
        i += 1;
    });
    if i != params.len() {
        return None;
    }
    let mut i = 0;
    net.for_each_param(&mut |p| {
        *p = params[i];
        i += 1;
    });
    let mut cache = Mlp::<f32>::new_cache();
    let mut grads = net.zeros_like();
    let mut e = Emit::new("mlp_forward_backward");
    for (x, t) in pairs.by_ref() {
        let y = net.forward(&x.map(|v| v as f32), &mut cache);
        let mut gy = [0.0f32; 2];
        let loss = mse(&y, &t.map(|v| v as f32), &mut gy);
        let gx = net.backward(&cache, &gy, &mut grads);
        y.iter().for_each(|&v| e.push(v));
        e.push(loss);
        gx.iter().for_each(|&v| e.push(v));
    }
    grads.visit_params(&mut |g| e.push(g));
    e.end(pairs.digest());
    Some(())
}

/// `vae_training_step`: the tiny VAE of `crabmix_workloads::tiny` (2 → 16 ReLU → (μ, ln σ²) ∈ ℝ¹,
/// 1 → 16 ReLU → 2, unit-variance Gaussian) with the inputs of `crabmix_workloads::crosscheck::vae`
/// (Xavier-uniform in f64 with N(0, 0.1²) biases, cast to f32; per step 8 parabola points and
/// 8 ε drawn in f64), trained with Adam (1e-2). Per step (ln p, KL, ELBO), then the last gradient
/// and the updated parameters (encoder, then decoder).
fn vae() -> Option<()> {
    let (v64, mut batches) = workloads::vae::inputs();
    let mut vae: TinyVae = tiny_vae_zeros();
    // Copy parameter by parameter (both visits walk the same layers in the same order).
    let mut enc = [0.0f32; 82];
    let mut dec = [0.0f32; 66];
    fn copy<L: Layer<f64>, M: Layer<f32>>(src: &L, buf: &mut [f32], dst: &mut M) -> Option<()> {
        let (mut i, mut j) = (0, 0);
        src.visit_params(&mut |p| {
            if let Some(s) = buf.get_mut(i) {
                *s = p as f32;
            }
            i += 1;
        });
        dst.for_each_param(&mut |p| {
            if let Some(&s) = buf.get(j) {
                *p = s;
            }
            j += 1;
        });
        (i == buf.len() && j == buf.len()).then_some(())
    }
    copy(&v64.encoder, &mut enc, &mut vae.encoder)?;
    copy(&v64.decoder, &mut dec, &mut vae.decoder)?;
    let mut trainer = VaeTrainer::new(&vae, 1e-2f32);
    let mut e = Emit::new("vae_training_step");
    for b in batches.by_ref() {
        let batch = b.x.map(|x| x.map(|v| v as f32));
        let eps = b.eps.map(|v| v as f32);
        let mut k = 0;
        let terms = trainer
            .step_with(&mut vae, &batch, |out: &mut [f32; 1]| {
                out[0] = eps.get(k).copied().unwrap_or(f32::NAN);
                k += 1;
            })
            .ok()?;
        e.push(terms.log_likelihood);
        e.push(terms.kl);
        e.push(terms.elbo());
    }
    trainer.gradient().encoder.visit_params(&mut |g| e.push(g));
    trainer.gradient().decoder.visit_params(&mut |g| e.push(g));
    vae.encoder.visit_params(&mut |p| e.push(p));
    vae.decoder.visit_params(&mut |p| e.push(p));
    e.end(batches.digest());
    Some(())
}

#[cortex_m_rt::entry]
fn main() -> ! {
    defmt::info!("cc-backend {=str}", BACKEND.name());
    let ok = gmm_em_and_log_density().is_some()
        & crabs().is_some()
        & kl().is_some()
        & sampling().is_some()
        & mlp().is_some()
        & vae().is_some();
    defmt::info!("crosscheck: {=str}", if ok { "ok" } else { "FAILED" });
    exit(ok)
}
