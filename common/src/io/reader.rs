//! The one line reader of the tools: stdin, files, fds or any reader, one after another, read in
//! the calling thread into one reusable buffer and handed out as borrowed blocks of whole lines
//! ([`LineReader::next`], [`LineReader::next_block`]) or single lines
//! ([`LineReader::next_line`]).
//!
//! A pipe, terminal or socket is `poll()`ed before each read, so a caller can wait for input and
//! for its clock at once ([`LineReader::next`] with a timeout), without a reader thread or a copy
//! of the data. A last line without `\n` at the end of a source is a line of its own; line
//! numbers continue across sources. A pipe is enlarged to [`PIPE_SIZE`] (best effort). Stdin is
//! read through a duplicate of fd 0 (closing it leaves the process's stdin open).

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::map::{Mapping, MAP_MIN};
use super::{enlarge_pipe, input_paths, make_room, Block, InputPath, Line, PIPE_SIZE, READ_BLOCK};

/// What [`LineReader::next`] found.
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
    Reader(Box<dyn Read + Send>),
}

enum Handle {
    File(File),
    Reader(Box<dyn Read + Send>),
}

/// The input being read.
struct Open {
    handle: Handle,
    /// Reads may wait for a writer (not a regular file): poll first.
    poll: bool,
    stdin: bool,
    /// A large regular file, mapped; what follows the mapping (bytes appended while it was
    /// read) is read as usual.
    map: Option<Mapping>,
}

impl Open {
    fn file(file: File, stdin: bool, map_large: bool) -> Open {
        enlarge_pipe(file.as_raw_fd(), PIPE_SIZE);
        let meta = file.metadata().ok();
        let regular = meta.as_ref().is_some_and(|m| m.is_file());
        let map = match &meta {
            Some(m) if map_large && regular && m.len() >= MAP_MIN as u64 => {
                usize::try_from(m.len())
                    .ok()
                    .and_then(|len| Mapping::new(&file, len))
            }
            _ => None,
        };
        Open {
            handle: Handle::File(file),
            poll: !regular,
            stdin,
            map,
        }
    }

    fn fd(&self) -> Option<RawFd> {
        match &self.handle {
            Handle::File(f) => Some(f.as_raw_fd()),
            Handle::Reader(_) => None,
        }
    }
}

/// What one wait-and-read did.
enum Read1 {
    Bytes(usize),
    Eof,
    Idle,
}

/// Where a range handed out lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    Buf,
    Map,
}

/// A block found by [`LineReader::next_range`].
type Range = (Store, usize, usize);

enum Got {
    Range(Range),
    Idle,
    End,
}

/// Stdin, files, fds or readers, one after another, read into one buffer.
pub struct LineReader {
    /// Inputs not yet opened, last first.
    sources: Vec<Source>,
    current: Option<Open>,
    buf: Vec<u8>,
    /// `buf[start..end]` is read and not yet handed out; it holds no `\n` between calls.
    start: usize,
    end: usize,
    next_line: u64,
    short_read: bool,
    map_large: bool,
    /// The block last handed out while its lines are not counted yet: counted by the caller
    /// ([`LineReader::block_lines`]) or, if it did not say, by the reader itself.
    uncounted: Option<Range>,
    /// [`LineReader::next_line`]: the rest of the block it hands out line by line.
    pending: Option<Range>,
    /// Bytes read so far, for a progress line; updated once per read, not per line.
    bytes_read: Option<Arc<AtomicU64>>,
}

/// A timeout for poll(2): none waits for ever.
fn poll_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        Some(t) => t.as_millis().min(i32::MAX as u128) as libc::c_int,
        None => -1,
    }
}

impl LineReader {
    /// Opens the given paths in order (none, or `-`, is stdin). A missing file fails here,
    /// before any output is written.
    pub fn open(paths: &[PathBuf]) -> anyhow::Result<LineReader> {
        let sources = input_paths(paths)?
            .into_iter()
            .map(|p| match p {
                InputPath::Stdin => Source::Stdin,
                InputPath::File(path) => Source::Path(path),
            })
            .collect();
        Ok(LineReader::with_sources(sources))
    }

