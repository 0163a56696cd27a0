//! Cross-check workloads on the emulated Cortex-M4F (issue 7): every workload of the host harness
//! (`bench/src/bin/crosscheck.rs`) computed here in f32 from the *same* seeded inputs, which the
//! harness then compares with its f64 references (`--firmware-crosscheck-log`).
//!
//! Inputs are generated on the device by the same kernels functions, seeds and draw order as the
//! harness (xoshiro256++ `seed_from_u64`, `GaussianMixture::sample`, `standard_normal`, Xavier
//! initialization), in f64 where the harness generates in f64 and then casts, so they are
//! identical bit for bit: f64 arithmetic is IEEE on both (soft float here), and the f64 math is
//! the same `libm` code on both. To prove it rather than assume it, each workload also prints an
//! FNV-1a digest of its inputs' bits, which the harness recomputes and must match.
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
use crabmix_kernels::gaussian::{kl_diag_std_normal, kl_full, sample_diag, standard_normal};
use crabmix_kernels::gmm::{CovarianceKind, FitConfig, GaussianMixture, SufficientStats};
use crabmix_kernels::mlp::loss::mse;
use crabmix_kernels::mlp::{Act, Dense, Init, Layer, Relu, Tanh};
use crabmix_kernels::models::{GaussianHead, Likelihood, Vae, VaeTrainer};
// `Real` supplies `exp`/`sqrt` on f64 in no_std (libm, as on the host).
use crabmix_kernels::{BACKEND, Real, chain, chain_type};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// FNV-1a (64-bit) over 64-bit words: the harness's `InputDigest`, word for word.
struct Digest(u64);

