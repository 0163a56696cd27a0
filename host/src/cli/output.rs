//! Output helpers shared by the subcommands.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A subcommand's outcome: the error is the message for stderr.
pub(super) type CliResult = Result<(), String>;

/// The message for a failed write to stdout; a closed pipe (`crabmix … | head`) ends the
/// program quietly with status 0 instead, as Unix filters do: the reader has what it wanted.
pub(super) fn stdout_error(e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    e.to_string()
}

/// Writes to `path.tmp` and renames, so a failure never leaves a half-written model: the rename
/// is atomic on one file system, the data is flushed to disk before it, and a temporary that
/// could not be completed (disk full, I/O error) is removed.
///
/// A target that exists and is neither a regular file nor a folder (a FIFO, `/dev/null`, a
/// terminal) is written in place instead: renaming over it would replace the node itself with a
/// regular file (as root, `--output /dev/null` used to replace /dev/null).
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> CliResult {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|e| format!("{}: {e}", path.display()));
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        // Best effort: the temporary may not even exist (e.g. a missing directory).
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("{}: {e}", tmp.display()));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{}: {e}", path.display())
    })
}

/// Checks, before any work, that `path` can be written as an output file: its folder exists and
/// it is not itself a folder (so a long run never fails at its last step, issue 21 finding 8).
pub(super) fn check_output_path(path: &Path) -> CliResult {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(format!("{}: the folder {} does not exist", path.display(), parent.display()));
    }
    if path.is_dir() {
        return Err(format!("{}: is a folder, not a file", path.display()));
    }
    Ok(())
}
