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
    /// A large regular file is mapped and handed out without a copy; what follows the mapping
    /// (bytes appended while it was read) is read as usual.
    map: Option<Mapping>,
    /// How far into `map` blocks were handed out.
    map_pos: usize,
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
        let meta = file.metadata().ok();
        let regular = meta.as_ref().is_some_and(|m| m.is_file());
        let map = match &meta {
            Some(m) if regular && m.len() >= MAP_MIN as u64 => usize::try_from(m.len())
                .ok()
                .and_then(|len| Mapping::new(&file, len)),
            _ => None,
        };
        Open {
            file: ManuallyDrop::new(file),
            owned,
            poll: !regular,
            stdin,
            map,
            map_pos: 0,
        }
    }
}

/// Regular files at least this large are mapped instead of read (below it a read is as cheap).
pub const MAP_MIN: usize = 4 << 20;

/// A read-only private mapping of a whole file.
///
/// Why: reading a file costs a copy from the page cache (about a tenth of the lab query's
/// time); the mapping lets the scanner read the page cache directly. The usual caveat of
/// mappings applies: a file truncated by another process while it is read ends the process
/// with SIGBUS (as with ripgrep's mmap); files that only grow are fine.
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by one `Open`; moving it between threads is safe.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `file`, or `None` if the kernel refuses (then the file is read).
    fn new(file: &File, len: usize) -> Option<Mapping> {
        // SAFETY: a fresh read-only private mapping of an open fd; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: advice on the mapping just made; failure is harmless.
        unsafe { libc::madvise(ptr, len, libc::MADV_SEQUENTIAL) };
        Some(Mapping { ptr, len })
    }

    /// Drops the whole pages before `pos` from the process's resident set.
    fn release_before(&self, pos: usize) {
        let page = 4096;
        let upto = pos / page * page;
        if upto > 0 {
            // SAFETY: advice on our own read-only mapping; nothing of it before `pos` is read
            // again (a page read again would simply be faulted back in from the file).
            unsafe { libc::madvise(self.ptr, upto, libc::MADV_DONTNEED) };
        }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping once.
        unsafe { libc::munmap(self.ptr, self.len) };
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
    /// Lines of the block last handed out, once known: counted by the caller
    /// ([`Input::block_lines`]) or, if it did not say, by [`Input::next`] itself.
    last_block: LastBlock,
}

