//! End-to-end tests of the kds-s3sink binary against the local moto_server (and the fault
//! proxy in front of it). They need `scripts/stack start`; without the stack they fail.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions unwrap too (team rules)

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine;
use testkit::fault_proxy::{FaultConfig, FaultProxy};
use testkit::{list_objects_all, Stack, TestBucket};

const BIN: &str = env!("CARGO_BIN_EXE_kds-s3sink");

/// Trade events as the lab generator writes them (gen/README.md, "Fields"), deterministic.
fn trade_lines(n: usize, seed: u64) -> Vec<String> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) as u32
    };
    (0..n)
        .map(|i| {
            let letters: String = (0..4)
                .map(|_| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[(next() % 52) as usize]))
                .collect();
            let sec = i % 60;
            format!(
                "{{\"tid\":\"{i}\",\"tno\":\"{letters}202103191315{sec:02}\",\"tdate\":\"2021-03-19\",\"uno\":\"U{:04}\",\"pno\":\"P{:04}\",\"tnum\":{},\"tuptime\":\"2021-03-19T13:15:{sec:02}Z\"}}",
                1000 + next() % 50,
                1000 + next() % 20,
                1 + next() % 100
            )
        })
        .collect()
}

fn sink(stack: &Stack, args: &[&str]) -> Command {
    let mut cmd = stack.command(BIN);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs the sink with `input` on stdin and waits for it.
fn run_with_input(mut cmd: Command, input: Vec<u8>) -> Output {
    let mut child = cmd.spawn().expect("start kds-s3sink");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Printed {
    key: String,
    records: u64,
    bytes: u64,
}

fn printed(stdout: &[u8], bucket: &str) -> Vec<Printed> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("NDJSON on stdout");
            assert_eq!(v["bucket"], bucket, "{l}");
            Printed {
                key: v["key"].as_str().unwrap().to_string(),
                records: v["records"].as_u64().unwrap(),
                bytes: v["bytes"].as_u64().unwrap(),
            }
        })
        .collect()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn bucket(stack: &Stack) -> TestBucket {
    block_on(TestBucket::create(stack)).expect("create test bucket")
}

fn objects(stack: &Stack, bucket: &str) -> BTreeMap<String, Vec<u8>> {
    block_on(async {
        let client = stack.s3_client().await;
        list_objects_all(&client, bucket).await
    })
    .expect("list objects")
    .into_iter()
    .collect()
}

