//! The command line's input: stdin and files read in the calling thread into one reusable
//! buffer, with `poll()` before each read of a pipe, terminal or socket, so the caller can wait
//! for input and for the clock (rowtime windows, signals) at once, without a reader thread or
//! a copy of the data.
//!
//! Line semantics are [`kds_common::io::LineReader`]'s: blocks of whole lines, a last line
//! without `\n` at the end of a source is a line of its own, line numbers continue across
//! sources. A pipe on any input is enlarged to [`PIPE_SIZE`] (best effort).

use std::fs::File;
use std::io::{self, Read};
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

use kds_common::io::{enlarge_pipe, Block, PIPE_SIZE};

/// Bytes asked for by one read, the size of the (enlarged) pipe. 128 KiB to 2 MiB measured
/// alike within the noise of a loaded machine.
pub const READ_SIZE: usize = 1 << 20;

/// What [`Input::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<'a> {
    /// Whole lines (the last one may lack `\n` at the end of a source).
    Block(Block<'a>),
    /// No complete line arrived within the timeout (or a signal interrupted the wait).
    Idle,
    /// Every input has ended.
    End,
}

enum Source {
    Stdin,
    Path(PathBuf),
    Fd(OwnedFd),
}

/// An open input. Stdin is borrowed (never closed); files and given fds are owned.
struct Open {
    file: ManuallyDrop<File>,
    owned: bool,
    /// Reads may wait for a writer (not a regular file): poll first.
    poll: bool,
    stdin: bool,
}

impl Drop for Open {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: dropped exactly once, here; stdin (not owned) is left open.
            unsafe { ManuallyDrop::drop(&mut self.file) }
        }
    }
}

impl Open {
    fn new(file: File, owned: bool, stdin: bool) -> Open {
        let fd = file.as_raw_fd();
        enlarge_pipe(fd, PIPE_SIZE);
        let regular = file.metadata().is_ok_and(|m| m.is_file());
        Open {
            file: ManuallyDrop::new(file),
            owned,
            poll: !regular,
            stdin,
        }
    }
}

/// What one wait-and-read did.
enum Read1 {
    Bytes(usize),
    Eof,
    Idle,
}

/// Stdin, files or fds, one after another, read into one buffer.
pub struct Input {
    /// Inputs not yet opened, last first.
    sources: Vec<Source>,
    current: Option<Open>,
    buf: Vec<u8>,
    /// `buf[start..end]` is read and not yet handed out; it holds no `\n` between calls.
    start: usize,
    end: usize,
    next_line: u64,
    short_read: bool,
}

impl Input {
    /// Opens the given paths in order (none, or `-`, is stdin). A missing file fails here,
    /// before any output is written.
    pub fn open(paths: &[PathBuf]) -> anyhow::Result<Input> {
        let sources = kds_common::io::input_paths(paths)?
            .into_iter()
            .map(|p| match p {
                kds_common::io::InputPath::Stdin => Source::Stdin,
                kds_common::io::InputPath::File(path) => Source::Path(path),
            })
            .collect();
        Ok(Input::with_sources(sources))
    }

    /// Reads one already open file descriptor (a pipe in tests, a socket).
    pub fn from_fd(fd: impl Into<OwnedFd>) -> Input {
        Input::with_sources(vec![Source::Fd(fd.into())])
    }

    fn with_sources(mut sources: Vec<Source>) -> Input {
        sources.reverse();
        Input {
            sources,
            current: None,
            buf: vec![0; READ_SIZE],
            start: 0,
            end: 0,
            next_line: 1,
            short_read: false,
        }
    }

    /// True when the last read returned less than asked: the input is live, not a backlog.
    pub fn input_is_live(&self) -> bool {
        self.short_read
    }

    /// Number the next line handed out will have.
    pub fn next_line_number(&self) -> u64 {
        self.next_line
    }

