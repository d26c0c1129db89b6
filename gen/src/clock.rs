//! Where event times come from, and how the generator waits for its schedule.
//!
//! Pacing is an absolute schedule: event `i` is due at `start + i / rate`, so sleeping late
//! once never makes the whole run drift. The [`RealClock`] sleeps until then (flushing output
//! first); the [`SimulatedClock`] just moves its time there, which backfills instantly.

use std::io;
use std::time::{Duration, Instant};

use kds_common::signal::Shutdown;

/// A source of time for the generator.
pub trait Clock {
    /// The current time in epoch milliseconds: the events' `tuptime`.
    fn now_ms(&mut self) -> i64;
    /// Time since the run started.
    fn elapsed(&mut self) -> Duration;
    /// Waits until `offset` after the start. `before_sleep` is called once, only when the
    /// clock is about to block (the generator flushes its output there).
    fn wait_until(
        &mut self,
        offset: Duration,
        before_sleep: &mut dyn FnMut() -> io::Result<()>,
    ) -> io::Result<()>;
}

/// Simulated time: starts at a given instant and jumps to whatever offset is waited for.
#[derive(Debug, Clone)]
pub struct SimulatedClock {
    start_ms: i64,
    offset: Duration,
}

impl SimulatedClock {
    pub fn new(start_ms: i64) -> SimulatedClock {
        SimulatedClock {
            start_ms,
            offset: Duration::ZERO,
        }
    }
}

impl Clock for SimulatedClock {
    fn now_ms(&mut self) -> i64 {
        self.start_ms + self.offset.as_millis() as i64
    }
    fn elapsed(&mut self) -> Duration {
        self.offset
    }
    fn wait_until(
        &mut self,
        offset: Duration,
        _before_sleep: &mut dyn FnMut() -> io::Result<()>,
    ) -> io::Result<()> {
        self.offset = self.offset.max(offset);
        Ok(())
    }
}

/// The wall clock; sleeps in short slices so a signal is noticed promptly.
#[derive(Debug, Clone)]
pub struct RealClock {
    start: Instant,
    shutdown: Shutdown,
}

/// Longest single sleep, so SIGINT/SIGTERM end a slow-rate run promptly.
const SLEEP_SLICE: Duration = Duration::from_millis(50);

impl RealClock {
    pub fn new(shutdown: Shutdown) -> RealClock {
        RealClock {
            start: Instant::now(),
            shutdown,
        }
    }
}

impl Clock for RealClock {
    fn now_ms(&mut self) -> i64 {
        kds_common::time::now_ms()
    }
    fn elapsed(&mut self) -> Duration {
        self.start.elapsed()
    }
    fn wait_until(
        &mut self,
        offset: Duration,
        before_sleep: &mut dyn FnMut() -> io::Result<()>,
    ) -> io::Result<()> {
        let target = self.start + offset;
        if Instant::now() >= target {
            return Ok(());
        }
        before_sleep()?;
        loop {
            if self.shutdown.requested() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= target {
                return Ok(());
            }
            std::thread::sleep((target - now).min(SLEEP_SLICE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_clock_moves_to_the_offset_without_sleeping_or_flushing() {
        let mut c = SimulatedClock::new(1_000_000);
        let mut flushed = 0;
        c.wait_until(Duration::from_millis(1500), &mut || {
            flushed += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(c.now_ms(), 1_001_500);
        assert_eq!(c.elapsed(), Duration::from_millis(1500));
        assert_eq!(flushed, 0);
    }

    #[test]
    fn real_clock_flushes_before_it_sleeps_and_not_when_due() {
        let mut c = RealClock::new(Shutdown::manual());
        let mut flushed = 0;
        c.wait_until(Duration::ZERO, &mut || {
            flushed += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(flushed, 0, "an event already due must not flush");
        c.wait_until(Duration::from_millis(5), &mut || {
            flushed += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(flushed, 1);
        assert!(c.elapsed() >= Duration::from_millis(5));
    }

    #[test]
    fn real_clock_stops_waiting_on_shutdown() {
        let s = Shutdown::manual();
        s.trigger();
        let mut c = RealClock::new(s);
        // An hour away: returns at once because shutdown was requested.
        c.wait_until(Duration::from_secs(3600), &mut || Ok(()))
            .unwrap();
        assert!(c.elapsed() < Duration::from_secs(3600));
    }
}
