#!/usr/bin/env bash
# Benchmark (not a test): kds-put into kinesalite (or kinesis-local) next to a boto3 put_records
# script and an `aws kinesis put-records` loop. Records/s and CPU seconds per 100k records; every run's
# stream is counted afterwards, so a fast run that lost records cannot win.
# Writes bench/out/put.tsv (see bench/lib.sh) and bench/results/put.md.
#
# Usage: bench/put.sh      env: RECORDS=100000 CLI_RECORDS=5000 SHARDS=16 RUNS=3
#                              EMULATOR=kinesalite|kinesis-local (bench/lib.sh)
#
# Installs kinesalite into .tools/bench-npm (npm) and boto3 + awscli into .tools/venv (pip)
# when missing; starts kinesalite in memory on 127.0.0.1:<free port> through its Node API and
# stops that process (by its pid) at the end (bench/lib.sh). EMULATOR=kinesis-local uses
# scripts/stack's instead (started if needed, left running).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
bench_init "put$BENCH_EMULATOR_SUFFIX"
records=${RECORDS:-100000}
cli_records=${CLI_RECORDS:-5000}
shards=${SHARDS:-16}
runs=${RUNS:-3}
suffix=$BENCH_EMULATOR_SUFFIX
out=bench/results/put${suffix}.md
venv=.tools/venv
data=$BENCH_WORK/put-${records}.ndjson
cli_data=$BENCH_WORK/put-${cli_records}.ndjson
mkdir -p bench/results

load_before=$BENCH_LOAD_BEFORE

# --- tools -------------------------------------------------------------------------------
bench_pip boto3=boto3
[[ -x "$venv/bin/aws" ]] || bench_pip "awscli=awscli>=1.32,<2"
bench_build kds-put kds-gen kds-bench-ceiling
put=target/release/kds-put
ceiling_bin=target/release/kds-ceiling

# --- input -------------------------------------------------------------------------------
mkdir -p bench/out
gen_lines() { # gen_lines N FILE
  if [[ -x target/release/kds-gen ]]; then
    target/release/kds-gen --rate 0 -n "$1" --seed 1 2021-03-19 >"$2"
  else
    python3 -c '
import json, random, sys
r = random.Random(1)
for i in range(int(sys.argv[1])):
    tno = "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") for _ in range(4)) + "20210319131548"
    print(json.dumps({"tid": str(i + 1), "tno": tno, "tdate": "2021-03-19", "uno": "U%d" % r.randint(1000, 1099),
                      "pno": "P%d" % r.randint(1000, 1099), "tnum": r.randint(1, 100), "tuptime": "2021-03-19T13:15:48Z"},
                     separators=(",", ":")))' "$1" >"$2"
  fi
}
gen_lines "$records" "$data"
gen_lines "$cli_records" "$cli_data"
bytes_per_line=$(awk -v n="$records" '{b += length($0) + 1} END {printf "%.0f", b / n}' "$data")

# --- the emulator ------------------------------------------------------------------------
bench_start_emulator
endpoint=$KINESIS_ENDPOINT
# Isolated credentials for the emulator; nothing from the machine's AWS config.
bench_isolate_aws
aws() { "$venv/bin/aws" --endpoint-url "$endpoint" "$@"; }

n_stream=0
new_stream() {
  n_stream=$((n_stream + 1))
  local s="bench-put-$$-$n_stream"
  aws kinesis create-stream --stream-name "$s" --shard-count "$shards" >&2
  aws kinesis wait stream-exists --stream-name "$s" >&2
  echo "$s"
}
count_stream() { "$venv/bin/python" bench/peers/put_boto3.py count --stream "$1" --endpoint "$endpoint"; }

