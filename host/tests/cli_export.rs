//! `crabmix gmm export`: the firmware's two ways in (issue 18), through the built binary.

use crabmix::kernels::gmm::{BlobError, CovarianceKind, GaussianMixture};
use std::path::PathBuf;
use std::process::{Command, Output};

fn crabmix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crabmix")).args(args).output().expect("run crabmix")
}

fn tmp(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("crabmix-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// A K = 2, D = 2 full model whose values are not exact in f32 (0.1, 1/3 …).
const MODEL: &str = r#"{"covariance_type": "full", "weights": [0.3333333333333333, 0.6666666666666667],
  "means": [[0.1, -2.5], [3.0, 0.7]],
  "covariances": [[[1.1, 0.3], [0.3, 0.9]], [[0.25, -0.05], [-0.05, 0.5]]]}"#;

/// The parameters as the export must hold them: the JSON's f64 values rounded to f32.
fn expected() -> GaussianMixture<f32, 2, 2> {
    let (t, s) = (1.0f64 / 3.0, 2.0f64 / 3.0);
    GaussianMixture::new(
        CovarianceKind::Full,
        [t as f32, s as f32],
        [[0.1f64 as f32, -2.5], [3.0, 0.7f64 as f32]],
        [
            [[1.1f64 as f32, 0.3f64 as f32], [0.3f64 as f32, 0.9f64 as f32]],
            [[0.25, -0.05f64 as f32], [-0.05f64 as f32, 0.5]],
        ],
    )
    .unwrap()
}

#[test]
fn bin_export_loads_as_the_f32_model() {
    let model = tmp("bin.json", MODEL);
    let out = model.with_extension("bin");
    let o =
        crabmix(&["gmm", "export", model.to_str().unwrap(), "--format", "bin", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(bytes.len(), 16 + 12 * 4 + 4);
    assert_eq!(GaussianMixture::<f32, 2, 2>::from_blob(&bytes), Ok(expected()));
    // The loader's shape check, on what the CLI wrote.
    assert!(matches!(
        GaussianMixture::<f32, 3, 2>::from_blob(&bytes),
        Err(BlobError::Shape { components: 2, .. })
    ));
    // f64 blobs keep the JSON's values exactly.
    let o = crabmix(&["gmm", "export", model.to_str().unwrap(), "--format", "bin", "--scalar", "f64"]);
    let m = GaussianMixture::<f64, 2, 2>::from_blob(&o.stdout).unwrap();
    assert_eq!(m.means()[0][0], 0.1);
}

/// Every literal of the Rust export parses back to the bits of the blob's parameters.
#[test]
fn rust_export_holds_the_same_bits_as_the_blob() {
    let model = tmp("rust.json", MODEL);
    let o = crabmix(&["gmm", "export", model.to_str().unwrap(), "--format", "rust"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let src = String::from_utf8(o.stdout).unwrap();
    assert!(src.contains("pub const K: usize = 2;") && src.contains("pub const D: usize = 2;"), "{src}");
    assert!(src.contains("CovarianceKind::Full;"), "{src}");
    let numbers = |name: &str| -> Vec<f32> {
        let start = src.find(&format!("pub const {name}:")).unwrap();
        let body = &src[start..];
        let body = &body[body.find('=').unwrap() + 1..body.find(";\n").unwrap()];
        body.split(|c: char| c == '[' || c == ']' || c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .map(|t| t.parse::<f32>().unwrap())
            .collect()
    };
    let m = expected();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&numbers("WEIGHTS")), bits(m.weights()));
    assert_eq!(bits(&numbers("MEANS")), bits(m.means().as_flattened()));
    assert_eq!(bits(&numbers("COVARIANCES")), bits(m.covariances().as_flattened().as_flattened()));
}

#[test]
fn export_errors_name_the_file() {
    let o = crabmix(&["gmm", "export", "/nonexistent/model.json", "--format", "bin"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/model.json"));
    // A model whose value overflows f32 cannot be exported in f32.
    let big = tmp("big.json", &MODEL.replace("3.0, 0.7", "1e300, 0.7"));
    let o = crabmix(&["gmm", "export", big.to_str().unwrap(), "--format", "bin"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("big.json") && err.contains("parameter 4 is not finite"), "{err}");
    let o = crabmix(&["gmm", "export", big.to_str().unwrap(), "--format", "rust"]);
    assert!(!o.status.success() && o.stdout.is_empty(), "no `inf` literal");
    let o = crabmix(&["gmm", "export", big.to_str().unwrap()]);
    assert!(!o.status.success(), "--format is required");
}

/// A firmware's `gmm-model` line (defmt text, the last one wins) comes back as a model JSON that
/// `score` reads: the f32 bits exactly, the weights renormalized in f64.
#[test]
fn import_log_reads_the_devices_model_line() {
    let h = |v: f32| format!("{:08x}", v.to_bits());
    let line = |w0: f32| {
        format!(
            "0.000 INFO  gmm-model k=2 d=1 kind=full w={},{} mu={},{} cov={},{}\n",
            h(w0),
            h(1.0 - w0),
            h(0.63),
            h(0.655),
            h(3.3e-4),
            h(1.7e-4)
        )
    };
    let log = tmp("device.log", &format!("INFO  boot\n{}{}INFO  done\n", line(0.5), line(0.4)));
    let o = crabmix(&["gmm", "import-log", log.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["covariance_type"], "full");
    let w: Vec<f64> = json["weights"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let total = 0.4f32 as f64 + (1.0f32 - 0.4) as f64;
    assert_eq!(w, [0.4f32 as f64 / total, (1.0f32 - 0.4) as f64 / total]);
    assert_eq!(json["means"][1][0].as_f64(), Some(0.655f32 as f64));
    assert_eq!(json["covariances"][0][0][0].as_f64(), Some(3.3e-4f32 as f64));
    let model = tmp("imported.json", &String::from_utf8(o.stdout).unwrap());
    let points = tmp("points.csv", "0.63\n");
    let o = crabmix(&["gmm", "score", points.to_str().unwrap(), "--model", model.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    for (text, want) in [
        ("INFO  nothing here\n", "no `gmm-model` line"),
        ("gmm-model k=2 d=1 kind=full w=3f000000 mu=0,0 cov=0,0\n", "`w=` holds 1 values"),
        ("gmm-model k=2 d=1 kind=full w=3f00000g,3f000000 mu=0,0 cov=0,0\n", "is not 8 hex digits"),
        ("gmm-model k=2 d=1 kind=banded w=3f000000,3f000000 mu=0,0 cov=0,0\n", "unknown covariance type"),
    ] {
        let bad = tmp("bad.log", text);
        let o = crabmix(&["gmm", "import-log", bad.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains("bad.log") && err.contains(want), "{text}: {err}");
    }
}
