//! The generator loop: pacing, the realism knobs, and writing lines into the output buffer.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kds_common::io::Output;
use kds_common::signal::Shutdown;

use crate::clock::Clock;
use crate::event::{self, Fields, Format, Malformed, Template, TidCounter, TimeStrings};
use crate::keys::{KeyPicker, KEY_BASE};
use crate::rng::{scale32, threshold, Rng};
use crate::Config;

/// Lag of an out-of-order event: 1..=this many seconds, kept inside the current minute.
pub const OUT_OF_ORDER_MAX_LAG_S: i64 = 5;
/// Lag of a late event: uniform in this range of seconds (always more than one 60 s window).
pub const LATE_LAG_S: (i64, i64) = (60, 300);
/// How many recent valid lines a duplicate may be copied from.
pub const DUPLICATE_WINDOW: usize = 64;
/// With `--rate 0` the wall clock (and `--duration`) is read once per this many events.
const UNPACED_CLOCK_EVERY: u64 = 1024;
/// 10000-01-01T00:00:00Z in epoch milliseconds: RFC 3339 years have four digits, so no event
/// time may reach it (a simulated clock can get there with a slow rate and a late start).
pub const TIME_LIMIT_MS: i64 = 253_402_300_800_000;

/// The error [`generate`] returns when the clock reached [`TIME_LIMIT_MS`]; the events before
/// it are written and flushed.
#[derive(Debug)]
pub struct TimeLimitReached {
    /// Lines written before the limit.
    pub written: u64,
}

impl std::fmt::Display for TimeLimitReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the clock reached 10000-01-01T00:00:00Z after {} events: event times must stay within year 9999 (RFC 3339)",
            self.written
        )
    }
}

impl std::error::Error for TimeLimitReached {}

/// What kind of line one output slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fresh,
    Duplicate,
    Malformed,
}

/// Per-run state: random streams, key pickers, the tid counter and date-string cache.
pub struct Generator {
    format: Format,
    tdate: [u8; 10],
    rng: Rng,
    users: KeyPicker,
    products: KeyPicker,
    tid: TidCounter,
    times: TimeStrings,
    template: Template,
    /// True when every knob is 0: the plain fast path.
    plain: bool,
    duplicate_below: u64,
    malformed_below: u64,
    late_below: u64,
    out_of_order_below: u64,
    recent: Vec<Vec<u8>>,
    recent_next: usize,
}

impl Generator {
    pub fn new(config: &Config) -> Generator {
        let k = &config.knobs;
        let picker = |n: u32| match config.skew {
            Some(s) => KeyPicker::zipf(n, s),
            None => KeyPicker::uniform(n),
        };
        Generator {
            format: config.format,
            tdate: config.tdate,
            rng: Rng::seeded(config.seed),
            users: picker(config.users),
            products: picker(config.products),
            tid: TidCounter::new(),
            times: TimeStrings::for_second(i64::MIN / 2),
            template: Template::new(config.format, &config.tdate),
            plain: k.late == 0.0
                && k.out_of_order == 0.0
                && k.duplicates == 0.0
                && k.malformed == 0.0,
            duplicate_below: threshold(k.duplicates),
            malformed_below: threshold(k.duplicates + k.malformed),
            late_below: threshold(k.late),
            out_of_order_below: threshold(k.late + k.out_of_order),
            recent: Vec::new(),
            recent_next: 0,
        }
    }

    /// Two draws with uniform keys: letters (low 32 bits) and tnum (high 32 bits) from one,
    /// uno (high) and pno (low) from the other; skewed keys take one draw each.
    #[inline(always)]
    fn draw_fields(&mut self) -> Fields {
        let a = self.rng.next_u64();
        let letters = Fields::letters_from(a);
        let tnum = Fields::tnum_from(a);
        let b = self.rng.next_u64();
        let (uno, pno) = match (&self.users, &self.products) {
            (KeyPicker::Uniform { n: nu }, KeyPicker::Uniform { n: np }) => {
                (scale32(b >> 32, *nu), scale32(b, *np))
            }
            (users, products) => (users.pick(b), products.pick(self.rng.next_u64())),
        };
        let (uno, pno) = ((KEY_BASE + uno) as u16, (KEY_BASE + pno) as u16);
        Fields {
            letters,
            uno,
            pno,
            tnum,
        }
    }

    #[inline]
    fn times_for(&mut self, sec: i64) -> TimeStrings {
        if sec != self.times.sec {
            self.times = TimeStrings::for_second(sec);
        }
        self.times
    }

    /// Appends the line for one slot whose clock time is `now_ms`.
    #[inline]
    pub fn emit(&mut self, now_ms: i64, out: &mut Vec<u8>) {
        let sec = now_ms.div_euclid(1000);
        if self.plain {
            let fields = self.draw_fields();
            if sec != self.template.sec {
                self.template.set_second(sec);
            }
            self.template.write_next(out, &fields);
        } else {
            self.emit_with_knobs(sec, out);
        }
    }