    /// Reads one already open file descriptor (a pipe in tests, a socket).
    pub fn from_fd(fd: impl Into<OwnedFd>) -> LineReader {
        LineReader::with_sources(vec![Source::Fd(fd.into())])
    }

    /// Reads from any reader (tests, a slice of a file); it is never polled or mapped.
    pub fn new(reader: impl Read + Send + 'static) -> LineReader {
        LineReader::with_sources(vec![Source::Reader(Box::new(reader))])
    }

    /// Maps regular files of [`MAP_MIN`] bytes or more instead of reading them (see
    /// [`super::map`] for the SIGBUS caveat). For readers whose speed is the page cache's.
    pub fn map_large_files(mut self) -> LineReader {
        self.map_large = true;
        self
    }

    fn with_sources(mut sources: Vec<Source>) -> LineReader {
        sources.reverse();
        LineReader {
            sources,
            current: None,
            buf: vec![0; READ_BLOCK],
            start: 0,
            end: 0,
            next_line: 1,
            short_read: false,
            map_large: false,
            uncounted: None,
            pending: None,
            bytes_read: None,
        }
    }

    /// A counter of the bytes read from the inputs from now on (a progress line's position),
    /// bumped once per read block (or mapped block) so that counting costs nothing per line.
    pub fn count_bytes(&mut self) -> Arc<AtomicU64> {
        Arc::clone(self.bytes_read.get_or_insert_with(Arc::default))
    }

    fn add_bytes_read(&self, n: usize) {
        if let Some(counter) = &self.bytes_read {
            counter.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Tells how many lines the block last handed out held (its `\n`s, plus one for a last line
    /// without `\n`), so that the reader need not count them again.
    pub fn block_lines(&mut self, lines: u64) {
        if self.uncounted.take().is_some() {
            self.next_line += lines;
        }
    }

    fn stored(&self, store: Store) -> &[u8] {
        match store {
            Store::Buf => &self.buf,
            Store::Map => self
                .current
                .as_ref()
                .and_then(|o| o.map.as_ref())
                .map_or(&[], Mapping::bytes),
        }
    }

    /// Counts the lines of the block last handed out, unless the caller said how many.
    fn count_last_block(&mut self) {
        if let Some((store, s, e)) = self.uncounted.take() {
            let bytes = &self.stored(store)[s..e];
            // A block ends with `\n` but the last of a source, whose last line may lack it.
            let unterminated = bytes.last().is_some_and(|&b| b != b'\n');
            self.next_line +=
                (memchr::memchr_iter(b'\n', bytes).count() + unterminated as usize) as u64;
        }
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
        loop {
            let open = match self.sources.pop() {
                None => return Ok(false),
                Some(Source::Stdin) => match io::stdin().as_fd().try_clone_to_owned() {
                    Ok(fd) => Open::file(File::from(fd), true, self.map_large),
                    // A closed stdin reads as empty input, as Rust's `io::stdin()` does.
                    Err(e) if e.raw_os_error() == Some(libc::EBADF) => continue,
                    Err(e) => return Err(e),
                },
                Some(Source::Path(path)) => {
                    let file = File::open(&path).map_err(|e| {
                        io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display()))
                    })?;
                    Open::file(file, false, self.map_large)
                }
                Some(Source::Fd(fd)) => Open::file(File::from(fd), false, self.map_large),
                Some(Source::Reader(r)) => Open {
                    handle: Handle::Reader(r),
                    poll: false,
                    stdin: false,
                    map: None,
                },
            };
            self.current = Some(open);
            return Ok(true);
        }
    }

    /// Waits up to `timeout` for input on a pipe, then reads once into `buf[end..]`.
    fn read_some(&mut self, timeout: Option<Duration>) -> io::Result<Read1> {
        let Some(open) = self.current.as_mut() else {
            return Ok(Read1::Eof);
        };
        if let (true, Some(fd)) = (open.poll, open.fd()) {
            if !wait_readable(fd, poll_ms(timeout))? {
                return Ok(Read1::Idle);
            }
        }
        let want = self.buf.len() - self.end;
        let into = &mut self.buf[self.end..];
        let got = match &mut open.handle {
            Handle::File(f) => f.read(into),
            Handle::Reader(r) => r.read(into),
        };
        match got {
            Ok(0) => Ok(Read1::Eof),
            Ok(n) => {
                self.short_read = n < want;
                if let Some(counter) = &self.bytes_read {
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                }
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
            Err(e) if open.stdin && e.raw_os_error() == Some(libc::EBADF) => Ok(Read1::Eof),
            Err(e) => Err(e),
        }
    }

    /// The next block of whole lines, [`Next::Idle`] when none is complete within `timeout`
    /// (only inputs that can wait, such as pipes, ever wait), or [`Next::End`].
    pub fn next(&mut self, timeout: Duration) -> io::Result<Next<'_>> {
        let got = match self.pending.take() {
            // The rest of a block begun by next_line.
            Some(range) => Got::Range(range),
            None => self.next_range(Some(timeout))?,
        };
        Ok(match got {
            Got::Range(range) => Next::Block(self.hand_out(range)),
            Got::Idle => Next::Idle,
            Got::End => Next::End,
        })
    }

    /// The next block of whole lines, waiting as long as it takes; `None` at the end.
    pub fn next_block(&mut self) -> io::Result<Option<Block<'_>>> {
        Ok(self.next_waiting()?.map(|range| self.hand_out(range)))
    }

