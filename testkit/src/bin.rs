//! Locating workspace binaries for CLI tests.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::stack::repo_root;

/// Path of the workspace binary `name` (e.g. `"kds-tail"`), built and up to date.
///
/// For a binary of the crate under test use `env!("CARGO_BIN_EXE_kds-put")` instead: cargo
/// builds it before the integration tests run. `bin_path` is for another crate's binary (e.g.
/// the s3sink tests piping `kds-tail`). It looks in `<target>/<profile>/` (the directory above
/// the running test executable's `deps/`). If the binary is there and newer than every file of
/// its package, of `common/` and `aws/` (and `Cargo.lock`) — always the case under
/// `cargo test --workspace`, which builds every binary — it is used as is. Otherwise the first
/// call per binary and process runs `cargo build -p <name> --bin <name>` (plus `--release` for
/// release tests) from the repository root. Set `KDS_TESTKIT_NO_BUILD=1` to never build.
///
/// Panics (it is for tests) if the build fails or the binary is missing.
pub fn bin_path(name: &str) -> PathBuf {
    static BUILT: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let dir = profile_dir();
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let skip = std::env::var_os("KDS_TESTKIT_NO_BUILD").is_some_and(|v| !v.is_empty() && v != "0");
    if !skip && !is_fresh(&path, name) {
        let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
        let set = built.get_or_insert_with(HashSet::new);
        if !set.contains(name) {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.current_dir(repo_root())
                .args(["build", "--quiet", "-p", name, "--bin", name]);
            if dir.file_name().is_some_and(|p| p == "release") {
                cmd.arg("--release");
            }
            let status = cmd
                .status()
                .unwrap_or_else(|e| panic!("testkit: running cargo build -p {name}: {e}"));
            assert!(
                status.success(),
                "testkit: cargo build -p {name} --bin {name} failed ({status})"
            );
            set.insert(name.to_string());
        }
    }
    assert!(
        path.is_file(),
        "testkit: binary {} not found (build it with: cargo build -p {name})",
        path.display()
    );
    path
}

/// True if `bin` exists and is newer than every source of package `name`, `common/`, `aws/` and
/// `Cargo.lock`. Unknown package directory: not fresh (cargo decides).
fn is_fresh(bin: &Path, name: &str) -> bool {
    let Some(bin_time) = mtime(bin) else {
        return false;
    };
    let root = repo_root();
    let Some(pkg_dir) = package_dir(&root, name) else {
        return false;
    };
    let mut newest = mtime(&root.join("Cargo.lock"));
    for dir in [pkg_dir, root.join("common"), root.join("aws")] {
        newest = newest.max(newest_in(&dir));
    }
    newest.is_some_and(|n| n <= bin_time)
}

/// The workspace directory whose Cargo.toml declares `name = "<name>"`.
fn package_dir(root: &Path, name: &str) -> Option<PathBuf> {
    let wanted = format!("name = \"{name}\"");
    std::fs::read_dir(root).ok()?.flatten().find_map(|e| {
        let manifest = e.path().join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).ok()?;
        text.lines().any(|l| l.trim() == wanted).then(|| e.path())
    })
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Newest modification time of any file under `dir` (skipping `target/` and dot-dirs).
fn newest_in(dir: &Path) -> Option<SystemTime> {
    let mut newest = mtime(dir);
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let skip = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with('.') || n == "target");
        if skip {
            continue;
        }
        let t = if path.is_dir() {
            newest_in(&path)
        } else {
            mtime(&path)
        };
        newest = newest.max(t);
    }
    newest
}

/// `<target>/<profile>`: the test executable lives in `<target>/<profile>/deps/`.
fn profile_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        if let Some(deps) = exe.parent() {
            if deps.file_name().is_some_and(|d| d == "deps") {
                if let Some(profile) = deps.parent() {
                    return profile.to_path_buf();
                }
            }
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    target.join("debug")
}
