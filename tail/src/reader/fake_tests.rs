//! A shard reader against a scripted Kinesis (no emulator, no network): expired iterators and
//! their renewal after the last record, throttling on the same iterator, transient errors, and
//! a shard that closes (no next iterator, ChildShards named), and a start time the service's
//! clock has not reached yet.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::operation::get_records::{GetRecordsError, GetRecordsOutput};
use aws_sdk_kinesis::operation::get_shard_iterator::{
    GetShardIteratorError, GetShardIteratorOutput,
};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::error::{
    ExpiredIteratorException, ProvisionedThroughputExceededException,
};
use aws_sdk_kinesis::types::{ChildShard, HashKeyRange, Record};
use kds_aws::fake::{meta, service_error, FakeKinesis, KinesisCall};
use tokio::sync::mpsc;

use super::{Event, ShardReader, ShardStats, Start};

fn iterator(it: &str) -> GetShardIteratorOutput {
    GetShardIteratorOutput::builder().shard_iterator(it).build()
}

fn record(seq: &str) -> Record {
    Record::builder()
        .sequence_number(seq)
        .data(Blob::new(format!("r{seq}")))
        .partition_key("k")
        .build()
        .expect("record")
}

/// A page of `records`; `next: None` is the end of a closed shard (with its child).
fn page(records: Vec<Record>, next: Option<&str>) -> GetRecordsOutput {
    let mut out = GetRecordsOutput::builder()
        .set_records(Some(records))
        .millis_behind_latest(0)
        .set_next_shard_iterator(next.map(str::to_string));
    if next.is_none() {
        let range = HashKeyRange::builder()
            .starting_hash_key("0")
            .ending_hash_key("9")
            .build()
            .expect("range");
        let child = ChildShard::builder()
            .shard_id("shardId-1")
            .parent_shards("shardId-0")
            .hash_key_range(range)
            .build()
            .expect("child");
        out = out.child_shards(child);
    }
    out.build().expect("page")
}

fn expired() -> GetRecordsError {
    GetRecordsError::ExpiredIteratorException(
        ExpiredIteratorException::builder()
            .meta(meta("ExpiredIteratorException", "expired"))
            .build(),
    )
}

fn throttled() -> GetRecordsError {
    GetRecordsError::ProvisionedThroughputExceededException(
        ProvisionedThroughputExceededException::builder()
            .meta(meta("ProvisionedThroughputExceededException", "slow down"))
            .build(),
    )
}

/// Runs one reader from TRIM_HORIZON to its end; returns its events, calls and counters.
async fn read(fake: FakeKinesis) -> (Vec<Event>, Vec<KinesisCall>, Arc<ShardStats>) {
    read_from(fake, Start::TrimHorizon).await
}

/// As [`read`], from `start`.
async fn read_from(
    fake: FakeKinesis,
    start: Start,
) -> (Vec<Event>, Vec<KinesisCall>, Arc<ShardStats>) {
    let fake = Arc::new(fake);
    let (tx, mut rx) = mpsc::channel(16);
    let stats = Arc::new(ShardStats::default());
    let reader = ShardReader {
        client: Arc::clone(&fake) as _,
        stream: "s".into(),
        shard: Arc::from("shardId-0"),
        start,
        limit: 100,
        poll_interval: Duration::from_millis(1),
        tx,
        stats: Arc::clone(&stats),
    };
    let run = tokio::time::timeout(Duration::from_secs(30), reader.run());
    run.await.expect("the reader ends");
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (events, fake.calls(), stats)
}

fn sequences(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .flat_map(|e| match e {
            Event::Page { records, .. } => {
                records.iter().map(|r| r.sequence_number.clone()).collect()
            }
            _ => Vec::new(),
        })
        .collect()
}

fn finished(events: &[Event]) -> bool {
    matches!(events.last(), Some(Event::Finished { .. }))
}

