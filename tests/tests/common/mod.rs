//! Helpers shared by the script tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Every binary the workspace installs.
pub const TOOLS: [&str; 6] = [
    "kds-gen",
    "kds-put",
    "kds-tail",
    "kds-window",
    "kds-s3sink",
    "kds-chart",
];

/// The five tools, built (debug) and fresh; returns the directory that holds them all.
pub fn tool_dir() -> PathBuf {
    tool_dir_for(&["kds-gen", "kds-put", "kds-tail", "kds-window", "kds-s3sink"])
}

/// Like [`tool_dir`] for only the tools a test runs (fewer builds when some are stale).
pub fn tool_dir_for(tools: &[&str]) -> PathBuf {
    let mut dir = None;
    for t in tools {
        let p = testkit::bin_path(t);
        let d = p.parent().expect("binary has a directory").to_path_buf();
        if let Some(prev) = &dir {
            assert_eq!(prev, &d, "all tools must live in one directory");
        }
        dir = Some(d);
    }
    dir.expect("five tools")
}

/// `<repo>/scripts/<name>`.
pub fn script(name: &str) -> PathBuf {
    testkit::repo_root().join("scripts").join(name)
}

#[allow(unused_imports)] // used by some of the test binaries only
pub use testkit::tally::split_concatenated_json;

/// Non-empty lines of a file (empty if the file does not exist yet).
pub fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Helpers of the reliability scenarios (`reliability_*.rs`).
pub mod rel;
