//! [`Mixture`]: a runtime-sized mixture with `Vec` storage around the kernels' slice routines.

use crabmix_kernels::gmm::{
    self, CovarianceKind, EStep, FitConfig, FitReport, MAX_RUNTIME_SIZE, MixtureInner, MixtureMut,
    MixtureRef, Shape, StatsMut,
};
use crabmix_kernels::{Error, Real, Result};
// The CPU E-step of `fit`, `refine` and `em_step`: blocked for full covariances (see gmm::estep).
use super::estep::HostEStep;
use super::heap::{Heap, HeapVec};
use super::stats::Stats;
use rand_core::Rng;
use rayon::prelude::*;

/// A K-component mixture in D dimensions with heap storage; always valid (factors refreshed).
/// The kernels' `MixtureInner` over [`Heap`] storage, wrapped so that the host's fitting and
/// batch methods can live here.
#[derive(Clone, Debug, PartialEq)]
pub struct Mixture<T> {
    inner: MixtureInner<Heap<T>>,
}

/// K and D within [`MAX_RUNTIME_SIZE`] and a valid shape: checked before anything sized by them
/// is allocated.
pub(crate) fn check_sizes(k: usize, d: usize) -> Result<()> {
    if k > MAX_RUNTIME_SIZE {
        return Err(Error::CapacityExceeded { what: "components", capacity: MAX_RUNTIME_SIZE, requested: k });
    }
    if d > MAX_RUNTIME_SIZE {
        return Err(Error::CapacityExceeded { what: "features", capacity: MAX_RUNTIME_SIZE, requested: d });
    }
    Shape::new(k, d, CovarianceKind::Full).validate()
}

impl<T: Real> Mixture<T> {
    /// Zero parameters and factors: storage for a fit to write.
    fn zeroed(shape: Shape) -> Result<Self> {
        let (k, kd, kdd) = (
            shape.components,
            shape.components * shape.features,
            shape.components * shape.features * shape.features,
        );
        Self::from_vecs(shape, vec![T::ZERO; k], vec![T::ZERO; kd], vec![T::ZERO; kdd])
    }

    /// Takes the parameter vectors and zero factors; lengths checked by the kernels.
    fn from_vecs(shape: Shape, weights: Vec<T>, means: Vec<T>, covariances: Vec<T>) -> Result<Self> {
        let (k, kdd) = (weights.len(), covariances.len());
        let inner = MixtureInner::from_parts(
            shape,
            HeapVec(weights),
            HeapVec(means),
            HeapVec(covariances),
            HeapVec(vec![T::ZERO; kdd]),
            HeapVec(vec![T::ZERO; k]),
        )?;
        Ok(Self { inner })
    }

    /// A mixture from weights (K), means (K·D) and full-shaped covariances (K·D·D, row-major);
    /// rules and errors as the kernels' `MixtureMut::refresh`.
    pub fn new(
        kind: CovarianceKind,
        d: usize,
        weights: Vec<T>,
        means: Vec<T>,
        covariances: Vec<T>,
    ) -> Result<Self> {
        let k = weights.len();
        check_sizes(k, d)?;
        let mut m = Self::from_vecs(Shape::new(k, d, kind), weights, means, covariances)?;
        m.view_mut().refresh()?;
        Ok(m)
    }

    /// Shape (K, D, kind).
    pub fn shape(&self) -> Shape {
        self.inner.shape()
    }
    /// Weights α (K).
    pub fn weights(&self) -> &[T] {
        self.view().weights()
    }
    /// Means (K × D row-major).
    pub fn means(&self) -> &[T] {
        self.view().means()
    }
    /// Covariances (K × D × D row-major).
    pub fn covariances(&self) -> &[T] {
        self.view().covariances()
    }

