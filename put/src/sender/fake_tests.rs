//! send_call against a scripted Kinesis (no emulator, no network): partial failures, throttled
//! calls, fatal answers and a result from a shard the map does not know (resharding).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kinesis::operation::put_records::{PutRecordsError, PutRecordsOutput};
use aws_sdk_kinesis::types::error::{
    ProvisionedThroughputExceededException, ResourceNotFoundException,
};
use aws_sdk_kinesis::types::PutRecordsResultEntry;
use kds_aws::fake::{meta, service_error, FakeKinesis, KinesisCall};
use kds_aws::retry::Backoff;
use kds_common::rng::Rng;

use super::{send_call, Ctx};
use crate::batch::{Entry, Origin};
use crate::budget::ByteBudget;
use crate::report::Sink;
use crate::shard_map::{ShardMap, ShardRange};
use crate::stats::Stats;

const BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(100),
    max: Duration::from_secs(5),
};

fn ctx(fake: &Arc<FakeKinesis>) -> Arc<Ctx> {
    ctx_with_budget(fake, 1 << 20)
}

/// A sender context over `fake` whose in-flight budget is `budget` bytes.
pub(crate) fn ctx_with_budget(fake: &Arc<FakeKinesis>, budget: usize) -> Arc<Ctx> {
    Arc::new(Ctx {
        client: Arc::clone(fake) as _,
        stream: "s".into(),
        max_retries: 3,
        backoff: BACKOFF,
        stats: Arc::new(Stats::default()),
        sink: Sink::new(None, None),
        budget: Arc::new(ByteBudget::new(budget)),
        fatal: Mutex::new(None),
    })
}

pub(crate) fn entry(line: u64) -> Entry {
    Entry {
        data: format!("{{\"n\":{line}}}").into_bytes(),
        partition_key: format!("k{line}"),
        explicit_hash_key: None,
        origin: Origin::Line(line),
        attempts: 0,
        hash: u128::from(line),
    }
}

pub(crate) fn ok(shard: &str, seq: &str) -> PutRecordsResultEntry {
    PutRecordsResultEntry::builder()
        .shard_id(shard)
        .sequence_number(seq)
        .build()
}

pub(crate) fn failed(code: &str) -> PutRecordsResultEntry {
    PutRecordsResultEntry::builder()
        .error_code(code)
        .error_message("m")
        .build()
}

pub(crate) fn answer(results: Vec<PutRecordsResultEntry>) -> PutRecordsOutput {
    let failed = results.iter().filter(|r| r.error_code().is_some()).count();
    PutRecordsOutput::builder()
        .set_records(Some(results))
        .failed_record_count(i32::try_from(failed).unwrap_or(i32::MAX))
        .build()
        .expect("output")
}

