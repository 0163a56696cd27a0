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

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

/// Runs crabmix and asserts success, returning stderr.
fn ok(args: &[&str]) -> Output {
    let out = crabmix(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    out
}

/// Writes `rows` (each `d` values) as a headerless CSV.
fn write_csv(path: &Path, rows: &[Vec<f64>]) {
    let t: String = rows
        .iter()
        .map(|r| r.iter().map(|v| format!("{v:.9}")).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    std::fs::write(path, t).unwrap();
}

/// A small seeded generator for test data (SplitMix64 → uniform, Box–Muller normals).
struct Gen(u64);
impl Gen {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// The digits' train and test rows as the reference scripts split them.
fn digits_split() -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let all = std::fs::read_to_string(repo().join("data/digits.csv")).unwrap();
    let split: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("data/digits_split.json")).unwrap())
            .unwrap();
    let test: std::collections::HashSet<u64> =
        split["test"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    let (mut tr, mut te) = (Vec::new(), Vec::new());
    for (i, l) in all.lines().skip(1).enumerate() {
        let r: Vec<f64> = l.split(',').map(|v| v.parse().unwrap()).collect();
        if test.contains(&(i as u64)) { te.push(r) } else { tr.push(r) }
    }
    (tr, te)
}

fn load_vae(path: &Path) -> crabmix::train::vae_model::VaeModel {
    let j = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    crabmix::train::vae_model::VaeModel::from_json(&j).unwrap()
}

#[test]
fn vae_digits_two_hidden_layers_within_5_percent_of_pytorch() {
    use rand_core::SeedableRng;
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/torch/vae_deep_reference.json")).unwrap(),
    )
    .unwrap();
    let want = reference["test_elbo_mean"].as_f64().unwrap();
    assert_eq!(reference["hidden"], serde_json::json!([64, 32]));
    assert_eq!((reference["latent"].as_u64(), reference["epochs"].as_u64()), (Some(4), Some(50)));
    let d = dir("vae-deep");
    let (train, test) = digits_split();
    assert_eq!((train.len(), test.len()), (1437, 360));
    let (train_csv, model) = (d.join("train.csv"), d.join("m.json"));
    write_csv(&train_csv, &train);
    let args = ["--hidden", "64,32", "--latent", "4", "--epochs", "50", "--batch", "32", "--lr", "1e-3"];
    ok(&[&["vae", "train", &s(&train_csv), "--seed", "0", "-o", &s(&model)][..], &args].concat());
    let m = load_vae(&model);
    let flat: Vec<f32> = test.iter().flatten().map(|&v| v as f32).collect();
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(9);
    let (ll, kl) = m.mean_elbo(&flat, 16, &mut rng);
    let got = ll - kl;
    let rel = (got - want).abs() / want.abs();
    eprintln!(
        "crabmix test ELBO {got:.4} (ln p {ll:.4}, KL {kl:.4}), PyTorch {want:.4}: {:.2} %",
        100.0 * rel
    );
    assert!(rel < 0.05, "test ELBO {got} vs PyTorch {want}");
    // Teeth: the untrained network is far outside the band.
    let untrained = reference["runs"][0]["untrained_test_elbo"].as_f64().unwrap();
    assert!((untrained - want).abs() / want.abs() > 0.3);
    assert!(kl > 1.0, "the posterior collapsed: KL {kl}");
}

/// 20 features from 3 latent factors through a fixed linear map, offsets up to ±50 and scales
/// 0.1 to 10 (so --standardize matters), plus noise of 5 % of each feature's scale.
fn factor_data(n: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<f64>, Vec<f64>) {
    let mut g = Gen(seed);
    let a: Vec<[f64; 3]> = (0..20).map(|_| [g.normal(), g.normal(), g.normal()]).collect();
    let offset: Vec<f64> = (0..20).map(|j| 50.0 * ((j as f64) * 0.7).sin()).collect();
    let scale: Vec<f64> = (0..20).map(|j| 10f64.powf(-1.0 + 2.0 * j as f64 / 19.0)).collect();
    let rows = (0..n)
        .map(|_| {
            let f = [g.normal(), g.normal(), g.normal()];
            (0..20)
                .map(|j| {
                    let v = a[j][0] * f[0] + a[j][1] * f[1] + a[j][2] * f[2];
                    offset[j] + scale[j] * (v + 0.05 * 3f64.sqrt() * g.normal())
                })
                .collect()
        })
        .collect();
    (rows, offset, scale)
}

