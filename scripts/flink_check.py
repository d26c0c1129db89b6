"""Runs kds-window's Flink SQL migrations on Apache Flink and compares Flink's rows with kds-window's.

    scripts/flink-check            # the wrapper: installs PyFlink, builds kds-window, calls this

For every example `NAME.kda.sql` in the golden folder:
  1. `kds-window --sql NAME.kda.sql --explain-flink` prints the Flink SQL (exit 2 = the example
     cannot be expressed in Flink yet: reported as such, with kds-window's reason);
  2. `kds-window --sql NAME.kda.sql` runs the application over the example's input
     (`NAME.input.ndjson` and `NAME.schema.json` when the example has them; for the KDA guide's
     examples, which read the demo stream, `demo_stream.*`; otherwise kds-gen's trades);
  3. Flink runs the same SQL on a local mini-cluster over the same input: the Kinesis source's
     WITH (...) becomes the filesystem connector on the input file (the Kinesis connector jar is
     not reachable here), and the pump's SELECT is collected instead of inserted into the sink;
  4. the rows are compared: row for row for event-time examples (a bounded source ends with a
     final watermark that closes every window); for ROWTIME examples, which Flink runs on
     PROCTIME() and whose windows depend on the clock, the totals of every numeric column per
     group.
Exit status 0 when every expressible example agrees, 1 otherwise.

What the check changes, besides the connector (in the check only; the printed SQL is not changed):
  - an example that reads APPROXIMATE_ARRIVAL_TIME reads `kds-tail --envelope` lines, and its
    source table has the arrival time as a Kinesis metadata column, which a file cannot give:
    Flink reads a flat copy of the input instead (each envelope's `data` fields plus its
    `arrival` under the metadata column's name), the metadata column becoming a physical one;
  - Flink's json format reads a TIMESTAMP_LTZ column only from a time with a zone designator;
    a time without one (the guide's sample dates) gets `Z` in Flink's copy of the input: KDA
    and kds-window read it as UTC.
"""

import atexit
import base64
import datetime
import decimal
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from pyflink.common import RowKind
from pyflink.table import EnvironmentSettings, TableEnvironment

TIME_COLUMNS = {"window_start", "window_end", "rowtime"}


def statements(text):
    body = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def file_source(ddl, input_path, unbounded):
    """The Kinesis source table's DDL with the filesystem connector on the input file.

    A bounded source ends with a final watermark that closes every event-time window, but Flink
    fires no processing-time timer after the end of input: for PROCTIME() windows the source is
    made unbounded (monitored) and the job cancelled once its windows have closed.
    """
    monitor = "  'source.monitor-interval' = '10 s',\n" if unbounded else ""
    options = (
        "WITH (\n  'connector' = 'filesystem',\n" + monitor +
        f"  'path' = '{input_path}',\n  'format' = 'json',\n"
        "  'json.timestamp-format.standard' = 'ISO-8601',\n"
        "  'json.ignore-parse-errors' = 'true'\n)"
    )
    return re.sub(r"WITH \((.|\n)*\)\s*$", options, ddl)


# `name` TYPE [NOT NULL] METADATA FROM 'key' VIRTUAL: a Kinesis metadata column.
METADATA_COLUMN = re.compile(r"`([^`]+)` ([A-Z_]+(?:\(\d+\))?)(?: NOT NULL)? METADATA FROM '[^']*' VIRTUAL")
# A column Flink reads as TIMESTAMP_LTZ: `name` TIMESTAMP_LTZ(3) (not nested).
LTZ_COLUMN = re.compile(r"^\s+`([^`]+)` TIMESTAMP_LTZ\(3\)", flags=re.M)
ZONELESS_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?")

WORK = tempfile.mkdtemp(prefix="flink-check-")
atexit.register(shutil.rmtree, WORK, True)


def envelope_record(line):
    """A `kds-tail --envelope` line's record (`data`, or the JSON its utf8 text or base64
    bytes hold) and arrival; None for a line that is not one."""
    try:
        envelope = json.loads(line)
        data = envelope["data"]
        if envelope.get("encoding") == "utf8":
            data = json.loads(data)
        elif envelope.get("encoding") == "base64":
            data = json.loads(base64.b64decode(data))
        return (data, envelope["arrival"]) if isinstance(data, dict) else None
    except (ValueError, KeyError, TypeError):
        return None


