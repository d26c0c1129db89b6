//! The offline tools and the shared core build neither the AWS SDK nor an async runtime:
//! `cargo tree -e normal` of kds-gen, kds-window, kds-chart and kds-common lists no aws-*, tokio or hyper
//! crate, and kds-aws (the one AWS layer) does, so the check can fail.

use std::process::Command;

/// The normal (non-dev, non-build) dependency tree of `package`, one crate name per line.
fn dependencies(package: &str) -> Vec<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(testkit::repo_root())
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "-p",
        ])
        .arg(package)
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn forbidden(deps: &[String]) -> Vec<&String> {
    deps.iter()
        .filter(|d| d.starts_with("aws-") || *d == "tokio" || *d == "hyper")
        .collect()
}

#[test]
fn offline_crates_build_no_sdk_and_no_runtime() {
    for package in ["kds-gen", "kds-window", "kds-chart", "kds-common"] {
        let deps = dependencies(package);
        assert!(deps.iter().any(|d| d == package), "{package}: {deps:?}");
        let bad = forbidden(&deps);
        assert!(bad.is_empty(), "{package} depends on {bad:?}");
    }
}

#[test]
fn the_aws_layer_is_where_the_sdk_is() {
    let deps = dependencies("kds-aws");
    let bad = forbidden(&deps);
    for needed in ["aws-sdk-kinesis", "aws-sdk-s3", "tokio"] {
        assert!(
            bad.iter().any(|d| *d == needed),
            "kds-aws lacks {needed}: {deps:?}"
        );
    }
}
