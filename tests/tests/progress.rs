//! The progress line on stderr: off unless stderr is a terminal or `--progress` (or the tool's
//! `KDS_<TOOL>_PROGRESS`), never on stdout, and one line per terminal when tools share it (a
//! real terminal: a tmux pane, read with `capture-pane`). tmux is required (scripts/test
//! installs it): without it the terminal tests fail. kds-put, kds-tail and kds-s3sink run
//! against the local stack (scripts/stack start); without it their tests fail.

#![allow(clippy::unwrap_used)] // test code

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use testkit::tmux::Pane;

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

/// Watches `pane` until the pipeline touches `done`, checking at every redraw that at most one
/// of the `tools`' progress lines is on the screen; then that one tool owned the line throughout
/// and that no line is left behind. Returns a line seen mid-run.
fn one_line_throughout(pane: &Pane, done: &std::path::Path, tools: &[&str]) -> String {
    let drawn = |screen: &str| -> Vec<String> {
        tools
            .iter()
            .flat_map(|t| bars(screen, t))
            .map(str::to_string)
            .collect()
    };
    let started = Instant::now();
    let mut seen = Vec::new();
    while !done.exists() {
        assert!(
            started.elapsed() < PATIENCE,
            "pipeline hung:\n{}",
            pane.screen()
        );
        let screen = pane.screen();
        let on_screen = drawn(&screen);
        assert!(
            on_screen.len() <= 1,
            "two tools drew on one terminal:\n{screen}"
        );
        seen.extend(on_screen);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !seen.is_empty(),
        "no progress line was ever drawn:\n{}",
        pane.screen()
    );
    let owners: std::collections::BTreeSet<_> =
        seen.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(owners.len(), 1, "the line changed hands: {owners:?}");
    let last = pane.screen();
    assert!(drawn(&last).is_empty(), "bar left behind:\n{last}");
    println!("captured screen:\n{last}");
    seen.swap_remove(seen.len() / 2)
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
    let pane = Pane::start(120, 20, &command);
    let line = one_line_throughout(&pane, &done, &["kds-gen", "kds-window"]);
    println!("captured progress line: {line}");
}

// The AWS tools, against the local stack (these tests FAIL without it: scripts/stack start).

/// The stack, a runtime for testkit's async helpers, and a scratch directory.
struct Aws {
    stack: testkit::Stack,
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
}