    fn emit_with_knobs(&mut self, sec: i64, out: &mut Vec<u8>) {
        let kind = if self.duplicate_below == 0 && self.malformed_below == 0 {
            Kind::Fresh
        } else {
            let r = self.rng.next_u64();
            if r < self.duplicate_below {
                if self.recent.is_empty() {
                    Kind::Fresh // nothing earlier to repeat yet
                } else {
                    Kind::Duplicate
                }
            } else if r < self.malformed_below {
                Kind::Malformed
            } else {
                Kind::Fresh
            }
        };
        if kind == Kind::Duplicate {
            let pick = self.rng.below(self.recent.len() as u32) as usize;
            out.extend_from_slice(&self.recent[pick]);
            return;
        }
        let fields = self.draw_fields();
        let event_sec = sec - self.lag(sec);
        let times = self.times_for(event_sec);
        let start = out.len();
        let e = event::Event {
            tid: self.tid.digits(),
            fields: &fields,
            times: &times,
            tdate: &self.tdate,
        };
        match kind {
            Kind::Malformed => {
                let which = Malformed::ALL[self.rng.below(4) as usize];
                let r = self.rng.next_u64();
                event::write_malformed(which, self.format, out, &e, r);
            }
            _ => {
                event::write_event(self.format, out, &e);
                if self.duplicate_below > 0 {
                    self.remember(&out[start..]);
                }
            }
        }
        self.tid.increment();
    }

    /// Seconds the event time lags the clock: 0, out-of-order or late.
    fn lag(&mut self, sec: i64) -> i64 {
        if self.out_of_order_below == 0 {
            return 0;
        }
        let r = self.rng.next_u64();
        if r < self.late_below {
            let (lo, hi) = LATE_LAG_S;
            lo + self.rng.below((hi - lo + 1) as u32) as i64
        } else if r < self.out_of_order_below {
            // Stay inside the current minute: at second 0 there is no room, so no lag.
            let room = sec.rem_euclid(60).min(OUT_OF_ORDER_MAX_LAG_S);
            if room == 0 {
                0
            } else {
                1 + self.rng.below(room as u32) as i64
            }
        } else {
            0
        }
    }

    fn remember(&mut self, line: &[u8]) {
        if self.recent.len() < DUPLICATE_WINDOW {
            self.recent.push(line.to_vec());
        } else {
            let slot = &mut self.recent[self.recent_next];
            slot.clear();
            slot.extend_from_slice(line);
            self.recent_next = (self.recent_next + 1) % DUPLICATE_WINDOW;
        }
    }
}

/// Writes events until `-n`, `--duration` or a signal ends the run; returns the number of
/// lines written (not counting a CSV header). Flushes before every sleep and at the end.
pub fn generate<C: Clock>(
    config: &Config,
    out: &mut Output,
    clock: &mut C,
    shutdown: &Shutdown,
) -> io::Result<u64> {
    generate_counted(config, out, clock, shutdown, &AtomicU64::new(0))
}

/// [`generate`], publishing the number of lines written so far in `progress` (every
/// 1024 lines, before each sleep and at the end) for the `-v` stats line.
pub fn generate_counted<C: Clock>(
    config: &Config,
    out: &mut Output,
    clock: &mut C,
    shutdown: &Shutdown,
    progress: &AtomicU64,
) -> io::Result<u64> {
    let mut gen = Generator::new(config);
    if config.format == Format::Csv {
        out.write_all(event::CSV_HEADER)?;
    }
    let count = config.count.unwrap_or(u64::MAX);
    let mut i: u64 = 0;
    let mut now_ms = 0;
    while i < count && !shutdown.requested() {
        if config.rate > 0.0 {
            let offset = Duration::from_secs_f64(i as f64 / config.rate);
            if config.duration.is_some_and(|d| offset >= d) {
                break;
            }
            clock.wait_until(offset, &mut || {
                progress.store(i, Ordering::Relaxed);
                out.flush()
            })?;
            if shutdown.requested() {
                break;
            }
            now_ms = clock.now_ms();
            if now_ms >= TIME_LIMIT_MS {
                progress.store(i, Ordering::Relaxed);
                out.flush()?;
                return Err(io::Error::other(TimeLimitReached { written: i }));
            }
        } else if i.is_multiple_of(UNPACED_CLOCK_EVERY) {
            progress.store(i, Ordering::Relaxed);
            if config.duration.is_some_and(|d| clock.elapsed() >= d) {
                break;
            }
            now_ms = clock.now_ms();
        }
        gen.emit(now_ms, out.buffer());
        out.commit()?;
        i += 1;
    }
    progress.store(i, Ordering::Relaxed);
    out.flush()?;
    Ok(i)
}
