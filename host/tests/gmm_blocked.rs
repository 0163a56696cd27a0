//! The blocked E-step against the reference: the kernels' per-sample streaming pass
//! (`SerialEStep`, i.e. `StatsMut::accumulate` row by row). Same model, same data, every
//! covariance kind and both instruction-set builds (portable and, where the CPU has it,
//! AVX2+FMA); the blocked statistics must agree to 1e-12 (f64) / 1e-4 (f32) relative to each
//! entry's natural scale, its errors must name the same rows, and its result must not depend on
//! the thread count.

use crabmix::gmm::blocked::{BLOCK_ROWS, BLOCKED_CHUNK_ROWS, BlockedEStep};
use crabmix::gmm::estep::{HostEStep, uses_blocked};
use crabmix::gmm::{Mixture, Stats};
use crabmix::math::isa::Isa;
use crabmix_kernels::gaussian::standard_normal;
use crabmix_kernels::gmm::{CovarianceKind, EStep, FitConfig, SerialEStep, Shape};
use crabmix_kernels::{Error, Real};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

mod common;
use common::pass;

/// A random full-covariance mixture (means spread by 3, covariances A Aᵀ + 0.2 I) and N samples
/// from it, a few of them pushed far out so some responsibilities underflow to exactly 0.
fn problem<T: Real>(n: usize, d: usize, k: usize, seed: u64) -> (Mixture<T>, Vec<T>) {
    problem_of_kind(CovarianceKind::Full, n, d, k, seed)
}

/// [`problem`]'s data, with the starting model's covariances made `kind`'s: the diagonal for
/// `diag`, its mean for `spherical`, component 0's matrix for every component for `tied`.
fn problem_of_kind<T: Real>(
    kind: CovarianceKind,
    n: usize,
    d: usize,
    k: usize,
    seed: u64,
) -> (Mixture<T>, Vec<T>) {
    let (full, data) = full_problem::<T>(n, d, k, seed);
    if kind == CovarianceKind::Full {
        return (full, data);
    }
    let c = full.covariances();
    let mut covs = vec![T::ZERO; k * d * d];
    for m in 0..k {
        let mean_var =
            (0..d).map(|i| c[m * d * d + i * d + i]).fold(T::ZERO, |s, v| s + v) / T::from_usize(d);
        for i in 0..d {
            for j in 0..d {
                covs[m * d * d + i * d + j] = match kind {
                    CovarianceKind::Tied => c[i * d + j],
                    CovarianceKind::Diag if i == j => c[m * d * d + i * d + i],
                    CovarianceKind::Spherical if i == j => mean_var,
                    _ => T::ZERO,
                };
            }
        }
    }
    let model = Mixture::new(kind, d, full.weights().to_vec(), full.means().to_vec(), covs).unwrap();
    (model, data)
}

fn full_problem<T: Real>(n: usize, d: usize, k: usize, seed: u64) -> (Mixture<T>, Vec<T>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut normal = || standard_normal::<f64, _>(&mut rng);
    let means: Vec<f64> = (0..k * d).map(|_| 3.0 * normal()).collect();
    let mut covs = vec![0.0; k * d * d];
    for c in 0..k {
        let a: Vec<f64> = (0..d * d).map(|_| 0.5 * normal()).collect();
        for i in 0..d {
            for j in 0..d {
                let v: f64 = (0..d).map(|l| a[i * d + l] * a[j * d + l]).sum();
                covs[c * d * d + i * d + j] = v + if i == j { 0.2 } else { 0.0 };
            }
        }
    }
    let mut weights: Vec<f64> = (0..k).map(|_| 0.5 + normal().abs()).collect();
    let total: f64 = weights.iter().sum();
    weights.iter_mut().for_each(|w| *w /= total);
    let truth = Mixture::<f64>::new(CovarianceKind::Full, d, weights, means, covs).unwrap();
    let (mut data, _) = truth.sample(n, &mut rng);
    for row in (0..n).step_by(97) {
        data[row * d] += 40.0;
    }
    // Start EM from a perturbed model so the deviations from μ_k are not centred.
    let mut start = truth.clone();
    let shifted: Vec<f64> = truth.means().iter().map(|m| m + 0.4).collect();
    start = Mixture::new(
        CovarianceKind::Full,
        d,
        start.weights().to_vec(),
        shifted,
        start.covariances().to_vec(),
    )
    .unwrap();
    (start.cast::<T>().unwrap(), data.iter().map(|&v| T::from_f64(v)).collect())
}

