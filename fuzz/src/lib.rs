//! Property checks for fuzzing crabmix (issue 8), one public function per fuzz target.
//!
//! Every function takes the fuzzer's bytes, decodes them into an input for one entry point and
//! asserts the property: **no panic, no hang, and no NaN/∞ in any output computed from finite
//! inputs**, except where the entry point's contract says otherwise (then it must return a typed
//! error instead). Inputs that would make a correct result overflow (a KL of 10⁴⁰⁰) are kept
//! inside the ranges in which the exact result is representable, so that a non-finite output is
//! a bug and not arithmetic.
//!
//! The libFuzzer targets (`fuzz_targets/*.rs`, nightly) and the stable regression replay
//! (`tests/replay.rs` over `regressions/<target>/*`) call these same functions.

#![deny(missing_docs)]

use crabmix::gmm::json::parse_model;
use crabmix::gmm::{Mixture, Stats};
use crabmix::io::csv::{CsvRows, read_csv_from};
use crabmix_kernels::gaussian::{kl, reparam};
use crabmix_kernels::gmm::{CovarianceKind, FitConfig, InitMethod, Shape};
use crabmix_kernels::mlp::loss::mse;
use crabmix_kernels::mlp::optim::Adam;
use crabmix_kernels::mlp::{Act, Chain, Dense, Layer, LeakyRelu, Relu, Sigmoid, Softplus, Tanh};
use crabmix_kernels::{Error, Real};
use rand_core::TryRng;
use std::convert::Infallible;
use std::path::Path;

/// The fuzzer's bytes read front to back; reads past the end give zeros, so every input decodes.
pub struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    /// Reads `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }
    /// Next byte (0 past the end).
    pub fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((&b, rest)) => {
                self.bytes = rest;
                b
            }
            None => 0,
        }
    }
    /// Next little-endian u32.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    /// Next little-endian u64.
    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }
    /// An integer in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.byte() as usize % (hi - lo + 1)
    }
    /// Any finite f64, from raw bits: denormals, ±0, ±f64::MAX all reachable. A non-finite bit
    /// pattern has its exponent cleared instead (still a legal, finite value).
    pub fn finite_f64(&mut self) -> f64 {
        let v = f64::from_bits(self.u64());
        if v.is_finite() { v } else { f64::from_bits(v.to_bits() & !(0x7ff << 52)) }
    }
    /// An f64 in `[lo, hi]`: half the time one of the ends, 0 or a value near them (edges are
    /// where bugs live), otherwise uniform.
    pub fn f64_in(&mut self, lo: f64, hi: f64) -> f64 {
        let u = f64::from(self.u32()) / f64::from(u32::MAX);
        match self.byte() % 8 {
            0 => lo,
            1 => hi,
            2 => 0.0f64.clamp(lo, hi),
            3 => (lo + (hi - lo) * u * 1e-12).clamp(lo, hi),
            _ => (lo + (hi - lo) * u).clamp(lo, hi),
        }
    }
    /// The next `n` bytes (fewer at the end).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.bytes.split_at(n.min(self.bytes.len()));
        self.bytes = rest;
        head
    }
    /// What is left (for the CSV text).
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }
}

/// A generator that replays fuzzer-chosen words (so the fuzzer can steer rejection loops and
/// initializations), then continues with SplitMix64 seeded from them: a real generator never
/// repeats a rejected pair forever, and this one must not either.
pub struct FuzzRng {
    words: Vec<u64>,
    next: usize,
    state: u64,
}

impl FuzzRng {
    /// Takes up to 32 words from `input`.
    pub fn new(input: &mut Input<'_>) -> Self {
        let n = input.range(0, 32);
        let words: Vec<u64> = (0..n).map(|_| input.u64()).collect();
        let state = words.iter().fold(0x9E37_79B9_7F4A_7C15, |s, w| s ^ w.rotate_left(17));
        Self { words, next: 0, state }
    }
    fn word(&mut self) -> u64 {
        if let Some(&w) = self.words.get(self.next) {
            self.next += 1;
            return w;
        }
        // SplitMix64 (Steele, Lea, Flood 2014), the constants of its reference implementation.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl TryRng for FuzzRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.word() as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.word())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let w = self.word().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        Ok(())
    }
}

