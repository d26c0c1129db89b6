//! The one in-flight budget from reader to acknowledgement, against a scripted Kinesis (no
//! emulator, no network): the reader thread stops reading when the budget is spent, taking
//! records out of the channel frees nothing, and it reads on exactly as far as acknowledged,
//! dead-lettered or failed records give their bytes back (a retry keeps its charge).

use std::io::Cursor;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kds_aws::fake::FakeKinesis;
use kds_common::io::LineReader;
use kds_common::rng::Rng;
use kds_common::signal::Shutdown;
use tokio::sync::mpsc;

use crate::batch::Entry;
use crate::budget::held_bytes;
use crate::input::{spawn_reader, Handoff, InputLimits, Item, Parse};
use crate::limits::MAX_RECORD_BYTES;
use crate::partition::{KeySource, Keyer};
use crate::sender::fake_tests::{answer, ctx_with_budget, failed, ok};
use crate::sender::{send_call, Ctx};
use crate::stats::Stats;

/// Lines of equal size: `{"tno":"K1"}` to `{"tno":"K6"}`.
const LINES: u64 = 6;
/// Lines the budget holds.
const FITS: usize = 3;

fn line(n: u64) -> String {
    format!("{{\"tno\":\"K{n}\"}}")
}

/// What each line is charged: all lines are the same size.
fn charge() -> usize {
    held_bytes(line(1).as_bytes(), "K1", None)
}

/// Waits (bounded) until the reader has read `n` lines, then checks it reads no further.
fn reader_stops_at(ctx: &Ctx, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Stats::get(&ctx.stats.read) < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(Stats::get(&ctx.stats.read), n, "lines read");
}

fn start_reader(
    ctx: &Arc<Ctx>,
) -> (
    JoinHandle<anyhow::Result<()>>,
    mpsc::UnboundedReceiver<Item>,
) {
    let input: String = (1..=LINES).map(|n| line(n) + "\n").collect();
    let (tx, rx) = mpsc::unbounded_channel();
    let parse = Parse {
        keyer: Keyer::new(KeySource::Field("tno".into())),
        explicit_hash_key: None,
        limits: InputLimits {
            strict: false,
            max_record: MAX_RECORD_BYTES,
        },
    };
    let handoff = Handoff {
        tx,
        budget: Arc::clone(&ctx.budget),
        stats: Arc::clone(&ctx.stats),
        stop: Arc::new(AtomicBool::new(false)),
        shutdown: Shutdown::manual(),
    };
    let reader = LineReader::new(Cursor::new(input.into_bytes()));
    (
        spawn_reader(reader, parse, handoff).expect("reader thread"),
        rx,
    )
}

/// Takes what the reader handed over, as the dispatcher does, as PutRecords entries.
fn take_entries(rx: &mut mpsc::UnboundedReceiver<Item>) -> Vec<Entry> {
    let mut entries = Vec::new();
    while let Ok(item) = rx.try_recv() {
        match item {
            Item::Record(rec) => entries.push(Entry::plain(rec)),
            Item::Bad(bad) => panic!("line {} is bad: {}", bad.line, bad.message),
        }
    }
    entries
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reader_blocks_while_the_budget_is_spent_and_reads_on_as_records_are_acknowledged() {
    let fake = Arc::new(FakeKinesis::new());
    let ctx = ctx_with_budget(&fake, FITS * charge());
    let (reader, mut rx) = start_reader(&ctx);

    reader_stops_at(&ctx, FITS as u64);
    assert_eq!(ctx.budget.used(), FITS * charge());
    let first = take_entries(&mut rx);
    assert_eq!(first.len(), FITS);
    reader_stops_at(&ctx, FITS as u64);
    assert!(
        !reader.is_finished(),
        "taking records from the channel frees nothing"
    );

    // Two acknowledged, one throttled: the reader reads two lines more, the retry keeps its
    // bytes.
    fake.push_put_records(Ok(answer(vec![
        ok("shardId-0", "1"),
        failed("ProvisionedThroughputExceededException"),
        ok("shardId-0", "3"),
    ])));
    let out = send_call(Arc::clone(&ctx), first, vec![], Rng::seeded(1)).await;
    assert_eq!(out.retry.len(), 1);
    reader_stops_at(&ctx, FITS as u64 + 2);
    assert_eq!(ctx.budget.used(), FITS * charge());

    // The retry is refused for good (dead-lettered): its bytes let the last line in.
    fake.push_put_records(Ok(answer(vec![failed("InvalidArgumentException")])));
    let out = send_call(Arc::clone(&ctx), out.retry, vec![], Rng::seeded(2)).await;
    assert!(out.retry.is_empty());
    assert_eq!(Stats::get(&ctx.stats.failed), 1);
    reader_stops_at(&ctx, LINES);
    reader
        .join()
        .expect("reader thread")
        .expect("reader result");

    let rest = take_entries(&mut rx);
    assert_eq!(rest.len(), FITS);
    fake.push_put_records(Ok(answer(vec![ok("shardId-0", "4"); FITS])));
    send_call(Arc::clone(&ctx), rest, vec![], Rng::seeded(3)).await;
    assert_eq!(ctx.budget.used(), 0, "every byte given back");
    assert_eq!(Stats::get(&ctx.stats.delivered), LINES - 1);
}
