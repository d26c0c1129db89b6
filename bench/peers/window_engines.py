#!/usr/bin/env python3
"""Peers of kds-window for bench/window.sh: the lab query (count(*) and sum(tnum) per minute of
tuptime) in Polars, chDB (ClickHouse) and DataFusion, each in the fastest formulation we found.

Usage:
  window_engines.py ENGINE THREADS PATH   -> lines "YYYY-MM-DDTHH:MM count sum", sorted
  window_engines.py --describe            -> ENGINE<TAB>formulation, one line per engine

ENGINE is polars, chdb or datafusion; PATH is a file or /dev/stdin (a pipe). THREADS caps the
engine's worker threads: its own setting plus the thread-pool variables (POLARS_MAX_THREADS,
RAYON_NUM_THREADS, TOKIO_WORKER_THREADS), which must be set before the engine is imported.

Why each formulation is the fastest we found (same file, same machine, side by side):
- every engine gets an explicit two-column schema, so it neither samples the file to infer one
  nor materializes the five other fields (schema inference alone reads part of the file twice);
- the minute is the 16-byte prefix of tuptime ("2021-03-19T00:01"): kds-gen writes tuptime as
  "YYYY-MM-DDTHH:MM:SSZ", so the prefix is the minute. Slicing it was many times faster than
  parsing a Datetime in Polars, and no slower than a typed timestamp with epoch arithmetic in
  chDB (DateTime, intDiv(toUInt32(t), 60)) and DataFusion (Timestamp, date_bin); it also needs
  no formatting of the result;
- Polars runs lazily (scan, not read) on its streaming engine, which never holds the whole
  input; DataFusion gets one partition per thread.
"""
import os
import stat
import sys

ENGINES = ("polars", "chdb", "datafusion")

CHDB_SQL = (
    "SELECT substring(tuptime, 1, 16) AS m, count() AS c, sum(tnum) AS s "
    "FROM file('{path}', 'JSONEachRow', 'tnum Int64, tuptime String') "
    "GROUP BY m ORDER BY m SETTINGS max_threads = {threads}"
)
DATAFUSION_SQL = "SELECT substr(tuptime, 1, 16) AS m, count(*) AS c, sum(tnum) AS s FROM trades GROUP BY m ORDER BY m"
POLARS_CODE = (
    "pl.scan_ndjson(FILE, schema={'tnum': pl.Int64, 'tuptime': pl.String})"
    ".group_by(m=pl.col('tuptime').str.slice(0, 16)).agg(c=pl.len(), s=pl.col('tnum').sum())"
    ".sort('m').collect(engine='streaming')"
)


def describe():
    print(
        f"polars\t`{POLARS_CODE}` (POLARS_MAX_THREADS=N); from a pipe `pl.read_ndjson(stdin, schema=...)`"
        " instead of `scan_ndjson`, which cannot read one"
    )
    print(f"chdb\t`{CHDB_SQL.format(path='FILE', threads='N')}`")
    print(
        "datafusion\t`register_json('trades', FILE, schema=[tnum Int64, tuptime Utf8])` with "
        f"`target_partitions=N`, then `{DATAFUSION_SQL}`"
    )


def set_threads(threads):
    for var in ("POLARS_MAX_THREADS", "RAYON_NUM_THREADS", "TOKIO_WORKER_THREADS"):
        os.environ[var] = str(threads)


def is_pipe(path):
    return stat.S_ISFIFO(os.stat(path).st_mode)


def run_polars(threads, path):
    import polars as pl

    schema = {"tnum": pl.Int64, "tuptime": pl.String}
    if is_pipe(path):
        # scan_ndjson maps its input into memory and fails on a pipe ("No such device"): the
        # eager reader takes a stream, holding the whole input before the query starts.
        frame = pl.read_ndjson(sys.stdin.buffer if path == "/dev/stdin" else open(path, "rb"), schema=schema).lazy()
    else:
        frame = pl.scan_ndjson(path, schema=schema)
    rows = (
        frame.group_by(m=pl.col("tuptime").str.slice(0, 16))
        .agg(c=pl.len(), s=pl.col("tnum").sum())
        .sort("m")
        .collect(engine="streaming")
    )
    return rows.iter_rows()


def run_chdb(threads, path):
    import chdb

    # The path goes into a SQL string literal: refuse quotes rather than escape them.
    if "'" in path or "\\" in path:
        sys.exit(f"window_engines.py: chdb: unsupported character in path {path!r}")
    res = chdb.query(CHDB_SQL.format(path=path, threads=threads), "TabSeparated")
    return (line.split("\t") for line in res.data().splitlines())


def run_datafusion(threads, path):
    import pyarrow as pa
    from datafusion import SessionConfig, SessionContext

    if is_pipe(path):
        # Its NDJSON reader takes the input's length from stat(), 0 for a pipe, and would
        # answer with no rows at all: refuse instead (bench/window.sh reports it).
        sys.exit("window_engines.py: datafusion cannot read a pipe (its NDJSON reader needs a regular file)")
    ctx = SessionContext(SessionConfig().with_target_partitions(threads))
    schema = pa.schema([("tnum", pa.int64()), ("tuptime", pa.string())])
    # The reader only lists files with the given extension: take the path's own.
    ext = os.path.splitext(path)[1]
    ctx.register_json("trades", path, schema=schema, file_extension=ext)
    table = ctx.sql(DATAFUSION_SQL).to_arrow_table()
    return zip(*(table.column(name).to_pylist() for name in ("m", "c", "s")))


def main():
    if sys.argv[1:] == ["--describe"]:
        describe()
        return
    if len(sys.argv) != 4 or sys.argv[1] not in ENGINES or not sys.argv[2].isdigit():
        sys.exit(f"usage: window_engines.py {{{'|'.join(ENGINES)}}} THREADS PATH | --describe")
    engine, threads, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    set_threads(threads)
    rows = {"polars": run_polars, "chdb": run_chdb, "datafusion": run_datafusion}[engine](threads, path)
    out = sys.stdout
    for m, c, s in rows:
        out.write(f"{m} {c} {s}\n")


if __name__ == "__main__":
    main()