fn streaming<T: Real>(model: &Mixture<T>, data: &[T]) -> Stats<T> {
    let shape = model.shape();
    let mut lp = vec![T::ZERO; shape.components];
    let mut work = vec![T::ZERO; 2 * shape.features];
    pass(model, &mut SerialEStep::new(data, &mut lp, &mut work))
}

/// Every statistic of `got` within `rtol` of `want` on its scale: n_k and the log-likelihood
/// relative to themselves; s1_k,i relative to √(n_k · s2_k,ii); s2_k,ij relative to
/// √(s2_k,ii s2_k,jj) (off-diagonal sums may cancel to near zero).
fn assert_stats_close<T: Real>(what: &str, got: &mut Stats<T>, want: &mut Stats<T>, rtol: f64) {
    let (g, w) = (got.view_mut(), want.view_mut());
    let (g, w) = (g.as_ref(), w.as_ref());
    let shape = w.shape();
    let (k_n, d) = (shape.components, shape.features);
    let f = |v: T| v.to_f64();
    let close = |name: String, a: f64, b: f64, scale: f64| {
        assert!(
            (a - b).abs() <= rtol * scale + f64::MIN_POSITIVE,
            "{what}: {name}: blocked {a:e}, streaming {b:e}, |diff| {:e} > {rtol:e} · {scale:e}",
            (a - b).abs()
        );
    };
    assert_eq!(g.totals().samples, w.totals().samples, "{what}: samples");
    let (lg, lw) = (f(g.totals().log_likelihood_sum()), f(w.totals().log_likelihood_sum()));
    close("log-likelihood".into(), lg, lw, lw.abs());
    let (wg, ww) = (f(g.totals().worst_log_likelihood), f(w.totals().worst_log_likelihood));
    close("worst log-likelihood".into(), wg, ww, ww.abs());
    assert_eq!(g.worst_sample(), w.worst_sample(), "{what}: worst sample");
    assert_eq!(g.shifts(), w.shifts(), "{what}: shifts");
    for k in 0..k_n {
        let n = f(w.resp_sums()[k]);
        close(format!("n[{k}]"), f(g.resp_sums()[k]), n, n);
        let s2 = |s: &[T], i: usize, j: usize| f(s[k * d * d + i * d + j]);
        for i in 0..d {
            let scale = (n * s2(w.s2(), i, i)).sqrt();
            close(format!("s1[{k}][{i}]"), f(g.s1()[k * d + i]), f(w.s1()[k * d + i]), scale);
            for j in 0..d {
                let scale = (s2(w.s2(), i, i) * s2(w.s2(), j, j)).sqrt();
                close(format!("s2[{k}][{i},{j}]"), s2(g.s2(), i, j), s2(w.s2(), i, j), scale);
            }
        }
    }
}

const KINDS: [CovarianceKind; 4] =
    [CovarianceKind::Full, CovarianceKind::Diag, CovarianceKind::Spherical, CovarianceKind::Tied];

fn compare<T: Real>(kind: CovarianceKind, n: usize, d: usize, k: usize, rtol: f64) {
    let (model, data) = problem_of_kind::<T>(kind, n, d, k, (n * 1000 + d * 17 + k) as u64);
    let mut want = streaming(&model, &data);
    for isa in Isa::supported() {
        let mut got = pass(&model, &mut BlockedEStep::new(&data, d).with_isa(isa));
        let what = format!("{} {} {} N={n} D={d} K={k}", T::NAME, kind.name(), isa.name());
        assert_stats_close(&what, &mut got, &mut want, rtol);
    }
}

