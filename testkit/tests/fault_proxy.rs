//! The fault-injecting proxy against the real emulators (kinesis-local, moto_server), driven
//! with the AWS Rust SDK. Needs `scripts/stack start`; fails with that message otherwise.
#![allow(clippy::unwrap_used)] // tests may unwrap (team rules)

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_sdk_s3::primitives::ByteStream;
use testkit::fault_proxy::{FaultConfig, FaultProxy};
use testkit::{read_stream_all, Stack, TestBucket, TestStream, REGION};

/// A Kinesis client through `url` making at most `attempts` attempts per call.
fn kinesis_via(url: &str, attempts: u32) -> aws_sdk_kinesis::Client {
    use aws_sdk_kinesis::config::{
        retry::RetryConfig, timeout::TimeoutConfig, BehaviorVersion, Credentials, Region,
    };
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(url)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(10)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(30))
                .build(),
        )
        .build();
    aws_sdk_kinesis::Client::from_conf(conf)
}

fn s3_via(url: &str, attempts: u32) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{retry::RetryConfig, BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(url)
        .force_path_style(true)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(10)),
        )
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

fn entries(tag: &str, n: usize) -> Vec<PutRecordsRequestEntry> {
    (0..n)
        .map(|i| {
            PutRecordsRequestEntry::builder()
                .data(Blob::new(format!("{{\"tag\":\"{tag}\",\"i\":{i}}}")))
                .partition_key(format!("pk-{i}"))
                .build()
                .unwrap()
        })
        .collect()
}

fn data_of(e: &PutRecordsRequestEntry) -> String {
    String::from_utf8(e.data().as_ref().to_vec()).unwrap()
}

/// Every record's data in the stream, read directly from the emulator (not through a proxy).
async fn stream_contents(stack: &Stack, stream: &str) -> Vec<String> {
    let direct = stack.kinesis_client().await;
    read_stream_all(&direct, stream)
        .await
        .unwrap()
        .iter()
        .map(|r| r.text())
        .collect()
}

#[tokio::test]
async fn transparent_without_faults_kinesis() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await.unwrap();
    let proxy = FaultProxy::start(&stack.kinesis_endpoint, FaultConfig::new());
    let client = kinesis_via(&proxy.url(), 1);

    let batch = entries("transparent", 40);
    let out = client
        .put_records()
        .stream_name(&stream.name)
        .set_records(Some(batch.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count(), Some(0));
    assert_eq!(out.records().len(), 40);
    assert!(out.records().iter().all(|r| r.sequence_number().is_some()));

    // Read back THROUGH the proxy (ListShards, GetShardIterator, GetRecords).
    let read: BTreeSet<String> = read_stream_all(&client, &stream.name)
        .await
        .unwrap()
        .iter()
        .map(|r| r.text())
        .collect();
    let sent: BTreeSet<String> = batch.iter().map(data_of).collect();
    assert_eq!(read, sent);

    let st = proxy.stats();
    assert!(st.requests >= 4, "{st:?}");
    assert_eq!(st.forwarded, st.requests, "{st:?}");
    assert_eq!(st.injected_requests(), 0);
    assert_eq!(st.entries_received, 40);
    assert_eq!(st.entries_forwarded, 40);
    assert_eq!(st.operation("PutRecords"), 1);
    assert!(st.operation("GetRecords") >= 2, "{st:?}");
}

#[tokio::test]
async fn transparent_without_faults_s3() {
    let stack = Stack::get();
    let bucket = TestBucket::create(&stack).await.unwrap();
    let proxy = FaultProxy::start(&stack.s3_endpoint, FaultConfig::new());
    let s3 = s3_via(&proxy.url(), 1);

    // A small object, and one big enough for the SDK to use its streaming/100-continue paths.
    let small = b"{\"a\":1}\n{\"a\":2}\n".to_vec();
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    for (key, body) in [("dir/small.json", &small), ("dir/big.bin", &big)] {
        s3.put_object()
            .bucket(&bucket.name)
            .key(key)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        let head = s3
            .head_object()
            .bucket(&bucket.name)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_length(), Some(body.len() as i64));
        let got = s3
            .get_object()
            .bucket(&bucket.name)
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        assert_eq!(got.as_ref(), body.as_slice(), "{key}");
    }
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket.name)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["dir/big.bin", "dir/small.json"]);

    let st = proxy.stats();
    assert_eq!(st.operation("PutObject"), 2, "{st:?}");
    assert_eq!(st.operation("HeadObject"), 2, "{st:?}");
    assert_eq!(st.operation("GetObject"), 2, "{st:?}");
    assert_eq!(st.operation("ListObjectsV2"), 1, "{st:?}");
    assert_eq!(st.forwarded, st.requests);
    assert_eq!(st.injected_requests(), 0);
}

