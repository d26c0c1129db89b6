//! The window line parser (`kds_window::scan`): arbitrary bytes, split into lines at `\n`.
//!
//! For every line: the fast paths (`fast_extract` per line, `fast_extract_indexed` on a block
//! classified once by `BlockIndex`) and the full serde_json path (`slow_extract`, flat and
//! envelope) never panic, and whenever a fast path accepts a line, serde_json accepts it too and
//! gives the same value for every key (same JSON text, so integers stay integers). The block
//! index finds the same line ends as a plain search for `\n`.
//! Then the whole input goes through the engine with event-time, arrival-time, rowtime and
//! merge queries using every aggregate (CSV and NDJSON output, partial rows, late corrections):
//! bad lines are errors, never panics.
#![no_main]

use kds_common::io::Output;
use kds_window::engine::{Config, Engine, LatePolicy, Options};
use kds_window::query::{parse_agg, parse_group_by, parse_time_basis, Path, Query};
use kds_window::scan::{
    fast_extract, fast_extract_indexed, slow_extract, BlockIndex, FastKey, Val,
};
use kds_window::Format;
use libfuzzer_sys::fuzz_target;

/// Keys the comparison looks up: the trade event's, near misses of them (a prefix, a longer
/// key, one over the 8 bytes that compare as one word) and the empty key.
const KEYS: &[&str] = &[
    "tnum",
    "tuptime",
    "pno",
    "tnu",
    "tnumm",
    "tuptime_z",
    "",
    "a",
];

fn render(text: &[u8], v: Val) -> Vec<u8> {
    if v == Val::Missing {
        return b"<missing>".to_vec();
    }
    let mut out = Vec::new();
    v.write_json(text, &mut out);
    out
}

fn config(time: &str, group_by: &[&str], aggs: &[&str], opts: Options) -> Config {
    let mut query = Query::lab();
    query.time = parse_time_basis(time).expect("valid time basis");
    query.size_ms = 10_000;
    query.group_by = group_by
        .iter()
        .map(|g| parse_group_by(g).expect("valid group-by"))
        .collect();
    query.aggregates = aggs
        .iter()
        .map(|a| parse_agg(a).expect("valid aggregate"))
        .collect();
    query.columns = query.default_columns();
    query.validate().expect("valid query");
    Config {
        query,
        options: opts,
    }
}

fn run_engine(cfg: &Config, data: &[u8]) {
    let mut engine = Engine::new(cfg, Output::new(std::io::sink()), Box::new(std::io::sink()))
        .expect("engine for a valid query");
    engine.start_clock(1_616_159_700_000);
    // Two blocks at two clock readings, so rowtime closes a window in between.
    let half = data.len() / 2;
    let cut = data[..half]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let _ = engine.push_block(&data[..cut], 1, 1_616_159_700_000);
    let first = data[..cut].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let _ = engine.push_block(&data[cut..], first, 1_616_159_760_000);
    let _ = engine.finish(false);
}

fuzz_target!(|data: &[u8]| {
    let keys: Vec<FastKey> = KEYS.iter().map(|k| FastKey::new(k.as_bytes())).collect();
    let paths: Vec<Path> = KEYS.iter().map(|k| Path(vec![k.to_string()])).collect();
    let mut fast = vec![Val::Missing; KEYS.len()];
    let mut slow = vec![Val::Missing; KEYS.len()];
    let mut scratch = Vec::new();
    let mut index = BlockIndex::default();
    index.build(data);
    let mut indexed = vec![Val::Missing; KEYS.len()];
    let mut start = 0;
    for line in data.split(|&b| b == b'\n') {
        let end = start + line.len();
        let found = index.next_newline(start);
        assert_eq!(
            found,
            (end < data.len()).then_some(end),
            "line end after {start}"
        );
        let indexed_ok =
            fast_extract_indexed(data, start, end, &index, &keys, &mut indexed).is_some();
        start = end + 1;
        let fast_ok = fast_extract(line, &keys, &mut fast).is_some();
        let slow_res = slow_extract(line, &paths, false, &mut slow, &mut scratch);
        if indexed_ok {
            assert!(
                slow_res.is_ok(),
                "indexed fast path accepted what serde_json rejects: {:?}",
                String::from_utf8_lossy(line)
            );
            for (k, name) in KEYS.iter().enumerate() {
                assert_eq!(
                    String::from_utf8_lossy(&render(line, indexed[k])),
                    String::from_utf8_lossy(&render(&scratch, slow[k])),
                    "indexed, key {name:?} of {:?}",
                    String::from_utf8_lossy(line)
                );
            }
        }
        if fast_ok {
            assert!(
                slow_res.is_ok(),
                "fast path accepted what serde_json rejects: {:?}: {:?}",
                String::from_utf8_lossy(line),
                slow_res
            );
            for (k, name) in KEYS.iter().enumerate() {
                assert_eq!(
                    String::from_utf8_lossy(&render(line, fast[k])),
                    String::from_utf8_lossy(&render(&scratch, slow[k])),
                    "key {name:?} of {:?}",
                    String::from_utf8_lossy(line)
                );
            }
        }
        // Every value renders, whatever the path.
        if slow_res.is_ok() {
            for &v in &slow {
                render(&scratch, v);
            }
        }
        let _ = slow_extract(line, &paths, true, &mut slow, &mut scratch);
    }

    let every_agg = [
        "count",
        "count:tnum",
        "sum:tnum",
        "min:tnum",
        "max:tnum",
        "avg:tnum",
        "count_distinct:uno",
    ];
    let nested = ["count", "sum:a.b", "max:a.b", "count_distinct:a"];
    let late_emit = Options {
        late: LatePolicy::Emit,
        allowed_lateness_ms: 2_000,
        emit_empty: true,
        ..Options::default()
    };
    let csv = Options {
        format: Format::Csv,
        emit_empty: true,
        ..Options::default()
    };
    let partial = Options {
        partial: true,
        late: LatePolicy::Emit,
        ..Options::default()
    };
    let merge = Options {
        merge: true,
        ..Options::default()
    };
    let strict = Options {
        strict: true,
        ..Options::default()
    };
    for cfg in [
        config("event:tuptime", &["pno"], &every_agg, late_emit),
        config("event:tuptime", &["pno", "a.b"], &nested, csv.clone()),
        config("arrival", &["pno"], &every_agg, partial.clone()),
        config("rowtime", &[], &every_agg, csv),
        config("event:tuptime", &["pno"], &every_agg, merge.clone()),
        config("rowtime", &["pno"], &["count", "sum:tnum"], merge),
        config("event:tuptime", &[], &every_agg, strict),
        config("event:tuptime", &["uno"], &every_agg, partial),
    ] {
        run_engine(&cfg, data);
    }
});
