//! The scripts on an account they share with other things: provision stops when HeadBucket
//! does not say "absent" or "yours", a demo killed right after creating its stream leaves only
//! tagged resources that the next teardown removes (and nothing else), a bucket that existed
//! before keeps its objects, and without the local stack nothing goes to AWS.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use testkit::fault_proxy::{FaultConfig, FaultProxy};
use testkit::{list_keys, unique_name, Stack, TestBucket, TestStream};

/// Operations that create or delete something; provision must call none of them when it stops.
const MUTATING: &[&str] = &[
    "CreateStream",
    "DeleteStream",
    "AddTagsToStream",
    "CreateBucket",
    "DeleteBucket",
    "PutBucketTagging",
    "DeleteObject",
    "DeleteObjects",
    "PutObject",
];

fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_provision(
    stack: &Stack,
    kinesis: &FaultProxy,
    s3: &FaultProxy,
    stream: &str,
    bucket: &str,
) -> Output {
    stack
        .command("timeout")
        .args(["120", "bash"])
        .arg(common::script("provision"))
        .args(["--stream", stream, "--bucket", bucket, "--shards", "1"])
        .args(["--kinesis-endpoint-url", &kinesis.url()])
        .args(["--s3-endpoint-url", &s3.url()])
        // Two attempts keep the 500 case short; it is retried like any 5xx, then reported.
        .env("AWS_MAX_ATTEMPTS", "2")
        .output()
        .expect("run scripts/provision")
}

async fn stream_exists(stack: &Stack, name: &str) -> bool {
    let kinesis = stack.kinesis_client().await;
    kinesis
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
        .is_ok()
}

/// Absent, or DELETING (kinesis-local may list a deleted stream for a moment).
async fn stream_gone(stack: &Stack, name: &str) -> bool {
    let kinesis = stack.kinesis_client().await;
    match kinesis
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
    {
        Err(_) => true,
        Ok(o) => o
            .stream_description_summary()
            .is_some_and(|d| d.stream_status().as_str() == "DELETING"),
    }
}

