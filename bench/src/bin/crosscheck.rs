//! Cross-check: the same seeded inputs through every target, each compared with the f64
//! reference implementations of `tests/` (textbook formulas, dense inverses, no shifted sums).
//!
//! Targets: the kernels in f64 and f32 (fixed-size, single thread) with this build's math
//! backend, the host's multithreaded path in f64 and f32, the firmware under QEMU (from the log of
//! its run, when given), and the GPU when present. Workloads: one GMM EM iteration, a full fit,
//! log densities, a KL batch, reparameterized-sampling statistics, an MLP forward/backward, a VAE
//! training step.
//!
//! Firmware: `--firmware-crosscheck-log PATH` reads the log of `firmware/src/bin/crosscheck.rs`
//! (`cargo run --release --bin crosscheck` in firmware/), which computes every workload in f32 on
//! the emulated Cortex-M4F from the same seeded inputs, generated on the device by the same
//! generators of `crabmix-workloads` (tests/workloads). Each workload's log carries an FNV-1a
//! digest of its inputs' bits; a digest
//! that differs from the host's fails the row (the inputs were not the same, so the comparison
//! would mean nothing). `--firmware-log PATH` (the app's log) adds the app's crab fit as well.
//! For each pair: the largest absolute and relative deviation and whether it is within that
//! target's stated tolerance (the `TOLERANCES` table). Any failure exits non-zero.
//!
//! Run twice to cover both math backends: `cargo run --release -p crabmix-bench --bin crosscheck`
//! and the same with `--features crabmix-kernels/micromath` (scripts/crosscheck.sh does both).

use clap::Parser;
use crabmix::gmm::Mixture;
use crabmix_bench::crosscheck::{
    Check, Reference, compare, firmware_checks, sampling_check, sorted_crab_params,
};
use crabmix_bench::firmware_log;
use crabmix_bench::machine::MachineInfo;
use crabmix_kernels::gaussian::{kl_diag_std_normal, kl_full, sample_diag};
use crabmix_kernels::gmm::{CovarianceKind, FitConfig, GaussianMixture, SufficientStats};
use crabmix_kernels::mlp::Layer;
use crabmix_kernels::mlp::loss::mse;
use crabmix_kernels::models::VaeTrainer;
use crabmix_kernels::{BACKEND, Real};
use crabmix_tests::gmm_reference::RefGmm;
use crabmix_tests::kl_reference::kl_eq14;
use crabmix_workloads::InputDigest;
use crabmix_workloads::crosscheck::{self as workloads, gmm::D, gmm::K};
use crabmix_workloads::tiny::{TinyVae, tiny_vae_zeros};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::path::PathBuf;

/// The workload's N samples (flat, N × D), their digest, the f64 reference from the EM start,
/// and that start (`crabmix_workloads::crosscheck::gmm`).
fn gmm_case() -> (Vec<f64>, u64, RefGmm, GaussianMixture<f64, K, D>) {
    let mut samples = workloads::gmm::Samples::new().expect("valid truth");
    let data: Vec<f64> = samples.by_ref().flatten().collect();
    let start = workloads::gmm::start().expect("valid start");
    let reference = RefGmm::from_flat(
        "full",
        D,
        start.weights(),
        start.means().as_flattened(),
        start.covariances().as_flattened().as_flattened(),
    );
    (data, samples.digest(), reference, start)
}

fn ref_params(m: &RefGmm) -> Vec<f64> {
    let mut v = m.weights.clone();
    for mu in &m.means {
        v.extend(mu.iter());
    }
    for c in &m.covs {
        // Row-major, as the kernels store them (symmetric anyway).
        for i in 0..c.nrows() {
            for j in 0..c.ncols() {
                v.push(c[(i, j)]);
            }
        }
    }
    v
}

fn mixture_params<T: Real>(m: &Mixture<T>) -> Vec<f64> {
    m.weights().iter().chain(m.means()).chain(m.covariances()).map(|v| v.to_f64()).collect()
}

fn fixed_params<T: Real, const K2: usize, const D2: usize>(m: &GaussianMixture<T, K2, D2>) -> Vec<f64> {
    m.weights()
        .iter()
        .chain(m.means().as_flattened())
        .chain(m.covariances().as_flattened().as_flattened())
        .map(|v| v.to_f64())
        .collect()
}