fn all_finite<T: Real>(v: &[T]) -> bool {
    v.iter().all(|x| x.is_finite())
}

fn kind(b: u8) -> CovarianceKind {
    [CovarianceKind::Full, CovarianceKind::Diag, CovarianceKind::Spherical, CovarianceKind::Tied]
        [b as usize % 4]
}

/// A fitted or refreshed mixture is finite, its weights are a distribution.
fn check_mixture<T: Real>(m: &Mixture<T>, what: &str) {
    assert!(all_finite(m.weights()), "{what}: weights {:?}", m.weights());
    assert!(all_finite(m.means()), "{what}: means {:?}", m.means());
    assert!(all_finite(m.covariances()), "{what}: covariances {:?}", m.covariances());
    assert!(m.weights().iter().all(|&w| w >= T::ZERO), "{what}: negative weight");
    let total: f64 = m.weights().iter().map(|w| w.to_f64()).sum();
    assert!((total - 1.0).abs() < 1e-4, "{what}: weights sum to {total}");
}

/// **csv_reader**: any bytes through the CSV reader in f64 and f32. Either a typed error or a
/// table of finite values with rows × cols entries; reading in chunks of any size gives the same
/// values and the same error text as reading whole.
pub fn csv_reader(bytes: &[u8]) {
    let mut input = Input::new(bytes);
    let chunk_rows = input.range(1, 8);
    let text = input.rest();
    let path = Path::new("fuzz.csv");
    fn check<T: Real>(text: &[u8], path: &Path, chunk_rows: usize) {
        let whole = read_csv_from::<T, _>(text, path);
        let mut rows = CsvRows::<T, _>::new(text, path);
        let (mut chunked, mut chunk) = (Vec::new(), Vec::new());
        let streamed = loop {
            match rows.next_chunk(chunk_rows, &mut chunk) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    assert!(n <= chunk_rows && chunk.len() == n * rows.cols());
                    chunked.extend_from_slice(&chunk);
                }
                Err(e) => break Err(e),
            }
        };
        match (whole, streamed) {
            (Ok(t), Ok(())) => {
                assert!(t.rows >= 1 && t.cols >= 1);
                assert_eq!(t.data.len(), t.rows * t.cols);
                assert!(all_finite(&t.data), "non-finite value accepted");
                assert_eq!(chunked, t.data, "chunked read differs");
                // Every value round-trips through its shortest text, as the CLI prints it.
                for v in &t.data {
                    let back: f64 = format!("{:e}", v.to_f64()).parse().unwrap();
                    assert_eq!(back, v.to_f64());
                }
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!("whole {:?} vs chunked {:?}", a.map(|t| t.rows), b),
        }
    }
    check::<f64>(text, path, chunk_rows);
    check::<f32>(text, path, chunk_rows);
}

/// Data for the GMM targets: N × D finite values, from raw bits (any magnitude) or from a
/// moderate range, with duplicated rows (degenerate clusters) on request.
fn data(input: &mut Input<'_>, n: usize, d: usize) -> Vec<f64> {
    let mode = input.byte() % 4;
    let mut v = Vec::with_capacity(n * d);
    for i in 0..n * d {
        v.push(match mode {
            0 => input.finite_f64(),
            1 if i >= d && input.byte().is_multiple_of(2) => v[i - d],
            _ => input.f64_in(-1e3, 1e3),
        });
    }
    v
}