#[test]
fn gaussian_vae_on_20_features_reconstructs_and_samples_the_data_means() {
    let d = dir("vae-gauss");
    let (rows, _, _) = factor_data(1500, 11);
    let (data, model) = (d.join("f20.csv"), d.join("m.json"));
    write_csv(&data, &rows);
    let out = ok(&[
        "vae",
        "train",
        &s(&data),
        "--likelihood",
        "gaussian-learned",
        "--standardize",
        "--hidden",
        "64",
        "--latent",
        "3",
        "--epochs",
        "40",
        "--batch",
        "32",
        "--lr",
        "2e-3",
        "--validation",
        "0.1",
        "--seed",
        "1",
        "-o",
        &s(&model),
    ]);
    assert!(text(&out.stderr).contains("validation ELBO"));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    assert_eq!(json["train"]["validation_elbo_per_epoch"].as_array().unwrap().len(), 40);
    assert_eq!(json["decoder_log_var"].as_array().unwrap().len(), 20);
    assert_eq!(json["standardize"]["mean"].as_array().unwrap().len(), 20);
    // Per-feature mean and standard deviation of the data.
    let n = rows.len() as f64;
    let mean: Vec<f64> = (0..20).map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n).collect();
    let sd: Vec<f64> =
        (0..20).map(|j| (rows.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n).sqrt()).collect();
    // Reconstruction through the means: encode, keep μ, decode.
    let m = load_vae(&model);
    let mut err = 0.0;
    for r in rows.iter().take(300) {
        let x: Vec<f32> = r.iter().map(|&v| v as f32).collect();
        let (mu, _) = m.encode(&x).unwrap();
        let y = m.decode(&mu).unwrap();
        err += (0..20).map(|j| ((y[j] as f64 - r[j]) / sd[j]).powi(2)).sum::<f64>() / 20.0;
    }
    let err = err / 300.0;
    eprintln!("mean squared reconstruction error / variance: {err:.4}");
    // 3 factors explain all but the 5 % noise: a good fit leaves a small fraction.
    assert!(err < 0.1, "relative reconstruction error {err}");
    // Samples: per-feature means within 0.15 sd of the data's.
    let out = ok(&["vae", "sample", "--model", &s(&model), "-n", "2000", "--seed", "4"]);
    let smp = rows_of(&out);
    assert_eq!(smp.len(), 2000);
    for j in 0..20 {
        let sm = smp.iter().map(|r| r[j]).sum::<f64>() / 2000.0;
        assert!((sm - mean[j]).abs() < 0.15 * sd[j], "feature {j}: sample mean {sm} vs {}", mean[j]);
    }
}

fn rows_of(o: &Output) -> Vec<Vec<f64>> {
    rows(o)
}

/// Exact W₁ between equal-size sets of D-dimensional points (Hungarian assignment).
fn w1<const D: usize>(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    let to = |v: &[Vec<f64>]| v.iter().map(|r| <[f64; D]>::try_from(&r[..D]).unwrap()).collect::<Vec<_>>();
    crabmix_tests::assignment::wasserstein1_exact(&to(a), &to(b))
}

/// Trains the WGAN on `data` for `iterations`, samples 300 rows; returns them.
fn wgan_samples(d: &Path, data: &Path, iterations: &str, seed: &str, extra: &[&str]) -> Vec<Vec<f64>> {
    let model = s(&d.join(format!("w{iterations}.json")));
    let data = s(data);
    let base =
        ["wgan", "train", &data, "--iterations", iterations, "--batch", "64", "--seed", seed, "-o", &model];
    ok(&[&base[..], extra].concat());
    rows(&ok(&["wgan", "sample", "--model", &model, "-n", "300", "--seed", "7"]))
}