fn cast_fixed<T: Real, const K2: usize, const D2: usize>(
    m: &GaussianMixture<f64, K2, D2>,
) -> GaussianMixture<T, K2, D2> {
    let c = |v: f64| T::from_f64(v);
    GaussianMixture::new(
        m.kind(),
        m.weights().map(c),
        m.means().map(|r| r.map(c)),
        m.covariances().map(|a| a.map(|r| r.map(c))),
    )
    .expect("cast model")
}

fn em_iteration_checks(out: &mut Vec<Check>, refs: &mut Vec<Reference>) {
    let (data, digest, reference, start) = gmm_case();
    let want_next = reference.em_step(&data, D, 1e-6);
    let want_ll = reference.mean_log_likelihood(&data, D);
    let mut want = ref_params(&want_next);
    want.push(want_ll);

    fn fixed<T: Real>(data: &[f64], start: &GaussianMixture<f64, K, D>) -> Vec<f64> {
        let model = cast_fixed::<T, K, D>(start);
        let mut stats = SufficientStats::<T, K, D>::new(CovarianceKind::Full);
        stats.reset(&model);
        for x in data.chunks_exact(D) {
            stats
                .accumulate(&model, &[T::from_f64(x[0]), T::from_f64(x[1]), T::from_f64(x[2])])
                .expect("finite");
        }
        let mut next = model;
        stats.finish(&mut next, T::from_f64(1e-6), false).expect("M-step");
        let mut v = fixed_params(&next);
        v.push(stats.totals().mean_log_likelihood().expect("samples").to_f64());
        v
    }
    fn host<T: Real>(data: &[f64], start: &GaussianMixture<f64, K, D>) -> Vec<f64> {
        let x: Vec<T> = data.iter().map(|&v| T::from_f64(v)).collect();
        let m = Mixture::<f64>::new(
            CovarianceKind::Full,
            D,
            start.weights().to_vec(),
            start.means().as_flattened().to_vec(),
            start.covariances().as_flattened().as_flattened().to_vec(),
        )
        .and_then(|m| m.cast::<T>())
        .expect("model");
        let (next, ll) = m.em_step(&x, T::from_f64(1e-6)).expect("EM step");
        let mut v = mixture_params(&next);
        v.push(ll.to_f64());
        v
    }
    out.push(compare(
        "gmm_em_iteration",
        "kernels (fixed-size, 1 thread)",
        "f64",
        &fixed::<f64>(&data, &start),
        &want,
    ));
    out.push(compare(
        "gmm_em_iteration",
        "kernels (fixed-size, 1 thread)",
        "f32",
        &fixed::<f32>(&data, &start),
        &want,
    ));
    out.push(compare("gmm_em_iteration", "host (all threads)", "f64", &host::<f64>(&data, &start), &want));
    out.push(compare("gmm_em_iteration", "host (all threads)", "f32", &host::<f32>(&data, &start), &want));
    refs.push(Reference { workload: "gmm_em_iteration", want, digest });

    // Log densities of the samples under the start model.
    let want: Vec<f64> = data.chunks_exact(D).map(|x| reference.log_density(x)).collect();
    fn dens<T: Real>(data: &[f64], start: &GaussianMixture<f64, K, D>) -> Vec<f64> {
        let m = cast_fixed::<T, K, D>(start);
        data.chunks_exact(D)
            .map(|x| {
                m.log_density(&[T::from_f64(x[0]), T::from_f64(x[1]), T::from_f64(x[2])])
                    .expect("finite")
                    .to_f64()
            })
            .collect()
    }
    out.push(compare(
        "log_density",
        "kernels (fixed-size, 1 thread)",
        "f64",
        &dens::<f64>(&data, &start),
        &want,
    ));
    out.push(compare(
        "log_density",
        "kernels (fixed-size, 1 thread)",
        "f32",
        &dens::<f32>(&data, &start),
        &want,
    ));
    refs.push(Reference { workload: "log_density", want, digest });
}

