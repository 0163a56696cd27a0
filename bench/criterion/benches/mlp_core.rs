//! The runtime-sized MLP core (`crabmix_kernels::mlp::batch`, `models::vae_net`), f32 on one
//! core: one VAE training step (forward, backward, Adam) at the issue-16 shapes, the digits
//! 64 → 256 → 128 → (8 + 8) with decoder 8 → 128 → 256 → 64 (Bernoulli) and a 30-feature
//! 30 → 64 → 32 → (4 + 4) with decoder 4 → 32 → 64 → 30 (learned-variance Gaussian), batch 128.
//! Also one WGAN critic step (generator 8 → 64 → 64 → 5, critic 5 → 64 → 64 → 1, leaky ReLU,
//! batch 128) with the gradient penalty and with clipping.
//! Throughput is in samples per step. The threaded host path and the PyTorch comparison are the
//! host's benches; this one isolates the kernels.

use core::hint::black_box;
use crabmix_bench::rng;
use crabmix_kernels::gaussian::fill_standard_normal;
use crabmix_kernels::mlp::batch;
use crabmix_kernels::mlp::optim::SliceAdam;
use crabmix_kernels::mlp::{ActivationKind as A, Architecture, Init, LayerSpec};
use crabmix_kernels::models::vae_net::{self, VaeLikelihood, VaeShape};
use crabmix_kernels::models::wgan::Lipschitz;
use crabmix_kernels::models::wgan_net::{self, WganShape};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const BATCH: usize = 128;

fn bench_shape(
    c: &mut Criterion,
    name: &str,
    enc: &[LayerSpec<f32>],
    latent: usize,
    dec: &[LayerSpec<f32>],
    lik: VaeLikelihood,
) {
    let shape =
        VaeShape::new(Architecture::new(enc).unwrap(), latent, Architecture::new(dec).unwrap(), lik).unwrap();
    let mut r = rng(7);
    let n = shape.params_len();
    let mut params = vec![0.0f32; n];
    shape.init_params(&mut params, Init::HeUniform, &mut r).unwrap();
    let mut wt = vec![0.0f32; shape.weights_len()];
    shape.transpose_weights(&params, &mut wt).unwrap();
    let x: Vec<f32> = (0..BATCH * shape.features()).map(|i| (i as f32 * 0.618).fract()).collect();
    let mut eps = vec![0.0f32; BATCH * latent];
    fill_standard_normal(&mut r, &mut eps);
    let mut work = vec![0.0f32; shape.work_len(BATCH).unwrap()];
    let (mut grads, mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
    let mut adam = SliceAdam::new(1e-4);
    let mut g = c.benchmark_group("cpu_mlp_core_vae_step_f32");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            vae_net::step(
                &shape,
                &mut params,
                &mut wt,
                black_box(&x),
                &eps,
                BATCH,
                &mut work,
                &mut grads,
                &mut adam,
                &mut m,
                &mut v,
            )
            .unwrap()
        })
    });
    g.finish();
}

fn bench_vae(c: &mut Criterion) {
    let digits_enc = [LayerSpec::new(64, 256, A::Relu), LayerSpec::new(256, 128, A::Relu)];
    let digits_dec = [
        LayerSpec::new(8, 128, A::Relu),
        LayerSpec::new(128, 256, A::Relu),
        LayerSpec::new(256, 64, A::Identity),
    ];
    bench_shape(
        c,
        "digits_64_256_128_8_batch128",
        &digits_enc,
        8,
        &digits_dec,
        VaeLikelihood::BernoulliLogits,
    );
    let enc30 = [LayerSpec::new(30, 64, A::Relu), LayerSpec::new(64, 32, A::Relu)];
    let dec30 = [
        LayerSpec::new(4, 32, A::Relu),
        LayerSpec::new(32, 64, A::Relu),
        LayerSpec::new(64, 30, A::Identity),
    ];
    bench_shape(c, "features30_64_32_4_batch128", &enc30, 4, &dec30, VaeLikelihood::GaussianLearned);
}

fn bench_wgan(c: &mut Criterion) {
    let slope = A::LeakyRelu { slope: 0.2 };
    let gen_specs =
        [LayerSpec::new(8, 64, A::Relu), LayerSpec::new(64, 64, A::Relu), LayerSpec::new(64, 5, A::Identity)];
    let critic_specs =
        [LayerSpec::new(5, 64, slope), LayerSpec::new(64, 64, slope), LayerSpec::new(64, 1, A::Identity)];
    let (ga, ca) = (Architecture::new(&gen_specs).unwrap(), Architecture::new(&critic_specs).unwrap());
    let mut r = rng(9);
    let mut gp = vec![0.0f32; ga.params_len()];
    crabmix_kernels::mlp::init_params(&ga, &mut gp, Init::HeNormal, &mut r).unwrap();
    let mut cp = vec![0.0f32; ca.params_len()];
    crabmix_kernels::mlp::init_params(&ca, &mut cp, Init::HeNormal, &mut r).unwrap();
    let (mut gwt, mut cwt) = (vec![0.0f32; ga.weights_len()], vec![0.0f32; ca.weights_len()]);
    batch::transpose_weights(&ga, &gp, &mut gwt).unwrap();
    batch::transpose_weights(&ca, &cp, &mut cwt).unwrap();
    let real: Vec<f32> = (0..BATCH * 5).map(|i| (i as f32 * 0.618).fract() * 4.0 - 2.0).collect();
    let (mut z, mut t) = (vec![0.0f32; BATCH * 8], vec![0.0f32; BATCH]);
    wgan_net::draw_critic_noise(&mut r, 8, &mut z, Some(&mut t)).unwrap();
    let mut g = c.benchmark_group("cpu_mlp_core_wgan_critic_f32");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, lip) in [
        ("penalty_batch128", Lipschitz::GradientPenalty { lambda: 10.0 }),
        ("clip_batch128", Lipschitz::WeightClip { c: 0.01 }),
    ] {
        let shape = WganShape::new(ga, ca, lip).unwrap();
        let mut work = vec![0.0f32; shape.work_len(BATCH).unwrap()];
        let mut grads = vec![0.0f32; ca.params_len()];
        g.bench_function(name, |b| {
            b.iter(|| {
                grads.fill(0.0);
                wgan_net::critic_accumulate(
                    &shape,
                    (&gp, &gwt),
                    (&cp, &cwt),
                    black_box(&real),
                    &z,
                    Some(&t),
                    lip,
                    1.0 / BATCH as f32,
                    &mut work,
                    &mut grads,
                )
                .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_vae, bench_wgan);
criterion_main!(benches);
