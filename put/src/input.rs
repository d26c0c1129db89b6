//! Input: a blocking reader thread turns lines into records (partition key, hash key, size
//! check) and hands them to the dispatcher, taking each line's bytes from the in-flight budget
//! first (`budget.rs`): while the budget is spent, no line is read.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use kds_common::io::LineReader;
use kds_common::signal::Shutdown;
use tokio::sync::mpsc;

use crate::batch::UserRecord;
use crate::budget::{held_bytes, ByteBudget};
use crate::dead_letter::codes;
use crate::partition::{KeyError, Keyer};
use crate::shard_map::hash_key;
use crate::stats::Stats;

/// What the reader thread hands to the dispatcher.
pub enum Item {
    Record(UserRecord),
    Bad(BadLine),
}

/// A line refused before sending: dead-lettered with attempts 0.
pub struct BadLine {
    pub line: u64,
    pub data: Vec<u8>,
    pub partition_key: Option<String>,
    pub code: &'static str,
    pub message: String,
}

impl Item {
    /// Bytes charged against the in-flight budget for this line.
    pub fn held_bytes(&self) -> usize {
        match self {
            Item::Record(r) => r.held_bytes(),
            Item::Bad(b) => b.held_bytes(),
        }
    }
}

impl BadLine {
    /// Bytes the line was charged when read (given back when it is dead-lettered).
    pub fn held_bytes(&self) -> usize {
        held_bytes(
            &self.data,
            self.partition_key.as_deref().unwrap_or(""),
            None,
        )
    }
}

/// What the reader thread checks each line against.
#[derive(Debug, Clone, Copy)]
pub struct InputLimits {
    /// `--strict`: stop at the first bad line.
    pub strict: bool,
    /// Largest record (data plus partition key) the stream accepts.
    pub max_record: usize,
}

/// How lines become records: the partition key source, the explicit hash key, the limits.
pub struct Parse {
    pub keyer: Keyer,
    pub explicit_hash_key: Option<(String, u128)>,
    pub limits: InputLimits,
}

/// The reader's side of the hand-off: the channel to the dispatcher, the budget it spends,
/// and the flags that stop it.
pub struct Handoff {
    pub tx: mpsc::UnboundedSender<Item>,
    pub budget: Arc<ByteBudget>,
    pub stats: Arc<Stats>,
    pub stop: Arc<AtomicBool>,
    pub shutdown: Shutdown,
}

/// Starts the reader thread.
pub fn spawn_reader(
    reader: LineReader,
    parse: Parse,
    handoff: Handoff,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<()>>> {
    std::thread::Builder::new()
        .name("kds-put-reader".into())
        .spawn(move || read_input(reader, parse, &handoff))
        .context("cannot start the reader thread")
}

/// Reads lines into records until the end of input, a signal, a fatal error (the budget is
/// closed), or (with `--strict`) the first bad line.
fn read_input(mut reader: LineReader, mut parse: Parse, handoff: &Handoff) -> anyhow::Result<()> {
    while let Some(line) = reader.next_line().context("cannot read input")? {
        if handoff.shutdown.requested() || handoff.stop.load(Ordering::Relaxed) {
            break;
        }
        let item = parse.item(line.number, line.bytes);
        if parse.limits.strict {
            if let Item::Bad(bad) = &item {
                Stats::add(&handoff.stats.read, 1);
                handoff.stop.store(true, Ordering::Relaxed);
                anyhow::bail!("line {}: {}", bad.line, bad.message);
            }
        }
        // Counted once handed over: a line still read after the dispatcher stopped
        // listening (a fatal error) is neither read nor lost.
        let held = item.held_bytes();
        if !handoff.budget.take(held) {
            break;
        }
        if handoff.tx.send(item).is_err() {
            handoff.budget.give(held);
            break;
        }
        Stats::add(&handoff.stats.read, 1);
    }
    Ok(())
}

impl Parse {
    /// The record for input line `number`, or why it is refused.
    ///
    /// [`InputLimits::max_record`] is the stream's own record limit (see
    /// [`crate::limits::max_record_bytes`]).
    fn item(&mut self, number: u64, bytes: &[u8]) -> Item {
        match self.keyer.key_for(bytes) {
            Ok(key) if bytes.len() + key.len() > self.limits.max_record => Item::Bad(BadLine {
                line: number,
                message: format!(
                    "record is {} bytes with its partition key, over the stream's {}-byte limit",
                    bytes.len() + key.len(),
                    self.limits.max_record
                ),
                data: bytes.to_vec(),
                partition_key: Some(key),
                code: codes::RECORD_TOO_LARGE,
            }),
            Ok(key) => {
                let (ehk, hash) = match &self.explicit_hash_key {
                    Some((text, value)) => (Some(text.clone()), *value),
                    None => (None, hash_key(&key)),
                };
                Item::Record(UserRecord {
                    line: number,
                    data: bytes.to_vec(),
                    partition_key: key,
                    explicit_hash_key: ehk,
                    hash,
                })
            }
            Err(e) => Item::Bad(BadLine {
                line: number,
                data: bytes.to_vec(),
                partition_key: None,
                code: match e {
                    KeyError::NotJson(_) => codes::INVALID_JSON,
                    KeyError::MissingField(_) => codes::MISSING_PARTITION_KEY,
                    KeyError::BadValue(_) => codes::INVALID_PARTITION_KEY,
                },
                message: e.to_string(),
            }),
        }
    }
}