/// **gmm_fit**: `Mixture::fit` (any of the four inits, EM with the host's blocked E-step) on
/// arbitrary finite data, K, D, covariance kind, reg_covar and tolerance, in f64 and f32. Either a
/// typed error (too few samples, a covariance that stays singular, parameters that overflow
/// because the data's spread does) or a finite model whose weights sum to 1, with a finite mean
/// log-likelihood.
pub fn gmm_fit(bytes: &[u8]) {
    let mut input = Input::new(bytes);
    let (k, d, n) = (input.range(1, 4), input.range(1, 4), input.range(1, 48));
    let config = |input: &mut Input<'_>| FitConfig {
        kind: kind(input.byte()),
        init: [
            InitMethod::KMeans,
            InitMethod::KMeansPlusPlus,
            InitMethod::RandomFromData,
            InitMethod::Random,
        ][input.byte() as usize % 4],
        n_init: input.range(1, 2) as u32,
        max_iter: input.range(1, 30) as u32,
        tol: input.f64_in(0.0, 1.0),
        reg_covar: input.f64_in(0.0, 1.0),
        reseed_empty: input.byte().is_multiple_of(2),
    };
    let cfg = config(&mut input);
    let x = data(&mut input, n, d);
    let mut rng = FuzzRng::new(&mut input);
    match Mixture::<f64>::fit(&x, d, k, &cfg, &mut rng, false) {
        Ok((m, report)) => {
            check_mixture(&m, "f64 fit");
            assert!(report.mean_log_likelihood.is_finite(), "{report:?}");
            // Scoring the training data must agree with the report's mean.
            let s = m.score(&x).expect("score the training data");
            let tol = 1e-6 * (1.0 + s.abs());
            assert!((s - report.mean_log_likelihood).abs() <= tol, "score {s} vs {report:?}");
        }
        Err(e) => check_fit_error(e, n, k),
    }
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    if all_finite(&x32) {
        let cfg32 = FitConfig {
            kind: cfg.kind,
            init: cfg.init,
            n_init: cfg.n_init,
            max_iter: cfg.max_iter,
            tol: cfg.tol as f32,
            reg_covar: cfg.reg_covar as f32,
            reseed_empty: cfg.reseed_empty,
        };
        match Mixture::<f32>::fit(&x32, d, k, &cfg32, &mut rng, false) {
            Ok((m, report)) => {
                check_mixture(&m, "f32 fit");
                assert!(report.mean_log_likelihood.is_finite(), "{report:?}");
            }
            Err(e) => check_fit_error(e, n, k),
        }
    }
}

/// The errors `fit` may return on finite data with valid sizes.
fn check_fit_error(e: Error, n: usize, k: usize) {
    match e {
        Error::TooFewSamples { samples, components } => assert!(samples == n && components == k && k > n),
        // Overflow of the data's spread, a singular covariance, a point under no component.
        Error::NonFiniteParameter { .. } | Error::NotPositiveDefinite { .. } | Error::ZeroDensity { .. } => {}
        other => panic!("unexpected fit error {other:?}"),
    }
}

/// A model from bytes: weights from positive bytes (normalized), means in ±1e3, covariances
/// (one shared for `tied`) A Aᵀ + δI with entries of A in ±30 and δ ∈ [1e-6, 10] (positive definite by construction), or
/// raw entries to exercise `refresh`'s checks.
fn model(input: &mut Input<'_>, k: usize, d: usize, kind: CovarianceKind) -> Result<Mixture<f64>, Error> {
    let raw: Vec<f64> = (0..k).map(|_| f64::from(input.byte()) + 1.0).collect();
    let total: f64 = raw.iter().sum();
    let weights = raw.iter().map(|w| w / total).collect();
    let means = (0..k * d).map(|_| input.f64_in(-1e3, 1e3)).collect();
    let mut cov = vec![0.0; k * d * d];
    let raw_cov = input.byte().is_multiple_of(8);
    for c in cov.chunks_exact_mut(d * d) {
        if raw_cov {
            c.iter_mut().for_each(|v| *v = input.f64_in(-10.0, 10.0));
            continue;
        }
        let a: Vec<f64> = (0..d * d).map(|_| input.f64_in(-30.0, 30.0)).collect();
        let delta = input.f64_in(1e-6, 10.0);
        for i in 0..d {
            for j in 0..d {
                let aat: f64 = (0..d).map(|l| a[i * d + l] * a[j * d + l]).sum();
                c[i * d + j] = match kind {
                    CovarianceKind::Full | CovarianceKind::Tied => aat,
                    CovarianceKind::Diag if i == j => aat,
                    CovarianceKind::Spherical if i == j => a[0] * a[0],
                    _ => 0.0,
                } + if i == j { delta } else { 0.0 };
            }
        }
    }
    if kind == CovarianceKind::Tied {
        // One shared matrix, stored K times (the layout `tied` uses).
        let (first, rest) = cov.split_at_mut(d * d);
        rest.chunks_exact_mut(d * d).for_each(|c| c.copy_from_slice(first));
    }
    Mixture::new(kind, d, weights, means, cov)
}