/// The crab fit as the firmware runs it, against 3000 textbook EM steps in f64 from the f64
/// kernels' k-means++ start (the same optimum: EM creeps there, so 3000 steps are needed).
fn crab_checks(out: &mut Vec<Check>, refs: &mut Vec<Reference>, firmware_log: Option<&str>) -> Vec<f64> {
    let data: Vec<f64> = crabmix_tests::fixtures::pearson_crabs();
    // The f32 fits (kernels, firmware) see the ratios cast to f32: digest those bits.
    let mut digest = InputDigest::new();
    data.iter().for_each(|&v| digest.f32s(&[v as f32]));
    let config = FitConfig { max_iter: 3000, tol: 0.0, ..FitConfig::default() };
    let start_config = FitConfig { max_iter: 1, tol: 0.0, ..FitConfig::default() };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1894);
    let (start, _) = Mixture::<f64>::fit(&data, 1, 2, &start_config, &mut rng, false).expect("start");
    let mut reference = RefGmm::from_flat("full", 1, start.weights(), start.means(), start.covariances());
    for _ in 0..2999 {
        reference = reference.em_step(&data, 1, 1e-6);
    }
    let sorted = |w: [f64; 2], m: [f64; 2], v: [f64; 2]| {
        if m[0] <= m[1] {
            vec![w[0], w[1], m[0], m[1], v[0], v[1]]
        } else {
            vec![w[1], w[0], m[1], m[0], v[1], v[0]]
        }
    };
    let want = sorted(
        [reference.weights[0], reference.weights[1]],
        [reference.means[0][0], reference.means[1][0]],
        [reference.covs[0][(0, 0)], reference.covs[1][(0, 0)]],
    );
    for (precision, got) in [
        ("f64", {
            let (m, _) = Mixture::<f64>::fit(
                &data,
                1,
                2,
                &config,
                &mut Xoshiro256PlusPlus::seed_from_u64(1894),
                false,
            )
            .unwrap();
            let p = mixture_params(&m);
            sorted([p[0], p[1]], [p[2], p[3]], [p[4], p[5]])
        }),
        ("f32", {
            let x: Vec<[f32; 1]> = data.iter().map(|&v| [v as f32]).collect();
            let cfg = FitConfig { max_iter: 3000, tol: 0.0f32, ..FitConfig::default() };
            let (m, _) =
                GaussianMixture::<f32, 2, 1>::fit(&x, &cfg, &mut Xoshiro256PlusPlus::seed_from_u64(1894))
                    .unwrap();
            let p = fixed_params(&m);
            sorted([p[0], p[1]], [p[2], p[3]], [p[4], p[5]])
        }),
    ] {
        let tol_workload = if precision == "f64" { "gmm_fit_crabs_f64" } else { "gmm_fit_crabs" };
        let mut c = compare("gmm_fit_crabs", "kernels (fixed-size / host)", precision, &got, &want);
        // Both converge towards the same optimum; f64 differs from the textbook loop by the
        // k-means++ start's rounding only, amplified by EM's slow creep: 1e-6.
        if tol_workload == "gmm_fit_crabs_f64" {
            c.tolerance = 1e-6;
            c.pass = c.max_rel <= c.tolerance;
        }
        out.push(c);
    }
    // The firmware row belongs to the run whose backend the firmware was built with (its line
    // names it: `crab-fit f32 libm …`).
    let firmware_backend = firmware_log.and_then(firmware_log::crab_fit_backend);
    if let (Some(log), true) = (firmware_log, firmware_backend == Some(BACKEND.name())) {
        match firmware_log::crab_fit(log) {
            Some(f) => {
                let [w, m, v] = [f.weights, f.means, f.variances];
                let got = sorted_crab_params(&[w[0], w[1], m[0], m[1], v[0], v[1]]);
                out.push(compare("gmm_fit_crabs", "firmware app, Cortex-M4F (QEMU)", "f32", &got, &want))
            }
            None => eprintln!("crosscheck: no crab-fit line in the firmware log"),
        }
    }
    refs.push(Reference { workload: "gmm_fit_crabs", want: want.clone(), digest: digest.value() });
    want
}

