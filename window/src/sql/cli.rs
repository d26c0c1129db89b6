//! `--sql`, `--discover`, `--schema`, `--explain-flink`: from flags to a running engine.
//!
//! The SQL is parsed, bound and checked before any input is read; every problem there is a usage
//! error (exit 2) naming the line and column. The plan becomes an ordinary [`Query`] run by
//! [`crate::run_query`] (the flags' input path); a WHERE clause runs in [`WhereFilter`], in
//! front of the engine, on each parsed record.

use std::io::Write;
use std::path::{Path as FsPath, PathBuf};
use std::time::Duration;

use anyhow::Context;
use kds_common::exit::{usage, Exit};
use kds_common::io::{LineReader, Output};

use super::bind::{BoundAggregate, BoundQuery, BoundTime};
use super::eval::{eval_filter, BoundExpr};
use super::flink::FlinkOptions;
use super::rows::{function_error, time_group_key, ErrorStream, RowPrep};
use super::schema::{parse_schema_json, Discovery, Schema};
use super::{parse_app, parse_sql, AggFunc as SqlAgg, Application, SqlPlan};
use crate::driver::BlockFilter;
use crate::engine::Config;
use crate::query::{AggFunc, Aggregate, Column, GroupBy, Path, Query, TimeBasis};

/// The SQL front end's flags (flattened into `kds-window`'s arguments).
#[derive(Debug, Clone, clap::Args)]
pub struct SqlArgs {
    /// Run a Kinesis Data Analytics SQL application: a file, or the SQL text itself
    /// (CREATE STREAM ...; CREATE PUMP ... AS INSERT INTO ... SELECT STREAM ...). Sets the
    /// windows, grouping and aggregates; see SQL.md for the supported subset.
    #[arg(long, value_name = "FILE|TEXT", env = "KDS_WINDOW_SQL")]
    pub sql: Option<String>,

    /// Print the schema of the first input lines (KDA's "Discover schema": column names, SQL
    /// types, JSON paths) as JSON that --schema reads, and exit.
    #[arg(long)]
    pub discover: bool,

    /// --discover with kds-window's wider types instead of KDA's: INTEGER/BIGINT rather than
    /// the narrowest integer type, DOUBLE rather than REAL, RFC 3339 strings as TIMESTAMP.
    #[arg(long, requires = "discover")]
    pub wide_types: bool,

    /// Lines --discover reads.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 100)]
    pub discover_lines: usize,

    /// Input schema for --sql, as --discover prints it (KDA RecordColumns JSON). Column
    /// references resolve through it and the SQL is type-checked against it.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,

    /// Print the Apache Flink SQL equivalent of --sql (for Amazon Managed Service for Apache
    /// Flink) and exit.
    #[arg(long, requires = "sql")]
    pub explain_flink: bool,

    /// The Kinesis stream the --explain-flink source table reads.
    #[arg(
        long,
        value_name = "ARN",
        default_value = "arn:aws:kinesis:us-east-1:123456789012:stream/kds-lab1"
    )]
    pub flink_stream_arn: String,

    /// The Kinesis stream the --explain-flink destination table writes (Kinesis connector
    /// options instead of 'print').
    #[arg(long, value_name = "ARN", requires = "explain_flink")]
    pub flink_sink_arn: Option<String>,

    /// Append KDA's in-application error stream to FILE: one NDJSON row (ERROR_TIME,
    /// ERROR_LEVEL, ERROR_NAME, MESSAGE, DATA_ROWTIME, DATA_ROW, PUMP_NAME) per record that
    /// cannot be converted to the --schema types. Without it the first few are reported on
    /// stderr and all are counted.
    #[arg(long, value_name = "FILE", requires = "sql")]
    pub errors: Option<PathBuf>,

    /// A reference table the SQL joins (KDA's reference data source): NAME=FILE, CSV with a
    /// header line or JSON (array or lines of objects), by extension or a ,csv / ,json suffix.
    #[arg(long, value_name = "NAME=FILE[,FORMAT]", requires = "sql")]
    pub reference_data: Vec<String>,
}

impl SqlArgs {
    /// True when any SQL front-end flag is given.
    pub fn active(&self) -> bool {
        self.sql.is_some() || self.discover || self.explain_flink || self.schema.is_some()
    }
}

