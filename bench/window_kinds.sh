#!/usr/bin/env bash
# Benchmark: kds-window --sql's sliding and stagger windows against DuckDB and Python on the same
# trades, answers checked equal. Not a test: it writes bench/out/window_kinds.tsv (see
# bench/lib.sh) and bench/results/window_kinds.md.
#
#   bench/window_kinds.sh      # 1M lines (N=...)
#
# Queries (KDA SQL, run by kds-window --sql from a file, one thread):
# - sliding: per record, COUNT(*) and SUM(tnum) over the user's last 10 records
#   (`WINDOW W AS (PARTITION BY uno ROWS 9 PRECEDING)`); a ROWS frame, so the answer does not
#   depend on when a record is read (a RANGE frame is on ROWTIME, the reading clock).
# - stagger: COUNT(*) and SUM(tnum) per user and event minute
#   (`WINDOWED BY STAGGER (PARTITION BY uno, FLOOR(tuptime TO MINUTE) RANGE INTERVAL '10' MINUTE)`).
#   A stagger window opens at its key's first record on ROWTIME: when the whole file is read
#   within the 10 minutes, every key has one window holding all its records, which is the
#   peers' GROUP BY; a slower run would split keys and fail the check (it says so).
# Peers: DuckDB (the CLI in .tools/bench-venv: `count(*) OVER (PARTITION BY uno ORDER BY tid ROWS
# 9 PRECEDING)`, and GROUP BY uno, minute) and a Python loop (a deque per user; a dict per key).
# Env: N=1000000 RUNS=3; BENCH_DATA=FILE uses that input; KW=path of kds-window (default the
# release build; BENCH_BUILT=1 KW=target/debug/kds-window checks the script without a release
# build, its timings then mean nothing).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
bench_init window_kinds

N=${N:-1000000}
RUNS=${RUNS:-3}
OUT=$BENCH_WORK
RES=bench/results/window_kinds.md
mkdir -p bench/results
PEERS=$BENCH_PEERS_VENV/bin

bench_install_peers
bench_build kds-window kds-gen
KW=${KW:-target/release/kds-window}

if [ -n "${BENCH_DATA:-}" ]; then
    DATA=$BENCH_DATA
    N=$(wc -l <"$DATA")
else
    DATA=$(bench_dataset "$N")
fi
BYTES=$(stat -c %s "$DATA")

# The trades' schema with tnum INTEGER and tuptime TIMESTAMP (kds-window's wide types). Discovery
# sizes a VARCHAR by the longest value among the lines it samples (the first ones), and tid grows
# through the file: it samples the last lines, or tid would be VARCHAR(4) and "10000" cut to
# "1000" (as KDA cuts a value to its schema's length).
# Through a file: kds-window stops reading after its sample, and a pipe from tail would then end
# tail with SIGPIPE (fatal under pipefail).
SCHEMA=$OUT/schema.json
tail -n 1000 "$DATA" >"$OUT/last-lines.ndjson"
$KW --discover --wide-types -n 1000 <"$OUT/last-lines.ndjson" >"$SCHEMA"

SLIDING_SQL=$OUT/sliding.sql
cat >"$SLIDING_SQL" <<'SQL'
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (tid VARCHAR(16), uno VARCHAR(8), n BIGINT, s BIGINT);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM "tid", "uno", COUNT(*) OVER W, SUM("tnum") OVER W
FROM "SOURCE_SQL_STREAM_001"
WINDOW W AS (PARTITION BY "uno" ROWS 9 PRECEDING);
SQL
STAGGER_SQL=$OUT/stagger.sql
cat >"$STAGGER_SQL" <<'SQL'
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (uno VARCHAR(8), minute TIMESTAMP, n BIGINT, s BIGINT);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM "uno", FLOOR("tuptime" TO MINUTE), COUNT(*), SUM("tnum")
FROM "SOURCE_SQL_STREAM_001"
WINDOWED BY STAGGER (PARTITION BY "uno", FLOOR("tuptime" TO MINUTE) RANGE INTERVAL '10' MINUTE);
SQL

