//! A KPL aggregate holding a user record whose explicit hash key lies outside the shard it was
//! put on (what an aggregate packed before a reshard looks like): kept and reported by default,
//! dropped with --kcl-drop-outside-shard as the KCL does (AWS page "Consumer De-aggregation").

mod support;

use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use kds_common::kpl::{encode, Record};
use support::*;
use testkit::process::run_bounded;
use testkit::{Stack, TestStream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_records_outside_the_shard_are_counted_kept_or_dropped_on_request() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await.expect("stream");
    let client = stack.kinesis_client().await;
    let top = u128::MAX.to_string();
    let users = [
        Record {
            partition_key: "inside",
            explicit_hash_key: Some("0"),
            data: b"{\"n\":1}",
        },
        Record {
            partition_key: "outside",
            explicit_hash_key: Some(&top),
            data: b"{\"n\":2}",
        },
    ];
    // The Kinesis record goes by its own hash key 0: the first shard, whose range ends at
    // 2^127 - 1; the second user record's key belongs to the other shard.
    client
        .put_record()
        .stream_name(&stream.name)
        .partition_key("inside")
        .explicit_hash_key("0")
        .data(Blob::new(encode(&users)))
        .send()
        .await
        .expect("PutRecord");

    for (drop, want) in [(false, 2), (true, 1)] {
        let mut cmd = tail(&stack);
        cmd.args(["--stream", &stream.name, "--from", "trim-horizon", "-e"]);
        if drop {
            cmd.arg("--kcl-drop-outside-shard");
        }
        let out =
            tokio::task::spawn_blocking(move || run_bounded(cmd, None, Duration::from_secs(60)))
                .await
                .expect("join");
        let stderr = &out.stderr;
        assert!(out.status.success(), "{stderr}");
        let got = lines(&out.stdout);
        assert_eq!(got.len(), want, "drop {drop}: {stderr}");
        assert_eq!(got[0], b"{\"n\":1}");
        assert!(
            stderr.contains("1 de-aggregated records outside their shard's hash-key range"),
            "{stderr}"
        );
    }
    stream.delete().await.expect("delete stream");
}
