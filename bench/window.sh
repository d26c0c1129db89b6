#!/usr/bin/env bash
# Benchmark: kds-window against DuckDB, Polars, chDB, DataFusion, Python, Miller and jq on the lab
# query (count and sum of tnum per minute), on event time (tuptime) so every tool computes the same
# windows; each peer in the fastest formulation we found (bench/peers/window_engines.py says why).
# Not a test: it writes bench/out/window.tsv (see bench/lib.sh), bench/out/window-peers.tsv (each
# contender's formulation, for RESULTS.md) and bench/results/window.md.
#
#   bench/window.sh            # 10M lines (N=...), peers that are slow get a 1M subset (SUB=...)
#
# Cases: from a file and through a pipe (`cat FILE |`), at 1 and 2 threads, for kds-window and the
# engine peers (DuckDB, Polars, chDB, DataFusion); the single-threaded peers (Python, Miller, jq)
# read the file.
# Env: N=10000000 SUB=1000000 RUNS=3 (runs of the fast contenders) SLOW_RUNS=1 (jq, Miller,
# Python json on the subset; DuckDB's earlier query) ORJSON_RUNS=$RUNS; BENCH_DATA=FILE uses that
# input instead of generating N lines.
# Needs: cargo, /usr/bin/time (GNU), jq, mlr (apt-get install miller), and the pinned peers of
# bench/requirements.txt in .tools/bench-venv (bench/run installs them). Missing peers are skipped
# and said so in the results. Every contender's output must equal kds-window's, or the run fails.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
bench_init window

N=${N:-10000000}
SUB=${SUB:-1000000}
RUNS=${RUNS:-3}
SLOW_RUNS=${SLOW_RUNS:-1}
ORJSON_RUNS=${ORJSON_RUNS:-$RUNS}
OUT=$BENCH_WORK
RES=bench/results/window.md
mkdir -p bench/results
PEERS=$BENCH_PEERS_VENV/bin
PEERS_TSV=$BENCH_OUT/window-peers.tsv

bench_install_peers
bench_build kds-window kds-gen
KW=target/release/kds-window

# 1000 events per simulated second: 10M lines span 2h46m, 167 windows.
if [ -n "${BENCH_DATA:-}" ]; then
    DATA=$BENCH_DATA
    N=$(wc -l <"$DATA")
else
    DATA=$(bench_dataset "$N")
fi
if [ "$SUB" -ge "$N" ]; then
    SUB=$N
    SUBDATA=$DATA
else
    SUBDATA=$OUT/subset-$SUB.ndjson
    head -n "$SUB" "$DATA" >"$SUBDATA"
fi
BYTES=$(stat -c %s "$DATA")
SUBBYTES=$(stat -c %s "$SUBDATA")

