//! Output helpers shared by the subcommands: stdout errors, output paths checked before the
//! work, and files written whole or not at all.

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

/// Whether an existing `path` is written in place rather than replaced: a FIFO, `/dev/null`, a
/// terminal, a socket (anything but a regular file or a folder), or a symbolic link to one
/// (`/dev/stdout`). Renaming over such a node would replace the node itself (as root,
/// `--output /dev/null` used to replace /dev/null). A symbolic link to a regular file, or a
/// dangling one, is replaced by the new file: no regular file is written through a link.
fn written_in_place(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// The folder a file at `path` lives in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A temporary file created exclusively (`O_CREAT | O_EXCL`: never an existing file, never
/// through a symbolic link) beside `path`, named `.<name>.<pid>.<random>.tmp`; a name taken by
/// someone else is skipped, up to 64 tries.
fn create_temporary(path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::hash::{BuildHasher, Hasher};
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut last = None;
    for attempt in 0u32..64 {
        // RandomState is seeded per process from the OS; hashing the attempt gives fresh bits.
        let mut h = std::hash::RandomState::new().build_hasher();
        h.write_u32(attempt);
        let tmp = folder_of(path).join(format!(".{name}.{}.{:016x}.tmp", std::process::id(), h.finish()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary name")))
}

/// Checks, before any work, that `path` can be written by [`write_atomically`]: it is not a
/// folder, its folder exists, and a file can be created there (a temporary is created and
/// removed). `option` names the flag in the message (`--output`, `--plot`, …). A node written
/// in place (FIFO, device) is only checked for not being a folder: opening a FIFO would block.
pub(super) fn check_output_path(option: &str, path: &Path) -> CliResult {
    let bad = |why: String| Err(format!("{option} {}: {why}", path.display()));
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return bad("is a folder, not a file".into());
    }
    if written_in_place(path) {
        return Ok(());
    }
    let folder = folder_of(path);
    match std::fs::metadata(folder) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return bad(format!("{} is not a folder", folder.display())),
        Err(e) => return bad(format!("folder {}: {e}", folder.display())),
    }
    match create_temporary(path) {
        Ok((tmp, file)) => {
            drop(file);
            let _ = std::fs::remove_file(tmp);
            Ok(())
        }
        Err(e) => bad(format!("cannot create a file in {}: {e}", folder.display())),
    }
}

/// Writes `bytes` to `path` whole or not at all: into a fresh temporary beside it (see
/// [`create_temporary`]), flushed to disk, then renamed over `path` (atomic on one file
/// system). Concurrent writers to one `path` each rename a complete file, so the result is one
/// of them, never a splice. On error only this call's own temporary is removed.
///
/// Non-regular targets: a FIFO, `/dev/null`, a terminal or another device, or a link to one
/// (`/dev/stdout`), is written in place (see [`written_in_place`]); a symbolic link to a regular
/// file is replaced by the new file, and the file it pointed to is left untouched.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> CliResult {
    if written_in_place(path) {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|e| format!("{}: {e}", path.display()));
    }
    let (tmp, mut file) = create_temporary(path).map_err(|e| {
        format!("{}: cannot create a temporary in {}: {e}", path.display(), folder_of(path).display())
    })?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("{}: {e}", tmp.display()));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(test: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("crabmix-output-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn temporaries_are_fresh_and_exclusive() {
        let d = dir("fresh");
        let target = d.join("m.json");
        let (a, _fa) = create_temporary(&target).unwrap();
        let (b, _fb) = create_temporary(&target).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(d.as_path()));
        assert!(a.file_name().unwrap().to_str().unwrap().starts_with(".m.json."));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn write_replaces_a_symlink_without_following_it() {
        let d = dir("symlink");
        let victim = d.join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let link = d.join("m.json");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_file());
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "new");
        // A link to a device (as /dev/stdout is) is written through; link and device stay.
        let to_null = d.join("null");
        std::os::unix::fs::symlink("/dev/null", &to_null).unwrap();
        write_atomically(&to_null, b"gone").unwrap();
        assert!(std::fs::symlink_metadata(&to_null).unwrap().file_type().is_symlink());
        assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn output_paths_are_checked_before_the_work() {
        let d = dir("check");
        assert!(check_output_path("--output", &d.join("m.json")).is_ok());
        let e = check_output_path("--output", &d).unwrap_err();
        assert!(e.contains("is a folder"), "{e}");
        let e = check_output_path("--plot", &d.join("missing/m.svg")).unwrap_err();
        assert!(e.starts_with("--plot ") && e.contains("missing"), "{e}");
        std::fs::write(d.join("file"), "x").unwrap();
        let e = check_output_path("--output", &d.join("file/m.json")).unwrap_err();
        assert!(e.contains("not a folder"), "{e}");
        // The check leaves nothing behind.
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        std::fs::remove_dir_all(d).unwrap();
    }
}
