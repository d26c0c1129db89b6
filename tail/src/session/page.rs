//! Writing one page of records into the output: KPL de-aggregation, the `-c` and `--until`
//! cut-offs, the data warnings, and the position the checkpoint may name once the page is
//! flushed.

use std::sync::atomic::Ordering;

use anyhow::Context;
use aws_sdk_kinesis::types::Record;
use kds_common::kpl::{self, Decoded};

use super::Session;
use crate::output::OutRecord;
use crate::{range, TOOL};

impl Session {
    /// Writes `records` of `shard` in order, then flushes and records the last one written
    /// whole as the shard's position.
    pub(super) fn write_page(&mut self, shard: &str, records: &[Record]) -> anyhow::Result<()> {
        let mut position: Option<&str> = None;
        for r in records {
            if self.limit_reached() {
                break;
            }
            let arrival_ms = r
                .approximate_arrival_timestamp
                .and_then(|t| t.to_millis().ok());
            if let (Some(until), Some(at)) = (self.config.until_ms, arrival_ms) {
                if at > until {
                    self.stop(shard);
                    break;
                }
            }
            let before = self.fmt.warnings.total();
            if !self.write_record(shard, r, arrival_ms)? {
                // Part of an aggregate: don't checkpoint it, a restart re-reads it.
                self.out.commit().context("writing stdout")?;
                break;
            }
            if !self.warned && self.fmt.warnings.total() > before && !self.config.envelope {
                self.warned = true;
                kds_common::diag!(
                    "{TOOL}: warning: {shard} {}: data is not a single UTF-8 line, written per --data {} (further ones are counted)",
                    r.sequence_number,
                    self.fmt.mode.name()
                );
            }
            self.out.commit().context("writing stdout")?;
            position = Some(&r.sequence_number);
        }
        self.out.flush().context("writing stdout")?;
        self.written_shown.store(self.written, Ordering::Relaxed);
        if let Some(seq) = position {
            self.state.shards.insert(shard.to_string(), seq.to_string());
        }
        Ok(())
    }

    /// Writes record `r` (or its user records); false when `-c` cut an aggregate short.
    fn write_record(
        &mut self,
        shard: &str,
        r: &Record,
        arrival_ms: Option<i64>,
    ) -> anyhow::Result<bool> {
        let data = r.data.as_ref();
        let base = OutRecord {
            shard_id: shard,
            sequence_number: &r.sequence_number,
            sub_sequence: None,
            partition_key: r.partition_key.as_deref().unwrap_or(""),
            arrival_ms,
            data,
        };
        match self.decode(shard, r) {
            Decoded::Plain => {
                self.fmt.write(&base, self.out.buffer());
                self.written += 1;
                Ok(true)
            }
            Decoded::Aggregated(users) => Ok(self.write_users(shard, r, &base, &users)),
        }
    }

    /// Under `--deaggregate`, the user records of a KPL aggregate; a bad aggregate is written
    /// as is (the first one named on stderr, the others counted).
    fn decode<'r>(&mut self, shard: &str, r: &'r Record) -> Decoded<'r> {
        let data = r.data.as_ref();
        if !(self.config.deaggregate && kpl::looks_aggregated(data)) {
            return Decoded::Plain;
        }
        match kpl::decode(data) {
            Ok(d) => d,
            Err(e) => {
                self.bad_aggregates += 1;
                if self.bad_aggregates == 1 {
                    kds_common::diag!(
                        "{TOOL}: warning: {shard} {}: {e}; written as is (further ones are counted)",
                        r.sequence_number
                    );
                }
                Decoded::Plain
            }
        }
    }

    /// Writes the user records of aggregate `r`, each with its sub-sequence number; false when
    /// `-c` stopped before the last one.
    fn write_users(
        &mut self,
        shard: &str,
        r: &Record,
        base: &OutRecord<'_>,
        users: &[kpl::Record<'_>],
    ) -> bool {
        let range = self.coord.info(shard).and_then(|i| i.hash_range);
        for (i, u) in users.iter().enumerate() {
            if self.limit_reached() {
                return false;
            }
            if range::outside_shard(u, range) && self.outside(shard, r, i) {
                continue;
            }
            let rec = OutRecord {
                sub_sequence: Some(i as u64),
                partition_key: u.partition_key,
                data: u.data,
                ..*base
            };
            self.fmt.write(&rec, self.out.buffer());
            self.written += 1;
        }
        true
    }

    /// Counts user record `i` of `r`, outside `shard`'s range; true when it is to be dropped.
    fn outside(&mut self, shard: &str, r: &Record, i: usize) -> bool {
        self.outside_shard += 1;
        if self.outside_shard == 1 || self.config.verbose {
            kds_common::diag!(
                "{TOOL}: warning: {shard} {} user record {i}: hash key outside the shard's range, {}",
                r.sequence_number,
                if self.config.kcl_drop_outside_shard { "dropped" } else { "kept" }
            );
        }
        self.config.kcl_drop_outside_shard
    }
}
