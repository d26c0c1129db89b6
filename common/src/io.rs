//! NDJSON input and output: big buffered reads with borrowed lines, and a buffered writer.
//!
//! Reads come in blocks of [`READ_BLOCK`] bytes; lines are found with `memchr` and handed out as
//! slices of the block, so reading allocates nothing per line.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;

/// Size of one read: large reads are what keep a pipe near memory speed (measured in bench/RESULTS.md).
pub const READ_BLOCK: usize = 1 << 20;
/// Pipe size asked for on stdin/stdout (best effort; bounded by /proc/sys/fs/pipe-max-size).
pub const PIPE_SIZE: usize = 1 << 20;

/// One input line, without its `\n`, and its 1-based number across all inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    pub number: u64,
    pub bytes: &'a [u8],
}

/// A run of whole lines: every line ends with `\n` except possibly the last line of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block<'a> {
    /// Number of the first line in `bytes`.
    pub first_line: u64,
    pub bytes: &'a [u8],
}

/// One input named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputPath {
    Stdin,
    File(PathBuf),
}

/// Resolves input arguments: none, or `-`, is stdin. A file that cannot be opened fails here,
/// before any output is written.
pub fn input_paths(paths: &[PathBuf]) -> anyhow::Result<Vec<InputPath>> {
    if paths.is_empty() {
        return Ok(vec![InputPath::Stdin]);
    }
    paths
        .iter()
        .map(|p| {
            if p.as_os_str() == "-" {
                Ok(InputPath::Stdin)
            } else {
                File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
                Ok(InputPath::File(p.clone()))
            }
        })
        .collect()
}

/// Makes room after the unread bytes `buf[start..end]` of a read buffer: moves them to the
/// front (`start` becomes 0) and, when they fill the whole buffer (a line longer than it),
/// doubles the buffer.
pub fn make_room(buf: &mut Vec<u8>, start: &mut usize, end: &mut usize) {
    if *start > 0 {
        buf.copy_within(*start..*end, 0);
        *end -= *start;
        *start = 0;
    }
    if *end == buf.len() {
        let grown = (buf.len() * 2).max(1);
        buf.resize(grown, 0);
    }
}

/// Reads lines from stdin or a list of files, one after another.
pub struct LineReader {
    sources: Vec<Source>,
    current: Option<Box<dyn Read + Send>>,
    buf: Vec<u8>,
    /// Bytes `start..end` of `buf` are read but not yet handed out.
    start: usize,
    end: usize,
    eof: bool,
    next_line: u64,
    /// True when the last read returned less than asked: input is live (a pipe with a writer
    /// that has not caught up), so callers should flush their output.
    short_read: bool,
    /// Bytes read so far, for a progress line; updated once per read, not per line.
    bytes_read: Option<Arc<AtomicU64>>,
}

enum Source {
    Stdin,
    File(PathBuf),
    Reader(Box<dyn Read + Send>),
}

impl LineReader {
    /// Opens the given paths in order; no paths, or `-`, means stdin.
    pub fn open(paths: &[PathBuf]) -> anyhow::Result<LineReader> {
        let sources = input_paths(paths)?
            .into_iter()
            .map(|p| match p {
                InputPath::Stdin => Source::Stdin,
                InputPath::File(path) => Source::File(path),
            })
            .collect();
        Ok(LineReader::with_sources(sources))
    }

    /// Reads from any reader (tests, sockets).
    pub fn new(reader: impl Read + Send + 'static) -> LineReader {
        LineReader::with_sources(vec![Source::Reader(Box::new(reader))])
    }

    fn with_sources(mut sources: Vec<Source>) -> LineReader {
        sources.reverse(); // popped from the back
        LineReader {
            sources,
            current: None,
            buf: vec![0; READ_BLOCK],
            start: 0,
            end: 0,
            eof: false,
            next_line: 1,
            short_read: false,
            bytes_read: None,
        }
    }

    /// True when the most recent read returned fewer bytes than asked (live input).
    pub fn input_is_live(&self) -> bool {
        self.short_read
    }

    /// A counter of the bytes read from the inputs from now on (a progress line's position),
    /// bumped once per read block so that counting costs nothing per line.
    pub fn count_bytes(&mut self) -> Arc<AtomicU64> {
        Arc::clone(self.bytes_read.get_or_insert_with(Arc::default))
    }

    /// Number the next line handed out will have.
    pub fn next_line_number(&self) -> u64 {
        self.next_line
    }

