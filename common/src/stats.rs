//! Stats on stderr: a periodic line with `-v`, and a one-line summary on exit when stderr is
//! a terminal or `-v` is set.

use std::io::IsTerminal;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

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
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = verbose.then(|| {
            std::thread::spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    crate::diag!("{tool}: {}", line());
                }
            })
        });
        Reporter {
            tool,
            verbose,
            stop: Some(stop),
            thread,
        }
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
