//! `bin_path` builds (if needed) and finds another crate's binary from inside `cargo test`.

#[test]
fn finds_and_runs_another_crates_binary() {
    let path = testkit::bin_path("kds-gen");
    assert!(path.is_file(), "{}", path.display());
    assert!(path.ends_with("kds-gen"));
    // Second call: no rebuild needed, same answer.
    assert_eq!(testkit::bin_path("kds-gen"), path);
    let out = std::process::Command::new(&path)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("kds-gen"));
}