#[test]
fn wgan_gp_on_two_moons_covers_both_moons_and_shrinks_w1_5x() {
    let d = dir("moons");
    let mut g = Gen(5);
    let moon = |g: &mut Gen, k: usize| {
        let t = std::f64::consts::PI * g.uniform();
        let (x, y) = if k == 0 { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) };
        vec![x + 0.05 * g.normal(), y + 0.05 * g.normal()]
    };
    let rows: Vec<Vec<f64>> = (0..1000).map(|i| moon(&mut g, i % 2)).collect();
    let data = d.join("moons.csv");
    write_csv(&data, &rows);
    // The ring recipe's two time scales (critic 1e-3, generator 2e-4). The exact W₁ between two
    // 300-point samples of the data itself is ≈ 0.09 (scipy, seed 0): the floor of the estimate.
    // Runs are seed-sensitive (measured after 2500 iterations, seeds 2, 3, 4: W₁ 0.24, 0.39,
    // 0.20): the seed is fixed, and the test checks the learning at that seed.
    let extra = ["--hidden", "32,32"];
    let init = wgan_samples(&d, &data, "1", "4", &extra);
    let trained = wgan_samples(&d, &data, "2500", "4", &extra);
    let (w_init, w_end) = (w1::<2>(&init, &rows[..300]), w1::<2>(&trained, &rows[..300]));
    eprintln!("two moons: exact W1 {w_init:.4} after 1 iteration, {w_end:.4} after 2500");
    assert!(w_end * 5.0 < w_init, "W1 {w_init} → {w_end}");
    // Each moon (the nearer moon's curve, within 0.2) gets at least a quarter of the samples.
    let dist = |p: &[f64], k: usize| {
        (0..200)
            .map(|i| {
                let t = std::f64::consts::PI * i as f64 / 199.0;
                let (x, y) = if k == 0 { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) };
                ((p[0] - x).powi(2) + (p[1] - y).powi(2)).sqrt()
            })
            .fold(f64::INFINITY, f64::min)
    };
    for k in 0..2 {
        let on = trained.iter().filter(|p| dist(p, k) < 0.2 && dist(p, k) <= dist(p, 1 - k)).count();
        assert!(on >= 75, "moon {k}: {on} of 300 samples");
    }
}

#[test]
fn wgan_gp_on_a_5d_four_component_mixture_covers_every_component_and_shrinks_w1_5x() {
    let d = dir("mix5");
    let centers: [[f64; 5]; 4] = [
        [2.0, 0.0, 0.0, 0.0, 0.0],
        [-2.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 2.0, 0.0, 2.0, 0.0],
        [0.0, -2.0, 0.0, 0.0, 2.0],
    ];
    let mut g = Gen(8);
    let rows: Vec<Vec<f64>> =
        (0..1000).map(|i| centers[i % 4].iter().map(|c| c + 0.15 * g.normal()).collect()).collect();
    let data = d.join("mix5.csv");
    write_csv(&data, &rows);
    // Both networks at lr 3e-3 (measured: the ring's slow generator leaves W₁ ≈ 1.0 here after
    // 1500 iterations). The data's own 300-point W₁ floor is ≈ 0.24 (scipy).
    let extra = ["--hidden", "32,32", "--latent", "5", "--lr", "3e-3"];
    let init = wgan_samples(&d, &data, "1", "2", &extra);
    let trained = wgan_samples(&d, &data, "1500", "2", &extra);
    let (w_init, w_end) = (w1::<5>(&init, &rows[..300]), w1::<5>(&trained, &rows[..300]));
    eprintln!("5-D mixture: exact W1 {w_init:.4} after 1 iteration, {w_end:.4} after 1500");
    assert!(w_end * 5.0 < w_init, "W1 {w_init} → {w_end}");
    // Every component gets at least 10 % of the samples within 0.75 (5σ) of its centre.
    for (k, c) in centers.iter().enumerate() {
        let near = trained
            .iter()
            .filter(|p| p.iter().zip(c).map(|(a, b)| (a - b).powi(2)).sum::<f64>() < 0.75f64.powi(2))
            .count();
        assert!(near >= 30, "component {k}: {near} of 300 samples");
    }
}

