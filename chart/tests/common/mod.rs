//! Helpers shared by kds-chart's binary tests.
#![allow(dead_code, clippy::unwrap_used)] // each test file uses a part; test code

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_kds-chart");

/// Every variable kds-chart reads, so the caller's environment cannot change a test.
pub const ENV_VARS: [&str; 12] = [
    "KDS_CHART_Y",
    "KDS_CHART_X",
    "KDS_CHART_GROUP_BY",
    "KDS_CHART_MAX_GROUPS",
    "KDS_CHART_POINTS",
    "KDS_CHART_TICK",
    "KDS_CHART_EXIT_ON_EOF",
    "KDS_CHART_SVG",
    "KDS_CHART_PNG",
    "KDS_CHART_SIZE",
    "KDS_CHART_TITLE",
    "KDS_LOG",
];

pub fn kds_chart(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args);
    for var in ENV_VARS {
        c.env_remove(var);
    }
    c
}

/// Runs with `input` on stdin and stdout/stderr captured, in a new session: no controlling
/// terminal, as under cron or CI, whatever terminal runs the tests.
pub fn run_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        // A tool that exits early (usage error) closes its stdin: not a test failure.
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// kds-window-like rows, one per minute from 2021-03-19T13:00Z and per group (`""`: no group
/// field): `(NDJSON, window_end of each minute in epoch ms)`.
pub fn minute_rows(groups: &[(&str, &[f64], &[f64])]) -> (Vec<u8>, Vec<f64>) {
    let minutes = groups.iter().map(|g| g.1.len()).max().unwrap_or(0);
    let start_ms = 1_616_158_800_000_i64;
    let mut out = Vec::new();
    let mut xs = Vec::new();
    for m in 0..minutes {
        let end_ms = start_ms + (m as i64 + 1) * 60_000;
        xs.push(end_ms as f64);
        for (group, counts, sums) in groups {
            let tic = if group.is_empty() {
                String::new()
            } else {
                format!("\"tic\":\"{group}\",")
            };
            writeln!(
                out,
                "{{\"window_start\":\"{}\",\"window_end\":\"{}\",{tic}\"count_tno\":{},\"sum_tnum\":{}}}",
                rfc3339(end_ms - 60_000),
                rfc3339(end_ms),
                counts[m],
                sums[m]
            )
            .unwrap();
        }
    }
    (out, xs)
}

fn rfc3339(ms: i64) -> String {
    let minute = (ms - 1_616_158_800_000) / 60_000;
    format!(
        "2021-03-19T{:02}:{:02}:00.000Z",
        13 + minute / 60,
        minute % 60
    )
}
