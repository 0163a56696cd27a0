//! A mixture as a binary blob: what the host writes (`crabmix gmm export --format bin`) and a
//! firmware validates and loads, from flash or over a link. Little-endian throughout:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | magic `b"CMXG"` |
//! | 4 | 2 | version, u16 = [`BLOB_VERSION`] |
//! | 6 | 1 | scalar: 0 = f32, 1 = f64 |
//! | 7 | 1 | covariance kind: 0 = full, 1 = diag, 2 = spherical |
//! | 8 | 2 | K, u16 |
//! | 10 | 2 | D, u16 |
//! | 12 | 4 | P = number of parameters that follow, u32 |
//! | 16 | P × 4 or 8 | weights (K), means (K·D, row by row), covariance parameters per component: full: the upper triangle row by row (D(D+1)/2), diag: the diagonal (D), spherical: σ² (1) |
//! | 16 + P·s | 4 | CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`) of every byte before it |
//!
//! The loader checks, in this order, length ≥ header, magic, version, scalar, kind, K and D
//! against the caller's, P against K, D and the kind, the total length, the checksum, every value
//! finite, and then the model itself (weights summing to 1, covariances positive definite:
//! [`GaussianMixture::new`]); it returns a new model or a typed [`BlobError`], so nothing is
//! half-loaded.

use super::{CovarianceKind, GaussianMixture};
use crate::{Error, Real};

/// First four bytes of every blob.
pub const BLOB_MAGIC: [u8; 4] = *b"CMXG";
/// The layout version this code reads and writes.
pub const BLOB_VERSION: u16 = 1;
/// Bytes before the parameters.
pub const BLOB_HEADER_LEN: usize = 16;

/// Why a blob was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BlobError {
    /// Fewer or more bytes than the header says (or fewer than a header).
    Length {
        /// Bytes the header implies (or the header's own length).
        expected: usize,
        /// Bytes given.
        found: usize,
    },
    /// Not a crabmix mixture blob.
    Magic,
    /// A layout version this code does not read.
    Version {
        /// The blob's.
        found: u16,
    },
    /// Scalar type code unknown, or not the one asked for.
    Scalar {
        /// The blob's code (0 = f32, 1 = f64).
        found: u8,
    },
    /// Covariance kind code unknown.
    Kind {
        /// The blob's code.
        found: u8,
    },
    /// K or D differ from the loader's.
    Shape {
        /// The loader's K.
        expected_components: usize,
        /// The loader's D.
        expected_features: usize,
        /// The blob's K.
        components: usize,
        /// The blob's D.
        features: usize,
    },
    /// The parameter count does not match K, D and the kind.
    ParameterCount {
        /// K + K·D + K·(covariance parameters).
        expected: usize,
        /// The header's.
        found: usize,
    },
    /// The CRC-32 over the blob differs from the one it carries.
    Checksum {
        /// Computed.
        computed: u32,
        /// Stored.
        stored: u32,
    },
    /// Parameter number `index` (0-based, in blob order) is NaN or ±∞.
    NonFinite {
        /// Which parameter.
        index: usize,
    },
    /// The parameters do not make a valid mixture, or the output buffer is too small.
    Model(Error),
}

impl core::fmt::Display for BlobError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            BlobError::Length { expected, found } => write!(f, "blob is {found} bytes, expected {expected}"),
            BlobError::Magic => f.write_str("not a crabmix mixture blob (bad magic)"),
            BlobError::Version { found } => write!(f, "blob version {found}, this reads {BLOB_VERSION}"),
            BlobError::Scalar { found } => {
                write!(f, "blob scalar type code {found} is not the one asked for")
            }
            BlobError::Kind { found } => write!(f, "unknown covariance kind code {found}"),
            BlobError::Shape { expected_components, expected_features, components, features } => write!(
                f,
                "blob holds K = {components}, D = {features}; expected K = {expected_components}, D = {expected_features}"
            ),
            BlobError::ParameterCount { expected, found } => {
                write!(f, "blob holds {found} parameters, its K, D and kind need {expected}")
            }
            BlobError::Checksum { computed, stored } => {
                write!(f, "blob checksum {computed:08x} differs from the stored {stored:08x}")
            }
            BlobError::NonFinite { index } => write!(f, "blob parameter {index} is not finite"),
            BlobError::Model(e) => write!(f, "blob parameters: {e}"),
        }
    }
}