/// Asserts a failed run whose stderr contains `want`, with no non-finite number on stdout.
fn fails(args: &[&str], want: &str) {
    let out = crabmix(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    let err = text(&out.stderr);
    assert!(err.contains(want), "{args:?}: {err}");
    let o = text(&out.stdout).to_lowercase();
    assert!(!o.contains("nan") && !o.contains("inf"), "{args:?} printed {o}");
}

#[test]
fn bad_input_is_an_error_naming_what_and_where_and_writes_nothing() {
    let d = dir("bad");
    let m = d.join("m.json");
    let (ms, no_model) = (s(&m), || assert!(!d.join("m.json").exists()));
    let csv = |name: &str, body: &str| {
        let p = d.join(name);
        std::fs::write(&p, body).unwrap();
        s(&p)
    };
    // Bernoulli data outside [0, 1]: the line and column (header on line 1).
    let big = csv("big.csv", "a,b\n0.5,0.2\n0.1,3.5\n");
    fails(&["vae", "train", &big, "-o", &ms], "big.csv:3:2: 3.5 is outside [0, 1]");
    fails(&["vae", "train", &big, "--standardize", "-o", &ms], "--standardize needs a Gaussian likelihood");
    fails(
        &["vae", "train", &csv("nan.csv", "0.5,0.2\n0.1,NaN\n"), "-o", &ms],
        "nan.csv:2:2: cell \"NaN\" is not a finite",
    );
    fails(&["vae", "train", &csv("empty.csv", ""), "-o", &ms], "no data rows");
    fails(&["wgan", "train", &csv("empty2.csv", "x,y\n"), "-o", &ms], "no data rows");
    no_model();
    let o = crabmix(&["vae", "train", &big, "--hidden", "0", "-o", &ms]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("layer 1 has width 0"), "{}", text(&o.stderr));
    // A diverging run (squares of 1e30 overflow f32): an error naming the epoch, no model.
    let huge = csv("huge.csv", "1e30,2e30\n-1e30,3e30\n1e30,1e30\n");
    fails(&["vae", "train", &huge, "--likelihood", "gaussian", "-o", &ms], "epoch 1, batch 1");
    let huge2 = csv("huge2.csv", "3e38,3e38\n-3e38,3e38\n");
    fails(&["wgan", "train", &huge2, "--iterations", "5", "-o", &ms], "iteration 1: the critic loss");
    no_model();
    // Side outputs are checked before training.
    let ok_data = csv("ok.csv", "0.5,0.2\n0.1,0.9\n0.3,0.3\n0.8,0.1\n");
    let missing = s(&d.join("no/such/dir/c.svg"));
    // The message names the option and the missing folder (cli::output::check_output_path).
    fails(&["vae", "train", &ok_data, "--epochs", "2", "--curve", &missing, "-o", &ms], "--curve ");
    fails(&["wgan", "train", &ok_data, "--iterations", "2", "--scatter", &missing, "-o", &ms], "--scatter ");
    no_model();
    // Non-square features with --traversal: refused before training.
    fails(&["vae", "train", &ok_data, "--traversal", &s(&d.join("t.svg")), "-o", &ms], "square images");
    no_model();
    // A batch larger than the data is clamped to it, and said.
    let o = ok(&["vae", "train", &ok_data, "--epochs", "2", "--batch", "100", "--hidden", "4", "-o", &ms]);
    assert!(text(&o.stderr).contains("--batch 100 is larger than the 4 training rows; using 4"));
    // Columns that differ from the model's.
    fails(
        &["vae", "encode", &csv("three.csv", "0.1,0.2,0.3\n"), "--model", &ms],
        "3 columns, the model has 2 features",
    );
    fails(&["vae", "encode", &big, "--model", &ms], "big.csv:3: column 2: 3.5 is outside [0, 1]");
    // Bounds in argument parsing.
    for (args, opt) in [
        (vec!["vae", "sample", "--model", &ms, "-n", "0"], "-n"),
        (vec!["vae", "sample", "--model", &ms, "-n", "1000000000000"], "-n"),
        (vec!["vae", "traverse", "--model", &ms, "-o", "t.svg", "--steps", "100000"], "--steps"),
        (vec!["vae", "train", &ok_data, "--validation", "1", "-o", "x.json"], "--validation"),
        (vec!["vae", "train", &ok_data, "--latent", "0", "-o", "x.json"], "--latent"),
    ] {
        let o = crabmix(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(text(&o.stderr).contains(opt), "{args:?}: {}", text(&o.stderr));
    }
    // Extreme (finite) weights whose outputs overflow: an error, never NaN with status 0.
    let mut j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
    for k in ["encoder", "decoder"] {
        for v in j[k].as_array_mut().unwrap() {
            *v = serde_json::json!(v.as_f64().unwrap().signum() * 3e38);
        }
    }
    let extreme = d.join("extreme.json");
    std::fs::write(&extreme, j.to_string()).unwrap();
    let ex = s(&extreme);
    fails(&["vae", "encode", &ok_data, "--model", &ex], "ok.csv:1: μ 1 is");
    fails(&["vae", "decode", &csv("z.csv", "1,-1,0.5,2\n"), "--model", &ex], "2 latent dimensions");
    fails(&["vae", "decode", &csv("z2.csv", "1,-1\n"), "--model", &ex], "z2.csv:1: the decoded mean 1 is");
    fails(&["vae", "sample", "--model", &ex, "-n", "3"], "sample 1: the decoded mean");
    // A parameter count that does not match the architecture, and a null (NaN) parameter.
    j["decoder"].as_array_mut().unwrap().pop();
    std::fs::write(&extreme, j.to_string()).unwrap();
    fails(&["vae", "decode", &csv("z3.csv", "1,-1\n"), "--model", &ex], "decoder:");
    j["decoder"].as_array_mut().unwrap().push(serde_json::Value::Null);
    std::fs::write(&extreme, j.to_string()).unwrap();
    fails(&["vae", "decode", &csv("z4.csv", "1,-1\n"), "--model", &ex], &s(&extreme));
}

#[test]
fn wgan_sample_and_critic_read_everything_from_the_model_file() {
    let d = dir("wgan-cmds");
    let data = d.join("d3.csv");
    let rows: Vec<Vec<f64>> = (0..64).map(|i| vec![i as f64 / 64.0, 1.0, -(i as f64) / 32.0]).collect();
    write_csv(&data, &rows);
    let m = s(&d.join("w.json"));
    ok(&[
        "wgan",
        "train",
        &s(&data),
        "--iterations",
        "3",
        "--hidden",
        "8,8,8",
        "--latent",
        "3",
        "--standardize",
        "-o",
        &m,
    ]);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
    assert_eq!(json["hidden"], serde_json::json!([8, 8, 8]));
    assert_eq!((json["features"].as_u64(), json["latent"].as_u64()), (Some(3), Some(3)));
    // Generator 3·8+8 + 2·(8·8+8) + 8·3+3 = 203; critic 3·8+8 + 2·(8·8+8) + 8+1 = 185.
    assert_eq!(json["generator"].as_array().unwrap().len(), 203);
    assert_eq!(json["critic"].as_array().unwrap().len(), 185);
    let smp = rows_of(&ok(&["wgan", "sample", "--model", &m, "-n", "7", "--seed", "1"]));
    assert_eq!((smp.len(), smp[0].len()), (7, 3));
    let c = rows_of(&ok(&["wgan", "critic", &s(&data), "--model", &m]));
    assert_eq!(c.len(), 64);
    assert!(c.iter().all(|r| r.len() == 1 && r[0].is_finite()));
    fails(
        &["wgan", "critic", &s(&repo().join("data/digits.csv")), "--model", &m],
        "64 columns, the model has 3 features",
    );
    let o = crabmix(&["wgan", "train", &s(&data), "--backend", "cuda", "-o", &m]);
    assert!(!o.status.success() && text(&o.stderr).contains("--backend cuda"));
    // Every Lipschitz rule at any shape (clipping keeps the critic within ±0.01).
    for lip in ["clip", "sn"] {
        ok(&[
            "wgan",
            "train",
            &s(&data),
            "--iterations",
            "3",
            "--hidden",
            "8,8",
            "--lipschitz",
            lip,
            "-o",
            &m,
        ]);
        let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
        assert_eq!(j["lipschitz"].as_str(), Some(lip));
        if lip == "clip" {
            assert!(j["critic"].as_array().unwrap().iter().all(|v| v.as_f64().unwrap().abs() <= 0.01 + 1e-9));
        }
    }
    // Every backend says which ran, in one stderr line: `auto` falls back to the CPU here (no
    // device) saying why; `--demo ring` runs the compiled networks on the CPU, so `cuda` refuses it.
    for (backend, said) in [("auto", "crabmix: backend: cpu ("), ("cpu", "crabmix: backend: cpu")] {
        let o = ok(&["wgan", "train", &s(&data), "--iterations", "2", "--backend", backend, "-o", &m]);
        let err = text(&o.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| l.contains("backend:")).collect();
        assert!(lines.len() == 1 && lines[0].starts_with(said), "{backend}: {lines:?}");
    }
    fails(
        &["wgan", "train", "--demo", "ring", "--backend", "cuda", "-o", &m],
        "--demo ring trains the compiled networks",
    );
    // Both Gaussian VAEs have device kernels: with no device here, `auto` falls back saying why
    // (one line, not the likelihood) and `cuda` refuses.
    let v = s(&d.join("v.json"));
    for lik in ["gaussian", "gaussian-learned"] {
        let args = ["vae", "train", &s(&data), "--likelihood", lik, "--epochs", "1", "-o", &v];
        let o = ok(&[&args[..], &["--backend", "auto"]].concat());
        let err = text(&o.stderr);
        let said: Vec<&str> = err.lines().filter(|l| l.contains("backend:")).collect();
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].starts_with("crabmix: backend: cpu (") && !said[0].contains("likelihood"),
            "{said:?}"
        );
        fails(&[&args[..], &["--backend", "cuda"]].concat(), "--backend cuda: ");
    }
}