fn kl_checks(out: &mut Vec<Check>, refs: &mut Vec<Reference>) {
    use workloads::kl::{DIAG_PAIRS, FULL_PAIRS, FullPair, KlInputs, L};
    let mut inputs = KlInputs::new();
    let (mus, lvs): (Vec<[f64; L]>, Vec<[f64; L]>) = (0..DIAG_PAIRS)
        .map(|_| {
            let p = inputs.diag_pair();
            (p.mu, p.log_var)
        })
        .unzip();
    // Eq 15 written out in f64: ½ Σ (σ² + μ² − 1 − ln σ²).
    let want: Vec<f64> = mus
        .iter()
        .zip(&lvs)
        .map(|(m, l)| 0.5 * (0..L).map(|i| l[i].exp() + m[i] * m[i] - 1.0 - l[i]).sum::<f64>())
        .collect();
    fn got<T: Real>(mus: &[[f64; L]], lvs: &[[f64; L]]) -> Vec<f64> {
        mus.iter()
            .zip(lvs)
            .map(|(m, l)| kl_diag_std_normal(&m.map(T::from_f64), &l.map(T::from_f64)).to_f64())
            .collect()
    }
    out.push(compare("kl_diag_batch", "kernels", "f64", &got::<f64>(&mus, &lvs), &want));
    out.push(compare("kl_diag_batch", "kernels", "f32", &got::<f32>(&mus, &lvs), &want));
    refs.push(Reference { workload: "kl_diag_batch", want, digest: inputs.take_digest() });

    // Full against full through Cholesky factors (eq 14), against the dense f64 evaluation.
    let mut want = Vec::new();
    let mut got64 = Vec::new();
    let mut got32 = Vec::new();
    for _ in 0..FULL_PAIRS {
        let FullPair { l1, l2, m1, m2 } = inputs.full_pair();
        let s1 = crabmix_tests::kl_reference::covariance_from_factor(l1.as_flattened(), 3);
        let s2 = crabmix_tests::kl_reference::covariance_from_factor(l2.as_flattened(), 3);
        want.push(kl_eq14(&m1, &s1, &m2, &s2).expect("positive definite"));
        got64.push(kl_full(&m1, &l1, &m2, &l2).expect("kl").to_f64());
        let c = |a: [[f64; 3]; 3]| a.map(|r| r.map(|v| v as f32));
        got32.push(kl_full(&m1.map(|v| v as f32), &c(l1), &m2.map(|v| v as f32), &c(l2)).expect("kl") as f64);
    }
    out.push(compare("kl_full", "kernels", "f64", &got64, &want));
    out.push(compare("kl_full", "kernels", "f32", &got32, &want));
    refs.push(Reference { workload: "kl_full", want, digest: inputs.take_digest() });
}

fn sampling_checks(out: &mut Vec<Check>, refs: &mut Vec<Reference>) {
    use workloads::sampling::{DRAWS, L, LOG_VAR, MU, SEED};
    // Judged on standardized moments: (mean − μ)/σ → 0 and sd/σ → 1, whose standard errors are
    // 1/√n = 2.2e-3 and 1/√(2n) = 1.6e-3 at n = 2·10⁵ (tolerance ≈ 5 standard errors, absolute).
    let want: Vec<f64> = [0.0; L].into_iter().chain([1.0; L]).collect();
    fn got<T: Real>(mu: &[f64; L], lv: &[f64; L]) -> Vec<f64> {
        let sigma: Vec<f64> = lv.iter().map(|l| (0.5 * l).exp()).collect();
        let n = DRAWS;
        let mut rng = workloads::rng(SEED);
        let mu_f64 = |m: [T; L]| m.map(|v| v.to_f64());
        let (mu, lv) = (mu.map(T::from_f64), lv.map(T::from_f64));
        let (mut eps, mut z) = ([T::ZERO; L], [T::ZERO; L]);
        let (mut s1, mut s2) = ([0.0f64; L], [0.0f64; L]);
        for _ in 0..n {
            sample_diag(&mu, &lv, &mut rng, &mut eps, &mut z);
            for i in 0..L {
                s1[i] += z[i].to_f64();
                s2[i] += z[i].to_f64() * z[i].to_f64();
            }
        }
        let mean: Vec<f64> = s1.iter().map(|s| s / n as f64).collect();
        let sd: Vec<f64> = (0..L).map(|i| (s2[i] / n as f64 - mean[i] * mean[i]).sqrt() / sigma[i]).collect();
        mean.iter().zip(&mu_f64(mu)).zip(&sigma).map(|((m, u), s)| (m - u) / s).chain(sd).collect()
    }
    for (precision, got) in [("f64", got::<f64>(&MU, &LOG_VAR)), ("f32", got::<f32>(&MU, &LOG_VAR))] {
        out.push(sampling_check(compare("reparam_sampling", "kernels", precision, &got, &want)));
    }
    refs.push(Reference { workload: "reparam_sampling", want, digest: workloads::sampling::digest() });
}