/// `--sql FILE|TEXT`: an existing file is read, anything else is the SQL itself. Returns the
/// text and, for a file, its name (for error messages).
pub fn load_sql(arg: &str) -> anyhow::Result<(String, Option<String>)> {
    let p = FsPath::new(arg);
    if !arg.contains('\n') && p.is_file() {
        let text = std::fs::read_to_string(p).map_err(|e| usage(format!("--sql {arg}: {e}")))?;
        return Ok((text, Some(arg.to_string())));
    }
    if !arg.contains(char::is_whitespace) && !arg.contains(';') {
        return Err(usage(format!(
            "--sql {arg}: no such file (and not SQL text)"
        )));
    }
    Ok((arg.to_string(), None))
}

/// `--schema FILE`.
pub fn load_schema(path: &FsPath) -> anyhow::Result<Schema> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("--schema {}: {e}", path.display())))?;
    parse_schema_json(&text).map_err(|e| usage(format!("--schema {}: {e}", path.display())))
}

/// Parses the `--sql` argument; errors are usage errors `--sql [FILE: ]line L, column C: ...`.
pub fn load_plan(arg: &str) -> anyhow::Result<SqlPlan> {
    match load_app(arg)? {
        Application::Windowed(plan) => Ok(plan),
        Application::PerRow(_) => {
            let (text, file) = load_sql(arg)?;
            parse_sql(&text).map_err(|e| sql_usage(file.as_deref(), e))
        }
    }
}

/// [`load_plan`] for any application, per-row pumps included.
pub fn load_app(arg: &str) -> anyhow::Result<Application> {
    let (text, file) = load_sql(arg)?;
    parse_app(&text).map_err(|e| sql_usage(file.as_deref(), e))
}

fn sql_usage(file: Option<&str>, e: super::SqlError) -> anyhow::Error {
    match file {
        Some(f) => usage(format!("--sql {f}: {e}")),
        None => usage(format!("--sql: {e}")),
    }
}

/// The engine query for a bound plan: output columns `window_start, window_end, ROWTIME`, then
/// the destination stream's columns in declaration order.
pub fn to_query(b: &BoundQuery) -> Result<Query, String> {
    let time = match &b.time {
        BoundTime::Rowtime => TimeBasis::Rowtime,
        BoundTime::Event(c) => TimeBasis::Event(Path(c.path.clone())),
    };
    let size_ms = i64::try_from(b.size.as_millis()).map_err(|_| "window too large".to_string())?;
    let mut group_by: Vec<GroupBy> = b
        .group_by
        .iter()
        .map(|c| GroupBy {
            path: Path(c.path.clone()),
            name: c.name.clone(),
        })
        .collect();
    let plain_groups = group_by.len();
    group_by.extend((0..b.time_groups.len()).map(|i| GroupBy {
        path: Path(vec![time_group_key(i)]),
        name: time_group_key(i),
    }));
    let mut aggregates = Vec::new();
    let mut columns = vec![
        Column::WindowStart("window_start".into()),
        Column::WindowEnd("window_end".into()),
        Column::Rowtime("ROWTIME".into()),
    ];
    let mut named_groups = vec![false; group_by.len()];
    for out in &b.outputs {
        match out {
            BoundAggregate::Aggregate {
                output,
                func,
                column,
            } => {
                let func = match func {
                    SqlAgg::CountStar | SqlAgg::Count => AggFunc::Count,
                    SqlAgg::CountDistinct => AggFunc::CountDistinct,
                    SqlAgg::Sum => AggFunc::Sum,
                    SqlAgg::Min => AggFunc::Min,
                    SqlAgg::Max => AggFunc::Max,
                    SqlAgg::Avg => AggFunc::Avg,
                };
                aggregates.push(Aggregate {
                    func,
                    path: column.as_ref().map(|c| Path(c.path.clone())),
                    name: output.clone(),
                });
                columns.push(Column::Agg(aggregates.len() - 1));
            }
            BoundAggregate::Group { output, index } => {
                name_group(&mut group_by, &mut named_groups, *index, output)?;
                columns.push(Column::Group(*index));
            }
            BoundAggregate::TimeGroup { output, index } => {
                let index = plain_groups + index;
                name_group(&mut group_by, &mut named_groups, index, output)?;
                columns.push(Column::Group(index));
            }
            BoundAggregate::WindowStart { output } => {
                // A declared column that is the window start replaces the generic one.
                if output == "window_start" {
                    continue;
                }
                columns.push(Column::WindowStart(output.clone()));
            }
        }
    }
    let q = Query {
        time,
        size_ms,
        group_by,
        aggregates,
        columns,
    };
    q.validate()?;
    Ok(q)
}

