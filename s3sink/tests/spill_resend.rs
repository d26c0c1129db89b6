//! What a run could not deliver is re-sent by the next run, exactly once: run 1 with every S3
//! write failing (fault proxy) spills; run 2, healthy, delivers the spill under its key, removes
//! it, and delivers its own input. Needs `scripts/stack start`.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions unwrap too (team rules)

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use testkit::fault_proxy::{FaultConfig, FaultProxy};
use testkit::{list_objects_all, Stack, TestBucket};

const BIN: &str = env!("CARGO_BIN_EXE_kds-s3sink");

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn run(
    stack: &Stack,
    endpoint: &str,
    bucket: &str,
    spill: &Path,
    input: &[u8],
    extra: &[&str],
) -> Output {
    let mut child = stack
        .command(BIN)
        .args(extra)
        .args(["--bucket", bucket, "--endpoint-url", endpoint])
        .args(["--prefix", "resend/", "--name", "lab1-kfh", "--newline"])
        .args(["--retry-duration", "2s", "--spill"])
        .arg(spill)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn lines(from: usize, to: usize) -> Vec<u8> {
    (from..to)
        .map(|i| format!("{{\"n\":{i}}}\n"))
        .collect::<String>()
        .into_bytes()
}

fn only_spilled_key(spill: &Path) -> String {
    let spilled: Vec<_> = std::fs::read_dir(spill).unwrap().collect();
    assert_eq!(spilled.len(), 1, "one object spilled");
    let name = spilled[0].as_ref().unwrap().file_name();
    kds_s3sink::spill::unescape_key(name.to_str().unwrap()).unwrap()
}

#[test]
fn spilled_objects_are_resent_by_the_next_run_exactly_once() {
    let stack = Stack::get();
    let bucket = block_on(TestBucket::create(&stack)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spill = dir.path().join("spill");

    // Run 1: every PutObject fails (HeadBucket passes, so the run starts).
    let failing = FaultConfig::new().only(["PutObject"]).http_500(1.0);
    let proxy = FaultProxy::start(&stack.s3_endpoint, failing);
    let first = lines(0, 40);
    let out = run(&stack, &proxy.url(), &bucket.name, &spill, &first, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("could not be delivered"), "{stderr}");
    let spilled_key = only_spilled_key(&spill);
    // Still failing, with --allow-spill: the re-send fails (the file stays), the new input is
    // spilled too, and the run exits 0 saying so.
    let more = lines(40, 50);
    let out = run(
        &stack,
        &proxy.url(),
        &bucket.name,
        &spill,
        &more,
        &["--allow-spill"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("could not re-send spilled"), "{stderr}");
    assert!(stderr.contains("the next run re-sends them"), "{stderr}");
    assert_eq!(std::fs::read_dir(&spill).unwrap().count(), 2);
    assert!(
        block_on(async { list_objects_all(&stack.s3_client().await, &bucket.name).await })
            .unwrap()
            .is_empty()
    );

    // Run 2: healthy. The spill goes first, under its own keys; then the new input.
    let second = lines(50, 60);
    let out = run(
        &stack,
        &stack.s3_endpoint,
        &bucket.name,
        &spill,
        &second,
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let receipts: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(receipts.len(), 3, "{receipts:?}");
    let resent: Vec<_> = receipts.iter().filter(|r| r["resent"] == true).collect();
    assert_eq!(resent.len(), 2, "{receipts:?}");
    assert!(resent.iter().any(|r| r["key"] == spilled_key.as_str()));
    assert_eq!(
        std::fs::read_dir(&spill).unwrap().count(),
        0,
        "spill directory empty"
    );

    let objects =
        block_on(async { list_objects_all(&stack.s3_client().await, &bucket.name).await }).unwrap();
    assert_eq!(objects.len(), 3);
    let by_key: std::collections::BTreeMap<_, _> = objects.into_iter().collect();
    assert_eq!(by_key[&spilled_key], first, "the spilled object, as it was");
    let mut all: Vec<&str> = by_key
        .values()
        .flat_map(|body| std::str::from_utf8(body).unwrap().lines())
        .collect();
    all.sort_by_key(|l| l[5..l.len() - 1].parse::<u32>().unwrap());
    let want = String::from_utf8([first, more, second].concat()).unwrap();
    assert_eq!(all, want.lines().collect::<Vec<_>>(), "each record once");

    // Run 3: nothing left to re-send, nothing sent twice.
    let out = run(&stack, &stack.s3_endpoint, &bucket.name, &spill, b"", &[]);
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    drop(proxy);
    block_on(bucket.delete()).unwrap();
}

/// While a delivery is failing, no input is read: the writer of stdin is held back by the pipe.
#[test]
fn input_is_not_read_while_a_delivery_is_failing() {
    let stack = Stack::get();
    let bucket = block_on(TestBucket::create(&stack)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let failing = FaultConfig::new().only(["PutObject"]).http_500(1.0);
    let proxy = FaultProxy::start(&stack.s3_endpoint, failing);
    // 0s interval: the first block becomes an object at once and its upload starts failing.
    // 64 upload slots: without the pause, the 40 blocks below would all be taken (one object
    // each) and the writer would finish.
    let mut child = stack
        .command(BIN)
        .args(["--bucket", &bucket.name, "--endpoint-url", &proxy.url()])
        .args([
            "--buffer-interval",
            "0s",
            "--retry-duration",
            "20s",
            "--concurrency",
            "64",
        ])
        .arg("--spill")
        .arg(dir.path().join("spill"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"{\"first\":1}\n").unwrap();
    stdin.flush().unwrap();
    // Wait until the upload is being retried.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while proxy.stats().injected_requests() < 2 {
        assert!(std::time::Instant::now() < deadline, "no failing upload");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Far more than the pipe, the reader's block and the channel's 4 hold: the writer must block.
    let written = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&written);
    let writer = std::thread::spawn(move || {
        let mut line = vec![b'x'; 64 << 10];
        line.push(b'\n');
        for _ in 0..640 {
            if stdin.write_all(&line).is_err() {
                break;
            }
            counter.fetch_add(line.len(), std::sync::atomic::Ordering::Relaxed);
        }
    });
    std::thread::sleep(std::time::Duration::from_secs(3));
    let taken = written.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        !writer.is_finished(),
        "40 MiB were taken while a delivery was failing"
    );
    // The pipe, the reader's block and the channel's 4 batches: a few MiB at most.
    assert!(
        taken < 8 << 20,
        "{taken} bytes taken while a delivery was failing"
    );
    child.kill().unwrap();
    let _ = child.wait();
    let _ = writer.join();
    drop(proxy);
    block_on(bucket.delete()).unwrap();
}
