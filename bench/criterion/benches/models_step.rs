//! Training steps of the lecture's two networks, from `crabmix_kernels::models`, f32 on one core:
//! the digits VAE (64 → 64 → (2 + 2), 2 → 64 → 64, Bernoulli, Adam, batch 32) and the ring WGAN
//! (generator 2 → 64 → 64 → 2, critic 2 → 64 → 64 → 1; one critic step with the gradient penalty
//! and one generator step, batch 64). Throughput is in samples per step.

use core::hint::black_box;
use crabmix::train::vae::new_vae;
use crabmix::train::wgan::{new_critic, new_generator, ring_config_gp, ring_sample};
use crabmix_bench::rng;
use crabmix_kernels::models::{Likelihood, VaeTrainer, WganTrainer};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn bench_vae(c: &mut Criterion) {
    const BATCH: usize = 32;
    let mut g = c.benchmark_group("cpu_vae_step_f32");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut r = rng(1);
    let mut vae = new_vae::<f32, _, 64, 64, 2>(Likelihood::BernoulliLogits, &mut r);
    // Synthetic images in [0, 1]: the step's cost does not depend on the pixel values.
    let batch: Vec<[f32; 64]> =
        (0..BATCH).map(|b| core::array::from_fn(|i| ((b * 64 + i) as f32 * 0.618).fract())).collect();
    let mut trainer = Box::new(VaeTrainer::new(&vae, 1e-3));
    g.bench_function("digits_64_64_2_batch32", |bch| {
        bch.iter(|| trainer.step(&mut vae, black_box(&batch), &mut r).unwrap())
    });
    g.finish();
}

fn bench_wgan(c: &mut Criterion) {
    const BATCH: usize = 64;
    let mut g = c.benchmark_group("cpu_wgan_step_f32");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut r = rng(2);
    let mut gen_net = new_generator::<f32, _, 2, 64>(&mut r);
    let mut critic = new_critic::<f32, _, 64>(&mut r);
    let mut trainer = Box::new(WganTrainer::new(&gen_net, &critic, ring_config_gp(), &mut r));
    let real: Vec<[f32; 2]> = (0..BATCH).map(|_| ring_sample(&mut r)).collect();
    g.bench_function("critic_gp_batch64", |b| {
        b.iter(|| trainer.critic_step(&gen_net, &mut critic, black_box(&real), &mut r).unwrap())
    });
    g.bench_function("generator_batch64", |b| {
        b.iter(|| trainer.generator_step(&mut gen_net, &critic, BATCH, &mut r).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_vae, bench_wgan);
criterion_main!(benches);
