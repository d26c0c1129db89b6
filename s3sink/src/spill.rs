//! Objects that could not be delivered are written to the spill directory, one file per
//! object, named after its intended key (escaped), mode 0600, never dropped.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
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
pub fn write(dir: &Path, key: &str, body: &[u8]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create spill directory {}", dir.display()))?;
    let path = dir.join(escape_key(key));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create spill file {}", path.display()))?;
    file.write_all(body)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write spill file {}", path.display()))?;
    Ok(path)
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
        assert_eq!(std::fs::read(&p).unwrap(), b"data");
        assert_eq!(p.file_name().unwrap(), "a%2Fb");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
