//! The one error type of the kernels: every fallible kernel returns `Result<_, Error>`.

use core::fmt;

/// What went wrong, and where. Indices are zero-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// No samples were given where at least one is needed.
    EmptyData,
    /// Fewer samples than mixture components (K > N).
    TooFewSamples {
        /// Samples given (N).
        samples: usize,
        /// Components asked for (K).
        components: usize,
    },
    /// A sample holds NaN or ±∞.
    NonFiniteSample {
        /// Which sample (row).
        sample: usize,
        /// Which feature (column).
        feature: usize,
    },
    /// A model parameter or an argument holds NaN or ±∞.
    NonFiniteParameter {
        /// Which parameter (`"weights"`, `"means"`, `"covariances"`, `"mu"`, …).
        name: &'static str,
        /// Flat index of the first offending entry.
        index: usize,
    },
    /// A buffer or slice has the wrong length for the shape it is used with.
    ShapeMismatch {
        /// What was checked.
        what: &'static str,
        /// Length required.
        expected: usize,
        /// Length given.
        found: usize,
    },
    /// A size exceeds the capacity of fixed-size storage.
    CapacityExceeded {
        /// What was sized.
        what: &'static str,
        /// Capacity available.
        capacity: usize,
        /// Size asked for.
        requested: usize,
    },
    /// A covariance (after regularization) is not positive definite, so it has no Cholesky factor.
    NotPositiveDefinite {
        /// Which mixture component, or 0 for a lone matrix.
        component: usize,
        /// The pivot (row) where the factorization broke down.
        pivot: usize,
    },
    /// A finite sample whose density underflows to zero under every component in working
    /// precision (it lies absurdly far from the model), so it has no responsibilities.
    ZeroDensity {
        /// Which sample (row).
        sample: usize,
    },
    /// The random generator gave `draws` rejected draws in a row (a working generator does so
    /// with probability below 10⁻⁴²): it is stuck, e.g. a failed hardware RNG returning zeros.
    GeneratorStuck {
        /// Consecutive rejected draws.
        draws: u32,
    },
    /// A layer of a network description is inconsistent: zero width, or inputs that differ
    /// from the previous layer's outputs.
    InvalidLayer {
        /// Which layer (0 = the one reading the network's input).
        layer: usize,
        /// The rule it broke.
        reason: &'static str,
    },
    /// An argument outside its domain (negative `reg_covar`, weights not summing to one, …).
    InvalidParameter {
        /// Which argument.
        name: &'static str,
        /// The rule it broke.
        reason: &'static str,
    },
}

impl Error {
    /// The same error with its sample index moved by `offset` (a batch at row `offset` of a larger
    /// data set reports rows of the whole set). Other variants are returned unchanged.
    pub fn offset_sample(self, offset: usize) -> Self {
        match self {
            Error::NonFiniteSample { sample, feature } => {
                Error::NonFiniteSample { sample: sample.saturating_add(offset), feature }
            }
            Error::ZeroDensity { sample } => Error::ZeroDensity { sample: sample.saturating_add(offset) },
            other => other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::EmptyData => write!(f, "no samples"),
            Error::TooFewSamples { samples, components } => {
                write!(f, "{components} components need at least {components} samples, got {samples}")
            }
            Error::NonFiniteSample { sample, feature } => {
                write!(f, "sample {sample}, feature {feature} is not finite (NaN or infinite)")
            }
            Error::NonFiniteParameter { name, index } => {
                write!(f, "parameter `{name}` entry {index} is not finite")
            }
            Error::ShapeMismatch { what, expected, found } => {
                write!(f, "{what}: expected length {expected}, found {found}")
            }
            Error::CapacityExceeded { what, capacity, requested } => {
                write!(f, "{what}: {requested} exceeds the capacity {capacity}")
            }
            Error::NotPositiveDefinite { component, pivot } => write!(
                f,
                "covariance of component {component} is not positive definite (pivot {pivot}); \
                 increase reg_covar"
            ),
            Error::ZeroDensity { sample } => {
                write!(f, "sample {sample} has zero density under every component in working precision")
            }
            Error::GeneratorStuck { draws } => {
                write!(f, "random generator stuck: {draws} draws in a row rejected (a failed hardware RNG?)")
            }
            Error::InvalidLayer { layer, reason } => write!(f, "layer {layer}: {reason}"),
            Error::InvalidParameter { name, reason } => write!(f, "invalid `{name}`: {reason}"),
        }
    }
}

impl core::error::Error for Error {}

/// `Result` with the kernels' [`Error`].
pub type Result<T> = core::result::Result<T, Error>;