/// A selected GROUP BY key takes the destination column's name (once).
fn name_group(
    group_by: &mut [GroupBy],
    named: &mut [bool],
    index: usize,
    output: &str,
) -> Result<(), String> {
    if named[index] {
        return Err(format!(
            "GROUP BY column {} is selected twice",
            group_by[index].name
        ));
    }
    named[index] = true;
    group_by[index].name = output.to_string();
    Ok(())
}

/// The engine config for `--sql`: the other flags' options, the SQL's query. Flags that the SQL
/// decides (`--agg`, `--group-by`, `--time`, `--size`) are refused next to it.
pub fn sql_config(
    args: &crate::Args,
    sql: &SqlArgs,
    plan: Option<&SqlPlan>,
) -> anyhow::Result<(Config, SqlFilter)> {
    let Some(plan) = plan else {
        return Err(usage("--schema needs --sql"));
    };
    let schema = sql.schema.as_deref().map(load_schema).transpose()?;
    let (bound, chain) =
        super::chain::bind_app(plan, schema.as_ref()).map_err(|e| usage(format!("--sql: {e}")))?;
    let mut conflicts = Vec::new();
    if !args.agg.is_empty() {
        conflicts.push("--agg");
    }
    if !args.group_by.is_empty() {
        conflicts.push("--group-by");
    }
    if args.time != TimeBasis::Rowtime {
        conflicts.push("--time");
    }
    if args.size != Duration::from_secs(60) {
        conflicts.push("--size");
    }
    if !conflicts.is_empty() {
        return Err(usage(format!(
            "--sql sets the window, grouping and aggregates: drop {}",
            conflicts.join(", ")
        )));
    }
    let mut cfg = args.config()?;
    cfg.query = to_query(&bound).map_err(|e| usage(format!("--sql: {e}")))?;
    // Partial rows fed to --merge were filtered and converted by the processes that made them.
    if args.merge {
        return Ok((cfg, SqlFilter::None));
    }
    let errors = error_stream(sql, &plan.pump)?;
    let filter = if RowPrep::needed(&bound, schema.as_ref(), chain.as_ref()) {
        RowPrep::for_query(&bound, schema, chain, errors)
            .map_err(|e| usage(format!("--sql: {e}")))?
            .map_or(SqlFilter::None, |prep| SqlFilter::Prep(Box::new(prep)))
    } else {
        match bound.filter {
            None => SqlFilter::None,
            Some(f) => SqlFilter::Where(WhereFilter::new(f, errors)),
        }
    };
    if !matches!(filter, SqlFilter::None) && args.threads > 1 {
        return Err(usage(
            "--threads cannot be combined with a WHERE clause, --schema, APPROXIMATE_ARRIVAL_TIME or a second time group",
        ));
    }
    Ok((cfg, filter))
}

/// What runs in front of the engine for `--sql`.
pub enum SqlFilter {
    None,
    Where(WhereFilter),
    Prep(Box<RowPrep>),
}

impl BlockFilter for SqlFilter {
    fn apply<'a>(&'a mut self, block: &'a [u8], first_line: u64) -> &'a [u8] {
        match self {
            SqlFilter::None => block,
            SqlFilter::Where(f) => f.apply(block, first_line),
            SqlFilter::Prep(p) => p.apply(block, first_line),
        }
    }
}

/// The in-application error stream of `pump`, written where `--errors` says.
pub(super) fn error_stream(sql: &SqlArgs, pump: &str) -> anyhow::Result<ErrorStream> {
    let file = sql
        .errors
        .as_deref()
        .map(kds_common::io::Output::append)
        .transpose()?;
    Ok(ErrorStream::new(file, Box::new(std::io::stderr()), pump))
}

