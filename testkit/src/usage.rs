//! The shape of a usage error (exit 2), shared by every tool's CLI tests.

/// A usage error as the tools print it: one line from our own checks, or clap's whole message
/// (the flag and value named, then its usage or `--help` hint) for what clap refuses itself.
#[track_caller]
pub fn assert_usage_shape(tool: &str, err: &str) {
    assert!(err.starts_with(&format!("{tool}: ")), "{err}");
    let lines = err.trim_end().lines().count();
    assert!(
        lines == 1 || (lines <= 10 && err.trim_end().ends_with("try '--help'.")),
        "{err}"
    );
}