def flink_input(ddl, input_path):
    """The source DDL and input Flink reads: for a metadata column, a flat copy of the envelopes
    with the arrival under its name, and the column physical; times in TIMESTAMP_LTZ columns
    without a zone designator get `Z` (see the module's docstring)."""
    arrival = METADATA_COLUMN.search(ddl)
    ltz = set(LTZ_COLUMN.findall(ddl)) - ({arrival.group(1)} if arrival else set())
    if not arrival and not ltz:
        return ddl, input_path
    lines = []
    with open(input_path, encoding="utf-8") as f:
        for line in f:
            record = flat_record(line, arrival.group(1)) if arrival else json_object(line)
            if record is None:
                # Not an envelope: kds-window sends it to the error stream. Not a JSON object:
                # both sides skip it.
                if not arrival:
                    lines.append(line.rstrip("\n"))
                continue
            for name in ltz & set(record):
                if isinstance(record[name], str) and ZONELESS_TIME.fullmatch(record[name]):
                    record[name] += "Z"
            lines.append(json.dumps(record))
    path = os.path.join(WORK, f"{len(os.listdir(WORK))}.ndjson")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return METADATA_COLUMN.sub(r"`\1` \2", ddl), path


def json_object(line):
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def flat_record(line, arrival_column):
    """An envelope line as one flat record: its `data` fields and its arrival."""
    envelope = envelope_record(line)
    if envelope is None:
        return None
    data, arrived = envelope
    return dict(data, **{arrival_column: arrived})


def pump_select(insert):
    """The SELECT of `INSERT INTO `SINK` SELECT ...`."""
    return re.sub(r"^INSERT INTO `[^`]*`\s*", "", insert, flags=re.S)


# How long Flink may take to read an input after its job starts (generous: a loaded 2-core VM).
READ_ALLOWANCE_S = 30


class FlinkJob:
    """One example's Flink SQL running on a local mini-cluster, its rows collected by a thread.

    Jobs of all examples run at the same time, so the PROCTIME() ones wait for the clock once.
    """

    def __init__(self, flink_sql, input_path):
        self.proctime = "PROCTIME()" in flink_sql
        # ROWTIME as the time each record is read, an event time (the top-K example: Flink has
        # no processing-time Window Top-N): the bounded source closes every window, but the
        # window bounds still depend on the clock.
        self.ingest_time = "AS CURRENT_TIMESTAMP" in flink_sql
        env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
        config = env.get_config()
        config.set("parallelism.default", "1")
        # kds-window writes window bounds in UTC; Flink gives TIMESTAMP_LTZ windows in this zone.
        config.set("table.local-time-zone", "UTC")
        selects, self.exact_columns = [], set()
        for stmt in statements(flink_sql):
            head = stmt.upper()
            if head.startswith("CREATE TABLE") and re.search(r"'connector' = 'kinesis(-legacy)?'", stmt):
                ddl, path = flink_input(stmt, input_path)
                env.execute_sql(file_source(ddl, path, self.proctime))
            elif head.startswith("INSERT"):
                selects.append(pump_select(stmt))
            elif head.startswith("CREATE TABLE") and "'print'" in stmt:
                # The sink: its rows are collected below instead; its integer columns' sums
                # must be equal, not only close.
                self.exact_columns = integer_columns(stmt)
                continue
            else:  # a reference table on the filesystem connector, a view
                env.execute_sql(stmt)
        self.rows, self.results, self.readers, self.error = [], [], [], None
        self.grouped = "GROUP BY" in flink_sql
        # Columns computed OVER a processing-time RANGE: their values depend on how fast each
        # side reads, so the totals leave them out (row counts and the other columns still count).
        # A ROWS frame counts rows in reading order, the same on both sides.
        clock = {m.lower() for m in re.findall(r"\bOVER \(.*`proctime` RANGE .*AS `([^`]+)`,?$",
                                               flink_sql, flags=re.M)}
        # A column read from a subquery's `$over<i>` (several windows in one SELECT) is one too.
        read = re.findall(r"`(\$over\d+)` AS [^)]*\) AS `([^`]+)`", flink_sql)
        clock |= {name.lower() for over, name in read if over.lower() in clock}
        self.clock_columns = {c for c in clock if not c.startswith("$over")}
        # A window bound selected under another name (the two-window pattern's ROWTIME STEP): its
        # value is the clock's, as the window bounds are.
        self.window_columns = {m.lower() for m in re.findall(r"^\s+window_(?:start|end) AS `([^`]+)`,?$",
                                                               flink_sql, flags=re.M)} - TIME_COLUMNS
        for select in selects:
            table = env.sql_query(select)
            names = table.get_schema().get_field_names()
            result = table.execute()
            reader = threading.Thread(target=self._drain, args=(result, names), daemon=True)
            reader.start()
            self.results.append(result)
            self.readers.append(reader)

    def _drain(self, result, names):
        try:
            with result.collect() as results:
                for row in results:
                    self._apply(row.get_row_kind(), dict(zip(names, list(row))))
        except Exception as e:  # noqa: BLE001 - cancelling a PROCTIME() job ends its iterator so
            if not self.proctime:
                self.error = java_cause(e)

    def _apply(self, kind, row):
        """A changelog row: a regular join (the reference-data example) may first write a
        record without its table row and retract it when the table's row arrives."""
        if kind in (RowKind.INSERT, RowKind.UPDATE_AFTER):
            self.rows.append(row)
        elif row in self.rows:
            self.rows.remove(row)
        else:
            self.error = self.error or f"Flink retracted a row it never wrote: {row}"

    def finish(self, deadline):
        """The rows: a bounded (event-time) job's when it ends; a PROCTIME() job's at the
        deadline, when every window that can hold input has closed and the job is cancelled."""
        if self.proctime:
            time.sleep(max(0.0, deadline - time.time()))
            for result in self.results:
                try:
                    result.get_job_client().cancel().result()
                except Exception as e:  # noqa: BLE001 - a job that failed has nothing to cancel
                    self.error = self.error or java_cause(e)
        for reader in self.readers:
            reader.join(timeout=30 if self.proctime else None)
        return self.rows


