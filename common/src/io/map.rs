//! A read-only mapping of a whole regular file (memmap2), for readers that opt in
//! ([`super::LineReader::map_large_files`]).
//!
//! Why: reading a file costs a copy from the page cache; a mapping lets the scanner read the
//! page cache directly. The caveat of every mapping applies (as with ripgrep's `--mmap`): a file
//! truncated by another process while it is mapped ends the reading process with SIGBUS. Files
//! that only grow are fine: bytes appended after the mapping was made are read as usual.

use std::fs::File;

use memmap2::{Advice, Mmap, MmapOptions, UncheckedAdvice};

/// Regular files at least this large are mapped (below it a read is as cheap).
pub const MAP_MIN: usize = 4 << 20;

/// A mapped file and how far into it blocks were handed out.
pub struct Mapping {
    map: Mmap,
    /// Bytes before this were handed out.
    pub pos: usize,
}

impl Mapping {
    /// Maps the first `len` bytes of `file`, or `None` when the kernel refuses (the file is
    /// then read).
    pub fn new(file: &File, len: usize) -> Option<Mapping> {
        // SAFETY: a read-only private mapping; what memmap2 cannot rule out (another process
        // truncating the file) is the documented SIGBUS caveat of this module.
        let map = unsafe { MmapOptions::new().len(len).map(file) }.ok()?;
        // Advice only: a failure changes nothing but speed.
        let _ = map.advise(Advice::Sequential);
        Some(Mapping { map, pos: 0 })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Drops the whole pages before `pos` from the process's resident set (they stay in the
    /// page cache), so the resident size stays that of about one block.
    pub fn release_before(&self, pos: usize) {
        let page = 4096;
        let upto = pos / page * page;
        if upto > 0 {
            // SAFETY: MADV_DONTNEED on a private read-only file mapping only drops pages; a
            // page read again would be faulted back in from the file, unchanged (no private
            // writes exist to lose). Nothing before `pos` is read again anyway.
            let _ = unsafe {
                self.map
                    .unchecked_advise_range(UncheckedAdvice::DontNeed, 0, upto)
            };
        }
    }
}
