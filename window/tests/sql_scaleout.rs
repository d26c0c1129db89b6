//! The scale-out recipe of window/README.md with `--sql`: N processes, each fed the records of
//! its part of the keys (as `kds-tail --shards i/N` gives each process the shards its partition
//! keys hash to), write `--partial` rows; one `--merge` process combines them. For an
//! event-time query the merged rows equal one process's rows on the whole input.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::{gen_events, parse_rows, run_window, to_lines, GenOpts};

const EVENT_TIME_SQL: &str = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
    pno VARCHAR(8), minute TIMESTAMP, n INTEGER, total DOUBLE, users INTEGER, lo DOUBLE, hi DOUBLE);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
  SELECT STREAM "pno", FLOOR("tuptime" TO MINUTE), COUNT(*), SUM("tnum"), COUNT(DISTINCT "uno"),
         MIN("tnum"), MAX("tnum")
  FROM "SOURCE_SQL_STREAM_001"
  GROUP BY "pno", FLOOR("tuptime" TO MINUTE);"#;

/// The part of a record's key (its `tno`, the lab's partition key): FNV-1a, as a stand-in for
/// Kinesis' MD5 of the partition key over the shards' hash ranges.
fn part_of(key: &str, parts: u64) -> u64 {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    hash % parts
}

#[test]
fn n_partial_processes_merged_equal_one_process() {
    let events = gen_events(GenOpts {
        n: 4000,
        seed: 18,
        floats: true,
        ..GenOpts::default()
    });
    let text = to_lines(&events);
    // A lateness that covers the generator's disorder: each process sees its own part's
    // watermark, and no record may be late in one run and on time in another.
    let query = ["--sql", EVENT_TIME_SQL, "--allowed-lateness", "1h"];
    let with =
        |extra: &[&'static str]| -> Vec<&str> { query.iter().chain(extra).copied().collect() };
    let single = run_window(&with(&[]), &text);
    assert!(
        single.status.success(),
        "{}",
        String::from_utf8_lossy(&single.stderr)
    );
    let single_rows = parse_rows(&single.stdout);
    assert!(single_rows.len() > 50, "{}", single_rows.len());

    for parts in [2u64, 3] {
        let mut partials = Vec::new();
        let mut fed = 0;
        for part in 0..parts {
            let piece: String = text
                .lines()
                .zip(&events)
                .filter(|(_, e)| part_of(e["tno"].as_str().unwrap(), parts) == part)
                .map(|(l, _)| format!("{l}\n"))
                .collect();
            fed += piece.lines().count();
            let out = run_window(&with(&["--partial"]), &piece);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            partials.extend_from_slice(&out.stdout);
        }
        assert_eq!(fed, events.len(), "every record in exactly one part");
        let merged = run_window(&with(&["--merge"]), &partials);
        assert!(
            merged.status.success(),
            "{}",
            String::from_utf8_lossy(&merged.stderr)
        );
        assert_eq!(parse_rows(&merged.stdout), single_rows, "{parts} processes");
    }
}