    fn open_next(&mut self) -> io::Result<bool> {
        let open = match self.sources.pop() {
            None => return Ok(false),
            // SAFETY: fd 0 stays open for the life of the process; `Open` never closes it.
            Some(Source::Stdin) => Open::new(unsafe { File::from_raw_fd(0) }, false, true),
            Some(Source::Path(path)) => {
                let file = File::open(&path).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display()))
                })?;
                Open::new(file, true, false)
            }
            Some(Source::Fd(fd)) => Open::new(File::from(fd), true, false),
        };
        self.current = Some(open);
        Ok(true)
    }

    /// Waits up to `timeout` for input on a pipe, then reads once into `buf[end..]`.
    fn read_some(&mut self, timeout: Duration) -> io::Result<Read1> {
        let open = self.current.as_mut().expect("an open input");
        if open.poll && !wait_readable(open.file.as_raw_fd(), timeout)? {
            return Ok(Read1::Idle);
        }
        let want = self.buf.len() - self.end;
        match open.file.read(&mut self.buf[self.end..]) {
            Ok(0) => Ok(Read1::Eof),
            Ok(n) => {
                self.short_read = n < want;
                Ok(Read1::Bytes(n))
            }
            // A signal: let the caller look at its shutdown flag. A non-blocking fd that
            // polled ready but had nothing (another reader won): wait again.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) =>
            {
                Ok(Read1::Idle)
            }
            // A closed stdin reads as empty input, as Rust's `io::stdin()` does.
            Err(e) if open.stdin && e.raw_os_error() == Some(libc::EBADF) => Ok(Read1::Eof),
            Err(e) => Err(e),
        }
    }

    /// The next block of whole lines, [`Next::Idle`] when none is complete within `timeout`
    /// (only inputs that can wait, such as pipes, ever wait), or [`Next::End`].
    pub fn next(&mut self, timeout: Duration) -> io::Result<Next<'_>> {
        loop {
            if self.current.is_none() && !self.open_next()? {
                return Ok(Next::End);
            }
            // Unread bytes (part of a line) move to the front; a line longer than the buffer
            // grows it.
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                let grown = self.buf.len() * 2;
                self.buf.resize(grown, 0);
            }
            match self.read_some(timeout)? {
                Read1::Idle => return Ok(Next::Idle),
                Read1::Eof => {
                    self.current = None;
                    if self.end > self.start {
                        // A source that does not end in '\n' still ends its last line.
                        return Ok(Next::Block(self.take(self.end, 1)));
                    }
                }
                Read1::Bytes(n) => {
                    let old_end = self.end;
                    self.end += n;
                    if let Some(pos) = memchr::memrchr(b'\n', &self.buf[old_end..self.end]) {
                        let block_end = old_end + pos + 1;
                        let lines =
                            memchr::memchr_iter(b'\n', &self.buf[self.start..block_end]).count();
                        return Ok(Next::Block(self.take(block_end, lines as u64)));
                    }
                    // Only part of a line so far: a pipe goes back to the caller (its clock),
                    // a file reads on.
                    if self.current.as_ref().is_some_and(|o| o.poll) {
                        return Ok(Next::Idle);
                    }
                }
            }
        }
    }

    fn take(&mut self, block_end: usize, lines: u64) -> Block<'_> {
        let first_line = self.next_line;
        self.next_line += lines;
        let bytes = &self.buf[self.start..block_end];
        self.start = block_end;
        Block { first_line, bytes }
    }
}

