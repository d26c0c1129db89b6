//! `kds_common::io::LineReader`: arbitrary bytes, handed out by the underlying reader in
//! arbitrary pieces (with `Interrupted` errors mixed in), read with an arbitrary mix of
//! `next_line` and `next_block`. The lines and their numbers must be exactly what a naive split
//! of the bytes at `\n` gives (a last line without `\n` is a line; no empty line is invented at
//! the end), and reading past the end keeps returning `None`.
#![no_main]

use std::io::{self, Read};

use arbitrary::Arbitrary;
use kds_common::io::LineReader;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Case {
    /// Sizes of successive reads (cycled); 0 is an `Interrupted` error.
    reads: Vec<u8>,
    /// Which call reads next (cycled): true = `next_block`, false = `next_line`.
    calls: Vec<bool>,
    data: Vec<u8>,
}

/// Hands out `data` in pieces of the given sizes.
struct Chunked {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<u8>,
    i: usize,
    interrupted: bool,
}

impl Read for Chunked {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.data.len() || out.is_empty() {
            return Ok(0);
        }
        let size = if self.sizes.is_empty() {
            usize::MAX
        } else {
            self.sizes[self.i % self.sizes.len()] as usize
        };
        self.i += 1;
        // Never two interruptions in a row, so a reader of only zeros still makes progress.
        if size == 0 && !self.interrupted {
            self.interrupted = true;
            return Err(io::ErrorKind::Interrupted.into());
        }
        self.interrupted = false;
        let n = size.max(1).min(out.len()).min(self.data.len() - self.pos);
        out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fuzz_target!(|case: Case| {
    let mut want: Vec<&[u8]> = case.data.split(|&b| b == b'\n').collect();
    if case.data.is_empty() || case.data.ends_with(b"\n") {
        want.pop();
    }
    let mut reader = LineReader::new(Chunked {
        data: case.data.clone(),
        pos: 0,
        sizes: case.reads,
        i: 0,
        interrupted: false,
    });
    let mut got: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut call = 0;
    loop {
        let block = !case.calls.is_empty() && case.calls[call % case.calls.len()];
        call += 1;
        if block {
            let Some(b) = reader.next_block().expect("in-memory reads do not fail") else {
                break;
            };
            assert!(!b.bytes.is_empty(), "an empty block");
            assert_eq!(
                b.first_line,
                got.len() as u64 + 1,
                "block's first line number"
            );
            let body = b.bytes.strip_suffix(b"\n").unwrap_or(b.bytes);
            for (n, line) in (b.first_line..).zip(body.split(|&c| c == b'\n')) {
                got.push((n, line.to_vec()));
            }
            // Only the input's last line may lack its '\n'.
            if !b.bytes.ends_with(b"\n") {
                assert_eq!(got.len(), want.len(), "an unterminated line before the end");
            }
        } else {
            let Some(l) = reader.next_line().expect("in-memory reads do not fail") else {
                break;
            };
            assert_eq!(l.number, got.len() as u64 + 1, "line number");
            got.push((l.number, l.bytes.to_vec()));
        }
        assert!(got.len() <= want.len(), "more lines than the input has");
    }
    assert_eq!(got.len(), want.len(), "line count");
    for ((n, line), (i, w)) in got.iter().zip(want.iter().enumerate()) {
        assert_eq!(*n, i as u64 + 1);
        assert_eq!(line.as_slice(), *w, "line {n}");
    }
    assert_eq!(reader.next_line_number(), want.len() as u64 + 1);
    assert!(reader
        .next_line()
        .expect("no error after the end")
        .is_none());
    assert!(reader
        .next_block()
        .expect("no error after the end")
        .is_none());
});
