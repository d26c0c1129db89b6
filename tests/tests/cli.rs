//! First contact with every tool: usage errors that name the problem (clap's whole message and
//! the usage line, exit 2), our own checks as one line naming the flag, `-V`, `--help` with
//! headings and examples, `-h` short, and the hidden `--generate` (man page rendered with
//! `man -l`, bash/zsh/fish completions).

mod common;

use std::process::{Command, Output, Stdio};

use common::TOOLS;

/// Runs `tool` with `args`, stdin closed and no `KDS_*` variable of the caller's shell.
fn run(tool: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(testkit::bin_path(tool));
    cmd.args(args).stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("KDS_") {
            cmd.env_remove(name);
        }
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("running {tool}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A clap usage error: exit 2, nothing on stdout, `tool: ` then the problem, then the usage line.
fn assert_usage_error(tool: &str, args: &[&str], wants: &[&str]) -> String {
    let out = run(tool, args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{tool} {args:?}: {err}");
    assert!(
        out.stdout.is_empty(),
        "{tool} {args:?}: stdout {:?}",
        text(&out.stdout)
    );
    assert!(
        err.starts_with(&format!("{tool}: ")),
        "{tool} {args:?}: {err}"
    );
    assert!(!err.contains("error: error"), "{err}");
    for want in wants {
        assert!(err.contains(want), "{tool} {args:?}: no {want:?} in\n{err}");
    }
    // A few lines, not the whole help.
    assert!(err.lines().count() <= 10, "{tool} {args:?}: {err}");
    err
}

#[test]
fn a_missing_flag_or_value_is_named_with_the_usage_line() {
    let cases: [(&str, &[&str], &str); 5] = [
        ("kds-put", &[], "--stream <NAME>"),
        ("kds-tail", &[], "--stream <NAME>"),
        ("kds-s3sink", &[], "--bucket <BUCKET>"),
        // kds-gen and kds-window need no flag: a flag without its value instead.
        ("kds-gen", &["--log"], "--log <FILE>"),
        ("kds-window", &["--size"], "--size <SIZE>"),
    ];
    for (tool, args, flag) in cases {
        let err = assert_usage_error(tool, args, &[flag]);
        // Clap shows the usage line for a missing flag, the `--help` hint for a missing value.
        if args.is_empty() {
            assert!(err.contains(&format!("Usage: {tool}")), "{err}");
        } else {
            assert!(err.trim_end().ends_with("try '--help'."), "{err}");
        }
    }
}

#[test]
fn a_mistyped_flag_gets_the_similar_argument_tip() {
    let cases = [
        ("kds-put", ["--strem", "x"], "'--stream'"),
        ("kds-tail", ["--strem", "x"], "'--stream'"),
        ("kds-s3sink", ["--buckt", "b"], "'--bucket'"),
        ("kds-gen", ["--rat", "5"], "'--rate'"),
        ("kds-window", ["--sise", "10s"], "'--size'"),
    ];
    for (tool, args, flag) in cases {
        assert_usage_error(tool, &args, &["a similar argument exists", flag]);
    }
}

#[test]
fn a_bad_value_names_the_flag_and_the_valid_values() {
    let cases: [(&str, &[&str], &[&str]); 5] = [
        (
            "kds-put",
            &["-s", "x", "--concurrency", "many"],
            &["'many'", "--concurrency <N>"],
        ),
        (
            "kds-tail",
            &["--stream", "x", "--data", "hex"],
            &["'hex'", "--data <MODE>", "base64"],
        ),
        (
            "kds-s3sink",
            &["--bucket", "b", "--compression", "zip"],
            &["'zip'", "--compression", "gzip"],
        ),
        (
            "kds-gen",
            &["--format", "xml"],
            &["'xml'", "--format", "ndjson"],
        ),
        (
            "kds-window",
            &["--format", "xml"],
            &["'xml'", "--format", "ndjson"],
        ),
    ];
    for (tool, args, wants) in cases {
        assert_usage_error(tool, args, wants);
    }
}

#[test]
fn our_own_checks_are_one_line_naming_the_flag() {
    let cases: [(&str, &[&str], &str); 5] = [
        (
            "kds-put",
            &["-s", "x", "--concurrency", "0"],
            "--concurrency",
        ),
        (
            "kds-tail",
            &["--stream", "x", "--shards", "3/3"],
            "--shards",
        ),
        (
            "kds-s3sink",
            &["--bucket", "b", "--concurrency", "0"],
            "--concurrency",
        ),
        ("kds-gen", &["--late", "1.5"], "--late"),
        ("kds-window", &["--size", "0s"], "--size"),
    ];
    for (tool, args, flag) in cases {
        let out = run(tool, args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{tool} {args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{tool} {args:?}: {err}");
        assert!(
            err.starts_with(&format!("{tool}: {flag}")),
            "{tool} {args:?}: {err}"
        );
    }
}

#[test]
fn every_tool_prints_its_name_and_version() {
    let want = format!(" {}\n", env!("CARGO_PKG_VERSION"));
    for tool in TOOLS {
        for flag in ["-V", "--version"] {
            let out = run(tool, &[flag]);
            assert_eq!(out.status.code(), Some(0), "{tool} {flag}");
            assert_eq!(text(&out.stdout), format!("{tool}{want}"), "{tool} {flag}");
        }
    }
}

#[test]
fn kds_s3sink_takes_the_delivery_stream_version_as_stream_version() {
    let help = text(&run("kds-s3sink", &["--help"]).stdout);
    assert!(help.contains("--stream-version <N>"), "{help}");
    let out = run("kds-s3sink", &["--bucket", "b", "--stream-version", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("kds-s3sink: --stream-version"),
        "{out:?}"
    );
}

#[test]
fn long_help_groups_flags_and_ends_with_the_labs_examples() {
    let headings: [(&str, &[&str]); 5] = [
        ("kds-put", &["Output:", "Tuning:", "Errors:", "AWS:"]),
        ("kds-tail", &["Input:", "Output:", "Tuning:", "AWS:"]),
        (
            "kds-s3sink",
            &["Input:", "Output:", "Tuning:", "Errors:", "AWS:"],
        ),
        ("kds-gen", &["Events:", "Output:", "Keys:", "Noise:"]),
        (
            "kds-window",
            &["Input:", "Windows:", "Output:", "Tuning:", "SQL:"],
        ),
    ];
    for (tool, wants) in headings {
        let out = run(tool, &["--help"]);
        assert_eq!(out.status.code(), Some(0), "{tool}");
        let help = text(&out.stdout);
        for want in wants {
            assert!(
                help.lines().any(|l| l == *want),
                "{tool}: no heading {want}\n{help}"
            );
        }
        let examples = help
            .rsplit_once("\nExamples:\n")
            .unwrap_or_else(|| panic!("{tool}: --help has no Examples\n{help}"))
            .1;
        // Only examples after the heading: no flag lines come after it.
        assert!(
            !examples.contains("\n  -"),
            "{tool}: examples are not last\n{help}"
        );
        let first = examples
            .lines()
            .find(|l| l.trim_start().starts_with("kds-"))
            .unwrap_or_default();
        assert!(first.contains(tool), "{tool}: first example {first:?}");
        assert!(
            first.contains("kds-lab1"),
            "{tool}: first example is not the lab's: {first:?}"
        );
    }
}

#[test]
fn short_help_stays_short() {
    for tool in TOOLS {
        let short = text(&run(tool, &["-h"]).stdout);
        let long = text(&run(tool, &["--help"]).stdout);
        assert!(!short.contains("Examples:"), "{tool} -h:\n{short}");
        assert!(short.lines().count() < long.lines().count(), "{tool}");
        assert!(
            !long.contains("--generate"),
            "{tool}: the generator flag is hidden"
        );
    }
}

#[test]
fn completions_name_the_tool_and_its_flags() {
    let kinds = [
        ("complete-bash", "complete -F"),
        ("complete-zsh", "#compdef"),
        ("complete-fish", "complete -c"),
    ];
    for tool in TOOLS {
        for (kind, marker) in kinds {
            let out = run(tool, &["--generate", kind]);
            let script = text(&out.stdout);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{tool} {kind}: {}",
                text(&out.stderr)
            );
            assert!(script.contains(marker), "{tool} {kind}");
            assert!(script.contains(tool), "{tool} {kind}");
            assert!(script.contains("version"), "{tool} {kind}: flags missing");
            assert!(
                !script.contains("generate"),
                "{tool} {kind}: hidden flag completed"
            );
        }
    }
    // bash parses what it would source.
    let out = run("kds-put", &["--generate", "complete-bash"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("kds-put.bash");
    std::fs::write(&file, &out.stdout).expect("write completion");
    let check = Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .expect("bash -n");
    assert!(check.status.success(), "{}", text(&check.stderr));
}

#[test]
fn man_pages_render_with_man() {
    let dir = tempfile::tempdir().expect("temp dir");
    for tool in TOOLS {
        let out = run(tool, &["--generate", "man"]);
        assert_eq!(out.status.code(), Some(0), "{tool}: {}", text(&out.stderr));
        let page = dir.path().join(format!("{tool}.1"));
        std::fs::write(&page, &out.stdout).expect("write man page");
        let man = Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("man -l runs (scripts/test installs man-db)");
        let rendered = text(&man.stdout);
        assert!(man.status.success(), "{tool}: {}", text(&man.stderr));
        for want in ["NAME", "SYNOPSIS", "OPTIONS", "--version", tool] {
            assert!(rendered.contains(want), "{tool}: no {want} in\n{rendered}");
        }
    }
}