/// **em_step**: one E-step (the kernels' serial `accumulate_batch` and the host's blocked,
/// multithreaded one) and M-step (`finish`) from an arbitrary valid model on arbitrary data.
/// Both E-steps succeed or fail alike; on success the mean log-likelihoods agree to 1e-9
/// relative, and the M-step gives a finite model or a typed error (a component left with too
/// little responsibility for a positive-definite covariance).
pub fn em_step(bytes: &[u8]) {
    let mut input = Input::new(bytes);
    let (k, d, n) = (input.range(1, 4), input.range(1, 5), input.range(1, 40));
    let kind = kind(input.byte());
    let Ok(m) = model(&mut input, k, d, kind) else { return };
    check_mixture(&m, "refreshed model");
    let x = data(&mut input, n, d);
    let reg_covar = input.f64_in(0.0, 1.0);
    let shape = Shape::new(k, d, kind);
    let mut stats = Stats::new(shape);
    let mut sv = stats.view_mut();
    sv.reset(m.means()).expect("reset with the model's means");
    let (mut lp, mut work) = (vec![0.0; k], vec![0.0; 2 * d]);
    let serial = sv.accumulate_batch(&m.view(), &x, &mut lp, &mut work);
    let host = m.em_step(&x, reg_covar);
    match (&serial, &host) {
        (Ok(()), Ok((next, mean))) => {
            let serial_mean = sv.totals().mean_log_likelihood().expect("n ≥ 1");
            assert!(serial_mean.is_finite() && mean.is_finite(), "{serial_mean} {mean}");
            assert!((serial_mean - mean).abs() <= 1e-9 * (1.0 + mean.abs()), "{serial_mean} vs {mean}");
            check_mixture(next, "M-step");
        }
        (Ok(()), Err(Error::NotPositiveDefinite { .. } | Error::NonFiniteParameter { .. })) => {
            // The E-step was fine; the M-step's covariance (finite data spread ≥ 1e308) failed.
            let mut next = m.clone();
            let r = sv.finish(&mut next.view_mut(), reg_covar, false);
            assert!(r.is_err(), "serial M-step succeeded where the host's failed");
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "E-step errors differ"),
        (a, b) => panic!("serial {a:?} vs host {:?}", b.as_ref().map(|r| r.1)),
    }
    // Per-sample scores of a valid model: finite or −∞ (a point 10³⁰⁰ σ away underflows), never
    // NaN or +∞.
    if let Ok(s) = m.score_samples(&x) {
        assert!(s.iter().all(|v| !v.is_nan() && *v < f64::INFINITY), "{s:?}");
    }
}

