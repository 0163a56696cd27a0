//! The cudarc backend (feature `cuda`). Without a GPU: NVRTC compiles every embedded module for
//! sm_90 with zero spills (when NVRTC is loadable; scripts/cuda-check.sh puts the pinned wheel on
//! LD_LIBRARY_PATH), and opening a device fails with a typed error instead of cudarc's panic. With
//! a GPU (the lent machine runs bench/gpu/run-gpu-check.sh instead, which has no Rust), the device
//! tests compare against the CPU backend; otherwise they print why they skip.
#![cfg(feature = "cuda")]

use crabmix::backend::{self, Backend, BackendError};
use crabmix::device::cuda::{
    CudaDevice, CudaEStep, Module, driver_available, nvrtc_available, nvrtc_compile,
};
use crabmix::device::layout::{EStepKernel, EStepLaunch};
use crabmix::gmm::{Mixture, ParallelEStep, Stats};
use crabmix::kernels::gmm::{CovarianceKind, EStep, Shape};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::sync::Arc;

#[test]
fn every_module_compiles_for_sm_90_without_spills() {
    if !nvrtc_available() {
        eprintln!("skipping: NVRTC (libnvrtc.so.13) is not loadable; scripts/cuda-check.sh installs it");
        return;
    }
    for m in Module::ALL {
        let mut src = m.source();
        if m == Module::GmmEstepFixed {
            // Templates only: instantiate what the host appends at run time for the benchmark
            // shapes (D = 2, K = 4 full in registers; D = K = 16 full tiled), f32 and f64.
            for (k, d, elem, suffix) in
                [(4, 2, 4, "f32"), (4, 2, 8, "f64"), (16, 16, 4, "f32"), (16, 16, 8, "f64")]
            {
                let shape = Shape::new(k, d, CovarianceKind::Full);
                let launch = EStepLaunch::new(shape, 1_000_000, elem).unwrap();
                assert_ne!(launch.kernel, EStepKernel::Generic);
                src += &launch.entry_point(shape, suffix).1.unwrap();
            }
        }
        let src = src.as_str();
        let (_, log) = nvrtc_compile(m.name(), src, "sm_90", &["--ptxas-options=-v"]).unwrap();
        let kernels = log.matches("Compiling entry function").count();
        assert!(kernels >= 1, "{}: no ptxas report in\n{log}", m.name());
        assert_eq!(
            log.matches(" 0 bytes spill stores, 0 bytes spill loads").count(),
            kernels,
            "{}: spills\n{log}",
            m.name()
        );
        eprintln!("{}: {kernels} kernels, no spills", m.name());
        // The runtime path: virtual architecture, PTX for the driver to finish.
        let (ptx, _) = nvrtc_compile(m.name(), src, "compute_90", &[]).unwrap();
        assert!(ptx.contains(".entry"), "{}: no PTX entry", m.name());
    }
}

#[test]
fn embedded_sources_inline_each_project_header_once() {
    for m in Module::ALL {
        let src = m.source();
        assert_eq!(src.matches("#define CRABMIX_BLOCK 256").count(), 1, "{}", m.name());
        assert!(!src.contains("#include \"common.cuh\"") && !src.contains("#include \"gmm.cuh\""));
    }
}

fn device() -> Option<Arc<CudaDevice>> {
    match CudaDevice::open(0) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("skipping the device test: {e}");
            None
        }
    }
}

#[test]
fn opening_without_a_device_is_a_typed_error() {
    if let Err(e) = CudaDevice::open(0) {
        assert!(
            matches!(
                e,
                BackendError::LibraryMissing { .. }
                    | BackendError::LibraryIncomplete { .. }
                    | BackendError::NoDevice(_)
            ),
            "{e:?}"
        );
        if !driver_available() {
            assert!(matches!(e, BackendError::LibraryMissing { .. }));
            let auto = backend::select(Backend::Auto, CovarianceKind::Full).unwrap();
            assert!(auto.describe().starts_with("backend: cpu ("), "{}", auto.describe());
        }
    }
}

