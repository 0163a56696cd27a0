//! The WGAN at any shape, on the user's data (what `crabmix wgan train DATA.csv` runs): a
//! generator z ∈ ℝ^Z ~ N(0, I) → h₁ → … → h_k → ℝ^X (ReLU, linear output) and a critic
//! ℝ^X → h₁ → … → h_k → ℝ (leaky ReLU, linear output), over flat parameter vectors, trained as
//! `crabmix_kernels::models::wgan` does (lecture eq 22): `n_critic` critic steps maximizing
//! E D(x) − E D(G(z)) under the Lipschitz rule, then one generator step minimizing −E D(G(z)).
//!
//! The steps are the kernels' runtime-sized ones (`crabmix_kernels::models::wgan_net`: critic and
//! generator accumulated per fixed block of rows, then merged in order, [`super::parallel`]), with
//! every Lipschitz rule: the gradient penalty λ (‖∇ₓD(x̂)‖ − 1)² at x̂ = t x + (1 − t) G(z),
//! t ~ U(0, 1) (WGAN-GP), weight clipping to ±c (WGAN) and spectral normalization.
//!
//! Random-stream order per critic step: B row indices (uniform, with replacement), then per
//! sample Z normals for z and one uniform for t; per generator step, B·Z normals. All draws are
//! made before the batch's gradient is computed on all cores ([`super::parallel`]).

use super::data::{Standardization, finite_output as finite};
use super::net::{ActivationKind, Architecture, LayerSpec, Mlp};
use super::parallel::{BLOCK_ROWS, reduce_blocks};
use super::vae_model::{MAX_PARAMS, MAX_WIDTH, Widths, check_widths};
use crabmix_kernels::gaussian::fill_standard_normal;
use crabmix_kernels::mlp::Init;
use crabmix_kernels::models::wgan_net::{
    SliceOptimizer, WganShape, constrain, critic_accumulate, draw_critic_noise, generator_accumulate,
    spectral_init,
};
use crabmix_kernels::models::{Lipschitz, WganConfig};

/// The message for a kernels error on buffers sized from the shape: a bug, not bad input.
const SIZED: &str = "buffers sized from the WGAN shape";
use rand_core::Rng;
use serde::{Deserialize, Serialize};

/// A WGAN's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct WganArch {
    /// X, data columns.
    pub features: usize,
    /// Z.
    pub latent: usize,
    /// Hidden widths of both networks.
    pub hidden: Vec<usize>,
    /// The critic's leaky-ReLU slope.
    pub slope: f64,
}

impl WganArch {
    fn nets(&self) -> Result<(Mlp, Mlp), String> {
        check_widths("hidden", &self.hidden)?;
        for (name, v) in [("features", self.features), ("latent", self.latent)] {
            if v == 0 || v > MAX_WIDTH {
                return Err(format!("{name} is {v}, not 1 to {MAX_WIDTH}"));
            }
        }
        if !(0.0..1.0).contains(&self.slope) {
            return Err(format!("critic slope {} is not in [0, 1)", self.slope));
        }
        let mut g = vec![self.latent];
        g.extend(&self.hidden);
        g.push(self.features);
        let mut c = vec![self.features];
        c.extend(&self.hidden);
        c.push(1);
        let (g, c) = (
            Mlp::from_sizes(&g, ActivationKind::Relu, ActivationKind::Identity)?,
            Mlp::from_sizes(
                &c,
                ActivationKind::LeakyRelu { slope: self.slope as f32 },
                ActivationKind::Identity,
            )?,
        );
        if g.params() + c.params() > MAX_PARAMS {
            return Err(format!(
                "the networks have {} parameters, at most {MAX_PARAMS}",
                g.params() + c.params()
            ));
        }
        Ok((g, c))
    }
}

/// A generator and critic of any shape.
#[derive(Clone, Debug)]
pub struct WganModel {
    arch: WganArch,
    gen_net: Mlp,
    critic_net: Mlp,
    /// Generator parameters (per layer W row-major, then b).
    pub generator: Vec<f32>,
    /// Critic parameters, same convention.
    pub critic: Vec<f32>,
    /// Applied to data before the critic; generated rows are mapped back with its inverse.
    pub standardize: Option<Standardization>,
    /// Transposed weights of both networks (the core's forward reads them).
    gen_wt: Vec<f32>,
    critic_wt: Vec<f32>,
}