#[tokio::test]
async fn every_entry_failed_writes_nothing() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 1).await.unwrap();
    let proxy = FaultProxy::start(
        &stack.kinesis_endpoint,
        FaultConfig::new().put_records_entry_failure(1.0),
    );
    let client = kinesis_via(&proxy.url(), 1);
    let out = client
        .put_records()
        .stream_name(&stream.name)
        .set_records(Some(entries("allfail", 12)))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count(), Some(12));
    assert_eq!(out.records().len(), 12);
    for r in out.records() {
        assert_eq!(
            r.error_code(),
            Some("ProvisionedThroughputExceededException")
        );
        let msg = r.error_message().unwrap();
        assert!(msg.starts_with("Rate exceeded for shard"), "{msg}");
        assert!(msg.contains(&stream.name), "{msg}");
        assert!(r.sequence_number().is_none() && r.shard_id().is_none());
    }
    assert!(stream_contents(&stack, &stream.name).await.is_empty());
    let st = proxy.stats();
    assert_eq!(st.entries_received, 12);
    assert_eq!(st.entries_failed, 12);
    assert_eq!(st.entry_throughput_exceeded, 12);
    assert_eq!(st.entries_forwarded, 0);
    assert_eq!(
        st.forwarded, 0,
        "an all-failed call is answered by the proxy"
    );
}

#[tokio::test]
async fn half_failed_entries_are_exactly_the_unwritten_ones() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await.unwrap();
    let proxy = FaultProxy::start(
        &stack.kinesis_endpoint,
        FaultConfig::new().seed(7).put_records_entry_failure(0.5),
    );
    let client = kinesis_via(&proxy.url(), 1);

    let mut expected_written = BTreeSet::new();
    let mut failed = 0usize;
    for call in 0..3 {
        let batch = entries(&format!("half{call}"), 50);
        let out = client
            .put_records()
            .stream_name(&stream.name)
            .set_records(Some(batch.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.records().len(), batch.len());
        let mut failed_here = 0;
        for (entry, result) in batch.iter().zip(out.records()) {
            match result.error_code() {
                Some(code) => {
                    assert_eq!(code, "ProvisionedThroughputExceededException");
                    assert!(result.sequence_number().is_none());
                    failed_here += 1;
                }
                None => {
                    assert!(result.sequence_number().is_some());
                    assert!(result.shard_id().is_some());
                    expected_written.insert(data_of(entry));
                }
            }
        }
        assert_eq!(out.failed_record_count(), Some(failed_here));
        failed += failed_here as usize;
    }
    assert!(
        failed > 0 && failed < 150,
        "50% of 150 entries failed: {failed}"
    );
    let written: Vec<String> = stream_contents(&stack, &stream.name).await;
    assert_eq!(written.len(), expected_written.len(), "no duplicates");
    assert_eq!(
        written.into_iter().collect::<BTreeSet<_>>(),
        expected_written
    );
    let st = proxy.stats();
    assert_eq!(st.entries_failed as usize, failed);
    assert_eq!(st.entries_received, 150);
    assert_eq!(st.entries_forwarded as usize, 150 - failed);
}

#[tokio::test]
async fn same_seed_same_failures_and_all_entry_codes() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 1).await.unwrap();
    let config = FaultConfig::new()
        .seed(99)
        .put_records_entry_failure(0.2)
        .put_records_kms_throttling(0.2)
        .put_records_internal_failure(0.2);
    let mut runs = Vec::new();
    for _ in 0..2 {
        let proxy = FaultProxy::start(&stack.kinesis_endpoint, config.clone());
        let client = kinesis_via(&proxy.url(), 1);
        let out = client
            .put_records()
            .stream_name(&stream.name)
            .set_records(Some(entries("codes", 60)))
            .send()
            .await
            .unwrap();
        let codes: Vec<Option<String>> = out
            .records()
            .iter()
            .map(|r| r.error_code().map(str::to_string))
            .collect();
        let mut by_code: BTreeMap<String, u64> = BTreeMap::new();
        for c in codes.iter().flatten() {
            *by_code.entry(c.clone()).or_default() += 1;
        }
        let st = proxy.stats();
        assert_eq!(
            by_code
                .get("ProvisionedThroughputExceededException")
                .copied()
                .unwrap_or(0),
            st.entry_throughput_exceeded
        );
        assert_eq!(
            by_code.get("KMSThrottlingException").copied().unwrap_or(0),
            st.entry_kms_throttling
        );
        assert_eq!(
            by_code.get("InternalFailure").copied().unwrap_or(0),
            st.entry_internal_failure
        );
        assert!(st.entry_throughput_exceeded > 0 && st.entry_kms_throttling > 0);
        assert!(st.entry_internal_failure > 0);
        for r in out.records() {
            if r.error_code() == Some("InternalFailure") {
                assert_eq!(r.error_message(), Some("Internal Service Failure"));
            }
        }
        runs.push(codes);
    }
    assert_eq!(runs[0], runs[1], "same seed, same failures");
}

