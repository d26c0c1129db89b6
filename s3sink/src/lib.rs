//! kds-s3sink: buffer NDJSON lines into S3 objects with Kinesis Data Firehose's semantics.
//!
//! Reading top-down: [`config`] (flags and validation), [`input`] (lines to records, envelope,
//! partition keys, error records), [`buffer`] (size and interval triggers), [`key`] (prefix
//! expressions and object names), [`sink`] (the pipeline), `deliver` (one object per flushed
//! buffer: named, compressed, uploaded or spilled), [`upload`] + [`retry`] (S3 calls),
//! [`spill`] (what could not be delivered, re-sent by the next run), [`outcome`] (receipts and
//! counts).

pub mod buffer;
pub mod config;
mod deliver;
pub mod input;
pub mod key;
pub mod outcome;
mod report;
pub mod retry;
pub mod sink;
pub mod spill;
pub mod upload;

use std::sync::Arc;

use kds_common::exit::Exit;
use kds_common::io::{LineReader, Output};
use kds_common::signal::Shutdown;

pub use config::{Args, Config};

/// Validates the flags, then runs the sink on stdin (or the files) until end of input or a
/// signal.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let config = Config::try_from(args)?;
    let input = LineReader::open(&config.files)?;
    let shutdown = Shutdown::install()?;
    let runtime = kds_aws::runtime()?;
    runtime.block_on(sink::run(
        config,
        input,
        Output::stdout(),
        shutdown,
        Arc::new(buffer::SystemClock),
    ))
}