impl Aws {
    fn new() -> Aws {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Aws {
            stack: testkit::Stack::get(),
            rt,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn stream(&self) -> testkit::TestStream {
        self.rt
            .block_on(testkit::TestStream::create(&self.stack, 1))
            .unwrap()
    }

    /// A command for an AWS tool on the stack, with no progress variable inherited.
    fn tool(&self, name: &str) -> Command {
        let mut c = self.stack.command(common::tool_dir_for(&[name]).join(name));
        for v in [
            "KDS_PUT_PROGRESS",
            "KDS_TAIL_PROGRESS",
            "KDS_S3SINK_PROGRESS",
        ] {
            c.env_remove(v);
        }
        c
    }

    /// kds-tail with `extra` flags over all of `stream`, until it has been idle a moment.
    fn tail_all(&self, stream: &str, extra: &[&str]) -> Output {
        self.tool("kds-tail")
            .args(["--stream", stream, "--from", "trim-horizon"])
            // Ends a second after the last record: long enough to draw.
            .args(["--idle-timeout", "1500ms"])
            .args(extra)
            .output()
            .unwrap()
    }

    /// `n` kds-gen events in a file.
    fn events(&self, n: u32) -> PathBuf {
        let path = self.dir.path().join(format!("events-{n}"));
        let out = tool("kds-gen")
            .args(["-n", &n.to_string(), "--seed", "7"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        std::fs::write(&path, out.stdout).unwrap();
        path
    }

    /// Puts `n` events into `stream` (no progress asked for).
    fn fill(&self, stream: &str, n: u32) {
        self.fill_with(stream, n, &[]);
    }

    /// Puts `n` events into `stream` with kds-put's `extra` flags.
    fn fill_with(&self, stream: &str, n: u32, extra: &[&str]) {
        let out = self
            .tool("kds-put")
            .args(["--stream", stream])
            .args(extra)
            .arg(self.events(n))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
}

/// The progress lines of `tool` in a redirected stderr.
fn bars<'a>(stderr: &'a str, tool: &str) -> Vec<&'a str> {
    let head = format!("{tool} [");
    stderr.lines().filter(|l| l.starts_with(&head)).collect()
}

#[test]
fn put_shows_bytes_read_of_a_file_with_eta_and_is_off_by_default() {
    let aws = Aws::new();
    let stream = aws.stream();
    // kinesis-local takes about 1,000 records/s: a run of a second or two, several redraws.
    let input = aws.events(1500);
    let on = aws
        .tool("kds-put")
        .args(["--stream", &stream.name, "--progress"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(on.status.success(), "{on:?}");
    let stderr = text(&on.stderr);
    let shown = bars(&stderr, "kds-put");
    let bar = shown
        .last()
        .unwrap_or_else(|| panic!("no progress line:\n{stderr}"));
    assert!(bar.contains("ETA"), "a file's size gives an ETA: {bar}");
    assert!(bar.contains("KiB"), "bytes read shown: {bar}");
    assert!(bar.contains("records "), "records delivered shown: {bar}");
    assert!(on.stdout.is_empty(), "stdout is for receipts only");

    let off = aws
        .tool("kds-put")
        .args(["--stream", &stream.name])
        .arg(aws.events(1000))
        .output()
        .unwrap();
    assert!(off.status.success(), "{off:?}");
    assert!(bars(&text(&off.stderr), "kds-put").is_empty(), "{off:?}");
    aws.rt.block_on(stream.delete()).unwrap();
}

#[test]
fn tail_shows_records_and_lag_behind_the_tip_and_is_off_by_default() {
    let aws = Aws::new();
    let stream = aws.stream();
    aws.fill(&stream.name, 300);
    let tail = |extra: &[&str]| aws.tail_all(&stream.name, extra);
    let on = tail(&["--progress"]);
    assert!(on.status.success(), "{on:?}");
    let stderr = text(&on.stderr);
    let shown = bars(&stderr, "kds-tail");
    let bar = shown
        .last()
        .unwrap_or_else(|| panic!("no progress line:\n{stderr}"));
    assert!(bar.contains("records 300,"), "records read: {bar}");
    assert!(bar.contains("behind tip "), "lag shown: {bar}");
    assert_eq!(
        text(&on.stdout).lines().count(),
        300,
        "stdout holds records only"
    );
    assert!(!text(&on.stdout).contains("kds-tail ["));

    let off = tail(&[]);
    assert!(off.status.success(), "{off:?}");
    assert!(bars(&text(&off.stderr), "kds-tail").is_empty(), "{off:?}");
    aws.rt.block_on(stream.delete()).unwrap();
}

#[test]
fn tail_progress_counts_user_records_of_kpl_aggregates() {
    let aws = Aws::new();
    let stream = aws.stream();
    aws.fill_with(&stream.name, 300, &["--aggregate"]);
    let tail = |extra: &[&str]| aws.tail_all(&stream.name, extra);
    let whole = tail(&["--no-deaggregate"]);
    assert!(whole.status.success(), "{whole:?}");
    let kinesis_records = text(&whole.stdout).lines().count();
    assert!(
        kinesis_records < 300,
        "kds-put --aggregate packed the events: {kinesis_records} Kinesis records"
    );
    let on = tail(&["--progress"]);
    assert!(on.status.success(), "{on:?}");
    assert_eq!(
        text(&on.stdout).lines().count(),
        300,
        "user records written"
    );
    let stderr = text(&on.stderr);
    let bar = *bars(&stderr, "kds-tail")
        .last()
        .unwrap_or_else(|| panic!("no progress line:\n{stderr}"));
    assert!(bar.contains("records 300,"), "user records counted: {bar}");
    aws.rt.block_on(stream.delete()).unwrap();
}

/// kds-s3sink fed through a pipe a chunk at a time (so the run lasts a few redraws).
fn s3sink_fed_slowly(aws: &Aws, bucket: &str, input: &std::path::Path, extra: &[&str]) -> Output {
    use std::io::Write;
    let mut child = aws
        .tool("kds-s3sink")
        .args(["--bucket", bucket])
        .args(extra)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let data = std::fs::read(input).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for chunk in data.chunks(data.len() / 4 + 1) {
        stdin.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(400));
    }
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn s3sink_shows_records_objects_and_bytes_and_is_off_by_default() {
    let aws = Aws::new();
    let bucket = aws
        .rt
        .block_on(testkit::TestBucket::create(&aws.stack))
        .unwrap();
    let input = aws.events(400);
    let on = s3sink_fed_slowly(&aws, &bucket.name, &input, &["--progress"]);
    assert!(on.status.success(), "{on:?}");
    let stderr = text(&on.stderr);
    let shown = bars(&stderr, "kds-s3sink");
    let bar = shown
        .last()
        .unwrap_or_else(|| panic!("no progress line:\n{stderr}"));
    assert!(bar.contains("records "), "{bar}");
    assert!(bar.contains("objects "), "{bar}");
    assert!(
        bar.contains(" B)") || bar.contains("iB)"),
        "bytes shown: {bar}"
    );
    assert!(
        !text(&on.stdout).contains("kds-s3sink ["),
        "progress leaked into stdout"
    );

    let off = s3sink_fed_slowly(&aws, &bucket.name, &input, &[]);
    assert!(off.status.success(), "{off:?}");
    assert!(bars(&text(&off.stderr), "kds-s3sink").is_empty(), "{off:?}");
    aws.rt.block_on(bucket.delete()).unwrap();
}

#[test]
fn tail_into_s3sink_in_a_terminal_draws_exactly_one_progress_line() {
    let aws = Aws::new();
    let stream = aws.stream();
    let bucket = aws
        .rt
        .block_on(testkit::TestBucket::create(&aws.stack))
        .unwrap();
    aws.fill(&stream.name, 300);
    let dir = common::tool_dir_for(&["kds-tail", "kds-s3sink"]);
    let done = aws.dir.path().join("done");
    let exports: String = aws
        .stack
        .env_vars()
        .iter()
        .map(|(k, v)| format!("export {k}='{v}'; "))
        .collect();
    let command = format!(
        "{exports} unset KDS_TAIL_PROGRESS KDS_S3SINK_PROGRESS AWS_PROFILE; \
         {tail} --stream {stream} --from trim-horizon --idle-timeout 3s \
         | {sink} --bucket {bucket} > {receipts}; touch {done}; sleep 60",
        tail = dir.join("kds-tail").display(),
        sink = dir.join("kds-s3sink").display(),
        stream = stream.name,
        bucket = bucket.name,
        receipts = aws.dir.path().join("receipts").display(),
        done = done.display(),
    );
    let pane = Pane::start(120, 20, &command);
    let line = one_line_throughout(&pane, &done, &["kds-tail", "kds-s3sink"]);
    println!("captured progress line: {line}");
    aws.rt.block_on(stream.delete()).unwrap();
    aws.rt.block_on(bucket.delete()).unwrap();
}
