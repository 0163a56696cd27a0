//! Whole-file reads with a size limit, so that a file's length (or a device such as
//! `/dev/zero` named as a model) never decides how much memory a command takes.

use std::io::Read;
use std::path::Path;

/// The largest model file a command reads: 32 MiB. The largest model the limits allow
/// (K = D = 64, full covariances, as `gmm fit` pretty-prints it) is about 8 MiB.
pub const MAX_MODEL_BYTES: u64 = 32 << 20;

/// Reads `path` as UTF-8 text of at most `limit` bytes. At most `limit + 1` bytes are ever read,
/// so memory stays below the limit whatever `path` is (a regular file, a FIFO, `/dev/zero`).
/// Errors are messages naming `path`: cannot open, longer than `limit`, not UTF-8.
pub fn read_to_string_limited(path: &Path, limit: u64) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > limit {
        return Err(format!("{}: longer than the limit of {limit} bytes", path.display()));
    }
    String::from_utf8(bytes).map_err(|e| format!("{}: not UTF-8 text: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_limit_and_no_further() {
        let p = std::env::temp_dir().join(format!("crabmix-limited-{}.txt", std::process::id()));
        std::fs::write(&p, "0123456789").unwrap();
        assert_eq!(read_to_string_limited(&p, 10).unwrap(), "0123456789");
        let e = read_to_string_limited(&p, 9).unwrap_err();
        assert!(e.ends_with("longer than the limit of 9 bytes"), "{e}");
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(read_to_string_limited(&p, 10).unwrap_err().contains("not UTF-8"));
        std::fs::remove_file(&p).unwrap();
        // An endless device is cut off at the limit.
        let e = read_to_string_limited(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(e.starts_with("/dev/zero: longer than the limit"), "{e}");
    }
}