/// Shapes around every boundary: one row, a partial strip, a partial block, a partial chunk,
/// several chunks; D = 1 (1 × 1 tiles), odd D (edge tiles), K = 1 (responsibility 1 everywhere).
/// The `full` Gram matrix has D + 1 rows in groups of 4 (AVX-512) or 2: D + 1 = 2, 3, 4, 6, 8,
/// 11 give every cut diagonal block (1, 2, 3 rows) and every cut column tile (1, 2, 3); with 4 × 4
/// tiles, five rows left go in one 5 × 5 diagonal block and five columns in one 4 × 5 tile:
/// D + 1 = 5 (that block alone), 9, 13 and 17 (one, two and three 4 × 5 tiles before it).
const CASES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (5, 3, 2),
    (BLOCK_ROWS - 3, 2, 2),
    (BLOCK_ROWS + 1, 1, 1),
    (1000, 1, 3),
    (1000, 5, 1),
    (BLOCKED_CHUNK_ROWS + 77, 7, 4),
    (3 * BLOCKED_CHUNK_ROWS + BLOCK_ROWS + 9, 16, 16),
    (10_001, 8, 8),
    (6000, 2, 16),
    (2 * BLOCK_ROWS + 5, 10, 3),
    (700, 4, 3),
    (BLOCK_ROWS + 40, 12, 5),
];

#[test]
fn blocked_matches_streaming_f64() {
    for &(n, d, k) in CASES {
        compare::<f64>(CovarianceKind::Full, n, d, k, 1e-12);
    }
}

#[test]
fn blocked_matches_streaming_f32() {
    for &(n, d, k) in CASES {
        compare::<f32>(CovarianceKind::Full, n, d, k, 1e-4);
    }
}

/// `diag`, `spherical` and `tied` on the boundary shapes (the diagonal kernels' edges, tied's
/// shared matrix through the full kernels), both precisions.
#[test]
fn blocked_matches_streaming_for_every_kind() {
    for kind in [CovarianceKind::Diag, CovarianceKind::Spherical, CovarianceKind::Tied] {
        for &(n, d, k) in CASES {
            compare::<f64>(kind, n, d, k, 1e-12);
            compare::<f32>(kind, n, d, k, 1e-4);
        }
    }
}

/// Tied components (two identical ones: every row's maximum may be attained twice, where counting
/// the maximal term twice or not at all in 1 + t would move every statistic) and components so
/// far apart that most e^{lp − m} underflow: the block-wide responsibilities match the streaming
/// pass within the tolerances.
#[test]
fn blocked_responsibilities_handle_ties_and_underflow() {
    for far in [0.0, 60.0] {
        let d = 3;
        let means = vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, far, -far, 2.0];
        let mut covs = vec![0.0; 3 * d * d];
        for c in 0..3 {
            for i in 0..d {
                covs[c * d * d + i * d + i] = if c < 2 { 1.0 } else { 3.0 };
            }
        }
        let model = Mixture::<f64>::new(CovarianceKind::Full, d, vec![0.25, 0.25, 0.5], means, covs).unwrap();
        let (data, _) = model.sample(3 * BLOCK_ROWS + 5, &mut Xoshiro256PlusPlus::seed_from_u64(8));
        let mut want = streaming(&model, &data);
        let mut got = pass(&model, &mut BlockedEStep::new(&data, d));
        assert_stats_close(&format!("f64 far={far}"), &mut got, &mut want, 1e-12);
        let m32 = model.cast::<f32>().unwrap();
        let d32: Vec<f32> = data.iter().map(|&v| v as f32).collect();
        let mut want = streaming(&m32, &d32);
        let mut got = pass(&m32, &mut BlockedEStep::new(&d32, d));
        assert_stats_close(&format!("f32 far={far}"), &mut got, &mut want, 1e-4);
    }
}

