//! One EM iteration (E-step + accumulate + M-step) at N = 100 000 for D ∈ {2, 8, 16},
//! K ∈ {2, 8, 16}, full and diag covariances, f32 and f64: single-threaded through the kernels'
//! serial pass (`cpu_serial_…`), through the host's multithreaded streaming pass (`cpu_threads_…`)
//! and, for full covariances, through the host's blocked multithreaded pass (`cpu_blocked_…`, what
//! `Mixture::fit` runs for them; diag/spherical fall back to the streaming pass there, so they get
//! no blocked group). `Throughput::Elements` counts samples.

use core::hint::black_box;
use crabmix::gmm::blocked::BlockedEStep;
use crabmix::gmm::{Mixture, ParallelEStep, Stats};
use crabmix_bench::gmm_workload::GmmWorkload;
use crabmix_kernels::Real;
use crabmix_kernels::gmm::{CovarianceKind, EStep, SerialEStep};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const N: usize = 100_000;

fn one_iteration<T: Real, E: EStep<T>>(
    model: &Mixture<T>,
    stats: &mut Stats<T>,
    estep: &mut E,
) -> Mixture<T> {
    let mut next = model.clone();
    let mut s = stats.view_mut();
    s.reset(model.means()).unwrap();
    estep.accumulate(&model.view(), &mut s).unwrap();
    s.finish(&mut next.view_mut(), T::from_f64(1e-6), true).unwrap();
    next
}

fn bench_em<T: Real>(c: &mut Criterion) {
    for kind in [CovarianceKind::Full, CovarianceKind::Diag] {
        let mut serial = c.benchmark_group(format!("cpu_serial_em_iteration_{}_{}", kind.name(), T::NAME));
        serial.throughput(Throughput::Elements(N as u64));
        serial.sample_size(10);
        let mut setups = Vec::new();
        for d in [2usize, 8, 16] {
            for k in [2usize, 8, 16] {
                let w = GmmWorkload::new(N, d, k, 42);
                setups.push((d, k, w.data::<T>(), w.start::<T>(kind)));
            }
        }
        for (d, k, data, model) in &setups {
            let mut stats = Stats::new(model.shape());
            let mut lp = vec![T::ZERO; *k];
            let mut work = vec![T::ZERO; 2 * d];
            serial.bench_function(BenchmarkId::new(format!("d{d}"), format!("k{k}")), |b| {
                b.iter(|| {
                    let mut estep = SerialEStep::new(data, &mut lp, &mut work);
                    black_box(one_iteration(model, &mut stats, &mut estep))
                })
            });
        }
        serial.finish();
        let mut threads = c.benchmark_group(format!("cpu_threads_em_iteration_{}_{}", kind.name(), T::NAME));
        threads.throughput(Throughput::Elements(N as u64));
        threads.sample_size(10);
        for (d, k, data, model) in &setups {
            let mut stats = Stats::new(model.shape());
            threads.bench_function(BenchmarkId::new(format!("d{d}"), format!("k{k}")), |b| {
                b.iter(|| {
                    let mut estep = ParallelEStep::new(data, *d);
                    black_box(one_iteration(model, &mut stats, &mut estep))
                })
            });
        }
        threads.finish();
        if kind != CovarianceKind::Full {
            continue;
        }
        let mut blocked = c.benchmark_group(format!("cpu_blocked_em_iteration_{}_{}", kind.name(), T::NAME));
        blocked.throughput(Throughput::Elements(N as u64));
        blocked.sample_size(10);
        for (d, k, data, model) in &setups {
            let mut stats = Stats::new(model.shape());
            blocked.bench_function(BenchmarkId::new(format!("d{d}"), format!("k{k}")), |b| {
                b.iter(|| {
                    let mut estep = BlockedEStep::new(data, *d);
                    black_box(one_iteration(model, &mut stats, &mut estep))
                })
            });
        }
        blocked.finish();
    }
}

fn benches(c: &mut Criterion) {
    bench_em::<f32>(c);
    bench_em::<f64>(c);
}

criterion_group!(gmm, benches);
criterion_main!(gmm);