/// `name-1-YYYY-MM-DD-HH-MM-SS-uuid`: the time part of a key, for key-time order.
fn key_time(key: &str) -> &str {
    let file = key.rsplit('/').next().unwrap();
    // name-version-time(19)-uuid(36)
    let end = file.len() - 37 - file.strip_suffix(".gz").map_or(0, |_| 3);
    &file[end - 19..end]
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// `lab1-input/YYYY/MM/DD/HH/lab1-kfh-1-YYYY-MM-DD-HH-MM-SS-<uuid>`, with the same instant in
/// the prefix and the name.
fn assert_lab_key(key: &str) {
    let rest = key
        .strip_prefix("lab1-input/")
        .unwrap_or_else(|| panic!("{key}"));
    let parts: Vec<&str> = rest.split('/').collect();
    assert_eq!(parts.len(), 5, "{key}");
    for (p, len) in parts[..4].iter().zip([4, 2, 2, 2]) {
        assert!(is_digits(p) && p.len() == len, "{key}");
    }
    let name = parts[4]
        .strip_prefix("lab1-kfh-1-")
        .unwrap_or_else(|| panic!("{key}"));
    let (time, uuid) = name.split_at(19);
    let t: Vec<&str> = time.split('-').collect();
    assert_eq!(t.len(), 6, "{key}");
    assert!(t.iter().all(|x| is_digits(x)), "{key}");
    assert_eq!(
        &t[..4],
        &parts[..4],
        "prefix hour and name time are one instant: {key}"
    );
    assert!(is_uuid(uuid.strip_prefix('-').unwrap()), "{key}");
}

fn first_tid(object: &[u8]) -> u64 {
    let text = std::str::from_utf8(object).unwrap();
    let start = text.find("\"tid\":\"").unwrap() + 7;
    text[start..start + text[start..].find('"').unwrap()]
        .parse()
        .unwrap()
}

#[test]
fn lab_configuration_keys_and_contents() {
    let stack = Stack::get();
    let b = bucket(&stack);
    let lines = trade_lines(20_000, 1);
    let input = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    let out = run_with_input(
        sink(
            &stack,
            &[
                "--bucket",
                &b.name,
                "--prefix",
                "lab1-input/",
                "--error-prefix",
                "lab1-error/",
                "--buffer-size",
                "1MiB",
                "--buffer-interval",
                "60s",
                "--name",
                "lab1-kfh",
            ],
        ),
        input.clone().into_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = objects(&stack, &b.name);
    let mut shown = printed(&out.stdout, &b.name);
    assert!(
        listed.len() >= 3,
        "3+ MB at 1 MiB per object: {} objects",
        listed.len()
    );
    shown.sort();
    let listed_keys: Vec<&String> = listed.keys().collect();
    let shown_keys: Vec<&String> = shown.iter().map(|p| &p.key).collect();
    assert_eq!(
        shown_keys, listed_keys,
        "every object printed once, nothing else in the bucket"
    );
    for p in &shown {
        assert_lab_key(&p.key);
        assert_eq!(p.bytes, listed[&p.key].len() as u64);
        assert!(
            p.bytes <= 1 << 20,
            "size trigger: objects are at most 1 MiB"
        );
    }
    assert_eq!(shown.iter().map(|p| p.records).sum::<u64>(), 20_000);
    // Key-time order (ties: by content, each object holds a run of consecutive records).
    let mut ordered: Vec<(&str, u64, &Vec<u8>)> = listed
        .iter()
        .map(|(k, v)| (key_time(k), first_tid(v), v))
        .collect();
    ordered.sort();
    let joined: Vec<u8> = ordered
        .iter()
        .flat_map(|(_, _, v)| v.iter().copied())
        .collect();
    // Firehose adds no delimiter: the records (lines without '\n') run together.
    assert_eq!(
        joined,
        lines.concat().into_bytes(),
        "no loss, no duplicates, in order"
    );
}

#[test]
fn newline_and_gzip_objects_are_the_input_bytes() {
    let stack = Stack::get();
    let b = bucket(&stack);
    let input: String = trade_lines(3_000, 2)
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    let out = run_with_input(
        sink(
            &stack,
            &[
                "--bucket",
                &b.name,
                "--prefix",
                "gz/",
                "--name",
                "lab1-kfh",
                "--buffer-size",
                "1MiB",
                "--newline",
                "--compression",
                "gzip",
            ],
        ),
        input.clone().into_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = objects(&stack, &b.name);
    assert_eq!(listed.len(), 1);
    let (key, body) = listed.iter().next().unwrap();
    assert!(key.starts_with("gz/") && key.ends_with(".gz"), "{key}");
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, input.as_bytes());
    assert_eq!(printed(&out.stdout, &b.name)[0].bytes, body.len() as u64);
    let head = block_on(async {
        stack
            .s3_client()
            .await
            .head_object()
            .bucket(&b.name)
            .key(key)
            .send()
            .await
    })
    .unwrap();
    assert_eq!(
        head.content_encoding(),
        None,
        "Firehose sets no Content-Encoding"
    );
}

#[test]
fn size_trigger_object_boundaries() {
    let stack = Stack::get();
    let b = bucket(&stack);
    // 25,000 records of exactly 100 bytes (99 + '\n'): 10,485 fit in 1 MiB (1,048,500 bytes).
    let input: String = (0..25_000).map(|i| format!("{i:099}\n")).collect();
    let out = run_with_input(
        sink(
            &stack,
            &[
                "--bucket",
                &b.name,
                "--prefix",
                "s/",
                "--buffer-size",
                "1MiB",
                "--newline",
            ],
        ),
        input.clone().into_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut counts: Vec<(u64, u64)> = printed(&out.stdout, &b.name)
        .iter()
        .map(|p| (p.records, p.bytes))
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        vec![(4_030, 403_000), (10_485, 1_048_500), (10_485, 1_048_500)]
    );
    let listed = objects(&stack, &b.name);
    let mut bodies: Vec<&Vec<u8>> = listed.values().collect();
    bodies.sort();
    let joined: Vec<u8> = bodies.into_iter().flatten().copied().collect();
    assert_eq!(joined, input.as_bytes());
}

/// Reads stdout lines of a running child on a thread.
fn stdout_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn interval_trigger_fires_while_input_is_idle() {
    let stack = Stack::get();
    let b = bucket(&stack);
    let mut child = sink(
        &stack,
        &[
            "--bucket",
            &b.name,
            "--prefix",
            "i/",
            "--buffer-interval",
            "1s",
        ],
    )
    .spawn()
    .unwrap();
    let lines = stdout_lines(&mut child);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"a1\na2\na3\n").unwrap();
    stdin.flush().unwrap();
    // stdin stays open: only the interval timer can write this object.
    let first = lines
        .recv_timeout(Duration::from_secs(60))
        .expect("an object while input is idle");
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["records"], 3);
    stdin.write_all(b"b1\nb2\n").unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success());
    let second: serde_json::Value =
        serde_json::from_str(&lines.recv_timeout(Duration::from_secs(10)).unwrap()).unwrap();
    assert_eq!(second["records"], 2);
    let listed = objects(&stack, &b.name);
    assert_eq!(listed[first["key"].as_str().unwrap()], b"a1a2a3");
    assert_eq!(listed[second["key"].as_str().unwrap()], b"b1b2");
    assert_eq!(listed.len(), 2);
}