/// Waits until `fd` is readable (or at its end) for at most `timeout`. False on a timeout or
/// when a signal interrupted the wait.
fn wait_readable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd, its count is 1.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e);
    }
    // Readable, hung up, an error or an invalid fd: the read tells which.
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;
    use std::time::Instant;

    /// Every block until the end, as (first line, bytes); Idle results are skipped.
    fn drain(input: &mut Input) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            match input.next(Duration::from_millis(50)).unwrap() {
                Next::Block(b) => out.push((b.first_line, b.bytes.to_vec())),
                Next::Idle => {}
                Next::End => return out,
            }
        }
    }

    fn lines(blocks: &[(u64, Vec<u8>)]) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        for (first, bytes) in blocks {
            let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
            for (n, l) in (*first..).zip(body.split(|&b| b == b'\n')) {
                out.push((n, l.to_vec()));
            }
        }
        out
    }

    #[test]
    fn a_pipe_waits_idle_then_hands_out_whole_lines_across_reads() {
        let (r, mut w) = std::io::pipe().unwrap();
        let mut input = Input::from_fd(r);
        let t = Instant::now();
        assert_eq!(input.next(Duration::from_millis(30)).unwrap(), Next::Idle);
        assert!(
            t.elapsed() >= Duration::from_millis(25),
            "poll did not wait"
        );

        // A line split across writes comes out whole, once.
        w.write_all(b"{\"a\":1}\n{\"a\"").unwrap();
        match input.next(Duration::from_secs(1)).unwrap() {
            Next::Block(b) => assert_eq!((b.first_line, b.bytes), (1, &b"{\"a\":1}\n"[..])),
            other => panic!("{other:?}"),
        }
        assert_eq!(input.next(Duration::from_millis(10)).unwrap(), Next::Idle);
        w.write_all(b":2}\n\n{\"a\":3}").unwrap();
        match input.next(Duration::from_secs(1)).unwrap() {
            Next::Block(b) => assert_eq!((b.first_line, b.bytes), (2, &b"{\"a\":2}\n\n"[..])),
            other => panic!("{other:?}"),
        }
        // The writer closes: the last line without '\n' is a line of its own.
        drop(w);
        match input.next(Duration::from_secs(1)).unwrap() {
            Next::Block(b) => assert_eq!((b.first_line, b.bytes), (4, &b"{\"a\":3}"[..])),
            other => panic!("{other:?}"),
        }
        assert_eq!(input.next(Duration::from_secs(1)).unwrap(), Next::End);
        assert_eq!(input.next(Duration::from_secs(1)).unwrap(), Next::End);
    }

    #[test]
    fn files_continue_line_numbers_and_end_unterminated_lines() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, b"1\n2\n3").unwrap();
        std::fs::write(&b, b"4\n\n6\n").unwrap();
        let mut input = Input::open(&[a, b]).unwrap();
        let got = lines(&drain(&mut input));
        let want: Vec<(u64, Vec<u8>)> = ["1", "2", "3", "4", "", "6"]
            .iter()
            .enumerate()
            .map(|(i, s)| (i as u64 + 1, s.as_bytes().to_vec()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(input.next_line_number(), 7);
    }

    #[test]
    fn a_missing_file_fails_at_open() {
        let err = Input::open(&[PathBuf::from("/nonexistent/x.ndjson")]).err();
        let msg = format!("{:#}", err.unwrap());
        assert!(
            msg.starts_with("cannot open /nonexistent/x.ndjson"),
            "{msg}"
        );
    }

    #[test]
    fn lines_longer_than_the_buffer_and_many_small_writes_come_out_intact() {
        let (r, mut w) = std::io::pipe().unwrap();
        let long = vec![b'x'; 3 * READ_SIZE + 17];
        let mut expect = Vec::new();
        for i in 0..2000u64 {
            expect.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        expect.extend_from_slice(&long);
        expect.push(b'\n');
        expect.extend_from_slice(b"tail");
        let data = expect.clone();
        let writer = std::thread::spawn(move || {
            for piece in data.chunks(4093) {
                w.write_all(piece).unwrap();
            }
        });
        let mut input = Input::from_fd(r);
        let blocks = drain(&mut input);
        writer.join().unwrap();
        let joined: Vec<u8> = blocks.iter().flat_map(|b| b.1.clone()).collect();
        assert_eq!(joined, expect);
        // Every block but the last ends a line; first-line numbers follow each other.
        let mut n = 1;
        for (i, (first, bytes)) in blocks.iter().enumerate() {
            assert_eq!(*first, n);
            if i + 1 < blocks.len() {
                assert_eq!(bytes.last(), Some(&b'\n'));
            }
            n += memchr::memchr_iter(b'\n', bytes).count() as u64;
        }
        assert_eq!(input.next_line_number(), 2003);
    }
}