impl WganModel {
    /// He-normal weights, zero biases, generator first (as `train::wgan`).
    pub fn new<R: Rng + ?Sized>(
        arch: WganArch,
        standardize: Option<Standardization>,
        rng: &mut R,
    ) -> Result<Self, String> {
        let mut m = Self::zeros(arch, standardize)?;
        m.gen_net.init(&mut m.generator, Init::HeNormal, rng);
        m.critic_net.init(&mut m.critic, Init::HeNormal, rng);
        m.refresh();
        Ok(m)
    }

    fn zeros(arch: WganArch, standardize: Option<Standardization>) -> Result<Self, String> {
        let (gen_net, critic_net) = arch.nets()?;
        if let Some(s) = &standardize {
            s.validate(arch.features)?;
        }
        let (generator, critic) = (vec![0.0; gen_net.params()], vec![0.0; critic_net.params()]);
        let (gen_wt, critic_wt) = (Vec::new(), Vec::new());
        Ok(Self { arch, gen_net, critic_net, generator, critic, standardize, gen_wt, critic_wt })
    }

    /// Recomputes the transposed weights after the parameters changed.
    fn refresh(&mut self) {
        self.gen_wt = self.gen_net.transpose(&self.generator);
        self.critic_wt = self.critic_net.transpose(&self.critic);
    }

    /// The shape.
    pub fn arch(&self) -> &WganArch {
        &self.arch
    }

    /// G(z) for one latent point, in data units. Errors when a value is not finite.
    pub fn generate(&self, z: &[f32]) -> Result<Vec<f32>, String> {
        let mut x = self.gen_net.predict(&self.generator, &self.gen_wt, z, 1);
        if let Some(s) = &self.standardize {
            s.invert(&mut x);
        }
        finite(&x, "generated value")?;
        Ok(x)
    }

    /// D(x) for one data row (data units). Errors when the value is not finite.
    pub fn score(&self, x: &[f32]) -> Result<f32, String> {
        let mut xs = x.to_vec();
        if let Some(s) = &self.standardize {
            s.apply(&mut xs);
        }
        let d = self.critic_net.predict(&self.critic, &self.critic_wt, &xs, 1)[0];
        finite(&[d], "critic value")?;
        Ok(d)
    }
}

/// What both trainers set up before the first step: the standardized rows, the validated shape's
/// specs, the spectral-norm state (drawn from `rng` for spectral normalization) and the critic
/// constrained once.
struct Setup {
    xs: Vec<f32>,
    rows: usize,
    u: Vec<f32>,
    v: Vec<f32>,
}

impl Setup {
    fn new<R: Rng + ?Sized>(
        model: &mut WganModel,
        data: &[f32],
        config: &WganConfig<f32>,
        batch: usize,
        rng: &mut R,
    ) -> Result<Self, String> {
        let rows = data.len() / model.arch.features;
        if rows == 0 || batch == 0 || batch > rows {
            return Err(format!("training needs 1 ≤ batch ≤ rows (batch {batch}, {rows} rows)"));
        }
        let mut xs = data.to_vec();
        if let Some(s) = &model.standardize {
            s.apply(&mut xs);
        }
        let (gen_specs, critic_specs) = (model.gen_net.specs().to_vec(), model.critic_net.specs().to_vec());
        let lipschitz = config.lipschitz;
        let shape = shape_of(&gen_specs, &critic_specs, lipschitz)?;
        let (nu, nv) = shape.spectral_state_len();
        let (mut u, mut v) = (vec![0.0f32; nu], vec![0.0f32; nv]);
        if let Lipschitz::SpectralNorm = lipschitz {
            spectral_init(&shape, &mut u, &mut v, rng).expect(SIZED);
        }
        constrain(&shape, lipschitz, &mut model.critic, &mut u, &mut v)
            .map_err(|e| format!("critic constraint: {e}"))?;
        model.critic_wt = model.critic_net.transpose(&model.critic);
        Ok(Self { xs, rows, u, v })
    }

    /// One critic step's random draws, in the CPU trainer's order: `batch` row indices (uniform,
    /// with replacement) into `real`, then per row Z normals into `z` and, with the penalty, one
    /// uniform into `t`.
    fn draw<R: Rng + ?Sized>(
        &self,
        xd: usize,
        penalty: bool,
        rng: &mut R,
        real: &mut Vec<f32>,
        z: &mut [f32],
        t: &mut [f32],
    ) {
        real.clear();
        for _ in 0..t.len() {
            let i = ((rng.next_u64() as u128 * self.rows as u128) >> 64) as usize;
            real.extend_from_slice(&self.xs[i * xd..(i + 1) * xd]);
        }
        draw_critic_noise(rng, z.len() / t.len(), z, penalty.then_some(t)).expect(SIZED);
    }
}

