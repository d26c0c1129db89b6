#!/usr/bin/env bash
# Benchmark: kds-window against jq, Miller, DuckDB and Python on the lab query
# (count and sum of tnum per minute), on event time (tuptime) so every tool computes the same
# windows. Not a test: it prints and writes bench/results/window.md.
#
#   bench/window.sh            # 10M lines (N=...), peers that are slow get a 1M subset (SUB=...)
#
# Needs: cargo, /usr/bin/time (GNU), jq, mlr (apt-get install miller), and in .tools/venv:
# duckdb-cli, orjson (.tools/venv/bin/pip install duckdb-cli orjson). Missing peers are skipped
# and said so in the results.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${N:-10000000}
SUB=${SUB:-1000000}
OUT=bench/out
RES=bench/results/window.md
mkdir -p "$OUT" bench/results
VENV=.tools/venv/bin
TIME=/usr/bin/time

# SKIP_BUILD=1 uses the binaries already in target/release (or KW=/path/to/kds-window).
if [ -z "${SKIP_BUILD:-}" ]; then
    echo "== building release"
    cargo build --release -p kds-window >/dev/null 2>&1
    [ -d gen ] && cargo build --release -p kds-gen >/dev/null 2>&1 || true
fi
KW=${KW:-target/release/kds-window}
GEN=""
[ -x target/release/kds-gen ] && GEN=target/release/kds-gen

DATA=$OUT/window-$N.ndjson
SUBDATA=$OUT/window-$SUB.ndjson
if [ ! -s "$DATA" ]; then
    echo "== generating $N lines"
    if [ -n "$GEN" ]; then
        # 1000 events per simulated second: 10M lines span 2h46m, 167 windows.
        "$GEN" --rate 1000 --seed 1 -n "$N" --simulated-clock --start 2021-03-19T00:00:00Z 2021-03-19 >"$DATA"
    else
        python3 bench/peers/window_gen.py "$N" >"$DATA"
    fi
fi
[ -s "$SUBDATA" ] || head -n "$SUB" "$DATA" >"$SUBDATA"
BYTES=$(stat -c %s "$DATA")

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
# run NAME INPUT_LINES INPUT_DESC NORMALIZER EXPECTED_FILE -- command...
run() {
    local name=$1 lines=$2 desc=$3 normalizer=$4 expected=$5
    shift 6
    local raw=$OUT/window-$name.out tfile=$OUT/window-$name.time
    echo "== $name ($desc)"
    sync
    if ! $TIME -f "%e %M %U %S" -o "$tfile" bash -c "$*" >"$raw" 2>"$OUT/window-$name.err"; then
        echo "   FAILED: $(tail -1 "$OUT/window-$name.err")"
        ROWS+=("| $name | $desc | failed | | | | | |")
        return
    fi
    local secs rss usr sys
    read -r secs rss usr sys <"$tfile"
    local cpu
    cpu=$(python3 -c "print('%.2f' % ($usr + $sys))")
    $normalizer <"$raw" >"$OUT/window-$name.norm"
    local check="equal"
    if ! cmp -s "$OUT/window-$name.norm" "$expected"; then
        check="DIFFERENT"
    fi
    local rate
    rate=$(python3 -c "print(round($lines / max($secs, 0.001)))")
    [ -z "$KW_RATE" ] && KW_RATE=$rate
    local ratio
    ratio=$(python3 -c "print('%.1fx' % ($KW_RATE / $rate))")
    printf "   %s s, %s lines/s, max RSS %s KB, output %s\n" "$secs" "$rate" "$rss" "$check"
    ROWS+=("| $name | $desc | $secs | $cpu | $(python3 -c "print(f'{$rate/1e6:.2f}M')") | $ratio | $((rss / 1024)) MiB | $check |")
}

echo "== reference outputs (kds-window, untimed)"
$KW --time event:tuptime "$DATA" | norm_kw >"$OUT/window-expected-full.norm"
$KW --time event:tuptime "$SUBDATA" | norm_kw >"$OUT/window-expected-sub.norm"
FULL=$OUT/window-expected-full.norm
SUBN=$OUT/window-expected-sub.norm
cat "$DATA" >/dev/null # warm the page cache

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
run kds-window-file "$N" "file, 1 thread" norm_kw "$FULL" -- "$KW --time event:tuptime $DATA"
run kds-window-pipe "$N" "pipe from cat, 1 thread" norm_kw "$FULL" -- "cat $DATA | $KW --time event:tuptime"
run kds-window-2threads "$N" "file, --threads 2" norm_kw "$FULL" -- "$KW --time event:tuptime --threads 2 $DATA"

