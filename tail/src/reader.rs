//! One task per shard: GetShardIterator, then a GetRecords loop that keeps the per-shard limits
//! and survives throttling, server errors and expired iterators.
//!
//! - One GetRecords call per shard every `--poll-interval` (default 200 ms: the 5 calls per
//!   second per shard of AWS page "Quotas and Limits"), full or empty page alike, and after a
//!   page of B bytes the next call waits at least B / [`READ_BYTES_PER_SEC`] seconds (the
//!   2 MB/s per-shard read budget of the same page). See [`next_call_at`].
//! - Throttling (ProvisionedThroughputExceeded, KMS throttling, ...; the classes and the backoff
//!   are the shared ones of `kds_aws::retry`): jittered exponential backoff, same iterator.
//! - ExpiredIteratorException, 5xx, timeouts, broken connections: a fresh iterator
//!   `AFTER_SEQUENCE_NUMBER` of the last record received (or the original start position when
//!   none was received yet; `latest` then becomes `AT_TIMESTAMP` of the moment the first
//!   iterator was taken, so nothing that arrived meanwhile is skipped), counted as an iterator
//!   renewal.
//! - AT_TIMESTAMP refused as a time in the service's future, shortly after this machine's
//!   clock passed it: the service's clock is behind, so the call is repeated until accepted
//!   ([`ahead_of_service_clock`]).
//! - Records go, page by page and in order, into one channel read by the single writer.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::error::SdkError;
use aws_sdk_kinesis::operation::get_records::{GetRecordsError, GetRecordsOutput};
use aws_sdk_kinesis::operation::get_shard_iterator::{
    GetShardIteratorError, GetShardIteratorOutput,
};
use aws_sdk_kinesis::types::Record;
use kds_aws::kinesis::KinesisApi;
use kds_aws::retry::{classify, error_code, with_retries, Backoff, ErrorClass, GaveUp, Policy};
use kds_common::time::now_ms;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::CLOCK_SKEW_ALLOWANCE_MS;

/// Default `--poll-interval`: AWS page "Quotas and Limits" allows 5 GetRecords calls per second
/// per shard, shared by every consumer of the shard.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(200);
pub const READ_BYTES_PER_SEC: f64 = 2_000_000.0;
/// Consecutive failed calls after which the shard (and the run) gives up.
pub const MAX_CONSECUTIVE_FAILURES: u32 = 30;

/// Where a shard task starts.
pub use kds_aws::kinesis::IteratorStart as Start;

/// What shard tasks tell the writer.
#[derive(Debug)]
pub enum Event {
    /// A page of records (possibly empty when only `at_tip` changed).
    Page {
        shard: Arc<str>,
        records: Vec<Record>,
        at_tip: bool,
    },
    /// The shard is closed and was read to its end.
    Finished { shard: Arc<str> },
    /// The shard task gave up.
    Failed {
        shard: Arc<str>,
        error: anyhow::Error,
    },
}

/// Counters a shard task keeps for `-v`.
#[derive(Debug, Default)]
pub struct ShardStats {
    pub records: AtomicU64,
    pub millis_behind: AtomicI64,
    pub renewals: AtomicU64,
    pub throttles: AtomicU64,
    pub errors: AtomicU64,
}

pub struct ShardReader {
    /// A client without SDK retries: this loop does its own.
    pub client: Arc<dyn KinesisApi>,
    pub stream: String,
    pub shard: Arc<str>,
    pub start: Start,
    pub limit: i32,
    /// Time between the starts of two GetRecords calls on this shard (`--poll-interval`).
    pub poll_interval: Duration,
    pub tx: mpsc::Sender<Event>,
    pub stats: Arc<ShardStats>,
}

/// When the next GetRecords call may start, after one that started at `started` and returned
/// `bytes` bytes: one poll interval later, or later still when the page used more than that
/// interval's share of the 2 MB/s read budget ("Quotas and Limits").
pub fn next_call_at(started: Instant, bytes: usize, poll_interval: Duration) -> Instant {
    let budget = Duration::from_secs_f64(bytes as f64 / READ_BYTES_PER_SEC);
    started + budget.max(poll_interval)
}

/// The wait between two GetShardIterator calls while the service's clock is behind the start.
const CLOCK_SKEW_POLL: Duration = Duration::from_millis(500);

