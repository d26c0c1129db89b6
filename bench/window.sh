#!/usr/bin/env bash
# Benchmark: kds-window against jq, Miller, DuckDB and Python on the lab query
# (count and sum of tnum per minute), on event time (tuptime) so every tool computes the same
# windows. Not a test: it writes bench/out/window.tsv (see bench/lib.sh) and bench/results/window.md.
#
#   bench/window.sh            # 10M lines (N=...), peers that are slow get a 1M subset (SUB=...)
#
# Env: N=10000000 SUB=1000000 RUNS=3 (runs of the fast contenders) SLOW_RUNS=1 (jq, Miller,
# Python json on the subset) ORJSON_RUNS=$RUNS; BENCH_DATA=FILE uses that input instead of
# generating N lines.
# Needs: cargo, /usr/bin/time (GNU), jq, mlr (apt-get install miller), and in .tools/venv:
# duckdb-cli, orjson (.tools/venv/bin/pip install duckdb-cli orjson). Missing peers are skipped
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
VENV=.tools/venv/bin

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
KW_RATE=""
# run NAME CASE OURS RUNS INPUT_LINES INPUT_BYTES INPUT_DESC NORMALIZER EXPECTED_FILE -- command...
run() {
    local name=$1 case=$2 ours=$3 runs=$4 lines=$5 bytes=$6 desc=$7 normalizer=$8 expected=$9
    shift 10
    local raw=$OUT/$name.out walls=() rsss=() cpus=()
    echo "== $name ($desc)"
    for _ in $(seq "$runs"); do
        sync
        bench_time "$raw" bash -c "$*" || bench_check_fail "$name" "failed (see $raw.err)"
        $normalizer <"$raw" >"$OUT/$name.norm"
        if ! cmp -s "$OUT/$name.norm" "$expected"; then
            diff "$expected" "$OUT/$name.norm" | head -5 >&2
            bench_check_fail "$name" "output differs from kds-window's ($OUT/$name.norm vs $expected)"
        fi
        bench_sample "$case" "$name" "$ours" "$lines" "$bytes" "same $(wc -l <"$expected") windows"
        walls+=("$BT_WALL"); cpus+=("$BT_CPU"); rsss+=("$BT_RSS")
    done
    local secs cpu rss rate ratio
    secs=$(bench_median "${walls[@]}"); cpu=$(bench_median "${cpus[@]}")
    rss=$(printf '%s\n' "${rsss[@]}" | sort -n | tail -1)
    rate=$(python3 -c "print(round($lines / max($secs, 0.001)))")
    [ -z "$KW_RATE" ] && KW_RATE=$rate
    ratio=$(python3 -c "print('%.1fx' % ($KW_RATE / $rate))")
    printf "   %s s, %s lines/s, max RSS %s KB, output equal\n" "$secs" "$rate" "$rss"
    ROWS+=("| $name | $desc | $secs | $cpu | $(python3 -c "print(f'{$rate/1e6:.2f}M')") | $ratio | $((rss / 1024)) MiB | equal |")
}

echo "== reference outputs (kds-window, untimed)"
$KW --time event:tuptime "$DATA" | norm_kw >"$OUT/expected-full.norm"
$KW --time event:tuptime "$SUBDATA" | norm_kw >"$OUT/expected-sub.norm"
FULL=$OUT/expected-full.norm
SUBN=$OUT/expected-sub.norm
cat "$DATA" >/dev/null # warm the page cache

F1="file, 1 thread"
P1="pipe, 1 thread"
F2="file, 2 threads"
run kds-window "$F1" 1 "$RUNS" "$N" "$BYTES" "file, 1 thread" norm_kw "$FULL" -- "$KW --time event:tuptime $DATA"
run kds-window-pipe "$P1" 1 "$RUNS" "$N" "$BYTES" "pipe (cat |), 1 thread" norm_kw "$FULL" -- "cat $DATA | $KW --time event:tuptime"
run kds-window-2threads "$F2" 1 "$RUNS" "$N" "$BYTES" "file, --threads 2" norm_kw "$FULL" -- "$KW --time event:tuptime --threads 2 $DATA"

