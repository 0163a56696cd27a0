//! The `crabmix gmm` command line, end to end through the built binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn crabmix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crabmix")).args(args).output().expect("run crabmix")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn tmp(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("crabmix-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn fit_score_predict_sample_on_pearson_crabs() {
    let data = repo().join("data/pearson_crabs.csv");
    let data = data.to_str().unwrap();
    let model_path = std::env::temp_dir().join(format!("crabmix-cli-model-{}.json", std::process::id()));
    let model = model_path.to_str().unwrap();
    let out = crabmix(&["gmm", "fit", data, "--components", "2", "--seed", "7", "--output", model]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "model goes to the file");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model_path).unwrap()).unwrap();
    assert_eq!(json["covariance_type"], "full");
    assert_eq!(json["weights"].as_array().unwrap().len(), 2);
    assert_eq!(json["means"][0].as_array().unwrap().len(), 1);
    assert_eq!(json["covariances"][0][0].as_array().unwrap().len(), 1);
    for key in ["mean_log_likelihood", "bic", "aic", "lower_bound"] {
        assert!(json[key].as_f64().unwrap().is_finite(), "{key}");
    }
    assert!(json["n_iter"].as_u64().unwrap() >= 1);
    assert!(json["converged"].is_boolean());
    // BIC = −2 N ℓ̄ + p ln N with p = 2·1 + 2·1 + 1 = 5 for K = 2, D = 1, full.
    let ll = json["mean_log_likelihood"].as_f64().unwrap();
    let bic = json["bic"].as_f64().unwrap();
    assert!((bic - (-2.0 * 1000.0 * ll + 5.0 * 1000f64.ln())).abs() < 1e-6);

    let score = crabmix(&["gmm", "score", data, "--model", model]);
    assert!(score.status.success(), "{}", stderr(&score));
    let lines: Vec<f64> = stdout(&score).lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(lines.len(), 1000);
    let mean = lines.iter().sum::<f64>() / 1000.0;
    assert!((mean - ll).abs() < 1e-9, "score mean {mean} vs fit {ll}");

    let predict = crabmix(&["gmm", "predict", data, "--model", model]);
    let labels: Vec<usize> = stdout(&predict).lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(labels.len(), 1000);
    assert!(labels.iter().all(|&l| l < 2));
    assert!(labels.contains(&0) && labels.contains(&1));

    let sample = crabmix(&["gmm", "sample", "--model", model, "-n", "5", "--seed", "1"]);
    assert!(sample.status.success());
    let text = stdout(&sample);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 5);
    for r in rows {
        let v: f64 = r.parse().unwrap();
        assert!((0.5..0.8).contains(&v), "{v}");
    }
}