use workloads::mlp::Mlp;

fn mlp_checks(out: &mut Vec<Check>, refs: &mut Vec<Reference>) {
    let (net64, mut pairs) = workloads::mlp::inputs();
    let mut params = Vec::new();
    net64.visit_params(&mut |p| params.push(p));
    let mut net32: Mlp<f32> = workloads::mlp::zeros();
    let mut it = params.iter();
    net32.for_each_param(&mut |p| *p = *it.next().expect("same shapes") as f32);
    let inputs: Vec<([f64; 2], [f64; 2])> = pairs.by_ref().collect();
    fn run<T: Real>(net: &Mlp<T>, inputs: &[([f64; 2], [f64; 2])]) -> Vec<f64> {
        let mut cache = Mlp::<T>::new_cache();
        let mut grads = net.zeros_like();
        let mut out = Vec::new();
        for (x, t) in inputs {
            let y = net.forward(&x.map(T::from_f64), &mut cache);
            let mut gy = [T::ZERO; 2];
            let loss = mse(&y, &t.map(T::from_f64), &mut gy);
            let gx = net.backward(&cache, &gy, &mut grads);
            out.extend(y.iter().map(|v| v.to_f64()));
            out.push(loss.to_f64());
            out.extend(gx.iter().map(|v| v.to_f64()));
        }
        grads.visit_params(&mut |g| out.push(g.to_f64()));
        out
    }
    // The f64 network is the reference: it matches PyTorch autograd to 1e-9 on the committed
    // fixtures (tests/tests/torch_fixtures.rs).
    let want = run(&net64, &inputs);
    out.push(compare("mlp_forward_backward", "kernels", "f32", &run(&net32, &inputs), &want));
    refs.push(Reference { workload: "mlp_forward_backward", want, digest: pairs.digest() });
}

/// The VAE training step: the device-sized VAE of `crabmix_workloads::tiny` (2 → 16 ReLU →
/// (μ, ln σ²) ∈ ℝ¹, decoder 1 → 16 ReLU → 2, unit-variance Gaussian) with the inputs of
/// `crabmix_workloads::crosscheck::vae` (Xavier-uniform weights in f64 with N(0, 0.1²) biases,
/// then per step 8 parabola points and 8 ε, drawn in f64 and cast for f32), trained with Adam
/// (lr 1e-2). Compared: per step (ln p, KL, ELBO), the last step's gradient and the updated
/// parameters.
fn vae_checks(out: &mut Vec<Check>, refs: &mut Vec<Reference>) {
    let (v64, mut stream) = workloads::vae::inputs();
    let batches: Vec<workloads::vae::Batch> = stream.by_ref().collect();
    fn run<T: Real>(v64: &TinyVae<f64>, batches: &[workloads::vae::Batch]) -> Vec<f64> {
        let mut vae = tiny_vae_zeros::<T>();
        let mut params = Vec::new();
        v64.encoder.visit_params(&mut |p| params.push(p));
        v64.decoder.visit_params(&mut |p| params.push(p));
        let mut it = params.iter();
        vae.encoder.for_each_param(&mut |p| *p = T::from_f64(*it.next().expect("same shapes")));
        vae.decoder.for_each_param(&mut |p| *p = T::from_f64(*it.next().expect("same shapes")));
        let mut trainer = VaeTrainer::new(&vae, T::from_f64(1e-2));
        let mut out = Vec::new();
        for workloads::vae::Batch { x: batch, eps } in batches {
            let batch: Vec<[T; 2]> = batch.iter().map(|x| x.map(T::from_f64)).collect();
            let mut k = 0;
            let terms = trainer
                .step_with(&mut vae, &batch, |e: &mut [T; 1]| {
                    e[0] = T::from_f64(eps[k]);
                    k += 1;
                })
                .expect("finite step");
            out.extend([terms.log_likelihood, terms.kl, terms.elbo()].map(|v| v.to_f64()));
        }
        trainer.gradient().encoder.visit_params(&mut |g| out.push(g.to_f64()));
        trainer.gradient().decoder.visit_params(&mut |g| out.push(g.to_f64()));
        vae.encoder.visit_params(&mut |p| out.push(p.to_f64()));
        vae.decoder.visit_params(&mut |p| out.push(p.to_f64()));
        out
    }
    // The f64 VAE is the reference, as for the MLP: its layers, loss gradients and Adam match
    // PyTorch to 1e-9 (tests/tests/torch_fixtures.rs), its ELBO gradient matches central
    // differences (kernels/src/models/vae.rs tests) and its training matches PyTorch's ELBO
    // (tests/tests/vae_digits.rs).
    let want = run::<f64>(&v64, &batches);
    out.push(compare("vae_training_step", "kernels", "f32", &run::<f32>(&v64, &batches), &want));
    refs.push(Reference { workload: "vae_training_step", want, digest: stream.digest() });
}

