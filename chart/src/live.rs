//! The live view: rows are read on their own thread (which also does the pass-through), the
//! terminal is drawn on /dev/tty once per tick, keys are read between ticks. Quitting the view
//! restores the terminal; the pass-through goes on until the input ends.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use kds_common::diag;
use kds_common::exit::Exit;
use kds_common::signal::Shutdown;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::Terminal;

use crate::data::Store;
use crate::input::{close_stdout, feed, BadLines, PassThrough};
use crate::view::{draw, Status};
use crate::Config;

/// The rows/s figure is measured over this much recent time.
const RATE_SPAN: Duration = Duration::from_secs(5);

/// Runs the view until `q` (or the input ends, with `--exit-on-eof`), then finishes the
/// pass-through.
pub fn run(config: &Config, mut pass: PassThrough, shutdown: &Shutdown) -> anyhow::Result<Exit> {
    let passing = matches!(pass, PassThrough::On(_));
    let store = Arc::new(Mutex::new(Store::new(
        config.fields.y.clone(),
        config.max_groups,
        Some(config.points),
    )));
    let bad = Arc::new(BadLines::default());
    let tty = match File::options().read(true).write(true).open("/dev/tty") {
        Ok(tty) => tty,
        Err(e) if passing => {
            diag!(
                "kds-chart: no terminal to draw on (/dev/tty: {e}): passing the input through only"
            );
            feed(&config.inputs, &mut pass, &config.fields, &store, &bad)?;
            bad.summary();
            return Ok(Exit::Ok);
        }
        Err(e) => return Err(e).context("cannot open the terminal /dev/tty"),
    };
    // The other tools' progress lines stay off this terminal while the view is up.
    let _progress_lock = kds_common::progress::claim_terminal(&tty);
    let ended = Arc::new(AtomicBool::new(false));
    bad.hold();
    let reader = {
        let (config, store, bad, ended) =
            (config.clone(), store.clone(), bad.clone(), ended.clone());
        thread::Builder::new()
            .name("kds-chart-input".into())
            .spawn(move || {
                let result = feed(&config.inputs, &mut pass, &config.fields, &store, &bad);
                if passing {
                    close_stdout();
                }
                ended.store(true, Ordering::SeqCst);
                result
            })
            .context("cannot start the input thread")?
    };
    let drawn = draw_until_quit(tty, config, &store, &bad, &ended, shutdown);
    bad.release();
    drawn?;
    if passing || ended.load(Ordering::SeqCst) {
        reader
            .join()
            .map_err(|_| anyhow::anyhow!("the input thread panicked"))??;
    }
    bad.summary();
    Ok(Exit::Ok)
}

/// Raw mode and the alternate screen on the terminal, undone on drop (also on error).
struct Screen {
    terminal: Terminal<CrosstermBackend<File>>,
}

impl Screen {
    fn open(tty: File) -> anyhow::Result<Screen> {
        terminal::enable_raw_mode().context("cannot switch the terminal to raw mode")?;
        let mut backend = CrosstermBackend::new(tty);
        let entered = execute!(backend, terminal::EnterAlternateScreen, cursor::Hide)
            .map_err(anyhow::Error::from)
            .and_then(|()| Terminal::new(backend).map_err(anyhow::Error::from));
        match entered {
            Ok(terminal) => Ok(Screen { terminal }),
            Err(e) => {
                let _ = terminal::disable_raw_mode();
                Err(e.context("cannot draw on the terminal"))
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = execute!(
            self.terminal.backend_mut(),
            terminal::LeaveAlternateScreen,
            cursor::Show
        );
        let _ = terminal::disable_raw_mode();
    }
}

fn draw_until_quit(
    tty: File,
    config: &Config,
    store: &Mutex<Store>,
    bad: &BadLines,
    ended: &AtomicBool,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let mut screen = Screen::open(tty)?;
    let mut frozen: Option<Store> = None;
    let mut rate = RowRate::default();
    loop {
        let is_ended = ended.load(Ordering::SeqCst);
        let snapshot = match &frozen {
            Some(store) => store.clone(),
            None => store
                .lock()
                .map_err(|_| anyhow::anyhow!("chart state lost"))?
                .clone(),
        };
        let status = Status {
            rows_per_s: rate.sample(snapshot.rows),
            bad_lines: bad.total(),
            paused: frozen.is_some(),
            ended: is_ended,
        };
        screen
            .terminal
            .draw(|frame| draw(frame, &snapshot, status))
            .context("cannot draw on the terminal")?;
        if shutdown.requested() || (is_ended && config.exit_on_eof) {
            return Ok(());
        }
        match next_key(config.tick)? {
            Key::Quit => return Ok(()),
            Key::Pause if frozen.is_some() => frozen = None,
            Key::Pause => frozen = Some(snapshot),
            Key::None => {}
        }
    }
}

enum Key {
    Quit,
    Pause,
    None,
}

/// Waits up to one tick for a key: q, Esc or Ctrl-C quit (raw mode turns Ctrl-C into a key);
/// p or space pause.
fn next_key(tick: Duration) -> io::Result<Key> {
    if !event::poll(tick)? {
        return Ok(Key::None);
    }
    let Event::Key(key) = event::read()? else {
        return Ok(Key::None);
    };
    if key.kind != KeyEventKind::Press {
        return Ok(Key::None);
    }
    Ok(match key.code {
        KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc => Key::Quit,
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Key::Quit,
        KeyCode::Char('p') | KeyCode::Char('P') | KeyCode::Char(' ') => Key::Pause,
        _ => Key::None,
    })
}

/// Rows per second over the last few seconds of samples.
#[derive(Default)]
struct RowRate {
    samples: VecDeque<(Instant, u64)>,
}

impl RowRate {
    fn sample(&mut self, rows: u64) -> f64 {
        let now = Instant::now();
        self.samples.push_back((now, rows));
        while self.samples.len() > 2
            && self
                .samples
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > RATE_SPAN)
        {
            self.samples.pop_front();
        }
        match self.samples.front() {
            Some(&(t, first)) if now > t => {
                (rows - first) as f64 / now.duration_since(t).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}
