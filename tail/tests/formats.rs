//! Output formats, stop conditions and start positions, on a one-shard stream with known records:
//! JSON, text, several lines, binary, a trailing newline, and a KPL aggregate.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use support::*;
use testkit::process::{run_bounded, Watchdog};
use testkit::{read_stream_all, Stack, TestStream};

/// A KPL aggregated record of `records` (key index, data) over the key table `keys`.
fn kpl_aggregate(keys: &[&str], records: &[(u64, &[u8])]) -> Vec<u8> {
    let records: Vec<kds_common::kpl::Record<'_>> = records
        .iter()
        .map(|&(key_index, data)| kds_common::kpl::Record {
            partition_key: keys[key_index as usize],
            explicit_hash_key: None,
            data,
        })
        .collect();
    kds_common::kpl::encode(&records)
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn text_lines(out: &[u8]) -> Vec<String> {
    lines(out)
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formats_positions_and_stops() -> anyhow::Result<()> {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 1).await?;
    let client = stack.kinesis_client().await;
    let binary = vec![0xff, 0xfe, 0x00, 0x41];
    let agg = kpl_aggregate(
        &["u0", "u1"],
        &[(0, b"{\"u\":0}"), (1, b"{\"u\":1}"), (0, b"two\nlines")],
    );
    let first: Vec<(String, Vec<u8>)> = vec![
        ("p0".into(), b"{\"a\":1}".to_vec()),
        ("p1".into(), b"plain text".to_vec()),
        ("p2".into(), b"line1\nline2".to_vec()),
        ("p3".into(), binary.clone()),
    ];
    let second: Vec<(String, Vec<u8>)> = vec![
        ("p4".into(), b"{\"b\":2}\n".to_vec()),
        ("agg".into(), agg.clone()),
        ("p6".into(), b"{\"z\":9}".to_vec()),
    ];
    let mut puts = put_all(&client, &stream.name, &first).await?;
    // A second batch a little later, so that arrival times separate the two.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    puts.extend(put_all(&client, &stream.name, &second).await?);
    let back = read_stream_all(&client, &stream.name).await?;
    assert_eq!(back.len(), 7);
    let shard = puts[0].shard_id.clone();

    let run = |args: &[&str]| -> testkit::process::Bounded {
        let mut cmd = tail(&stack);
        cmd.args(["--stream", &stream.name]).args(args);
        run_bounded(cmd, None, Duration::from_secs(30))
    };
    let ok = |args: &[&str]| -> anyhow::Result<Vec<String>> {
        let out = run(args);
        anyhow::ensure!(
            out.status.success(),
            "{args:?}: {:?}: {}",
            out.status,
            out.stderr
        );
        Ok(text_lines(&out.stdout))
    };
    let th = ["--from", "trim-horizon", "-e"];

    // Default: data lines; several lines → JSON string, binary → base64, aggregates split.
    let out = tokio::task::block_in_place(|| run(&th));
    assert!(out.status.success());
    let expected_default = vec![
        "{\"a\":1}".to_string(),
        "plain text".into(),
        "\"line1\\nline2\"".into(),
        b64(&binary),
        "{\"b\":2}".into(),
        "{\"u\":0}".into(),
        "{\"u\":1}".into(),
        "\"two\\nlines\"".into(),
        "{\"z\":9}".into(),
    ];
    assert_eq!(text_lines(&out.stdout), expected_default);
    let stderr = &out.stderr;
    assert!(
        stderr.contains("3 records not a single UTF-8 line (2 as JSON strings, 1 as base64)"),
        "warnings counted: {stderr}"
    );

    tokio::task::block_in_place(|| -> anyhow::Result<()> {
        // --data modes.
        let raw = run(&[&th[..], &["--data", "raw"]].concat());
        let mut want_raw = b"{\"a\":1}\nplain text\nline1\nline2\n".to_vec();
        want_raw.extend_from_slice(&binary);
        want_raw.extend_from_slice(b"\n{\"b\":2}\n{\"u\":0}\n{\"u\":1}\ntwo\nlines\n{\"z\":9}\n");
        assert_eq!(raw.stdout, want_raw, "--data raw");
        let b = ok(&[&th[..], &["--data", "base64"]].concat())?;
        assert_eq!(b[2], b64(b"line1\nline2"));
        assert_eq!(b[3], b64(&binary));
        assert_eq!(b[0], "{\"a\":1}", "single UTF-8 lines stay as they are");
        let j = ok(&[&th[..], &["--data", "json-escape"]].concat())?;
        assert_eq!(j[2], "\"line1\\nline2\"");
        assert_eq!(j[3], "\"\u{fffd}\u{fffd}\\u0000A\"");

        // Without de-aggregation the aggregate is one (binary) record.
        let n = ok(&[&th[..], &["--no-deaggregate"]].concat())?;
        assert_eq!(n.len(), 7);
        assert_eq!(n[5], b64(&agg));

        // Envelopes.
        let out = run(&[&th[..], &["--envelope"]].concat());
        assert!(out.status.success());
        let env: Vec<serde_json::Value> = lines(&out.stdout)
            .iter()
            .map(|l| serde_json::from_slice(l).expect("JSON"))
            .collect();
        assert_eq!(env.len(), 9);
        let per_record = [0usize, 1, 2, 3, 4, 5, 5, 5, 6];
        for (e, &i) in env.iter().zip(&per_record) {
            assert_eq!(e["shard_id"], shard.as_str());
            assert_eq!(e["sequence_number"], puts[i].sequence_number.as_str());
            assert_eq!(e["sequence_number"], back[i].sequence_number.as_str());
            assert_eq!(
                e["arrival"],
                kds_common::time::rfc3339_ms(back[i].arrival).as_str(),
                "arrival is ApproximateArrivalTimestamp"
            );
            if i != 5 {
                assert_eq!(e["partition_key"], puts[i].partition_key.as_str());
                assert!(e.get("sub_sequence_number").is_none());
            }
        }
        // The envelope rule: a record that is one JSON value on the line is `data` itself;
        // other text is a string with "encoding":"utf8", other bytes base64.
        assert_eq!(env[0]["data"], serde_json::json!({"a": 1}));
        assert!(env[0].get("encoding").is_none());
        assert_eq!(env[1]["data"], "plain text");
        assert_eq!(env[1]["encoding"], "utf8");
        assert_eq!(env[2]["data"], "line1\nline2");
        assert_eq!(env[2]["encoding"], "utf8");
        assert_eq!(env[3]["data"], b64(&binary));
        assert_eq!(env[3]["encoding"], "base64");
        assert_eq!(env[4]["data"], "{\"b\":2}\n", "its trailing newline kept");
        assert_eq!(env[4]["encoding"], "utf8");
        for (k, (pk, data)) in [
            ("u0", serde_json::json!({"u": 0})),
            ("u1", serde_json::json!({"u": 1})),
            ("u0", serde_json::json!("two\nlines")),
        ]
        .into_iter()
        .enumerate()
        {
            assert_eq!(env[5 + k]["partition_key"], pk);
            assert_eq!(env[5 + k]["sub_sequence_number"], k as u64);
            assert_eq!(env[5 + k]["data"], data);
        }

        // -n and start positions.
        assert_eq!(
            ok(&[&th[..], &["-n", "3"]].concat())?,
            expected_default[..3]
        );
        let at_seq = format!("at-sequence:{shard}:{}", puts[3].sequence_number);
        assert_eq!(ok(&["--from", &at_seq, "-e"])?, expected_default[3..]);
        let t2 = back[4].arrival;
        assert!(
            back[3].arrival < t2,
            "the batches have different arrival times"
        );
        let at_ts = format!("at-timestamp:{}", kds_common::time::rfc3339_ms(t2));
        assert_eq!(ok(&["--from", &at_ts, "-e"])?, expected_default[4..]);
        // --until stops at the first later record, without -e.
        let until = kds_common::time::rfc3339_ms(back[3].arrival);
        assert_eq!(
            ok(&["--from", "trim-horizon", "--until", &until])?,
            expected_default[..4]
        );

        // -n stopping inside an aggregate: the checkpoint stays before it.
        let dir = tempfile::tempdir()?;
        let cp = dir.path().join("cp.json");
        let cps = cp.to_str().context("path")?;
        assert_eq!(
            ok(&[&th[..], &["-n", "6", "--checkpoint", cps]].concat())?,
            expected_default[..6]
        );
        let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&cp)?)?;
        assert_eq!(saved["shards"][&shard], puts[4].sequence_number.as_str());
        assert_eq!(
            ok(&[&th[..], &["--checkpoint", cps]].concat())?,
            expected_default[5..],
            "the partly written aggregate is read again"
        );
        Ok(())
    })?;

    // A closed stdout ends a live tail quietly with status 0.
    let mut cmd = tail(&stack);
    cmd.args(["--stream", &stream.name, "--from", "trim-horizon"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let wd = Watchdog::start("kds-tail with its stdout closed", Duration::from_secs(60));
    let mut child = wd.spawn("kds-tail", &mut cmd);
    let stderr = child.collect_stderr();
    let stdout = child.child.stdout.take().context("stdout")?;
    let first_line = tokio::task::block_in_place(|| {
        let mut r = BufReader::new(stdout);
        let mut l = String::new();
        r.read_line(&mut l).map(|_| l)
    })?;
    assert_eq!(first_line, "{\"a\":1}\n");
    // The reader is dropped: the pipe is closed. New records make kds-tail write into it.
    for _ in 0..20 {
        put_all(&client, &stream.name, &keyed_records(50, 5, "late")).await?;
        if !child.alive() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::task::block_in_place(|| wd.wait_until("exit after stdout closed", || !child.alive()));
    let status = child.finish(&wd).status;
    assert_eq!(status.code(), Some(0), "closed stdout → 0");
    let stderr = stderr.text();
    assert!(
        stderr.lines().all(|l| l.starts_with("kds-tail: warning: ")),
        "quietly (only the data warnings): {stderr}"
    );
    Ok(())
}

/// Our own checks of flag values: exit 2, one line naming the flag. (Clap's own errors, such as
/// `--data hex` or a missing `--stream`, print its whole message: tests/tests/cli.rs.)
#[test]
fn usage_errors_exit_2_with_one_line() {
    for args in [
        &["--stream", "s", "--from", "yesterday"][..],
        &["--stream", "s", "--shards", "3/3"],
        &["--stream", "s", "--until", "soon"],
        &["--stream", "s", "--idle-timeout", "0s"],
    ] {
        let out = std::process::Command::new(BIN)
            .args(args)
            .env_remove("KDS_TAIL_STREAM")
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("kds-tail: "), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}
