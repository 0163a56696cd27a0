//! The VAE and WGAN training steps on the target (issue 6): the device-sized runs of
//! `crabmix_workloads::tiny` (VAE 2 → 16 → 1 latent → 16 → 2; WGAN-GP on the 8-Gaussian
//! ring with 16-unit networks), from the same seed as the host, must end with the same parameters
//! as the host's f32 run (`PARITY_HOST`, recorded on x86-64). Tolerance: bit-identical on the
//! Cortex-M4F (hardware f32, no FMA contraction, libm on both); the Cortex-M0's soft float is
//! IEEE too, so the same is expected there. Each run's stack high-water mark must stay below
//! 64 KiB, the RAM budget (all training state lives on the stack: no statics, no heap).
#![no_std]
#![no_main]

use crabmix_firmware::measure_stack;

#[defmt_test::tests]
mod tests {
    use super::measure_stack;
    use crabmix_workloads::tiny::{PARITY_HOST, ParamDigest, parity_digests};
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn vae_and_wgan_steps_match_host_f32_bit_for_bit() {
        let (digests, bytes) = measure_stack(|| parity_digests::<Xoshiro256PlusPlus>().unwrap());
        defmt::info!("stack vae_and_wgan_steps_match_host_f32_bit_for_bit {=usize}", bytes);
        assert!(bytes < 64 * 1024, "stack {} bytes", bytes);
        let names = ["vae encoder", "vae decoder", "wgan generator", "wgan critic"];
        for ((got, want), name) in digests.iter().zip(PARITY_HOST.iter()).zip(names) {
            let ParamDigest { sum, abs_sum, first } = *got;
            defmt::info!("{=str}: sum {=f64} abs {=f64} first {}", name, sum, abs_sum, first);
            assert_eq!(got, want, "{} differs from the host", name);
        }
    }
}
