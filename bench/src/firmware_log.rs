//! Parsers of the firmware's logs (defmt frames, one a line, a level prefix allowed; values
//! travel as IEEE bit patterns in hex, so they arrive exactly): the app's `crab-fit` line (for
//! main-job and crosscheck) and the cross-check binary's `cc` lines (crosscheck).

use std::collections::BTreeMap;

/// The app's two-component crab fit, from its `crab-fit f32 <backend> … bits w=[..] mu=[..]
/// var=[..] mean_ll=..` line, components in the device's order.
pub struct CrabFit {
    /// α₁, α₂.
    pub weights: [f64; 2],
    /// μ₁, μ₂.
    pub means: [f64; 2],
    /// σ₁², σ₂².
    pub variances: [f64; 2],
    /// Mean log-likelihood, when the line has it.
    pub mean_log_likelihood: Option<f64>,
}

/// The math backend named by the first `crab-fit f32 <backend>` line.
pub fn crab_fit_backend(log: &str) -> Option<&str> {
    log.lines().find_map(|l| l.split("crab-fit f32 ").nth(1)?.split_whitespace().next())
}

/// The first `crab-fit` line's exact values (fields `name=[h h]` or `name=h` after ` bits `).
pub fn crab_fit(log: &str) -> Option<CrabFit> {
    let line = log.lines().find_map(|l| l.find("crab-fit ").map(|i| &l[i..]))?;
    let bits = &line[line.find(" bits ")? + 6..];
    let field = |name: &str| -> Option<Vec<f64>> {
        let start = bits.find(&format!("{name}="))? + name.len() + 1;
        let rest = &bits[start..];
        let text = if let Some(r) = rest.strip_prefix('[') {
            &r[..r.find(']')?]
        } else {
            rest.split_whitespace().next()?
        };
        text.split_whitespace()
            .map(|h| u32::from_str_radix(h, 16).ok().map(|b| f32::from_bits(b) as f64))
            .collect()
    };
    let pair = |name: &str| -> Option<[f64; 2]> {
        match field(name)?[..] {
            [a, b, ..] => Some([a, b]),
            _ => None,
        }
    };
    Some(CrabFit {
        weights: pair("w")?,
        means: pair("mu")?,
        variances: pair("var")?,
        mean_log_likelihood: field("mean_ll").and_then(|v| v.first().copied()),
    })
}

/// One workload's results from the firmware's cross-check log: the values and the input digest.
pub struct FirmwareResult {
    /// The values, f32 widened exactly (NaN where the log fell short).
    pub values: Vec<f64>,
    /// The input digest the firmware printed.
    pub digest: u64,
}

/// Parses `cc <tag> <i> <h0> <h1> <h2> <h3>` and `cc-end <tag> n=<n> digest=<hex>` lines (defmt
/// may prefix a level) into per-workload results; the f32 bit patterns become f64 exactly.
/// Returns the backend the firmware was built with and the results.
pub fn crosscheck_results(log: &str) -> (Option<String>, BTreeMap<String, FirmwareResult>) {
    let mut backend = None;
    let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut results = BTreeMap::new();
    for line in log.lines() {
        let mut tok = line.split_whitespace().skip_while(|t| !t.starts_with("cc"));
        match tok.next() {
            Some("cc-backend") => backend = tok.next().map(String::from),
            Some("cc") => {
                let (Some(tag), Some(Ok(start))) = (tok.next(), tok.next().map(str::parse::<usize>)) else {
                    continue;
                };
                let v = values.entry(tag.to_string()).or_default();
                v.truncate(start);
                v.extend(
                    tok.filter_map(|h| u32::from_str_radix(h, 16).ok()).map(|b| f32::from_bits(b) as f64),
                );
            }
            Some("cc-end") => {
                let Some(tag) = tok.next() else { continue };
                let n = tok.next().and_then(|t| t.strip_prefix("n=")?.parse::<usize>().ok());
                let digest =
                    tok.next().and_then(|t| u64::from_str_radix(t.strip_prefix("digest=")?, 16).ok());
                if let (Some(n), Some(digest)) = (n, digest) {
                    let mut v = values.remove(tag).unwrap_or_default();
                    // The last line is padded to four values; a short log leaves NaN (a failure).
                    v.resize(n, f64::NAN);
                    results.insert(tag.to_string(), FirmwareResult { values: v, digest });
                }
            }
            _ => {}
        }
    }
    (backend, results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crab_fit_line_reads_the_golden_bits_exactly() {
        let golden =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../firmware/golden/crab-fit.txt"))
                .expect("firmware/golden/crab-fit.txt");
        let log = format!("INFO  {golden}");
        assert_eq!(crab_fit_backend(&log), Some("libm"));
        let f = crab_fit(&log).expect("a crab-fit line");
        assert_eq!(f.weights, [f32::from_bits(0x3ed3_7538) as f64, f32::from_bits(0x3f16_4564) as f64]);
        assert_eq!(f.means[1], f32::from_bits(0x3f27_7c1f) as f64);
        assert_eq!(f.variances[0], f32::from_bits(0x39af_4564) as f64);
        assert_eq!(f.mean_log_likelihood, Some(f32::from_bits(0x4024_52b1) as f64));
        // A truncated line is no fit (and no panic).
        assert!(crab_fit("crab-fit f32 libm bits w=[3ed37538] mu=[1 2] var=[1 2]").is_none());
    }

    #[test]
    fn crosscheck_lines_give_values_digest_and_backend() {
        let log = "INFO  cc-backend libm\n\
                   INFO  cc t 0 3f800000 40000000 40400000 40800000\n\
                   INFO  cc t 4 40a00000 0 0 0\n\
                   INFO  cc-end t n=5 digest=00ff\n\
                   INFO  cc short 0 3f800000 0 0 0\n\
                   INFO  cc-end short n=6 digest=1\n";
        let (backend, results) = crosscheck_results(log);
        assert_eq!(backend.as_deref(), Some("libm"));
        assert_eq!(results["t"].values, [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(results["t"].digest, 0xff);
        // Fewer values than announced: padded with NaN, which fails the row.
        assert!(results["short"].values[4..].iter().all(|v| v.is_nan()));
    }
}
