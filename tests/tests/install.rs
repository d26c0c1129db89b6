//! `scripts/install --prefix DIR` puts every binary, its man page and its bash, zsh and fish
//! completions under DIR, and what it installed works: the binaries run, `man -l` renders the
//! pages, bash parses the completions. The test installs the debug binaries the test run has
//! just built (`--bin-dir`): building them again with `cargo build -p …` would unify features
//! differently from `cargo test` and rebuild the SDK (minutes on two cores).

mod common;

use std::process::Command;

use common::TOOLS;

#[test]
fn install_places_binaries_man_pages_and_completions_under_the_prefix() {
    let bin_dir = common::tool_dir_for(&TOOLS);
    let prefix = tempfile::tempdir().expect("temp prefix");
    let out = Command::new(common::script("install"))
        .arg("--bin-dir")
        .arg(&bin_dir)
        .arg("--prefix")
        .arg(prefix.path())
        .output()
        .expect("scripts/install runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let p = prefix.path();
    for tool in TOOLS {
        let files = [
            p.join("bin").join(tool),
            p.join("share/man/man1").join(format!("{tool}.1")),
            p.join("share/bash-completion/completions").join(tool),
            p.join("share/zsh/site-functions").join(format!("_{tool}")),
            p.join("share/fish/vendor_completions.d")
                .join(format!("{tool}.fish")),
        ];
        for file in &files {
            let len = std::fs::metadata(file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
                .len();
            assert!(len > 0, "{} is empty", file.display());
        }
        let version = Command::new(&files[0])
            .arg("-V")
            .output()
            .expect("installed binary runs");
        assert_eq!(
            String::from_utf8_lossy(&version.stdout),
            format!("{tool} {}\n", env!("CARGO_PKG_VERSION"))
        );
        let man = Command::new("man")
            .arg("-l")
            .arg(&files[1])
            .env("MANPAGER", "cat")
            .output()
            .expect("man -l runs (scripts/test installs man-db)");
        assert!(
            man.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&man.stderr)
        );
        assert!(String::from_utf8_lossy(&man.stdout).contains(tool));
        let bash = Command::new("bash")
            .arg("-n")
            .arg(&files[2])
            .output()
            .expect("bash -n");
        assert!(
            bash.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&bash.stderr)
        );
    }
}

#[test]
fn install_refuses_unknown_arguments_with_exit_2() {
    let out = Command::new(common::script("install"))
        .arg("--prefx")
        .output()
        .expect("scripts/install runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--prefx"));
}
