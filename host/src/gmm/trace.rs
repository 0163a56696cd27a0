//! [`LowerBounds`]: the per-iteration lower bounds of every run of a fit (scikit-learn's
//! `lower_bounds_` is the kept run's), and its `verbose` lines.

/// Lower bounds per iteration, one list per initialization, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LowerBounds {
    verbose: bool,
    runs: Vec<Vec<f64>>,
}

impl LowerBounds {
    /// An empty trace; `verbose` prints one stderr line per iteration (initialization,
    /// iteration, lower bound, change), as scikit-learn's `verbose=2`.
    pub fn new(verbose: bool) -> Self {
        Self { verbose, runs: Vec::new() }
    }

    /// Starts the next initialization's list and returns the observer that appends to it
    /// (called with iteration t ≥ 1 and its lower bound).
    pub fn start_run(&mut self) -> impl FnMut(u32, f64) + '_ {
        let verbose = self.verbose;
        let init = self.runs.len();
        self.runs.push(Vec::new());
        let run = self.runs.last_mut().expect("just pushed");
        move |iteration, bound| {
            if verbose {
                let change = run.last().map_or(f64::INFINITY, |&previous| bound - previous);
                eprintln!(
                    "init {init} iteration {iteration:5}  lower bound {bound:+.12e}  change {change:+.3e}"
                );
            }
            run.push(bound);
        }
    }

    /// The lower bounds of initialization `init` (0-based; empty if it did not run).
    pub fn run(&self, init: u32) -> &[f64] {
        self.runs.get(init as usize).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_run_keeps_its_own_history() {
        let mut t = LowerBounds::new(false);
        {
            let mut o = t.start_run();
            o(1, -3.0);
            o(2, -2.5);
        }
        t.start_run()(1, -4.0);
        assert_eq!(t.run(0), &[-3.0, -2.5]);
        assert_eq!(t.run(1), &[-4.0]);
        assert!(t.run(2).is_empty());
    }
}