def proctime_deadline():
    """Every record of a job started by now gets its processing time before now +
    READ_ALLOWANCE_S, so no window holding one ends after the next whole minute; 5 s more."""
    return (int(time.time() + READ_ALLOWANCE_S) // 60 + 1) * 60 + 5


def norm_value(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?Z?", value):
        return norm_value(datetime.datetime.fromisoformat(value.rstrip("Z").replace(" ", "T")))
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, decimal.Decimal)):
        return round(float(value), 6)
    return value


def norm_row(row):
    return {k.lower(): norm_value(v) for k, v in row.items()}


def row_key(row):
    return json.dumps(row, sort_keys=True)


def java_cause(error):
    """The innermost cause of a Py4J error (its first line only names the Java call)."""
    lines = [l.strip() for l in str(error).splitlines() if l.strip()]
    causes = [l for l in lines if l.startswith("Caused by:")]
    return (causes[-1] if causes else lines[0] if lines else repr(error))[:300]


def totals(rows, leave_out=(), count_rows=False):
    """The sum of every numeric column per group (the non-numeric, non-time columns), and the
    number of rows when it does not depend on the clock (a row per record, no windows)."""
    out = {}
    for row in rows:
        kept = {k: v for k, v in row.items() if k not in TIME_COLUMNS and k not in leave_out}
        group = tuple(sorted((k, v) for k, v in kept.items() if not isinstance(v, float)))
        sums = out.setdefault(group, {"rows": 0} if count_rows else {})
        if count_rows:
            sums["rows"] += 1
        for k, v in kept.items():
            if isinstance(v, float):
                sums[k] = sums.get(k, 0.0) + v
    return out


# KDA's and Flink's REAL is a 32-bit float (about 7 significant digits), kds-window's a 64-bit
# one: sums agree to this relative precision, not to the last digit. The sums of the sink's
# integer columns (counts, epoch milliseconds) and the row counts must be equal.
REL_TOLERANCE = 1e-6


def integer_columns(sink_ddl):
    """The lower-case names of the sink table's integer columns."""
    return {name.lower() for name, kind in re.findall(r"^\s*`([^`]+)` (\w+)", sink_ddl, flags=re.M)
            if kind.upper() in ("TINYINT", "SMALLINT", "INT", "INTEGER", "BIGINT")}


def totals_equal(a, b, exact_columns):
    if a.keys() != b.keys():
        return False
    for group, sums in a.items():
        other = b[group]
        if sums.keys() != other.keys():
            return False
        for k, v in sums.items():
            w = other[k]
            if k == "rows" or k in exact_columns:
                if v != w:
                    return False
            elif abs(v - w) > REL_TOLERANCE * max(abs(v), abs(w), 1.0):
                return False
    return True


def run(cmd, stdin=None):
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as f:
        return subprocess.run(cmd, stdin=f, capture_output=True, text=True)


