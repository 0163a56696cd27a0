//! Puts the selected board's memory map where cortex-m-rt's `link.x` looks for `memory.x` (the
//! build's OUT_DIR on the linker search path), and tells the code whether the core is ARMv6-M.
use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    let qemu = env::var_os("CARGO_FEATURE_QEMU").is_some();
    let nrf = env::var_os("CARGO_FEATURE_NRF52840").is_some();
    let f405 = env::var_os("CARGO_FEATURE_NETDUINOPLUS2").is_some();
    let rp2040 = env::var_os("CARGO_FEATURE_RP2040").is_some();
    let v6m = target.starts_with("thumbv6m");
    // Neither/both features is reported by `compile_error!` in lib.rs with a better message;
    // here just pick something so the build gets that far.
    let map = match (qemu, nrf, v6m) {
        _ if rp2040 => "memory/rp2040.x",
        _ if f405 => "memory/netduinoplus2.x",
        (_, true, _) => "memory/nrf52840.x",
        (_, false, true) => "memory/microbit.x",
        _ => "memory/mps2-an386.x",
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy(map, out.join("memory.x")).expect("copy memory map");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={map}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(armv6m)");
    if v6m {
        println!("cargo:rustc-cfg=armv6m");
    }
}
