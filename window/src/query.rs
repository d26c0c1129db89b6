//! The query: what to aggregate, over which windows. Flags (and later the SQL front end) build a
//! [`Query`]; the engine only ever sees this struct.

use std::fmt;

/// A dotted JSON path (`tnum`, `a.b.c`), split into its keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path(pub Vec<String>);

impl Path {
    /// Parses `a.b.c`; empty keys (`a..b`, `.a`) are refused.
    pub fn parse(text: &str) -> Result<Path, String> {
        let keys: Vec<String> = text.split('.').map(str::to_string).collect();
        if text.is_empty() || keys.iter().any(String::is_empty) {
            return Err(format!("invalid field path '{text}'"));
        }
        Ok(Path(keys))
    }

    /// True for a path of one key: the fast scanner can read it.
    pub fn is_top_level(&self) -> bool {
        self.0.len() == 1
    }

    /// The last key, used to name output columns (`a.b.c` → `c`).
    pub fn leaf(&self) -> &str {
        self.0.last().map(String::as_str).unwrap_or_default()
    }

    /// Follows the path through JSON objects.
    pub fn lookup<'v>(&self, value: &'v serde_json::Value) -> Option<&'v serde_json::Value> {
        self.0.iter().try_fold(value, |v, key| v.get(key))
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// Where a record's time comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeBasis {
    /// The moment the line is read (KDA's ROWTIME, processing time). Windows close on the clock.
    Rowtime,
    /// `arrival` of a `kds-tail --envelope` line; fields are read inside its `data`.
    Arrival,
    /// A field of the record: RFC 3339 string or integer epoch milliseconds.
    Event(Path),
}

impl TimeBasis {
    /// Event and arrival time close windows by watermark; rowtime by the clock.
    pub fn uses_watermark(&self) -> bool {
        !matches!(self, TimeBasis::Rowtime)
    }
}

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFunc {
    /// `count(*)` (no path) or `count(path)` (non-null values of path).
    Count,
    Sum,
    Min,
    Max,
    Avg,
    /// `COUNT(DISTINCT path)`, exact; NULL is not counted.
    CountDistinct,
}

impl AggFunc {
    pub fn name(self) -> &'static str {
        match self {
            AggFunc::Count => "count",
            AggFunc::Sum => "sum",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
            AggFunc::Avg => "avg",
            AggFunc::CountDistinct => "count_distinct",
        }
    }

    /// True when the function needs numbers (a string value is a bad line).
    pub fn numeric(self) -> bool {
        matches!(
            self,
            AggFunc::Sum | AggFunc::Min | AggFunc::Max | AggFunc::Avg
        )
    }
}

/// One aggregate of the select list: function, input path, output name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    pub func: AggFunc,
    /// `None` only for `count(*)`.
    pub path: Option<Path>,
    pub name: String,
}

/// A group-by key and its output name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupBy {
    pub path: Path,
    pub name: String,
}

/// One output column, in output order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    WindowStart(String),
    WindowEnd(String),
    /// KDA's ROWTIME of an output row: the window end.
    Rowtime(String),
    /// Index into [`Query::group_by`].
    Group(usize),
    /// Index into [`Query::aggregates`].
    Agg(usize),
}

/// A tumbling-window aggregation query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub time: TimeBasis,
    /// Window size in milliseconds (> 0). Windows are aligned to the Unix epoch, as
    /// `FLOOR((ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / N TO SECOND)`.
    pub size_ms: i64,
    pub group_by: Vec<GroupBy>,
    pub aggregates: Vec<Aggregate>,
    /// Output columns in order. [`Query::default_columns`] gives
    /// `window_start, window_end, ROWTIME, <group-by…>, <aggregates…>`.
    pub columns: Vec<Column>,
}

