//! Rows in, series out: parsing one NDJSON line into points, and the per-series store with the
//! figures the header shows (current value, min, max, rate).

use std::collections::HashMap;
use std::collections::VecDeque;

use kds_common::json::lookup_path;
use serde_json::Value;

/// What the x axis measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XKind {
    /// Epoch milliseconds: an RFC 3339 string field, or the time the row was read.
    TimeMs,
    /// A plain JSON number, drawn as it is.
    Number,
}

/// Which fields make a point, validated from the flags.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields {
    /// Field of the x value; `None`: the time the row was read.
    pub x: Option<String>,
    /// Numeric fields, one chart panel each.
    pub y: Vec<String>,
    /// Field whose value splits each panel into one series per group.
    pub group_by: Option<String>,
}

/// One good row: its x, its group label, and one value per y field (`None` for JSON null,
/// which kds-window writes for an empty window's aggregates: a gap, not an error).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub x: f64,
    pub x_kind: XKind,
    pub group: String,
    pub ys: Vec<Option<f64>>,
}

/// Parses one line. `read_ms` is the x value when no x field is named. The error names the
/// field, for the one-line message on stderr.
pub fn parse_row(line: &[u8], fields: &Fields, read_ms: i64) -> Result<Row, String> {
    let value: Value = serde_json::from_slice(line).map_err(|e| format!("not valid JSON: {e}"))?;
    if !value.is_object() {
        return Err("not a JSON object".into());
    }
    let (x, x_kind) = match &fields.x {
        None => (read_ms as f64, XKind::TimeMs),
        Some(path) => parse_x(lookup_path(&value, path), path)?,
    };
    let group = match &fields.group_by {
        None => String::new(),
        Some(path) => match lookup_path(&value, path) {
            None => return Err(format!("no field {path:?}")),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        },
    };
    let ys = fields
        .y
        .iter()
        .map(|path| match lookup_path(&value, path) {
            None => Err(format!("no field {path:?}")),
            Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| format!("field {path:?} is not a number: {v}")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Row {
        x,
        x_kind,
        group,
        ys,
    })
}

fn parse_x(value: Option<&Value>, path: &str) -> Result<(f64, XKind), String> {
    match value {
        None => Err(format!("no field {path:?}")),
        Some(Value::String(s)) => kds_common::time::parse_timestamp(s.as_bytes())
            .map(|ms| (ms as f64, XKind::TimeMs))
            .ok_or_else(|| format!("field {path:?} is not an RFC 3339 time: {s:?}")),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(|x| (x, XKind::Number))
            .ok_or_else(|| format!("field {path:?} is not a number: {n}")),
        Some(other) => Err(format!(
            "field {path:?} is neither a time nor a number: {other}"
        )),
    }
}

/// Figures of one series over every point it was given (not only the ones kept for drawing).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stats {
    pub count: u64,
    pub last: f64,
    pub min: f64,
    pub max: f64,
    /// Last value per second of x step (x is a time): a per-minute count becomes events/s.
    pub rate: Option<f64>,
    last_x: Option<f64>,
}

impl Stats {
    fn add(&mut self, x: f64, y: f64, x_kind: XKind) {
        if self.count == 0 {
            self.min = y;
            self.max = y;
        }
        self.min = self.min.min(y);
        self.max = self.max.max(y);
        self.rate = match (self.last_x, x_kind) {
            (Some(prev), XKind::TimeMs) if x > prev => Some(y / ((x - prev) / 1000.0)),
            _ => self.rate,
        };
        self.last = y;
        self.last_x = Some(x);
        self.count += 1;
    }
}

/// One line of a panel: the points kept for drawing and the stats over all of them.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub points: VecDeque<(f64, f64)>,
    pub stats: Stats,
}

/// Every series: `panels[y field][group index]`, groups in the order first seen.
#[derive(Debug, Clone)]
pub struct Store {
    pub y_names: Vec<String>,
    pub groups: Vec<String>,
    pub panels: Vec<Vec<Series>>,
    pub x_kind: Option<XKind>,
    /// Rows of groups beyond `max_groups`: passed through, not drawn.
    pub rows_of_other_groups: u64,
    pub rows: u64,
    group_index: HashMap<String, usize>,
    max_groups: usize,
    /// Points kept per series; older ones are dropped (the live view's width). `None`: all.
    keep: Option<usize>,
}

impl Store {
    pub fn new(y_names: Vec<String>, max_groups: usize, keep: Option<usize>) -> Store {
        let panels = vec![Vec::new(); y_names.len()];
        Store {
            y_names,
            groups: Vec::new(),
            panels,
            x_kind: None,
            rows_of_other_groups: 0,
            rows: 0,
            group_index: HashMap::new(),
            max_groups,
            keep,
        }
    }

    /// Adds a row. A row whose x kind differs from the first row's is refused (one axis).
    pub fn add(&mut self, row: Row) -> Result<(), String> {
        match self.x_kind {
            None => self.x_kind = Some(row.x_kind),
            Some(kind) if kind != row.x_kind => {
                return Err(format!(
                    "x is {} but earlier rows had {}",
                    kind_name(row.x_kind),
                    kind_name(kind)
                ))
            }
            Some(_) => {}
        }
        self.rows += 1;
        let Some(group) = self.group_slot(row.group) else {
            self.rows_of_other_groups += 1;
            return Ok(());
        };
        for (panel, y) in self.panels.iter_mut().zip(row.ys) {
            let Some(y) = y else { continue };
            let series = &mut panel[group];
            series.stats.add(row.x, y, row.x_kind);
            series.points.push_back((row.x, y));
            if self.keep.is_some_and(|keep| series.points.len() > keep) {
                series.points.pop_front();
            }
        }
        Ok(())
    }