/// After the run: the error stream's count on stderr, and a failed `--errors` write as an error.
fn report_error_stream(filter: &mut SqlFilter, to_file: bool) -> anyhow::Result<()> {
    match filter {
        SqlFilter::Prep(p) => report_errors(&mut p.errors, to_file),
        SqlFilter::Where(f) => report_errors(&mut f.errors, to_file),
        SqlFilter::None => Ok(()),
    }
}

pub(super) fn report_errors(errors: &mut ErrorStream, to_file: bool) -> anyhow::Result<()> {
    if let Some(e) = errors.failed.take() {
        return Err(anyhow::Error::new(e).context("writing the --errors file"));
    }
    let n = errors.rows;
    if n > 0 {
        let hint = if to_file {
            ""
        } else {
            " (keep them with --errors FILE)"
        };
        let _ = writeln!(
            std::io::stderr(),
            "kds-window: {n} record{} sent to the error stream{hint}",
            if n == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// Reads up to `n` lines and prints the discovered schema as JSON. Bad lines are reported on
/// stderr (the first few) and skipped.
pub fn discover_to(
    reader: &mut LineReader,
    n: usize,
    wide: bool,
    out: &mut dyn Write,
    diag: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let mut d = Discovery::new();
    d.wide = wide;
    let mut reported = 0;
    while d.lines < n as u64 {
        let Some(line) = reader.next_line().context("reading input")? else {
            break;
        };
        if let Err(e) = d.add_line(line.bytes) {
            if reported < 5 {
                let _ = writeln!(diag, "kds-window: line {}: {e}", line.number);
                reported += 1;
            }
        }
    }
    let schema = d.finish();
    if schema.columns.is_empty() {
        anyhow::bail!(
            "--discover: no JSON object with fields in the first {} lines",
            d.lines
        );
    }
    let text = serde_json::to_string_pretty(&schema.to_json()).context("rendering the schema")?;
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()?;
    if d.bad_lines > 0 {
        let _ = writeln!(
            diag,
            "kds-window: --discover: {} of {} lines were not JSON objects",
            d.bad_lines, d.lines
        );
    }
    Ok(Exit::Ok)
}

/// The `--explain-flink` text (with `--schema`, or the lab's trade events).
pub fn explain(sql: &SqlArgs) -> anyhow::Result<String> {
    let Some(text) = &sql.sql else {
        return Err(usage("--explain-flink needs --sql"));
    };
    let app = load_app(text)?;
    let schema = match &sql.schema {
        Some(p) => load_schema(p)?,
        None => Schema::trade_events(),
    };
    let arn =
        |flag: &str, a: &str| FlinkOptions::from_arn(a).map_err(|e| usage(format!("{flag} {e}")));
    let mut opts = arn("--flink-stream-arn", &sql.flink_stream_arn)?;
    opts.sink = sql
        .flink_sink_arn
        .as_deref()
        .map(|a| arn("--flink-sink-arn", a))
        .transpose()?
        .map(Box::new);
    opts.reference_data.clone_from(&sql.reference_data);
    super::explain_app(&app, &schema, &opts).map_err(|e| usage(format!("--sql: {e}")))
}

/// Runs `kds-window` with SQL front-end flags: `--discover`, `--explain-flink`, or `--sql`.
pub fn run(args: &crate::Args, sql: &SqlArgs) -> anyhow::Result<Exit> {
    if sql.discover {
        if sql.sql.is_some() || sql.explain_flink {
            return Err(usage(
                "--discover prints a schema and exits: drop --sql/--explain-flink",
            ));
        }
        let mut reader = LineReader::open(&args.files)?;
        let stdout = std::io::stdout();
        return discover_to(
            &mut reader,
            sql.discover_lines,
            sql.wide_types,
            &mut stdout.lock(),
            &mut std::io::stderr(),
        );
    }
    if sql.explain_flink {
        let text = explain(sql)?;
        let mut out = Output::stdout();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        return Ok(Exit::Ok);
    }
    // The SQL is read and parsed once; each stage below takes the parsed application.
    let plan = match sql.sql.as_deref().map(load_app).transpose()? {
        Some(Application::PerRow(plan)) => return run_per_row(args, sql, &plan),
        Some(Application::Windowed(plan)) => Some(plan),
        None => None,
    };
    super::reference::load_tables(None, &sql.reference_data)?;
    let (cfg, mut filter) = sql_config(args, sql, plan.as_ref())?;
    let (out, after) = super::downstream::output_for(args, sql, plan.as_ref())?;
    let exit = crate::run_query_to(args, &cfg, &mut filter, out)?;
    report_error_stream(&mut filter, sql.errors.is_some())?;
    super::downstream::report(after, sql.errors.is_some())?;
    Ok(exit)
}

/// `--sql` with a pump without GROUP BY.
fn run_per_row(args: &crate::Args, sql: &SqlArgs, plan: &super::RowPlan) -> anyhow::Result<Exit> {
    if !args.agg.is_empty() || !args.group_by.is_empty() || args.time != TimeBasis::Rowtime {
        return Err(usage(
            "--sql decides the columns: drop --agg, --group-by, --time",
        ));
    }
    let schema = sql.schema.as_deref().map(load_schema).transpose()?;
    let errors = error_stream(sql, &plan.pump)?;
    let mut rows =
        super::alerts::bind_rows(plan, schema, errors).map_err(|e| usage(format!("--sql: {e}")))?;
    super::reference::load_tables(rows.join.as_mut(), &sql.reference_data)?;
    let exit = super::alerts::run(args, &mut rows)?;
    let mut filter = SqlFilter::Prep(Box::new(rows.prep));
    report_error_stream(&mut filter, sql.errors.is_some())?;
    Ok(exit)
}

/// A WHERE clause applied to blocks of lines in front of the engine: each line that parses as
/// JSON and fails the condition is blanked (an empty line, which the engine skips), so line
/// numbers in bad-line reports stay right. Lines that are not JSON pass through for the engine
/// to count as bad. A line whose WHERE raised a function error goes to the error stream and is
/// blanked too, as in [`RowPrep`]. A block whose lines all pass is handed on without a copy.
pub struct WhereFilter {
    filter: BoundExpr,
    buf: Vec<u8>,
    /// The pump's error stream: records whose WHERE raised a function error.
    pub errors: ErrorStream,
}

impl WhereFilter {
    pub fn new(filter: BoundExpr, errors: ErrorStream) -> WhereFilter {
        WhereFilter {
            filter,
            buf: Vec::new(),
            errors,
        }
    }

    fn keep(&mut self, line_no: u64, line: &[u8]) -> bool {
        match serde_json::from_slice::<serde_json::Value>(line) {
            Ok(v) => {
                let kept = eval_filter(&self.filter, &v);
                // The function's error belongs to this line: taken here, it cannot reach a
                // later row.
                match function_error() {
                    Ok(()) => kept,
                    Err((name, message)) => {
                        self.errors.send(line_no, name, &message, line);
                        false
                    }
                }
            }
            Err(_) => true,
        }
    }
}

impl BlockFilter for WhereFilter {
    fn apply<'a>(&'a mut self, block: &'a [u8], first_line: u64) -> &'a [u8] {
        self.buf.clear();
        // `block[copied..]` is not yet in `buf`; `buf` is used once a line is blanked.
        let mut copied = 0;
        let mut blanked = false;
        let mut start = 0;
        let mut line_no = first_line;
        while start < block.len() {
            let end = memchr::memchr(b'\n', &block[start..]).map_or(block.len(), |i| start + i);
            let line = &block[start..end];
            if !line.is_empty() && !self.keep(line_no, line) {
                // Drop the line's bytes, keep its '\n'.
                self.buf.extend_from_slice(&block[copied..start]);
                copied = end;
                blanked = true;
            }
            start = end + 1;
            line_no += 1;
        }
        self.errors.flush();
        if !blanked {
            return block;
        }
        self.buf.extend_from_slice(&block[copied..]);
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::bind;

    fn filter_of(sql_where: &str) -> BoundExpr {
        let text = format!(
            "CREATE STREAM d (n INTEGER); CREATE PUMP p AS INSERT INTO d SELECT STREAM COUNT(*) \
             FROM s WHERE {sql_where} GROUP BY STEP(s.ROWTIME BY INTERVAL '1' SECOND);"
        );
        let plan = parse_sql(&text).unwrap();
        bind(&plan, None).unwrap().filter.unwrap()
    }

    /// An error stream that counts and writes nowhere.
    fn quiet_errors() -> ErrorStream {
        ErrorStream::new(None, Box::new(std::io::sink()), "p")
    }

    fn filtered(f: &mut WhereFilter, block: &str) -> String {
        String::from_utf8(f.apply(block.as_bytes(), 1).to_vec()).unwrap()
    }

    #[test]
    fn where_filter_blanks_rejected_records_and_keeps_bad_lines() {
        let mut f = WhereFilter::new(filter_of("\"tnum\" > 5"), quiet_errors());
        assert_eq!(
            filtered(
                &mut f,
                "{\"tnum\":1}\n{\"tnum\":7}\nnot json\n\n{\"tnum\":9}"
            ),
            "\n{\"tnum\":7}\nnot json\n\n{\"tnum\":9}"
        );
        // Rejected lines in the middle and at the end (with and without '\n').
        assert_eq!(
            filtered(
                &mut f,
                "{\"tnum\":8}\n{\"tnum\":2}\n{\"tnum\":9}\n{\"tnum\":3}\n"
            ),
            "{\"tnum\":8}\n\n{\"tnum\":9}\n\n"
        );
        assert_eq!(
            filtered(&mut f, "{\"tnum\":6}\n{\"tnum\":3}"),
            "{\"tnum\":6}\n"
        );
        assert_eq!(filtered(&mut f, ""), "");
    }

    #[test]
    fn where_filter_hands_on_a_block_whose_lines_all_pass() {
        let mut f = WhereFilter::new(filter_of("\"tnum\" > 5"), quiet_errors());
        let block = b"{\"tnum\":6}\nnot json\n{\"tnum\":7}".to_vec();
        let out = f.apply(&block, 1);
        assert_eq!(
            out.as_ptr(),
            block.as_ptr(),
            "passed through without a copy"
        );
    }

    #[test]
    fn a_function_error_in_where_sends_its_line_to_the_error_stream_and_goes_no_further() {
        let mut f = WhereFilter::new(
            filter_of("REGEX_REPLACE(\"s\", 'a', 'b', \"start\", 0) = 'b'"),
            quiet_errors(),
        );
        assert_eq!(
            filtered(
                &mut f,
                "{\"s\":\"a\",\"start\":0}\n{\"s\":\"a\",\"start\":1}\n{\"s\":\"c\",\"start\":1}"
            ),
            "\n{\"s\":\"a\",\"start\":1}\n"
        );
        assert_eq!(f.errors.rows, 1);
        // The error was the first line's: nothing is left for the next row evaluated.
        assert_eq!(function_error(), Ok(()));
    }

    #[test]
    fn lab_sql_becomes_the_lab_query() {
        let lab = "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (count_tno integer, sum_tnum integer);\n\
CREATE OR REPLACE PUMP \"STREAM_PUMP\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\n\
SELECT STREAM count(*), sum(\"tnum\")\n\
FROM \"SOURCE_SQL_STREAM_001\"\n\
GROUP BY FLOOR((\"SOURCE_SQL_STREAM_001\".ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 60 TO SECOND);\n";
        let b = bind(&parse_sql(lab).unwrap(), None).unwrap();
        assert_eq!(to_query(&b).unwrap(), Query::lab());
    }

    #[test]
    fn sql_argument_is_a_file_or_text() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("app.sql");
        std::fs::write(&f, "CREATE STREAM d (n INTEGER);").unwrap();
        let (text, name) = load_sql(f.to_str().unwrap()).unwrap();
        assert_eq!(
            (text.as_str(), name.is_some()),
            ("CREATE STREAM d (n INTEGER);", true)
        );
        assert_eq!(load_sql("CREATE STREAM d (n INTEGER);").unwrap().1, None);
        let err = load_sql("missing.sql").unwrap_err().to_string();
        assert!(err.contains("no such file"), "{err}");
    }
}
