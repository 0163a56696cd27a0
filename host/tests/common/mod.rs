//! Helpers shared by the host's integration tests.

use crabmix::gmm::{Mixture, Stats};
use crabmix::kernels::Real;
use crabmix::kernels::gmm::EStep;

/// Statistics of one pass of `estep` with shifts = the model's means (what `em_loop` does).
pub fn pass<T: Real, E: EStep<T> + ?Sized>(model: &Mixture<T>, estep: &mut E) -> Stats<T> {
    let mut stats = Stats::new(model.shape());
    let mut v = stats.view_mut();
    v.reset(model.means()).unwrap();
    estep.accumulate(&model.view(), &mut v).unwrap();
    stats
}