/// Whether `err` refuses AT_TIMESTAMP `start` as a time in the service's future while this
/// machine's clock (`now_ms`) is at most [`CLOCK_SKEW_ALLOWANCE_MS`] past it: the clocks differ,
/// and the service reaches that time soon. Production Kinesis says "The timestampInMillis
/// parameter cannot be greater than the currentTimestampInMillis", kinesis-mock "Timestamp
/// cannot be in the future" (both InvalidArgumentException).
fn ahead_of_service_clock<E: ProvideErrorMetadata>(
    start: &Start,
    err: &SdkError<E, HttpResponse>,
    now_ms: i64,
) -> bool {
    let Start::AtTimestamp(at) = start else {
        return false;
    };
    let message = err.message().unwrap_or_default();
    error_code(err) == Some("InvalidArgumentException")
        && (message.contains("in the future") || message.contains("cannot be greater than"))
        && now_ms <= at.saturating_add(CLOCK_SKEW_ALLOWANCE_MS)
}

/// The wait after `failures` failed calls in a row: the shared backoff of [`kds_aws::retry`]
/// (100 ms doubling to 5 s, equal jitter).
fn backoff(failures: u32) -> Duration {
    Backoff::default().next_delay(failures)
}

impl ShardReader {
    /// Runs until the shard ends or an error gives up; errors are sent as [`Event::Failed`].
    pub async fn run(self) {
        let tx = self.tx.clone();
        let shard = Arc::clone(&self.shard);
        if let Err(error) = self.read().await {
            let _ = tx.send(Event::Failed { shard, error }).await;
        }
    }

    /// Where a fresh iterator starts: after `last` when a record was received, else at the
    /// start position.
    fn iterator_start(&self, last: Option<&str>) -> Start {
        match last {
            Some(seq) => Start::AfterSequence(seq.to_string()),
            None => self.start.clone(),
        }
    }

    /// A fresh iterator; throttling and transient failures are retried (shared policy), and a
    /// start time the service's clock has not reached yet is waited for.
    async fn iterator(&self, last: Option<&str>) -> anyhow::Result<String> {
        let start = self.iterator_start(last);
        let out = loop {
            match self.request_iterator(&start).await {
                Err(e) if ahead_of_service_clock(&start, &e.last, now_ms()) => {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(CLOCK_SKEW_POLL).await;
                }
                out => break out,
            }
        };
        let out = out.with_context(|| format!("GetShardIterator for {}", self.shard))?;
        out.shard_iterator()
            .map(str::to_string)
            .with_context(|| format!("GetShardIterator for {} returned no iterator", self.shard))
    }

    async fn request_iterator(
        &self,
        start: &Start,
    ) -> Result<GetShardIteratorOutput, GaveUp<GetShardIteratorError>> {
        with_retries(
            Policy::attempts(MAX_CONSECUTIVE_FAILURES + 1),
            |_, _| {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
            },
            || {
                self.client
                    .get_shard_iterator(&self.stream, &self.shard, start)
            },
        )
        .await
    }

    async fn read(mut self) -> anyhow::Result<()> {
        let latest_at = now_ms();
        let iterator = self.iterator(None).await?;
        if self.start == Start::Latest {
            // A renewal before the first record must not skip what arrived meanwhile: from
            // here on, "latest" means "at the time the first iterator was taken".
            self.start = Start::AtTimestamp(latest_at);
        }
        let mut cursor = Cursor {
            iterator,
            last_seq: None,
            next_call: Instant::now(),
            failures: 0,
            tip_sent: None,
        };
        loop {
            tokio::time::sleep_until(cursor.next_call).await;
            let started = Instant::now();
            match self.client.get_records(&cursor.iterator, self.limit).await {
                Ok(out) => {
                    if self.take_page(&mut cursor, out, started).await == Read::Done {
                        return Ok(());
                    }
                }
                Err(e) => self.recover(&mut cursor, e, started).await?,
            }
        }
    }