/// The kernels' WGAN shape over `gen_specs` and `critic_specs` for `lipschitz`.
fn shape_of<'a>(
    gen_specs: &'a [LayerSpec<f32>],
    critic_specs: &'a [LayerSpec<f32>],
    lipschitz: Lipschitz<f32>,
) -> Result<WganShape<'a, f32>, String> {
    WganShape::new(
        Architecture::new(gen_specs).expect("validated"),
        Architecture::new(critic_specs).expect("validated"),
        lipschitz,
    )
    .map_err(|e| format!("critic: {e}"))
}

/// The divergence error of iteration `it` (0-based).
fn diverged(it: usize, what: &str) -> String {
    format!(
        "iteration {}: {what} is not finite (training diverged; try a smaller --lr, or --standardize)",
        it + 1
    )
}

/// Trains `model` for `iterations` generator steps on `data` (data units, row-major X columns),
/// minibatches of `batch` rows. Calls `on_iteration(i, w1)` with the last critic step's estimate
/// Ŵ₁ = mean D(real) − mean D(fake); returns Ŵ₁ per iteration.
///
/// Errors: no rows, batch 0 or above the rows, or a non-finite loss or parameter (divergence),
/// naming the iteration.
pub fn train<R: Rng + ?Sized>(
    model: &mut WganModel,
    data: &[f32],
    config: &WganConfig<f32>,
    iterations: usize,
    batch: usize,
    rng: &mut R,
    mut on_iteration: impl FnMut(usize, f64),
) -> Result<Vec<f64>, String> {
    let (xd, zd) = (model.arch.features, model.arch.latent);
    let mut setup = Setup::new(model, data, config, batch, rng)?;
    let lipschitz = config.lipschitz;
    let (gen_specs, critic_specs) = (model.gen_net.specs().to_vec(), model.critic_net.specs().to_vec());
    let shape = shape_of(&gen_specs, &critic_specs, lipschitz)?;
    let work_len = shape.work_len(BLOCK_ROWS).expect(SIZED);
    let (nc, ng) = (model.critic.len(), model.generator.len());
    let mut c_opt = SliceOptimizer::new(config.critic_opt);
    let mut g_opt = SliceOptimizer::new(config.generator_opt);
    let (mut c1, mut c2, mut g1, mut g2) = (vec![0.0; nc], vec![0.0; nc], vec![0.0; ng], vec![0.0; ng]);
    let (mut gc, mut gg) = (vec![0.0f32; nc], vec![0.0f32; ng]);
    let (mut real, mut z, mut t) = (Vec::new(), vec![0.0f32; batch * zd], vec![0.0f32; batch]);
    let penalty = matches!(lipschitz, Lipschitz::GradientPenalty { .. });
    let weight = 1.0 / batch as f32;
    let mut curve = Vec::with_capacity(iterations);
    for it in 0..iterations {
        let mut w1 = 0.0;
        for _ in 0..config.n_critic.max(1) {
            setup.draw(xd, penalty, rng, &mut real, &mut z, &mut t);
            let m = &*model;
            let s = reduce_blocks(
                batch,
                nc,
                || vec![0.0f32; work_len],
                |r, g, work| {
                    let (xr, zr) = (&real[r.start * xd..r.end * xd], &z[r.start * zd..r.end * zd]);
                    let tr = penalty.then(|| &t[r.clone()]);
                    let gnet = (&m.generator[..], &m.gen_wt[..]);
                    let cri = (&m.critic[..], &m.critic_wt[..]);
                    let st = critic_accumulate(&shape, gnet, cri, xr, zr, tr, lipschitz, weight, work, g)
                        .expect(SIZED);
                    [st.d_real as f64, st.d_fake as f64, st.penalty as f64, 0.0]
                },
                &mut gc,
            );
            w1 = (s[0] - s[1]) / batch as f64;
            if !(w1.is_finite() && s[2].is_finite()) || gc.iter().any(|v| !v.is_finite()) {
                return Err(diverged(it, "the critic loss or its gradient"));
            }
            c_opt.step(&mut model.critic, &gc, &mut c1, &mut c2).expect(SIZED);
            if model.critic.iter().any(|v| !v.is_finite()) {
                return Err(diverged(it, "a critic parameter"));
            }
            constrain(&shape, lipschitz, &mut model.critic, &mut setup.u, &mut setup.v)
                .map_err(|e| format!("critic constraint: {e}"))?;
            model.critic_wt = model.critic_net.transpose(&model.critic);
        }
        fill_standard_normal(rng, &mut z);
        let m = &*model;
        let s = reduce_blocks(
            batch,
            ng,
            || vec![0.0f32; work_len],
            |r, g, work| {
                let zr = &z[r.start * zd..r.end * zd];
                let gnet = (&m.generator[..], &m.gen_wt[..]);
                let cri = (&m.critic[..], &m.critic_wt[..]);
                let loss = generator_accumulate(&shape, gnet, cri, zr, weight, work, g).expect(SIZED);
                [loss as f64, 0.0, 0.0, 0.0]
            },
            &mut gg,
        );
        if !s[0].is_finite() || gg.iter().any(|v| !v.is_finite()) {
            return Err(diverged(it, "the generator loss or its gradient"));
        }
        g_opt.step(&mut model.generator, &gg, &mut g1, &mut g2).expect(SIZED);
        if model.generator.iter().any(|v| !v.is_finite()) {
            return Err(diverged(it, "a generator parameter"));
        }
        model.gen_wt = model.gen_net.transpose(&model.generator);
        curve.push(w1);
        on_iteration(it, w1);
    }
    Ok(curve)
}

