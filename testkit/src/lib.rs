//! Integration-test harness for kds-tools: the local Kinesis + S3 stack, per-test streams and
//! buckets, reading results back, and locating the tools' binaries.
//!
//! Every test that needs AWS runs against the emulators started by `scripts/stack start`
//! (kinesis-local and moto_server), described by `<repo>/.tools/stack.env`. A test that cannot
//! reach them FAILS with "local stack not running: run scripts/stack start"; nothing is skipped.
//!
//! ```no_run
//! use testkit::{read_stream_all, Stack, TestStream};
//!
//! #[tokio::test]
//! async fn puts_every_line() -> anyhow::Result<()> {
//!     let stack = Stack::get(); // panics with the "run scripts/stack start" message
//!     let stream = TestStream::create(&stack, 2).await?; // unique name, ACTIVE, deleted on drop
//!     let out = stack
//!         .command(env!("CARGO_BIN_EXE_kds-put"))
//!         .args(["--stream", &stream.name])
//!         .output()?;
//!     assert!(out.status.success());
//!     let records = read_stream_all(&stack.kinesis_client().await, &stream.name).await?;
//!     assert_eq!(records.len(), 3);
//!     Ok(())
//! }
//! ```
//!
//! API:
//! - [`Stack`]: `Stack::get()`, `Stack::from_env_file()`, `Stack::from_path(p)`, fields
//!   `kinesis_endpoint` / `s3_endpoint`, `env_vars()`, `command(program)`,
//!   `kinesis_client().await`, `s3_client().await`.
//! - [`unique_name`]`(prefix)`: collision-free stream/bucket names.
//! - [`TestStream`] / [`TestBucket`]: `create(&stack, ..).await`, `create_named`, `delete().await`,
//!   deletion on drop.
//! - [`read_stream_all`], [`list_shard_ids`], [`wait_active`]: Kinesis read-back.
//! - [`shard_ranges`], [`open_shards`], [`all_shards`], [`split_in_half`], [`merge`]: shards
//!   with their hash-key ranges (the tools' ListShards pager) and resharding a test stream.
//! - [`list_objects_all`], [`list_keys`]: S3 read-back; [`reported_records`]: the records
//!   kds-s3sink's object reports add up to.
//! - [`reliability`]: `wait_with_rusage(&mut child)` (exit status + the child's peak RSS),
//!   `Scale::from_env()` (`KDS_RELIABILITY=full`), `Figures` recorded for `bench/RELIABILITY.md`,
//!   `shared_outcome` (a scenario run once for the tests that each assert one behaviour of it).
//! - [`process`]: `Watchdog::start(what, limit)`, `spawn(name, cmd)` → `Proc` (`signal`, `alive`,
//!   `finish(&wd)` → status and peak RSS), `collect`, `feed`, `tee`: children bounded in time,
//!   never a recycled pid killed; `signal(&child, sig)` for an unreaped `Child`, `poll_until`.
//! - [`tmux`]: `Pane::start(columns, rows, command)`, `screen()`, `wait_for(texts, patience)`,
//!   `keys(k)`: a command in a real terminal, its own tmux server killed on drop.
//! - [`tally`]: `split_concatenated_json`, `s3_records`, `Tally::of(sent, got)`, `Rss`.
//! - [`usage`]: `assert_usage_shape(tool, stderr)` (one line, or clap's message ending in the
//!   `--help` hint).
//! - [`bin_path`]`(name)`: another crate's binary (reused when fresh, else `cargo build -p name`).

mod bin;
mod bucket;
mod names;
mod reshard;
mod stack;
mod stream;

pub mod fault_proxy;
pub mod process;
pub mod recorder;
pub mod reliability;
pub mod tally;
pub mod tmux;
pub mod usage;

pub use bin::bin_path;
pub use bucket::{list_keys, list_objects_all, reported_records, TestBucket};
pub use names::unique_name;
pub use reshard::{all_shards, merge, open_shards, shard_ranges, split_in_half, ShardRange};
pub use stack::{repo_root, Stack, NOT_RUNNING, REGION};
pub use stream::{list_shard_ids, read_stream_all, wait_active, RecordOut, TestStream};

use std::future::Future;
use std::time::Duration;

/// Runs `fut` to completion on a new thread with its own current-thread runtime and waits for
/// it at most `timeout`. Used by the `Drop` impls, which cannot be async and may run inside
/// (or outside) a tokio runtime.
fn run_detached<F>(timeout: Duration, fut: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("testkit-cleanup".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(fut),
                Err(e) => eprintln!("testkit: cleanup runtime: {e}"),
            }
            let _ = done_tx.send(());
        });
    match spawned {
        Ok(_) => {
            if done_rx.recv_timeout(timeout).is_err() {
                eprintln!("testkit: cleanup did not finish within {timeout:?}");
            }
        }
        Err(e) => eprintln!("testkit: cleanup thread: {e}"),
    }
}