if [ -x "$VENV/duckdb" ]; then
    Q="SET TimeZone='UTC'; COPY (SELECT strftime(time_bucket(INTERVAL 60 SECOND, tuptime), '%Y-%m-%dT%H:%M') AS m, count(*) AS c, sum(tnum) AS s FROM read_ndjson('$DATA', columns={tuptime:'TIMESTAMPTZ', tnum:'BIGINT'}) GROUP BY m ORDER BY m) TO '/dev/stdout' (FORMAT csv, HEADER)"
    run duckdb-1thread "$N" "file, threads=1" norm_csv "$FULL" -- "$VENV/duckdb -c \"SET threads=1; $Q\""
    run duckdb-2threads "$N" "file, threads=2" norm_csv "$FULL" -- "$VENV/duckdb -c \"SET threads=2; $Q\""
else
    ROWS+=("| duckdb | not installed | | | | | | |")
fi
if "$VENV/python" -c "import orjson" 2>/dev/null; then
    run python-orjson "$N" "file, orjson" norm_space "$FULL" -- "$VENV/python bench/peers/window_python.py orjson $DATA"
fi
run python-json "$SUB" "$SUB-line subset, json" norm_space "$SUBN" -- "python3 bench/peers/window_python.py json $SUBDATA"
if command -v mlr >/dev/null; then
    run miller "$SUB" "$SUB-line subset" norm_csv "$SUBN" -- "mlr --ijson --ocsv put -q 'begin{@c={};@s={}} m=substr(\$tuptime,0,15); @c[m] += 1; @s[m] += \$tnum; end{print \"m,c,s\"; for(k,v in @c){print k.\",\".v.\",\".@s[k]}}' $SUBDATA"
else
    ROWS+=("| miller | not installed | | | | | | |")
fi
run jq "$SUB" "$SUB-line subset, group_by" norm_space "$SUBN" -- "jq -rn '[inputs | {m: .tuptime[0:16], t: .tnum}] | group_by(.m) | .[] | \"\\(.[0].m) \\(length) \\(map(.t) | add)\"' $SUBDATA"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

{
    echo "# kds-window benchmark"
    echo
    echo "Query: count(*) and sum(tnum) per 60 s tumbling window on event time (\`--time event:tuptime\`),"
    echo "the lab query with a time basis every tool can compute. One run each; outputs normalized to"
    echo "(minute, count, sum) and compared with kds-window's before reporting."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $(git rev-parse --short HEAD)"
    echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem/{print $2}') GiB RAM, $(uname -sr)"
    echo "- input: $N lines, $((BYTES / 1000000)) MB, $( [ -n "$GEN" ] && echo "kds-gen --rate 1000 --seed 1 --simulated-clock --start 2021-03-19T00:00:00Z" || echo "bench/peers/window_gen.py"); slow peers read the first $SUB lines and are rated on those"
    echo "- load average (1/5/15 min) before: $LOAD_BEFORE, after: $LOAD_AFTER (other helpers were building on the same 2 cores)"
    echo "- peers: $(jq --version), $(mlr --version 2>/dev/null || echo 'no miller'), duckdb $("$VENV/duckdb" --version 2>/dev/null | cut -d' ' -f1 || echo none), $(python3 --version), orjson $("$VENV/python" -c 'import orjson; print(orjson.__version__)' 2>/dev/null || echo none)"
    echo
    echo "| tool | input | wall s | CPU s (user+sys) | lines/s (wall) | kds-window (file, 1 thread) is | max RSS | output |"
    echo "|---|---|---|---|---|---|---|---|"
    for r in "${ROWS[@]}"; do echo "$r"; done
    echo
    echo "Ratio: kds-window's single-thread file rate divided by the row's rate (>1 = kds-window faster)."
    echo "Rates are wall-clock on a shared, loaded machine; CPU seconds include every process of the"
    echo "command (\`cat\` for the pipe row, both threads for --threads 2)."
} >"$RES"
echo
cat "$RES"
