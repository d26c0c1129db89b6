//! `Shutdown::install` in a real process: the first SIGTERM/SIGINT only sets the flag, a second
//! one exits at once with `IMMEDIATE_EXIT_STATUS`. The process is this test binary re-run in
//! "child" mode (`KDS_SIGNAL_CHILD=1`), so the handlers never touch the test harness itself.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use kds_common::signal::{Shutdown, IMMEDIATE_EXIT_STATUS};

const CHILD_ENV: &str = "KDS_SIGNAL_CHILD";

/// Longest any step may take: a bound for hangs, not a timing assertion.
const STEP_LIMIT: Duration = Duration::from_secs(60);

/// The child: installs the handlers, reports each step on stdout, and after the first signal
/// keeps running for a while so that only a second signal can end it early. It gives up (exit
/// 3) if no signal comes, so a failed parent leaves nothing running.
#[test]
fn signal_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return; // run by the parent tests below only
    }
    let shutdown = Shutdown::install().expect("installing the handlers");
    println!("ready");
    let started = Instant::now();
    while !shutdown.requested() {
        if started.elapsed() > STEP_LIMIT {
            std::process::exit(3);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("first signal seen");
    std::thread::sleep(Duration::from_secs(20));
    println!("finished cleanly");
}

/// The child and its stdout lines, read on a thread so that every wait is bounded.
fn spawn_child() -> (Child, Receiver<String>) {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args(["--exact", "signal_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning the child");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn wait_for(lines: &Receiver<String>, wanted: &str) {
    // libtest may print "test signal_child ... " on the same line before the test's output.
    loop {
        match lines.recv_timeout(STEP_LIMIT) {
            Ok(line) if line.ends_with(wanted) => return,
            Ok(_) => {}
            Err(e) => panic!("no {wanted:?} from the child: {e}"),
        }
    }
}

fn send(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("running kill");
    assert!(sent.success(), "kill {signal} failed");
}

#[test]
fn a_second_signal_exits_at_once_with_the_immediate_status() {
    for (first, second) in [("-TERM", "-INT"), ("-INT", "-INT"), ("-TERM", "-TERM")] {
        let (mut child, lines) = spawn_child();
        wait_for(&lines, "ready");
        send(&child, first);
        wait_for(&lines, "first signal seen");
        send(&child, second);
        let status = child.wait().expect("waiting for the child");
        assert_eq!(
            status.code(),
            Some(IMMEDIATE_EXIT_STATUS),
            "{first} then {second}: {status:?}"
        );
    }
}

#[test]
fn the_first_signal_only_sets_the_flag() {
    let (mut child, lines) = spawn_child();
    wait_for(&lines, "ready");
    send(&child, "-TERM");
    wait_for(&lines, "first signal seen");
    // Still running after the first signal: it is the program's to finish.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().expect("polling the child").is_none(),
        "one signal must not end the process"
    );
    child.kill().expect("ending the child");
    child.wait().expect("reaping the child");
}