impl Digest {
    fn new() -> Self {
        Digest(0xcbf2_9ce4_8422_2325)
    }
    fn word(&mut self, w: u64) {
        for b in w.to_le_bytes() {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn f64(&mut self, v: f64) {
        self.word(v.to_bits());
    }
    fn f64s(&mut self, v: &[f64]) {
        v.iter().for_each(|&x| self.f64(x));
    }
}

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
    fn end(mut self, digest: Digest) {
        self.flush();
        defmt::info!("cc-end {=str} n={=usize} digest={=u64:x}", self.tag, self.n, digest.0);
    }
}

const N: usize = 2000;
const K: usize = 4;
const D: usize = 3;

/// The harness's `gmm_case`: truth, its N samples from seed 7 (f64), and the EM start.
fn gmm_truth_and_start() -> Option<(GaussianMixture<f64, K, D>, GaussianMixture<f64, K, D>)> {
    let truth = GaussianMixture::<f64, K, D>::new(
        CovarianceKind::Full,
        [0.1, 0.2, 0.3, 0.4],
        [[0.0, 0.0, 0.0], [3.0, 1.0, -1.0], [-2.0, 3.0, 1.0], [1.0, -3.0, 2.0]],
        [
            [[1.0, 0.3, 0.0], [0.3, 0.8, 0.1], [0.0, 0.1, 0.6]],
            [[0.5, 0.0, 0.1], [0.0, 0.7, 0.0], [0.1, 0.0, 0.9]],
            [[1.2, -0.4, 0.0], [-0.4, 1.0, 0.2], [0.0, 0.2, 0.5]],
            [[0.6, 0.1, 0.1], [0.1, 0.6, 0.1], [0.1, 0.1, 0.6]],
        ],
    )
    .ok()?;
    let start = GaussianMixture::<f64, K, D>::new(
        CovarianceKind::Full,
        [0.25; K],
        [[0.5, 0.5, 0.0], [2.5, 1.5, -0.5], [-1.5, 2.5, 0.5], [1.5, -2.5, 1.5]],
        [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]; K],
    )
    .ok()?;
    Some((truth, start))
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
/// and `log_density` (each sample under the start). The samples are streamed from the seed twice
/// rather than stored.
fn gmm_em_and_log_density() -> Option<()> {
    let (truth, start) = gmm_truth_and_start()?;
    let model = cast_model(&start)?;
    let mut stats = SufficientStats::<f32, K, D>::new(CovarianceKind::Full);
    stats.reset(&model);
    let mut digest = Digest::new();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    for _ in 0..N {
        let x = truth.sample(&mut rng).0;
        digest.f64s(&x);
        stats.accumulate(&model, &x.map(|v| v as f32)).ok()?;
    }
    let mut next = model;
    stats.finish(&mut next, 1e-6, false).ok()?;
    let mut e = Emit::new("gmm_em_iteration");
    next.weights()
        .iter()
        .chain(next.means().as_flattened())
        .chain(next.covariances().as_flattened().as_flattened())
        .for_each(|&v| e.push(v));
    e.push(stats.totals().mean_log_likelihood().ok()?);
    e.end(digest);

    let mut digest = Digest::new();
    let mut e = Emit::new("log_density");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    for _ in 0..N {
        let x = truth.sample(&mut rng).0;
        digest.f64s(&x);
        e.push(model.log_density(&x.map(|v| v as f32)).ok()?);
    }
    e.end(digest);
    Some(())
}

/// `gmm_fit_crabs`: the harness's f32 fit (k-means++ seed 1894, 3000 EM steps, tol 0) on the
/// crabs as the app embeds them (sorted bin centres, the f32 nearest each decimal, which is what
/// the harness's cast of the CSV's f64 gives; the digest checks it). Raw (w, μ, σ²), unsorted.
fn crabs() -> Option<()> {
    let data = &crabmix_app::crabs::RATIOS;
    let mut digest = Digest::new();
    data.iter().for_each(|x| digest.word(x[0].to_bits() as u64));
    let cfg = FitConfig { max_iter: 3000, tol: 0.0f32, ..FitConfig::default() };
    let (m, _) =
        GaussianMixture::<f32, 2, 1>::fit(data, &cfg, &mut Xoshiro256PlusPlus::seed_from_u64(1894)).ok()?;
    let mut e = Emit::new("gmm_fit_crabs");
    m.weights()
        .iter()
        .chain(m.means().as_flattened())
        .chain(m.covariances().as_flattened().as_flattened())
        .for_each(|&v| e.push(v));
    e.end(digest);
    Some(())
}

/// `kl_diag_batch` (1000 pairs, L = 8, seed 11) and `kl_full` (200 pairs of 3-D Gaussians through
/// Cholesky factors, continuing the same generator), inputs in f64 cast to f32.
fn kl() -> Option<()> {
    const L: usize = 8;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let mut digest = Digest::new();
    let mut e = Emit::new("kl_diag_batch");
    for _ in 0..1000 {
        let mu: [f64; L] = core::array::from_fn(|_| standard_normal(&mut rng));
        let lv: [f64; L] = core::array::from_fn(|_| 0.5 * standard_normal::<f64, _>(&mut rng));
        digest.f64s(&mu);
        digest.f64s(&lv);
        e.push(kl_diag_std_normal(&mu.map(|v| v as f32), &lv.map(|v| v as f32)));
    }
    e.end(digest);

    let mut digest = Digest::new();
    let mut e = Emit::new("kl_full");
    for _ in 0..200 {
        let mut factor = || -> [[f64; 3]; 3] {
            core::array::from_fn(|i| {
                core::array::from_fn(|j| match i.cmp(&j) {
                    core::cmp::Ordering::Greater => 0.3 * standard_normal::<f64, _>(&mut rng),
                    core::cmp::Ordering::Equal => 0.5 + 0.5 * standard_normal::<f64, _>(&mut rng).abs(),
                    core::cmp::Ordering::Less => 0.0,
                })
            })
        };
        let (l1, l2) = (factor(), factor());
        let m1: [f64; 3] = core::array::from_fn(|_| standard_normal(&mut rng));
        let m2: [f64; 3] = core::array::from_fn(|_| standard_normal(&mut rng));
        for v in [l1.as_flattened(), l2.as_flattened(), &m1[..], &m2[..]] {
            digest.f64s(v);
        }
        let c = |a: [[f64; 3]; 3]| a.map(|r| r.map(|v| v as f32));
        e.push(kl_full(&m1.map(|v| v as f32), &c(l1), &m2.map(|v| v as f32), &c(l2)).ok()?);
    }
    e.end(digest);
    Some(())
}

/// `reparam_sampling`: 2·10⁵ f32 draws z = μ + σ ε from seed 3, moments accumulated in f64 (as
/// the harness does), reported standardized: (mean − μ)/σ and sd/σ.
fn sampling() -> Option<()> {
    const L: usize = 4;
    let mu64 = [0.5, -1.0, 2.0, 0.0];
    let lv64 = [0.0, -1.0, 0.7, -2.0];
    let mut digest = Digest::new();
    digest.f64s(&mu64);
    digest.f64s(&lv64);
    let sigma: [f64; L] = core::array::from_fn(|i| (0.5 * lv64[i]).exp());
    let n = 200_000;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
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
    e.end(digest);
    Some(())
}

type Mlp<T> = chain_type!(Dense<T, 2, 32>, Act<Tanh, 32>, Dense<T, 32, 32>, Act<Tanh, 32>, Dense<T, 32, 2>);

/// `mlp_forward_backward`: the 2-32-32-2 tanh network Xavier-initialized in f64 from seed 5 and
/// cast to f32, then 64 (x, t) pairs from the same generator: outputs, MSE, ∂/∂x per pair and the
/// accumulated parameter gradient.
fn mlp() -> Option<()> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let net64: Mlp<f64> = chain!(
        Dense::new_init(Init::XavierNormal, &mut rng),
        Act(Tanh),
        Dense::new_init(Init::XavierNormal, &mut rng),
        Act(Tanh),
        Dense::new_init(Init::XavierNormal, &mut rng),
    );
    let mut digest = Digest::new();
    net64.visit_params(&mut |p| digest.f64(p));
    let mut net: Mlp<f32> = chain!(Dense::zeros(), Act(Tanh), Dense::zeros(), Act(Tanh), Dense::zeros());
    let mut params = [0.0f32; 1218];
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
    for _ in 0..64 {
        let x: [f64; 2] = [standard_normal(&mut rng), standard_normal(&mut rng)];
        let t: [f64; 2] = [standard_normal(&mut rng), standard_normal(&mut rng)];
        digest.f64s(&x);
        digest.f64s(&t);
        let y = net.forward(&x.map(|v| v as f32), &mut cache);
        let mut gy = [0.0f32; 2];
        let loss = mse(&y, &t.map(|v| v as f32), &mut gy);
        let gx = net.backward(&cache, &gy, &mut grads);
        y.iter().for_each(|&v| e.push(v));
        e.push(loss);
        gx.iter().for_each(|&v| e.push(v));
    }
    grads.visit_params(&mut |g| e.push(g));
    e.end(digest);
    Some(())
}

