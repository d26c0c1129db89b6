//! `scripts/demo --fast` on the shared local stack: the reconciliation says OK with non-zero
//! numbers that agree, what the demo created is removed, and the stack it did not start keeps
//! running.

mod common;

use testkit::{unique_name, Stack};

/// The number at the end of the reconciliation row whose label starts with `label`.
fn row(stdout: &str, label: &str) -> u64 {
    let line = stdout
        .lines()
        .map(str::trim_start)
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no row '{label}' in:\n{stdout}"));
    line[label.len()..]
        .split_whitespace()
        .find_map(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no number in row: {line}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_fast_reconciles_ok_and_leaves_the_shared_stack_running() {
    let stack = Stack::get();
    let stream = unique_name("kds-demo");
    let bucket = unique_name("kds-demo");
    let bin = common::tool_dir();
    let out = {
        let (stack, stream, bucket) = (stack.clone(), stream.clone(), bucket.clone());
        tokio::task::spawn_blocking(move || {
            stack
                // Bounded: on a hang, SIGTERM makes the demo clean up and exit.
                .command("timeout")
                .args(["600", "bash"])
                .arg(common::script("demo"))
                .args([
                    "--fast",
                    "--stream",
                    &stream,
                    "--bucket",
                    &bucket,
                    "--bin-dir",
                ])
                .arg(bin)
                .output()
                .expect("run scripts/demo")
        })
        .await
        .unwrap()
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo failed ({:?})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(stdout.lines().any(|l| l == "OK"), "no OK line:\n{stdout}");
    assert!(stdout.contains("using the local stack that is already running"));

    let generated = row(&stdout, "events generated");
    assert!(generated > 0, "{stdout}");
    for label in [
        "records put",
        "records counted by the windows",
        "records in S3 (kds-s3sink object reports)",
        "records in S3 (parsed from the objects)",
        "records counted by SQL over S3 (scripts/query)",
    ] {
        assert_eq!(row(&stdout, label), generated, "{label}\n{stdout}");
    }
    let tnum = row(&stdout, "sum of tnum over the generated events");
    assert!(tnum > 0);
    assert_eq!(row(&stdout, "sum of tnum from the windows"), tnum);
    assert!(row(&stdout, "window rows read back from the output stream") > 0);
    assert!(stdout.contains("lab1-input/"), "{stdout}");

    // The chart of the run's windows is kept (the rest of the temporary work directory goes):
    // a panel and a data line for each of the two fields (kds-chart's own tests check points).
    let svg_path = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("chart of the windows kept: "))
        .unwrap_or_else(|| panic!("no kept chart in:\n{stdout}"));
    let svg = std::fs::read_to_string(svg_path).expect("demo-chart.svg");
    assert!(svg.starts_with("<svg"), "{svg_path} is not an SVG");
    assert!(svg.contains("count_tno") && svg.contains("sum_tnum"));
    assert!(
        svg.matches("<polyline").count() >= 2,
        "{svg_path}: no data lines"
    );
    std::fs::remove_dir_all(std::path::Path::new(svg_path).parent().expect("work dir")).ok();

    // Torn down: both streams and the bucket are gone (or going).
    let kinesis = stack.kinesis_client().await;
    for s in [stream.clone(), format!("{stream}-out")] {
        match kinesis
            .describe_stream_summary()
            .stream_name(&s)
            .send()
            .await
        {
            Err(_) => {}
            Ok(o) => {
                let st = o
                    .stream_description_summary()
                    .map(|d| d.stream_status().as_str().to_string());
                assert_eq!(st.as_deref(), Some("DELETING"), "stream {s} still there");
            }
        }
    }
    let s3 = stack.s3_client().await;
    assert!(
        s3.head_bucket().bucket(&bucket).send().await.is_err(),
        "bucket {bucket} still exists"
    );

    // The shared stack it did not start still answers.
    Stack::from_env_file().expect("the shared stack must still be running after the demo");
    let status = std::process::Command::new("bash")
        .arg(common::script("stack"))
        .args(["status", "--quiet"])
        .status()
        .unwrap();
    assert!(status.success(), "scripts/stack status after the demo");
}

#[test]
fn demo_usage_errors_exit_2() {
    for args in [
        &["--duration", "x"][..],
        &["--bogus"][..],
        &["--region", "eu-west-1"][..],
        &["--release", "--bin-dir", "/"][..],
    ] {
        let out = std::process::Command::new("bash")
            .arg(common::script("demo"))
            .args(args)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
}

/// `--aws` with no region anywhere is a configuration error, found before any AWS call.
#[test]
fn demo_aws_without_a_region_exits_2_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("bash")
        .arg(common::script("demo"))
        .args(["--aws", "--yes"])
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", dir.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr.contains("no AWS region: pass --region"), "{stderr}");
}
