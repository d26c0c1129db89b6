//! The local stack works end to end through the SDKs, and testkit's helpers do what they say.
//! Needs `scripts/stack start`; fails (never skips) without it.

use std::path::Path;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_s3::primitives::ByteStream;
use testkit::{list_objects_all, read_stream_all, Stack, TestBucket, TestStream};

#[tokio::test]
async fn kinesis_record_round_trips() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await.unwrap();
    let client = stack.kinesis_client().await;

    let put = client
        .put_record()
        .stream_name(&stream.name)
        .partition_key("pk-1")
        .data(Blob::new(b"{\"tid\":\"1\"}\n".to_vec()))
        .send()
        .await
        .unwrap();

    let records = read_stream_all(&client, &stream.name).await.unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r.data, b"{\"tid\":\"1\"}\n");
    assert_eq!(r.partition_key, "pk-1");
    assert_eq!(r.shard_id, put.shard_id());
    assert_eq!(r.sequence_number, put.sequence_number());
    assert!(r.arrival > 0);

    let name = stream.name.clone();
    stream.delete().await.unwrap();
    // Deleted at once (DELETE_STREAM_DURATION=0ms), or at worst still DELETING.
    if let Ok(out) = client
        .describe_stream_summary()
        .stream_name(&name)
        .send()
        .await
    {
        let status = out
            .stream_description_summary()
            .map(|s| s.stream_status().as_str().to_string());
        assert_eq!(status.as_deref(), Some("DELETING"));
    }
}

#[tokio::test]
async fn read_stream_all_reads_every_shard_in_order() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 3).await.unwrap();
    let client = stack.kinesis_client().await;
    let shard_ids = testkit::list_shard_ids(&client, &stream.name)
        .await
        .unwrap();
    assert_eq!(shard_ids.len(), 3);

    for i in 0..30 {
        client
            .put_record()
            .stream_name(&stream.name)
            .partition_key(format!("key-{i}"))
            .data(Blob::new(format!("{i}").into_bytes()))
            .send()
            .await
            .unwrap();
    }

    let records = read_stream_all(&client, &stream.name).await.unwrap();
    assert_eq!(records.len(), 30);
    let mut values: Vec<u32> = records.iter().map(|r| r.text().parse().unwrap()).collect();
    // Within a shard, records come back in the order they were put.
    for shard in &shard_ids {
        let in_shard: Vec<u32> = records
            .iter()
            .filter(|r| &r.shard_id == shard)
            .map(|r| r.text().parse().unwrap())
            .collect();
        assert!(
            in_shard.windows(2).all(|w| w[0] < w[1]),
            "{shard}: {in_shard:?}"
        );
    }
    values.sort_unstable();
    assert_eq!(values, (0..30).collect::<Vec<_>>());
    // 30 distinct keys over 3 shards: more than one shard got records.
    let used: std::collections::HashSet<_> = records.iter().map(|r| &r.shard_id).collect();
    assert!(used.len() > 1);
}

#[tokio::test]
async fn s3_object_round_trips() {
    let stack = Stack::get();
    let bucket = TestBucket::create(&stack).await.unwrap();
    let s3 = stack.s3_client().await;

    s3.put_object()
        .bucket(&bucket.name)
        .key("lab1-input/2021/03/19/13/part-1")
        .body(ByteStream::from(b"line 1\nline 2\n".to_vec()))
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket(&bucket.name)
        .key("lab1-input/2021/03/19/13/part-1")
        .send()
        .await
        .unwrap();
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"line 1\nline 2\n");

    let all = list_objects_all(&s3, &bucket.name).await.unwrap();
    assert_eq!(
        all,
        vec![(
            "lab1-input/2021/03/19/13/part-1".to_string(),
            b"line 1\nline 2\n".to_vec()
        )]
    );

    let name = bucket.name.clone();
    bucket.delete().await.unwrap();
    let head = s3.head_bucket().bucket(&name).send().await;
    assert!(head.is_err(), "bucket {name} still exists after delete");
}

#[tokio::test]
async fn dropped_resources_are_deleted() {
    let stack = Stack::get();
    let kinesis = stack.kinesis_client().await;
    let s3 = stack.s3_client().await;
    let (stream_name, bucket_name) = {
        let stream = TestStream::create(&stack, 1).await.unwrap();
        let bucket = TestBucket::create(&stack).await.unwrap();
        s3.put_object()
            .bucket(&bucket.name)
            .key("k")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
        (stream.name.clone(), bucket.name.clone())
        // both dropped here, inside the runtime
    };
    let listed = kinesis.list_streams().send().await.unwrap();
    let still_active = listed.stream_names().iter().any(|n| n == &stream_name)
        && kinesis
            .describe_stream_summary()
            .stream_name(&stream_name)
            .send()
            .await
            .ok()
            .and_then(|o| {
                o.stream_description_summary()
                    .map(|s| s.stream_status().clone())
            })
            .is_some_and(|s| s.as_str() != "DELETING");
    assert!(!still_active, "stream {stream_name} survived its drop");
    assert!(s3.head_bucket().bucket(&bucket_name).send().await.is_err());
}

#[test]
fn missing_env_file_is_an_error_naming_the_fix() {
    let err = Stack::from_path(Path::new("/nonexistent/dir/.tools/stack.env")).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("scripts/stack start"), "{msg}");
}

#[test]
fn dead_endpoint_is_an_error_naming_the_fix() {
    // A port nobody listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(testkit::unique_name("testkit-env"));
    std::fs::create_dir_all(&dir).unwrap();
    let env = dir.join("stack.env");
    std::fs::write(
        &env,
        format!(
            "export AWS_ENDPOINT_URL_KINESIS='http://127.0.0.1:{port}'\nexport AWS_ENDPOINT_URL_S3='http://127.0.0.1:{port}'\n"
        ),
    )
    .unwrap();
    let err = Stack::from_path(&env).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        format!("{err:#}").contains("run scripts/stack start"),
        "{err:#}"
    );
}

#[test]
fn command_carries_the_stack_environment() {
    let stack = Stack::get();
    let out = stack
        .command("sh")
        .args([
            "-c",
            "echo \"$AWS_ENDPOINT_URL_KINESIS $AWS_ENDPOINT_URL_S3 $AWS_REGION $AWS_ACCESS_KEY_ID\"",
        ])
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        line.trim(),
        format!(
            "{} {} us-east-1 test",
            stack.kinesis_endpoint, stack.s3_endpoint
        )
    );
}
