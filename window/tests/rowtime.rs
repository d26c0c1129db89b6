//! Rowtime: windows close on the (injected) clock, even while the input pipe is idle.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use kds_common::io::{Output, SharedBuf};
use kds_common::signal::Shutdown;
use kds_window::driver::{run_input, ManualClock, Progress};
use kds_window::engine::{Config, Options};
use kds_window::query::Query;
use serde_json::Value;

/// Polls `cond` for up to a second (the driver wakes every 100 ms).
fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

fn start(
    cfg: Config,
    clock: ManualClock,
    shutdown: Shutdown,
) -> (
    std::io::PipeWriter,
    SharedBuf,
    Progress,
    std::thread::JoinHandle<kds_window::Stats>,
) {
    let (reader, writer) = std::io::pipe().unwrap();
    let out = SharedBuf::default();
    let progress = Progress::default();
    let (o, p) = (out.clone(), progress.clone());
    let handle = std::thread::spawn(move || {
        run_input(
            &cfg,
            kds_window::input::Input::from_fd(reader),
            &clock,
            Output::new(o),
            Box::new(std::io::sink()),
            &shutdown,
            &p,
        )
        .unwrap()
    });
    (writer, out, progress, handle)
}

#[test]
fn a_window_is_emitted_when_the_clock_passes_its_end_while_input_is_idle() {
    let clock = ManualClock::new(T0 + 10_000); // 13:15:10
    let cfg = Config {
        query: Query::lab(),
        options: Options::default(),
    };
    let (mut writer, out, progress, handle) = start(cfg, clock.clone(), Shutdown::manual());
    for i in 0..3 {
        writeln!(writer, "{}", trade_line(i, T0, 10 + i as i64)).unwrap();
    }
    writer.flush().unwrap();
    assert!(
        wait_for(|| progress.lines.load(Ordering::SeqCst) == 3),
        "lines not read"
    );
    assert!(out.contents().is_empty(), "nothing before the window ends");
    clock.set(T0 + 59_999);
    std::thread::sleep(Duration::from_millis(250));
    assert!(
        out.contents().is_empty(),
        "window still open at 13:15:59.999"
    );
    clock.set(T0 + 60_000);
    assert!(
        wait_for(|| !out.contents().is_empty()),
        "window not emitted on time"
    );
    let rows = parse_rows(&out.contents());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["window_start"], "2021-03-19T13:15:00.000Z");
    assert_eq!(rows[0]["window_end"], "2021-03-19T13:16:00.000Z");
    assert_eq!(rows[0]["ROWTIME"], "2021-03-19T13:16:00.000Z");
    assert_eq!(rows[0]["count_tno"], 3);
    assert_eq!(rows[0]["sum_tnum"], 33);

    // Lines read in the next minute go to the next window, emitted at end of input.
    writeln!(writer, "{}", trade_line(9, T0, 4)).unwrap();
    writer.flush().unwrap();
    assert!(wait_for(|| progress.lines.load(Ordering::SeqCst) == 4));
    drop(writer);
    let stats = handle.join().unwrap();
    let rows = parse_rows(&out.contents());
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["window_start"], "2021-03-19T13:16:00.000Z");
    assert_eq!(
        (rows[1]["count_tno"].clone(), rows[1]["sum_tnum"].clone()),
        (Value::from(1), Value::from(4))
    );
    assert_eq!(stats.records, 4);
}

#[test]
fn emit_empty_prints_idle_windows_and_shutdown_marks_open_ones_not_final() {
    let clock = ManualClock::new(T0 + 1_000);
    let mut query = Query::lab();
    query.size_ms = 10_000;
    let cfg = Config {
        query,
        options: Options {
            emit_empty: true,
            ..Options::default()
        },
    };
    let shutdown = Shutdown::manual();
    let (mut writer, out, progress, handle) = start(cfg, clock.clone(), shutdown.clone());
    // One line read at 13:15:01 proves the loop runs; then two windows pass with no input.
    writeln!(writer, "{}", trade_line(1, T0, 5)).unwrap();
    writer.flush().unwrap();
    assert!(wait_for(|| progress.lines.load(Ordering::SeqCst) == 1));
    clock.set(T0 + 30_000);
    assert!(
        wait_for(|| parse_rows(&out.contents()).len() == 3),
        "empty windows not emitted"
    );
    writeln!(writer, "{}", trade_line(2, T0, 6)).unwrap();
    writer.flush().unwrap();
    assert!(wait_for(|| progress.lines.load(Ordering::SeqCst) == 2));
    shutdown.trigger();
    handle.join().unwrap();
    let rows = parse_rows(&out.contents());
    assert_eq!(rows.len(), 4);
    assert_eq!(
        (rows[0]["count_tno"].clone(), rows[0]["sum_tnum"].clone()),
        (Value::from(1), Value::from(5))
    );
    for r in &rows[1..3] {
        assert_eq!(
            (r["count_tno"].clone(), r["sum_tnum"].clone()),
            (Value::from(0), Value::Null)
        );
        assert!(r.get("final").is_none());
    }
    assert_eq!(rows[1]["window_start"], "2021-03-19T13:15:10.000Z");
    assert_eq!(rows[3]["window_start"], "2021-03-19T13:15:30.000Z");
    assert_eq!(rows[3]["count_tno"], 1);
    assert_eq!(rows[3]["final"], false);
    drop(writer);
}