    fn open_next(&mut self) -> io::Result<bool> {
        match self.sources.pop() {
            None => Ok(false),
            Some(Source::Stdin) => {
                enlarge_pipe(0, PIPE_SIZE);
                self.current = Some(Box::new(io::stdin()));
                Ok(true)
            }
            Some(Source::File(path)) => {
                let file = File::open(&path).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display()))
                })?;
                self.current = Some(Box::new(file));
                Ok(true)
            }
            Some(Source::Reader(r)) => {
                self.current = Some(r);
                Ok(true)
            }
        }
    }

    /// Reads more bytes after `end`, moving unread bytes to the front (and growing the buffer
    /// for lines longer than it). Returns false at the end of all inputs.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        make_room(&mut self.buf, &mut self.start, &mut self.end);
        loop {
            if self.current.is_none() && !self.open_next()? {
                self.eof = true;
                return Ok(false);
            }
            let reader = self.current.as_mut().expect("opened above");
            let want = self.buf.len() - self.end;
            match reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.current = None;
                    // A file that does not end in '\n' still ends its last line.
                    if self.end > self.start && self.buf[self.end - 1] != b'\n' {
                        return Ok(true);
                    }
                }
                Ok(n) => {
                    self.short_read = n < want;
                    self.end += n;
                    if let Some(counter) = &self.bytes_read {
                        counter.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The next line, or None at the end of the input.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        let mut searched = self.start;
        loop {
            if let Some(pos) = memchr::memchr(b'\n', &self.buf[searched..self.end]) {
                let line_end = searched + pos;
                let line = Line {
                    number: self.next_line,
                    bytes: &self.buf[self.start..line_end],
                };
                self.next_line += 1;
                self.start = line_end + 1;
                return Ok(Some(line));
            }
            let unread_before = self.end - self.start;
            // fill() moves unread bytes to the front, so search on from where we stopped.
            if !self.fill()? || self.end - self.start == unread_before {
                // End of input, or a file ended without '\n': the tail is a line of its own.
                return Ok(self.take_tail());
            }
            searched = self.start + unread_before;
        }
    }

    fn take_tail(&mut self) -> Option<Line<'_>> {
        if self.start == self.end {
            return None;
        }
        let line = Line {
            number: self.next_line,
            bytes: &self.buf[self.start..self.end],
        };
        self.next_line += 1;
        self.start = self.end;
        Some(line)
    }

    /// The next run of whole lines (at most about one read block), or None at the end.
    pub fn next_block(&mut self) -> io::Result<Option<Block<'_>>> {
        loop {
            if self.start < self.end {
                if let Some(pos) = memchr::memrchr(b'\n', &self.buf[self.start..self.end]) {
                    let block_end = self.start + pos + 1;
                    let bytes = &self.buf[self.start..block_end];
                    let first_line = self.next_line;
                    self.next_line += memchr::memchr_iter(b'\n', bytes).count() as u64;
                    self.start = block_end;
                    return Ok(Some(Block { first_line, bytes }));
                }
            }
            let unread_before = self.end - self.start;
            if !self.fill()? || self.end - self.start == unread_before {
                // End of input, or a file ended without '\n': its tail is a line of its own.
                if self.start == self.end {
                    return Ok(None);
                }
                let first_line = self.next_line;
                self.next_line += 1;
                let bytes = &self.buf[self.start..self.end];
                self.start = self.end;
                return Ok(Some(Block { first_line, bytes }));
            }
        }
    }
}

/// Asks the kernel for a bigger pipe buffer on `fd` when it is a pipe. Best effort: errors are
/// ignored because a small pipe is only slower, not wrong.
pub fn enlarge_pipe(fd: RawFd, bytes: usize) {
    #[cfg(target_os = "linux")]
    // SAFETY: fstat and fcntl only read/modify kernel state of an fd we were given; a bad fd
    // makes them return an error, which we ignore.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFIFO {
            let _ = libc::fcntl(fd, libc::F_SETPIPE_SZ, bytes as libc::c_int);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (fd, bytes);
}

/// Size of the output buffer: large writes for throughput, flushed by the caller when live.
pub const WRITE_BUFFER: usize = 256 << 10;

/// A buffered writer for stdout or a file. The caller decides when to flush (after each batch,
/// window or row group, and before blocking), so live pipes see output promptly.
pub struct Output {
    inner: Box<dyn Write + Send>,
    buf: Vec<u8>,
}

impl Output {
    pub fn stdout() -> Output {
        enlarge_pipe(1, PIPE_SIZE);
        Output::new(io::stdout())
    }

    /// Creates (truncates) a file.
    pub fn file(path: &Path) -> anyhow::Result<Output> {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Output::new(file))
    }

    /// Opens a file for appending, creating it when missing.
    pub fn append(path: &Path) -> anyhow::Result<Output> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Output::new(file))
    }

    pub fn new(inner: impl Write + Send + 'static) -> Output {
        Output {
            inner: Box::new(inner),
            buf: Vec::with_capacity(WRITE_BUFFER),
        }
    }

    /// Appends bytes; writes through when the buffer is full.
    #[inline]
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.buf.len() + bytes.len() > WRITE_BUFFER {
            self.drain()?;
            if bytes.len() > WRITE_BUFFER {
                return self.inner.write_all(bytes);
            }
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Appends a line and its `\n`.
    #[inline]
    pub fn write_line(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_all(bytes)?;
        self.write_all(b"\n")
    }

    /// The buffer, for callers that format straight into it (then call [`Output::commit`]).
    #[inline]
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Writes through when the buffer has grown past its size (after direct formatting).
    #[inline]
    pub fn commit(&mut self) -> io::Result<()> {
        if self.buf.len() >= WRITE_BUFFER {
            self.drain()?;
        }
        Ok(())
    }

    /// Bytes waiting in the buffer.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    fn drain(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let result = self.inner.write_all(&self.buf);
            self.buf.clear();
            result?;
        }
        Ok(())
    }

    /// Writes everything buffered and flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.inner.flush()
    }
}

