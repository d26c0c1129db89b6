//! scripts/cron-example.sh run three times in a row, with records arriving in between: every
//! record lands in S3 exactly once.

mod common;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use testkit::{list_objects_all, Stack, TestBucket, TestStream};

async fn put_batch(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    lines: &[String],
) -> anyhow::Result<()> {
    for chunk in lines.chunks(250) {
        let mut entries = Vec::new();
        for (i, l) in chunk.iter().enumerate() {
            entries.push(
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(l.as_bytes()))
                    .partition_key(format!("k{i}"))
                    .build()?,
            );
        }
        let out = client
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await?;
        assert_eq!(
            out.failed_record_count(),
            Some(0),
            "PutRecords had failures"
        );
    }
    Ok(())
}

fn run_cron(stack: &Stack, stream: &str, bucket: &str, state: &std::path::Path) -> Vec<u64> {
    let out = stack
        .command("bash")
        .arg(common::script("cron-example.sh"))
        .args(["--stream", stream, "--bucket", bucket, "--state-dir"])
        .arg(state)
        .arg("--bin")
        .arg(common::tool_dir_for(&["kds-tail", "kds-s3sink"]))
        .output()
        .expect("run cron-example.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cron-example.sh failed: {:?}\n{stderr}",
        out.status
    );
    assert!(stderr.contains(" ok: "), "no summary line: {stderr}");
    // One report line per object written.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("report is JSON");
            assert_eq!(v["bucket"], bucket);
            v["records"].as_u64().expect("records")
        })
        .collect()
}

/// `run_cron` on a blocking thread, so the test's runtime keeps serving while the script runs.
async fn run_cron_blocking(
    stack: &Stack,
    stream: &str,
    bucket: &str,
    state: &std::path::Path,
) -> Vec<u64> {
    let (stack, stream, bucket, state) = (
        stack.clone(),
        stream.to_string(),
        bucket.to_string(),
        state.to_path_buf(),
    );
    tokio::task::spawn_blocking(move || run_cron(&stack, &stream, &bucket, &state))
        .await
        .expect("cron run thread")
}

#[tokio::test(flavor = "multi_thread")]
async fn three_cron_runs_with_data_in_between_deliver_every_record_exactly_once() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await.unwrap();
    let bucket = TestBucket::create(&stack).await.unwrap();
    let kinesis = stack.kinesis_client().await;
    let s3 = stack.s3_client().await;
    let state = tempfile::tempdir().unwrap();

    let mut expected: Vec<Vec<u8>> = Vec::new();
    for (run, n) in [(1, 300), (2, 120), (3, 450)] {
        let batch: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"run":{run},"i":{i},"tnum":{}}}"#, i % 97))
            .collect();
        put_batch(&kinesis, &stream.name, &batch).await.unwrap();
        expected.extend(batch.iter().map(|l| l.as_bytes().to_vec()));

        let reports = run_cron_blocking(&stack, &stream.name, &bucket.name, state.path()).await;
        // This run delivered exactly the records that arrived since the previous one.
        assert_eq!(
            reports.iter().sum::<u64>(),
            n as u64,
            "run {run} delivered {reports:?}"
        );

        // And S3 as a whole holds every record put so far, each exactly once.
        let objects = list_objects_all(&s3, &bucket.name).await.unwrap();
        let mut got: Vec<Vec<u8>> = objects
            .iter()
            .flat_map(|(_, body)| common::split_concatenated_json(body))
            .collect();
        got.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(got.len(), want.len(), "after run {run}: record count in S3");
        assert!(
            got == want,
            "after run {run}: S3 records differ from what was put"
        );
        for (key, _) in &objects {
            assert!(key.starts_with("lab1-input/"), "unexpected key {key}");
        }
    }

    // Nothing new: a fourth run writes no object and the checkpoint stays.
    let before = list_objects_all(&s3, &bucket.name).await.unwrap().len();
    let reports = run_cron_blocking(&stack, &stream.name, &bucket.name, state.path()).await;
    assert_eq!(
        reports.iter().sum::<u64>(),
        0,
        "idle run delivered {reports:?}"
    );
    assert_eq!(
        list_objects_all(&s3, &bucket.name).await.unwrap().len(),
        before
    );
    assert!(state
        .path()
        .join(format!("{}.checkpoint", stream.name))
        .is_file());
}

#[test]
fn cron_example_without_stream_is_a_usage_error() {
    let out = std::process::Command::new("bash")
        .arg(common::script("cron-example.sh"))
        .args(["--bucket", "b"])
        .env_remove("KDS_TAIL_STREAM")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--stream is required"));
}
