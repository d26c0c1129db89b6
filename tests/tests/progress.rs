//! The progress line on stderr: off unless stderr is a terminal or `--progress` (or the tool's
//! `KDS_<TOOL>_PROGRESS`), never on stdout, and one line per terminal when tools share it (a
//! real terminal: a tmux pane, read with `capture-pane`). tmux is required (scripts/test
//! installs it): without it the terminal test fails.

#![allow(clippy::unwrap_used)] // test code

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Waits longer than any healthy run needs; only a hang reaches it.
const PATIENCE: Duration = Duration::from_secs(30);

fn tool(name: &str) -> Command {
    let mut c = Command::new(common::tool_dir_for(&[name]).join(name));
    for v in ["KDS_GEN_PROGRESS", "KDS_WINDOW_PROGRESS"] {
        c.env_remove(v);
    }
    c
}

fn gen(extra: &[&str]) -> Output {
    // 2,000 events at 2,000/s: a second of run, several redraws.
    tool("kds-gen")
        .args(["-n", "2000", "--rate", "2000", "--seed", "7"])
        .args(extra)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn progress_flag_draws_on_redirected_stderr_and_never_on_stdout() {
    let out = gen(&["--progress"]);
    assert!(out.status.success(), "{out:?}");
    let stderr = text(&out.stderr);
    let bar = stderr
        .lines()
        .find(|l| l.starts_with("kds-gen ["))
        .unwrap_or_else(|| {
            panic!("no progress line on stderr:\n{stderr}");
        });
    assert!(
        bar.contains("% ETA"),
        "known size shows percent and ETA: {bar}"
    );
    assert!(
        bar.contains("events "),
        "the stats text is on the bar: {bar}"
    );
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 2000, "stdout holds the events only");
    assert!(!stdout.contains("kds-gen ["), "progress leaked into stdout");
}

#[test]
fn progress_is_off_by_default_when_stderr_is_not_a_terminal() {
    let out = gen(&[]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        !text(&out.stderr).contains("kds-gen ["),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn environment_turns_progress_on_and_no_progress_wins() {
    let on = tool("kds-gen")
        .args(["-n", "1000", "--rate", "2000"])
        .env("KDS_GEN_PROGRESS", "true")
        .output()
        .unwrap();
    assert!(text(&on.stderr).contains("kds-gen ["), "{on:?}");
    let off = tool("kds-gen")
        .args(["-n", "1000", "--rate", "2000", "--no-progress"])
        .env("KDS_GEN_PROGRESS", "true")
        .output()
        .unwrap();
    assert!(!text(&off.stderr).contains("kds-gen ["), "{off:?}");
}

#[test]
fn window_fed_through_a_pipe_shows_bytes_and_lines_per_second() {
    let dir = common::tool_dir_for(&["kds-gen", "kds-window"]);
    // Events at 2,000/s: the run lasts long enough for redraws.
    let script = format!(
        "{} -n 2000 --rate 2000 --seed 7 2>/dev/null | {} --progress",
        dir.join("kds-gen").display(),
        dir.join("kds-window").display()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env_remove("KDS_GEN_PROGRESS")
        .env_remove("KDS_WINDOW_PROGRESS")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = text(&out.stderr);
    let bar = stderr
        .lines()
        .find(|l| l.starts_with("kds-window ["))
        .unwrap_or_else(|| {
            panic!("no progress line on stderr:\n{stderr}");
        });
    assert!(bar.contains("KiB"), "bytes read shown: {bar}");
    assert!(bar.contains("lines/s"), "{bar}");
    assert!(
        !text(&out.stdout).contains("kds-window ["),
        "progress leaked into stdout"
    );
}

/// A tmux server of its own (socket in a temp dir), killed on drop.
struct Pane {
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Pane {
    fn start(command: &str) -> Pane {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("tmux");
        let pane = Pane { socket, _dir: dir };
        let out = pane
            .tmux(&[
                "new-session",
                "-d",
                "-x",
                "120",
                "-y",
                "20",
                "-s",
                "t",
                command,
            ])
            .output()
            .unwrap_or_else(|e| panic!("tmux is required (scripts/test installs it): {e}"));
        assert!(out.status.success(), "tmux new-session: {out:?}");
        pane
    }

    fn tmux(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S")
            .arg(&self.socket)
            .args(["-f", "/dev/null"])
            .args(args)
            .env("TERM", "xterm-256color");
        c
    }

    fn screen(&self) -> String {
        let out = self
            .tmux(&["capture-pane", "-p", "-t", "t"])
            .output()
            .unwrap();
        text(&out.stdout)
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]).output();
    }
}

fn progress_lines(screen: &str) -> Vec<&str> {
    screen
        .lines()
        .filter(|l| l.starts_with("kds-gen [") || l.starts_with("kds-window ["))
        .collect()
}

#[test]
fn a_pipeline_in_a_terminal_draws_exactly_one_progress_line() {
    let dir = common::tool_dir_for(&["kds-gen", "kds-window"]);
    let out = tempfile::tempdir().unwrap();
    let done = out.path().join("done");
    let command = format!(
        "unset KDS_GEN_PROGRESS KDS_WINDOW_PROGRESS; \
         {gen} -n 6000 --rate 2000 --seed 7 | {window} > {rows}; touch {done}; sleep 60",
        gen = dir.join("kds-gen").display(),
        window = dir.join("kds-window").display(),
        rows = out.path().join("rows").display(),
        done = done.display(),
    );
    let pane = Pane::start(&command);
    let started = Instant::now();
    let mut seen = Vec::new();
    while !done.exists() {
        assert!(
            started.elapsed() < PATIENCE,
            "pipeline hung:\n{}",
            pane.screen()
        );
        let screen = pane.screen();
        let bars = progress_lines(&screen);
        assert!(bars.len() <= 1, "two tools drew on one terminal:\n{screen}");
        seen.extend(bars.iter().map(|l| l.to_string()));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!seen.is_empty(), "no progress line was ever drawn");
    let owners: std::collections::BTreeSet<_> =
        seen.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(owners.len(), 1, "the line changed hands: {owners:?}");
    let last = pane.screen();
    assert!(progress_lines(&last).is_empty(), "bar left behind:\n{last}");
    println!("captured progress line: {}", seen[seen.len() / 2]);
}