/// The scalar type code of T in a blob: 0 for 4-byte (f32), 1 for 8-byte (f64).
fn scalar_code<T: Real>() -> u8 {
    (core::mem::size_of::<T>() == 8) as u8
}

/// Kind ↔ code.
const fn kind_code(kind: CovarianceKind) -> u8 {
    match kind {
        CovarianceKind::Full => 0,
        CovarianceKind::Diag => 1,
        CovarianceKind::Spherical => 2,
        CovarianceKind::Tied => 3,
    }
}

fn kind_from_code(code: u8) -> Option<CovarianceKind> {
    match code {
        0 => Some(CovarianceKind::Full),
        1 => Some(CovarianceKind::Diag),
        2 => Some(CovarianceKind::Spherical),
        3 => Some(CovarianceKind::Tied),
        _ => None,
    }
}

/// Parameters a blob holds: K weights + K·D means + K·(covariance parameters).
pub const fn blob_parameters(kind: CovarianceKind, k: usize, d: usize) -> usize {
    // `tied`: one shared upper triangle (every component's copy is the same matrix).
    let shared = if matches!(kind, CovarianceKind::Tied) { d * (d + 1) / 2 } else { 0 };
    k + k * d + k * kind.parameters_per_component(d) + shared
}

/// Bytes of a blob with `scalar_bytes`-byte scalars (4 or 8).
pub const fn blob_len(kind: CovarianceKind, k: usize, d: usize, scalar_bytes: usize) -> usize {
    BLOB_HEADER_LEN + blob_parameters(kind, k, d) * scalar_bytes + 4
}