    /// The next line, without its `\n`, waiting as long as it takes; `None` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        let Some((store, s, e)) = self.next_waiting()? else {
            return Ok(None);
        };
        // Lines handed out one by one are counted one by one.
        self.uncounted = None;
        let (line_end, rest) = match memchr::memchr(b'\n', &self.stored(store)[s..e]) {
            Some(p) => (s + p, s + p + 1),
            None => (e, e),
        };
        if rest < e {
            self.pending = Some((store, rest, e));
        }
        let number = self.next_line;
        self.next_line += 1;
        Ok(Some(Line {
            number,
            bytes: &self.stored(store)[s..line_end],
        }))
    }

    /// The rest of a block begun by next_line, or the next block, waiting for it.
    fn next_waiting(&mut self) -> io::Result<Option<Range>> {
        if let Some(range) = self.pending.take() {
            return Ok(Some(range));
        }
        loop {
            match self.next_range(None)? {
                Got::Range(range) => return Ok(Some(range)),
                Got::Idle => {}
                Got::End => return Ok(None),
            }
        }
    }

    /// A block whose lines the caller may count ([`LineReader::block_lines`]).
    fn hand_out(&mut self, range: Range) -> Block<'_> {
        self.uncounted = Some(range);
        let (store, s, e) = range;
        Block {
            first_line: self.next_line,
            bytes: &self.stored(store)[s..e],
        }
    }

    /// Finds the next block: in the mapping, or read (waiting up to `timeout` on a pipe).
    fn next_range(&mut self, timeout: Option<Duration>) -> io::Result<Got> {
        self.count_last_block();
        loop {
            if self.current.is_none() && !self.open_next()? {
                return Ok(Got::End);
            }
            if let Some(range) = self.next_mapped()? {
                return Ok(Got::Range(range));
            }
            // Unread bytes (part of a line) move to the front; a line longer than the buffer
            // grows it.
            make_room(&mut self.buf, &mut self.start, &mut self.end);
            match self.read_some(timeout)? {
                Read1::Idle => return Ok(Got::Idle),
                Read1::Eof => {
                    self.current = None;
                    if self.end > self.start {
                        // A source that does not end in '\n' still ends its last line.
                        return Ok(Got::Range(self.take(self.end)));
                    }
                }
                Read1::Bytes(n) => {
                    let old_end = self.end;
                    self.end += n;
                    if let Some(pos) = memchr::memrchr(b'\n', &self.buf[old_end..self.end]) {
                        return Ok(Got::Range(self.take(old_end + pos + 1)));
                    }
                    // Only part of a line so far: a pipe goes back to the caller (its clock),
                    // a file reads on.
                    if self.current.as_ref().is_some_and(|o| o.poll) {
                        return Ok(Got::Idle);
                    }
                }
            }
        }
    }

    fn take(&mut self, block_end: usize) -> Range {
        let range = (Store::Buf, self.start, block_end);
        self.start = block_end;
        range
    }

    /// The next block of whole lines of a mapped file, about [`READ_BLOCK`] long. When the
    /// mapping is used up, the file is read on from its end (bytes appended meanwhile); a last
    /// line without `\n` is left to that read, which knows whether more of it follows.
    fn next_mapped(&mut self) -> io::Result<Option<Range>> {
        let Some(open) = self.current.as_mut() else {
            return Ok(None);
        };
        let Some(map) = open.map.as_mut() else {
            return Ok(None);
        };
        let pos = map.pos;
        let bytes = map.bytes();
        let limit = bytes.len().min(pos.saturating_add(READ_BLOCK));
        let end = match memchr::memrchr(b'\n', &bytes[pos..limit]) {
            Some(p) => Some(pos + p + 1),
            // A line longer than a block: up to its end.
            None => memchr::memchr(b'\n', &bytes[limit..]).map(|p| limit + p + 1),
        };
        if let Some(end) = end {
            map.pos = end;
            // The blocks before this one are done with.
            map.release_before(pos);
            self.add_bytes_read(end - pos);
            return Ok(Some((Store::Map, pos, end)));
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
        if let Handle::File(f) = &mut open.handle {
            io::Seek::seek(f, io::SeekFrom::Start(resume))?;
        }
        Ok(None)
    }
}