# measure NAME N CMD... : one run on a fresh stream; sets W and C (wall, CPU seconds) after
# checking the exit status and that the stream holds exactly N records.
measure() {
  local name=$1 n=$2; shift 2
  local s got
  s=$(new_stream)
  bench_time /dev/null "${@//STREAM/$s}" || { say "$name failed"; exit 1; }
  got=$(count_stream "$s")
  aws kinesis delete-stream --stream-name "$s" >&2
  if [[ "$got" != "$n" ]]; then
    bench_check_fail "$name" "stream holds $got records, expected $n"
  fi
  W=$BT_WALL C=$BT_CPU
  local ours=0 bytes
  [[ "$name" == kds-put* ]] && ours=1
  bytes=$(stat -c %s "$data")
  [[ "$n" == "$records" ]] || bytes=$(stat -c %s "$cli_data")
  bench_sample "into $BENCH_EMULATOR, $shards shards" "$name" "$ours" "$n" "$bytes" "stream holds the $n records"
}

median() { bench_median "$@"; }

declare -A rate cpu100k range
# bench NAME N RUNS CMD... : median wall and CPU of RUNS runs (and the slowest-fastest rates).
bench() {
  local name=$1 n=$2 r=$3; shift 3
  local walls=() cpus=() w c i
  for i in $(seq "$r"); do
    measure "$name" "$n" "$@"
    w=$W c=$C
    say "$name run $i: $n records in $w s, $c CPU s"
    walls+=("$w"); cpus+=("$c")
  done
  w=$(median "${walls[@]}"); c=$(median "${cpus[@]}")
  rate[$name]=$(awk -v n="$n" -v w="$w" 'BEGIN {printf "%.0f", n / w}')
  range[$name]=$(printf '%s\n' "${walls[@]}" | sort -g | awk -v n="$n" 'NR == 1 {hi = n / $1} {lo = n / $1} END {printf "%.0f-%.0f", lo, hi}')
  cpu100k[$name]=$(awk -v n="$n" -v c="$c" 'BEGIN {printf "%.2f", c * 100000 / n}')
}

py="$venv/bin/python"
bench "kds-put" "$records" "$runs" "$put" --stream STREAM --endpoint-url "$endpoint" "$data"
bench "kds-put --concurrency 16" "$records" "$runs" "$put" --stream STREAM --endpoint-url "$endpoint" --concurrency 16 "$data"
# BENCH_QUICK=1 (bench/run --quick) leaves out the one-run variants.
[[ "$BENCH_QUICK" == 1 ]] ||
  bench "kds-put --aggregate" "$records" 1 "$put" --stream STREAM --endpoint-url "$endpoint" --aggregate "$data"
bench "boto3 put_records" "$records" "$runs" "$py" bench/peers/put_boto3.py put --stream STREAM --endpoint "$endpoint" "$data"
[[ "$BENCH_QUICK" == 1 ]] ||
  bench "boto3 put_records, 8 threads" "$records" 1 "$py" bench/peers/put_boto3.py put --stream STREAM --endpoint "$endpoint" --threads 8 "$data"
bench "aws kinesis put-records loop" "$cli_records" 1 bench/peers/put_awscli.sh "$venv/bin/aws" STREAM "$endpoint" "$cli_data"
# The emulator's ceiling, measured apart from every producer above: kds-ceiling (bench/ceiling)
# sends PutRecords requests built before its clock starts over keep-alive connections, and
# reports its sending phase alone; the best median of 1, 4 and 16 connections. Each run's stream
# must hold exactly the records sent.
declare -A ceiling_at
for c in 1 4 16; do
  rates=()
  for i in $(seq "$runs"); do
    s=$(new_stream)
    bench_time "$BENCH_WORK/ceiling.json" "$ceiling_bin" --endpoint "$endpoint" --stream "$s" \
      put --connections "$c" "$data" || { say "kds-ceiling failed"; exit 1; }
    got=$(count_stream "$s")
    aws kinesis delete-stream --stream-name "$s" >&2
    [[ "$got" == "$records" ]] ||
      bench_check_fail "kds-ceiling, $c connections" "stream holds $got records, expected $records"
    # Its time is the sending phase alone (the requests were built before its clock started).
    BT_WALL=$(python3 -c 'import json, sys; print(round(json.load(open(sys.argv[1]))["seconds"], 3))' "$BENCH_WORK/ceiling.json")
    rates+=("$(awk -v n="$records" -v w="$BT_WALL" 'BEGIN {printf "%.0f", n / w}')")
    bench_sample "into $BENCH_EMULATOR, $shards shards" "emulator ceiling: kds-ceiling, $c connections" 0 \
      "$records" "$(stat -c %s "$data")" "stream holds the $records records"
  done
  ceiling_at[$c]=$(median "${rates[@]}")
