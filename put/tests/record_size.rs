//! Records up to the stream's own maximum record size: DescribeStreamSummary's
//! MaxRecordSizeInKiB (AWS page "UpdateMaxRecordSize": 1024 to 10240 KiB) against kinesis-local.

mod util;

use testkit::{Stack, TestStream};
use util::*;

const KIB: usize = 1024;

/// Runs kds-put on `lines` into `stream` with a dead-letter file: the exit code, stderr and
/// the dead letters.
fn put_lines(
    stack: &Stack,
    stream: &str,
    lines: &[String],
) -> (Option<i32>, String, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let input = write_lines(dir.path(), "in.ndjson", lines);
    let dl = dir.path().join("dead.ndjson");
    let dl_arg = dl.to_str().expect("UTF-8 temporary path");
    let input_arg = input.to_str().expect("UTF-8 temporary path");
    let out = run_put(
        stack,
        None,
        &["-s", stream, "--dead-letter", dl_arg, input_arg],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stderr, ndjson_file(&dl))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_with_a_2_mib_limit_takes_a_1_5_mib_record_and_refuses_2_5_mib() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 1).await.expect("create stream");
    let client = stack.kinesis_client().await;
    client
        .update_max_record_size()
        .stream_arn(&stream.arn)
        .max_record_size_in_kib(2048)
        .send()
        .await
        .expect("UpdateMaxRecordSize (kinesis-local supports it)");
    testkit::wait_active(&client, &stream.name)
        .await
        .expect("active");

    let fits = format!(r#"{{"tno":"FITS","pad":"{}"}}"#, "y".repeat(1536 * KIB));
    let over = format!(r#"{{"tno":"OVER","pad":"{}"}}"#, "z".repeat(2560 * KIB));
    let (status, stderr, dead) = put_lines(&stack, &stream.name, &[fits.clone(), over]);
    assert_eq!(status, Some(1), "one dead letter: {stderr}");
    assert!(
        stderr.contains("line 2: record is ") && stderr.contains("2097152-byte limit"),
        "{stderr}"
    );
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["line"], 2);
    assert_eq!(dead[0]["error_code"], "RecordTooLarge");
    let back = read_back(&stack, &stream.name).await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].text(), fits, "the 1.5 MiB record arrived whole");
    stream.delete().await.expect("delete stream");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_without_a_larger_limit_keeps_1_mib() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 1).await.expect("create stream");
    let over = format!(r#"{{"tno":"OVER","pad":"{}"}}"#, "z".repeat(1536 * KIB));
    let (status, stderr, dead) = put_lines(&stack, &stream.name, &[over]);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(stderr.contains("1048576-byte limit"), "{stderr}");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["error_code"], "RecordTooLarge");
    assert!(read_back(&stack, &stream.name).await.is_empty());
    stream.delete().await.expect("delete stream");
}
