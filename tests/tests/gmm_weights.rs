//! Sample weights in the kernels: a sample of weight w counts as w copies of it.

use crabmix_kernels::Error;
use crabmix_kernels::gmm::{CovarianceKind, GaussianMixture, Shape, StatsMut, Totals};

type Sums = (Vec<f64>, Vec<f64>, Vec<f64>, Totals<f64>);

/// Accumulates `rows` (each with its weight) into fresh statistics under `model`.
fn accumulate(model: &GaussianMixture<f64, 2, 2>, rows: &[([f64; 2], f64)]) -> Result<Sums, Error> {
    let shape = Shape::new(2, 2, CovarianceKind::Full);
    let (mut sh, mut n, mut s1, mut s2, mut worst) =
        (vec![0.0; 4], vec![0.0; 2], vec![0.0; 4], vec![0.0; 8], vec![0.0; 2]);
    let mut totals = Totals::default();
    let mut stats = StatsMut::new(shape, &mut sh, &mut n, &mut s1, &mut s2, &mut worst, &mut totals)?;
    stats.reset(model.means().as_flattened())?;
    let (mut lp, mut work) = ([0.0; 2], [0.0; 4]);
    for (x, w) in rows {
        stats.accumulate_weighted(&model.view(), x, *w, &mut lp, &mut work)?;
    }
    Ok((n, s1, s2, totals))
}

fn model() -> GaussianMixture<f64, 2, 2> {
    GaussianMixture::new(
        CovarianceKind::Full,
        [0.3, 0.7],
        [[0.0, 0.0], [2.0, 1.0]],
        [[[1.0, 0.2], [0.2, 0.5]], [[0.7, -0.1], [-0.1, 1.2]]],
    )
    .unwrap()
}

#[test]
fn weight_three_equals_three_copies() {
    let (a, b) = ([0.4, -0.3], [1.5, 2.0]);
    let weighted = accumulate(&model(), &[(a, 3.0), (b, 1.0), (b, 0.0)]).unwrap();
    let repeated = accumulate(&model(), &[(a, 1.0), (a, 1.0), (a, 1.0), (b, 1.0)]).unwrap();
    let close =
        |x: &[f64], y: &[f64]| x.iter().zip(y).all(|(p, q)| (p - q).abs() <= 1e-15 * q.abs().max(1.0));
    assert!(
        close(&weighted.0, &repeated.0) && close(&weighted.1, &repeated.1) && close(&weighted.2, &repeated.2)
    );
    assert_eq!(weighted.3.total_weight(), 4.0);
    assert_eq!((weighted.3.samples, repeated.3.samples), (3, 4));
    let (mw, mr) = (weighted.3.mean_log_likelihood().unwrap(), repeated.3.mean_log_likelihood().unwrap());
    assert!((mw - mr).abs() < 1e-15, "{mw} vs {mr}");
    // Unit weights leave the excess exactly 0: N stays an exact count.
    assert_eq!(repeated.3.weight_excess, 0.0);
}

#[test]
fn negative_or_non_finite_weights_are_typed_errors() {
    for w in [-1.0, f64::NAN, f64::INFINITY] {
        let e = accumulate(&model(), &[([0.0, 0.0], w)]).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { name: "sample_weight", .. }), "{w}: {e:?}");
    }
}

mod initialization {
    //! The initialization with sample weights (`initialize_weighted`): a row of integer weight
    //! w is w repeated rows, draw for draw, for `kmeans` and `k-means++`.