/// Bitwise the same statistics on 1, 2 and 3 threads, for every kind, precision and build.
#[test]
fn blocked_does_not_depend_on_thread_count() {
    fn check<T: Real>(kind: CovarianceKind, isa: Isa) {
        let (model, data) = problem_of_kind::<T>(kind, 5 * BLOCKED_CHUNK_ROWS + 300, 8, 5, 7);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut s = pool.install(|| pass(&model, &mut BlockedEStep::new(&data, 8).with_isa(isa)));
            let v = s.view_mut();
            let r = v.as_ref();
            (r.resp_sums().to_vec(), r.s1().to_vec(), r.s2().to_vec(), *r.totals())
        };
        let one = run(1);
        assert_eq!(one, run(2), "{} {} {}", T::NAME, kind.name(), isa.name());
        assert_eq!(one, run(3), "{} {} {}", T::NAME, kind.name(), isa.name());
    }
    for kind in KINDS {
        for isa in Isa::supported() {
            check::<f64>(kind, isa);
            check::<f32>(kind, isa);
        }
    }
}

/// Statistics reset to shifts other than the model's means: the blocked pass merges its chunks
/// (centred on the means) into them exactly as the streaming pass accumulates around them.
#[test]
fn blocked_respects_caller_shifts() {
    let (model, data) = problem::<f64>(3000, 4, 3, 11);
    let shifts: Vec<f64> = model.means().iter().map(|m| m - 1.5).collect();
    let run = |blocked: bool| {
        let mut stats = Stats::new(model.shape());
        let mut v = stats.view_mut();
        v.reset(&shifts).unwrap();
        if blocked {
            BlockedEStep::new(&data, 4).accumulate(&model.view(), &mut v).unwrap();
        } else {
            let (mut lp, mut work) = (vec![0.0; 3], vec![0.0; 8]);
            SerialEStep::new(&data, &mut lp, &mut work).accumulate(&model.view(), &mut v).unwrap();
        }
        stats
    };
    assert_stats_close("shifted", &mut run(true), &mut run(false), 1e-12);
}

fn first_error<T: Real, E: EStep<T>>(model: &Mixture<T>, estep: &mut E) -> Error {
    let mut stats = Stats::new(model.shape());
    let mut v = stats.view_mut();
    v.reset(model.means()).unwrap();
    estep.accumulate(&model.view(), &mut v).unwrap_err()
}

/// NaN/∞ samples and samples of zero density are reported with their global row, the lowest
/// failing row winning, exactly as the streaming pass reports them; at D = 3 (whole blocks) and
/// D = 12 (`f64` rows of 96 bytes: half blocks), `full`, and `diag` / `spherical` (whose f64
/// blocks are centred as they are transposed, a bad block then starting over on the general
/// path).
#[test]
fn blocked_reports_the_same_rows() {
    for kind in [CovarianceKind::Full, CovarianceKind::Diag, CovarianceKind::Spherical] {
        for d in [3, 12] {
            reports_the_same_rows(kind, d);
        }
    }
}

fn reports_the_same_rows(kind: CovarianceKind, d: usize) {
    let (model, clean) = problem_of_kind::<f64>(kind, 3 * BLOCKED_CHUNK_ROWS, d, 4, 5);
    let cases: &[&[(usize, usize, f64)]] = &[
        &[(BLOCKED_CHUNK_ROWS + BLOCK_ROWS + 13, 2, f64::NAN)],
        &[(0, 0, f64::INFINITY)],
        &[(2 * BLOCKED_CHUNK_ROWS + 5, 1, 1e300)],
        // The earlier row fails first whatever its error.
        &[(4000, 1, 1e300), (4001, 0, f64::NAN)],
        &[(4001, 0, 1e300), (4000, 2, f64::NEG_INFINITY), (9, 0, f64::NAN)],
    ];
    for bad in cases {
        let mut data = clean.clone();
        for &(row, feature, v) in bad.iter() {
            data[row * d + feature] = v;
        }
        let (mut lp, mut work) = (vec![0.0; 4], vec![0.0; 2 * d]);
        let want = first_error(&model, &mut SerialEStep::new(&data, &mut lp, &mut work));
        assert!(matches!(want, Error::NonFiniteSample { .. } | Error::ZeroDensity { .. }), "{want:?}");
        let what = format!("{} D = {d}: {bad:?}", kind.name());
        assert_eq!(first_error(&model, &mut BlockedEStep::new(&data, d)), want, "{what}");
        assert_eq!(first_error(&model, &mut HostEStep::new(&data, d)), want, "{what}");
    }
}