#[tokio::test]
async fn http_500_is_retried_by_the_sdk_then_surfaces() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 1).await.unwrap();
    let proxy = FaultProxy::start(
        &stack.kinesis_endpoint,
        FaultConfig::new().http_500(1.0).only(["PutRecords"]),
    );
    // 3 attempts: the SDK classifies the 500 as transient and retries it.
    let client = kinesis_via(&proxy.url(), 3);
    let err = client
        .put_records()
        .stream_name(&stream.name)
        .set_records(Some(entries("h500", 3)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));
    assert_eq!(err.code(), Some("InternalFailure"));
    let st = proxy.stats();
    assert_eq!(st.http_500, 3, "one per SDK attempt: {st:?}");
    assert_eq!(st.operation("PutRecords"), 3);
    assert_eq!(st.forwarded, 0);
    assert!(stream_contents(&stack, &stream.name).await.is_empty());

    // Only PutRecords is affected: other operations pass.
    client
        .describe_stream_summary()
        .stream_name(&stream.name)
        .send()
        .await
        .unwrap();

    // Live reconfiguration: faults off, the same client now succeeds.
    proxy.set_config(FaultConfig::new());
    let out = client
        .put_records()
        .stream_name(&stream.name)
        .set_records(Some(entries("h500", 3)))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count(), Some(0));
    assert_eq!(stream_contents(&stack, &stream.name).await.len(), 3);
    assert_eq!(proxy.stats().http_500, 3);
}

#[tokio::test]
async fn throttling_and_expired_iterator_are_classified_like_aws() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 1).await.unwrap();
    let proxy = FaultProxy::start(
        &stack.kinesis_endpoint,
        FaultConfig::new().throttle(1.0).only(["PutRecord"]),
    );
    let client = kinesis_via(&proxy.url(), 3);
    let err = client
        .put_record()
        .stream_name(&stream.name)
        .partition_key("k")
        .data(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
    assert!(err
        .as_service_error()
        .is_some_and(|e| e.is_provisioned_throughput_exceeded_exception()));
    assert_eq!(proxy.stats().throttle, 3, "throttling is retried");

    // GetRecords: ExpiredIteratorException is not retryable: one attempt only.
    proxy.set_config(FaultConfig::new().expired_iterator(1.0));
    let shard = testkit::list_shard_ids(&client, &stream.name)
        .await
        .unwrap()
        .remove(0);
    let it = client
        .get_shard_iterator()
        .stream_name(&stream.name)
        .shard_id(&shard)
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap();
    let err = client
        .get_records()
        .shard_iterator(it.shard_iterator().unwrap())
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .is_some_and(|e| e.is_expired_iterator_exception()));
    let st = proxy.stats();
    assert_eq!(st.expired_iterator, 1, "{st:?}");
    assert_eq!(st.operation("GetRecords"), 1, "not retried: {st:?}");
}

#[tokio::test]
async fn reset_after_writes_upstream_but_the_client_sees_an_error() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 1).await.unwrap();
    let proxy = FaultProxy::start(
        &stack.kinesis_endpoint,
        FaultConfig::new().reset_after(1.0).only(["PutRecord"]),
    );
    let client = kinesis_via(&proxy.url(), 1);
    let err = client
        .put_record()
        .stream_name(&stream.name)
        .partition_key("k")
        .data(Blob::new("ambiguous"))
        .send()
        .await
        .unwrap_err();
    assert!(err.raw_response().is_none(), "no HTTP response: {err:?}");
    assert_eq!(stream_contents(&stack, &stream.name).await, ["ambiguous"]);
    let st = proxy.stats();
    assert_eq!((st.reset_after, st.forwarded), (1, 1), "{st:?}");

    // With SDK retries the ambiguous failure duplicates: exactly what producers must expect.
    proxy.set_config(
        FaultConfig::new()
            .reset_after(1.0)
            .max_faults(1)
            .only(["PutRecord"]),
    );
    let client = kinesis_via(&proxy.url(), 3);
    client
        .put_record()
        .stream_name(&stream.name)
        .partition_key("k")
        .data(Blob::new("dup"))
        .send()
        .await
        .unwrap();
    let mut got = stream_contents(&stack, &stream.name).await;
    got.sort();
    assert_eq!(got, ["ambiguous", "dup", "dup"]);
}