#[test]
fn dynamic_partitioning_and_error_records() {
    let stack = Stack::get();
    let b = bucket(&stack);
    let mut lines = trade_lines(300, 3);
    let bad = vec![
        "not json at all".to_string(),
        r#"{"tid":"x","tnum":1}"#.to_string(),
        r#"{"tid":"y","uno":null}"#.to_string(),
    ];
    lines.insert(10, bad[0].clone());
    lines.insert(100, bad[1].clone());
    lines.push(bad[2].clone());
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let out = run_with_input(
        sink(
            &stack,
            &[
                "--bucket",
                &b.name,
                "--prefix",
                "lab1-input/uno=!{partitionKeyFromQuery:uno}/!{timestamp:yyyy}/",
                "--error-prefix",
                "lab1-error/",
                "--partition-key",
                "uno=.uno",
                "--name",
                "lab1-kfh",
                "--newline",
            ],
        ),
        input.into_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 11: Non JSON record provided"),
        "{stderr}"
    );
    let listed = objects(&stack, &b.name);
    let mut good = 0;
    let mut errors = Vec::new();
    for (key, body) in &listed {
        if let Some(rest) = key.strip_prefix("lab1-input/uno=") {
            let (uno, rest) = rest.split_once('/').unwrap();
            assert!(
                rest.starts_with(&format!("{}/lab1-kfh-1-", &key_time(key)[..4])),
                "{key}"
            );
            for line in std::str::from_utf8(body).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(v["uno"], uno, "{key}: {line}");
                good += 1;
            }
        } else {
            let rest = key
                .strip_prefix("lab1-error/partitioning-failed/")
                .unwrap_or_else(|| panic!("unexpected key {key}"));
            let t = key_time(key);
            assert!(
                rest.starts_with(&format!(
                    "{}/{}/{}/{}/lab1-kfh-1-",
                    &t[..4],
                    &t[5..7],
                    &t[8..10],
                    &t[11..13]
                )),
                "{key}"
            );
            for line in std::str::from_utf8(body).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(
                    v["errorCode"],
                    "DynamicPartitioning.MetadataExtractionFailed"
                );
                assert!(v["errorMessage"].as_str().is_some_and(|m| !m.is_empty()));
                assert!(v["attemptsMade"].as_u64().is_some());
                assert!(v["arrivalTimestamp"].as_i64().unwrap() > 1_600_000_000_000);
                assert!(
                    v["attemptEndingTimestamp"].as_i64().unwrap()
                        >= v["arrivalTimestamp"].as_i64().unwrap()
                );
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(v["rawData"].as_str().unwrap())
                    .unwrap();
                errors.push(String::from_utf8(raw).unwrap());
            }
        }
    }
    assert_eq!(good, 300);
    errors.sort();
    let mut want = bad.clone();
    want.sort();
    assert_eq!(errors, want, "rawData decodes to the original lines");
}