/// A `libcuda.so` that loads but lacks entry points (a stub, a broken install) must not reach
/// cudarc's "Missing symbol" panic (exit 101, issue 21 finding 9): `--backend auto` falls back
/// to the CPU naming the symbol, `--backend cuda` is an error (exit 1). The fake is built here
/// with gcc and put first on `LD_LIBRARY_PATH`.
#[test]
fn an_incomplete_driver_library_falls_back_or_errors_without_a_panic() {
    let dir = std::env::temp_dir().join(format!("crabmix-fake-cuda-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/pearson_crabs.csv");
    // Exports nothing cudarc needs; then only cuInit (the probe names the next one).
    for (source, missing) in [
        ("int crabmix_fake(void) { return 0; }", "cuInit"),
        ("int cuInit(unsigned f) { return 0; }", "cuDeviceGet"),
    ] {
        let c = dir.join("fake.c");
        std::fs::write(&c, source).unwrap();
        let built = std::process::Command::new("gcc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(dir.join("libcuda.so"))
            .arg(&c)
            .status()
            .expect("run gcc");
        assert!(built.success());
        let path = match std::env::var("LD_LIBRARY_PATH") {
            Ok(p) if !p.is_empty() => format!("{}:{p}", dir.display()),
            _ => dir.display().to_string(),
        };
        let run = |backend: &str| {
            std::process::Command::new(env!("CARGO_BIN_EXE_crabmix"))
                .args(["gmm", "fit", data.to_str().unwrap(), "-k", "2", "--backend", backend])
                .env("LD_LIBRARY_PATH", &path)
                .output()
                .unwrap()
        };
        let why = format!("CUDA unavailable: the CUDA driver (libcuda.so) lacks the symbol {missing}");
        let auto = run("auto");
        let err = String::from_utf8_lossy(&auto.stderr);
        assert_eq!(auto.status.code(), Some(0), "{err}");
        assert!(err.contains(&format!("backend: cpu ({why})")), "{err}");
        let json: serde_json::Value = serde_json::from_slice(&auto.stdout).unwrap();
        assert_eq!(json["weights"].as_array().map(Vec::len), Some(2));
        let cuda = run("cuda");
        let err = String::from_utf8_lossy(&cuda.stderr);
        assert_eq!(cuda.status.code(), Some(1), "{err}");
        assert!(err.contains(&why) && !err.contains("panicked"), "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn device_estep_matches_cpu_estep() {
    let Some(dev) = device() else { return };
    for kind in [CovarianceKind::Full, CovarianceKind::Diag] {
        let model = Mixture::<f64>::new(
            kind,
            2,
            vec![0.4, 0.6],
            vec![0.0, 0.0, 3.0, 3.0],
            vec![1.0, 0.0, 0.0, 1.0, 0.5, 0.0, 0.0, 0.5],
        )
        .unwrap();
        let (data, _) = model.sample(100_000, &mut Xoshiro256PlusPlus::seed_from_u64(1));
        let model = model.cast::<f32>().unwrap();
        let data: Vec<f32> = data.iter().map(|&v| v as f32).collect();
        let run = |e: &mut dyn EStep<f32>| {
            let mut s = Stats::<f32>::new(model.shape());
            let mut v = s.view_mut();
            v.reset(model.means()).unwrap();
            e.accumulate(&model.view(), &mut v).unwrap();
            let r = v.as_ref();
            (r.resp_sums().to_vec(), r.s1().to_vec(), r.totals().log_likelihood_sum())
        };
        let gpu = run(&mut CudaEStep::new(&dev, &data, 2).unwrap());
        let cpu = run(&mut ParallelEStep::new(&data, 2));
        for (g, c) in gpu.0.iter().zip(&cpu.0) {
            assert!((g - c).abs() <= 1e-3 * c.abs().max(1.0), "{kind:?} n_k {g} vs {c}");
        }
        assert!((gpu.2 - cpu.2).abs() <= 1e-4 * cpu.2.abs(), "{kind:?} ln p {} vs {}", gpu.2, cpu.2);
    }
}