/// The data of every PutRecords call the fake saw.
fn sent(fake: &FakeKinesis) -> Vec<Vec<Vec<u8>>> {
    fake.calls()
        .into_iter()
        .filter_map(|c| match c {
            KinesisCall::PutRecords { records, .. } => {
                Some(records.iter().map(|r| r.data().as_ref().to_vec()).collect())
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_partial_failure_resends_only_the_failed_entries() {
    let fake = Arc::new(FakeKinesis::new());
    let ctx = ctx(&fake);
    fake.push_put_records(Ok(answer(vec![
        ok("shardId-0", "1"),
        failed("ProvisionedThroughputExceededException"),
        ok("shardId-0", "3"),
    ])));
    fake.push_put_records(Ok(answer(vec![ok("shardId-0", "4")])));

    let first = send_call(
        Arc::clone(&ctx),
        vec![entry(1), entry(2), entry(3)],
        vec![],
        Rng::seeded(1),
    )
    .await;
    assert_eq!(
        first.retry,
        vec![Entry {
            attempts: 1,
            ..entry(2)
        }]
    );
    assert!(
        first.delay >= BACKOFF.base / 2 && first.delay <= BACKOFF.base,
        "{:?}",
        first.delay
    );
    assert_eq!(Stats::get(&ctx.stats.delivered), 2);

    let second = send_call(Arc::clone(&ctx), first.retry, vec![], Rng::seeded(2)).await;
    assert!(second.retry.is_empty());
    assert_eq!(
        sent(&fake),
        vec![
            vec![entry(1).data, entry(2).data, entry(3).data],
            vec![entry(2).data],
        ]
    );
    assert_eq!(Stats::get(&ctx.stats.delivered), 3);
    assert_eq!(Stats::get(&ctx.stats.resent), 1);
    assert_eq!(Stats::get(&ctx.stats.failed), 0);
}

#[tokio::test]
async fn a_throttled_call_backs_off_longer_with_each_attempt_then_dead_letters() {
    let fake = Arc::new(FakeKinesis::new());
    let ctx = ctx(&fake);
    let throttled = || {
        service_error(
            400,
            PutRecordsError::ProvisionedThroughputExceededException(
                ProvisionedThroughputExceededException::builder()
                    .meta(meta("ProvisionedThroughputExceededException", "slow down"))
                    .build(),
            ),
        )
    };
    let mut entries = vec![entry(1), entry(2)];
    for attempt in 1..=3u32 {
        fake.push_put_records(Err(throttled()));
        let out = send_call(
            Arc::clone(&ctx),
            entries,
            vec![],
            Rng::seeded(attempt.into()),
        )
        .await;
        assert_eq!(
            out.retry.len(),
            2,
            "attempt {attempt}: the whole batch comes back"
        );
        let ceiling = BACKOFF.ceiling(attempt);
        assert!(
            out.delay >= ceiling / 2 && out.delay <= ceiling,
            "attempt {attempt}: {:?}",
            out.delay
        );
        entries = out.retry;
    }
    // --max-retries 3: the fourth attempt is the last.
    fake.push_put_records(Err(throttled()));
    let last = send_call(Arc::clone(&ctx), entries, vec![], Rng::seeded(9)).await;
    assert!(last.retry.is_empty());
    assert_eq!(Stats::get(&ctx.stats.failed), 2);
    assert!(!ctx.is_fatal(), "throttling is never fatal");
}

#[tokio::test]
async fn a_deleted_stream_is_fatal_and_dead_letters_the_batch() {
    let fake = Arc::new(FakeKinesis::new());
    let ctx = ctx(&fake);
    fake.push_put_records(Err(service_error(
        400,
        PutRecordsError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .meta(meta("ResourceNotFoundException", "gone"))
                .build(),
        ),
    )));
    let out = send_call(Arc::clone(&ctx), vec![entry(1)], vec![], Rng::seeded(1)).await;
    assert!(out.retry.is_empty());
    assert!(ctx.is_fatal());
    assert_eq!(Stats::get(&ctx.stats.failed), 1);
}

/// Resharding mid-write: the outcome names the shards that acknowledged, one of them unknown
/// to the map (the dispatcher then re-lists), and the new map routes records to the children.
#[tokio::test]
async fn a_result_from_an_unknown_shard_asks_for_a_new_shard_map() {
    let fake = Arc::new(FakeKinesis::new());
    let ctx = ctx(&fake);
    let map = ShardMap::new(vec![ShardRange {
        shard_id: Arc::from("shardId-0"),
        start: 0,
        end: u128::MAX,
    }])
    .expect("map");
    fake.push_put_records(Ok(answer(vec![ok("shardId-0", "1")])));
    let out = send_call(Arc::clone(&ctx), vec![entry(1)], vec![], Rng::seeded(1)).await;
    assert_eq!(out.shards, ["shardId-0"]);
    assert!(out.shards.iter().all(|s| map.contains(s)), "known shard");

    fake.push_put_records(Ok(answer(vec![
        ok("shardId-2", "2"),
        ok("shardId-0", "3"),
        ok("shardId-2", "4"),
    ])));
    let entries = (2..=4).map(entry).collect();
    let out = send_call(Arc::clone(&ctx), entries, vec![], Rng::seeded(1)).await;
    assert_eq!(out.shards, ["shardId-2", "shardId-0"], "each shard once");
    assert!(!map.contains("shardId-2"), "shardId-2 is new");

    fake.push_list_shards(Ok(kds_aws::fake::listing(&[
        (
            "shardId-0",
            "0",
            "340282366920938463463374607431768211455",
            true,
        ),
        (
            "shardId-1",
            "0",
            "170141183460469231731687303715884105727",
            false,
        ),
        (
            "shardId-2",
            "170141183460469231731687303715884105728",
            "340282366920938463463374607431768211455",
            false,
        ),
    ])));
    let map = crate::shard_map::list_open_shards(&*fake, "s")
        .await
        .expect("listed");
    let ids: Vec<&str> = map.shards().iter().map(|s| &*s.shard_id).collect();
    assert_eq!(ids, ["shardId-1", "shardId-2"], "the closed parent is gone");
    assert_eq!(&**map.shard_for_hash(u128::MAX), "shardId-2");
    assert_eq!(&**map.shard_for_hash(7), "shardId-1");
}
