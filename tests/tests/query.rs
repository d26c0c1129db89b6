//! scripts/query: DuckDB over the objects kds-s3sink delivered, in every framing Firehose uses
//! (concatenated, newline-delimited, gzip). Its totals equal the records written and its
//! per-minute counts by event time equal `kds-window --time event:tuptime` over the same records.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use testkit::{list_keys, Stack, TestBucket};

const RECORDS: usize = 300;

fn run(stack: &Stack, program: &Path, args: &[&str]) -> Output {
    let out = stack
        .command(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn query(stack: &Stack, bucket: &str, format: &str, sql: &str) -> String {
    let out = run(
        stack,
        &common::script("query"),
        &["--bucket", bucket, "--format", format, "--no-header", sql],
    );
    String::from_utf8(out.stdout).expect("query output is UTF-8")
}

/// kds-gen's events over about three minutes of simulated time, as NDJSON lines.
fn generated_events(stack: &Stack) -> Vec<String> {
    let out = run(
        stack,
        &testkit::bin_path("kds-gen"),
        &[
            "-n",
            &RECORDS.to_string(),
            "--seed",
            "21",
            "--rate",
            "2",
            "--simulated-clock",
            "--start",
            "2021-03-19T13:14:30Z",
            "2021-03-19",
        ],
    );
    let text = String::from_utf8(out.stdout).expect("kds-gen writes UTF-8");
    text.lines().map(str::to_string).collect()
}

/// Writes one part of the events into the bucket through kds-s3sink with `extra` flags.
fn deliver(stack: &Stack, dir: &Path, bucket: &str, part: &[String], extra: &[&str]) {
    let file = dir.join(format!("part-{}.ndjson", extra.join("")));
    std::fs::write(&file, part.join("\n") + "\n").expect("write part file");
    let file = file.to_str().expect("utf-8 temp path");
    let mut args = vec![
        "--bucket",
        bucket,
        "--prefix",
        "lab1-input/",
        "--name",
        "lab1-kfh",
    ];
    args.extend_from_slice(extra);
    args.push(file);
    run(stack, &testkit::bin_path("kds-s3sink"), &args);
}

/// (window start, count, sum) rows, from kds-window's NDJSON or the query's JSON lines.
fn minute_rows(ndjson: &str) -> BTreeSet<(String, u64, i64)> {
    ndjson
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"));
            (
                v["window_start"]
                    .as_str()
                    .expect("window_start")
                    .to_string(),
                v["count_tno"].as_u64().expect("count_tno"),
                v["sum_tnum"].as_i64().expect("sum_tnum"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_over_delivered_objects_counts_every_record_and_matches_kds_window_per_minute() {
    let stack = Stack::get();
    let bucket = TestBucket::create(&stack).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let events = generated_events(&stack);
    assert_eq!(events.len(), RECORDS);

    // Firehose's three framings: no delimiter, a newline after each record, gzip.
    let third = RECORDS / 3;
    deliver(&stack, dir.path(), &bucket.name, &events[..third], &[]);
    deliver(
        &stack,
        dir.path(),
        &bucket.name,
        &events[third..2 * third],
        &["--newline"],
    );
    deliver(
        &stack,
        dir.path(),
        &bucket.name,
        &events[2 * third..],
        &["--compression", "gzip"],
    );

    let total = query(&stack, &bucket.name, "csv", "SELECT count(*) FROM lab1");
    assert_eq!(
        total.trim(),
        RECORDS.to_string(),
        "count(*) over the objects"
    );
    let distinct = query(
        &stack,
        &bucket.name,
        "csv",
        "SELECT count(DISTINCT tid) FROM lab1",
    );
    assert_eq!(distinct.trim(), RECORDS.to_string(), "distinct tid");

    // Per minute by event time, against kds-window over the same records.
    let all = dir.path().join("all.ndjson");
    std::fs::write(&all, events.join("\n") + "\n").unwrap();
    let window = run(
        &stack,
        &testkit::bin_path("kds-window"),
        &["--time", "event:tuptime", all.to_str().unwrap()],
    );
    let want = minute_rows(&String::from_utf8_lossy(&window.stdout));
    assert!(want.len() >= 3, "the events span several minutes: {want:?}");
    let got = query(
        &stack,
        &bucket.name,
        "jsonlines",
        "SELECT strftime(date_trunc('minute', tuptime), '%Y-%m-%dT%H:%M:%S.000Z') AS window_start, \
         count(*) AS count_tno, CAST(sum(tnum) AS BIGINT) AS sum_tnum FROM lab1 GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(
        minute_rows(&got),
        want,
        "per-minute rows: SQL vs kds-window"
    );

    // The key layout columns are the ones in each object's key.
    let s3 = stack.s3_client().await;
    let mut want_layout = BTreeSet::new();
    for key in list_keys(&s3, &bucket.name).await.unwrap() {
        let parts: Vec<&str> = key.split('/').collect();
        assert_eq!(parts.len(), 6, "Firehose key layout: {key}");
        let n = |i: usize| parts[i].parse::<u32>().expect("numeric key part");
        want_layout.insert(format!(
            "s3://{}/{key},{},{},{},{},{}",
            bucket.name,
            n(1),
            n(2),
            n(3),
            n(4),
            parts[1..5].join("/")
        ));
    }
    assert_eq!(want_layout.len(), 3, "one object per delivery");
    let got_layout = query(
        &stack,
        &bucket.name,
        "csv",
        "SELECT DISTINCT filename, year, month, day, hour, datehour FROM lab1",
    );
    let got_layout: BTreeSet<String> = got_layout.lines().map(str::to_string).collect();
    assert_eq!(got_layout, want_layout, "layout columns vs keys");

    bucket.delete().await.unwrap();
}

#[test]
fn usage_errors_exit_2_and_name_the_flag() {
    for (args, needle) in [
        (vec!["--format", "xml", "SELECT 1"], "--format"),
        (
            vec!["--prefix", "in/!{timestamp:yyyy}/", "SELECT 1"],
            "--prefix",
        ),
        (vec![], "no SQL"),
        (vec!["--bogus", "SELECT 1"], "--bogus"),
    ] {
        let out = std::process::Command::new(common::script("query"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
}

#[test]
fn athena_ddl_reads_the_firehose_layout_with_partition_projection() {
    let out = std::process::Command::new(common::script("query"))
        .args(["--athena-ddl", "--bucket", "lab-1-wzlinux-com"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let ddl = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "CREATE EXTERNAL TABLE IF NOT EXISTS lab1 (",
        "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'",
        "LOCATION 's3://lab-1-wzlinux-com/lab1-input/'",
        "'projection.datehour.format' = 'yyyy/MM/dd/HH'",
        "'storage.location.template' = 's3://lab-1-wzlinux-com/lab1-input/${datehour}/'",
        "kds-s3sink --newline",
    ] {
        assert!(ddl.contains(needle), "missing {needle:?} in\n{ddl}");
    }
}

#[test]
fn without_a_stack_an_endpoint_or_aws_it_exits_2_and_touches_nothing() {
    // A copy of the scripts outside the checkout: no .tools/, so no local stack to find.
    let dir = tempfile::tempdir().unwrap();
    let scripts = dir.path().join("scripts");
    std::fs::create_dir(&scripts).unwrap();
    for name in ["query", "lib.sh", "requirements-duckdb.txt"] {
        std::fs::copy(common::script(name), scripts.join(name)).expect("copy a script");
    }
    let out = std::process::Command::new(scripts.join("query"))
        .arg("SELECT count(*) FROM lab1")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("scripts/stack start") && err.contains("--aws"),
        "{err}"
    );
    assert!(
        !dir.path().join(".tools").exists(),
        "nothing installed before a target is known"
    );
}
