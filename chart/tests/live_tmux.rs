//! The live view in a real terminal: kds-chart runs in a tmux pane, rows arrive through a
//! FIFO, the pane's text (`tmux capture-pane -p`) is checked, keys are sent with send-keys.
//! tmux is required (scripts/test installs it): without it these tests fail.

#![allow(clippy::unwrap_used)] // test code

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{minute_rows, BIN, ENV_VARS};

/// Waits longer than any healthy run needs; only a hang reaches it.
const PATIENCE: Duration = Duration::from_secs(30);

/// kds-chart in a tmux pane of its own, in a fresh temp dir holding the FIFO `rows` (its stdin)
/// and where the command leaves `status`.
struct Pane {
    term: testkit::tmux::Pane,
    dir: tempfile::TempDir,
}

impl Pane {
    /// Starts kds-chart with `chart_args` (and `env` before it, `redirect` after it) in a
    /// detached 110x40 pane.
    fn start(env: &str, chart_args: &str, redirect: &str) -> Pane {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("rows");
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success(), "mkfifo");
        let unset: String = ENV_VARS.iter().map(|v| format!("unset {v}; ")).collect();
        let command = format!(
            "{unset}cd {dir}; {env} {BIN} {chart_args} < rows {redirect}; echo $? > status; sleep 60",
            dir = dir.path().display()
        );
        let term = testkit::tmux::Pane::start(110, 40, &command);
        Pane { term, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The FIFO's write end, once kds-chart has opened the read end.
    fn rows_writer(&self) -> File {
        let deadline = Instant::now() + PATIENCE;
        loop {
            // O_NONBLOCK: opening fails (ENXIO) instead of blocking while no reader is there.
            match OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(self.path("rows"))
            {
                Ok(file) => return file,
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "kds-chart never opened its input: {e}\n{}",
                    self.screen()
                ),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn exit_status(&self) -> String {
        wait_for_file(&self.path("status"))
    }

    fn screen(&self) -> String {
        self.term.screen()
    }

    fn wait_for(&self, wanted: &[&str]) -> String {
        self.term.wait_for(wanted, PATIENCE)
    }

    fn keys(&self, keys: &str) {
        self.term.keys(keys)
    }
}

fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(text) = fs::read_to_string(path) {
            if text.ends_with('\n') {
                return text.trim().to_string();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn live_view_shows_and_updates_the_header_pauses_and_quits_with_0() {
    let pane = Pane::start("", "--y count_tno,sum_tnum --x window_end --tick 100ms", "");
    let (rows, _) = minute_rows(&[(
        "",
        &[598.0, 610.0, 590.0, 700.0],
        &[30112.0, 29000.0, 31000.0, 35000.0],
    )]);
    let lines: Vec<&[u8]> = rows.split_inclusive(|&b| b == b'\n').collect();
    let mut writer = pane.rows_writer();
    writer.write_all(&lines[..2].concat()).unwrap();
    pane.wait_for(&[
        "rows 2 ",
        "count_tno  now 610  min 598  max 610  rate 10.17/s",
        "sum_tnum  now 29000  min 29000  max 30112  rate 483.33/s",
        "[live]",
    ]);
    writer.write_all(lines[2]).unwrap();
    // The x axis labelled with window_end times, up to the third row's. Waited for with the
    // header: tmux may be captured between the header's redraw and the chart's below it.
    pane.wait_for(&[
        "rows 3 ",
        "count_tno  now 590  min 590  max 610  rate 9.83/s",
        "13:03:00",
    ]);

    pane.keys("p");
    pane.wait_for(&["[paused]"]);
    writer.write_all(lines[3]).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        pane.screen().contains("rows 3 "),
        "a paused view does not change"
    );
    pane.keys("p");
    pane.wait_for(&["rows 4 ", "count_tno  now 700  min 590  max 700", "[live]"]);

    drop(writer);
    pane.wait_for(&["[input ended]"]);
    assert!(
        !pane.path("status").exists(),
        "the view stays after the input ends until q"
    );
    pane.keys("q");
    assert_eq!(pane.exit_status(), "0");
}

#[test]
fn quitting_the_view_in_a_pipeline_leaves_the_pass_through_running() {
    let pane = Pane::start(
        "",
        "--y count_tno --group-by tic --x window_end",
        "> out.ndjson 2> err.txt",
    );
    let (rows, _) = minute_rows(&[
        ("AAPL", &[5.0, 7.0, 6.0], &[0.0; 3]),
        ("MSFT", &[50.0, 20.0, 40.0], &[0.0; 3]),
    ]);
    let mut sent = Vec::new();
    let mut writer = pane.rows_writer();
    let first = &rows[..rows.len() / 2];
    writer.write_all(first).unwrap();
    sent.extend_from_slice(first);
    pane.wait_for(&[
        "count_tno [AAPL]  now",
        "count_tno [MSFT]  now",
        "AAPL",
        "MSFT",
    ]);
    pane.keys("q");
    // The drawing stops (the pane's shell prompt is not back: kds-chart still runs)...
    let deadline = Instant::now() + PATIENCE;
    while pane.screen().contains("kds-chart  rows") {
        assert!(Instant::now() < deadline, "the view never closed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !pane.path("status").exists(),
        "kds-chart still passes the input through"
    );
    // ...and everything after q still goes through, bad lines included.
    for chunk in [&rows[rows.len() / 2..], b"not json\n"] {
        writer.write_all(chunk).unwrap();
        sent.extend_from_slice(chunk);
    }
    drop(writer);
    assert_eq!(pane.exit_status(), "0");
    assert_eq!(
        fs::read(pane.path("out.ndjson")).unwrap(),
        sent,
        "pass-through byte for byte"
    );
    let err = fs::read_to_string(pane.path("err.txt")).unwrap();
    assert!(
        err.contains("line 7: not valid JSON"),
        "bad line reported after the view: {err}"
    );
}

#[test]
fn exit_on_eof_from_the_environment_leaves_the_view_when_the_input_ends() {
    let env = "KDS_CHART_EXIT_ON_EOF=true KDS_CHART_Y=count_tno KDS_CHART_X=window_end";
    let pane = Pane::start(env, "", "");
    let (rows, _) = minute_rows(&[("", &[1.0, 2.0], &[1.0, 2.0])]);
    let mut writer = pane.rows_writer();
    writer.write_all(&rows).unwrap();
    pane.wait_for(&["rows 2 ", "count_tno  now 2  min 1  max 2"]);
    drop(writer);
    assert_eq!(pane.exit_status(), "0", "no key needed");
}
