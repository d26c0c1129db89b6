//! Each tool reads only its own environment variables (`KDS_PUT_*`, `KDS_TAIL_*`, ...): with
//! every tool's variables exported at once, the lab's `kds-tail | kds-window | kds-put` reads
//! one stream and writes another, never back into its source; the old shared names
//! (`KDS_STREAM`) are read by no tool.

mod common;

use std::process::Stdio;

use testkit::{read_stream_all, Stack, TestStream};

/// Trade events on one simulated minute, as kds-gen writes them.
fn trades(count: usize) -> String {
    (0..count)
        .map(|i| {
            format!(
                r#"{{"tid":"{i}","tno":"T{i}","tdate":"2021-03-19","uno":"U1000","pno":"P1000","tnum":{i},"tuptime":"2021-03-19T13:00:{:02}Z"}}"#,
                i % 60
            ) + "\n"
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_tools_variables_exported_write_nothing_back_into_the_source() {
    let stack = Stack::get();
    let source = TestStream::create_named(&stack, "kds-env-src", 1)
        .await
        .unwrap();
    let sink = TestStream::create_named(&stack, "kds-env-dst", 1)
        .await
        .unwrap();
    let bin = common::tool_dir_for(&["kds-gen", "kds-put", "kds-tail", "kds-window", "kds-s3sink"]);
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.ndjson");
    std::fs::write(&events, trades(20)).unwrap();

    let mut put = stack.command(bin.join("kds-put"));
    put.args(["--stream", &source.name]).arg(&events);
    let out = put.output().unwrap();
    assert!(out.status.success(), "loading the source: {out:?}");

    // Every tool's variables at once, as a user who exports them all in one shell would: the
    // source name wherever a stream is read, the destination where kds-put writes, and the
    // old shared names pointing at the source.
    let exported = [
        ("KDS_TAIL_STREAM", source.name.as_str()),
        ("KDS_TAIL_FROM", "trim-horizon"),
        ("KDS_WINDOW_TIME", "event:tuptime"),
        ("KDS_WINDOW_SIZE", "60s"),
        ("KDS_PUT_STREAM", sink.name.as_str()),
        ("KDS_PUT_PARTITION_KEY_FIELD", "window_start"),
        ("KDS_PUT_CONCURRENCY", "2"),
        ("KDS_S3SINK_BUCKET", "not-used-here"),
        ("KDS_S3SINK_CONCURRENCY", "64"),
        ("KDS_GEN_RATE", "0"),
        ("KDS_GEN_SEED", "1"),
        ("KDS_STREAM", source.name.as_str()),
        ("KDS_CONCURRENCY", "9999"),
    ];
    let pipeline = format!(
        "set -o pipefail; {tail} -e | {window} | {put}",
        tail = bin.join("kds-tail").display(),
        window = bin.join("kds-window").display(),
        put = bin.join("kds-put").display(),
    );
    let out = stack
        .command("bash")
        .args(["-c", &pipeline])
        .envs(exported)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pipeline: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let client = stack.kinesis_client().await;
    let back = read_stream_all(&client, &source.name).await.unwrap();
    assert_eq!(
        back.len(),
        20,
        "the source holds only what was loaded into it"
    );
    assert!(
        back.iter().all(|r| r.text().contains("\"tno\"")),
        "a window row in the source"
    );
    let rows = read_stream_all(&client, &sink.name).await.unwrap();
    assert_eq!(rows.len(), 1, "one minute, one window row");
    assert!(
        rows[0].text().contains("\"count_tno\":20"),
        "{}",
        rows[0].text()
    );

    // The old shared names alone configure nothing: kds-put still asks for --stream.
    let out = stack
        .command(bin.join("kds-put"))
        .env("KDS_STREAM", &source.name)
        .env_remove("KDS_PUT_STREAM")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--stream <NAME>"),
        "{out:?}"
    );

    source.delete().await.unwrap();
    sink.delete().await.unwrap();
}
