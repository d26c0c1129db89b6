//! Test helpers: a deterministic trade-event generator and an independent, obviously-correct
//! reference implementation of the window query (serde_json::Value, BTreeMap, recomputing every
//! aggregate from the kept raw records).
#![allow(dead_code, clippy::unwrap_used, clippy::needless_range_loop)]

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

pub const T0: i64 = 1_616_159_700_000; // 2021-03-19T13:15:00Z

pub fn rfc3339(ms: i64, millis: bool) -> String {
    let dt = chrono_like(ms);
    if millis {
        format!("{dt}.{:03}Z", ms.rem_euclid(1000))
    } else {
        format!("{dt}Z")
    }
}

/// `YYYY-MM-DDTHH:MM:SS` computed with plain arithmetic (independent of kds_common::time).
fn chrono_like(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days, by walking years and months (slow but obviously right).
    let mut y = 1970i64;
    let mut d = days;
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    loop {
        let len = if leap(y) { 366 } else { 365 };
        if d >= len {
            d -= len;
            y += 1;
        } else {
            break;
        }
    }
    let months = [
        31,
        if leap(y) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let mut m = 0;
    while d >= months[m] {
        d -= months[m];
        m += 1;
    }
    format!(
        "{y:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        m + 1,
        d + 1,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Parses what the generator writes (RFC 3339 `Z`, optional millis) back to epoch ms.
pub fn parse_ts(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || !s.ends_with('Z') {
        return None;
    }
    let num = |a: usize, n: usize| s.get(a..a + n)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, se) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let ms = if b[19] == b'.' { num(20, 3)? } else { 0 };
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days = 0;
    for yy in 1970..y {
        days += if leap(yy) { 366 } else { 365 };
    }
    let months = [
        31,
        if leap(y) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d < 1
        || d > months[mo as usize - 1]
        || h > 23
        || mi > 59
        || se > 59
    {
        return None;
    }
    for m in 0..(mo - 1) as usize {
        days += months[m];
    }
    days += d - 1;
    Some(((days * 24 + h) * 60 + mi) * 60 * 1000 + se * 1000 + ms)
}

/// Knobs for generated streams.
#[derive(Clone, Copy)]
pub struct GenOpts {
    pub n: usize,
    pub seed: u64,
    /// Event times advance by 0..step_ms per record.
    pub step_ms: i64,
    /// Fraction of records whose time lags by up to `max_lag_ms` (out of order / late).
    pub disorder: f64,
    pub max_lag_ms: i64,
    /// tnum may be a non-integral float.
    pub floats: bool,
    /// tnum may be missing or null; pno may be missing; meta.region nested.
    pub nulls: bool,
    /// Some times as epoch-ms integers instead of strings.
    pub epoch_ms: bool,
}

impl Default for GenOpts {
    fn default() -> Self {
        GenOpts {
            n: 2000,
            seed: 1,
            step_ms: 700,
            disorder: 0.1,
            max_lag_ms: 90_000,
            floats: false,
            nulls: true,
            epoch_ms: true,
        }
    }
}

/// Generates trade events as JSON objects (in the DESIGN key order).
pub fn gen_events(o: GenOpts) -> Vec<Value> {
    let mut rng = StdRng::seed_from_u64(o.seed);
    let mut t = T0 + 13_000;
    let mut out = Vec::with_capacity(o.n);
    for i in 0..o.n {
        t += rng.random_range(0..=o.step_ms);
        let mut ts = t;
        if rng.random_bool(o.disorder) {
            ts -= rng.random_range(0..=o.max_lag_ms);
        }
        let mut m = Map::new();
        m.insert("tid".into(), json!(i.to_string()));
        m.insert(
            "tno".into(),
            json!(format!("AwGi{}", 20210319131500u64 + i as u64)),
        );
        m.insert("tdate".into(), json!("2021-03-19"));
        m.insert(
            "uno".into(),
            json!(format!("U{}", 1000 + rng.random_range(0..7))),
        );
        if !(o.nulls && rng.random_bool(0.05)) {
            m.insert(
                "pno".into(),
                json!(format!("P{}", 1000 + rng.random_range(0..4))),
            );
        }
        let tnum: Value = if o.nulls && rng.random_bool(0.05) {
            Value::Null
        } else if o.floats && rng.random_bool(0.3) {
            json!(rng.random_range(-40..40) as f64 + [0.25, 0.5, 0.75][rng.random_range(0..3)])
        } else {
            json!(rng.random_range(-5..100))
        };
        if !(o.nulls && rng.random_bool(0.05)) {
            m.insert("tnum".into(), tnum);
        }
        let time = if o.epoch_ms && rng.random_bool(0.2) {
            json!(ts)
        } else {
            json!(rfc3339(ts - ts.rem_euclid(1000), false))
        };
        m.insert("tuptime".into(), time);
        if o.nulls && rng.random_bool(0.5) {
            m.insert("meta".into(), {
                let region = ["eu", "us"][rng.random_range(0..2)];
                json!({ "region": region })
            });
        }
        out.push(Value::Object(m));
    }
    out
}

pub fn to_lines(events: &[Value]) -> String {
    let mut s = String::new();
    for e in events {
        s.push_str(&serde_json::to_string(e).unwrap());
        s.push('\n');
    }
    s
}

/// Wraps events as `kds-tail --envelope` lines, arrival = the event time (to the ms);
/// every third record's data is its text (utf8), some others' its base64.
pub fn to_envelopes(events: &[Value], seed: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut s = String::new();
    for (i, e) in events.iter().enumerate() {
        let t = match &e["tuptime"] {
            Value::String(s) => parse_ts(s).unwrap(),
            v => v.as_i64().unwrap(),
        } + rng.random_range(0..1000);
        // kds-tail's three forms of `data`: the record itself, its text ("utf8", here a
        // record put with a trailing newline) and its base64.
        let text = serde_json::to_string(e).unwrap() + "\n";
        let (data, encoding) = match i % 3 {
            0 => (json!(text), Some("utf8")),
            1 if i % 2 == 1 => {
                use base64::Engine;
                let b64 = base64::engine::general_purpose::STANDARD.encode(&text);
                (json!(b64), Some("base64"))
            }
            _ => (e.clone(), None),
        };
        let mut env = json!({
            "shard_id": "shardId-000000000001",
            "sequence_number": (49_000_000 + i).to_string(),
            "partition_key": e["tno"],
            "arrival": rfc3339(t, true),
            "data": data,
        });
        if let Some(encoding) = encoding {
            env["encoding"] = json!(encoding);
        }
        s.push_str(&serde_json::to_string(&env).unwrap());
        s.push('\n');
    }
    s
}

/// The record of a `kds-tail --envelope` line, by the envelope rule (docs/ENVELOPE.md): `data`
/// itself without `encoding`, else the JSON in its utf8 text or base64 bytes.
fn envelope_record(v: &Value) -> Option<Value> {
    let data = v.get("data")?;
    let bytes = match v.get("encoding").map(|e| e.as_str()) {
        None => return Some(data.clone()),
        Some(Some("utf8")) => data.as_str()?.as_bytes().to_vec(),
        Some(Some("base64")) => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(data.as_str()?)
                .ok()?
        }
        Some(_) => return None,
    };
    serde_json::from_slice(&bytes).ok()
}

#[derive(Clone, Debug)]
pub enum RefTime {
    Event(String),
    Arrival,
}

#[derive(Clone, Debug)]
pub struct RefQuery {
    pub time: RefTime,
    pub size_ms: i64,
    /// (path, output name)
    pub group_by: Vec<(String, String)>,
    /// (function, path, output name); function one of count, sum, min, max, avg, count_distinct
    pub aggs: Vec<(String, Option<String>, String)>,
    pub lateness_ms: i64,
    pub late_emit: bool,
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for k in path.split('.') {
        cur = cur.as_object()?.get(k)?;
    }
    Some(cur)
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

/// The aggregate of a list of records, computed directly.
fn aggregate(func: &str, path: Option<&str>, recs: &[Value]) -> Value {
    let vals: Vec<&Value> = match path {
        Some(p) => recs.iter().filter_map(|r| present(lookup(r, p))).collect(),
        None => recs.iter().collect(),
    };
    match func {
        "count" => json!(vals.len()),
        "count_distinct" => {
            let set: BTreeSet<String> = vals
                .iter()
                .map(|v| serde_json::to_string(v).unwrap())
                .collect();
            json!(set.len())
        }
        "sum" | "avg" => {
            if vals.is_empty() {
                return Value::Null;
            }
            let all_int = vals.iter().all(|v| v.as_i64().is_some());
            let n = vals.len() as f64;
            if all_int {
                let s: i128 = vals.iter().map(|v| v.as_i64().unwrap() as i128).sum();
                if func == "sum" {
                    match i64::try_from(s) {
                        Ok(s) => json!(s),
                        Err(_) => json!(s as f64),
                    }
                } else {
                    json!(s as f64 / n)
                }
            } else {
                let s: f64 = vals.iter().map(|v| v.as_f64().unwrap()).sum();
                if func == "sum" {
                    json!(s)
                } else {
                    json!(s / n)
                }
            }
        }
        "min" | "max" => {
            let mut best: Option<&Value> = None;
            for v in vals {
                let x = v.as_f64().unwrap();
                let better = match best {
                    None => true,
                    Some(b) if func == "min" => x < b.as_f64().unwrap(),
                    Some(b) => x > b.as_f64().unwrap(),
                };
                if better {
                    best = Some(v);
                }
            }
            best.cloned().unwrap_or(Value::Null)
        }
        other => panic!("unknown aggregate {other}"),
    }
}

/// What the reference says about a run.
#[derive(Debug, Default)]
pub struct RefResult {
    pub rows: Vec<Value>,
    pub bad: u64,
    pub late: u64,
    pub records: u64,
}

fn row(q: &RefQuery, ws: i64, key: &[Value], recs: &[Value], late: bool) -> Value {
    let mut m = Map::new();
    m.insert("window_start".into(), json!(rfc3339(ws, true)));
    m.insert("window_end".into(), json!(rfc3339(ws + q.size_ms, true)));
    m.insert("ROWTIME".into(), json!(rfc3339(ws + q.size_ms, true)));
    for ((_, name), v) in q.group_by.iter().zip(key) {
        m.insert(name.clone(), v.clone());
    }
    for (func, path, name) in &q.aggs {
        m.insert(name.clone(), aggregate(func, path.as_deref(), recs));
    }
    if late {
        m.insert("late".into(), json!(true));
    }
    Value::Object(m)
}

type Windows = BTreeMap<i64, BTreeMap<String, (Vec<Value>, Vec<Value>)>>;

/// Runs the query over the lines in order, as the contract describes it.
pub fn reference(q: &RefQuery, input: &str) -> RefResult {
    let mut res = RefResult::default();
    let mut open: Windows = BTreeMap::new();
    let mut closed: Windows = BTreeMap::new();
    let mut max_t = i64::MIN;
    let mut closed_upto = i64::MIN;
    for line in input.lines() {
        if line.is_empty() {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            res.bad += 1;
            continue;
        };
        if !v.is_object() {
            res.bad += 1;
            continue;
        }
        let (rec, t) = match &q.time {
            RefTime::Arrival => {
                let Some(t) = v.get("arrival").and_then(Value::as_str).and_then(parse_ts) else {
                    res.bad += 1;
                    continue;
                };
                let Some(data) = envelope_record(&v).filter(Value::is_object) else {
                    res.bad += 1;
                    continue;
                };
                (data, t)
            }
            RefTime::Event(path) => {
                let t = match lookup(&v, path) {
                    Some(Value::String(s)) => parse_ts(s),
                    Some(n @ Value::Number(_)) => n.as_i64(),
                    _ => None,
                };
                let Some(t) = t else {
                    res.bad += 1;
                    continue;
                };
                (v.clone(), t)
            }
        };
        let numeric_ok = q.aggs.iter().all(|(f, p, _)| {
            !matches!(f.as_str(), "sum" | "min" | "max" | "avg")
                || match present(lookup(&rec, p.as_deref().unwrap())) {
                    None => true,
                    Some(v) => v.is_number(),
                }
        });
        if !numeric_ok {
            res.bad += 1;
            continue;
        }
        let key_vals: Vec<Value> = q
            .group_by
            .iter()
            .map(|(p, _)| lookup(&rec, p).cloned().unwrap_or(Value::Null))
            .collect();
        let key = key_vals
            .iter()
            .map(|v| serde_json::to_string(v).unwrap())
            .collect::<Vec<_>>()
            .join("\u{0}");
        let ws = t.div_euclid(q.size_ms) * q.size_ms;
        if ws + q.size_ms <= closed_upto {
            res.late += 1;
            if q.late_emit {
                let entry = closed
                    .entry(ws)
                    .or_default()
                    .entry(key)
                    .or_insert((key_vals.clone(), Vec::new()));
                entry.1.push(rec);
                res.rows.push(row(q, ws, &entry.0, &entry.1, true));
            }
            continue;
        }
        res.records += 1;
        open.entry(ws)
            .or_default()
            .entry(key)
            .or_insert((key_vals, Vec::new()))
            .1
            .push(rec);
        max_t = max_t.max(t);
        let wm = max_t - q.lateness_ms;
        closed_upto = closed_upto.max(wm.div_euclid(q.size_ms) * q.size_ms);
        let ready: Vec<i64> = open
            .keys()
            .copied()
            .filter(|s| s + q.size_ms <= wm)
            .collect();
        for s in ready {
            let groups = open.remove(&s).unwrap();
            for (kv, recs) in groups.values() {
                res.rows.push(row(q, s, kv, recs, false));
            }
            closed.insert(s, groups);
        }
    }
    for (s, groups) in open {
        for (kv, recs) in groups.values() {
            res.rows.push(row(q, s, kv, recs, false));
        }
    }
    res
}

/// Parses NDJSON output rows.
pub fn parse_rows(out: &[u8]) -> Vec<Value> {
    String::from_utf8(out.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("output line {l:?}: {e}")))
        .collect()
}

/// Trade lines in the exact shape of the lab generator (for CLI tests).
pub fn trade_line(i: u64, t: i64, tnum: i64) -> String {
    format!(
        "{{\"tid\":\"{i}\",\"tno\":\"AwGi20210319131549\",\"tdate\":\"2021-03-19\",\"uno\":\"U{}\",\"pno\":\"P{}\",\"tnum\":{tnum},\"tuptime\":\"{}\"}}",
        1000 + i % 7,
        1000 + i % 3,
        rfc3339(t - t.rem_euclid(1000), false)
    )
}

/// The tool's input reading `bytes` from a file (no poll: a regular file never waits).
pub fn input_of(bytes: &[u8]) -> kds_window::input::Input {
    use std::io::{Seek, Write};
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(bytes).unwrap();
    f.rewind().unwrap();
    kds_window::input::Input::from_fd(f)
}

/// The built `kds-window` binary.
pub fn window_bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_kds-window"))
}

/// Starts `kds-window args` with stdin, stdout and stderr piped.
pub fn spawn_window(args: &[&str]) -> std::process::Child {
    use std::process::Stdio;
    window_bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `kds-window args` with `input` on stdin (fed from a thread so a full stdout pipe cannot
/// deadlock the test) and returns its whole output.
pub fn run_window(args: &[&str], input: impl AsRef<[u8]>) -> std::process::Output {
    use std::io::Write;
    let mut child = spawn_window(args);
    let mut stdin = child.stdin.take().unwrap();
    let data = input.as_ref().to_vec();
    let writer = std::thread::spawn(move || {
        // The tool may exit before reading everything (usage errors): a broken pipe is expected.
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// An in-memory sink the engine can own while the test keeps a handle to read what it wrote.
#[derive(Clone, Default)]
pub struct SharedBuf(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    /// What was written, one JSON value per line.
    pub fn json_lines(&self) -> Vec<Value> {
        ndjson(&self.0.lock().unwrap())
    }
}

/// An RFC 3339 or SQL timestamp as epoch milliseconds.
pub fn ms(ts: &str) -> i64 {
    kds_common::time::parse_timestamp(ts.as_bytes()).unwrap()
}

/// A `kds-tail --envelope` line carrying a record of the KDA guide's demo stream.
pub fn demo_envelope(seq: usize, arrival: &str, ticker: &str) -> String {
    format!(
        r#"{{"shard_id":"shardId-000000000000","sequence_number":"{seq}","partition_key":"{ticker}","arrival":"{arrival}","data":{{"TICKER_SYMBOL":"{ticker}","SECTOR":"TECHNOLOGY","CHANGE":-1,"PRICE":50.5}}}}"#
    )
}

/// Feeds `batches` of lines through `prep` into `engine`, each batch read at its own ROWTIME,
/// then ends the input.
pub fn push_batches(
    prep: &mut impl kds_window::driver::BlockFilter,
    engine: &mut kds_window::engine::Engine,
    batches: &[(i64, Vec<String>)],
) {
    let mut first_line = 1;
    for (now, lines) in batches {
        let block = lines.join("\n") + "\n";
        let prepared = prep.apply(block.as_bytes(), first_line);
        first_line += engine.push_block(prepared, first_line, *now).unwrap();
    }
    engine.finish(false).unwrap();
    engine.flush().unwrap();
}

/// The JSON rows a successful run wrote (the run's stderr in the failure message).
pub fn json_rows(out: &std::process::Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ndjson(&out.stdout)
}

/// NDJSON text (an output or an error stream file), one JSON value per line.
pub fn ndjson(bytes: &[u8]) -> Vec<Value> {
    std::str::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs `--sql` on the SQL text (written to a file) with an optional `--schema` text.
pub fn run_sql(sql: &str, schema: Option<&str>, input: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let sql_path = dir.path().join("app.sql");
    std::fs::write(&sql_path, sql).unwrap();
    let schema_path = dir.path().join("schema.json");
    let mut args = vec!["--sql".to_string(), sql_path.display().to_string()];
    if let Some(s) = schema {
        std::fs::write(&schema_path, s).unwrap();
        args.extend(["--schema".to_string(), schema_path.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_window(&args, input)
}
