//! The checkpoint file: where a later run resumes.
//!
//! Format (JSON, one object):
//!
//! ```json
//! {"version":1,"stream":"kds-lab1","from":"trim-horizon",
//!  "shards":{"shardId-000000000000":"49590338271490256608559692538361571095921575989136588898"},
//!  "finished":["shardId-000000000001"]}
//! ```
//!
//! - `shards`: shard id → sequence number of the last record written to stdout (and flushed).
//!   A restart reads that shard `AFTER_SEQUENCE_NUMBER` it. For a KPL aggregate, the number is
//!   recorded only once all its user records are written.
//! - `finished`: shards read to their end (closed); never read again.
//! - `from`: the start position of the first run (`latest` is stored as
//!   `at-timestamp:<start time>`); used for shards the file does not name yet.
//!
//! Written atomically: a temporary file in the same directory, fsync, rename over the old file,
//! fsync the directory; mode 0600. A lock (`flock`) on `<FILE>.lock` keeps a second run off the
//! same file: it exits 1 with a message naming the file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub stream: String,
    pub from: String,
    #[serde(default)]
    pub shards: BTreeMap<String, String>,
    #[serde(default)]
    pub finished: BTreeSet<String>,
}

/// Longest shard id and sequence number Kinesis uses (both are at most 128 characters).
const MAX_ID_LEN: usize = 128;

fn valid_shard_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl State {
    /// Checks what a later run would send to Kinesis or parse: `from`, shard ids and sequence
    /// numbers (digits). A damaged file is refused rather than half used.
    pub fn validate(&self) -> Result<(), String> {
        crate::config::From::parse(&self.from).map_err(|e| format!("bad \"from\": {e}"))?;
        for (id, seq) in &self.shards {
            if !valid_shard_id(id) {
                return Err(format!("{id:?} is not a shard id"));
            }
            if seq.is_empty() || seq.len() > MAX_ID_LEN || !seq.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(format!(
                    "shard {id}: {seq:?} is not a sequence number (digits)"
                ));
            }
        }
        if let Some(id) = self.finished.iter().find(|id| !valid_shard_id(id)) {
            return Err(format!("finished: {id:?} is not a shard id"));
        }
        Ok(())
    }
}

/// An open, locked checkpoint file.
pub struct Checkpoint {
    path: PathBuf,
    // Held for the life of the run: the flock goes with the descriptor.
    _lock: File,
}

impl Checkpoint {
    /// Locks the checkpoint and reads it (None when it does not exist yet or is empty).
    pub fn open(path: &Path) -> anyhow::Result<(Checkpoint, Option<State>)> {
        let lock_path = lock_path(path);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .with_context(|| format!("cannot open lock file {}", lock_path.display()))?;
        // std's try_lock is flock(LOCK_EX | LOCK_NB) on Linux: held until `lock` is closed.
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => bail!(
                "checkpoint {} is in use by another kds-tail (lock {} is held); not starting",
                path.display(),
                lock_path.display()
            ),
            Err(TryLockError::Error(err)) => {
                return Err(err).with_context(|| format!("cannot lock {}", lock_path.display()))
            }
        }
        let state = match std::fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => None,
            Ok(bytes) => {
                let state: State = serde_json::from_slice(&bytes).with_context(|| {
                    format!("checkpoint {} is not a kds-tail checkpoint", path.display())
                })?;
                if state.version != VERSION {
                    bail!(
                        "checkpoint {}: version {} is not supported (expected {VERSION})",
                        path.display(),
                        state.version
                    );
                }
                if let Err(why) = state.validate() {
                    bail!("checkpoint {} is damaged: {why}", path.display());
                }
                Some(state)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read checkpoint {}", path.display()))
            }
        };
        Ok((
            Checkpoint {
                path: path.to_path_buf(),
                _lock: lock,
            },
            state,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the state atomically.
    pub fn save(&self, state: &State) -> anyhow::Result<()> {
        write_atomically(&self.path, &serde_json::to_vec(state)?)
            .with_context(|| format!("cannot write checkpoint {}", self.path.display()))
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// temp file in the same directory → fsync → rename → fsync the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".into());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    // A leftover of a crashed run with the same pid would keep its old mode: start afresh.
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn save_then_open_round_trips_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        let state = State {
            version: VERSION,
            stream: "s".into(),
            from: "trim-horizon".into(),
            shards: [("shardId-0".to_string(), "123".to_string())].into(),
            finished: ["shardId-9".to_string()].into(),
        };
        {
            let (cp, none) = Checkpoint::open(&path).unwrap();
            assert!(none.is_none());
            cp.save(&state).unwrap();
        }
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (_cp, back) = Checkpoint::open(&path).unwrap();
        assert_eq!(back, Some(state));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp."))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn second_open_is_refused_while_locked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        let (first, _) = Checkpoint::open(&path).unwrap();
        let err = Checkpoint::open(&path).err().unwrap().to_string();
        assert!(err.contains("in use by another kds-tail"), "{err}");
        drop(first);
        assert!(Checkpoint::open(&path).is_ok());
    }

    #[test]
    fn damaged_contents_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        for (text, why) in [
            (
                r#"{"version":1,"stream":"s","from":"yesterday"}"#,
                "bad \"from\"",
            ),
            (
                r#"{"version":1,"stream":"s","from":"latest","shards":{"shardId-0":"12a"}}"#,
                "not a sequence number",
            ),
            (
                r#"{"version":1,"stream":"s","from":"latest","shards":{"shardId-0":""}}"#,
                "not a sequence number",
            ),
            (
                r#"{"version":1,"stream":"s","from":"latest","shards":{"a/b":"12"}}"#,
                "not a shard id",
            ),
            (
                r#"{"version":1,"stream":"s","from":"latest","finished":[""]}"#,
                "not a shard id",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = format!("{:#}", Checkpoint::open(&path).err().unwrap());
            assert!(
                err.contains("cp.json") && err.contains(why),
                "{text}: {err}"
            );
        }
        std::fs::write(
            &path,
            r#"{"version":1,"stream":"s","from":"at-timestamp:1616159748000","shards":{"shardId-000000000000":"4959"},"finished":["shardId-000000000001"]}"#,
        )
        .unwrap();
        assert!(Checkpoint::open(&path).unwrap().1.is_some());
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        std::fs::write(&path, "not json").unwrap();
        let err = format!("{:#}", Checkpoint::open(&path).err().unwrap());
        assert!(
            err.contains("cp.json") && err.contains("not a kds-tail checkpoint"),
            "{err}"
        );
    }
}