done
bench_summarize

ceiling=0
for c in "${!ceiling_at[@]}"; do (( ${ceiling_at[$c]} > ceiling )) && ceiling=${ceiling_at[$c]}; done
pct=$(awk -v a="${rate[kds-put]}" -v c="$ceiling" 'BEGIN {printf "%.0f", 100 * a / c}')
# % of a core per 1,000 records/s = CPU seconds per 1,000 records x 100.
core=$(awk -v c="${cpu100k[kds-put]}" 'BEGIN {printf "%.2f", c / 100000 * 1000 * 100}')
verdict_rate=$(awk -v p="$pct" 'BEGIN {print (p >= 90) ? "met" : "NOT met"}')
verdict_cpu=$(awk -v c="$core" 'BEGIN {print (c < 5) ? "met" : "NOT met"}')

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "# kds-put benchmark"
  echo
  echo "Generated by \`bench/put.sh\` (not a test); re-run it to refresh. Each run writes to a fresh"
  echo "$shards-shard stream in $EMULATOR_DESC, which is then read"
  echo "back and must hold exactly the records sent. Wall and CPU (user + sys of the producer process"
  echo "and its children) from \`/usr/bin/time\`; median of $runs runs where the table says so."
  echo
  echo "- machine: $cpu_model, $(nproc) cores, load average before: $load_before, after: $load_after"
  echo "- the machine is shared: other sessions' builds and tests ran during the runs, so single"
  echo "  runs vary a lot (see the range column, slowest to fastest run); compare medians"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
  echo "- input: $records kds-gen trade lines (~$bytes_per_line bytes each), partition key \`tno\`"
  echo
  echo "| producer | records | runs | records/s (median) | range of runs | CPU s per 100k records |"
  echo "|---|---:|---:|---:|---:|---:|"
  row() { [[ -n "${rate[$1]:-}" ]] || return 0; printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "${rate[$1]}" "${range[$1]}" "${cpu100k[$1]}"; }
  row "kds-put" "$records" "$runs"
  row "kds-put --concurrency 16" "$records" "$runs"
  row "kds-put --aggregate" "$records" 1
  row "boto3 put_records" "$records" "$runs"
  row "boto3 put_records, 8 threads" "$records" 1
  row "aws kinesis put-records loop" "$cli_records" 1
  for c in 1 4 16; do
    printf '| the emulator'"'"'s ceiling: kds-ceiling, pre-built requests, %s connection(s) | %s | %s | %s | | |\n' \
      "$c" "$records" "$runs" "${ceiling_at[$c]}"
  done
  echo
  echo "The aws CLI loop sends $cli_records records (one CLI process per 500); its CPU figure is scaled to 100k."
  echo "\`--aggregate\` sends KPL aggregates of up to 50 KiB (far fewer, larger Kinesis records); the count"
  echo "check de-aggregates them (bench/peers/put_boto3.py count)."
  echo
  echo "The ceiling rows are not a producer: kds-ceiling (bench/ceiling) builds every PutRecords request"
  echo "(500 records, base64, partition key \`tno\`) before its clock starts and sends them over"
  echo "keep-alive connections; its rate is its sending phase alone, so it is what the emulator accepts"
  echo "when the client costs almost nothing."
  echo
  echo "Targets, for kds-put with default flags:"
  echo
  echo "- ≥ 90% of the emulator's ceiling (kds-ceiling's best: $ceiling records/s): **$pct%**, $verdict_rate"
  echo "- < 5% of a core per 1,000 records/s: **$core%**, $verdict_cpu"
} >"$out"
say "wrote $out"
cat "$out"