/// [`train`] through the device pipeline ([`crate::device::wgan::DeviceWgan`] on `kernels`: a
/// CUDA device, or the g++ shim in tests): both networks, their optimizer state and the caches
/// stay resident; the random draws are [`train`]'s, made on the host in the same order and
/// uploaded (B·X data values, B·Z normals and B uniforms a critic step), so a device run follows
/// the CPU run up to summation order. The critic statistics are read back every step (the
/// divergence check: a non-finite parameter shows in the next step's outputs), the parameters
/// after the last step (checked finite before they reach `model`).
///
/// Errors: as [`train`]; the device's errors.
#[allow(clippy::too_many_arguments)]
pub fn train_on_device<K: crate::device::traits::MlpKernels<f32>, R: Rng + ?Sized>(
    kernels: &K,
    model: &mut WganModel,
    data: &[f32],
    config: &WganConfig<f32>,
    iterations: usize,
    batch: usize,
    rng: &mut R,
    mut on_iteration: impl FnMut(usize, f64),
) -> Result<Vec<f64>, String> {
    use crate::device::wgan::DeviceWgan;
    let (xd, zd) = (model.arch.features, model.arch.latent);
    let mut setup = Setup::new(model, data, config, batch, rng)?;
    let lipschitz = config.lipschitz;
    let (gen_specs, critic_specs) = (model.gen_net.specs().to_vec(), model.critic_net.specs().to_vec());
    let shape = shape_of(&gen_specs, &critic_specs, lipschitz)?;
    // The device keeps the power-iteration state from here on.
    let spectral = (std::mem::take(&mut setup.u), std::mem::take(&mut setup.v));
    let mut dev = DeviceWgan::new(kernels, &shape, batch, &model.generator, &model.critic, config, spectral)
        .map_err(|e| e.to_string())?;
    let (mut real, mut z, mut t) = (Vec::new(), vec![0.0f32; batch * zd], vec![0.0f32; batch]);
    let penalty = matches!(lipschitz, Lipschitz::GradientPenalty { .. });
    let mut curve = Vec::with_capacity(iterations);
    for it in 0..iterations {
        let mut w1 = 0.0;
        for _ in 0..config.n_critic.max(1) {
            setup.draw(xd, penalty, rng, &mut real, &mut z, &mut t);
            let st = dev
                .critic_step(&real, &z, penalty.then_some(&t[..]))
                .map_err(|e| format!("iteration {}: {e}", it + 1))?;
            w1 = st.wasserstein_estimate() as f64;
            if !(w1.is_finite() && st.penalty.is_finite()) {
                return Err(diverged(it, "the critic loss"));
            }
        }
        fill_standard_normal(rng, &mut z);
        let loss = dev.generator_step(&z).map_err(|e| format!("iteration {}: {e}", it + 1))?;
        if !loss.is_finite() {
            return Err(diverged(it, "the generator loss"));
        }
        curve.push(w1);
        on_iteration(it, w1);
    }
    let (g, c) = (dev.generator_params(), dev.critic_params());
    let (g, c) = (g.map_err(|e| e.to_string())?, c.map_err(|e| e.to_string())?);
    if g.iter().chain(&c).any(|v| !v.is_finite()) {
        return Err(diverged(iterations.saturating_sub(1), "a parameter"));
    }
    model.generator.copy_from_slice(&g);
    model.critic.copy_from_slice(&c);
    model.refresh();
    Ok(curve)
}

