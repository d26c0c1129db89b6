//! Shared by the integration tests: an independent checker of the event schema (gen/README.md).
#![allow(dead_code, clippy::unwrap_used)] // test helpers

use regex_lite::Regex;
use serde_json::Value;

/// A valid event, as read back from a line.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub tid: String,
    pub tno: String,
    pub tdate: String,
    pub uno: String,
    pub pno: String,
    pub tnum: u64,
    pub tuptime: String,
    /// tuptime in epoch seconds.
    pub tuptime_s: i64,
}

pub struct Schema {
    tno: Regex,
    tdate: Regex,
    uno: Regex,
    pno: Regex,
    tuptime: Regex,
    tid: Regex,
}

impl Schema {
    pub fn new() -> Schema {
        Schema {
            tid: Regex::new(r"^[0-9]+$").unwrap(),
            tno: Regex::new(r"^[A-Za-z]{4}[0-9]{14}$").unwrap(),
            tdate: Regex::new(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$").unwrap(),
            uno: Regex::new(r"^U[0-9]{4}$").unwrap(),
            pno: Regex::new(r"^P[0-9]{4}$").unwrap(),
            tuptime: Regex::new(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")
                .unwrap(),
        }
    }

    /// Checks one NDJSON line (without `\n`) against the schema.
    pub fn check_json(&self, line: &str) -> Result<Event, String> {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let obj = v.as_object().ok_or("not an object")?;
        if obj.len() != 7 {
            return Err(format!("{} keys", obj.len()));
        }
        let s = |k: &str| -> Result<String, String> {
            obj.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or(format!("{k} is not a string"))
        };
        let tnum = obj
            .get("tnum")
            .and_then(Value::as_u64)
            .ok_or("tnum is not an unsigned integer")?;
        let e = self.check_fields(
            s("tid")?,
            s("tno")?,
            s("tdate")?,
            s("uno")?,
            s("pno")?,
            tnum,
            s("tuptime")?,
        )?;
        // Keys in schema order, compact: the line is exactly this rendering of its fields.
        let canonical = format!(
            r#"{{"tid":"{}","tno":"{}","tdate":"{}","uno":"{}","pno":"{}","tnum":{},"tuptime":"{}"}}"#,
            e.tid, e.tno, e.tdate, e.uno, e.pno, e.tnum, e.tuptime
        );
        if canonical != line {
            return Err("keys out of order or extra bytes".into());
        }
        Ok(e)
    }

    /// Checks one CSV row (without `\n`).
    pub fn check_csv(&self, row: &str) -> Result<Event, String> {
        let cols: Vec<&str> = row.split(',').collect();
        if cols.len() != 7 {
            return Err(format!("{} columns", cols.len()));
        }
        let tnum: u64 = cols[5].parse().map_err(|_| "tnum is not an integer")?;
        self.check_fields(
            cols[0].into(),
            cols[1].into(),
            cols[2].into(),
            cols[3].into(),
            cols[4].into(),
            tnum,
            cols[6].into(),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn check_fields(
        &self,
        tid: String,
        tno: String,
        tdate: String,
        uno: String,
        pno: String,
        tnum: u64,
        tuptime: String,
    ) -> Result<Event, String> {
        for (name, re, v) in [
            ("tid", &self.tid, &tid),
            ("tno", &self.tno, &tno),
            ("tdate", &self.tdate, &tdate),
            ("uno", &self.uno, &uno),
            ("pno", &self.pno, &pno),
            ("tuptime", &self.tuptime, &tuptime),
        ] {
            if !re.is_match(v) {
                return Err(format!("{name} {v:?} does not match {}", re.as_str()));
            }
        }
        if !(1..=100).contains(&tnum) {
            return Err(format!("tnum {tnum} out of 1..=100"));
        }
        let ms = kds_common::time::parse_timestamp(tuptime.as_bytes()).ok_or("tuptime invalid")?;
        // tno ends with the event time as yyyyMMddHHmmss: the digits of tuptime.
        let digits: String = tuptime.chars().filter(char::is_ascii_digit).collect();
        if tno[4..] != digits {
            return Err(format!("tno {tno} does not carry tuptime {tuptime}"));
        }
        if kds_common::time::parse_timestamp(format!("{tdate}T00:00:00Z").as_bytes()).is_none() {
            return Err(format!("tdate {tdate} is not a date"));
        }
        Ok(Event {
            tid,
            tno,
            tdate,
            uno,
            pno,
            tnum,
            tuptime,
            tuptime_s: ms.div_euclid(1000),
        })
    }
}

/// Epoch seconds of an RFC 3339 time.
pub fn epoch_s(t: &str) -> i64 {
    kds_common::time::parse_timestamp(t.as_bytes()).unwrap() / 1000
}

/// True when `count` is within `sigmas` standard deviations of a binomial(n, p).
pub fn within(count: usize, n: usize, p: f64, sigmas: f64) -> bool {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    (count as f64 - mean).abs() <= sigmas * sd.max(1.0)
}
