//! The AWS layer as a user meets it: configuration problems end the run at once with exit 2 and
//! the fix (no region, no credentials, credentials AWS refuses), `--profile` wins over exported
//! keys, a bucket in another region is named with its region, a tool started on a stream that
//! is still CREATING waits for ACTIVE, and `--show-config` tells what was resolved.
//!
//! Every child runs under a bounded wait (killed and the test failed past it); the bounds are
//! hang guards, not timing assertions.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::recorder::{Answer, Recorder};
use testkit::{Stack, TestBucket, TestStream};

/// What a configuration error may take at most (the bound).
const FAIL_FAST: Duration = Duration::from_secs(10);
const TOOLS: [&str; 3] = ["kds-put", "kds-tail", "kds-s3sink"];

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` with `input` on stdin, killing it (and failing) after `limit`.
fn run_within(mut cmd: Command, input: &str, limit: Duration) -> Run {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn the tool");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let started = Instant::now();
    loop {
        if let Some(_status) = child.try_wait().expect("try_wait") {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{cmd:?} still running after {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The tool with the arguments that name its target.
fn tool(stack: &Stack, name: &str, target: &str) -> Command {
    let mut cmd = stack.command(testkit::bin_path(name));
    match name {
        "kds-s3sink" => cmd.args(["--bucket", target]),
        _ => cmd.args(["--stream", target]),
    };
    cmd
}

/// Shared config files that hold `profiles` (name, key id), and no region.
fn config_files(dir: &Path, profiles: &[(&str, &str)]) -> (String, String) {
    let mut credentials = String::new();
    let mut config = String::new();
    for (name, key) in profiles {
        credentials.push_str(&format!(
            "[{name}]\naws_access_key_id = {key}\naws_secret_access_key = secret-of-{name}\n"
        ));
        let section = if *name == "default" {
            "default".to_string()
        } else {
            format!("profile {name}")
        };
        config.push_str(&format!("[{section}]\n"));
    }
    let c = dir.join("credentials");
    let f = dir.join("config");
    std::fs::write(&c, credentials).expect("write credentials");
    std::fs::write(&f, config).expect("write config");
    (
        c.to_string_lossy().into_owned(),
        f.to_string_lossy().into_owned(),
    )
}

/// Isolates `cmd` from the machine's AWS files and instance metadata.
fn isolate(cmd: &mut Command, files: &(String, String)) {
    cmd.env("AWS_SHARED_CREDENTIALS_FILE", &files.0)
        .env("AWS_CONFIG_FILE", &files.1)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE");
}

fn assert_usage(what: &str, run: &Run, needle: &str) {
    assert_eq!(
        run.code,
        Some(2),
        "{what}: exit status; stderr:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(needle),
        "{what}: stderr does not name the fix ({needle:?}):\n{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.trim_end().lines().count(),
        1,
        "{what}: one line expected:\n{}",
        run.stderr
    );
}

#[test]
fn no_region_ends_each_tool_at_once() {
    let stack = Stack::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let files = config_files(dir.path(), &[("default", "AKIDDEFAULT")]);
    for name in TOOLS {
        let mut cmd = tool(&stack, name, "kds-no-region-target");
        isolate(&mut cmd, &files);
        cmd.env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION");
        let run = run_within(cmd, "{}\n", FAIL_FAST);
        assert_usage(name, &run, "no AWS region: pass --region or set AWS_REGION");
    }
}

#[test]
fn no_credentials_ends_each_tool_at_once() {
    let stack = Stack::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let files = config_files(dir.path(), &[]);
    for name in TOOLS {
        let mut cmd = tool(&stack, name, "kds-no-credentials-target");
        isolate(&mut cmd, &files);
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY");
        let run = run_within(cmd, "{}\n", FAIL_FAST);
        assert_usage(name, &run, "no AWS credentials");
        assert!(run.stderr.contains("--profile"), "{name}: {}", run.stderr);
    }
}

#[test]
fn refused_credentials_end_each_tool_at_once() {
    let stack = Stack::get();
    let kinesis = Recorder::start(Answer::kinesis_unrecognized_client());
    let s3 = Recorder::start(Answer::s3_invalid_access_key_id());
    for name in TOOLS {
        let endpoint = if name == "kds-s3sink" {
            s3.url()
        } else {
            kinesis.url()
        };
        let mut cmd = tool(&stack, name, "kds-refused-target");
        cmd.args(["--endpoint-url", endpoint]);
        let run = run_within(cmd, "{\"a\":1}\n", FAIL_FAST);
        let fix = "the access key id is not known to AWS: check AWS_ACCESS_KEY_ID";
        if name == "kds-s3sink" {
            // HeadBucket's 403 has no body to name the code: the message names the checks.
            assert_usage(name, &run, "check the credentials");
        } else {
            assert_usage(name, &run, fix);
        }
    }
    // Never retried as network errors: one call each for kds-put and kds-tail.
    assert_eq!(kinesis.seen().len(), 2, "{:?}", kinesis.seen());
    assert!(!s3.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn profile_beats_exported_keys() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 1).await.expect("stream");
    let recorder = Recorder::start(Answer::Forward(stack.kinesis_endpoint.clone()));
    let dir = tempfile::tempdir().expect("tempdir");
    let files = config_files(
        dir.path(),
        &[("default", "AKIDDEFAULT"), ("lab", "AKIDPROFILELAB")],
    );
    let mut cmd = tool(&stack, "kds-put", &stream.name);
    isolate(&mut cmd, &files);
    cmd.args(["--profile", "lab", "--endpoint-url", recorder.url()])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXPORTED")
        .env("AWS_SECRET_ACCESS_KEY", "exported-secret");
    let run = tokio::task::spawn_blocking(move || {
        run_within(
            cmd,
            "{\"tno\":\"1\"}\n{\"tno\":\"2\"}\n",
            Duration::from_secs(60),
        )
    })
    .await
    .expect("join");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let ids = recorder.access_key_ids();
    assert_eq!(ids, ["AKIDPROFILELAB"], "calls: {:?}", recorder.seen());
    assert!(
        recorder.seen().iter().any(|s| s.operation == "PutRecords"),
        "{:?}",
        recorder.seen()
    );

    // Without --profile the exported keys win, as in the AWS CLI.
    let recorder = Recorder::start(Answer::Forward(stack.kinesis_endpoint.clone()));
    let mut cmd = tool(&stack, "kds-put", &stream.name);
    isolate(&mut cmd, &files);
    cmd.args(["--endpoint-url", recorder.url()])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXPORTED")
        .env("AWS_SECRET_ACCESS_KEY", "exported-secret");
    let run = tokio::task::spawn_blocking(move || {
        run_within(cmd, "{\"tno\":\"3\"}\n", Duration::from_secs(60))
    })
    .await
    .expect("join");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(recorder.access_key_ids(), ["AKIDEXPORTED"]);
    stream.delete().await.expect("delete stream");
}

#[test]
fn bucket_in_another_region_names_it() {
    let stack = Stack::get();
    let s3 = Recorder::start(Answer::s3_bucket_in_region("eu-central-1"));
    let mut cmd = tool(&stack, "kds-s3sink", "kds-far-bucket");
    cmd.args(["--endpoint-url", s3.url(), "--region", "us-east-1"]);
    let run = run_within(cmd, "{\"a\":1}\n", FAIL_FAST);
    assert_usage(
        "kds-s3sink",
        &run,
        "bucket kds-far-bucket is in eu-central-1: use --region eu-central-1",
    );
    assert_eq!(s3.seen().len(), 1, "HeadBucket only: {:?}", s3.seen());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_that_does_not_exist_is_a_usage_error() {
    let stack = Stack::get();
    let cmd = tool(&stack, "kds-s3sink", &testkit::unique_name("kds-missing"));
    let run = tokio::task::spawn_blocking(move || run_within(cmd, "{}\n", FAIL_FAST))
        .await
        .expect("join");
    assert_usage("kds-s3sink", &run, "does not exist");
    // A real bucket still works: the check does not refuse what exists.
    let bucket = TestBucket::create(&stack).await.expect("bucket");
    let mut cmd = tool(&stack, "kds-s3sink", &bucket.name);
    cmd.args(["--buffer-interval", "60s"]);
    let run = tokio::task::spawn_blocking(move || {
        run_within(cmd, "{\"a\":1}\n", Duration::from_secs(60))
    })
    .await
    .expect("join");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    bucket.delete().await.expect("delete bucket");
}

#[tokio::test(flavor = "multi_thread")]
async fn tail_started_on_a_creating_stream_waits_for_active() {
    let stack = Stack::get();
    let client = stack.kinesis_client().await;
    let name = testkit::unique_name("kds-creating");
    client
        .create_stream()
        .stream_name(&name)
        .shard_count(1)
        .send()
        .await
        .expect("CreateStream");
    // Started at once, while the stream is CREATING.
    let mut cmd = tool(&stack, "kds-tail", &name);
    cmd.args(["--from", "trim-horizon", "--count", "1"]);
    let tail = tokio::task::spawn_blocking(move || run_within(cmd, "", Duration::from_secs(90)));
    testkit::wait_active(&client, &name).await.expect("ACTIVE");
    client
        .put_record()
        .stream_name(&name)
        .partition_key("k")
        .data(aws_sdk_kinesis::primitives::Blob::new(
            b"{\"n\":1}".to_vec(),
        ))
        .send()
        .await
        .expect("PutRecord");
    let run = tail.await.expect("join");
    let _ = client.delete_stream().stream_name(&name).send().await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("\"n\":1"), "stdout: {}", run.stdout);
}

#[test]
fn show_config_names_the_sources_and_exits_0() {
    let stack = Stack::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let files = config_files(dir.path(), &[("lab", "AKIDSHOWCONFIGLAB")]);
    for name in TOOLS {
        let mut cmd = tool(&stack, name, "kds-show-target");
        cmd.arg("--show-config");
        let run = run_within(cmd, "", FAIL_FAST);
        assert_eq!(run.code, Some(0), "{name}: {}", run.stderr);
        assert!(
            run.stdout.contains("credentials  env (AWS_ACCESS_KEY_ID)"),
            "{name}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("region       us-east-1"),
            "{name}: {}",
            run.stdout
        );
        let service = if name == "kds-s3sink" {
            "(s3)"
        } else {
            "(kinesis)"
        };
        assert!(run.stdout.contains(service), "{name}: {}", run.stdout);

        let mut cmd = tool(&stack, name, "kds-show-target");
        isolate(&mut cmd, &files);
        cmd.args(["--show-config", "--profile", "lab"]);
        let run = run_within(cmd, "", FAIL_FAST);
        assert_eq!(run.code, Some(0), "{name}: {}", run.stderr);
        assert!(
            run.stdout.contains("profile      lab  (--profile)"),
            "{name}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("credentials  profile lab"),
            "{name}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("GLAB"),
            "masked key id keeps its end: {}",
            run.stdout
        );
        assert!(!run.stdout.contains("AKIDSHOWCONFIGLAB"), "{}", run.stdout);
        assert!(!run.stdout.contains("secret-of-lab"), "{}", run.stdout);
    }
}
