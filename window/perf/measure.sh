#!/usr/bin/env bash
# Instructions and simulated branch misses per line of kds-window (valgrind cachegrind), and
# wall time, on the cases of window/README.md's "Per-line cost" table. Deterministic where
# wall time is not: use it to judge a change on a shared, loaded machine.
#
#   window/perf/measure.sh            # table on stdout (markdown), data under $PERF_DIR
#
# Env: N=1000000 lines; PERF_DIR=target/perf (data, cachegrind outputs); PERF_TARGET=target/perf-release
# (a release build of its own, with line tables so `cg_annotate` can point at lines);
# RUNS=3 wall-time runs (median); KW=BINARY (and KG=kds-gen) measure a given build instead.
# Needs valgrind, python3.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/../.."

N=${N:-1000000}
RUNS=${RUNS:-3}
PERF_DIR=${PERF_DIR:-target/perf}
PERF_TARGET=${PERF_TARGET:-target/perf-release}
mkdir -p "$PERF_DIR"

if [ -z "${KW:-}" ]; then
    CARGO_TARGET_DIR=$PERF_TARGET CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
        cargo build --release -q -p kds-window -p kds-gen
    KW=$PERF_TARGET/release/kds-window
fi
KG=${KG:-$PERF_TARGET/release/kds-gen}
TRADES=$PERF_DIR/trades-$N.ndjson
ENVELOPES=$PERF_DIR/envelopes-$N.ndjson
LAB_SQL=window/perf/lab1.sql  # the lab's KDA query

if [ ! -s "$TRADES" ]; then
    # The benchmarks' deterministic trades (bench/lib.sh's kds-gen arguments).
    # shellcheck source=bench/lib.sh
    . bench/lib.sh
    "$KG" "${BENCH_GEN_ARGS[@]}" -n "$N" > "$TRADES"
fi
if [ ! -s "$ENVELOPES" ]; then
    # Each trade as `kds-tail --envelope` writes it (tail/src/output.rs's member order, data
    # verbatim), two shards alternating, arrival one millisecond apart.
    python3 - "$TRADES" "$ENVELOPES" <<'EOF'
import sys, datetime
start = datetime.datetime(2021, 3, 19, tzinfo=datetime.timezone.utc)
with open(sys.argv[1], "rb") as src, open(sys.argv[2], "wb") as dst:
    for i, line in enumerate(src):
        t = start + datetime.timedelta(milliseconds=i)
        arrival = t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)
        seq = "49617394928393827393640292013847593023847561029384%06d" % i
        dst.write(b'{"shard_id":"shardId-00000000000%d","sequence_number":"%s",'
                  b'"partition_key":"AwGi2021031900%04d","arrival":"%s","data":%s}\n'
                  % (i % 2, seq.encode(), i % 10000, arrival.encode(), line.rstrip(b"\n")))
EOF
fi

# name | input file | how it is fed (file or pipe) | flags
CASES=(
    "file, --time event:tuptime|$TRADES|file|--time event:tuptime"
    "file, lab query (rowtime)|$TRADES|file|"
    "file, --sql lab1.sql|$TRADES|file|--sql $LAB_SQL"
    "stdin pipe, --time event:tuptime|$TRADES|pipe|--time event:tuptime"
    "file, kds-tail --envelope, --time arrival|$ENVELOPES|file|--time arrival"
)

run_case() { # feed file flags... (stdout discarded)
    local feed=$1 file=$2
    shift 2
    if [ "$feed" = pipe ]; then
        cat "$file" | "$@" > /dev/null
    else
        "$@" "$file" > /dev/null
    fi
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "| case | instructions/line | branch misses/line | wall s (median of $RUNS) | lines/s | load avg |"
echo "|---|---:|---:|---:|---:|---:|"
for case in "${CASES[@]}"; do
    IFS='|' read -r name file feed flags <<< "$case"
    slug=$(echo "$name" | tr -c 'a-z0-9' '-')
    # shellcheck disable=SC2086
    run_case "$feed" "$file" valgrind --tool=cachegrind --cache-sim=no --branch-sim=yes \
        --cachegrind-out-file="$PERF_DIR/cg-$slug.out" "$KW" $flags 2> "$PERF_DIR/cg-$slug.log"
    ir=$(awk '/I *refs:/ {gsub(",", "", $NF); print $NF}' "$PERF_DIR/cg-$slug.log")
    mis=$(awk '/Mispredicts:/ {gsub(",", "", $3); print $3}' "$PERF_DIR/cg-$slug.log")
    times=()
    for _ in $(seq "$RUNS"); do
        s=$(date +%s.%N)
        # shellcheck disable=SC2086
        run_case "$feed" "$file" "$KW" $flags
        times+=("$(echo "$(date +%s.%N) - $s" | bc -l)")
    done
    wall=$(printf '%s\n' "${times[@]}" | median)
    load=$(cut -d' ' -f1 /proc/loadavg)
    awk -v n="$N" -v ir="$ir" -v mis="$mis" -v wall="$wall" -v load="$load" -v name="$name" \
        'BEGIN { printf "| %s | %.1f | %.3f | %.3f | %.2fM | %s |\n", name, ir / n, mis / n, wall, n / wall / 1e6, load }'
done