    use crabmix::gmm::{Mixture, Stats};
    use crabmix_kernels::Error;
    use crabmix_kernels::gmm::{CovarianceKind, InitMethod, initialize, initialize_weighted};
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// 40 distinct rows in 2-D (three loose clusters) with weights 1 to 4, and the rows
    /// repeated weight times in the same order.
    fn grouped() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut rows = Vec::new();
        let mut weights = Vec::new();
        let mut repeated = Vec::new();
        for i in 0..40u32 {
            let c = (i % 3) as f64;
            let x = [c * 3.0 + f64::from((i * 37) % 17) / 9.0, c - f64::from((i * 53) % 13) / 7.0];
            let w = 1 + (i * 7) % 4;
            rows.extend(x);
            weights.push(f64::from(w));
            for _ in 0..w {
                repeated.extend(x);
            }
        }
        (rows, weights, repeated)
    }

    fn init(data: &[f64], weights: Option<&[f64]>, method: InitMethod, k: usize, seed: u64) -> Mixture<f64> {
        let d = 2;
        let eye: Vec<f64> = (0..k).flat_map(|_| [1.0, 0.0, 0.0, 1.0]).collect();
        let mut m =
            Mixture::new(CovarianceKind::Full, d, vec![1.0 / k as f64; k], vec![0.0; k * d], eye).unwrap();
        let mut stats = Stats::new(m.shape());
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut dist = vec![0.0; data.len() / d];
        initialize_weighted(
            data,
            weights,
            &mut m.view_mut(),
            &mut stats.view_mut(),
            method,
            1e-6,
            &mut rng,
            &mut [0.0; 2],
            Some(&mut dist),
        )
        .unwrap();
        m
    }

    #[test]
    fn integer_weights_make_the_draws_of_the_repeated_rows() {
        let (rows, weights, repeated) = grouped();
        for method in [InitMethod::KMeans, InitMethod::KMeansPlusPlus] {
            for k in [2, 3, 5] {
                for seed in 0..20 {
                    let a = init(&rows, Some(&weights), method, k, seed);
                    let b = init(&repeated, None, method, k, seed);
                    let close = |x: &[f64], y: &[f64]| {
                        x.iter().zip(y).all(|(p, q)| (p - q).abs() <= 1e-12 * q.abs().max(1.0))
                    };
                    assert!(
                        close(a.weights(), b.weights())
                            && close(a.means(), b.means())
                            && close(a.covariances(), b.covariances()),
                        "{method:?} K = {k} seed {seed}:\n{:?}\n{:?}",
                        a.means(),
                        b.means()
                    );
                }
            }
        }
    }

    #[test]
    fn without_weights_the_initialization_is_unchanged() {
        // `initialize` is `initialize_weighted` with None: bit for bit.
        let (_, _, repeated) = grouped();
        for method in
            [InitMethod::KMeans, InitMethod::KMeansPlusPlus, InitMethod::RandomFromData, InitMethod::Random]
        {
            let a = init(&repeated, None, method, 3, 7);
            let mut b = a.clone();
            let mut stats = Stats::new(b.shape());
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
            let mut dist = vec![0.0; repeated.len() / 2];
            initialize(
                &repeated,
                &mut b.view_mut(),
                &mut stats.view_mut(),
                method,
                1e-6,
                &mut rng,
                &mut [0.0; 2],
                Some(&mut dist),
            )
            .unwrap();
            assert_eq!(a, b, "{method:?}");
        }
    }

    #[test]
    fn a_row_of_weight_zero_never_seeds_and_counts_for_nothing() {
        // Rows of weight 0 far away: no centre lands there, and the M-step ignores them
        // (every method).
        let (mut rows, mut weights, _) = grouped();
        for j in 0..5 {
            rows.extend([1000.0 + f64::from(j), -1000.0]);
            weights.push(0.0);
        }
        for method in
            [InitMethod::KMeans, InitMethod::KMeansPlusPlus, InitMethod::RandomFromData, InitMethod::Random]
        {
            for seed in 0..10 {
                let m = init(&rows, Some(&weights), method, 3, seed);
                assert!(m.means().iter().all(|v| v.abs() < 100.0), "{method:?} seed {seed}: {:?}", m.means());
                assert!(m.covariances().iter().all(|v| v.abs() < 100.0), "{method:?} seed {seed}");
            }
        }
    }

    #[test]
    fn bad_weights_are_typed_errors() {
        let (rows, _, _) = grouped();
        let eye: Vec<f64> = (0..2).flat_map(|_| [1.0, 0.0, 0.0, 1.0]).collect();
        let mut m = Mixture::new(CovarianceKind::Full, 2, vec![0.5; 2], vec![0.0; 4], eye).unwrap();
        let mut stats = Stats::new(m.shape());
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
        let mut run = |w: &[f64]| {
            initialize_weighted(
                &rows,
                Some(w),
                &mut m.view_mut(),
                &mut stats.view_mut(),
                InitMethod::KMeans,
                1e-6,
                &mut rng,
                &mut [0.0; 2],
                None,
            )
            .unwrap_err()
        };
        assert!(matches!(
            run(&[1.0; 3]),
            Error::ShapeMismatch { what: "sample weights", expected: 40, found: 3 }
        ));
        let mut w = vec![1.0; 40];
        w[3] = -1.0;
        assert!(matches!(run(&w), Error::InvalidParameter { name: "sample_weight", .. }));
        assert!(matches!(run(&[0.0; 40]), Error::InvalidParameter { name: "sample_weight", .. }));
    }
}
