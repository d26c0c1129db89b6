//! Locating workspace binaries for CLI tests.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use crate::stack::repo_root;

/// Path of the workspace binary `name` (e.g. `"kds-tail"`), built and up to date.
///
/// For a binary of the crate under test use `env!("CARGO_BIN_EXE_kds-put")` instead: cargo
/// builds it before the integration tests run. `bin_path` is for another crate's binary (e.g.
/// the s3sink tests piping `kds-tail`): the first call per binary and process runs
/// `cargo build -p <name> --bin <name>` (plus `--release` when the tests run in release) from
/// the repository root — a no-op when it is fresh, e.g. under `cargo test --workspace` — then
/// returns `<target>/<profile>/<name>`, the directory holding the running test executable.
/// Set `KDS_TESTKIT_NO_BUILD=1` to skip the build and use whatever binary is there.
///
/// Panics (it is for tests) if the build fails or the binary is missing.
pub fn bin_path(name: &str) -> PathBuf {
    static BUILT: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let dir = profile_dir();
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let skip = std::env::var_os("KDS_TESTKIT_NO_BUILD").is_some_and(|v| !v.is_empty() && v != "0");
    if !skip {
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
