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