impl Query {
    /// The lab's KDA application: 60 s on ROWTIME, `count(*) AS count_tno`, `sum(tnum) AS sum_tnum`.
    pub fn lab() -> Query {
        let mut q = Query {
            time: TimeBasis::Rowtime,
            size_ms: 60_000,
            group_by: Vec::new(),
            aggregates: vec![
                Aggregate {
                    func: AggFunc::Count,
                    path: None,
                    name: "count_tno".into(),
                },
                Aggregate {
                    func: AggFunc::Sum,
                    path: Some(Path(vec!["tnum".into()])),
                    name: "sum_tnum".into(),
                },
            ],
            columns: Vec::new(),
        };
        q.columns = q.default_columns();
        q
    }

    /// `window_start, window_end, ROWTIME, <group-by…>, <aggregates…>`.
    pub fn default_columns(&self) -> Vec<Column> {
        let mut cols = vec![
            Column::WindowStart("window_start".into()),
            Column::WindowEnd("window_end".into()),
            Column::Rowtime("ROWTIME".into()),
        ];
        cols.extend((0..self.group_by.len()).map(Column::Group));
        cols.extend((0..self.aggregates.len()).map(Column::Agg));
        cols
    }

    /// The name of an output column.
    pub fn column_name<'q>(&'q self, col: &'q Column) -> &'q str {
        match col {
            Column::WindowStart(n) | Column::WindowEnd(n) | Column::Rowtime(n) => n,
            Column::Group(i) => &self.group_by[*i].name,
            Column::Agg(i) => &self.aggregates[*i].name,
        }
    }

    /// Checks sizes, indexes and name clashes.
    pub fn validate(&self) -> Result<(), String> {
        if self.size_ms <= 0 {
            return Err("--size must be at least 1ms".into());
        }
        if self.aggregates.is_empty() {
            return Err("at least one aggregate is needed".into());
        }
        let mut names = std::collections::HashSet::new();
        for col in &self.columns {
            match col {
                Column::Group(i) if *i >= self.group_by.len() => {
                    return Err(format!(
                        "column refers to group-by #{i}, which does not exist"
                    ))
                }
                Column::Agg(i) if *i >= self.aggregates.len() => {
                    return Err(format!(
                        "column refers to aggregate #{i}, which does not exist"
                    ))
                }
                _ => {}
            }
            let name = self.column_name(col);
            if !names.insert(name.to_string()) {
                return Err(format!("output column name '{name}' is used twice"));
            }
        }
        for a in &self.aggregates {
            if a.path.is_none() && a.func != AggFunc::Count {
                return Err(format!(
                    "{} needs a field: {}:FIELD",
                    a.func.name(),
                    a.func.name()
                ));
            }
        }
        Ok(())
    }

    /// Every distinct field path the query reads (group-by and aggregate inputs, and the event
    /// time field), in a fixed order: the engine's value slots.
    pub fn input_paths(&self) -> Vec<Path> {
        let mut paths: Vec<Path> = Vec::new();
        let mut add = |p: &Path| {
            if !paths.contains(p) {
                paths.push(p.clone());
            }
        };
        if let TimeBasis::Event(p) = &self.time {
            add(p);
        }
        for g in &self.group_by {
            add(&g.path);
        }
        for a in &self.aggregates {
            if let Some(p) = &a.path {
                add(p);
            }
        }
        paths
    }
}