/// Waits until `fd` is readable (or at its end) for at most `timeout_ms` (-1: for ever). False
/// on a timeout or when a signal interrupted the wait.
fn wait_readable(fd: RawFd, timeout_ms: libc::c_int) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, its count is 1.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
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

    /// Reader that hands out at most `chunk` bytes per read, to exercise refills.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        chunk: usize,
    }
    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.chunk.min(out.len()).min(self.data.len() - self.pos);
            out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
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
        while r.next_line().unwrap().is_some() {
            lines += 1;
        }
        assert_eq!(lines, 3);
        assert_eq!(counter.load(Ordering::Relaxed), total);
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

    /// Every block until the end, as (first line, bytes); Idle results are skipped.
    fn drain(input: &mut LineReader) -> Vec<(u64, Vec<u8>)> {
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
        let mut input = LineReader::from_fd(r);
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
        let mut input = LineReader::open(&[a, b]).unwrap();
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
        let err = LineReader::open(&[PathBuf::from("/nonexistent/x.ndjson")]).err();
        let msg = format!("{:#}", err.unwrap());
        assert!(
            msg.starts_with("cannot open /nonexistent/x.ndjson"),
            "{msg}"
        );
    }

    #[test]
    fn lines_longer_than_the_buffer_and_many_small_writes_come_out_intact() {
        let (r, mut w) = std::io::pipe().unwrap();
        let long = vec![b'x'; 3 * READ_BLOCK + 17];
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
        let mut input = LineReader::from_fd(r);
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
        while bytes.len() < MAP_MIN + READ_BLOCK * 2 + 1000 {
            // Every 997th line is longer than a block, so a block must reach past READ_BLOCK.
            let pad = if i % 997 == 500 {
                READ_BLOCK + 17
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
        let mut input = LineReader::open(&[a, b]).unwrap().map_large_files();
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
        let mut input = LineReader::open(&[a]).unwrap().map_large_files();
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
        let mut input = LineReader::open(std::slice::from_ref(&a))
            .unwrap()
            .map_large_files();
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