#[test]
fn covariance_kinds_shape_the_json() {
    let csv = tmp("blobs.csv", "x,y\n0,0\n0.1,0.2\n-0.1,0.1\n5,5\n5.2,4.9\n4.8,5.1\n0.05,-0.1\n5.1,5.0\n");
    let p = csv.to_str().unwrap();
    for (kind, depth) in [("full", 3), ("diag", 2), ("spherical", 1)] {
        let out = crabmix(&["gmm", "fit", p, "-k", "2", "--covariance", kind, "--precision", "f32"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let mut v = &json["covariances"];
        let mut d = 0;
        while let Some(a) = v.as_array() {
            v = a.first().unwrap();
            d += 1;
        }
        assert_eq!(d, depth, "{kind}");
        assert_eq!(json["precision"], "f32");
    }
}

#[test]
fn malformed_input_names_line_and_column_and_prints_no_model() {
    let cases = [
        ("bad_cell.csv", "a,b\n1,2\n3,oops\n", "bad_cell.csv:3:2: cell \"oops\" is not a number"),
        ("nan.csv", "1,2\n3,nan\n", "nan.csv:2:2: cell \"nan\" is not a finite f64 value"),
        ("ragged.csv", "1,2\n3\n", "ragged.csv:2: row has 1 columns, expected 2"),
        ("empty.csv", "", "empty.csv: no data rows"),
        ("header_only.csv", "a,b\n", "header_only.csv: no data rows"),
    ];
    for (name, content, message) in cases {
        let p = tmp(name, content);
        let out = crabmix(&["gmm", "fit", p.to_str().unwrap(), "-k", "1"]);
        assert!(!out.status.success(), "{name}");
        assert!(stdout(&out).is_empty(), "{name}: no model on stdout");
        assert!(stderr(&out).contains(message), "{name}: {}", stderr(&out));
    }
    let p = tmp("few.csv", "1\n2\n");
    let out = crabmix(&["gmm", "fit", p.to_str().unwrap(), "-k", "3"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("3 components need at least 3 samples, got 2"), "{}", stderr(&out));
}

#[test]
fn model_and_data_must_agree() {
    let model = tmp(
        "m.json",
        r#"{"covariance_type":"diag","weights":[1.0],"means":[[0.0,0.0]],"covariances":[[1.0,1.0]]}"#,
    );
    let data = tmp("d3.csv", "1,2,3\n");
    let out = crabmix(&["gmm", "score", data.to_str().unwrap(), "--model", model.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("3 columns, but the model has 2 features"), "{}", stderr(&out));
    let bad =
        tmp("bad.json", r#"{"covariance_type":"full","weights":[1.0],"means":[[0.0]],"covariances":[1.0]}"#);
    let d1 = tmp("d1.csv", "1\n");
    let out = crabmix(&["gmm", "score", d1.to_str().unwrap(), "--model", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("wrong nesting"), "{}", stderr(&out));
    // A hand-written model (no fit information) scores data.
    let out = crabmix(&[
        "gmm",
        "score",
        tmp("d2.csv", "0,0\n").to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: f64 = stdout(&out).trim().parse().unwrap();
    assert!((v + (2.0 * std::f64::consts::PI).ln()).abs() < 1e-12, "ln N(0; 0, I₂) = −ln 2π, got {v}");
}

#[test]
fn a_closed_pipe_ends_sampling_quietly() {
    // `crabmix gmm sample … | head -1`: the reader goes away after one line; the command must
    // neither print an error nor fail (before: "Broken pipe (os error 32)", exit 1).
    let data = repo().join("data/pearson_crabs.csv");
    let model_path = std::env::temp_dir().join(format!("crabmix-cli-pipe-{}.json", std::process::id()));
    let model = model_path.to_str().unwrap();
    let fit = crabmix(&["gmm", "fit", data.to_str().unwrap(), "--components", "2", "--output", model]);
    assert!(fit.status.success(), "{}", stderr(&fit));
    let mut child = Command::new(env!("CARGO_BIN_EXE_crabmix"))
        .args(["gmm", "sample", "--model", model, "-n", "1000000", "--seed", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run crabmix");
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut first)
        .unwrap();
    // The reader is dropped here: the pipe is closed long before a million rows are written.
    let out = child.wait_with_output().unwrap();
    std::fs::remove_file(&model_path).ok();
    assert!(first.split(',').count() == 1 && first.trim().parse::<f64>().is_ok(), "first row {first:?}");
    assert!(out.status.success(), "status {:?}, stderr {}", out.status, stderr(&out));
    assert!(stderr(&out).is_empty(), "stderr: {}", stderr(&out));
}

#[test]
fn output_to_a_fifo_writes_through_it_and_leaves_it_a_fifo() {
    // `--output` naming a FIFO (or /dev/null, a terminal) must not rename a regular file over
    // the node: as root that replaced /dev/null with a file. The model goes through the pipe.
    use std::os::unix::fs::FileTypeExt;
    let dir = std::env::temp_dir().join(format!("crabmix-cli-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("model.fifo");
    let _ = std::fs::remove_file(&fifo);
    let made = Command::new("mkfifo").arg(&fifo).status().expect("run mkfifo");
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).expect("read the fifo"))
    };
    let data = repo().join("data/pearson_crabs.csv");
    let out = crabmix(&[
        "gmm",
        "fit",
        data.to_str().unwrap(),
        "--components",
        "2",
        "--output",
        fifo.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Checked before joining: a replaced FIFO would leave the reader blocked for good.
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO was replaced");
    let json: serde_json::Value = serde_json::from_str(&reader.join().unwrap()).expect("a whole model");
    assert_eq!(json["weights"].as_array().map(Vec::len), Some(2));
    assert!(!dir.join("model.fifo.tmp").exists());
    std::fs::remove_dir_all(&dir).ok();
}