    /// Borrowed view for the kernels.
    pub fn view(&self) -> MixtureRef<'_, T> {
        self.inner.view()
    }

    /// Mutable view for the kernels.
    pub fn view_mut(&mut self) -> MixtureMut<'_, T> {
        self.inner.view_mut()
    }

    /// Converts every parameter to another precision (`f64` ↔ `f32`) and refreshes the factors.
    pub fn cast<U: Real>(&self) -> Result<Mixture<U>> {
        let c = |v: &[T]| v.iter().map(|x| U::from_f64(x.to_f64())).collect::<Vec<U>>();
        Mixture::new(
            self.shape().kind,
            self.shape().features,
            c(self.weights()),
            c(self.means()),
            c(self.covariances()),
        )
    }

    /// Fits by EM on `data` (N × D row-major) with the host's multithreaded E-step (rayon's
    /// threads; [`HostEStep`] chooses blocked or streaming). `progress` prints one line per EM
    /// pass to stderr.
    pub fn fit<R: Rng + ?Sized>(
        data: &[T],
        d: usize,
        k: usize,
        config: &FitConfig<T>,
        rng: &mut R,
        progress: bool,
    ) -> Result<(Self, FitReport<T>)> {
        let mut estep = HostEStep::new(data, d).with_progress(progress);
        let fitted = Self::fit_with_estep(data, d, k, config, rng, &mut estep)?;
        estep.finish_progress();
        Ok(fitted)
    }

    /// [`Self::fit`] with a caller-chosen E-step over the same `data` (e.g. the CUDA backend's,
    /// which holds a device copy): initialization and M-steps run here, every pass in `estep`.
    pub fn fit_with_estep<R: Rng + ?Sized, E: EStep<T> + ?Sized>(
        data: &[T],
        d: usize,
        k: usize,
        config: &FitConfig<T>,
        rng: &mut R,
        estep: &mut E,
    ) -> Result<(Self, FitReport<T>)> {
        Self::fit_with_em(data, d, k, config, rng, |model, stats, config| {
            gmm::em_loop(model, stats, estep, config)
        })
    }

    /// [`Self::fit`] with each initialization's EM iterations run by `run` (see
    /// [`gmm::fit_with`]): initialization here, the iterations wherever `run` puts them — e.g.
    /// [`crate::device::em_loop::device_em_loop`] with data and model resident on a GPU.
    pub fn fit_with_em<R: Rng + ?Sized, F>(
        data: &[T],
        d: usize,
        k: usize,
        config: &FitConfig<T>,
        rng: &mut R,
        run: F,
    ) -> Result<(Self, FitReport<T>)>
    where
        F: FnMut(&mut MixtureMut<'_, T>, &mut StatsMut<'_, T>, &FitConfig<T>) -> Result<FitReport<T>>,
    {
        Self::fit_weighted_with_em(data, None, d, k, config, rng, run)
    }

    /// [`Self::fit_with_em`] whose initializations weigh row i by `weights[i]` (the kernels'
    /// [`gmm::fit_weighted_with`]); `run`'s E-step must use the same weights. `None` is exactly
    /// [`Self::fit_with_em`].
    pub fn fit_weighted_with_em<R: Rng + ?Sized, F>(
        data: &[T],
        weights: Option<&[T]>,
        d: usize,
        k: usize,
        config: &FitConfig<T>,
        rng: &mut R,
        run: F,
    ) -> Result<(Self, FitReport<T>)>
    where
        F: FnMut(&mut MixtureMut<'_, T>, &mut StatsMut<'_, T>, &FitConfig<T>) -> Result<FitReport<T>>,
    {
        check_sizes(k, d)?;
        let shape = Shape::new(k, d, config.kind);
        gmm::validate_data(data, d, k)?;
        let mut best = Self::zeroed(shape)?;
        let mut trial = Self::zeroed(shape)?;
        let mut stats = Stats::new(shape);
        let mut work = vec![T::ZERO; d];
        let mut dist = vec![T::ZERO; data.len() / d];
        let report = gmm::fit_weighted_with(
            data,
            weights,
            &mut best.view_mut(),
            &mut trial.view_mut(),
            &mut stats.view_mut(),
            config,
            rng,
            &mut work,
            Some(&mut dist),
            run,
        )?;
        Ok((best, report))
    }

    /// EM from these parameters (`config.kind` must match).
    pub fn refine(&self, data: &[T], config: &FitConfig<T>) -> Result<(Self, FitReport<T>)> {
        if config.kind != self.shape().kind {
            return Err(Error::InvalidParameter { name: "kind", reason: "differs from the model's" });
        }
        gmm::validate_data(data, self.shape().features, self.shape().components)?;
        let mut model = self.clone();
        let mut stats = Stats::new(self.shape());
        let mut estep = HostEStep::new(data, self.shape().features);
        let report = gmm::em_loop(&mut model.view_mut(), &mut stats.view_mut(), &mut estep, config)?;
        Ok((model, report))
    }

    /// [`Self::refine`] with a caller-chosen E-step (e.g. one that streams the data from a file).
    pub fn refine_with<E: EStep<T> + ?Sized>(
        &self,
        config: &FitConfig<T>,
        estep: &mut E,
    ) -> Result<(Self, FitReport<T>)> {
        if config.kind != self.shape().kind {
            return Err(Error::InvalidParameter { name: "kind", reason: "differs from the model's" });
        }
        let mut model = self.clone();
        let mut stats = Stats::new(self.shape());
        let report = gmm::em_loop(&mut model.view_mut(), &mut stats.view_mut(), estep, config)?;
        Ok((model, report))
    }

    /// One exact EM step (E-step + M-step, no re-seeding); returns the new model and the mean
    /// log-likelihood of `data` under `self`.
    pub fn em_step(&self, data: &[T], reg_covar: T) -> Result<(Self, T)> {
        gmm::validate_data(data, self.shape().features, 1)?;
        let mut stats = Stats::new(self.shape());
        let mut sv = stats.view_mut();
        sv.reset(self.means())?;
        HostEStep::new(data, self.shape().features).accumulate(&self.view(), &mut sv)?;
        let mean = sv.totals().mean_log_likelihood()?;
        let mut next = self.clone();
        sv.finish(&mut next.view_mut(), reg_covar, false)?;
        Ok((next, mean))
    }

    /// Per-sample ln p(x) (scikit-learn's `score_samples`), computed in parallel.
    pub fn score_samples(&self, data: &[T]) -> Result<Vec<T>> {
        self.per_sample(data, |m, x, lp, w| m.log_density(x, lp, w))
    }

    /// Mean ln p(x) over `data`.
    pub fn score(&self, data: &[T]) -> Result<T> {
        let s = self.score_samples(data)?;
        let sum = s.iter().fold(0.0f64, |a, &v| a + v.to_f64());
        Ok(T::from_f64(sum / s.len() as f64))
    }

    /// Per-sample most probable component.
    pub fn predict(&self, data: &[T]) -> Result<Vec<usize>> {
        self.per_sample(data, |m, x, lp, w| m.predict(x, lp, w))
    }

    /// Per-sample responsibilities (N × K row-major).
    pub fn predict_proba(&self, data: &[T]) -> Result<Vec<T>> {
        let (k, d) = (self.shape().components, self.shape().features);
        gmm::validate_data(data, d, 1)?;
        let mut out = vec![T::ZERO; data.len() / d * k];
        let view = self.view();
        out.par_chunks_mut(k).zip(data.par_chunks(d)).try_for_each_init(
            || vec![T::ZERO; 2 * d],
            |work, (row, x)| view.predict_proba(x, row, work).map(|_| ()),
        )?;
        Ok(out)
    }

    /// `n` draws (N × D row-major) and their components.
    pub fn sample<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> (Vec<T>, Vec<usize>) {
        let d = self.shape().features;
        let mut out = vec![T::ZERO; n * d];
        let mut comps = Vec::with_capacity(n);
        let view = self.view();
        for row in out.chunks_exact_mut(d) {
            comps.push(view.sample(rng, row).unwrap_or(0));
        }
        (out, comps)
    }

    /// Free parameters p (scikit-learn's `_n_parameters`).
    pub fn n_parameters(&self) -> usize {
        self.shape().kind.model_parameters(self.shape().components, self.shape().features)
    }

    /// BIC = −2 Σ ln p(x) + p ln N.
    pub fn bic(&self, data: &[T]) -> Result<f64> {
        let n = (data.len() / self.shape().features) as f64;
        Ok(-2.0 * self.score(data)?.to_f64() * n + self.n_parameters() as f64 * n.ln())
    }

    /// AIC = −2 Σ ln p(x) + 2 p.
    pub fn aic(&self, data: &[T]) -> Result<f64> {
        let n = (data.len() / self.shape().features) as f64;
        Ok(-2.0 * self.score(data)?.to_f64() * n + 2.0 * self.n_parameters() as f64)
    }

    fn per_sample<U: Send + Default + Clone>(
        &self,
        data: &[T],
        f: impl Fn(&MixtureRef<'_, T>, &[T], &mut [T], &mut [T]) -> Result<U> + Sync,
    ) -> Result<Vec<U>> {
        let (k, d) = (self.shape().components, self.shape().features);
        gmm::validate_data(data, d, 1)?;
        let view = self.view();
        let mut out = vec![U::default(); data.len() / d];
        out.par_iter_mut().zip(data.par_chunks(d)).try_for_each_init(
            || (vec![T::ZERO; k], vec![T::ZERO; 2 * d]),
            |(lp, work), (o, x)| {
                *o = f(&view, x, lp, work)?;
                Ok::<(), Error>(())
            },
        )?;
        Ok(out)
    }
}