#[tokio::test]
async fn reset_before_writes_nothing_and_is_retryable() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 1).await.unwrap();
    let proxy = FaultProxy::start(
        &stack.kinesis_endpoint,
        FaultConfig::new().reset_before(1.0).only(["PutRecord"]),
    );
    let client = kinesis_via(&proxy.url(), 1);
    let err = client
        .put_record()
        .stream_name(&stream.name)
        .partition_key("k")
        .data(Blob::new("lost"))
        .send()
        .await
        .unwrap_err();
    assert!(err.raw_response().is_none(), "no HTTP response: {err:?}");
    assert!(stream_contents(&stack, &stream.name).await.is_empty());

    // One reset, then the SDK's retry goes through: written exactly once.
    proxy.set_config(FaultConfig::new().reset_before(1.0).max_faults(1));
    let client = kinesis_via(&proxy.url(), 3);
    client
        .put_record()
        .stream_name(&stream.name)
        .partition_key("k")
        .data(Blob::new("once"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream_contents(&stack, &stream.name).await, ["once"]);
    let st = proxy.stats();
    assert_eq!(st.reset_before, 2, "{st:?}");
    assert_eq!(st.operation("PutRecord"), 3, "{st:?}");
}

#[tokio::test]
async fn s3_errors_500_and_slowdown() {
    let stack = Stack::get();
    let bucket = TestBucket::create(&stack).await.unwrap();
    let proxy = FaultProxy::start(
        &stack.s3_endpoint,
        FaultConfig::new().http_500(1.0).only(["PutObject"]),
    );
    let s3 = s3_via(&proxy.url(), 2);
    let err = s3
        .put_object()
        .bucket(&bucket.name)
        .key("k")
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("InternalError")
    );
    assert_eq!(proxy.stats().http_500, 2, "retried once");

    proxy.set_config(
        FaultConfig::new()
            .http_503_slowdown(1.0)
            .only(["PutObject"]),
    );
    let err = s3
        .put_object()
        .bucket(&bucket.name)
        .key("k")
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(503));
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("SlowDown")
    );
    let st = proxy.stats();
    assert_eq!(st.http_503_slowdown, 2, "{st:?}");
    assert_eq!(st.forwarded, 0);
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket.name)
        .send()
        .await
        .unwrap();
    assert!(listed.contents().is_empty(), "nothing written");
}