if [ -x "$VENV/duckdb" ]; then
    # CSV mode SELECT (COPY ... TO '/dev/stdout' writes nothing when stdin is a pipe).
    q() { echo "SET TimeZone='UTC'; SET threads=$1; SELECT strftime(time_bucket(INTERVAL 60 SECOND, tuptime), '%Y-%m-%dT%H:%M') AS m, count(*) AS c, sum(tnum) AS s FROM read_ndjson('$2', columns={tuptime:'TIMESTAMPTZ', tnum:'BIGINT'}) GROUP BY m ORDER BY m"; }
    run duckdb-1thread "$F1" 0 "$RUNS" "$N" "$BYTES" "file, threads=1" norm_csv "$FULL" -- "$VENV/duckdb -csv -c \"$(q 1 "$DATA")\""
    run duckdb-1thread-pipe "$P1" 0 "$RUNS" "$N" "$BYTES" "pipe (cat |), threads=1" norm_csv "$FULL" -- "cat $DATA | $VENV/duckdb -csv -c \"$(q 1 /dev/stdin)\""
    run duckdb-2threads "$F2" 0 "$RUNS" "$N" "$BYTES" "file, threads=2" norm_csv "$FULL" -- "$VENV/duckdb -csv -c \"$(q 2 "$DATA")\""
else
    ROWS+=("| duckdb | not installed | | | | | | |")
fi
if "$VENV/python" -c "import orjson" 2>/dev/null; then
    run python-orjson "$F1" 0 "$ORJSON_RUNS" "$N" "$BYTES" "file, orjson" norm_space "$FULL" -- "$VENV/python bench/peers/window_python.py orjson $DATA"
else
    ROWS+=("| python-orjson | not installed | | | | | | |")
fi
run python-json "$F1" 0 "$SLOW_RUNS" "$SUB" "$SUBBYTES" "$SUB-line subset, json" norm_space "$SUBN" -- "python3 bench/peers/window_python.py json $SUBDATA"
if command -v mlr >/dev/null; then
    run miller "$F1" 0 "$SLOW_RUNS" "$SUB" "$SUBBYTES" "$SUB-line subset" norm_csv "$SUBN" -- "mlr --ijson --ocsv put -q 'begin{@c={};@s={}} m=substr(\$tuptime,0,15); @c[m] += 1; @s[m] += \$tnum; end{print \"m,c,s\"; for(k,v in @c){print k.\",\".v.\",\".@s[k]}}' $SUBDATA"
else
    ROWS+=("| miller | not installed | | | | | | |")
fi
run jq "$F1" 0 "$SLOW_RUNS" "$SUB" "$SUBBYTES" "$SUB-line subset, group_by" norm_space "$SUBN" -- "jq -rn '[inputs | {m: .tuptime[0:16], t: .tnum}] | group_by(.m) | .[] | \"\\(.[0].m) \\(length) \\(map(.t) | add)\"' $SUBDATA"
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
    echo "- peers: $(jq --version), $(mlr --version 2>/dev/null || echo 'no miller'), duckdb $("$VENV/duckdb" --version 2>/dev/null | cut -d' ' -f1 || echo none), $(python3 --version), orjson $("$VENV/python" -c 'import orjson; print(orjson.__version__)' 2>/dev/null || echo none)"
    echo
    echo "| tool | input | seconds | CPU seconds | lines/s | kds-window (file, 1 thread) is | max RSS | output |"
    echo "|---|---|---|---|---|---|---|---|"
    for r in "${ROWS[@]}"; do echo "$r"; done
    echo
    echo "Ratio: kds-window's single-thread file rate divided by the row's rate (>1 = kds-window faster)."
} >"$RES"
echo
cat "$RES"
