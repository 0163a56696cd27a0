//! Backend selection in either build: without the `cuda` feature the stub answers
//! `NotCompiledWithCudaSupport`; `auto` then (or without a device) falls back to the CPU and
//! says so on stderr; `--backend cuda` fails with a clear message and a non-zero exit.

use crabmix::backend::{self, Backend, BackendError, Selected};
use crabmix::kernels::gmm::CovarianceKind;
use std::process::Command;

#[test]
fn cpu_is_always_available_and_spherical_never_goes_to_cuda() {
    assert!(matches!(
        backend::select(Backend::Cpu, CovarianceKind::Full),
        Ok(Selected::Cpu { fallback_reason: None })
    ));
    assert!(matches!(
        backend::select(Backend::Cuda, CovarianceKind::Spherical),
        Err(BackendError::Unsupported(_))
    ));
    let auto = backend::select(Backend::Auto, CovarianceKind::Spherical).unwrap();
    assert_eq!(auto.describe(), "backend: cpu (no CUDA kernel for spherical covariances)");
}

#[cfg(not(feature = "cuda"))]
#[test]
fn stub_reports_not_compiled_with_cuda_support() {
    assert_eq!(
        backend::select(Backend::Cuda, CovarianceKind::Full).unwrap_err(),
        BackendError::NotCompiledWithCudaSupport
    );
    assert!(matches!(
        backend::select(Backend::Auto, CovarianceKind::Diag),
        Ok(Selected::Cpu { fallback_reason: Some(_) })
    ));
}

fn fit_with(backend: &str) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("crabmix-backend-{}-{backend}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("x.csv");
    std::fs::write(&csv, "1,2\n1.1,2.2\n5,6\n5.2,6.1\n0.9,2.1\n5.1,5.9\n").unwrap();
    Command::new(env!("CARGO_BIN_EXE_crabmix"))
        .args(["gmm", "fit", csv.to_str().unwrap(), "-k", "2", "--backend", backend])
        .output()
        .unwrap()
}

#[test]
fn cli_backend_flag() {
    let cpu = fit_with("cpu");
    assert!(cpu.status.success());
    assert!(String::from_utf8_lossy(&cpu.stderr).is_empty(), "cpu says nothing");
    let auto = fit_with("auto");
    assert!(auto.status.success());
    let said = String::from_utf8_lossy(&auto.stderr);
    assert!(said.starts_with("crabmix: backend: "), "{said}");
    if backend::select(Backend::Cuda, CovarianceKind::Full).is_err() {
        assert!(said.starts_with("crabmix: backend: cpu ("), "{said}");
        let cuda = fit_with("cuda");
        assert!(!cuda.status.success());
        let err = String::from_utf8_lossy(&cuda.stderr);
        assert!(err.contains("--backend cuda:"), "{err}");
        assert!(cuda.stdout.is_empty());
    }
}