def example_files(kda, trades):
    """The example's own input and schema files; else the KDA demo stream's for the guide's
    examples (they name TICKER_SYMBOL); else kds-gen's trades with the built-in schema."""
    folder = os.path.dirname(kda)
    for stem in (kda.replace(".kda.sql", ""), os.path.join(folder, "demo_stream")):
        if stem.endswith("demo_stream"):
            with open(kda, encoding="utf-8") as f:
                if "TICKER_SYMBOL" not in f.read().upper():
                    break
        input_path, schema = stem + ".input.ndjson", stem + ".schema.json"
        if os.path.exists(input_path) or os.path.exists(schema):
            return (os.path.abspath(input_path if os.path.exists(input_path) else trades),
                    schema if os.path.exists(schema) else None)
    return os.path.abspath(trades), None


def reference_flags(kda):
    """`--reference-data TABLE=NAME.csv` (or .json) for an example that joins a reference table
    and has that file next to it: both kds-window and the Flink table read it."""
    with open(kda, encoding="utf-8") as f:
        joined = re.search(r'\bJOIN\s+"?(\w+)"?', f.read(), flags=re.I)
    stem = kda.replace(".kda.sql", "")
    for path in (stem + ".csv", stem + ".json"):
        if joined and os.path.exists(path):
            return ["--reference-data", f"{joined.group(1)}={os.path.abspath(path)}"]
    return []


def start(window_bin, kda, input_path, schema):
    """kds-window's rows and the running Flink job of one example, or its verdict when it has
    one already."""
    extra = (["--schema", schema] if schema else []) + reference_flags(kda)
    explained = run([window_bin, "--sql", kda, "--explain-flink", *extra])
    if explained.returncode == 2:
        return ("not expressible", explained.stderr.strip().splitlines()[-1])
    if explained.returncode != 0:
        return ("FAILED", f"--explain-flink: {explained.stderr.strip()}")
    ours = run([window_bin, "--sql", kda, *extra], stdin=input_path)
    if ours.returncode != 0:
        return ("FAILED", f"kds-window: {ours.stderr.strip()}")
    our_rows = [norm_row(json.loads(l)) for l in ours.stdout.splitlines() if l.strip()]
    try:
        return our_rows, FlinkJob(explained.stdout, input_path)
    except Exception as e:  # noqa: BLE001 - report Flink's error for this example and go on
        return ("FAILED", f"Flink: {java_cause(e)}")


def compare(our_rows, job, deadline):
    their_rows = [norm_row(r) for r in job.finish(deadline)]
    if job.error:
        return "FAILED", f"Flink: {job.error}"
    if job.proctime or job.ingest_time:
        leave_out, per_row = job.clock_columns | job.window_columns, not job.grouped
        ours_t = totals(our_rows, leave_out, per_row)
        theirs_t = totals(their_rows, leave_out, per_row)
        if totals_equal(ours_t, theirs_t, job.exact_columns):
            left = "".join(f"; {', '.join(sorted(columns))} left out ({why})"
                           for columns, why in ((job.clock_columns, "OVER processing time"),
                                                (job.window_columns, "the window's bound"))
                           if columns)
            clock = "PROCTIME" if job.proctime else "read time"
            return "equal totals", (f"{len(our_rows)} rows here, {len(their_rows)} in Flink "
                                    f"(ROWTIME → {clock}){left}")
        return "FAILED", f"totals differ: kds-window {ours_t} / Flink {theirs_t}"
    ours_s = sorted(map(row_key, our_rows))
    theirs_s = sorted(map(row_key, their_rows))
    if ours_s == theirs_s:
        return "equal rows", f"{len(our_rows)} rows"
    only_ours = sorted(set(ours_s) - set(theirs_s))[:3]
    only_theirs = sorted(set(theirs_s) - set(ours_s))[:3]
    return "FAILED", (f"{len(our_rows)} rows here, {len(their_rows)} in Flink; only here: "
                      f"{only_ours}; only in Flink: {only_theirs}")


def main(window_bin, default_input, examples):
    started = []
    for kda in examples:
        name = os.path.basename(kda).replace(".kda.sql", "")
        input_path, schema = example_files(kda, default_input)
        started.append((name, start(window_bin, kda, input_path, schema)))
    deadline = proctime_deadline()
    failed = False
    for name, state in started:
        verdict, detail = compare(*state, deadline) if isinstance(state[1], FlinkJob) else state
        failed |= verdict == "FAILED"
        print(f"{name:32} {verdict:16} {detail}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
