//! Byte-exact delivery: records put through the SDK with arbitrary bytes come out of
//! `kds-tail --envelope -e | kds-s3sink --input envelope` exactly as they were put, as Firehose
//! writes each record's data ("Understand data delivery"; a KPL aggregate as its user records).
//! Needs `scripts/stack start`.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use testkit::{bin_path, list_objects_all, Stack, TestBucket, TestStream};

/// Waits for `child`, killing it after `limit` (a hang, not a timing assertion).
fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait().expect("wait") {
            Some(status) => return status,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                panic!("{what} did not finish within {limit:?}");
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn records_to_put() -> Vec<Vec<u8>> {
    vec![
        b"{\"tnum\":1}\n".to_vec(),
        b"{\"tnum\":2}\r\n".to_vec(),
        b"{\"a\": 1,  \"b\" : [1 , 2.50]}".to_vec(),
        b"{\n  \"pretty\": true,\n  \"n\": [\n    1,\n    2\n  ]\n}\n".to_vec(),
        b"\"just a string\"".to_vec(),
        b"  padded text\t".to_vec(),
        b"text with \"quotes\", \\ and \xc3\xa9".to_vec(),
        vec![0xff, 0xfe, 0x00, b'\n', 0x80, b'{'],
    ]
}

/// User records of one KPL aggregate: JSON with its newline, several lines, a JSON string.
fn user_records() -> Vec<Vec<u8>> {
    vec![
        b"{\"user\":0}\n".to_vec(),
        b"two\nlines".to_vec(),
        b"\"s\"".to_vec(),
    ]
}

async fn put_all(client: &aws_sdk_kinesis::Client, stream: &str) -> anyhow::Result<Vec<u8>> {
    let mut expected = Vec::new();
    // One shard, one PutRecord at a time: the stream's order is the put order.
    for (i, data) in records_to_put().into_iter().enumerate() {
        client
            .put_record()
            .stream_name(stream)
            .partition_key(format!("k{i}"))
            .data(Blob::new(data.clone()))
            .send()
            .await?;
        expected.extend_from_slice(&data);
    }
    let users = user_records();
    let keys = ["u0", "u1"];
    let parts: Vec<kds_common::kpl::Record<'_>> = users
        .iter()
        .enumerate()
        .map(|(i, data)| kds_common::kpl::Record {
            partition_key: keys[i % 2],
            explicit_hash_key: None,
            data,
        })
        .collect();
    client
        .put_record()
        .stream_name(stream)
        .partition_key("agg")
        .data(Blob::new(kds_common::kpl::encode(&parts)))
        .send()
        .await?;
    for data in &users {
        expected.extend_from_slice(data);
    }
    Ok(expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelope_pipeline_writes_the_bytes_that_were_put() -> anyhow::Result<()> {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 1).await?;
    let bucket = TestBucket::create(&stack).await?;
    let expected = put_all(&stack.kinesis_client().await, &stream.name).await?;

    let mut tail = stack
        .command(bin_path("kds-tail"))
        .args(["--stream", &stream.name, "--from", "trim-horizon", "-e"])
        .arg("--envelope")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let pipe = tail.stdout.take().expect("kds-tail stdout");
    let mut sink = stack
        .command(bin_path("kds-s3sink"))
        .args([
            "--bucket",
            &bucket.name,
            "--prefix",
            "exact/",
            "--input",
            "envelope",
        ])
        .stdin(Stdio::from(pipe))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let tail_status = wait_bounded(&mut tail, Duration::from_secs(120), "kds-tail");
    let sink_status = wait_bounded(&mut sink, Duration::from_secs(120), "kds-s3sink");
    assert!(tail_status.success(), "kds-tail: {tail_status:?}");
    assert!(sink_status.success(), "kds-s3sink: {sink_status:?}");

    let mut objects = list_objects_all(&stack.s3_client().await, &bucket.name).await?;
    objects.sort();
    assert!(!objects.is_empty(), "no object written");
    let got: Vec<u8> = objects.into_iter().flat_map(|(_, body)| body).collect();
    assert_eq!(
        got,
        expected,
        "objects:\n{}\nput:\n{}",
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&expected)
    );
    stream.delete().await?;
    bucket.delete().await?;
    Ok(())
}