/// The block last handed out, until its lines are counted.
enum LastBlock {
    Counted,
    /// In `buf[start..end]`.
    Buffered(usize, usize),
    /// In the mapping at `start..end`.
    Mapped(usize, usize),
    /// A last line without `\n`.
    OneLine,
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
            last_block: LastBlock::Counted,
        }
    }

    /// Tells how many lines the block last handed out held (its `\n`s, plus one for a last line
    /// without `\n`), so that [`Input::next`] need not count them again.
    pub fn block_lines(&mut self, lines: u64) {
        if !matches!(self.last_block, LastBlock::Counted) {
            self.next_line += lines;
            self.last_block = LastBlock::Counted;
        }
    }

    /// Counts the lines of the block last handed out, unless the caller said how many.
    fn count_last_block(&mut self) {
        let lines = match self.last_block {
            LastBlock::Counted => return,
            LastBlock::OneLine => 1,
            LastBlock::Buffered(s, e) => memchr::memchr_iter(b'\n', &self.buf[s..e]).count(),
            LastBlock::Mapped(s, e) => match self.current.as_ref().and_then(|o| o.map.as_ref()) {
                Some(m) => memchr::memchr_iter(b'\n', &m.bytes()[s..e]).count(),
                None => 0,
            },
        };
        self.next_line += lines as u64;
        self.last_block = LastBlock::Counted;
    }

    /// True when the last read returned less than asked: the input is live, not a backlog.
    pub fn input_is_live(&self) -> bool {
        self.short_read
    }

    /// Number the next line handed out will have.
    pub fn next_line_number(&mut self) -> u64 {
        self.count_last_block();
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
        self.count_last_block();
        loop {
            if self.current.is_none() && !self.open_next()? {
                return Ok(Next::End);
            }
            if let Some(range) = self.next_mapped()? {
                let first_line = self.next_line;
                self.last_block = LastBlock::Mapped(range.start, range.end);
                let map = self
                    .current
                    .as_ref()
                    .and_then(|o| o.map.as_ref())
                    .expect("next_mapped returns a range only while a file is mapped");
                let bytes = &map.bytes()[range];
                return Ok(Next::Block(Block { first_line, bytes }));
            }
            // Unread bytes (part of a line) move to the front; a line longer than the buffer
            // grows it.
            kds_common::io::make_room(&mut self.buf, &mut self.start, &mut self.end);
            match self.read_some(timeout)? {
                Read1::Idle => return Ok(Next::Idle),
                Read1::Eof => {
                    self.current = None;
                    if self.end > self.start {
                        // A source that does not end in '\n' still ends its last line.
                        return Ok(Next::Block(self.take(self.end, true)));
                    }
                }
                Read1::Bytes(n) => {
                    let old_end = self.end;
                    self.end += n;
                    if let Some(pos) = memchr::memrchr(b'\n', &self.buf[old_end..self.end]) {
                        let block_end = old_end + pos + 1;
                        return Ok(Next::Block(self.take(block_end, false)));
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

    fn take(&mut self, block_end: usize, unterminated: bool) -> Block<'_> {
        let first_line = self.next_line;
        self.last_block = if unterminated {
            LastBlock::OneLine
        } else {
            LastBlock::Buffered(self.start, block_end)
        };
        let bytes = &self.buf[self.start..block_end];
        self.start = block_end;
        Block { first_line, bytes }
    }

    /// The next block of whole lines of a mapped file, about [`READ_SIZE`] long. When the
    /// mapping is used up, the file is read on from its end (bytes appended meanwhile); a last
    /// line without `\n` is left to that read, which knows whether more of it follows.
    fn next_mapped(&mut self) -> io::Result<Option<std::ops::Range<usize>>> {
        let Some(open) = self.current.as_mut() else {
            return Ok(None);
        };
        let Some(map) = open.map.as_ref() else {
            return Ok(None);
        };
        let bytes = map.bytes();
        let pos = open.map_pos;
        let limit = bytes.len().min(pos.saturating_add(READ_SIZE));
        let end = match memchr::memrchr(b'\n', &bytes[pos..limit]) {
            Some(p) => Some(pos + p + 1),
            // A line longer than a block: up to its end.
            None => memchr::memchr(b'\n', &bytes[limit..]).map(|p| limit + p + 1),
        };
        if let Some(end) = end {
            open.map_pos = end;
            // The blocks before this one are done with: drop their pages from this process
            // (they stay in the page cache), so the resident size stays that of one block.
            map.release_before(pos);
            return Ok(Some(pos..end));
        }
        // No whole line left: keep the rest as the start of the buffer and read on from the
        // mapping's end.
        let rest = &bytes[pos..];
        if self.buf.len() < rest.len() {
            self.buf.resize(rest.len().next_power_of_two(), 0);
        }
        self.buf[..rest.len()].copy_from_slice(rest);
        self.start = 0;
        self.end = rest.len();
        let resume = bytes.len() as u64;
        open.map = None;
        io::Seek::seek(&mut *open.file, io::SeekFrom::Start(resume))?;
        Ok(None)
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

    /// A file of `n` numbered lines, some long, `MAP_MIN`+ bytes so that it is mapped.
    fn big_file(dir: &std::path::Path, name: &str, terminated: bool) -> (PathBuf, Vec<Vec<u8>>) {
        let mut want = Vec::new();
        let mut bytes = Vec::new();
        let mut i = 0;
        while bytes.len() < MAP_MIN + READ_SIZE * 2 + 1000 {
            // Every 997th line is longer than a block, so a block must reach past READ_SIZE.
            let pad = if i % 997 == 500 {
                READ_SIZE + 17
            } else {
                i % 50
            };
            let line = format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(pad)).into_bytes();
            bytes.extend_from_slice(&line);
            bytes.push(b'\n');
            want.push(line);
            i += 1;
        }
        if !terminated {
            bytes.extend_from_slice(b"{\"last\":true}");
            want.push(b"{\"last\":true}".to_vec());
        }
        let path = dir.join(name);
        std::fs::write(&path, &bytes).unwrap();
        (path, want)
    }

    #[test]
    fn mapped_files_give_the_same_lines_and_numbers_as_reads() {
        let dir = tempfile::tempdir().unwrap();
        let (a, mut want) = big_file(dir.path(), "a", true);
        let (b, want_b) = big_file(dir.path(), "b", false);
        want.extend(want_b);
        let mut input = Input::open(&[a, b]).unwrap();
        // Blocks are mapped (not copied) where possible; lines and numbers are unchanged.
        let blocks = drain(&mut input);
        let got = lines(&blocks);
        assert_eq!(got.len(), want.len());
        for ((n, line), (i, w)) in got.iter().zip(want.iter().enumerate()) {
            assert_eq!(*n, i as u64 + 1);
            assert_eq!(line, w, "line {n}");
        }
    }

    #[test]
    fn the_caller_may_count_the_lines_of_a_block() {
        let dir = tempfile::tempdir().unwrap();
        let (a, want) = big_file(dir.path(), "a", false);
        let mut input = Input::open(&[a]).unwrap();
        let mut seen = 0u64;
        loop {
            match input.next(Duration::from_millis(50)).unwrap() {
                Next::Block(b) => {
                    assert_eq!(b.first_line, seen + 1);
                    let body = b.bytes.strip_suffix(b"\n").unwrap_or(b.bytes);
                    let n = body.split(|&c| c == b'\n').count() as u64;
                    seen += n;
                    input.block_lines(n);
                }
                Next::Idle => {}
                Next::End => break,
            }
        }
        assert_eq!(seen, want.len() as u64);
    }

    #[test]
    fn bytes_appended_to_a_mapped_file_while_it_is_read_are_read_too() {
        let dir = tempfile::tempdir().unwrap();
        let (a, mut want) = big_file(dir.path(), "a", false);
        let mut input = Input::open(std::slice::from_ref(&a)).unwrap();
        let mut blocks = Vec::new();
        match input.next(Duration::from_millis(50)).unwrap() {
            Next::Block(b) => blocks.push((b.first_line, b.bytes.to_vec())),
            other => panic!("{other:?}"),
        }
        // The unterminated last line goes on, and more lines follow.
        let mut f = std::fs::OpenOptions::new().append(true).open(&a).unwrap();
        f.write_all(b",\"more\":1}\n{\"after\":1}\n").unwrap();
        drop(f);
        let last = want.pop().unwrap();
        want.push([&last[..], b",\"more\":1}"].concat());
        want.push(b"{\"after\":1}".to_vec());
        blocks.extend(drain(&mut input));
        let got: Vec<Vec<u8>> = lines(&blocks).into_iter().map(|(_, l)| l).collect();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "appended bytes were not read");
    }
}
