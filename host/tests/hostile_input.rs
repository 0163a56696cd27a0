//! Hostile input to the `crabmix gmm` command line (issue 8): every malformed file gives a clear
//! error naming line and column (CSV, JSON syntax) or the offending field (JSON semantics), or a
//! correct result; no model is ever left half-written; score/predict stream a 10-million-row file
//! in bounded memory.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn crabmix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crabmix")).args(args).output().expect("run crabmix")
}

/// A fresh directory per test (tests run in parallel threads of one process).
fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("crabmix-hostile-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, content: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p.to_str().unwrap().to_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Runs `args`, expects failure with `message` on stderr and nothing on stdout.
fn fails_with(args: &[&str], message: &str) {
    let out = crabmix(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(stdout(&out).is_empty(), "{args:?}: printed {:?}", stdout(&out));
    assert!(stderr(&out).contains(message), "{args:?}: expected {message:?}, got {:?}", stderr(&out));
}

const MODEL_2D: &str =
    r#"{"covariance_type":"diag","weights":[1.0],"means":[[0.0,0.0]],"covariances":[[1.0,1.0]]}"#;

#[test]
fn malformed_csv_names_line_and_column_for_every_command() {
    let d = dir("csv");
    let model = write(&d, "m.json", MODEL_2D.as_bytes());
    let cases: [(&str, &[u8], &str); 9] = [
        ("empty.csv", b"", "empty.csv: no data rows"),
        ("header_only.csv", b"x,y\n", "header_only.csv: no data rows"),
        ("header_only_crlf.csv", b"\xef\xbb\xbfx,y\r\n\r\n", "header_only_crlf.csv: no data rows"),
        ("ragged_long.csv", b"x,y\n1,2\n3,4,5\n", "ragged_long.csv:3: row has 3 columns, expected 2"),
        ("ragged_short.csv", b"1,2\n3,4\n5\n", "ragged_short.csv:3: row has 1 columns, expected 2"),
        ("text.csv", b"x,y\n1,2\n3,four\n", "text.csv:3:2: cell \"four\" is not a number"),
        ("empty_cell.csv", b"1,2\n,4\n", "empty_cell.csv:2:1: cell \"\" is not a number"),
        ("inf.csv", b"1,2\n3,-inf\n", "inf.csv:2:2: cell \"-inf\" is not a finite f64 value"),
        // 1e309 parses to +inf in f64: out of range, not "not a number".
        ("overflow.csv", b"1,2\n1e309,4\n", "overflow.csv:2:1: cell \"1e309\" is not a finite f64 value"),
    ];
    for (name, content, message) in cases {
        let p = write(&d, name, content);
        fails_with(&["gmm", "fit", &p, "-k", "1"], message);
        fails_with(&["gmm", "score", &p, "--model", &model], message);
        fails_with(&["gmm", "predict", &p, "--model", &model], message);
    }
    // Invalid UTF-8 is an I/O-level error of the CSV reader, reported with its position.
    let p = write(&d, "latin1.csv", b"1,2\n3,\xe9\n");
    let out = crabmix(&["gmm", "fit", &p, "-k", "1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("latin1.csv: CSV parse error: record 1 (line 2"), "{}", stderr(&out));
}

#[test]
fn bom_crlf_and_spaces_give_the_plain_result() {
    let d = dir("bom");
    let model = write(&d, "m.json", MODEL_2D.as_bytes());
    let plain = write(&d, "plain.csv", b"0,0\n1,-1\n");
    let odd = write(&d, "odd.csv", b"\xef\xbb\xbfx , y\r\n 0 ,0\r\n1, -1\r\n\r\n");
    let a = crabmix(&["gmm", "score", &plain, "--model", &model]);
    let b = crabmix(&["gmm", "score", &odd, "--model", &model]);
    assert!(a.status.success() && b.status.success(), "{}", stderr(&b));
    assert_eq!(stdout(&a), stdout(&b));
    // ln N(x; 0, I₂) = −ln 2π − |x|²/2: 0 → −1.8378770664093453, (1, −1) → −2.8378770664093453.
    let v: Vec<f64> = stdout(&b).lines().map(|l| l.parse().unwrap()).collect();
    let ln2pi = (2.0 * std::f64::consts::PI).ln();
    assert_eq!(v.len(), 2);
    assert!((v[0] + ln2pi).abs() < 1e-14 && (v[1] + ln2pi + 1.0).abs() < 1e-14, "{v:?}");
}

#[test]
fn extreme_magnitudes_fit_or_fail_clearly() {
    let d = dir("extreme");
    // Denormals: the fit is exact arithmetic on them (mean of col 0 = 1e-310 / 4 = 2.5e-311).
    let den = write(&d, "den.csv", b"5e-324,1\n-5e-324,2\n1e-310,3\n0,1.5\n");
    let out = crabmix(&["gmm", "fit", &den, "-k", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["means"][0][0].as_f64().unwrap(), 2.5e-311);
    assert_eq!(json["means"][0][1].as_f64().unwrap(), 1.875);
    // Var(1, 2, 3, 1.5) = 2.1875 / 4, plus reg_covar 1e-6.
    assert!((json["covariances"][0][1][1].as_f64().unwrap() - (0.546875 + 1e-6)).abs() < 1e-15);
    // In f32 the f64 denormals flush to 0 (below f32's smallest denormal 1.4e-45): still a fit.
    let out = crabmix(&["gmm", "fit", &den, "-k", "1", "--precision", "f32"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["means"][0][0].as_f64().unwrap(), 0.0);
    assert!((json["means"][0][1].as_f64().unwrap() - 1.875).abs() < 1e-6);
    // f32 denormals stay denormal: the mean of 1e-40 and 3e-40 is 2e-40 to within the rounding
    // of the inputs (denormal spacing 2⁻¹⁴⁹ ≈ 1.4e-45).
    let den32 = write(&d, "den32.csv", b"1e-40\n3e-40\n");
    let out = crabmix(&["gmm", "fit", &den32, "-k", "1", "--precision", "f32"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let m = json["means"][0][0].as_f64().unwrap();
    assert!(m > 0.0 && (m - 2e-40).abs() < 3e-45, "{m}");

    // ±1e308 are finite f64 values, but their variance (1e616) is not: a clear error.
    let big = write(&d, "big.csv", b"1e308,1\n-1e308,2\n1e308,3\n-1e308,1.5\n");
    fails_with(&["gmm", "fit", &big, "-k", "1"], "EM overflowed f64 arithmetic");
    // In f32 the same cell is out of range at parse time.
    fails_with(
        &["gmm", "fit", &big, "-k", "1", "--precision", "f32"],
        "big.csv:1:1: cell \"1e308\" is not a finite f32 value",
    );
    // Scoring 1e308 under N(0, I): ln p is −∞ in f64 (p underflows to 0); no command prints a
    // non-finite number with exit 0 (issue 21), so it is an error naming the sample.
    let model = write(&d, "m.json", MODEL_2D.as_bytes());
    let far = write(&d, "far.csv", b"0,0\n1e308,0\n");
    fails_with(
        &["gmm", "score", &far, "--model", &model],
        "far.csv: sample 1 has zero density under every component in working precision",
    );
}

#[test]
fn malformed_or_mismatched_model_json_is_a_clear_error() {
    let d = dir("json");
    let data = write(&d, "d.csv", b"0,0\n1,1\n");
    let cases: [(&str, &str); 14] = [
        ("", "EOF while parsing a value at line 1 column 0"),
        ("[]", "invalid type: sequence, expected struct ModelJson at line 1 column 0"),
        (
            r#"{"covariance_type":"diag","weights":[1.0],"means":[[0.0,0.0]],"covariances":[[1.0,1.0]]"#,
            "EOF while parsing an object at line 1 column 87",
        ),
        (
            r#"{"covariance_type":"diag","weights":[1.0],"means":[[0.0,0.0]]}"#,
            "missing field `covariances` at line 1 column 62",
        ),
        (
            "{\"covariance_type\":\"diag\",\n\"weights\":[NaN],\"means\":[[0.0,0.0]],\"covariances\":[[1.0,1.0]]}",
            "expected value at line 2 column 12",
        ),
        (
            r#"{"covariance_type":"diag","weights":"one","means":[[0.0,0.0]],"covariances":[[1.0,1.0]]}"#,
            "invalid type: string \"one\", expected a sequence at line 1 column 41",
        ),
        (
            r#"{"covariance_type":"diag","weights":[1.0],"means":[[0.0,0.0]],"covariances":[[1.0,1e400]]}"#,
            "number out of range at line 1 column 87",
        ),
        (
            r#"{"covariance_type":"banded","weights":[1.0],"means":[[0.0,0.0]],"covariances":[[1.0,1.0]]}"#,
            "unknown covariance type \"banded\"",
        ),
        // Wrong nesting: full needs K × D × D.
        (
            r#"{"covariance_type":"full","weights":[1.0],"means":[[0.0,0.0]],"covariances":[[1.0,0.0],[0.0,1.0]]}"#,
            "`covariances` have the wrong nesting for this covariance_type (covariance_type \"full\", K = 1, D = 2)",
        ),
        // K mismatch between weights and means; D mismatch inside covariances.
        (
            r#"{"covariance_type":"diag","weights":[0.5,0.5],"means":[[0.0,0.0]],"covariances":[[1.0,1.0]]}"#,
            "`means` has 1 rows, `weights` has 2",
        ),
        (
            r#"{"covariance_type":"diag","weights":[1.0],"means":[[0.0,0.0]],"covariances":[[1.0]]}"#,
            "`covariances` must be K × D (covariance_type \"diag\", K = 1, D = 2)",
        ),
        (
            r#"{"covariance_type":"diag","weights":[1.5,-0.5],"means":[[0.0,0.0],[1.0,1.0]],"covariances":[[1.0,1.0],[1.0,1.0]]}"#,
            "invalid model: invalid `weights`: negative weight",
        ),
        (
            r#"{"covariance_type":"diag","weights":[0.7,0.7],"means":[[0.0,0.0],[1.0,1.0]],"covariances":[[1.0,1.0],[1.0,1.0]]}"#,
            "invalid model: invalid `weights`: weights must sum to 1",
        ),
        // Symmetric but indefinite (eigenvalues 3 and −1).
        (
            r#"{"covariance_type":"full","weights":[1.0],"means":[[0.0,0.0]],"covariances":[[[1.0,2.0],[2.0,1.0]]]}"#,
            "invalid model: covariance of component 0 is not positive definite (pivot 1)",
        ),
    ];
    for (i, (json, message)) in cases.iter().enumerate() {
        let model = write(&d, &format!("m{i}.json"), json.as_bytes());
        for cmd in ["score", "predict"] {
            fails_with(&["gmm", cmd, &data, "--model", &model], message);
        }
        fails_with(&["gmm", "sample", "--model", &model, "-n", "3"], message);
    }
    // A valid model whose D differs from the data's columns.
    let model = write(&d, "m.json", MODEL_2D.as_bytes());
    let d3 = write(&d, "d3.csv", b"1,2,3\n");
    fails_with(&["gmm", "predict", &d3, "--model", &model], "3 columns, but the model has 2 features");
}

#[test]
fn a_failing_fit_leaves_no_output_and_no_temporary() {
    let d = dir("atomic");
    let out_path = d.join("model.json");
    // Temporaries are `.model.json.<pid>.<random>.tmp` beside the target.
    let no_temporary = || {
        let names: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
        !names.iter().any(|n| n.to_string_lossy().ends_with(".tmp"))
    };
    let out = out_path.to_str().unwrap();
    let few = write(&d, "few.csv", b"1\n2\n");
    fails_with(
        &["gmm", "fit", &few, "-k", "3", "--output", out],
        "3 components need at least 3 samples, got 2",
    );
    let bad = write(&d, "bad.csv", b"1\nx\n");
    fails_with(&["gmm", "fit", &bad, "-k", "1", "--output", out], "bad.csv:2:1");
    assert!(!out_path.exists() && no_temporary());
    // An output directory that does not exist: refused before the fit, nothing is left.
    let missing = d.join("no/such/dir/model.json");
    let good = write(&d, "good.csv", b"1\n2\n4\n");
    fails_with(
        &["gmm", "fit", &good, "-k", "1", "--output", missing.to_str().unwrap()],
        "no/such/dir: No such file",
    );
    assert!(!d.join("no").exists());
    // A failing fit never replaces an existing model.
    std::fs::write(&out_path, "previous").unwrap();
    fails_with(&["gmm", "fit", &few, "-k", "3", "--output", out], "need at least 3 samples");
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "previous");
    // A successful fit replaces it whole and leaves no temporary.
    let ok = crabmix(&["gmm", "fit", &good, "-k", "1", "--output", out]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out_path).unwrap()).unwrap();
    assert!((json["means"][0][0].as_f64().unwrap() - 7.0 / 3.0).abs() < 1e-12);
    assert!(no_temporary());
}

/// Peak resident memory (VmHWM, KiB) of a running process, polled until it exits; the last
/// value read is the peak up to that moment (VmHWM never decreases), which for a streaming run
/// is the whole run's peak up to the final flush.
fn run_measuring_peak_rss(mut cmd: Command) -> (std::process::ExitStatus, u64) {
    let mut child = cmd.spawn().expect("spawn crabmix");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status, peak);
        }
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kib);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// 10⁷ rows × 2 columns: 160 MB as f64, 96 MB of text. Streamed, `score` and `predict` must stay
/// far below either; loading the file whole (as `fit` must) would not.
#[test]
fn ten_million_rows_stream_in_bounded_memory() {
    const ROWS: usize = 10_000_000;
    const PEAK_LIMIT_KIB: u64 = 64 * 1024;
    let d = dir("stream");
    let data = d.join("big.csv");
    {
        let mut w = BufWriter::new(File::create(&data).unwrap());
        writeln!(w, "x,y").unwrap();
        // Four distinct rows cycling: the expected output of each row is known exactly.
        for i in 0..ROWS {
            w.write_all([&b"0,0\n"[..], b"1,0\n", b"0,-2\n", b"3,1\n"][i % 4]).unwrap();
        }
    }
    let model = write(&d, "m.json", MODEL_2D.as_bytes());
    let ln2pi = (2.0 * std::f64::consts::PI).ln();
    let expected_score = [-ln2pi, -ln2pi - 0.5, -ln2pi - 2.0, -ln2pi - 5.0];
    for cmd in ["score", "predict"] {
        let out_path = d.join(format!("{cmd}.txt"));
        let mut c = Command::new(env!("CARGO_BIN_EXE_crabmix"));
        c.args(["gmm", cmd, data.to_str().unwrap(), "--model", &model])
            .stdout(Stdio::from(File::create(&out_path).unwrap()))
            .stderr(Stdio::null());
        let (status, peak_kib) = run_measuring_peak_rss(c);
        assert!(status.success(), "{cmd} failed");
        assert!(peak_kib > 0, "{cmd}: no VmHWM read");
        assert!(peak_kib < PEAK_LIMIT_KIB, "{cmd}: peak RSS {peak_kib} KiB ≥ {PEAK_LIMIT_KIB} KiB");
        eprintln!("{cmd}: 10^7 rows, peak RSS {peak_kib} KiB");
        let mut n = 0usize;
        for line in BufReader::new(File::open(&out_path).unwrap()).lines() {
            let line = line.unwrap();
            if cmd == "score" {
                let v: f64 = line.parse().unwrap();
                assert!((v - expected_score[n % 4]).abs() < 1e-14, "row {n}: {v}");
            } else {
                assert_eq!(line, "0", "row {n}");
            }
            n += 1;
        }
        assert_eq!(n, ROWS, "{cmd}: one line per row");
        std::fs::remove_file(&out_path).unwrap();
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// A bad cell in the fourth streamed chunk (row 200 001, past 3 × 65 536): the error names its
/// file line, after the lines of every good row before it were printed.
#[test]
fn a_bad_row_deep_in_a_streamed_file_names_its_line() {
    let d = dir("deep");
    let mut text = String::from("x,y\n");
    for _ in 0..200_000 {
        text.push_str("0,0\n");
    }
    text.push_str("1,zz\n0,0\n");
    let data = write(&d, "deep.csv", text.as_bytes());
    let model = write(&d, "m.json", MODEL_2D.as_bytes());
    let out = crabmix(&["gmm", "predict", &data, "--model", &model]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("deep.csv:200002:2: cell \"zz\" is not a number"), "{}", stderr(&out));
    // Chunks before the failing one were printed whole (3 × 65 536 rows); none after it.
    assert_eq!(stdout(&out).lines().count(), 3 * 65_536);
}