/// CRC-32 (IEEE 802.3 polynomial 0x04C11DB7, reflected as 0xEDB88320, initial and final XOR
/// 0xFFFF_FFFF): zlib's and PNG's `crc32`; crc32(b"123456789") = 0xCBF43926. Bitwise, no table:
/// 1 KiB of flash saved for a few hundred bytes checked once.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// Writes the blob of a mixture given as flat slices (runtime K, D: the host's models) with
/// scalars of type S (f32 for a Cortex-M, whatever T the model has: values are rounded to S).
/// `covariances` is dense, K·D·D; the blob keeps the parameters of `kind` only. Returns the
/// bytes written. Errors: `Model(ShapeMismatch)` for slices of the wrong lengths,
/// `Model(CapacityExceeded)` for an `out` too small or K, D above u16, `NonFinite` for a value
/// that is not finite in S.
pub fn encode_blob<T: Real, S: Real>(
    kind: CovarianceKind,
    components: usize,
    features: usize,
    weights: &[T],
    means: &[T],
    covariances: &[T],
    out: &mut [u8],
) -> Result<usize, BlobError> {
    let (k, d) = (components, features);
    let s = core::mem::size_of::<S>();
    for (what, len, expected) in [
        ("weights", weights.len(), k),
        ("means", means.len(), k.saturating_mul(d)),
        ("covariances", covariances.len(), k.saturating_mul(d).saturating_mul(d)),
    ] {
        if len != expected {
            return Err(BlobError::Model(Error::ShapeMismatch { what, expected, found: len }));
        }
    }
    if k > u16::MAX as usize || d > u16::MAX as usize {
        return Err(BlobError::Model(Error::CapacityExceeded {
            what: "blob K or D",
            capacity: u16::MAX as usize,
            requested: k.max(d),
        }));
    }
    let p = blob_parameters(kind, k, d);
    let total = blob_len(kind, k, d, s);
    let found = out.len();
    let Some(out) = out.get_mut(..total) else {
        return Err(BlobError::Model(Error::CapacityExceeded {
            what: "blob buffer",
            capacity: found,
            requested: total,
        }));
    };
    let (header, rest) = out.split_at_mut(BLOB_HEADER_LEN.min(total));
    let fields: [&[u8]; 6] = [
        &BLOB_MAGIC,
        &BLOB_VERSION.to_le_bytes(),
        &[scalar_code::<S>(), kind_code(kind)],
        &(k as u16).to_le_bytes(),
        &(d as u16).to_le_bytes(),
        &(p as u32).to_le_bytes(),
    ];
    let mut at = header.iter_mut();
    for byte in fields.iter().flat_map(|f| f.iter()) {
        if let Some(slot) = at.next() {
            *slot = *byte;
        }
    }
    let mut slots = rest.chunks_exact_mut(s);
    let mut index = 0usize;
    let mut put = |v: T| -> Result<(), BlobError> {
        let v = S::from_f64(v.to_f64());
        if !v.is_finite() {
            return Err(BlobError::NonFinite { index });
        }
        // The value as rounded to S, in S's bytes.
        let (b8, b4) = (v.to_f64().to_le_bytes(), (v.to_f64() as f32).to_le_bytes());
        let src: &[u8] = if s == 8 { &b8 } else { &b4 };
        if let Some(slot) = slots.next() {
            for (o, b) in slot.iter_mut().zip(src) {
                *o = *b;
            }
        }
        index = index.saturating_add(1);
        Ok(())
    };
    for &w in weights {
        put(w)?;
    }
    for &m in means {
        put(m)?;
    }
    // `tied` keeps K equal copies of the shared matrix: the blob holds the first once.
    let stored = if matches!(kind, CovarianceKind::Tied) { 1 } else { usize::MAX };
    for cov in covariances.chunks_exact(d.max(1) * d.max(1)).take(stored) {
        for i in 0..d {
            let row = cov.get(i * d..(i + 1) * d).unwrap_or(&[]);
            match kind {
                CovarianceKind::Full | CovarianceKind::Tied => {
                    row.iter().skip(i).try_for_each(|&c| put(c))?
                }
                CovarianceKind::Diag => put(row.get(i).copied().unwrap_or(T::ZERO))?,
                CovarianceKind::Spherical if i == 0 => put(row.first().copied().unwrap_or(T::ZERO))?,
                CovarianceKind::Spherical => {}
            }
        }
    }
    if let Some((body, crc)) = out.split_at_mut_checked(total.saturating_sub(4)) {
        let sum = crc32(body).to_le_bytes();
        for (o, b) in crc.iter_mut().zip(sum) {
            *o = b;
        }
    }
    Ok(total)
}

// Readers that cannot panic (the loader is in the link-time panic-freedom proof): `try_into`
// instead of `copy_from_slice`'s length assertion; out-of-range reads give 0, never reached
// after the length checks.
fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(bytes.get(at..at.saturating_add(2)).and_then(|s| s.try_into().ok()).unwrap_or([0; 2]))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes.get(at..at.saturating_add(4)).and_then(|s| s.try_into().ok()).unwrap_or([0; 4]))
}

