//! Objects that could not be delivered are written to the spill directory, one file per
//! object, named after its intended key (escaped), mode 0600, never dropped.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The key as one file name: bytes outside `[A-Za-z0-9._=-]` become `%XX` (so `/` is `%2F`).
pub fn escape_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 16);
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'=' | b'-') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The inverse of [`escape_key`].
pub fn unescape_key(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Writes one object's body (as it would have been uploaded) and returns the file's path.
///
/// Atomic: the body goes to a temporary file in the spill directory itself (created new, mode
/// 0600), is fsynced and renamed to its final name, then the directory is fsynced. A crash
/// never leaves a partial file under an object's name.
pub fn write(dir: &Path, key: &str, body: &[u8]) -> anyhow::Result<PathBuf> {
    // A directory made here is private too (0700); an existing one is left as it is.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create spill directory {}", dir.display()))?;
    let name = escape_key(key);
    let path = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    // A leftover from a crash (keys are unique, so nobody else writes this name).
    let _ = std::fs::remove_file(&tmp);
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(body)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write spill file {}", path.display()));
    }
    Ok(path)
}

/// What earlier runs spilled, oldest name first: each file with the key it is re-sent under,
/// or None for a file that is not an object for this bucket (an `unnamed-` object whose key
/// could not be evaluated, or a name that is not an escaped key). Temporary files are skipped.
pub fn pending(dir: &Path) -> anyhow::Result<Vec<(PathBuf, Option<String>)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot list spill directory {}", dir.display()))
        }
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry =
            entry.with_context(|| format!("cannot list spill directory {}", dir.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            found.push((entry.path(), None));
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let key = unescape_key(name).filter(|k| !k.starts_with("unnamed-"));
        found.push((entry.path(), key));
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keys_round_trip_through_file_names() {
        let key = "lab1-input/2021/03/19/13/lab1-kfh-1-2021-03-19-13-15-48-abc.gz";
        let name = escape_key(key);
        assert!(!name.contains('/'));
        assert_eq!(
            name,
            "lab1-input%2F2021%2F03%2F19%2F13%2Flab1-kfh-1-2021-03-19-13-15-48-abc.gz"
        );
        assert_eq!(unescape_key(&name).as_deref(), Some(key));
        assert_eq!(
            unescape_key(&escape_key("a%b c/é")).as_deref(),
            Some("a%b c/é")
        );
    }

    #[test]
    fn files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let spill = dir.path().join("spill");
        let p = write(&spill, "a/b", b"data").unwrap();
        let dir_mode = std::fs::metadata(&spill).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert_eq!(std::fs::read(&p).unwrap(), b"data");
        assert_eq!(p.file_name().unwrap(), "a%2Fb");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // No temporary file is left behind, and a stale one (a crash) is replaced.
        std::fs::write(spill.join(".a%2Fc.tmp"), b"partial").unwrap();
        let q = write(&spill, "a/c", b"more").unwrap();
        assert_eq!(std::fs::read(&q).unwrap(), b"more");
        let names: Vec<String> = std::fs::read_dir(&spill)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
        let mode = std::fs::metadata(&q).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn pending_lists_spilled_objects_with_their_keys() {
        let dir = tempfile::tempdir().unwrap();
        let spill = dir.path().join("spill");
        assert!(
            pending(&spill).unwrap().is_empty(),
            "no directory, nothing pending"
        );
        let b = write(&spill, "p/2021/b", b"2").unwrap();
        let a = write(&spill, "p/2021/a", b"1").unwrap();
        let unnamed = write(&spill, "unnamed-1234", b"3").unwrap();
        std::fs::write(spill.join(".p%2Fc.tmp"), b"partial").unwrap();
        assert_eq!(
            pending(&spill).unwrap(),
            vec![
                (a, Some("p/2021/a".to_string())),
                (b, Some("p/2021/b".to_string())),
                (unnamed, None)
            ]
        );
    }
}
