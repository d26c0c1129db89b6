//! The progress line on stderr (indicatif), drawn by the stats [`Reporter`](crate::stats)'s
//! thread from the counters the tools already keep: nothing is added to their hot loops.
//!
//! On by default only when stderr is a terminal; `--progress` forces it on (a stderr that is a
//! file then gets one plain line per redraw), `--no-progress` off. At most [`REDRAWS_PER_SEC`].
//!
//! One terminal, one progress line: the tools of a pipeline share stderr, so a tool draws only
//! while it holds an exclusive `flock` on a lock file named after the terminal device. The
//! claim waits (see [`claim_delay`]) so that `kds-chart`, which claims at once for its live
//! view, always wins, and then the head of the pipeline (stdin not a pipe) before the tools it
//! feeds: the head usually finishes first, so the others' summaries print below a cleared bar.
//! Whoever loses stays silent for the whole run.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Byte counts the way the bar shows them (`1.50 MiB`), for the tools' progress text.
pub use indicatif::HumanBytes;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle, TermLike};

/// indicatif's draw-rate limit.
pub const REDRAWS_PER_SEC: u8 = 10;
/// How long a progress line waits before claiming the terminal (a bar is pointless before);
/// tools reading a pipe wait longer, so the pipeline's head claims first.
pub fn claim_delay() -> Duration {
    use std::os::unix::fs::FileTypeExt;
    let fed_by_pipe = std::fs::metadata("/dev/stdin").is_ok_and(|m| m.file_type().is_fifo());
    Duration::from_millis(if fed_by_pipe { 700 } else { 300 })
}

/// `--no-progress` wins, then `--progress` (or its environment variable), else a terminal.
pub fn wanted(on: bool, off: bool) -> bool {
    !off && (on || std::io::stderr().is_terminal())
}

/// The inputs' total size when every one is a regular file (none, `-`, a pipe: unknown), for
/// a bar with an ETA.
pub fn input_size(files: &[PathBuf]) -> Option<u64> {
    if files.is_empty() {
        return None;
    }
    files.iter().try_fold(0u64, |sum, path| {
        let meta = std::fs::metadata(path).ok()?;
        meta.is_file().then(|| sum + meta.len())
    })
}

/// What the bar counts: `total` when the input size is known (ETA shown); `bytes` when the
/// position is in bytes rather than records.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub total: Option<u64>,
    pub bytes: bool,
}

/// A progress line that has not drawn yet; [`Bar::claim`] decides whether it may.
pub struct Bar {
    bar: ProgressBar,
    /// The tool's stats text, drawn by the `{text}` key so that one update draws once.
    text: Arc<Mutex<String>>,
    claim: Option<File>,
}

impl Bar {
    /// A hidden bar for `tool`; call [`Bar::claim`] before the first update.
    pub fn new(tool: &'static str, spec: Spec) -> Bar {
        let bar = ProgressBar::with_draw_target(spec.total, ProgressDrawTarget::hidden());
        let text = Arc::new(Mutex::new(String::new()));
        bar.set_style(style(spec, Arc::clone(&text)));
        bar.set_prefix(tool);
        Bar {
            bar,
            text,
            claim: None,
        }
    }

    /// Starts drawing: on a terminal only with its lock held, elsewhere (`--progress` with
    /// stderr redirected) as plain lines.
    pub fn claim(&mut self) {
        let target = if std::io::stderr().is_terminal() {
            match claim_terminal(&std::io::stderr()) {
                Some(lock) => self.claim = Some(lock),
                None => return,
            }
            ProgressDrawTarget::stderr_with_hz(REDRAWS_PER_SEC)
        } else {
            ProgressDrawTarget::term_like_with_hz(Box::new(PlainLines), REDRAWS_PER_SEC)
        };
        self.bar.set_draw_target(target);
    }

    pub fn update(&self, pos: u64, text: String) {
        if let Ok(mut shown) = self.text.lock() {
            *shown = text;
        }
        self.bar.set_position(pos);
    }

    /// Prints a line above the bar (a `-v` stats line) without garbling it.
    pub fn println(&self, line: &str) {
        if self.bar.is_hidden() {
            crate::diag!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// Removes the bar, so the summary that follows stands alone.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn style(spec: Spec, text: Arc<Mutex<String>>) -> ProgressStyle {
    let style = ProgressStyle::with_template(&template(spec))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    style.with_key(
        "text",
        move |_: &ProgressState, out: &mut dyn std::fmt::Write| {
            if let Ok(text) = text.lock() {
                let _ = out.write_str(&text);
            }
        },
    )
}

/// `{text}` carries the tool's own counts and rates; the bar adds size, percent and ETA.
fn template(spec: Spec) -> String {
    let known = match (spec.bytes, spec.total.is_some()) {
        (true, true) => " {wide_bar} {bytes}/{total_bytes} ETA {eta}",
        (true, false) => " {bytes}",
        (false, true) => " {wide_bar} {percent}% ETA {eta}",
        (false, false) => "",
    };
    format!("{{prefix}} [{{elapsed_precise}}]{known} {{text}}")
}

/// Takes the progress lock of the terminal `tty` is open on, for the life of the returned
/// file; None when another process holds it (or there is no lock file: drawing could garble).
/// `kds-chart` holds it while its live view is up, so no progress line draws over the view.
pub fn claim_terminal(tty: &impl AsRawFd) -> Option<File> {
    let path = lock_path(tty.as_raw_fd())?;
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ok()?;
    // std's try_lock is flock(LOCK_EX | LOCK_NB) on Linux: held while `file` stays open.
    file.try_lock().is_ok().then_some(file)
}

/// `$TMPDIR/kds-progress-<uid>-<device>.lock`, the device being the terminal's own (`/dev/tty`
/// is an alias, so the name comes from ttyname).
fn lock_path(fd: RawFd) -> Option<PathBuf> {
    let mut name = [0u8; 256];
    // SAFETY: `name` is writable for its full length, which is passed as the buffer size.
    let failed = unsafe { libc::ttyname_r(fd, name.as_mut_ptr().cast(), name.len()) };
    if failed != 0 {
        return None;
    }
    let end = name.iter().position(|&b| b == 0)?;
    let device = std::str::from_utf8(&name[..end]).ok()?;
    let meta = std::fs::metadata(device).ok()?;
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let file = format!("kds-progress-{uid}-{}.lock", meta.rdev());
    Some(std::env::temp_dir().join(file))
}

/// A "terminal" for a redirected stderr: each redraw is one plain line, no cursor moves.
#[derive(Debug)]
struct PlainLines;

impl TermLike for PlainLines {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.write_str(s)
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        // indicatif pads to the width and leaves the last line open: one trimmed line each.
        match s.trim_end() {
            "" => Ok(()),
            line => writeln!(std::io::stderr(), "{line}"),
        }
    }
    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_progress_beats_progress() {
        assert!(!wanted(true, true));
        assert!(wanted(true, false));
    }

    #[test]
    fn templates_parse_for_every_spec() {
        for bytes in [false, true] {
            for total in [None, Some(10)] {
                let spec = Spec { total, bytes };
                let parsed = ProgressStyle::with_template(&template(spec));
                assert!(parsed.is_ok(), "{}", template(spec));
            }
        }
    }

    #[test]
    fn input_size_is_known_only_for_regular_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, b"12345").expect("write a");
        std::fs::write(&b, b"678").expect("write b");
        assert_eq!(input_size(&[a.clone(), b]), Some(8));
        assert_eq!(input_size(&[]), None, "stdin");
        assert_eq!(
            input_size(&[a, "/dev/null".into()]),
            None,
            "not a regular file"
        );
    }
}
