//! The command line's input: kds-common's line reader ([`kds_common::io::LineReader`]), read in
//! the engine's thread with `poll()` before each read of a pipe, terminal or socket, so the
//! driver waits for input and for the clock (rowtime windows, signals) at once, without a reader
//! thread or a copy of the data.

use std::path::PathBuf;

pub use kds_common::io::{LineReader as Input, Next, MAP_MIN, READ_BLOCK as READ_SIZE};

/// Opens the given paths in order (none, or `-`, is stdin). A missing file fails here, before
/// any output is written. Regular files of [`MAP_MIN`] bytes or more are mapped: the scanner
/// reads the page cache without a copy (see window/README.md, "Speed", for the measurement and
/// the SIGBUS caveat of mappings).
pub fn open(paths: &[PathBuf]) -> anyhow::Result<Input> {
    Ok(Input::open(paths)?.map_large_files())
}