/// The model file of `crabmix wgan train --output`: architecture, standardization and both
/// networks, so it is all `wgan sample` and `wgan critic` need.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WganJson {
    /// Always `"crabmix-wgan"`.
    pub format: String,
    /// X, data columns (2 in files from before data training: the ring).
    #[serde(default = "two")]
    pub features: usize,
    /// Latent dimension Z.
    pub latent: usize,
    /// Hidden widths of both networks (one number in older files: two layers of that width).
    pub hidden: Widths,
    /// The critic's leaky-ReLU slope.
    #[serde(default = "slope")]
    pub critic_slope: f64,
    /// `"clip"`, `"sn"` or `"gp"`.
    pub lipschitz: String,
    /// Per-feature standardization of the data, if trained with `--standardize`.
    #[serde(default)]
    pub standardize: Option<Standardization>,
    /// Generator parameters (per layer W row-major, then b).
    pub generator: Vec<f32>,
    /// Critic parameters, same convention.
    pub critic: Vec<f32>,
    /// Critic W₁ estimate per generator iteration.
    pub wasserstein_estimate: Vec<f64>,
}

fn two() -> usize {
    2
}
fn slope() -> f64 {
    0.2
}

impl WganModel {
    /// The model file; `None` when a parameter is not finite (no such file is written).
    pub fn to_json(&self, lipschitz: &str, curve: Vec<f64>) -> Option<WganJson> {
        if self.generator.iter().chain(&self.critic).any(|v| !v.is_finite()) {
            return None;
        }
        Some(WganJson {
            format: "crabmix-wgan".into(),
            features: self.arch.features,
            latent: self.arch.latent,
            hidden: Widths::Many(self.arch.hidden.clone()),
            critic_slope: self.arch.slope,
            lipschitz: lipschitz.into(),
            standardize: self.standardize.clone(),
            generator: self.generator.clone(),
            critic: self.critic.clone(),
            wasserstein_estimate: curve,
        })
    }

    /// A model from its file: sizes checked against the limits before allocating, counts and
    /// finiteness checked.
    pub fn from_json(j: &WganJson) -> Result<Self, String> {
        if j.format != "crabmix-wgan" {
            return Err(format!("not a crabmix WGAN model (format {:?})", j.format));
        }
        let hidden = match &j.hidden {
            // The ring networks: two hidden layers of that width.
            Widths::One(h) => vec![*h, *h],
            Widths::Many(v) => v.clone(),
        };
        let arch = WganArch { features: j.features, latent: j.latent, hidden, slope: j.critic_slope };
        let mut m = Self::zeros(arch, j.standardize.clone())?;
        for (what, got, want) in
            [("generator", &j.generator, m.generator.len()), ("critic", &j.critic, m.critic.len())]
        {
            if got.len() != want {
                return Err(format!("{what}: {} parameters, the architecture needs {want}", got.len()));
            }
            if let Some(i) = got.iter().position(|p| !p.is_finite()) {
                return Err(format!("{what}: parameter {i} is not finite"));
            }
        }
        m.generator.copy_from_slice(&j.generator);
        m.critic.copy_from_slice(&j.critic);
        m.refresh();
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// WGAN-GP on 1 thread and on 4: the same parameters bit for bit (batch 40: three blocks).
    #[test]
    fn training_does_not_depend_on_the_thread_count() {
        let data: Vec<f32> = (0..100 * 3).map(|k| (k as f32 * 0.37).sin()).collect();
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
                let arch = WganArch { features: 3, latent: 2, hidden: vec![8, 8], slope: 0.2 };
                let mut m = WganModel::new(arch, None, &mut rng).unwrap();
                let cfg = crate::train::wgan::ring_config_gp();
                train(&mut m, &data, &cfg, 3, 40, &mut rng, |_, _| {}).unwrap();
                m.generator.iter().chain(&m.critic).map(|v| v.to_bits()).collect::<Vec<_>>()
            })
        };
        assert_eq!(run(1), run(4));
    }
}
