//! The cross-check's seeded inputs, one module per workload.
//!
//! Every input is drawn in f64 from xoshiro256++ (`seed_from_u64`) with the kernels' own
//! samplers (`standard_normal`, `GaussianMixture::sample`, Xavier initialization); a target that
//! computes in f32 casts them. The host harness (`bench/src/bin/crosscheck.rs`) computes its f64
//! references and its kernels/host rows from them; the firmware (`firmware/src/bin/crosscheck.rs`)
//! streams the same generators on the device and prints each workload's [`InputDigest`]
//! (`crate::InputDigest`) with its results, which the harness compares with its own.
//!
//! The Pearson crab fit (`gmm_fit_crabs`) is not generated: its data is the committed data set
//! (the CSV on the host, `crabmix_app::crabs::RATIOS` on the device), checked by the digest alike.

pub mod gmm;
pub mod kl;
pub mod mlp;
pub mod sampling;
pub mod vae;

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// The generator of every workload, from its seed.
pub fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digests the firmware printed for these inputs (`firmware-crosscheck.log`, libm build,
    /// recorded when each side still had its own generator): a change to any generator shows
    /// here before it shows as an "inputs differ" row of the cross-check.
    #[test]
    fn generators_reproduce_the_recorded_input_digests() {
        let mut samples = gmm::Samples::new().unwrap();
        assert_eq!(samples.by_ref().count(), gmm::N);
        assert_eq!(samples.digest(), 0xdbe0_2280_4275_3a5d);

        let mut kl = kl::KlInputs::new();
        for _ in 0..kl::DIAG_PAIRS {
            kl.diag_pair();
        }
        assert_eq!(kl.take_digest(), 0xeed6_c0b3_220e_f113);
        for _ in 0..kl::FULL_PAIRS {
            kl.full_pair();
        }
        assert_eq!(kl.take_digest(), 0x7e41_3b86_6be3_ad79);

        assert_eq!(sampling::digest(), 0x5eb4_47f2_2331_4a43);

        let (_, mut pairs) = mlp::inputs();
        assert_eq!(pairs.by_ref().count(), mlp::PAIRS);
        assert_eq!(pairs.digest(), 0x1d83_91cf_9692_93b7);

        let (_, mut batches) = vae::inputs();
        assert_eq!(batches.by_ref().count(), vae::STEPS);
        assert_eq!(batches.digest(), 0x9ec1_49cf_0ee8_0127);
    }

    #[test]
    fn mlp_parameter_count_matches_the_network() {
        let (net, _) = mlp::inputs();
        let mut n = 0;
        crabmix_kernels::mlp::Layer::visit_params(&net, &mut |_| n += 1);
        assert_eq!(n, mlp::PARAMS);
    }
}