/// A delayed call that the client abandons (attempt timeout) still reaches the emulator after
/// the delay, like a slow AWS call that times out client-side but takes effect.
#[tokio::test]
async fn delayed_call_times_out_but_still_takes_effect() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 1).await.unwrap();
    let proxy = FaultProxy::start(
        &stack.kinesis_endpoint,
        FaultConfig::new()
            .delay(1.0, Duration::from_millis(1500))
            .only(["PutRecord"]),
    );
    use aws_sdk_kinesis::config::timeout::TimeoutConfig;
    let client = kinesis_via(&proxy.url(), 1);
    let conf = client
        .config()
        .to_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(200))
                .build(),
        )
        .build();
    let client = aws_sdk_kinesis::Client::from_conf(conf);
    let err = client
        .put_record()
        .stream_name(&stream.name)
        .partition_key("k")
        .data(Blob::new("late"))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, aws_sdk_kinesis::error::SdkError::TimeoutError(_)),
        "{err:?}"
    );
    assert_eq!(proxy.stats().delay, 1);
    // Poll (bounded) until the abandoned call has been forwarded.
    let mut contents = Vec::new();
    for _ in 0..100 {
        if proxy.stats().forwarded == 1 {
            contents = stream_contents(&stack, &stream.name).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(contents, ["late"], "{:?}", proxy.stats());
}

/// Multipart upload through the proxy; the first two UploadPart attempts get a 500 and the
/// SDK's retries complete the object intact.
#[tokio::test]
async fn s3_multipart_upload_with_retried_part_failures() {
    let stack = Stack::get();
    let bucket = TestBucket::create(&stack).await.unwrap();
    let proxy = FaultProxy::start(
        &stack.s3_endpoint,
        FaultConfig::new()
            .http_500(1.0)
            .max_faults(2)
            .only(["UploadPart"]),
    );
    let s3 = s3_via(&proxy.url(), 4);
    let part_size = 5 * 1024 * 1024;
    let data: Vec<u8> = (0..part_size * 2 + 1000).map(|i| (i % 253) as u8).collect();
    let up = s3
        .create_multipart_upload()
        .bucket(&bucket.name)
        .key("multi.bin")
        .send()
        .await
        .unwrap();
    let upload_id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (i, chunk) in data.chunks(part_size).enumerate() {
        let n = i as i32 + 1;
        let out = s3
            .upload_part()
            .bucket(&bucket.name)
            .key("multi.bin")
            .upload_id(upload_id)
            .part_number(n)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .unwrap();
        parts.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(&bucket.name)
        .key("multi.bin")
        .upload_id(upload_id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let direct = stack.s3_client().await;
    let got = direct
        .get_object()
        .bucket(&bucket.name)
        .key("multi.bin")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert!(got.as_ref() == data.as_slice(), "object differs");
    let st = proxy.stats();
    assert_eq!(st.http_500, 2, "{st:?}");
    assert_eq!(st.operation("UploadPart"), 5, "3 parts + 2 retries: {st:?}");
    assert_eq!(st.operation("CreateMultipartUpload"), 1);
    assert_eq!(st.operation("CompleteMultipartUpload"), 1);
}

async fn raw_http(addr: std::net::SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), conn.read_to_end(&mut buf))
        .await
        .expect("response within 30 s")
        .unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

/// A `Transfer-Encoding: chunked` request with `Expect: 100-continue` (as S3 uploads may
/// send) is de-chunked and forwarded whole.
#[tokio::test]
async fn chunked_request_with_expect_continue_reaches_s3_intact() {
    let stack = Stack::get();
    let bucket = TestBucket::create(&stack).await.unwrap();
    let proxy = FaultProxy::start(&stack.s3_endpoint, FaultConfig::new());
    let request = format!(
        "PUT /{}/chunked.txt HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\
         Expect: 100-continue\r\nConnection: close\r\n\r\n\
         6\r\nhello \r\n6\r\nworld!\r\n0\r\n\r\n",
        bucket.name,
        proxy.addr()
    );
    let response = raw_http(proxy.addr(), request.as_bytes()).await;
    assert!(response.contains("HTTP/1.1 200"), "{response}");
    let got = stack
        .s3_client()
        .await
        .get_object()
        .bucket(&bucket.name)
        .key("chunked.txt")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(got.as_ref(), b"hello world!");
    assert_eq!(proxy.stats().operation("PutObject"), 1);
}

/// A chunked upstream response is passed on whole (with a Content-Length). The upstream here
/// is a minimal local HTTP server, because neither emulator is guaranteed to chunk.
#[tokio::test]
async fn chunked_upstream_response_is_passed_on() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up_addr = upstream.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut conn, _) = upstream.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "request head incomplete");
            got.extend_from_slice(&buf[..n]);
        }
        conn.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
        String::from_utf8_lossy(&got).into_owned()
    });
    let proxy = FaultProxy::start(format!("http://{up_addr}"), FaultConfig::new());
    let response = raw_http(
        proxy.addr(),
        b"GET /b/k HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let head = server.await.unwrap();
    assert!(head.starts_with("GET /b/k HTTP/1.1\r\n"), "{head}");
    let lower = response.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 200"), "{response}");
    assert!(lower.contains("content-length: 12\r\n"), "{response}");
    assert!(!lower.contains("transfer-encoding"), "{response}");
    assert!(response.ends_with("\r\n\r\nhello, world"), "{response}");
    assert_eq!(proxy.stats().forwarded, 1);
}

/// No upstream listening: the proxy answers 502 and counts it.
#[tokio::test]
async fn unreachable_upstream_gives_502() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = dead.local_addr().unwrap();
    drop(dead);
    let proxy = FaultProxy::start(format!("http://{addr}"), FaultConfig::new());
    let response = raw_http(
        proxy.addr(),
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 502"), "{response}");
    assert_eq!(proxy.stats().upstream_errors, 1);
}

#[test]
fn works_from_a_sync_test_and_stops_on_drop() {
    let stack = Stack::get();
    let proxy = FaultProxy::start(&stack.kinesis_endpoint, FaultConfig::new());
    let addr = proxy.addr();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = kinesis_via(&proxy.url(), 1);
        client.list_streams().send().await.unwrap();
    });
    assert_eq!(proxy.stats().operation("ListStreams"), 1);
    drop(proxy);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the listener is closed after drop"
    );
}