/// The cross-check of every target against the f64 references; exits non-zero when a target is
/// outside its tolerance.
#[derive(Parser)]
#[command(args_override_self = true)]
struct Args {
    /// The firmware app's log: adds its crab fit (`crab-fit` line).
    #[arg(long, value_name = "LOG")]
    firmware_log: Option<PathBuf>,
    /// The log of the firmware's cross-check binary: adds every workload's firmware row.
    #[arg(long = "firmware-crosscheck-log", value_name = "LOG")]
    firmware_cc_log: Option<PathBuf>,
    /// Output directory of crosscheck-<backend>.json.
    #[arg(long = "out", value_name = "DIR", default_value = "out")]
    out_dir: PathBuf,
}

fn main() {
    let Args { firmware_log, firmware_cc_log, out_dir } = Args::parse();
    let log = firmware_log.as_ref().and_then(|p| std::fs::read_to_string(p).ok());
    let mut checks = Vec::new();
    let mut refs = Vec::new();
    em_iteration_checks(&mut checks, &mut refs);
    crab_checks(&mut checks, &mut refs, log.as_deref());
    kl_checks(&mut checks, &mut refs);
    sampling_checks(&mut checks, &mut refs);
    mlp_checks(&mut checks, &mut refs);
    vae_checks(&mut checks, &mut refs);
    if let Some(path) = &firmware_cc_log {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("--firmware-crosscheck-log {}: {e}", path.display()));
        firmware_checks(&mut checks, &refs, &text);
    }
    let gpu = crabmix_bench::gpu_status();

    let machine = MachineInfo::collect();
    println!(
        "Cross-check against the f64 references (backend: {}); machine: {}",
        BACKEND.name(),
        machine.summary()
    );
    println!(
        "{:<22} {:<34} {:>4} {:>10} {:>10} {:>9}  result",
        "workload", "target", "prec", "max |Δ|", "max rel", "tol"
    );
    for c in &checks {
        println!(
            "{:<22} {:<34} {:>4} {:>10.2e} {:>10.2e} {:>9.0e}  {}",
            c.workload,
            c.target,
            c.precision,
            c.max_abs,
            c.max_rel,
            c.tolerance,
            if c.pass { "ok" } else { "FAIL" }
        );
    }
    println!("{:<22} {:<34} {}", "all", "GPU", gpu);
    std::fs::create_dir_all(&out_dir).expect("output directory");
    let path = out_dir.join(format!("crosscheck-{}.json", BACKEND.name()));
    let report =
        serde_json::json!({"machine": machine, "backend": BACKEND.name(), "gpu": gpu, "checks": checks});
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap() + "\n").expect("write JSON");
    println!("figures: {}", path.display());
    let failed = checks.iter().filter(|c| !c.pass).count();
    if failed > 0 {
        eprintln!("crosscheck: {failed} check(s) outside tolerance");
        std::process::exit(1);
    }
}
