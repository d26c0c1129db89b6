//! Stats on stderr: a periodic line with `-v`, and a one-line summary on exit when stderr is
//! a terminal or `-v` is set.

use std::io::IsTerminal;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::progress::{self, Bar};

/// One reading of a tool's counters: `pos` moves the progress bar, `text` is the stats line.
pub struct Tick {
    pub pos: u64,
    pub text: String,
}

/// What the reporter thread reads: the progress line's position and text (10 times a second
/// while a bar is drawn) and the `-v` stats line (every interval).
pub struct View {
    pub tick: Box<dyn Fn() -> Tick + Send>,
    pub line: Box<dyn Fn() -> String + Send>,
}

/// Prints `tool: <line>` every interval on a background thread while running (when verbose).
pub struct Reporter {
    tool: &'static str,
    verbose: bool,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Reporter {
    pub fn start(
        tool: &'static str,
        verbose: bool,
        interval: Duration,
        line: impl Fn() -> String + Send + 'static,
    ) -> Reporter {
        let view = View {
            // Never called: there is no bar.
            tick: Box::new(|| Tick {
                pos: 0,
                text: String::new(),
            }),
            line: Box::new(line),
        };
        Reporter::with_view(tool, verbose, None, interval, view)
    }

    /// Like [`Reporter::start`], and with `bar` also redraws the progress line from `tick`
    /// (at most [`progress::REDRAWS_PER_SEC`]); `-v` lines (the tick's text) then go above it.
    pub fn with_progress(
        tool: &'static str,
        verbose: bool,
        bar: Option<Bar>,
        interval: Duration,
        tick: impl Fn() -> Tick + Send + Sync + 'static,
    ) -> Reporter {
        let tick = Arc::new(tick);
        let for_line = Arc::clone(&tick);
        let view = View {
            tick: Box::new(move || tick()),
            line: Box::new(move || for_line().text),
        };
        Reporter::with_view(tool, verbose, bar, interval, view)
    }

    /// Like [`Reporter::with_progress`] for a tool whose `-v` line says more than fits on the
    /// progress line: the bar draws `view.tick`, the `-v` line is `view.line`.
    pub fn with_view(
        tool: &'static str,
        verbose: bool,
        bar: Option<Bar>,
        interval: Duration,
        view: View,
    ) -> Reporter {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = match bar {
            Some(bar) => Some(std::thread::spawn(move || {
                draw_bar(bar, tool, verbose, interval, &stopped, &view)
            })),
            None => verbose.then(|| {
                std::thread::spawn(move || {
                    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval)
                    {
                        crate::diag!("{tool}: {}", (view.line)());
                    }
                })
            }),
        };
        Reporter {
            tool,
            verbose,
            stop: Some(stop),
            thread,
        }
    }

    /// Like [`Reporter::with_view`] for a tool that knows no input size: with `progress`, a
    /// progress line of `status(time since this call)` alone (no bar, no position); the `-v`
    /// line is `line`.
    pub fn with_status(
        tool: &'static str,
        verbose: bool,
        progress: bool,
        interval: Duration,
        status: impl Fn(Duration) -> String + Send + 'static,
        line: impl Fn() -> String + Send + 'static,
    ) -> Reporter {
        let started = Instant::now();
        let spec = progress::Spec {
            total: None,
            bytes: false,
        };
        let bar = progress.then(|| Bar::new(tool, spec));
        let view = View {
            tick: Box::new(move || Tick {
                pos: 0,
                text: status(started.elapsed()),
            }),
            line: Box::new(line),
        };
        Reporter::with_view(tool, verbose, bar, interval, view)
    }

    /// A reporter that never prints periodically (summary rules still apply).
    pub fn quiet(tool: &'static str, verbose: bool) -> Reporter {
        Reporter {
            tool,
            verbose,
            stop: None,
            thread: None,
        }
    }

    /// True when the summary will be printed.
    pub fn prints_summary(&self) -> bool {
        self.verbose || std::io::stderr().is_terminal()
    }

    /// Stops the periodic line and prints the summary when stderr is a terminal or verbose.
    pub fn finish(mut self, summary: &str) {
        self.stop_thread();
        if self.prints_summary() {
            crate::diag!("{}: {summary}", self.tool);
        }
    }

    fn stop_thread(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// The reporter thread with a progress bar: claim the terminal after a short delay, redraw
/// every tick, `-v` lines every `interval`, clear the bar when stopped.
fn draw_bar(
    mut bar: Bar,
    tool: &str,
    verbose: bool,
    interval: Duration,
    stopped: &mpsc::Receiver<()>,
    view: &View,
) {
    if let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(progress::claim_delay()) {
        bar.claim();
    } else {
        return;
    }
    let redraw = Duration::from_secs(1) / u32::from(progress::REDRAWS_PER_SEC);
    let mut last_line = Instant::now();
    loop {
        let now = (view.tick)();
        if verbose && last_line.elapsed() >= interval {
            bar.println(&format!("{tool}: {}", (view.line)()));
            last_line = Instant::now();
        }
        bar.update(now.pos, now.text);
        if let Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) = stopped.recv_timeout(redraw) {
            break;
        }
    }
    bar.finish();
}

/// Records per second over an elapsed time, for summaries.
pub fn rate(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn periodic_line_runs_until_finish() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let r = Reporter::start("t", true, Duration::from_millis(5), move || {
            c.fetch_add(1, Ordering::SeqCst);
            "x".into()
        });
        while calls.load(Ordering::SeqCst) < 2 {
            std::thread::sleep(Duration::from_millis(5));
        }
        r.finish("done");
        let after = calls.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(calls.load(Ordering::SeqCst), after, "no lines after finish");
    }

    #[test]
    fn not_verbose_never_calls_the_line() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let r = Reporter::start("t", false, Duration::from_millis(1), move || {
            c.fetch_add(1, Ordering::SeqCst);
            String::new()
        });
        std::thread::sleep(Duration::from_millis(20));
        drop(r);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn rate_handles_zero_time() {
        assert_eq!(rate(10, Duration::ZERO), 0.0);
        assert_eq!(rate(10, Duration::from_secs(2)), 5.0);
    }
}