# Normalized answers, sorted: sliding "tid uno n s", stagger "uno YYYY-MM-DDTHH:MM n s".
norm_kw_sliding() { python3 -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    print(r["tid"], r["uno"], r["n"], r["s"])' | sort; }
norm_kw_stagger() { python3 -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    print(r["uno"], r["minute"][:16], r["n"], r["s"])' | sort; }
norm_csv() { tail -n +2 | tr "," " " | sort; }
norm_space() { sort; }

declare -a ROWS
declare -A KW_SECS
# run NAME KIND OURS NORMALIZER EXPECTED -- command...: RUNS timed runs, each answer checked.
run() {
    local name=$1 kind=$2 ours=$3 normalizer=$4 expected=$5
    shift 6
    local slug
    slug=$(printf '%s-%s' "$name" "$kind" | tr -c 'A-Za-z0-9-' '-')
    echo "== $name ($kind)"
    bench_checked_runs "$RUNS" "$OUT/$slug.out" "$normalizer" "$expected" rows "$kind" "$name" "$ours" "$N" "$BYTES" -- "$@"
    local secs cpu rss ratio
    secs=$(bench_median "${BT_WALLS[@]}"); cpu=$(bench_median "${BT_CPUS[@]}")
    rss=$(printf '%s\n' "${BT_RSSS[@]}" | sort -n | tail -1)
    [ "$ours" = 1 ] && KW_SECS[$kind]=$secs
    ratio=$(python3 -c "k = ${KW_SECS[$kind]:-0}; print('(under 0.01 s)' if min(k, $secs) < 0.01 else '%.1fx' % ($secs / k))")
    printf "   %s s, max RSS %s KB, answer equal\n" "$secs" "$rss"
    ROWS+=("| $name | $kind | $secs | $cpu | $(python3 -c "print(f'{$N / max($secs, 0.001) / 1e6:.2f}M')") | $ratio | $((rss / 1024)) MiB | equal |")
}

echo "== reference answers (kds-window, untimed)"
$KW --sql "$SLIDING_SQL" --schema "$SCHEMA" "$DATA" | norm_kw_sliding >"$OUT/expected-sliding.norm"
$KW --sql "$STAGGER_SQL" --schema "$SCHEMA" "$DATA" | norm_kw_stagger >"$OUT/expected-stagger.norm"
SLIDING=$OUT/expected-sliding.norm
STAGGER=$OUT/expected-stagger.norm
cat "$DATA" >/dev/null # warm the page cache

run kds-window sliding 1 norm_kw_sliding "$SLIDING" -- "$KW --sql $SLIDING_SQL --schema $SCHEMA $DATA"
run kds-window stagger 1 norm_kw_stagger "$STAGGER" -- "$KW --sql $STAGGER_SQL --schema $SCHEMA $DATA"

# The pinned DuckDB CLI of bench/requirements.txt, else scripts/query's (same pin file).
DUCKDB=$PEERS/duckdb
[ -x "$DUCKDB" ] || DUCKDB=.tools/duckdb/bin/duckdb
if [ -x "$DUCKDB" ]; then
    # tid is the record's number: ordering by it is the file's order, which ROWS counts in.
    sliding_q="SET threads=1; SELECT tid, uno, count(*) OVER w AS n, sum(tnum) OVER w AS s FROM read_ndjson('$DATA', format='newline_delimited', columns={tid:'VARCHAR', uno:'VARCHAR', tnum:'BIGINT'}) WINDOW w AS (PARTITION BY uno ORDER BY CAST(tid AS BIGINT) ROWS 9 PRECEDING)"
    stagger_q="SET threads=1; SELECT uno, strftime(date_trunc('minute', tuptime), '%Y-%m-%dT%H:%M') AS m, count(*) AS n, sum(tnum) AS s FROM read_ndjson('$DATA', format='newline_delimited', columns={uno:'VARCHAR', tnum:'BIGINT', tuptime:'TIMESTAMP'}) GROUP BY uno, m"
    run duckdb sliding 0 norm_csv "$SLIDING" -- "$DUCKDB -csv -c \"$sliding_q\""
    run duckdb stagger 0 norm_csv "$STAGGER" -- "$DUCKDB -csv -c \"$stagger_q\""
else
    ROWS+=("| duckdb | not installed | | | | | | |")
fi
PY=$OUT/window_kinds.py
cat >"$PY" <<'PYTHON'
import collections, json, sys
kind, path = sys.argv[1], sys.argv[2]
if kind == "sliding":
    last = collections.defaultdict(lambda: collections.deque(maxlen=10))
    out = sys.stdout
    for line in open(path, "rb"):
        r = json.loads(line)
        d = last[r["uno"]]
        d.append(r["tnum"])
        out.write(f'{r["tid"]} {r["uno"]} {len(d)} {sum(d)}\n')
else:
    n, s = collections.Counter(), collections.Counter()
    for line in open(path, "rb"):
        r = json.loads(line)
        k = (r["uno"], r["tuptime"][:16])
        n[k] += 1
        s[k] += r["tnum"]
    for (u, m), c in n.items():
        print(u, m, c, s[(u, m)])
PYTHON
run python-json sliding 0 norm_space "$SLIDING" -- "python3 $PY sliding $DATA"
run python-json stagger 0 norm_space "$STAGGER" -- "python3 $PY stagger $DATA"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
bench_summarize

{
    echo "# kds-window window kinds benchmark"
    echo
    echo "Sliding: COUNT(*) and SUM(tnum) over each user's last 10 records, one row per record."
    echo "Stagger: COUNT(*) and SUM(tnum) per user and event minute (\`WINDOWED BY STAGGER\`, 10-minute range)."
    echo "Median of $RUNS runs; every answer normalized and compared with kds-window's before its time counts."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $(git rev-parse --short HEAD)"
    echo "- machine: $(bench_machine)"
    echo "- input: $N lines, $((BYTES / 1000000)) MB of kds-gen trades"
    echo "- load average (1/5/15 min) before: $BENCH_LOAD_BEFORE, after: $LOAD_AFTER"
    echo "- peers: $(bench_peer_versions), $(python3 --version)"
    echo
    echo "| tool | window | seconds | CPU seconds | lines/s | row's time / kds-window's | max RSS | answer |"
    echo "|---|---|---|---|---|---|---|---|"
    for r in "${ROWS[@]}"; do echo "$r"; done
} >"$RES"
echo
cat "$RES"
