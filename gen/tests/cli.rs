//! The built binary on real pipes: closed stdout, usage errors, signals, the log file, env vars.

#![allow(clippy::unwrap_used)] // test code: helpers outside #[test] unwrap too

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};

use common::Schema;
use testkit::usage::assert_usage_shape;

const BIN: &str = env!("CARGO_BIN_EXE_kds-gen");

fn kds_gen(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args);
    for var in ["KDS_GEN_TDATE", "KDS_GEN_RATE", "KDS_GEN_SEED"] {
        c.env_remove(var);
    }
    c
}

/// Starts kds-gen with `args`, stdout and stderr piped: the child and its stdout, buffered.
fn spawn_piped(args: &[&str]) -> (Child, BufReader<ChildStdout>) {
    let mut child = kds_gen(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (child, stdout)
}

/// Waits for the child: its exit status and all it wrote on stderr.
fn exit_and_stderr(mut child: Child) -> (ExitStatus, String) {
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, err)
}

#[test]
fn closed_stdout_exits_0_with_nothing_on_stderr() {
    // Literally `kds-gen -n 10 | head -1`, with pipefail so kds-gen's status is the pipeline's.
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"set -o pipefail; "$0" -n 10 | head -1"#)
        .arg(BIN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    Schema::new().check_json(stdout.trim_end()).unwrap();

    // As fast as possible and endless: only the closed pipe ends it.
    let (child, mut stdout) = spawn_piped(&["--rate", "0"]);
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    drop(stdout);
    let (status, err) = exit_and_stderr(child);
    assert_eq!(status.code(), Some(0));
    assert_eq!(err, "");
    Schema::new().check_json(first.trim_end()).unwrap();
}

#[test]
fn paced_output_reaches_a_live_pipe_promptly() {
    // At the default 10/s the first lines arrive while the generator is still running.
    let mut child = kds_gen(&["--seed", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let schema = Schema::new();
    for _ in 0..3 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        schema.check_json(line.trim_end()).unwrap();
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running: the lines were flushed live"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn sigterm_and_sigint_stop_cleanly_with_status_0() {
    for signal in ["-TERM", "-INT"] {
        let (child, mut stdout) = spawn_piped(&["--rate", "20", "--seed", "1"]);
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let killed = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        let (status, err) = exit_and_stderr(child);
        assert_eq!(status.code(), Some(0), "{signal}");
        assert_eq!(err, "", "{signal}");
        // Whatever was written ends with a whole event.
        let schema = Schema::new();
        for l in rest.lines() {
            schema.check_json(l).unwrap();
        }
        assert!(rest.is_empty() || rest.ends_with('\n'));
    }
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--late", "1.5"],
            "kds-gen: --late must be between 0 and 1, got 1.5",
        ),
        (&["--rate", "-1"], "--rate"),
        (&["--users", "0"], "--users"),
        (&["--skew", "zipf:x"], "--skew"),
        (&["2021-13-01"], "TDATE"),
        (&["--start", "2021-03-19"], "--start"),
        (&["--format", "xml"], "--format"),
        (&["--duration", "5x"], "--duration"),
        (&["-n", "ten"], "--count"),
        (&["--bogus"], "--bogus"),
    ];
    for (flags, needle) in cases {
        let out = kds_gen(flags).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {err}");
        assert!(out.stdout.is_empty(), "{flags:?}");
        assert_usage_shape("kds-gen", &err);
        assert!(
            err.lines().next().unwrap_or_default().contains(needle),
            "{flags:?}: {err}"
        );
    }
}

#[test]
fn help_exits_0() {
    let out = kds_gen(&["--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--rate",
        "--simulated-clock",
        "--late",
        "--malformed",
        "--log",
        "KDS_GEN_RATE",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn log_file_gets_the_start_up_line_appended() {
    let dir = std::env::temp_dir().join(format!("kds-gen-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("lab1.log");
    let _ = std::fs::remove_file(&log);
    let log_arg = log.to_str().unwrap();
    for _ in 0..2 {
        let args = [
            "2021-03-19",
            "-n",
            "2",
            "--seed",
            "7",
            "--simulated-clock",
            "--start",
            "2021-03-19T13:15:48Z",
            "--log",
            log_arg,
        ];
        let out = kds_gen(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "appended once per run: {text}");
    let re = regex_lite::Regex::new(
        r"^2021-03-19T13:15:48\.000Z kds-gen started: tdate=2021-03-19 rate=10/s seed=7 format=ndjson pid=[0-9]+$",
    )
    .unwrap();
    for l in lines {
        assert!(re.is_match(l), "{l}");
    }
    // An unwritable log is a runtime error (exit 1) with one line naming the file.
    let out = kds_gen(&["-n", "1", "--log", "/nonexistent/dir/x.log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1);
    assert!(err.contains("/nonexistent/dir/x.log"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn env_vars_set_tdate_rate_and_seed() {
    let by_flags = kds_gen(&[
        "2020-01-02",
        "-n",
        "20",
        "--rate",
        "4",
        "--seed",
        "9",
        "--simulated-clock",
        "--start",
        "2020-01-02",
    ])
    .output()
    .unwrap();
    let by_env = kds_gen(&["-n", "20", "--simulated-clock", "--start", "2020-01-02"])
        .env("KDS_GEN_TDATE", "2020-01-02")
        .env("KDS_GEN_RATE", "4")
        .env("KDS_GEN_SEED", "9")
        .output()
        .unwrap();
    assert_eq!(by_flags.status.code(), Some(0));
    assert_eq!(by_flags.stdout, by_env.stdout);
    let last = String::from_utf8(by_env.stdout).unwrap();
    let e = Schema::new()
        .check_json(last.lines().last().unwrap())
        .unwrap();
    assert_eq!(e.tuptime, "2020-01-02T00:00:04Z"); // 20 events at 4/s
}

#[test]
fn verbose_prints_a_summary_on_stderr_only() {
    let out = kds_gen(&["-n", "5", "--rate", "0", "-v"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with("kds-gen: wrote 5 events in ")),
        "{err}"
    );
    // Without -v and with stderr not a terminal: silent.
    let out = kds_gen(&["-n", "5", "--rate", "0"]).output().unwrap();
    assert!(out.stderr.is_empty());
}