#[test]
fn envelope_input_writes_data_and_keys_by_arrival() {
    let stack = Stack::get();
    let b = bucket(&stack);
    let input = concat!(
        r#"{"shard_id":"shardId-000000000000","sequence_number":"1","partition_key":"k","arrival":"2021-03-19T13:15:48.000Z","data":{"tid":"1","tnum": 10}}"#,
        "\n",
        r#"{"shard_id":"shardId-000000000000","sequence_number":"2","partition_key":"k","arrival":"2021-03-19T13:15:47.500Z","data":"text record","encoding":"utf8"}"#,
        "\n",
        r#"{"shard_id":"shardId-000000000000","sequence_number":"3","partition_key":"k","arrival":"2021-03-19T14:01:00.000Z","encoding":"base64","data":"AAEC"}"#,
        "\n",
    );
    let out = run_with_input(
        sink(
            &stack,
            &[
                "--bucket",
                &b.name,
                "--prefix",
                "lab1-input/",
                "--error-prefix",
                "lab1-error/",
                "--name",
                "lab1-kfh",
                "--input",
                "envelope",
            ],
        ),
        input.as_bytes().to_vec(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = objects(&stack, &b.name);
    assert_eq!(listed.len(), 1);
    let (key, body) = listed.iter().next().unwrap();
    // The oldest arrival (13:15:47.5) names the object, in the prefix and the name.
    assert!(
        key.starts_with("lab1-input/2021/03/19/13/lab1-kfh-1-2021-03-19-13-15-47-"),
        "{key}"
    );
    let mut want = br#"{"tid":"1","tnum": 10}text record"#.to_vec();
    want.extend_from_slice(&[0, 1, 2]);
    assert_eq!(body, &want);
}

/// Starts kds-s3sink, writes 100 lines, waits until its stats line shows them read, sends
/// SIGTERM. Returns the child (stdin still open, stderr drained into the receiver), its stdin and
/// the lines written.
fn sink_signalled_mid_buffer(
    stack: &Stack,
    bucket: &str,
) -> (
    std::process::Child,
    std::process::ChildStdin,
    mpsc::Receiver<String>,
    String,
) {
    let mut child = sink(
        stack,
        &[
            "--bucket",
            bucket,
            "--prefix",
            "t/",
            "--buffer-interval",
            "900s",
            "-v",
        ],
    )
    .spawn()
    .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input: String = (0..100).map(|i| format!("r{i};\n")).collect();
    stdin.write_all(input.as_bytes()).unwrap();
    stdin.flush().unwrap();
    // Wait until the periodic stats line says all 100 records are buffered (stderr is kept
    // drained on a thread: the tool still writes its summary there).
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let mut seen = false;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        if line.contains("100 records read") {
            seen = true;
            break;
        }
    }
    assert!(seen, "stats line never showed the records");
    testkit::process::signal(&child, libc::SIGTERM).expect("SIGTERM the sink");
    (child, stdin, rx, input)
}

/// SIGTERM as a pipeline gets it: the writer stops too and closes the pipe. The sink reads the
/// input to its end, so what the writer had already written (also after the signal) is
/// delivered, exactly once, and it exits 0.
#[test]
fn sigterm_reads_the_input_to_its_end_and_flushes() {
    let stack = Stack::get();
    let b = bucket(&stack);
    let (child, mut stdin, _stderr, mut input) = sink_signalled_mid_buffer(&stack, &b.name);
    let more: String = (100..150).map(|i| format!("r{i};\n")).collect();
    stdin.write_all(more.as_bytes()).unwrap();
    drop(stdin);
    input.push_str(&more);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit {:?}", out.status);
    let shown = printed(&out.stdout, &b.name);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].records, 150);
    let listed = objects(&stack, &b.name);
    assert_eq!(listed[&shown[0].key], input.replace('\n', "").into_bytes());
}