/// **kl**: every Gaussian KL in the kernels on means in ±1e3 and log-variances in ±20 (diagonal)
/// or factors with entries in ±30 and diagonals in [1e-3, 30] (full): the KL is finite and ≥ 0,
/// the diagonal and full forms agree on diagonal inputs, gradients are finite.
pub fn kl(bytes: &[u8]) {
    const D: usize = 3;
    let mut input = Input::new(bytes);
    let vec = |lo: f64, hi: f64, input: &mut Input<'_>| -> [f64; D] {
        std::array::from_fn(|_| input.f64_in(lo, hi))
    };
    let (mu1, mu2) = (vec(-1e3, 1e3, &mut input), vec(-1e3, 1e3, &mut input));
    let (lv1, lv2) = (vec(-20.0, 20.0, &mut input), vec(-20.0, 20.0, &mut input));
    let std = kl::kl_diag_std_normal(&mu1, &lv1);
    let (mut gm, mut glv) = ([0.0; D], [0.0; D]);
    let std2 = kl::kl_diag_std_normal_grad(&mu1, &lv1, &mut gm, &mut glv);
    assert!(std.is_finite() && std >= 0.0 && std == std2, "{std} {std2}");
    assert!(all_finite(&gm) && all_finite(&glv));
    let diag = kl::kl_diag(&mu1, &lv1, &mu2, &lv2);
    let mut g = kl::DiagKlGrad::zeros();
    let diag2 = kl::kl_diag_grad(&mu1, &lv1, &mu2, &lv2, &mut g);
    assert!(diag.is_finite() && diag >= 0.0 && diag == diag2, "{diag} {diag2}");
    assert!(all_finite(&g.mu1) && all_finite(&g.log_var1) && all_finite(&g.mu2) && all_finite(&g.log_var2));
    // The same two Gaussians as full covariances: L = diag(e^{ℓ/2}).
    let chol = |lv: &[f64; D]| -> [[f64; D]; D] {
        std::array::from_fn(|i| std::array::from_fn(|j| if i == j { (0.5 * lv[i]).exp() } else { 0.0 }))
    };
    let full = kl::kl_full(&mu1, &chol(&lv1), &mu2, &chol(&lv2)).expect("diagonal factors are valid");
    assert!((full - diag).abs() <= 1e-9 * (1.0 + diag), "full {full} vs diag {diag}");
    // Arbitrary lower-triangular factors.
    let factor = |input: &mut Input<'_>| -> [[f64; D]; D] {
        std::array::from_fn(|i| {
            std::array::from_fn(|j| match j.cmp(&i) {
                std::cmp::Ordering::Less => input.f64_in(-30.0, 30.0),
                std::cmp::Ordering::Equal => input.f64_in(1e-3, 30.0),
                std::cmp::Ordering::Greater => 0.0,
            })
        })
    };
    let (l1, l2) = (factor(&mut input), factor(&mut input));
    let v = kl::kl_full(&mu1, &l1, &mu2, &l2).expect("positive diagonals are valid factors");
    let mut fg = kl::FullKlGrad::zeros();
    let v2 = kl::kl_full_grad(&mu1, &l1, &mu2, &l2, &mut fg).expect("same inputs");
    assert!(v.is_finite() && v >= 0.0 && v == v2, "{v} {v2}");
    assert!(fg.l1.iter().chain(fg.l2.iter()).all(|r| all_finite(r)) && all_finite(&fg.mu1));
    // A zero or negative pivot is a typed error, not NaN.
    let mut bad = l2;
    bad[D - 1][D - 1] = -input.f64_in(0.0, 1.0);
    assert!(matches!(kl::kl_full(&mu1, &l1, &mu2, &bad), Err(Error::NotPositiveDefinite { .. })));
}

/// **sampling**: N(0, 1) variates from any generator sequence are finite; reparameterized draws
/// (diagonal and full) from finite parameters are finite; a mixture draws finite samples from
/// valid components.
pub fn sampling(bytes: &[u8]) {
    const D: usize = 3;
    let mut input = Input::new(bytes);
    let mu: [f64; D] = std::array::from_fn(|_| input.f64_in(-1e3, 1e3));
    let lv: [f64; D] = std::array::from_fn(|_| input.f64_in(-40.0, 40.0));
    let l: [[f64; D]; D] = std::array::from_fn(|_| std::array::from_fn(|_| input.f64_in(-1e3, 1e3)));
    let (k, d) = (input.range(1, 4), input.range(1, 4));
    let kind = kind(input.byte());
    let m = model(&mut input, k, d, kind);
    let mut rng = FuzzRng::new(&mut input);
    for _ in 0..16 {
        let z: f64 = crabmix_kernels::gaussian::standard_normal(&mut rng);
        // Marsaglia polar: |z| ≤ sqrt(−2 ln s / s)·|u| < 14 for s ≥ 2⁻⁶⁴ (smallest nonzero s).
        assert!(z.is_finite() && z.abs() < 40.0, "{z}");
        let z32: f32 = crabmix_kernels::gaussian::standard_normal(&mut rng);
        assert!(z32.is_finite(), "{z32}");
    }
    let (mut eps, mut z) = ([0.0; D], [0.0; D]);
    reparam::sample_diag(&mu, &lv, &mut rng, &mut eps, &mut z);
    assert!(all_finite(&eps) && all_finite(&z), "{eps:?} {z:?}");
    reparam::sample_full(&mu, &l, &mut rng, &mut eps, &mut z);
    assert!(all_finite(&z), "{z:?}");
    let (mut gm, mut gl) = ([0.0; D], [[0.0; D]; D]);
    reparam::reparam_full_backward(&eps, &z, &mut gm, &mut gl);
    assert!(all_finite(&gm) && gl.iter().all(|r| all_finite(r)));
    if let Ok(m) = m {
        let (x, comps) = m.sample(8, &mut rng);
        assert!(all_finite(&x), "{x:?}");
        assert!(comps.iter().all(|&c| c < k && m.weights()[c] > 0.0), "{comps:?}");
    }
}

