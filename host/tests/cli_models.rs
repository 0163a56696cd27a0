//! `crabmix vae …` and `crabmix wgan …` end to end through the built binary (small, fast runs:
//! the learning itself is checked by tests/tests/vae_digits.rs and wgan_ring.rs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn crabmix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crabmix")).args(args).output().expect("run crabmix")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// A fresh directory per test (tests run in parallel in one process).
fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("crabmix-cli-models-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

fn rows(o: &Output) -> Vec<Vec<f64>> {
    text(&o.stdout).lines().map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect()
}

#[test]
fn vae_train_sample_encode_decode_traverse_on_digits() {
    let d = dir("vae");
    // The first 200 digits: enough for the commands, quick in a debug build.
    let all = std::fs::read_to_string(repo().join("data/digits.csv")).unwrap();
    let small: String = all.lines().take(201).map(|l| format!("{l}\n")).collect();
    let data = d.join("digits200.csv");
    std::fs::write(&data, small).unwrap();
    let (model, curve, trav) = (d.join("vae.json"), d.join("elbo.svg"), d.join("trav.svg"));
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let out = crabmix(&[
        "vae",
        "train",
        &s(&data),
        "--latent",
        "2",
        "--hidden",
        "16",
        "--epochs",
        "4",
        "--batch",
        "20",
        "--lr",
        "1e-2",
        "--seed",
        "3",
        "--output",
        &s(&model),
        "--curve",
        &s(&curve),
        "--traversal",
        &s(&trav),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("final epoch ELBO"));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    assert_eq!(
        (json["features"].as_u64(), json["hidden"].clone(), json["latent"].as_u64()),
        (Some(64), serde_json::json!([16]), Some(2))
    );
    // Encoder 64·16 + 16 + 2·(16·2 + 2) = 1108 parameters, decoder 2·16 + 16 + 16·64 + 64 = 1136.
    assert_eq!(json["encoder"].as_array().unwrap().len(), 1108);
    assert_eq!(json["decoder"].as_array().unwrap().len(), 1136);
    let elbo: Vec<f64> =
        json["train"]["elbo_per_epoch"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(elbo.len(), 4);
    // Untrained Bernoulli ELBO ≈ −64 ln 2 ≈ −44; four epochs at lr 1e-2 must improve on epoch 1.
    assert!(elbo[3] > elbo[0] && elbo[0] < -30.0, "{elbo:?}");
    let svg = std::fs::read_to_string(&curve).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("polyline"));
    // Traversal: 2 latent rows × 9 values × 64 pixels.
    let svg = std::fs::read_to_string(&trav).unwrap();
    assert_eq!(svg.matches("<rect x=").count(), 2 * 9 * 64, "one rect per pixel");

    let out = crabmix(&["vae", "sample", "--model", &s(&model), "-n", "5", "--seed", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r = rows(&out);
    assert_eq!(r.len(), 5);
    assert!(r.iter().all(|row| row.len() == 64 && row.iter().all(|v| (0.0..=1.0).contains(v))));

    let out = crabmix(&["vae", "encode", &s(&data), "--model", &s(&model)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r = rows(&out);
    assert_eq!((r.len(), r[0].len()), (200, 4), "μ₁ μ₂ ln σ²₁ ln σ²₂ per row");

    let z = d.join("z.csv");
    std::fs::write(&z, "z1,z2\n0,0\n1.5,-2\n").unwrap();
    let out = crabmix(&["vae", "decode", &s(&z), "--model", &s(&model)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(rows(&out).iter().map(Vec::len).collect::<Vec<_>>(), [64, 64]);

    let out = crabmix(&[
        "vae",
        "traverse",
        "--model",
        &s(&model),
        "--output",
        &s(&d.join("t2.svg")),
        "--steps",
        "5",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Errors name the problem: wrong width for decode, a zero-width layer.
    let out = crabmix(&["vae", "decode", &s(&data), "--model", &s(&model)]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("64 columns, the model has 2 latent dimensions"),
        "{}",
        text(&out.stderr)
    );
    let out = crabmix(&[
        "vae",
        "train",
        &s(&data),
        "--hidden",
        "32,0",
        "--epochs",
        "1",
        "--output",
        &s(&d.join("x.json")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("layer 2 has width 0"), "{}", text(&out.stderr));
    assert!(!d.join("x.json").exists());
}

#[test]
fn wgan_train_writes_model_scatter_and_curve() {
    let d = dir("wgan");
    let (model, scatter, curve) = (d.join("w.json"), d.join("ring.svg"), d.join("w1.svg"));
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    for lip in ["gp", "clip", "sn"] {
        let out = crabmix(&[
            "wgan",
            "train",
            "--demo",
            "ring",
            "--lipschitz",
            lip,
            "--iterations",
            "10",
            "--batch",
            "16",
            "--seed",
            "5",
            "--output",
            &s(&model),
            "--scatter",
            &s(&scatter),
            "--curve",
            &s(&curve),
        ]);
        assert!(out.status.success(), "{lip}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("mode shares (within 0.25)"));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
        assert_eq!(json["lipschitz"].as_str(), Some(lip));
        assert_eq!(json["wasserstein_estimate"].as_array().unwrap().len(), 10);
        // Generator 2·64 + 64 + 64·64 + 64 + 64·2 + 2 = 4482; critic 2·64 + 64 + 64·64 + 64 + 64 + 1 = 4417.
        assert_eq!(json["generator"].as_array().unwrap().len(), 4482);
        assert_eq!(json["critic"].as_array().unwrap().len(), 4417);
        if lip == "clip" {
            assert!(
                json["critic"].as_array().unwrap().iter().all(|v| v.as_f64().unwrap().abs() <= 0.01 + 1e-9)
            );
        }
        let svg = std::fs::read_to_string(&scatter).unwrap();
        assert!(svg.contains("real (1000)") && svg.contains("generated (1000)"));
        assert!(std::fs::read_to_string(&curve).unwrap().contains("polyline"));
    }
}

#[test]
fn training_sizes_and_rates_are_bounded_before_any_work() {
    // Each is refused by argument parsing (exit 2), naming the option, and writes nothing:
    // before, --epochs 0 wrote an untrained model, --lr 0 or −1 was accepted, and 10¹² epochs
    // or a 10⁹ batch ran into "capacity overflow" or memory exhaustion.
    let d = dir("bounds");
    let out = d.join("model.json");
    let out = out.to_str().unwrap();
    let digits = repo().join("data/digits.csv");
    let digits = digits.to_str().unwrap();
    let cases: [(&[&str], &str); 8] = [
        (&["vae", "train", digits, "--epochs", "0", "-o", out], "--epochs"),
        (&["vae", "train", digits, "--epochs", "1000000000000", "-o", out], "--epochs"),
        (&["vae", "train", digits, "--batch", "1000000000", "-o", out], "--batch"),
        (&["vae", "train", digits, "--lr", "0", "-o", out], "--lr"),
        (&["vae", "train", digits, "--lr=-1e-3", "-o", out], "--lr"),
        (&["wgan", "train", "--demo", "ring", "--iterations", "0", "-o", out], "--iterations"),
        (&["wgan", "train", "--demo", "ring", "--batch", "0", "-o", out], "--batch"),
        (&["wgan", "train", "--demo", "ring", "--lr", "inf", "-o", out], "--lr"),
    ];
    for (args, option) in cases {
        let o = crabmix(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains(option), "{args:?}: {}", text(&o.stderr));
        assert!(!Path::new(out).exists(), "{args:?} wrote a model");
    }
}
