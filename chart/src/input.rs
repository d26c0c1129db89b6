//! Reading the input: every byte goes on to stdout unchanged (when it is passed through), every
//! line is parsed into a row for the store, and bad lines are reported apart from the data.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use kds_common::diag;
use kds_common::first_few::{self, FirstFew};

use crate::data::{parse_row, Fields, Store};

/// How many bad lines are described one by one; after that only the total is printed.
pub const BAD_LINES_SHOWN: u64 = first_few::SHOWN;

/// Bad-line messages on stderr: the first few in full, then a count. While the live view owns
/// the terminal they are held back (stderr is usually that terminal) and printed after it.
#[derive(Debug, Default)]
pub struct BadLines {
    counted: FirstFew,
    held: Mutex<Option<Vec<String>>>,
}

impl BadLines {
    pub fn total(&self) -> u64 {
        self.counted.seen()
    }

    /// Holds messages back until [`BadLines::release`].
    pub fn hold(&self) {
        if let Ok(mut held) = self.held.lock() {
            *held = Some(Vec::new());
        }
    }

    /// Prints the held messages and prints later ones at once.
    pub fn release(&self) {
        let held = self.held.lock().ok().and_then(|mut held| held.take());
        for message in held.into_iter().flatten() {
            diag!("{message}");
        }
    }

    pub fn report(&self, source: &str, line: u64, reason: &str) {
        let Some(n) = self.counted.next() else {
            return;
        };
        let mut message = format!("kds-chart: {source}line {line}: {reason}");
        if n == BAD_LINES_SHOWN {
            message.push_str(" (further bad lines are only counted)");
        }
        match self.held.lock() {
            Ok(mut held) if held.is_some() => held.get_or_insert_with(Vec::new).push(message),
            _ => diag!("{message}"),
        }
    }

    /// The closing count, when some lines were not described.
    pub fn summary(&self) {
        let total = self.total();
        if self.counted.unshown() > 0 {
            diag!("kds-chart: {total} bad lines in total (passed through, not drawn)");
        }
    }
}

/// Where the input's bytes go besides the chart.
pub enum PassThrough {
    /// stdout is a terminal: the chart is the output.
    Off,
    /// stdout is a pipe or file: the input, byte for byte.
    On(Box<dyn Write + Send>),
}

/// Reads every input in order (none, or `-`, is stdin) into the store, passing the bytes
/// through. Ends at EOF, or early when the pass-through's reader went away (a closed pipe is
/// not an error, as in every kds tool).
pub fn feed(
    inputs: &[PathBuf],
    pass: &mut PassThrough,
    fields: &Fields,
    store: &Mutex<Store>,
    bad: &BadLines,
) -> anyhow::Result<()> {
    let stdin = [PathBuf::from("-")];
    let inputs = if inputs.is_empty() {
        &stdin[..]
    } else {
        inputs
    };
    for path in inputs {
        let (reader, source): (Box<dyn Read + Send>, String) = if path == Path::new("-") {
            (Box::new(io::stdin()), String::new())
        } else {
            let file =
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            (Box::new(file), format!("{}: ", path.display()))
        };
        let ended = feed_one(
            BufReader::with_capacity(64 * 1024, reader),
            &source,
            pass,
            fields,
            store,
            bad,
        )
        .with_context(|| match source.as_str() {
            "" => "reading stdin".to_string(),
            _ => format!("reading {}", path.display()),
        })?;
        if ended == Ended::ReaderGone {
            break;
        }
    }
    if let PassThrough::On(out) = pass {
        flush_or_gone(out.as_mut())?;
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Ended {
    Eof,
    ReaderGone,
}

fn feed_one<R: Read>(
    mut reader: BufReader<R>,
    source: &str,
    pass: &mut PassThrough,
    fields: &Fields,
    store: &Mutex<Store>,
    bad: &BadLines,
) -> anyhow::Result<Ended> {
    let mut line = Vec::with_capacity(1024);
    let mut number = 0u64;
    loop {
        // Flush before a read that may block, so rows reach the next tool as they arrive.
        if let PassThrough::On(out) = pass {
            if reader.buffer().is_empty() && !flush_or_gone(out.as_mut())? {
                return Ok(Ended::ReaderGone);
            }
        }
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(Ended::Eof);
        }
        number += 1;
        if let PassThrough::On(out) = pass {
            if !write_or_gone(out.as_mut(), &line)? {
                return Ok(Ended::ReaderGone);
            }
        }
        take_line(&line, number, source, fields, store, bad);
    }
}

fn take_line(
    line: &[u8],
    number: u64,
    source: &str,
    fields: &Fields,
    store: &Mutex<Store>,
    bad: &BadLines,
) {
    let text = line.strip_suffix(b"\n").unwrap_or(line);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    if text.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let added =
        parse_row(text, fields, kds_common::time::now_ms()).and_then(|row| match store.lock() {
            Ok(mut store) => store.add(row),
            Err(_) => Err("chart state lost".into()),
        });
    if let Err(reason) = added {
        bad.report(source, number, &reason);
    }
}

/// Writes; `false` when the reader of the pass-through went away.
fn write_or_gone(out: &mut dyn Write, bytes: &[u8]) -> io::Result<bool> {
    match out.write_all(bytes) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
    }
}

fn flush_or_gone(out: &mut dyn Write) -> io::Result<bool> {
    match out.flush() {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
    }
}

/// Ends the pass-through at once (the next tool sees EOF) while the view may stay open:
/// stdout is pointed at /dev/null, which also closes the pipe.
pub fn close_stdout() {
    let Ok(null) = File::options().write(true).open("/dev/null") else {
        return;
    };
    use std::os::fd::AsRawFd;
    // SAFETY: dup2 onto fd 1 with a valid open fd; the Rust stdout handle is not used for
    // the pass-through (it writes through its own buffer, flushed before this call).
    unsafe {
        libc::dup2(null.as_raw_fd(), libc::STDOUT_FILENO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kds_common::io::SharedBuf;

    #[test]
    fn passes_bytes_through_and_counts_bad_lines() {
        let input = b"{\"n\":1}\n\nnot json\r\n{\"n\":2}".to_vec();
        let out = SharedBuf::default();
        let mut pass = PassThrough::On(Box::new(out.clone()));
        let fields = Fields {
            x: None,
            y: vec!["n".into()],
            group_by: None,
        };
        let store = Mutex::new(Store::new(vec!["n".into()], 1, None));
        let bad = BadLines::default();
        bad.hold(); // counted, not printed into the test's output
        let ended = feed_one(
            BufReader::new(&input[..]),
            "",
            &mut pass,
            &fields,
            &store,
            &bad,
        )
        .expect("reads");
        assert_eq!(ended, Ended::Eof);
        assert_eq!(out.contents(), input);
        assert_eq!(bad.total(), 1);
        let store = store.lock().expect("not poisoned");
        let ys: Vec<f64> = store.panels[0][0].points.iter().map(|p| p.1).collect();
        assert_eq!(ys, vec![1.0, 2.0]);
    }
}