/// SIGTERM to the sink alone while its writer keeps the pipe open: after the drain time it
/// flushes what it read and exits 1, saying lines may remain unread (a cron job must not
/// commit its checkpoint then).
#[test]
fn sigterm_with_the_input_still_open_flushes_and_fails() {
    let stack = Stack::get();
    let b = bucket(&stack);
    let (child, stdin, stderr, input) = sink_signalled_mid_buffer(&stack, &b.name);
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(out.status.code(), Some(1), "exit {:?}", out.status);
    let said: Vec<String> = stderr.iter().collect();
    assert!(
        said.iter().any(|l| l.contains("input was still open")),
        "stderr: {said:?}"
    );
    let shown = printed(&out.stdout, &b.name);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].records, 100);
    let listed = objects(&stack, &b.name);
    assert_eq!(listed[&shown[0].key], input.replace('\n', "").into_bytes());
}

/// 20% of S3 write calls fail: 500 InternalError, 503 SlowDown, connection reset before and
/// after the call reached S3. Every record must be delivered exactly once.
fn faults() -> FaultConfig {
    FaultConfig::new()
        .seed(20)
        .only([
            "PutObject",
            "CreateMultipartUpload",
            "UploadPart",
            "CompleteMultipartUpload",
        ])
        .http_500(0.06)
        .http_503_slowdown(0.06)
        .reset_before(0.04)
        .reset_after(0.04)
}