# Normalized result: "YYYY-MM-DDTHH:MM count sum", sorted.
norm_kw() { python3 -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    print(r["window_start"][:16], r["count_tno"], r["sum_tnum"])' | sort; }
norm_csv() { tail -n +2 | tr "," " " | sort; }
norm_space() { sort; }

declare -a ROWS
declare -A KW_RATE KW_SECS # case -> kds-window's lines/s and median seconds in that case
# run NAME CASE OURS RUNS INPUT_LINES INPUT_BYTES NORMALIZER EXPECTED_FILE -- command...
run() {
    local name=$1 case=$2 ours=$3 runs=$4 lines=$5 bytes=$6 normalizer=$7 expected=$8
    shift 9
    local slug
    slug=$(printf '%s-%s' "$name" "$case" | tr -c 'A-Za-z0-9-' '-')
    echo "== $name ($case)"
    bench_checked_runs "$runs" "$OUT/$slug.out" "$normalizer" "$expected" windows "$case" "$name" "$ours" "$lines" "$bytes" -- "$@"
    local secs cpu rss rate ratio
    secs=$(bench_median "${BT_WALLS[@]}"); cpu=$(bench_median "${BT_CPUS[@]}")
    rss=$(printf '%s\n' "${BT_RSSS[@]}" | sort -n | tail -1)
    # A float: the startup case reads one line, under one line per second for the slower peers.
    rate=$(python3 -c "print($lines / max($secs, 0.001))")
    [ "$ours" = 1 ] && KW_RATE[$case]=$rate && KW_SECS[$case]=$secs
    # Below GNU time's 10 ms resolution (kds-window's startup) a ratio would be made up.
    ratio=$(python3 -c "print('(kds-window < 0.01 s)' if ${KW_SECS[$case]:-1} < 0.01 else '%.1fx' % (${KW_RATE[$case]:-0} / $rate))")
    printf "   %s s, %.0f lines/s, max RSS %s KB, output equal\n" "$secs" "$rate" "$rss"
    ROWS+=("| $name | $case | $secs | $cpu | $(python3 -c "print(f'{$rate/1e6:.2f}M' if $rate >= 1e4 else f'{$rate:.1f}')") | $ratio | $((rss / 1024)) MiB | equal |")
}
# peer NAME FORMULATION: records how a contender answers (RESULTS.md shows it under the table).
peer() { printf '%s\t%s\n' "$1" "$2" >>"$PEERS_TSV"; }
# cannot NAME CASE WHY: a case a contender cannot run (reported, not timed).
cannot() {
    printf '%s\t%s\n' "$1" "cannot run \"$2\": $3" >>"$PEERS_TSV"
    ROWS+=("| $1 | $2 | – | – | – | – | – | $3 |")
}

echo "== reference outputs (kds-window, untimed)"
$KW --time event:tuptime "$DATA" | norm_kw >"$OUT/expected-full.norm"
$KW --time event:tuptime "$SUBDATA" | norm_kw >"$OUT/expected-sub.norm"
# One line: what starting the contender costs (Python, the engine's import, its setup), to be read
# beside the 1M-line --quick figures, where it is a large part of a peer's time.
ONE=$OUT/one-line.ndjson
head -n 1 "$DATA" >"$ONE"
$KW --time event:tuptime "$ONE" | norm_kw >"$OUT/expected-one.norm"
FULL=$OUT/expected-full.norm
SUBN=$OUT/expected-sub.norm
ONEN=$OUT/expected-one.norm
cat "$DATA" >/dev/null # warm the page cache
: >"$PEERS_TSV"

F1="file, 1 thread"
F2="file, 2 threads"
P1="pipe, 1 thread"
P2="pipe, 2 threads"
S1="startup (1-line file)"
# Every engine contender in the four cases; PIPE is what the pipe cases read (`cat DATA |`).
PIPE="cat $DATA |"

peer kds-window "\`kds-window --time event:tuptime [--threads 2] FILE\` (the lab query's defaults: 60 s windows, count(*) and sum(tnum)); through a pipe \`kds-window\` reads stdin on one thread: \`--threads\` splits files across threads and refuses stdin, so its \"pipe, 2 threads\" row is the one-thread pipe run"
run kds-window "$F1" 1 "$RUNS" "$N" "$BYTES" norm_kw "$FULL" -- "$KW --time event:tuptime $DATA"
run kds-window "$F2" 1 "$RUNS" "$N" "$BYTES" norm_kw "$FULL" -- "$KW --time event:tuptime --threads 2 $DATA"
run kds-window "$P1" 1 "$RUNS" "$N" "$BYTES" norm_kw "$FULL" -- "$PIPE $KW --time event:tuptime"
# --threads splits files, not stdin (kds-window refuses `--threads` without FILE): with two
# threads to spare, kds-window still reads a pipe on one, and that is what the peers meet here.
run "kds-window (one thread)" "$P2" 1 "$RUNS" "$N" "$BYTES" norm_kw "$FULL" -- "$PIPE $KW --time event:tuptime"
run kds-window "$S1" 1 "$RUNS" 1 "$(stat -c %s "$ONE")" norm_kw "$ONEN" -- "$KW --time event:tuptime $ONE"

if [ -x "$PEERS/duckdb" ]; then
    # DuckDB's fastest formulation we found: explicit column types (no sampling of the file to
    # infer a schema, the other five fields skipped), tuptime read as TIMESTAMP (parsed without a
    # time zone: TIMESTAMPTZ goes through ICU), the minute as arithmetic on the epoch (a number to
    # group on, no calendar logic per row) and the minute's text formatted only for the result rows.
    # The earlier query (TIMESTAMPTZ, time_bucket, strftime on every row before grouping on the
    # strings) runs once beside it so the difference stays visible.
    # CSV mode SELECT (COPY ... TO '/dev/stdout' writes nothing when stdin is a pipe).
    best() { echo "SET threads=$1; SELECT strftime(make_timestamp(CAST(m AS BIGINT) * 60000000), '%Y-%m-%dT%H:%M') AS m, c, s FROM (SELECT floor(epoch(tuptime) / 60) AS m, count(*) AS c, sum(tnum) AS s FROM read_ndjson('$2', format='newline_delimited', columns={tnum:'INTEGER', tuptime:'TIMESTAMP'}) GROUP BY m) ORDER BY m"; }
    earlier() { echo "SET TimeZone='UTC'; SET threads=$1; SELECT strftime(time_bucket(INTERVAL 60 SECOND, tuptime), '%Y-%m-%dT%H:%M') AS m, count(*) AS c, sum(tnum) AS s FROM read_ndjson('$2', columns={tuptime:'TIMESTAMPTZ', tnum:'BIGINT'}) GROUP BY m ORDER BY m"; }
    peer duckdb "\`duckdb -csv -c \"$(best N FILE)\"\` (FILE is /dev/stdin through a pipe): explicit column types, TIMESTAMP rather than TIMESTAMPTZ (no ICU time-zone logic per row), the minute as arithmetic on the epoch (a number to group on) and formatted only for the result rows"
    peer "duckdb, earlier query" "\`$(earlier 1 FILE)\`: the query of the earlier RESULTS.md (TIMESTAMPTZ, time_bucket, strftime on every row, grouping on strings), one run for comparison"
    run duckdb "$F1" 0 "$RUNS" "$N" "$BYTES" norm_csv "$FULL" -- "$PEERS/duckdb -csv -c \"$(best 1 "$DATA")\""
    run duckdb "$F2" 0 "$RUNS" "$N" "$BYTES" norm_csv "$FULL" -- "$PEERS/duckdb -csv -c \"$(best 2 "$DATA")\""
    run duckdb "$P1" 0 "$RUNS" "$N" "$BYTES" norm_csv "$FULL" -- "$PIPE $PEERS/duckdb -csv -c \"$(best 1 /dev/stdin)\""
    run duckdb "$P2" 0 "$RUNS" "$N" "$BYTES" norm_csv "$FULL" -- "$PIPE $PEERS/duckdb -csv -c \"$(best 2 /dev/stdin)\""
    run "duckdb, earlier query" "$F1" 0 "$SLOW_RUNS" "$N" "$BYTES" norm_csv "$FULL" -- "$PEERS/duckdb -csv -c \"$(earlier 1 "$DATA")\""
    run duckdb "$S1" 0 "$RUNS" 1 "$(stat -c %s "$ONE")" norm_csv "$ONEN" -- "$PEERS/duckdb -csv -c \"$(best 1 "$ONE")\""
else
    ROWS+=("| duckdb | not installed | | | | | | |")
fi

# Polars, chDB and DataFusion: bench/peers/window_engines.py (formulations and why there).
ENGINES="$PEERS/python bench/peers/window_engines.py"
if $ENGINES --describe >"$OUT/engines.tsv" 2>"$OUT/engines.err"; then
    cat "$OUT/engines.tsv" >>"$PEERS_TSV"
    for e in polars chdb datafusion; do
        run "$e" "$F1" 0 "$RUNS" "$N" "$BYTES" norm_space "$FULL" -- "$ENGINES $e 1 $DATA"
        run "$e" "$F2" 0 "$RUNS" "$N" "$BYTES" norm_space "$FULL" -- "$ENGINES $e 2 $DATA"
        if [ "$e" = datafusion ]; then
            why="its NDJSON reader takes the input's length from stat(), which is 0 for a pipe, and answers with no rows"
            cannot datafusion "$P1" "$why"
            cannot datafusion "$P2" "$why"
            continue
        fi
        run "$e" "$P1" 0 "$RUNS" "$N" "$BYTES" norm_space "$FULL" -- "$PIPE $ENGINES $e 1 /dev/stdin"
        run "$e" "$P2" 0 "$RUNS" "$N" "$BYTES" norm_space "$FULL" -- "$PIPE $ENGINES $e 2 /dev/stdin"
    done
    for e in polars chdb datafusion; do
        run "$e" "$S1" 0 "$RUNS" 1 "$(stat -c %s "$ONE")" norm_space "$ONEN" -- "$ENGINES $e 1 $ONE"
    done
else
    cat "$OUT/engines.err" >&2
    ROWS+=("| polars, chdb, datafusion | not installed (see $OUT/engines.err) | | | | | | |")
fi

if [ -x "$PEERS/python" ] && "$PEERS/python" -c "import orjson" 2>/dev/null; then
    peer python-orjson "bench/peers/window_python.py: a loop over the lines with orjson.loads, minute = tuptime[:16], two dicts"
    run python-orjson "$F1" 0 "$ORJSON_RUNS" "$N" "$BYTES" norm_space "$FULL" -- "$PEERS/python bench/peers/window_python.py orjson $DATA"
else
    ROWS+=("| python-orjson | not installed | | | | | | |")
fi
peer python-json "the same loop with the standard library's json.loads, on the first $SUB lines"
run python-json "$F1" 0 "$SLOW_RUNS" "$SUB" "$SUBBYTES" norm_space "$SUBN" -- "python3 bench/peers/window_python.py json $SUBDATA"
if command -v mlr >/dev/null; then
    peer miller "\`mlr --ijson --ocsv put -q\` with two maps keyed by substr(tuptime, 0, 15), on the first $SUB lines"
    run miller "$F1" 0 "$SLOW_RUNS" "$SUB" "$SUBBYTES" norm_csv "$SUBN" -- "mlr --ijson --ocsv put -q 'begin{@c={};@s={}} m=substr(\$tuptime,0,15); @c[m] += 1; @s[m] += \$tnum; end{print \"m,c,s\"; for(k,v in @c){print k.\",\".v.\",\".@s[k]}}' $SUBDATA"
else
    ROWS+=("| miller | not installed | | | | | | |")
fi
peer jq "\`jq -rn '[inputs | {m: .tuptime[0:16], t: .tnum}] | group_by(.m) | ...'\` on the first $SUB lines"
run jq "$F1" 0 "$SLOW_RUNS" "$SUB" "$SUBBYTES" norm_space "$SUBN" -- "jq -rn '[inputs | {m: .tuptime[0:16], t: .tnum}] | group_by(.m) | .[] | \"\\(.[0].m) \\(length) \\(map(.t) | add)\"' $SUBDATA"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
bench_summarize

{
    echo "# kds-window benchmark"
    echo
    echo "Query: count(*) and sum(tnum) per 60 s tumbling window on event time (\`--time event:tuptime\`),"
    echo "the lab query with a time basis every tool can compute. Median of $RUNS runs ($SLOW_RUNS for the"
    echo "subset peers, $ORJSON_RUNS for orjson); every run's output normalized to (minute, count, sum) and compared with"
    echo "kds-window's before its time counts (a difference fails the benchmark)."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $(git rev-parse --short HEAD)"
    echo "- machine: $(bench_machine)"
    echo "- input: $N lines, $((BYTES / 1000000)) MB, kds-gen --rate 1000 --seed 1 --simulated-clock --start 2021-03-19T00:00:00Z; slow peers read the first $SUB lines and are rated on those"
    echo "- load average (1/5/15 min) before: $BENCH_LOAD_BEFORE, after: $LOAD_AFTER"
    echo "- peers: $(jq --version), $(mlr --version 2>/dev/null || echo 'no miller'), $(bench_peer_versions), $(python3 --version)"
    echo
    echo "| tool | case | seconds | CPU seconds | lines/s | kds-window (same case) is | max RSS | output |"
    echo "|---|---|---|---|---|---|---|---|"
    for r in "${ROWS[@]}"; do echo "$r"; done
    echo
    echo "Ratio: kds-window's rate in the same case divided by the row's rate (>1 = kds-window faster)."
    echo
    echo "How each contender answers:"
    echo
    awk -F'\t' '{printf "- %s: %s\n", $1, $2}' "$PEERS_TSV"
} >"$RES"
echo
cat "$RES"