type Net = Chain<
    Dense<f64, 3, 6>,
    Chain<
        Act<Tanh, 6>,
        Chain<
            Dense<f64, 6, 6>,
            Chain<
                Act<LeakyRelu<f64>, 6>,
                Chain<
                    Dense<f64, 6, 6>,
                    Chain<
                        Act<Relu, 6>,
                        Chain<
                            Dense<f64, 6, 6>,
                            Chain<Act<Softplus, 6>, Chain<Dense<f64, 6, 2>, Act<Sigmoid, 2>>>,
                        >,
                    >,
                >,
            >,
        >,
    >,
>;

/// **mlp**: a 3 → 6 → 6 → 6 → 6 → 2 network through every activation, with arbitrary weights in
/// ±10 and inputs in ±10: forward, MSE loss, backward and an Adam step give finite outputs,
/// gradients and parameters (sigmoid output in [0, 1]), and backward is repeatable.
pub fn mlp(bytes: &[u8]) {
    let mut input = Input::new(bytes);
    let slope = input.f64_in(0.0, 1.0);
    let mut net: Net = Chain(
        Dense::zeros(),
        Chain(
            Act(Tanh),
            Chain(
                Dense::zeros(),
                Chain(
                    Act(LeakyRelu { slope }),
                    Chain(
                        Dense::zeros(),
                        Chain(
                            Act(Relu),
                            Chain(Dense::zeros(), Chain(Act(Softplus), Chain(Dense::zeros(), Act(Sigmoid)))),
                        ),
                    ),
                ),
            ),
        ),
    );
    net.for_each_param(&mut |p| *p = input.f64_in(-10.0, 10.0));
    let x: [f64; 3] = std::array::from_fn(|_| input.f64_in(-10.0, 10.0));
    let target: [f64; 2] = std::array::from_fn(|_| input.f64_in(-10.0, 10.0));
    let mut cache = net.new_cache_of();
    let y = net.forward(&x, &mut cache);
    assert!(y.iter().all(|v| (0.0..=1.0).contains(v)), "{y:?}");
    assert_eq!(y, net.predict(&x));
    let mut dy = [0.0; 2];
    let loss = mse(&y, &target, &mut dy);
    assert!(loss.is_finite() && loss >= 0.0 && all_finite(&dy));
    let mut grads = net.zeros_like();
    let dx = net.backward(&cache, &dy, &mut grads);
    assert!(all_finite(&dx), "{dx:?}");
    let mut finite = true;
    grads.visit_params(&mut |g| finite &= g.is_finite());
    assert!(finite, "non-finite parameter gradient");
    let mut again = net.zeros_like();
    assert_eq!(net.backward(&cache, &dy, &mut again), dx);
    let mut adam = Adam::new(&net, input.f64_in(1e-6, 1.0));
    adam.step(&mut net, &grads);
    net.visit_params(&mut |p| finite &= p.is_finite());
    assert!(finite, "non-finite parameter after an Adam step");
}