/// `Mixture::refine` (which runs the blocked pass for full covariances) against `em_loop` over
/// the streaming pass: same iterations, parameters within rounding.
#[test]
fn mixture_refine_uses_blocked_and_matches_streaming() {
    let (d, k) = (6, 5);
    let (model, data) = problem::<f64>(20_000, d, k, 3);
    assert!(uses_blocked(model.shape(), 20_000));
    let config = FitConfig { max_iter: 8, tol: 0.0, ..FitConfig::default() };
    let (got, got_report) = model.refine(&data, &config).unwrap();
    let mut want = model.clone();
    let mut stats = Stats::new(model.shape());
    let (mut lp, mut work) = (vec![0.0; k], vec![0.0; 2 * d]);
    let want_report = crabmix_kernels::gmm::em_loop(
        &mut want.view_mut(),
        &mut stats.view_mut(),
        &mut SerialEStep::new(&data, &mut lp, &mut work),
        &config,
    )
    .unwrap();
    assert_eq!(got_report.n_iter, want_report.n_iter);
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1.0);
    assert!(rel(got_report.mean_log_likelihood, want_report.mean_log_likelihood) < 1e-11);
    for (a, b) in got.weights().iter().zip(want.weights()) {
        assert!(rel(*a, *b) < 1e-10, "weights {a} vs {b}");
    }
    for (a, b) in got.means().iter().zip(want.means()) {
        assert!(rel(*a, *b) < 1e-10, "means {a} vs {b}");
    }
    for (a, b) in got.covariances().iter().zip(want.covariances()) {
        assert!(rel(*a, *b) < 1e-10, "covariances {a} vs {b}");
    }
}

/// [`HostEStep`] takes the blocked pass for every kind (enough rows, no weights).
#[test]
fn host_estep_blocks_every_kind() {
    for kind in KINDS {
        assert!(uses_blocked(Shape::new(3, 4, kind), 5000), "{kind:?}");
        assert!(!uses_blocked(Shape::new(3, 4, kind), 10), "{kind:?}");
    }
    assert!(!uses_blocked(Shape::new(0, 4, CovarianceKind::Full), 5000));
}

/// Finite samples and means so far apart that x − μ_k overflows to ±∞ for the component the
/// sample does not belong to (responsibility exactly 0 there): the streaming pass skips that
/// component, and so must the blocked one (no 0 · ∞ = NaN in its sums).
#[test]
fn blocked_handles_overflowing_deviations() {
    let big = 1.5e308;
    let model = Mixture::<f64>::new(CovarianceKind::Full, 1, vec![0.5, 0.5], vec![-big, big], vec![1.0, 1.0])
        .unwrap();
    let data: Vec<f64> =
        // Exactly at the means (δ = 0 for the own component): a NaN could only come from 0 · ∞.
        (0..100).map(|i| if i % 3 == 0 { -big } else { big }).collect();
    let mut want = streaming(&model, &data);
    let mut got = pass(&model, &mut BlockedEStep::new(&data, 1));
    assert_stats_close("overflowing deviations", &mut got, &mut want, 1e-12);
    // The diagonal kernels drop their r = 0 guard on blocks where x − μ_k cannot overflow; here
    // it can, and they must keep it.
    for kind in [CovarianceKind::Diag, CovarianceKind::Spherical] {
        let model = Mixture::<f64>::new(kind, 1, vec![0.5, 0.5], vec![-big, big], vec![1.0, 1.0]).unwrap();
        let mut want = streaming(&model, &data);
        let mut got = pass(&model, &mut BlockedEStep::new(&data, 1));
        assert_stats_close(&format!("overflowing deviations, {kind:?}"), &mut got, &mut want, 1e-12);
    }
}