#[tokio::test]
async fn an_expired_iterator_is_renewed_after_the_last_record() {
    let fake = FakeKinesis::new();
    fake.push_get_shard_iterator(Ok(iterator("it-1")));
    fake.push_get_records(Ok(page(vec![record("5")], Some("it-2"))));
    fake.push_get_records(Err(service_error(400, expired())));
    fake.push_get_shard_iterator(Ok(iterator("it-3")));
    fake.push_get_records(Ok(page(vec![record("6")], None)));
    let (events, calls, stats) = read(fake).await;

    assert_eq!(
        sequences(&events),
        ["5", "6"],
        "nothing lost, nothing twice"
    );
    assert!(
        finished(&events),
        "the closed shard ends its task: {events:?}"
    );
    assert_eq!(stats.renewals.load(Ordering::Relaxed), 1);
    let starts: Vec<_> = calls
        .iter()
        .filter_map(|c| match c {
            KinesisCall::GetShardIterator { start, .. } => Some(start.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        starts,
        [Start::TrimHorizon, Start::AfterSequence("5".into())]
    );
    let iterators: Vec<_> = calls
        .iter()
        .filter_map(|c| match c {
            KinesisCall::GetRecords { iterator, .. } => Some(iterator.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(iterators, ["it-1", "it-2", "it-3"]);
}

#[tokio::test]
async fn throttling_backs_off_on_the_same_iterator() {
    let fake = FakeKinesis::new();
    fake.push_get_shard_iterator(Ok(iterator("it-1")));
    fake.push_get_records(Err(service_error(400, throttled())));
    fake.push_get_records(Ok(page(vec![record("1")], None)));
    let (events, calls, stats) = read(fake).await;

    assert_eq!(sequences(&events), ["1"]);
    assert!(finished(&events));
    assert_eq!(stats.throttles.load(Ordering::Relaxed), 1);
    assert_eq!(stats.renewals.load(Ordering::Relaxed), 0, "no new iterator");
    let iterators: Vec<_> = calls
        .iter()
        .filter_map(|c| match c {
            KinesisCall::GetRecords { iterator, .. } => Some(iterator.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(iterators, ["it-1", "it-1"]);
}

#[tokio::test]
async fn a_server_error_renews_the_iterator_from_the_start_when_nothing_was_read() {
    let fake = FakeKinesis::new();
    fake.push_get_shard_iterator(Ok(iterator("it-1")));
    fake.push_get_records(Err(service_error(
        500,
        GetRecordsError::generic(meta("InternalFailure", "boom")),
    )));
    fake.push_get_shard_iterator(Ok(iterator("it-2")));
    fake.push_get_records(Ok(page(vec![], None)));
    let (events, calls, stats) = read(fake).await;

    assert!(finished(&events));
    assert_eq!(stats.errors.load(Ordering::Relaxed), 1);
    assert_eq!(stats.renewals.load(Ordering::Relaxed), 1);
    let iterator_calls = calls
        .iter()
        .filter(|c| {
            matches!(
                c,
                KinesisCall::GetShardIterator {
                    start: Start::TrimHorizon,
                    ..
                }
            )
        })
        .count();
    assert_eq!(iterator_calls, 2);
}

#[tokio::test]
async fn an_error_that_is_not_retryable_fails_the_shard() {
    let fake = FakeKinesis::new();
    fake.push_get_shard_iterator(Ok(iterator("it-1")));
    fake.push_get_records(Err(service_error(
        400,
        GetRecordsError::generic(meta("AccessDeniedException", "no")),
    )));
    let (events, _, _) = read(fake).await;
    let error = failure(&events);
    assert!(error.contains("GetRecords on shardId-0"), "{error}");
}

/// The error of the shard's last event, which must be a failure.
fn failure(events: &[Event]) -> String {
    match events.last() {
        Some(Event::Failed { error, .. }) => format!("{error:#}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// GetShardIterator AT_TIMESTAMP refused as in the future, as Kinesis says it.
fn in_the_future() -> GetShardIteratorError {
    GetShardIteratorError::generic(meta(
        "InvalidArgumentException",
        "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis.",
    ))
}

fn iterator_calls(calls: &[KinesisCall]) -> usize {
    calls
        .iter()
        .filter(|c| matches!(c, KinesisCall::GetShardIterator { .. }))
        .count()
}

#[tokio::test]
async fn a_start_time_the_service_has_not_reached_is_waited_for() {
    let fake = FakeKinesis::new();
    fake.push_get_shard_iterator(Err(service_error(400, in_the_future())));
    fake.push_get_shard_iterator(Err(service_error(400, in_the_future())));
    fake.push_get_shard_iterator(Ok(iterator("it-1")));
    fake.push_get_records(Ok(page(vec![record("7")], None)));
    let at = kds_common::time::now_ms() - 1000;
    let (events, calls, stats) = read_from(fake, Start::AtTimestamp(at)).await;
    assert_eq!(sequences(&events), ["7"]);
    assert!(finished(&events), "{events:?}");
    assert_eq!(iterator_calls(&calls), 3);
    assert_eq!(stats.errors.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn a_start_time_refused_long_after_this_clock_passed_it_fails_the_shard() {
    let fake = FakeKinesis::new();
    fake.push_get_shard_iterator(Err(service_error(400, in_the_future())));
    let at = kds_common::time::now_ms() - 120_000;
    let (events, calls, _) = read_from(fake, Start::AtTimestamp(at)).await;
    assert_eq!(iterator_calls(&calls), 1);
    let error = failure(&events);
    assert!(error.contains("currentTimestampInMillis"), "{error}");
}
