//! VAE/WGAN kernels: Gaussian KL and reparameterized sampling per element, and a
//! 2 → 32 → 32 → 2 MLP forward + backward per sample, in f32 and f64.

use core::hint::black_box;
use crabmix_bench::{rng, spread};
use crabmix_kernels::gaussian::{
    kl_diag, kl_diag_std_normal, kl_diag_std_normal_grad, reparam_diag_backward, sample_diag,
};
use crabmix_kernels::mlp::loss::mse;
use crabmix_kernels::mlp::{Act, Dense, Init, Layer, Tanh};
use crabmix_kernels::{Real, chain, chain_type};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Latent size for the per-element benches: a typical VAE latent width.
const D: usize = 64;

fn cast<T: Real, const N: usize>(a: [f64; N]) -> [T; N] {
    a.map(T::from_f64)
}

fn bench_kl<T: Real>(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("cpu_kl_{}", T::NAME));
    g.throughput(Throughput::Elements(D as u64));
    let mu: [T; D] = cast(spread(-2.0, 2.0));
    let lv: [T; D] = cast(spread(-3.0, 3.0));
    let mu2: [T; D] = cast(spread(-1.0, 1.5));
    let lv2: [T; D] = cast(spread(-2.0, 1.0));
    g.bench_function("diag_std_normal", |b| b.iter(|| kl_diag_std_normal(black_box(&mu), black_box(&lv))));
    let (mut gm, mut gl) = ([T::ZERO; D], [T::ZERO; D]);
    g.bench_function("diag_std_normal_grad", |b| {
        b.iter(|| kl_diag_std_normal_grad(black_box(&mu), black_box(&lv), &mut gm, &mut gl))
    });
    g.bench_function("diag_vs_diag", |b| {
        b.iter(|| kl_diag(black_box(&mu), black_box(&lv), black_box(&mu2), black_box(&lv2)))
    });
    g.finish();
}

fn bench_reparam<T: Real>(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("cpu_reparam_{}", T::NAME));
    g.throughput(Throughput::Elements(D as u64));
    let mu: [T; D] = cast(spread(-2.0, 2.0));
    let lv: [T; D] = cast(spread(-3.0, 3.0));
    let mut r = rng(1);
    let (mut eps, mut z) = ([T::ZERO; D], [T::ZERO; D]);
    // Includes drawing ε (Marsaglia polar): the cost a VAE step pays.
    g.bench_function("sample_diag", |b| {
        b.iter(|| sample_diag(black_box(&mu), black_box(&lv), &mut r, &mut eps, &mut z))
    });
    let gz: [T; D] = cast(spread(-1.0, 1.0));
    let (mut gm, mut gl) = ([T::ZERO; D], [T::ZERO; D]);
    g.bench_function("diag_backward", |b| {
        b.iter(|| reparam_diag_backward(black_box(&lv), &eps, black_box(&gz), &mut gm, &mut gl))
    });
    g.finish();
}

type Mlp<T> = chain_type!(
    Dense<T, 2, 32>,
    Act<Tanh, 32>,
    Dense<T, 32, 32>,
    Act<Tanh, 32>,
    Dense<T, 32, 2>,
);

fn bench_mlp<T: Real>(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("cpu_mlp_2_32_32_2_{}", T::NAME));
    g.throughput(Throughput::Elements(1));
    let mut r = rng(2);
    let net: Mlp<T> = chain!(
        Dense::new_init(Init::XavierNormal, &mut r),
        Act(Tanh),
        Dense::new_init(Init::XavierNormal, &mut r),
        Act(Tanh),
        Dense::new_init(Init::XavierNormal, &mut r),
    );
    let mut cache = Mlp::<T>::new_cache();
    let mut grads = net.zeros_like();
    let x: [T; 2] = cast([0.3, -0.7]);
    let t: [T; 2] = cast([0.1, 0.5]);
    g.bench_function("forward", |b| b.iter(|| net.predict(black_box(&x))));
    // One training sample: forward with cache, MSE, backward accumulating parameter gradients.
    g.bench_function("forward_backward", |b| {
        b.iter(|| {
            let y = net.forward(black_box(&x), &mut cache);
            let mut gy = [T::ZERO; 2];
            let loss = mse(&y, black_box(&t), &mut gy);
            let gx = net.backward(&cache, &gy, &mut grads);
            (loss, gx)
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_kl::<f32>(c);
    bench_kl::<f64>(c);
    bench_reparam::<f32>(c);
    bench_reparam::<f64>(c);
    bench_mlp::<f32>(c);
    bench_mlp::<f64>(c);
}

criterion_group!(kernels_vae, benches);
criterion_main!(kernels_vae);