/// `diag` on data far from zero (every feature offset by 10⁴, components of width ~1 a few
/// widths apart): the f32 blocked statistics, shifted by each component's mean, match the f64
/// streaming pass on the same (f32-rounded) samples and model within f32's digits, which an
/// unshifted Σ r x² − (Σ r x)² / n would lose (x² ≈ 10⁸ against a spread of ~1).
/// K = 3 takes the per-component E-step, K = 6 the centred one (`log_probs_diag_centred_all`);
/// the log-likelihood is checked too.
#[test]
fn blocked_diag_f32_keeps_its_digits_far_from_zero() {
    for k in [3, 6] {
        diag_f32_far_from_zero(k);
    }
}

fn diag_f32_far_from_zero(k: usize) {
    let (d, offset) = (5, 1.0e4);
    let (model, data) = problem_of_kind::<f64>(CovarianceKind::Diag, 4 * BLOCK_ROWS + 17, d, k, 21);
    // The f64 reference gets the f32-rounded means and covariances (and the weights unrounded:
    // rounded ones need not sum to 1 in f64), so the two passes see the same model up to 1e-8.
    let through_f32 = |v: &[f64]| v.iter().map(|&x| x as f32 as f64).collect::<Vec<f64>>();
    let means: Vec<f64> = through_f32(&model.means().iter().map(|m| m + offset).collect::<Vec<_>>());
    let model64 = Mixture::<f64>::new(
        CovarianceKind::Diag,
        d,
        model.weights().to_vec(),
        means,
        through_f32(model.covariances()),
    )
    .unwrap();
    let model = model64.cast::<f32>().unwrap();
    let data: Vec<f32> = data.iter().map(|&v| (v + offset) as f32).collect();
    let mut got = pass(&model, &mut BlockedEStep::new(&data, d));
    let data64: Vec<f64> = data.iter().map(|&v| v as f64).collect();
    let mut want64 = streaming(&model64, &data64);
    let (g, w) = (got.view_mut(), want64.view_mut());
    let (g, w) = (g.as_ref(), w.as_ref());
    for c in 0..k {
        let (n_g, n_w) = (g.resp_sums()[c] as f64, w.resp_sums()[c]);
        assert!((n_g - n_w).abs() <= 1e-4 * n_w, "K = {k} n_{c}: {n_g} vs {n_w}");
        for i in 0..d {
            // The variance about the component mean, the M-step's quantity.
            let var = |s1: f64, s2: f64, n: f64| s2 / n - (s1 / n) * (s1 / n);
            let at = c * d * d + i * d + i;
            let vg = var(g.s1()[c * d + i] as f64, g.s2()[at] as f64, n_g);
            let vw = var(w.s1()[c * d + i], w.s2()[at], n_w);
            assert!(
                (vg - vw).abs() <= 1e-3 * vw,
                "K = {k} var_{c},{i}: f32 blocked {vg} vs f64 streaming {vw}"
            );
        }
    }
    // ln p(x) of single samples (each repeated over a block, so the mean is that sample's, not
    // an average whose errors cancel): the E-step's own error. Centred once by c, a term is off by
    // ~ε |u| (|x − c| + |μ − c|) ≈ 10⁻⁶ here; uncentred, u x ≈ 10⁴ left 8·10⁻⁴.
    for b in [0, 7, 300, 1000] {
        let row = &data[b * d..(b + 1) * d];
        let rows: Vec<f32> = row.iter().copied().cycle().take(BLOCK_ROWS * d).collect();
        let rows64: Vec<f64> = rows.iter().map(|&v| v as f64).collect();
        let mut got = pass(&model, &mut BlockedEStep::new(&rows, d));
        let mut want = streaming(&model64, &rows64);
        let lg = got.view_mut().totals().mean_log_likelihood().unwrap() as f64;
        let lw = want.view_mut().totals().mean_log_likelihood().unwrap();
        assert!(
            (lg - lw).abs() <= 2e-6 * lw.abs().max(1.0),
            "K = {k} ln p(x_{b}): f32 blocked {lg} vs f64 {lw}"
        );
    }
}

