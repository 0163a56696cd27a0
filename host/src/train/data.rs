//! What the VAE and WGAN do to a table before training: the validation split, per-feature
//! standardization, the Bernoulli range check, and the column check against a model.

use crate::io::csv::Table;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// In-place Fisher–Yates shuffle with `rng` (uniform index by 128-bit multiply-shift; the bias is
/// below 2⁻⁶⁴·n, irrelevant here).
pub fn shuffle<R: Rng + ?Sized>(v: &mut [usize], rng: &mut R) {
    for i in (1..v.len()).rev() {
        let j = ((rng.next_u64() as u128 * (i as u128 + 1)) >> 64) as usize;
        v.swap(i, j);
    }
}

/// Row indices (training, validation) for a validation `fraction` ∈ [0, 1) of `rows` rows:
/// n_val = round(fraction · rows), the rows of a Fisher–Yates permutation drawn from a generator
/// seeded by `seed` alone (its own stream, so the split is the same whatever else the seed
/// drives), each part sorted by row.
///
/// Errors: a fraction outside [0, 1), or one that leaves either part empty (name both counts).
pub fn validation_split(rows: usize, fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>), String> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(format!("--validation must be in [0, 1), not {fraction}"));
    }
    if fraction == 0.0 {
        return Ok(((0..rows).collect(), Vec::new()));
    }
    let n_val = (fraction * rows as f64).round() as usize;
    if n_val == 0 || n_val >= rows {
        return Err(format!(
            "--validation {fraction} of {rows} rows leaves {n_val} validation and {} training rows; \
             both need at least one",
            rows.saturating_sub(n_val)
        ));
    }
    // A constant mixed into the seed keeps this stream apart from the training generator's.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x7661_6c69_6461_7465);
    let mut order: Vec<usize> = (0..rows).collect();
    shuffle(&mut order, &mut rng);
    let (mut val, mut train) = (order[..n_val].to_vec(), order[n_val..].to_vec());
    val.sort_unstable();
    train.sort_unstable();
    Ok((train, val))
}

/// The rows `idx` of row-major `data` (`cols` columns), in that order.
pub fn gather(data: &[f32], cols: usize, idx: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(idx.len() * cols);
    for &i in idx {
        out.extend_from_slice(&data[i * cols..(i + 1) * cols]);
    }
    out
}

/// Per-feature affine map x ↦ (x − mean) / scale stored in a model (`--standardize`), so
/// encoding, decoding and sampling use the training data's units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardization {
    /// Training mean per feature.
    pub mean: Vec<f32>,
    /// Training standard deviation per feature (population, n in the denominator); a constant
    /// feature gets scale 1, so it maps to 0 instead of dividing by zero.
    pub scale: Vec<f32>,
}

impl Standardization {
    /// Mean and standard deviation of each column of `data` (f64 sums, two passes).
    pub fn fit(data: &[f32], cols: usize) -> Self {
        let rows = (data.len() / cols.max(1)).max(1) as f64;
        let mut mean = vec![0.0f64; cols];
        for r in data.chunks_exact(cols) {
            for (m, &v) in mean.iter_mut().zip(r) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= rows);
        let mut var = vec![0.0f64; cols];
        for r in data.chunks_exact(cols) {
            for ((s, &v), m) in var.iter_mut().zip(r).zip(&mean) {
                *s += (v as f64 - m).powi(2);
            }
        }
        let scale = var
            .iter()
            .map(|s| {
                let sd = (s / rows).sqrt() as f32;
                if sd > 0.0 && sd.is_finite() { sd } else { 1.0 }
            })
            .collect();
        Self { mean: mean.iter().map(|&m| m as f32).collect(), scale }
    }

    /// (x − mean) / scale, in place, for row-major rows.
    pub fn apply(&self, data: &mut [f32]) {
        let d = self.mean.len();
        for r in data.chunks_exact_mut(d) {
            for ((v, m), s) in r.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = (*v - m) / s;
            }
        }
    }

    /// mean + scale · y, in place (back to data units).
    pub fn invert(&self, data: &mut [f32]) {
        let d = self.mean.len();
        for r in data.chunks_exact_mut(d) {
            for ((v, m), s) in r.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = m + s * *v;
            }
        }
    }

    /// Checks sizes and finiteness (a model file's fields); `features` is the model's width.
    pub fn validate(&self, features: usize) -> Result<(), String> {
        if self.mean.len() != features || self.scale.len() != features {
            return Err(format!(
                "standardize has {} means and {} scales, the model {features} features",
                self.mean.len(),
                self.scale.len()
            ));
        }
        if let Some(i) = self.mean.iter().position(|v| !v.is_finite()) {
            return Err(format!("standardize mean {} is not finite", i + 1));
        }
        if let Some(i) = self.scale.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(format!("standardize scale {} is not finite and > 0", i + 1));
        }
        Ok(())
    }
}

/// The file line of data row `row` (0-based) of `table`: 1-based, after the header if any.
pub fn line_of(table: &Table<f32>, row: usize) -> usize {
    row + 1 + usize::from(table.header.is_some())
}

/// Errors, naming the file's line and column (`path:line:column`, as CSV errors), on the first value outside [0, 1] (a Bernoulli
/// likelihood reads each value as a probability).
pub fn check_unit_interval(table: &Table<f32>, what: &str) -> Result<(), String> {
    if let Some(k) = table.data.iter().position(|v| !(0.0..=1.0).contains(v)) {
        let (row, col) = (k / table.cols, k % table.cols);
        return Err(format!(
            "{what}:{}:{}: {} is outside [0, 1], which a Bernoulli likelihood needs \
             (use --likelihood gaussian or gaussian-learned, with --standardize for other ranges)",
            line_of(table, row),
            col + 1,
            table.data[k]
        ));
    }
    Ok(())
}

/// Errors, naming the value, when a model's output `v` (encode, decode, generate, critic) has
/// a non-finite entry: no command prints NaN or ∞ as a result.
pub fn finite_output(v: &[f32], what: &str) -> Result<(), String> {
    match v.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => {
            Err(format!("{what} {} is {} (the model's weights are too extreme for this input)", i + 1, v[i]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_deterministic_disjoint_and_complete() {
        let (t1, v1) = validation_split(100, 0.1, 7).unwrap();
        let (t2, v2) = validation_split(100, 0.1, 7).unwrap();
        assert_eq!((&t1, &v1), (&t2, &v2));
        assert_eq!((t1.len(), v1.len()), (90, 10));
        let mut all: Vec<usize> = t1.iter().chain(&v1).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_ne!(validation_split(100, 0.1, 8).unwrap().1, v1);
        assert!(validation_split(3, 0.1, 0).unwrap_err().contains("0 validation"));
        assert!(validation_split(10, 1.0, 0).is_err());
    }

    #[test]
    fn standardization_maps_to_zero_mean_unit_variance_and_back() {
        let data = vec![1.0, 10.0, 3.0, 10.0, 5.0, 10.0];
        let s = Standardization::fit(&data, 2);
        assert_eq!(s.mean, vec![3.0, 10.0]);
        assert!((s.scale[0] - (8.0f32 / 3.0).sqrt()).abs() < 1e-6);
        assert_eq!(s.scale[1], 1.0, "a constant column keeps scale 1");
        let mut y = data.clone();
        s.apply(&mut y);
        assert!((y[0] + y[2] + y[4]).abs() < 1e-6 && y[1] == 0.0);
        s.invert(&mut y);
        for (a, b) in y.iter().zip(&data) {
            assert!((a - b).abs() < 1e-5);
        }
    }
}
