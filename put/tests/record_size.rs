//! Records up to the stream's own maximum record size: DescribeStreamSummary's
//! MaxRecordSizeInKiB (AWS page "UpdateMaxRecordSize": 1024 to 10240 KiB) against kinesis-local.

mod util;

use testkit::{Stack, TestStream};
use util::*;

const KIB: usize = 1024;

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
    let (out, dead) = put_lines(&stack, None, &stream.name, &[fits.clone(), over], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "one dead letter: {stderr}");
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
    let (out, dead) = put_lines(&stack, None, &stream.name, &[over], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("1048576-byte limit"), "{stderr}");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["error_code"], "RecordTooLarge");
    assert!(read_back(&stack, &stream.name).await.is_empty());
    stream.delete().await.expect("delete stream");
}