    fn group_slot(&mut self, group: String) -> Option<usize> {
        if let Some(&i) = self.group_index.get(&group) {
            return Some(i);
        }
        if self.groups.len() >= self.max_groups {
            return None;
        }
        let i = self.groups.len();
        self.group_index.insert(group.clone(), i);
        self.groups.push(group);
        for panel in &mut self.panels {
            panel.push(Series::default());
        }
        Some(i)
    }

    /// Smallest and largest x and y of the kept points of one panel.
    pub fn bounds(&self, panel: usize) -> Option<((f64, f64), (f64, f64))> {
        let mut points = self.panels[panel].iter().flat_map(|s| s.points.iter());
        let &(x0, y0) = points.next()?;
        Some(
            points.fold(((x0, x0), (y0, y0)), |((xl, xh), (yl, yh)), &(x, y)| {
                ((xl.min(x), xh.max(x)), (yl.min(y), yh.max(y)))
            }),
        )
    }
}

fn kind_name(kind: XKind) -> &'static str {
    match kind {
        XKind::TimeMs => "a time",
        XKind::Number => "a number",
    }
}

/// Widens a degenerate range (one point, or a flat line) so an axis can be drawn.
pub fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        (lo, hi)
    } else {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.05 };
        (lo - pad, hi + pad)
    }
}

/// An x value as an axis label: `HH:MM:SS` (UTC) for times, the number otherwise.
pub fn x_label(x: f64, kind: XKind) -> String {
    match kind {
        XKind::TimeMs => {
            let text = kds_common::time::rfc3339_ms(x as i64);
            text.get(11..19).unwrap_or(&text).to_string()
        }
        XKind::Number => number(x),
    }
}

/// A number short enough for a header or an axis: integers as integers, else 2 decimals.
pub fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(x: Option<&str>, y: &[&str], group: Option<&str>) -> Fields {
        Fields {
            x: x.map(str::to_string),
            y: y.iter().map(|s| s.to_string()).collect(),
            group_by: group.map(str::to_string),
        }
    }

    #[test]
    fn parses_a_kds_window_row() {
        let line = br#"{"window_start":"2021-03-19T13:15:00.000Z","window_end":"2021-03-19T13:16:00.000Z","count_tno":598,"sum_tnum":30112}"#;
        let row = parse_row(
            line,
            &fields(Some("window_end"), &["count_tno", "sum_tnum"], None),
            0,
        )
        .expect("good row");
        assert_eq!(row.x, 1_616_159_760_000.0);
        assert_eq!(row.x_kind, XKind::TimeMs);
        assert_eq!(row.ys, vec![Some(598.0), Some(30112.0)]);
    }

    #[test]
    fn errors_name_the_field() {
        let f = fields(Some("t"), &["n"], Some("g"));
        let err = |line: &[u8]| parse_row(line, &f, 0).expect_err("bad row");
        assert!(err(br#"{"t":1,"g":"a"}"#).contains("\"n\""));
        assert!(err(br#"{"t":1,"n":"x","g":"a"}"#).contains("not a number"));
        assert!(err(br#"{"t":"noon","n":1,"g":"a"}"#).contains("RFC 3339"));
        assert!(err(br#"{"t":1,"n":1}"#).contains("\"g\""));
        assert!(err(b"[1]").contains("object"));
        assert!(err(b"{\"t\":").contains("JSON"));
    }

    #[test]
    fn null_is_a_gap_and_read_time_is_the_default_x() {
        let row = parse_row(br#"{"n":null}"#, &fields(None, &["n"], None), 42).expect("row");
        assert_eq!(
            (row.x, row.x_kind, row.ys),
            (42.0, XKind::TimeMs, vec![None])
        );
    }

    #[test]
    fn store_keeps_stats_over_all_points_and_caps_groups() {
        let mut store = Store::new(vec!["n".into()], 2, Some(2));
        for (x, g, n) in [
            (0.0, "a", 5.0),
            (60e3, "a", 9.0),
            (120e3, "a", 3.0),
            (0.0, "b", 1.0),
            (0.0, "c", 7.0),
        ] {
            let row = Row {
                x,
                x_kind: XKind::TimeMs,
                group: g.into(),
                ys: vec![Some(n)],
            };
            store.add(row).expect("same x kind");
        }
        let a = &store.panels[0][0];
        assert_eq!(
            a.points.iter().copied().collect::<Vec<_>>(),
            vec![(60e3, 9.0), (120e3, 3.0)]
        );
        assert_eq!(
            (a.stats.min, a.stats.max, a.stats.last, a.stats.count),
            (3.0, 9.0, 3.0, 3)
        );
        assert_eq!(a.stats.rate, Some(3.0 / 60.0));
        assert_eq!(store.groups, vec!["a", "b"]);
        assert_eq!(store.rows_of_other_groups, 1);
        let number_row = Row {
            x: 1.0,
            x_kind: XKind::Number,
            group: "a".into(),
            ys: vec![Some(1.0)],
        };
        assert!(store.add(number_row).is_err());
    }
}