impl Write for Output {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.write_all(bytes)?;
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Output::flush(self)
    }
}

/// A `Write` into a shared `Vec<u8>`, for tests that inspect what a tool wrote.
#[derive(Clone, Default)]
pub struct SharedBuf(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuf {
    pub fn contents(&self) -> Vec<u8> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Write for SharedBuf {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reader that hands out at most `chunk` bytes per read, to exercise refills.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        chunk: usize,
    }

    #[test]
    fn byte_counter_sums_every_read() {
        let data = b"one\ntwo\nthree\n".to_vec();
        let total = data.len() as u64;
        let mut r = LineReader::new(Trickle {
            data,
            pos: 0,
            chunk: 3,
        });
        let counter = r.count_bytes();
        let mut lines = 0;
        while r.next_line().expect("read").is_some() {
            lines += 1;
        }
        assert_eq!(lines, 3);
        assert_eq!(counter.load(Ordering::Relaxed), total);
    }
    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.chunk.min(out.len()).min(self.data.len() - self.pos);
            out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn lines_of(data: &[u8], chunk: usize) -> Vec<(u64, Vec<u8>)> {
        let mut r = LineReader::new(Trickle {
            data: data.to_vec(),
            pos: 0,
            chunk,
        });
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push((l.number, l.bytes.to_vec()));
        }
        out
    }

    #[test]
    fn lines_with_and_without_final_newline() {
        for chunk in [1, 2, 3, 7, 1 << 20] {
            assert_eq!(
                lines_of(b"a\nbb\n\nccc", chunk),
                vec![
                    (1, b"a".to_vec()),
                    (2, b"bb".to_vec()),
                    (3, b"".to_vec()),
                    (4, b"ccc".to_vec())
                ],
                "chunk {chunk}"
            );
            assert_eq!(lines_of(b"x\n", chunk), vec![(1, b"x".to_vec())]);
            assert!(lines_of(b"", chunk).is_empty());
        }
    }

    #[test]
    fn crlf_is_kept() {
        assert_eq!(
            lines_of(b"a\r\nb", 4),
            vec![(1, b"a\r".to_vec()), (2, b"b".to_vec())]
        );
    }

    #[test]
    fn lines_longer_than_the_block_grow_the_buffer() {
        let mut data = vec![b'x'; READ_BLOCK * 2 + 5];
        data.push(b'\n');
        data.extend_from_slice(b"tail");
        let lines = lines_of(&data, 64 << 10);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].1.len(), READ_BLOCK * 2 + 5);
        assert_eq!(lines[1], (2, b"tail".to_vec()));
    }

    #[test]
    fn blocks_hold_whole_lines_and_number_them() {
        let data = b"l1\nl2\nl3\nl4".to_vec();
        let mut r = LineReader::new(Trickle {
            data,
            pos: 0,
            chunk: 4,
        });
        let mut joined = Vec::new();
        let mut firsts = Vec::new();
        while let Some(b) = r.next_block().unwrap() {
            firsts.push(b.first_line);
            joined.extend_from_slice(b.bytes);
            assert!(b.bytes.ends_with(b"\n") || b.bytes == b"l4");
        }
        assert_eq!(joined, b"l1\nl2\nl3\nl4");
        assert_eq!(firsts.first(), Some(&1));
        assert_eq!(r.next_line_number(), 5);
    }

    #[test]
    fn files_are_read_in_order_and_numbering_continues() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, "1\n2").unwrap(); // no final newline: still its own line
        std::fs::write(&b, "3\n").unwrap();
        let mut r = LineReader::open(&[a, b]).unwrap();
        let mut got = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            got.push((l.number, String::from_utf8(l.bytes.to_vec()).unwrap()));
        }
        assert_eq!(got, vec![(1, "1".into()), (2, "2".into()), (3, "3".into())]);
    }

    #[test]
    fn missing_file_is_an_error_naming_it() {
        let err = LineReader::open(&[PathBuf::from("/nonexistent/x.ndjson")])
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent/x.ndjson"));
    }

    #[test]
    fn output_buffers_and_flushes() {
        let shared = SharedBuf::default();
        let mut out = Output::new(shared.clone());
        out.write_line(b"one").unwrap();
        assert!(shared.contents().is_empty());
        out.flush().unwrap();
        assert_eq!(shared.contents(), b"one\n");
        let big = vec![b'z'; WRITE_BUFFER + 10];
        out.write_all(&big).unwrap();
        assert_eq!(shared.contents().len(), 4 + big.len());
    }

    #[test]
    fn closed_pipe_is_a_broken_pipe_error() {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut out = Output::new(writer);
        out.write_line(b"x").unwrap();
        let err = out.flush().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
