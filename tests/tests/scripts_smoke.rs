//! `scripts/aws-smoke --local`: the first-real-AWS sequence on the local stack passes every
//! check of the demo's reconciliation and leaves nothing behind.

mod common;

use testkit::Stack;

#[tokio::test(flavor = "multi_thread")]
async fn aws_smoke_local_passes_and_leaves_nothing_behind() {
    let stack = Stack::get();
    let out = tokio::task::block_in_place(|| {
        stack
            .command("timeout")
            .args(["600", "bash"])
            .arg(common::script("aws-smoke"))
            .args(["--local", "--bin-dir"])
            .arg(common::tool_dir())
            .output()
            .expect("run scripts/aws-smoke")
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!(
        "{:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(out.status.success(), "{all}");
    assert_eq!(stdout.lines().last(), Some("OK"), "{all}");
    assert!(
        stdout.lines().any(|l| l == "OK"),
        "the demo's reconciliation: {all}"
    );
    assert!(
        stdout.contains("left behind                         nothing"),
        "{all}"
    );
    assert!(stdout.contains("cost incurred"), "{all}");

    // The streams it announced are gone (or going): checked here, not only by the script.
    let stream = stderr
        .split("will create: Kinesis streams ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no stream name announced: {all}"))
        .to_string();
    assert!(stream.starts_with("kds-smoke-"), "{stream}");
    let kinesis = stack.kinesis_client().await;
    for s in [stream.clone(), format!("{stream}-out")] {
        if let Ok(o) = kinesis
            .describe_stream_summary()
            .stream_name(&s)
            .send()
            .await
        {
            let status = o
                .stream_description_summary()
                .map(|d| d.stream_status().as_str().to_string());
            assert_eq!(
                status.as_deref(),
                Some("DELETING"),
                "stream {s} left behind"
            );
        }
    }
}