#[test]
fn fault_proxy_nothing_lost_or_duplicated() {
    let stack = Stack::get();
    let b = bucket(&stack);
    let proxy = FaultProxy::start(&stack.s3_endpoint, faults());
    // 50 partitions: 50+ objects, so that faults hit many PutObject calls.
    let lines = trade_lines(5_000, 4);
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let out = run_with_input(
        sink(
            &stack,
            &[
                "--bucket",
                &b.name,
                "--endpoint-url",
                &proxy.url(),
                "--prefix",
                "f/!{partitionKeyFromQuery:uno}/",
                "--error-prefix",
                "fe/",
                "--partition-key",
                "uno=uno",
                "--newline",
                "--retry-duration",
                "120s",
                "-v",
            ],
        ),
        input.into_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats = proxy.stats();
    assert!(
        stats.injected_requests() >= 5,
        "faults were injected: {stats:?}"
    );
    let listed = objects(&stack, &b.name);
    let shown = printed(&out.stdout, &b.name);
    let mut shown_keys: Vec<&str> = shown.iter().map(|p| p.key.as_str()).collect();
    shown_keys.sort();
    assert_eq!(
        shown_keys,
        listed.keys().map(String::as_str).collect::<Vec<_>>()
    );
    let mut got: Vec<String> = listed
        .values()
        .flat_map(|v| {
            String::from_utf8(v.clone())
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    got.sort();
    let mut want = lines.clone();
    want.sort();
    assert_eq!(got.len(), want.len(), "record count");
    assert_eq!(got, want, "every record exactly once");
}

#[test]
fn multipart_upload_through_faults() {
    let stack = Stack::get();
    let b = bucket(&stack);
    let proxy = FaultProxy::start(&stack.s3_endpoint, faults().seed(21));
    // 17 MiB in one object (buffer 32 MiB): over the 16 MiB multipart threshold, 3 parts.
    let line = format!("{}\n", "m".repeat(1023));
    let input = line.repeat(17 * 1024);
    let out = run_with_input(
        sink(
            &stack,
            &[
                "--bucket",
                &b.name,
                "--endpoint-url",
                &proxy.url(),
                "--prefix",
                "mp/",
                "--buffer-size",
                "32MiB",
                "--newline",
                "--retry-duration",
                "120s",
            ],
        ),
        input.clone().into_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        proxy.stats().operation("UploadPart") >= 3,
        "{:?}",
        proxy.stats()
    );
    let listed = objects(&stack, &b.name);
    assert_eq!(listed.len(), 1);
    assert!(listed.values().next().unwrap() == input.as_bytes());
}

#[test]
fn s3_down_longer_than_retry_duration_spills_and_exits_1() {
    let stack = Stack::get();
    let dir = tempfile::tempdir().unwrap();
    let spill = dir.path().join("spill");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let lines: Vec<String> = (0..50).map(|i| format!("{{\"n\":{i}}}")).collect();
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let mut cmd = sink(
        &stack,
        &[
            "--bucket",
            "unreachable-bucket",
            "--endpoint-url",
            &closed,
            "--prefix",
            "lab1-input/",
            "--name",
            "lab1-kfh",
            "--retry-duration",
            "2s",
            "--spill",
            spill.to_str().unwrap(),
        ],
    );
    cmd.env_remove("AWS_ENDPOINT_URL_S3");
    let out = run_with_input(cmd, input.into_bytes());
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with("kds-s3sink: 50 records in 1 objects could not be delivered"),
        "{stderr}"
    );
    assert!(last.contains(spill.to_str().unwrap()), "{stderr}");
    assert!(out.stdout.is_empty());
    let files: Vec<_> = std::fs::read_dir(&spill)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().unwrap().to_str().unwrap();
    let key = kds_s3sink::spill::unescape_key(name).unwrap();
    assert!(
        key.starts_with("lab1-input/") && key.contains("/lab1-kfh-1-"),
        "{key}"
    );
    assert_eq!(
        std::fs::read(&files[0]).unwrap(),
        lines.concat().into_bytes()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn usage_errors_exit_2_with_the_valid_range() {
    for (args, want) in [
        (vec!["--buffer-size", "129MiB"], "between 1MiB and 128MiB"),
        (vec!["--buffer-interval", "901s"], "between 0s and 900s"),
        (vec!["--buffer-size", "1.5MiB"], "whole number of MiB"),
        (
            vec!["--buffer-interval", "1500ms"],
            "whole number of seconds",
        ),
        (vec!["--retry-duration", "25h"], "between 0s and 24h"),
        (
            vec![
                "--prefix",
                "u=!{partitionKeyFromQuery:u}/",
                "--error-prefix",
                "e/",
                "--partition-key",
                "u=uno",
                "--buffer-interval",
                "0s",
            ],
            "not allowed with dynamic partitioning",
        ),
        (
            vec!["--prefix", "!{timestamp:yyyy}/"],
            "ErrorOutputPrefix can't be null",
        ),
        (
            vec![
                "--prefix",
                "a/!{firehose:error-output-type}/",
                "--error-prefix",
                "e/",
            ],
            "error-output-type",
        ),
        (
            vec!["--prefix", "!{nope:x}", "--error-prefix", "e/"],
            "unknown namespace",
        ),
    ] {
        let out = Command::new(BIN)
            .args(["--bucket", "b"])
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("kds-s3sink: ") && stderr.contains(want),
            "{stderr}"
        );
    }
}