impl<T: Real, const K: usize, const D: usize> GaussianMixture<T, K, D> {
    /// Validates a blob (its layout: the module documentation of `kernels/src/gmm/blob.rs`) and
    /// builds the mixture it holds; T must be the blob's scalar type and K, D its shape. Errors: [`BlobError`], naming the first check
    /// that failed; nothing is returned half-loaded.
    pub fn from_blob(bytes: &[u8]) -> Result<Self, BlobError> {
        let found = bytes.len();
        if found < BLOB_HEADER_LEN + 4 {
            return Err(BlobError::Length { expected: BLOB_HEADER_LEN + 4, found });
        }
        if bytes.get(..4) != Some(&BLOB_MAGIC[..]) {
            return Err(BlobError::Magic);
        }
        let version = u16_at(bytes, 4);
        if version != BLOB_VERSION {
            return Err(BlobError::Version { found: version });
        }
        let (scalar, kind) = (bytes.get(6).copied().unwrap_or(0xff), bytes.get(7).copied().unwrap_or(0xff));
        if scalar != scalar_code::<T>() {
            return Err(BlobError::Scalar { found: scalar });
        }
        let kind = kind_from_code(kind).ok_or(BlobError::Kind { found: kind })?;
        let (k, d) = (u16_at(bytes, 8) as usize, u16_at(bytes, 10) as usize);
        if (k, d) != (K, D) {
            return Err(BlobError::Shape {
                expected_components: K,
                expected_features: D,
                components: k,
                features: d,
            });
        }
        let p = u32_at(bytes, 12) as usize;
        let expected = blob_parameters(kind, K, D);
        if p != expected {
            return Err(BlobError::ParameterCount { expected, found: p });
        }
        let s = core::mem::size_of::<T>();
        let total = blob_len(kind, K, D, s);
        if found != total {
            return Err(BlobError::Length { expected: total, found });
        }
        let Some((body, crc)) = bytes.split_at_checked(total.saturating_sub(4)) else {
            return Err(BlobError::Length { expected: total, found });
        };
        let (computed, stored) = (crc32(body), u32_at(crc, 0));
        if computed != stored {
            return Err(BlobError::Checksum { computed, stored });
        }
        let mut values = body.get(BLOB_HEADER_LEN..).unwrap_or(&[]).chunks_exact(s).map(|c| {
            if s == 8 {
                T::from_f64(f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            } else {
                T::from_f64(f32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as f64)
            }
        });
        let mut index = 0usize;
        let mut next = || -> Result<T, BlobError> {
            let v = values.next().unwrap_or(T::ZERO);
            if !v.is_finite() {
                return Err(BlobError::NonFinite { index });
            }
            index = index.saturating_add(1);
            Ok(v)
        };
        let mut weights = [T::ZERO; K];
        for w in &mut weights {
            *w = next()?;
        }
        let mut means = [[T::ZERO; D]; K];
        for m in means.iter_mut().flatten() {
            *m = next()?;
        }
        let mut covariances = [[[T::ZERO; D]; D]; K];
        let tied = matches!(kind, CovarianceKind::Tied);
        for (k, cov) in covariances.iter_mut().enumerate() {
            if tied && k > 0 {
                continue;
            }
            match kind {
                CovarianceKind::Full | CovarianceKind::Tied => {
                    for i in 0..D {
                        for j in i..D {
                            let v = next()?;
                            cov[i][j] = v;
                            cov[j][i] = v;
                        }
                    }
                }
                CovarianceKind::Diag => {
                    for i in 0..D {
                        cov[i][i] = next()?;
                    }
                }
                CovarianceKind::Spherical => {
                    let v = next()?;
                    for i in 0..D {
                        cov[i][i] = v;
                    }
                }
            }
        }
        if let (true, Some(&shared)) = (tied, covariances.first()) {
            for cov in covariances.iter_mut().skip(1) {
                *cov = shared;
            }
        }
        GaussianMixture::new(kind, weights, means, covariances).map_err(BlobError::Model)
    }

    /// Writes this mixture as a blob with scalars of type T into `out`; returns the bytes
    /// written ([`blob_len`]). Errors: `Model(CapacityExceeded)` for an `out` too small.
    pub fn to_blob(&self, out: &mut [u8]) -> Result<usize, BlobError> {
        encode_blob::<T, T>(
            self.kind(),
            K,
            D,
            self.weights(),
            self.means().as_flattened(),
            self.covariances().as_flattened().as_flattened(),
            out,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> GaussianMixture<f32, 2, 2> {
        GaussianMixture::new(
            CovarianceKind::Full,
            [0.25, 0.75],
            [[1.0, -2.0], [0.5, 3.25]],
            [[[2.0, 0.5], [0.5, 1.0]], [[0.125, -0.0625], [-0.0625, 0.5]]],
        )
        .unwrap()
    }

    /// Rewrites the checksum after a test edited the body.
    fn reseal(b: &mut [u8]) {
        let n = b.len() - 4;
        let sum = crc32(&b[..n]);
        b[n..].copy_from_slice(&sum.to_le_bytes());
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        // The CRC-32/ISO-HDLC check value (zlib.crc32(b"123456789")).
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn layout_is_as_documented() {
        let mut b = [0u8; 128];
        let n = model().to_blob(&mut b).unwrap();
        // 2 weights + 4 means + 2 × 3 upper-triangle entries = 12 f32.
        assert_eq!(n, 16 + 12 * 4 + 4);
        assert_eq!(n, blob_len(CovarianceKind::Full, 2, 2, 4));
        assert_eq!(&b[..16], &[b'C', b'M', b'X', b'G', 1, 0, 0, 0, 2, 0, 2, 0, 12, 0, 0, 0]);
        let f = |i: usize| f32::from_le_bytes(b[16 + 4 * i..20 + 4 * i].try_into().unwrap());
        let want = [0.25, 0.75, 1.0, -2.0, 0.5, 3.25, 2.0, 0.5, 1.0, 0.125, -0.0625, 0.5];
        for (i, w) in want.iter().enumerate() {
            assert_eq!(f(i), *w, "parameter {i}");
        }
        assert_eq!(u32::from_le_bytes(b[n - 4..n].try_into().unwrap()), crc32(&b[..n - 4]));
    }

    #[test]
    fn round_trips_bit_for_bit_in_every_kind_and_scalar() {
        let mut b = [0u8; 256];
        let m = model();
        let n = m.to_blob(&mut b).unwrap();
        assert_eq!(GaussianMixture::<f32, 2, 2>::from_blob(&b[..n]), Ok(m));
        let diag = GaussianMixture::<f64, 2, 3>::new(
            CovarianceKind::Diag,
            [0.5, 0.5],
            [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]],
            [
                [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]],
                [[0.1, 0.0, 0.0], [0.0, 0.2, 0.0], [0.0, 0.0, 0.3]],
            ],
        )
        .unwrap();
        let n = diag.to_blob(&mut b).unwrap();
        assert_eq!(n, 16 + (2 + 6 + 6) * 8 + 4);
        assert_eq!(GaussianMixture::<f64, 2, 3>::from_blob(&b[..n]), Ok(diag));
        let sph = GaussianMixture::<f32, 1, 2>::new(
            CovarianceKind::Spherical,
            [1.0],
            [[0.0, 0.0]],
            [[[4.0, 0.0], [0.0, 4.0]]],
        )
        .unwrap();
        let n = sph.to_blob(&mut b).unwrap();
        assert_eq!(n, 16 + 4 * 4 + 4);
        assert_eq!(GaussianMixture::<f32, 1, 2>::from_blob(&b[..n]), Ok(sph));
        // tied: the shared matrix once (3 entries of its upper triangle), copied to every component.
        let shared = [[2.0, 0.5], [0.5, 1.0]];
        let tied = GaussianMixture::<f64, 3, 2>::new(
            CovarianceKind::Tied,
            [0.2, 0.3, 0.5],
            [[0.0, 0.0], [1.0, 2.0], [3.0, -1.0]],
            [shared; 3],
        )
        .unwrap();
        let n = tied.to_blob(&mut b).unwrap();
        assert_eq!(n, 16 + (3 + 6 + 3) * 8 + 4);
        assert_eq!(blob_len(CovarianceKind::Tied, 3, 2, 8), n);
        let back = GaussianMixture::<f64, 3, 2>::from_blob(&b[..n]).unwrap();
        assert_eq!(back, tied);
        assert_eq!(back.covariances()[2], shared);
    }

    #[test]
    fn every_bad_blob_is_a_typed_error() {
        let mut good = [0u8; 68];
        model().to_blob(&mut good).unwrap();
        let load = |b: &[u8]| GaussianMixture::<f32, 2, 2>::from_blob(b).err();
        let edit = |f: &dyn Fn(&mut Vec<u8>), reseal_it: bool| {
            let mut b = good.to_vec();
            f(&mut b);
            if reseal_it {
                reseal(&mut b);
            }
            load(&b)
        };
        assert_eq!(load(&good[..10]), Some(BlobError::Length { expected: 20, found: 10 }));
        assert_eq!(edit(&|b| b[0] = b'X', false), Some(BlobError::Magic));
        assert_eq!(edit(&|b| b[4] = 2, false), Some(BlobError::Version { found: 2 }));
        assert_eq!(edit(&|b| b[6] = 1, false), Some(BlobError::Scalar { found: 1 }));
        assert_eq!(edit(&|b| b[7] = 9, false), Some(BlobError::Kind { found: 9 }));
        assert_eq!(
            edit(&|b| b[8] = 3, false),
            Some(BlobError::Shape {
                expected_components: 2,
                expected_features: 2,
                components: 3,
                features: 2
            })
        );
        assert_eq!(
            GaussianMixture::<f32, 2, 3>::from_blob(&good)
                .err()
                .map(|e| matches!(e, BlobError::Shape { .. })),
            Some(true)
        );
        assert_eq!(edit(&|b| b[12] = 11, false), Some(BlobError::ParameterCount { expected: 12, found: 11 }));
        assert_eq!(edit(&|b| b.push(0), false), Some(BlobError::Length { expected: 68, found: 69 }));
        let flipped = edit(&|b| b[20] ^= 1, false);
        assert!(matches!(flipped, Some(BlobError::Checksum { .. })), "{flipped:?}");
        // A NaN mean (parameter 3) with a valid checksum.
        assert_eq!(
            edit(&|b| b[28..32].copy_from_slice(&f32::NAN.to_le_bytes()), true),
            Some(BlobError::NonFinite { index: 3 })
        );
        // Weights 0.25 + 0.25: a valid blob of an invalid model.
        let bad = edit(&|b| b[20..24].copy_from_slice(&0.25f32.to_le_bytes()), true);
        assert!(
            matches!(bad, Some(BlobError::Model(Error::InvalidParameter { name: "weights", .. }))),
            "{bad:?}"
        );
        // A covariance that is not positive definite.
        let bad = edit(&|b| b[40..44].copy_from_slice(&(-1.0f32).to_le_bytes()), true);
        assert!(matches!(bad, Some(BlobError::Model(Error::NotPositiveDefinite { .. }))), "{bad:?}");
        // A buffer too small to write into.
        assert!(matches!(
            model().to_blob(&mut [0u8; 67]),
            Err(BlobError::Model(Error::CapacityExceeded { .. }))
        ));
        assert_eq!(load(&good), None);
    }

    /// f64 parameters exported to an f32 blob are rounded to nearest, as `as f32` does.
    #[test]
    fn encoding_rounds_to_the_blob_scalar() {
        let mut b = [0u8; 64];
        let w = [1.0f64 / 3.0, 2.0 / 3.0];
        let n =
            encode_blob::<f64, f32>(CovarianceKind::Spherical, 2, 1, &w, &[0.1, 0.2], &[0.3, 0.4], &mut b)
                .unwrap();
        let m = GaussianMixture::<f32, 2, 1>::from_blob(&b[..n]).unwrap();
        assert_eq!(m.weights(), &[w[0] as f32, w[1] as f32]);
        assert_eq!(m.means(), &[[0.1f64 as f32], [0.2f64 as f32]]);
        assert_eq!(m.covariances()[1][0][0], 0.4f64 as f32);
        let nan =
            encode_blob::<f64, f32>(CovarianceKind::Spherical, 2, 1, &w, &[0.1, 1e300], &[0.3, 0.4], &mut b);
        assert_eq!(nan, Err(BlobError::NonFinite { index: 3 }));
    }
}