async fn stream_tags(stack: &Stack, name: &str) -> Vec<(String, String)> {
    let kinesis = stack.kinesis_client().await;
    let out = kinesis
        .list_tags_for_stream()
        .stream_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListTagsForStream {name}: {e:?}"));
    out.tags()
        .iter()
        .map(|t| {
            (
                t.key().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn provision_stops_when_head_bucket_answers_403_or_500_and_creates_nothing() {
    let stack = Stack::get();
    for status in [403u16, 500] {
        let kinesis = FaultProxy::start(&stack.kinesis_endpoint, FaultConfig::new());
        let s3 = FaultProxy::start(
            &stack.s3_endpoint,
            FaultConfig::new().answer("HeadBucket", status),
        );
        let (stream, bucket) = (unique_name("kds-prov"), unique_name("kds-prov"));
        let out =
            tokio::task::block_in_place(|| run_provision(&stack, &kinesis, &s3, &stream, &bucket));
        let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert_eq!(
            out.status.code(),
            Some(1),
            "HeadBucket {status}: {}",
            text(&out)
        );
        assert!(
            stderr.contains("nothing was created or deleted"),
            "{}",
            text(&out)
        );
        if status == 403 {
            assert!(stderr.contains("exists and is not yours"), "{}", text(&out));
        }
        assert!(
            s3.stats().operation("HeadBucket") >= 1,
            "HeadBucket was never asked"
        );
        for op in MUTATING {
            assert_eq!(
                kinesis.stats().operation(op),
                0,
                "HeadBucket {status}: {op} was called"
            );
            assert_eq!(
                s3.stats().operation(op),
                0,
                "HeadBucket {status}: {op} was called"
            );
        }
        assert!(
            !stream_exists(&stack, &stream).await,
            "stream {stream} was created"
        );
    }

    // The same route with HeadBucket answering 404 does create both (so the checks above can
    // fail), tagged; teardown through it deletes both again.
    let kinesis = FaultProxy::start(&stack.kinesis_endpoint, FaultConfig::new());
    let s3 = FaultProxy::start(&stack.s3_endpoint, FaultConfig::new());
    let (stream, bucket) = (unique_name("kds-prov"), unique_name("kds-prov"));
    let out =
        tokio::task::block_in_place(|| run_provision(&stack, &kinesis, &s3, &stream, &bucket));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(kinesis.stats().operation("CreateStream"), 1);
    assert_eq!(s3.stats().operation("CreateBucket"), 1);
    assert_eq!(s3.stats().operation("PutBucketTagging"), 1);
    let tags = stream_tags(&stack, &stream).await;
    assert!(
        tags.contains(&("kds-tools/created-by".into(), "provision".into())),
        "{tags:?}"
    );
    let out = tokio::task::block_in_place(|| {
        stack
            .command("bash")
            .arg(common::script("teardown"))
            .args(["--stream", &stream, "--bucket", &bucket])
            .args([
                "--kinesis-endpoint-url",
                &kinesis.url(),
                "--s3-endpoint-url",
                &s3.url(),
            ])
            .output()
            .expect("run scripts/teardown")
    });
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(s3.stats().operation("DeleteBucket"), 1, "{}", text(&out));
    assert_eq!(
        kinesis.stats().operation("DeleteStream"),
        1,
        "{}",
        text(&out)
    );
}

/// A copy of scripts/ in an empty directory: no .tools/, so no local stack and no venv CLI;
/// an `aws` first on PATH records every call.
fn scripts_without_stack(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let scripts = dir.join("scripts");
    std::fs::create_dir_all(&scripts).expect("mkdir scripts");
    for entry in std::fs::read_dir(common::script("")).expect("read scripts/") {
        let entry = entry.expect("scripts/ entry");
        if entry.file_type().expect("file type").is_file() {
            std::fs::copy(entry.path(), scripts.join(entry.file_name())).expect("copy a script");
        }
    }
    let fake = dir.join("fake-bin");
    std::fs::create_dir_all(&fake).expect("mkdir fake-bin");
    let calls = dir.join("aws-calls");
    let aws = fake.join("aws");
    std::fs::write(
        &aws,
        format!("#!/bin/sh\necho \"$*\" >>'{}'\nexit 1\n", calls.display()),
    )
    .expect("write the fake aws");
    std::fs::set_permissions(&aws, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod the fake aws");
    let path = format!(
        "{}:{}",
        fake.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (path.into(), calls)
}

#[test]
fn teardown_and_provision_without_the_stack_and_without_aws_exit_2_with_no_aws_call() {
    let dir = tempfile::tempdir().unwrap();
    let (path, calls) = scripts_without_stack(dir.path());
    for (script, args) in [
        ("teardown", &["--yes"][..]),
        ("teardown", &[][..]),
        ("provision", &["--yes"][..]),
    ] {
        let out = Command::new("bash")
            .arg(dir.path().join("scripts").join(script))
            .args(args)
            .env("PATH", &path)
            // Whatever the caller's shell holds: no local stack means no AWS, not real AWS.
            .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("AWS_REGION", "eu-west-1")
            .env_remove("AWS_ENDPOINT_URL_KINESIS")
            .env_remove("AWS_ENDPOINT_URL_S3")
            .env_remove("AWS_ENDPOINT_URL_STS")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{script} {args:?}: {}",
            text(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("local stack is not running"),
            "{}",
            text(&out)
        );
        assert!(
            !calls.exists(),
            "{script} {args:?} called aws: {:?}",
            std::fs::read_to_string(&calls)
        );
    }
    // The fake CLI does record calls: --aws reaches it (and stops at the identity check).
    let out = Command::new("bash")
        .arg(dir.path().join("scripts").join("teardown"))
        .args(["--aws", "--region", "eu-west-1"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let recorded = std::fs::read_to_string(&calls).unwrap_or_default();
    assert!(recorded.contains("sts get-caller-identity"), "{recorded:?}");
}

fn demo_command(stack: &Stack, args: &[&str], work: &Path) -> Command {
    let mut cmd = stack.command("timeout");
    cmd.args(["600", "bash"])
        .arg(common::script("demo"))
        .args(["--fast", "--bin-dir"])
        .arg(common::tool_dir())
        .arg("--work-dir")
        .arg(work)
        .args(args);
    cmd
}

async fn put_marker(stack: &Stack, bucket: &str) {
    let s3 = stack.s3_client().await;
    s3.put_object()
        .bucket(bucket)
        .key("theirs/keep-me.txt")
        .body(b"not the demo's".to_vec().into())
        .send()
        .await
        .expect("PutObject marker");
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_killed_after_creating_its_stream_leaves_it_tagged_and_teardown_removes_exactly_it() {
    let stack = Stack::get();
    let bucket = TestBucket::create_named(&stack, "kds-demo-kill")
        .await
        .unwrap();
    put_marker(&stack, &bucket.name).await;
    let out_stream = TestStream::create_named(&stack, "kds-demo-kill-out", 1)
        .await
        .unwrap();
    let in_stream = unique_name("kds-demo-kill");
    let work = tempfile::tempdir().unwrap();
    let mut child = demo_command(
        &stack,
        &[
            "--stream",
            &in_stream,
            "--out-stream",
            &out_stream.name,
            "--bucket",
            &bucket.name,
        ],
        work.path(),
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .process_group(0)
    .spawn()
    .expect("start scripts/demo");
    // Poll the emulator directly; kill the whole group (demo and provision) the moment the
    // stream exists: the worst case, no trap runs.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !stream_exists(&stack, &in_stream).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the demo never created {in_stream}"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the demo ended before creating its stream"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    testkit::process::signal_group(&child, libc::SIGKILL).expect("kill the demo's process group");
    let _ = child.wait();

    let tags = stream_tags(&stack, &in_stream).await;
    assert!(
        tags.contains(&("kds-tools/created-by".into(), "provision".into())),
        "{tags:?}"
    );
    assert!(
        tags.iter()
            .any(|(k, v)| k == "kds-tools/run-id" && v.starts_with("demo-")),
        "{tags:?}"
    );
    assert!(
        stream_tags(&stack, &out_stream.name).await.is_empty(),
        "the test's stream got tagged"
    );

    // The next teardown removes the tagged stream, and keeps the untagged stream and bucket.
    for (stream, word) in [(&in_stream, "deleted"), (&out_stream.name, "kept")] {
        let out = tokio::task::block_in_place(|| {
            stack
                .command("bash")
                .arg(common::script("teardown"))
                .args(["--stream", stream, "--bucket", &bucket.name])
                .output()
                .expect("run scripts/teardown")
        });
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            stdout.lines().any(|l| l.starts_with("stream")
                && l.contains(stream.as_str())
                && l.contains(word)),
            "{}",
            text(&out)
        );
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("bucket") && l.contains("kept")),
            "{}",
            text(&out)
        );
    }
    assert!(
        stream_gone(&stack, &in_stream).await,
        "teardown left the tagged stream"
    );
    assert!(
        stream_exists(&stack, &out_stream.name).await,
        "teardown deleted an untagged stream"
    );
    let keys = list_keys(&stack.s3_client().await, &bucket.name)
        .await
        .unwrap();
    assert_eq!(keys, vec!["theirs/keep-me.txt".to_string()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_on_a_bucket_that_existed_keeps_it_and_its_objects_and_removes_only_its_own() {
    let stack = Stack::get();
    let bucket = TestBucket::create_named(&stack, "kds-demo-keep")
        .await
        .unwrap();
    put_marker(&stack, &bucket.name).await;
    let stream = unique_name("kds-demo-keep");
    let work = tempfile::tempdir().unwrap();
    let out = tokio::task::block_in_place(|| {
        demo_command(
            &stack,
            &[
                "--duration",
                "10",
                "--stream",
                &stream,
                "--bucket",
                &bucket.name,
            ],
            work.path(),
        )
        .output()
        .expect("run scripts/demo")
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout.lines().any(|l| l == "OK"), "{}", text(&out));
    assert!(
        stdout.contains("lab1-input/"),
        "the demo wrote no objects: {}",
        text(&out)
    );
    assert!(
        stdout.contains("this run's objects deleted"),
        "{}",
        text(&out)
    );
    let keys = list_keys(&stack.s3_client().await, &bucket.name)
        .await
        .unwrap();
    assert_eq!(
        keys,
        vec!["theirs/keep-me.txt".to_string()],
        "{}",
        text(&out)
    );
    for s in [stream.clone(), format!("{stream}-out")] {
        assert!(
            stream_gone(&stack, &s).await,
            "the demo left its stream {s}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_terminated_after_creating_its_stream_removes_it_in_its_own_cleanup() {
    let stack = Stack::get();
    let bucket = TestBucket::create_named(&stack, "kds-demo-term")
        .await
        .unwrap();
    put_marker(&stack, &bucket.name).await;
    let stream = unique_name("kds-demo-term");
    let work = tempfile::tempdir().unwrap();
    let mut child = demo_command(
        &stack,
        &["--stream", &stream, "--bucket", &bucket.name],
        work.path(),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("start scripts/demo");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !stream_exists(&stack, &stream).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the demo never created {stream}"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the demo ended before creating its stream"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // SIGTERM to the demo alone (timeout passes it on), as a service manager would send it.
    testkit::process::signal(&child, libc::SIGTERM).expect("signal the demo");
    let out = tokio::task::block_in_place(|| child.wait_with_output()).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("teardown (only what this demo created)"),
        "{stdout}"
    );
    assert!(
        stream_gone(&stack, &stream).await,
        "the demo's cleanup left {stream}:\n{stdout}"
    );
    let keys = list_keys(&stack.s3_client().await, &bucket.name)
        .await
        .unwrap();
    assert_eq!(keys, vec!["theirs/keep-me.txt".to_string()], "{stdout}");
}