type VaeEnc<T> = chain_type!(Dense<T, 2, 16>, Act<Relu, 16>, GaussianHead<T, 16, 1>);
type VaeDec<T> = chain_type!(Dense<T, 1, 16>, Act<Relu, 16>, Dense<T, 16, 2>);
/// Steps and batch size of the `vae_training_step` workload (the harness's `VAE_STEPS`, `VAE_B`).
const VAE_STEPS: usize = 3;
const VAE_B: usize = 8;

/// `vae_training_step`: the tiny VAE (2 → 16 ReLU → (μ, ln σ²) ∈ ℝ¹, 1 → 16 ReLU → 2, unit-
/// variance Gaussian) Xavier-uniform in f64 from seed 13 with N(0, 0.1²) biases, cast to f32;
/// then `VAE_STEPS` Adam (1e-2) steps, each on a fresh batch of 8 parabola points and 8 ε, all
/// drawn in f64 from the same generator. Per step (ln p, KL, ELBO), then the last gradient and
/// the updated parameters (encoder, then decoder).
fn vae() -> Option<()> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(13);
    let mut v64: Vae<VaeEnc<f64>, VaeDec<f64>> = Vae {
        encoder: chain!(Dense::zeros(), Act(Relu), GaussianHead::zeros()),
        decoder: chain!(Dense::zeros(), Act(Relu), Dense::zeros()),
        likelihood: Likelihood::GaussianUnit,
    };
    v64.init(Init::XavierUniform, &mut rng);
    let mut bias = |p: &mut f64| {
        if *p == 0.0 {
            *p = 0.1 * standard_normal::<f64, _>(&mut rng);
        }
    };
    v64.encoder.for_each_param(&mut bias);
    v64.decoder.for_each_param(&mut bias);
    let mut digest = Digest::new();
    v64.encoder.visit_params(&mut |p| digest.f64(p));
    v64.decoder.visit_params(&mut |p| digest.f64(p));
    let mut vae: Vae<VaeEnc<f32>, VaeDec<f32>> = Vae {
        encoder: chain!(Dense::zeros(), Act(Relu), GaussianHead::zeros()),
        decoder: chain!(Dense::zeros(), Act(Relu), Dense::zeros()),
        likelihood: Likelihood::GaussianUnit,
    };
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
    for _ in 0..VAE_STEPS {
        let mut batch = [[0.0f32; 2]; VAE_B];
        for x in batch.iter_mut() {
            let t: f64 = standard_normal(&mut rng);
            let n1: f64 = standard_normal(&mut rng);
            let n2: f64 = standard_normal(&mut rng);
            let x64 = [t + 0.05 * n1, t * t - 1.0 + 0.05 * n2];
            digest.f64s(&x64);
            *x = x64.map(|v| v as f32);
        }
        let mut eps = [0.0f32; VAE_B];
        for v in eps.iter_mut() {
            let z: f64 = standard_normal(&mut rng);
            digest.f64(z);
            *v = z as f32;
        }
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
    e.end(digest);
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