/// Model JSON text from the fuzzer: half the time raw bytes (syntax, types, nesting), half the
/// time a well-formed model of K, D ≤ 4 whose numbers come from raw bits or moderate ranges and
/// whose shapes are sometimes off by one (so the checks past parsing are reached).
fn model_text(input: &mut Input<'_>) -> String {
    if input.byte() & 1 == 0 {
        let n = input.range(0, 255) * 2;
        return String::from_utf8_lossy(input.take(n)).into_owned();
    }
    let (k, d, kind) = (input.range(1, 4), input.range(1, 4), input.byte() % 3);
    let wild = input.byte().is_multiple_of(4);
    let mut num = |lo: f64, hi: f64| if wild { input.finite_f64() } else { input.f64_in(lo, hi) };
    let join = |v: Vec<String>| format!("[{}]", v.join(","));
    let mut weights: Vec<f64> = (0..k).map(|_| num(1e-3, 1.0)).collect();
    let total: f64 = weights.iter().sum();
    if total.is_finite() && total > 0.0 {
        weights.iter_mut().for_each(|w| *w /= total);
    }
    let weights = join(weights.iter().map(|w| format!("{w:e}")).collect());
    let means =
        join((0..k).map(|_| join((0..d).map(|_| format!("{:e}", num(-10.0, 10.0))).collect())).collect());
    let (name, cov) = match kind {
        0 => {
            // A·Aᵀ + I/10: positive definite unless the wild numbers overflow it.
            let covs = (0..k)
                .map(|_| {
                    let a: Vec<f64> = (0..d * d).map(|_| num(-3.0, 3.0)).collect();
                    join(
                        (0..d)
                            .map(|i| {
                                join(
                                    (0..d)
                                        .map(|j| {
                                            let dot: f64 = (0..d).map(|t| a[i * d + t] * a[j * d + t]).sum();
                                            format!("{:e}", dot + if i == j { 0.1 } else { 0.0 })
                                        })
                                        .collect(),
                                )
                            })
                            .collect(),
                    )
                })
                .collect();
            ("full", join(covs))
        }
        1 => (
            "diag",
            join((0..k).map(|_| join((0..d).map(|_| format!("{:e}", num(1e-6, 1e6))).collect())).collect()),
        ),
        _ => ("spherical", join((0..k).map(|_| format!("{:e}", num(1e-6, 1e6))).collect())),
    };
    let mut text =
        format!(r#"{{"covariance_type":"{name}","weights":{weights},"means":{means},"covariances":{cov}}}"#);
    if input.byte().is_multiple_of(8) {
        // Off by one somewhere: a dropped number (the last one of the text).
        if let Some(i) = text.rfind(',') {
            let end = text[i..].find(']').map_or(text.len(), |e| i + e);
            text.replace_range(i..end, "");
        }
    }
    text
}

/// End to end over the CLI's inputs (issue 21): model-JSON text through
/// [`parse_model`] (as `gmm score`/`predict`/`sample` load a model), then CSV bytes through the
/// chunked reader with the model's width ([`CsvRows::expect_columns`], as `score`/`predict`
/// stream), then `score_samples`, `predict` and `sample`. Properties: no panic, no hang; bad
/// input is an error; a score is finite or −∞ (zero density, which the CLI reports as an
/// error), never NaN or +∞; labels are below K; draws are never NaN.
pub fn cli_inputs(bytes: &[u8]) {
    let mut input = Input::new(bytes);
    let chunk_rows = input.range(1, 8);
    let n_samples = input.range(0, 16);
    let text = model_text(&mut input);
    let mut rng = FuzzRng::new(&mut input);
    let csv = input.rest();
    let Ok(model) = parse_model(&text) else { return };
    let (k, d) = (model.shape().components, model.shape().features);
    assert!((1..=64).contains(&k) && (1..=64).contains(&d));
    let mut rows = CsvRows::<f64, _>::new(csv, Path::new("fuzz.csv")).expect_columns(d);
    let mut chunk = Vec::new();
    while let Ok(n) = rows.next_chunk(chunk_rows, &mut chunk) {
        if n == 0 {
            break;
        }
        assert_eq!(chunk.len(), n * d);
        if let Ok(scores) = model.score_samples(&chunk) {
            assert_eq!(scores.len(), n);
            assert!(scores.iter().all(|s| s.is_finite() || *s == f64::NEG_INFINITY), "score {scores:?}");
        }
        if let Ok(labels) = model.predict(&chunk) {
            assert!(labels.len() == n && labels.iter().all(|&l| l < k), "labels {labels:?}");
        }
    }
    let (x, labels) = model.sample(n_samples, &mut rng);
    assert_eq!(x.len(), n_samples * d);
    assert!(x.iter().all(|v| !v.is_nan()) && labels.iter().all(|&l| l < k), "draws {x:?}");
}