/// Parses one `--agg` item: `count`, `count:P`, `sum:P`, `min:P`, `max:P`, `avg:P`,
/// `count_distinct:P`, each with an optional `=NAME`. Default names: `count`, `count_P`,
/// `sum_P`, `min_P`, `max_P`, `avg_P`, `count_distinct_P` (P's dots become `_`).
pub fn parse_agg(text: &str) -> Result<Aggregate, String> {
    let (spec, name) = match text.split_once('=') {
        Some((s, n)) if !n.is_empty() => (s, Some(n.to_string())),
        Some(_) => return Err(format!("invalid aggregate '{text}': empty name after '='")),
        None => (text, None),
    };
    let (func_name, path) = match spec.split_once(':') {
        Some((f, p)) => (
            f,
            Some(Path::parse(p).map_err(|e| format!("invalid aggregate '{text}': {e}"))?),
        ),
        None => (spec, None),
    };
    let func = match func_name.to_ascii_lowercase().as_str() {
        "count" => AggFunc::Count,
        "sum" => AggFunc::Sum,
        "min" => AggFunc::Min,
        "max" => AggFunc::Max,
        "avg" => AggFunc::Avg,
        "count_distinct" => AggFunc::CountDistinct,
        other => {
            return Err(format!(
                "invalid aggregate '{text}': unknown function '{other}' (use count, sum, min, max, avg, count_distinct)"
            ))
        }
    };
    if path.is_none() && func != AggFunc::Count {
        return Err(format!(
            "invalid aggregate '{text}': {func_name} needs a field, e.g. {func_name}:tnum"
        ));
    }
    let name = name.unwrap_or_else(|| match &path {
        None => "count".to_string(),
        Some(p) => format!("{}_{}", func.name(), p.0.join("_")),
    });
    Ok(Aggregate { func, path, name })
}

/// Parses a `--group-by` item: `PATH` or `PATH=NAME` (default name: the path with `.` → `_`).
pub fn parse_group_by(text: &str) -> Result<GroupBy, String> {
    let (p, name) = match text.split_once('=') {
        Some((p, n)) if !n.is_empty() => (p, Some(n.to_string())),
        Some(_) => return Err(format!("invalid group-by '{text}': empty name after '='")),
        None => (text, None),
    };
    let path = Path::parse(p)?;
    let name = name.unwrap_or_else(|| path.0.join("_"));
    Ok(GroupBy { path, name })
}

/// Parses `--time rowtime|arrival|event:FIELD` (`event` alone means `event:tuptime`).
pub fn parse_time_basis(text: &str) -> Result<TimeBasis, String> {
    match text {
        "rowtime" => Ok(TimeBasis::Rowtime),
        "arrival" => Ok(TimeBasis::Arrival),
        "event" => Ok(TimeBasis::Event(Path(vec!["tuptime".into()]))),
        _ => match text.strip_prefix("event:") {
            Some(p) => Ok(TimeBasis::Event(Path::parse(p)?)),
            None => Err(format!(
                "invalid time basis '{text}' (use rowtime, arrival or event:FIELD)"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agg_specs_and_default_names() {
        let a = parse_agg("count").unwrap();
        assert_eq!(
            (a.func, a.path, a.name.as_str()),
            (AggFunc::Count, None, "count")
        );
        let a = parse_agg("sum:tnum").unwrap();
        assert_eq!(a.name, "sum_tnum");
        let a = parse_agg("avg:a.b=mean").unwrap();
        assert_eq!((a.func, a.name.as_str()), (AggFunc::Avg, "mean"));
        assert_eq!(a.path.unwrap().0, vec!["a", "b"]);
        assert_eq!(
            parse_agg("count_distinct:uno").unwrap().name,
            "count_distinct_uno"
        );
        assert_eq!(parse_agg("min:x.y").unwrap().name, "min_x_y");
        for bad in ["sum", "median:x", "sum:", "sum:a..b", "count=", ""] {
            assert!(parse_agg(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_bases() {
        assert_eq!(parse_time_basis("rowtime"), Ok(TimeBasis::Rowtime));
        assert_eq!(
            parse_time_basis("event:a.ts"),
            Ok(TimeBasis::Event(Path(vec!["a".into(), "ts".into()])))
        );
        assert!(parse_time_basis("proc").is_err());
        assert!(parse_time_basis("event:").is_err());
    }

    #[test]
    fn lab_query_is_valid_and_reads_tnum_only() {
        let q = Query::lab();
        q.validate().unwrap();
        assert_eq!(q.input_paths(), vec![Path(vec!["tnum".into()])]);
    }

    #[test]
    fn duplicate_names_are_refused() {
        let mut q = Query::lab();
        q.aggregates[1].name = "count_tno".into();
        assert!(q.validate().unwrap_err().contains("count_tno"));
    }
}