    /// Sends a page to the writer (an empty one only when `at_tip` changed) and moves the
    /// cursor on; [`Read::Done`] when the shard ended or the writer stopped.
    async fn take_page(&self, c: &mut Cursor, out: GetRecordsOutput, started: Instant) -> Read {
        c.failures = 0;
        let bytes: usize = out.records.iter().map(|r| r.data.as_ref().len()).sum();
        c.next_call = next_call_at(started, bytes, self.poll_interval);
        let millis = out.millis_behind_latest;
        if let Some(m) = millis {
            self.stats.millis_behind.store(m, Ordering::Relaxed);
        }
        let n = out.records.len();
        if let Some(r) = out.records.last() {
            c.last_seq = Some(r.sequence_number.clone());
        }
        self.stats.records.fetch_add(n as u64, Ordering::Relaxed);
        // Caught up: MillisBehindLatest 0 ("no new records to process at this moment") on a
        // page the limit did not cut short. Records on that page do not matter: under a steady
        // producer every page has some.
        let at_tip = millis.unwrap_or(0) == 0 && i32::try_from(n).is_ok_and(|n| n < self.limit);
        if n > 0 || c.tip_sent != Some(at_tip) {
            c.tip_sent = Some(at_tip);
            let page = Event::Page {
                shard: Arc::clone(&self.shard),
                records: out.records,
                at_tip,
            };
            if self.tx.send(page).await.is_err() {
                return Read::Done; // the writer has stopped
            }
        }
        let Some(next) = out.next_shard_iterator else {
            let shard = Arc::clone(&self.shard);
            let _ = self.tx.send(Event::Finished { shard }).await;
            return Read::Done;
        };
        c.iterator = next;
        Read::On
    }

    /// After a failed GetRecords: a fresh iterator (expired, or a transient failure), a
    /// backoff (throttled), or the error when it is neither or has failed too often in a row.
    async fn recover(
        &self,
        c: &mut Cursor,
        e: SdkError<GetRecordsError, HttpResponse>,
        started: Instant,
    ) -> anyhow::Result<()> {
        c.failures += 1;
        if c.failures > MAX_CONSECUTIVE_FAILURES {
            return Err(anyhow::Error::new(e)).with_context(|| {
                format!(
                    "GetRecords on {}: giving up after {} failed calls",
                    self.shard, c.failures
                )
            });
        }
        let expired = e
            .as_service_error()
            .is_some_and(|s| s.is_expired_iterator_exception());
        let class = classify(&e);
        if expired {
            self.stats.renewals.fetch_add(1, Ordering::Relaxed);
            c.iterator = self.iterator(c.last_seq.as_deref()).await?;
            c.next_call = Instant::now() + self.poll_interval;
        } else if class == ErrorClass::Throttled {
            self.stats.throttles.fetch_add(1, Ordering::Relaxed);
            c.next_call = Instant::now() + backoff(c.failures);
        } else if class == ErrorClass::Transient {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff(c.failures)).await;
            self.stats.renewals.fetch_add(1, Ordering::Relaxed);
            c.iterator = self.iterator(c.last_seq.as_deref()).await?;
            c.next_call = Instant::now().max(started + self.poll_interval);
        } else {
            return Err(anyhow::Error::new(e))
                .with_context(|| format!("GetRecords on {}", self.shard));
        }
        Ok(())
    }
}

/// A shard's read position between two GetRecords calls.
struct Cursor {
    iterator: String,
    /// The last record received: a fresh iterator starts after it.
    last_seq: Option<String>,
    next_call: Instant,
    /// Failed calls in a row.
    failures: u32,
    /// The `at_tip` of the last page sent to the writer.
    tip_sent: Option<bool>,
}

/// Whether the shard's read goes on after a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    On,
    Done,
}

#[cfg(test)]
mod fake_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_a_poll_interval_apart_unless_the_page_was_big() {
        let t0 = Instant::now();
        let poll = Duration::from_millis(400);
        // Empty and small pages: exactly one poll interval.
        assert_eq!(next_call_at(t0, 0, poll), t0 + poll);
        assert_eq!(next_call_at(t0, 100_000, poll), t0 + poll);
        // 2 MB at 2 MB/s needs a second, longer than the interval.
        assert_eq!(
            next_call_at(t0, 2_000_000, poll),
            t0 + Duration::from_secs(1)
        );
        // The default keeps a lone reader at the 5 calls per second per shard limit.
        let default_rate =
            Duration::from_secs(1).as_secs_f64() / DEFAULT_POLL_INTERVAL.as_secs_f64();
        assert!(default_rate <= 5.0, "{default_rate}");
    }
}