/// A finite sample ~1e36 from a tight, correlated component in f32: that component's
/// Mahalanobis sum overflows (+∞ and −∞ partial products: a NaN log-probability), which the
/// kernels count as zero density. The sample's own component explains it, so both passes give
/// it all of the weight — the blocked one through its row-by-row fallback — and agree with the
/// f64 pass, which does not overflow.
#[test]
fn blocked_counts_an_overflowed_component_as_zero_density() {
    let covs = vec![1e-6, 0.5e-6, 0.5e-6, 1e-6, 1.0, 0.0, 0.0, 1.0];
    let model64 =
        Mixture::<f64>::new(CovarianceKind::Full, 2, vec![0.5, 0.5], vec![0.0, 0.0, 1e36, 1e36], covs)
            .unwrap();
    let (data64, labels) = model64.sample(300, &mut Xoshiro256PlusPlus::seed_from_u64(11));
    assert!(labels.contains(&0) && labels.contains(&1));
    let model = model64.cast::<f32>().unwrap();
    let data: Vec<f32> = data64.iter().map(|&v| v as f32).collect();
    let mut want = streaming(&model, &data);
    let mut want64 = streaming(&model64, &data64);
    // Every build: without fused multiply-adds the partial products overflow to +∞ and −∞.
    for isa in Isa::supported() {
        let mut got = pass(&model, &mut BlockedEStep::new(&data, 2).with_isa(isa));
        assert_stats_close(&format!("overflowed component, f32, {}", isa.name()), &mut got, &mut want, 1e-4);
        let (g, w) = (got.view_mut(), want64.view_mut());
        let got_n: Vec<f64> = g.as_ref().resp_sums().iter().map(|&v| v as f64).collect();
        assert_eq!(got_n, w.as_ref().resp_sums(), "n_k against the f64 pass, {}", isa.name());
    }
}

/// `diag` f64 components `widths` of their own widths from the components' centre in every
/// feature (signs alternating so the centre is the offset 10³), widths 0.5, 2 and 1 per
/// feature, the model's means nudged off the data's by a tenth of a width. Its data and model.
fn diag_spread_problem(widths: f64, n: usize) -> (Mixture<f64>, Vec<f64>) {
    let (k, d, offset) = (4, 3, 1.0e3);
    let sigma = [0.5, 2.0, 1.0];
    let signs = [[1.0, 1.0, 1.0], [-1.0, 1.0, -1.0], [1.0, -1.0, -1.0], [-1.0, -1.0, 1.0]];
    let mean = |c: usize, i: usize| offset + signs[c][i] * widths * sigma[i];
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(widths.to_bits());
    let mut data = Vec::with_capacity(n * d);
    for b in 0..n {
        for i in 0..d {
            data.push(mean(b % k, i) + sigma[i] * standard_normal::<f64, _>(&mut rng));
        }
    }
    let means: Vec<f64> = (0..k * d).map(|e| mean(e / d, e % d) + 0.1 * sigma[e % d]).collect();
    let mut covs = vec![0.0; k * d * d];
    for c in 0..k {
        for i in 0..d {
            covs[c * d * d + i * d + i] = sigma[i] * sigma[i];
        }
    }
    (Mixture::new(CovarianceKind::Diag, d, vec![0.25; k], means, covs).unwrap(), data)
}

/// The `diag` statistics taken about the components' common centre (f64, components within
/// √255 ≈ 16 of their widths of it: `moments_diag_shared`) and, past that, about each
/// component's mean: both agree with the streaming pass to 1e-12 on data far from zero, up to
/// the widest spread the shared form is allowed (15.9 widths: the model's means sit a tenth of
/// a width off) and beyond it (16.1, 10³: the per-component form).
#[test]
fn blocked_diag_f64_keeps_the_streaming_digits_on_spread_components() {
    for widths in [2.0, 15.8, 16.1, 1.0e3] {
        let n = 2 * BLOCKED_CHUNK_ROWS + 3 * BLOCK_ROWS + 5;
        let (model, data) = diag_spread_problem(widths, n);
        let mut want = streaming(&model, &data);
        for isa in Isa::supported() {
            let mut got = pass(&model, &mut BlockedEStep::new(&data, 3).with_isa(isa));
            let what = format!("diag f64 {} components {widths} widths apart", isa.name());
            assert_stats_close(&what, &mut got, &mut want, 1e-12);
        }
    }
}
