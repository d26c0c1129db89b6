//! NDJSON input and output: the one line reader ([`LineReader`]: big reads or a mapping, borrowed
//! blocks and lines, poll for live inputs) and a buffered writer.
//!
//! Reads come in blocks of [`READ_BLOCK`] bytes; lines are found with `memchr` and handed out as
//! slices of the block, so reading allocates nothing per line.

mod map;
mod reader;

pub use map::MAP_MIN;
pub use reader::{LineReader, Next};

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

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
