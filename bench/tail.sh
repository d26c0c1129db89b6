#!/usr/bin/env bash
# Benchmark (not a test): kds-tail reading a kinesalite (or kinesis-local) stream, next to a boto3
# GetRecords loop and an `aws kinesis get-records` loop. Records/s and CPU seconds per 100k
# records; every reader's output is counted, so a fast run that lost records cannot win.
# Writes bench/out/tail.tsv (see bench/lib.sh) and bench/results/tail.md.
#
# Usage: bench/tail.sh      env: RECORDS=100000 SHARDS=4 RUNS=3 CLI_RECORDS=5000
#                               EMULATOR=kinesalite|kinesis-local (bench/lib.sh)
#                          BUILD=0 uses the existing target/release/kds-tail
#
# Installs kinesalite into .tools/bench-npm (npm) and boto3 + awscli into .tools/venv (pip) when
# missing; starts kinesalite in memory on 127.0.0.1:<free port> through its Node API, loads it
# with boto3, and stops that process (by its pid) at the end (bench/lib.sh). EMULATOR=kinesis-local
# uses scripts/stack's instead (started if needed, left running).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
bench_init "tail$BENCH_EMULATOR_SUFFIX"
records=${RECORDS:-100000}
records_total=$records
shards=${SHARDS:-4}
runs=${RUNS:-3}
cli_records=${CLI_RECORDS:-5000}
suffix=$BENCH_EMULATOR_SUFFIX
out=bench/results/tail${suffix}.md
venv=.tools/venv
work=$BENCH_WORK
mkdir -p "$work" bench/results

load_before=$BENCH_LOAD_BEFORE

# --- tools -------------------------------------------------------------------------------
bench_pip boto3=boto3
[[ -x "$venv/bin/aws" ]] || bench_pip "awscli=awscli>=1.32,<2"
[[ "${BUILD:-1}" == 1 || ! -x target/release/kds-tail || ! -x target/release/kds-ceiling ]] &&
  bench_build kds-tail kds-bench-ceiling
tail_bin=target/release/kds-tail
ceiling_bin=target/release/kds-ceiling
py="$venv/bin/python"

# --- the emulator ------------------------------------------------------------------------
bench_start_emulator
# Isolated credentials for the emulator; nothing from the machine's AWS config.
bench_isolate_aws
export AWS_ENDPOINT_URL_KINESIS=$KINESIS_ENDPOINT

# A stream of its own per run: scripts/stack's kinesis-local outlives this script, so the stream
# is deleted at the end (kinesalite's dies with it).
stream=bench-tail-$$
say "loading $records records into $shards shards (boto3)"
t0=$(date +%s.%N)
"$py" bench/peers/tail_boto3.py load "$stream" "$shards" "$records"
load_secs=$(python3 -c "import sys; print('%.1f' % ($(date +%s.%N) - $t0))")

# --- measuring ---------------------------------------------------------------------------
# measure NAME EXPECTED CMD...: runs CMD with stdout to $work/NAME.out under /usr/bin/time;
# checks the answer (below), appends "wall cpu" to $work/NAME.times and records the sample.
# Checks: kds-tail and boto3 (data lines) must output exactly the records of the first kds-tail
# run (same multiset of lines); --envelope must hold EXPECTED lines; the threaded boto3 reader
# prints its count, which must be EXPECTED; the aws CLI loop (EXPECTED 0) prints its count, which
# must be all of shard 0 or at least CLI_RECORDS of it.
measure() {
  local name=$1 expected=$2; shift 2
  bench_time "$work/$name.out" "$@" || { say "$name failed"; exit 1; }
  local got check records=$expected
  case "$name" in
    kds-tail | boto3)
      got=$(wc -l <"$work/$name.out")
      (( got == expected )) || bench_check_fail "$name" "wrote $got lines, expected $expected"
      sort "$work/$name.out" | md5sum >"$work/$name.sum"
      [[ -s "$work/reference.sum" ]] || cp "$work/$name.sum" "$work/reference.sum"
      cmp -s "$work/$name.sum" "$work/reference.sum" ||
        bench_check_fail "$name" "its records differ from kds-tail's (sorted lines)"
      check="the same $expected records" ;;
    kds-tail-envelope)
      got=$(wc -l <"$work/$name.out")
      (( got == expected )) || bench_check_fail "$name" "wrote $got lines, expected $expected"
      check="$expected envelopes" ;;
    ceiling)
      got=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["records"])' "$work/$name.out")
      [[ "$got" == "$records_total" ]] || bench_check_fail "$name" "read $got records, expected $records_total"
      # Its time is the reading phase alone (no process start, no shard listing).
      BT_WALL=$(python3 -c 'import json, sys; print(round(json.load(open(sys.argv[1]))["seconds"], 3))' "$work/$name.out")
      check="read $records_total records" ;;
    boto3-threads)
      got=$(cat "$work/$name.out")
      records=$got
      [[ "$got" == "$records_total" ]] || bench_check_fail "$name" "counted $got records, expected $records_total"
      check="counted $records_total records" ;;
    awscli)
      got=$(cat "$work/$name.out")
      records=$got
      local in0
      in0=$(grep -c "\"shard_id\":\"$shard0\"" "$work/kds-tail-envelope.out" || true)
      (( got == in0 || (got >= cli_records && got <= in0) )) ||
        bench_check_fail "$name" "read $got records of $shard0, which holds $in0"
      check="$got records of one shard" ;;
  esac
  echo "$BT_WALL $BT_CPU" >>"$work/$name.times"
  local label=$name ours=0
  case "$name" in
    kds-tail) label="kds-tail -e"; ours=1 ;;
    kds-tail-envelope) label="kds-tail -e --envelope"; ours=1 ;;
    boto3) label="boto3 GetRecords loop" ;;
    boto3-threads) label="boto3, thread per shard, data discarded" ;;
    awscli) label="aws kinesis get-records loop (1 shard)" ;;
    ceiling) label="emulator ceiling: kds-ceiling, one connection per shard" ;;
  esac
  local bpr=137 # bytes per record, from kds-tail's data lines once they exist
  [[ -s "$work/kds-tail.out" ]] && bpr=$(( $(stat -c %s "$work/kds-tail.out") / records_total ))
  bench_sample "from $BENCH_EMULATOR, $shards shards" "$label" "$ours" "$records" "$(( records * bpr ))" "$check"
}
# row LABEL NAME RECORDS: median wall of the runs → records/s; median CPU → CPU s per 100k.
row() {
  local label=$1 name=$2 n=$3
  python3 - "$label" "$work/$name.times" "$n" <<'PY'
import statistics, sys
label, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = [tuple(map(float, l.split())) for l in open(path) if l.strip()]
wall = statistics.median(r[0] for r in rows)
cpu = statistics.median(r[1] for r in rows)
print(f"| {label} | {n} | {len(rows)} | {n / wall:.0f} | {cpu * 100000 / n:.2f} |")
PY
}
rm -f "$work"/*.times "$work/reference.sum"

for i in $(seq "$runs"); do
  say "run $i/$runs: kds-tail, boto3"
  measure kds-tail "$records" "$tail_bin" --stream "$stream" --from trim-horizon -e
  measure boto3 "$records" "$py" bench/peers/tail_boto3.py read "$stream"
  measure boto3-threads 0 "$py" bench/peers/tail_boto3.py read-threads "$stream"
  [[ $(cat "$work/boto3-threads.out") == "$records" ]] || { say "boto3-threads read $(cat "$work/boto3-threads.out") records"; exit 1; }
  # The emulator's ceiling, measured apart from every reader: bench/ceiling's minimal client,
  # GetRecords of 10,000 per call on every shard at once, as fast as the emulator answers.
  measure ceiling "$records" "$ceiling_bin" --endpoint "$KINESIS_ENDPOINT" --stream "$stream" \
    get --records "$records"
done
say "kds-tail --envelope"
measure kds-tail-envelope "$records" "$tail_bin" --stream "$stream" --from trim-horizon -e --envelope
say "aws kinesis get-records loop ($cli_records records of one shard)"
shard0=$("$venv/bin/aws" kinesis list-shards --stream-name "$stream" --query 'Shards[0].ShardId' --output text)
measure awscli 0 env AWS_CLI="$venv/bin/aws" bench/peers/tail_awscli.sh "$stream" "$shard0" "$cli_records" 1000
cli_got=$(cat "$work/awscli.out")
"$venv/bin/aws" kinesis delete-stream --stream-name "$stream" >&2
bench_summarize

tail_row=$(row "kds-tail -e" kds-tail "$records")
ceiling_rate=$(python3 - "$work" "$records" <<'PY'
import statistics, sys
work, n = sys.argv[1], int(sys.argv[2])
rows = [tuple(map(float, l.split())) for l in open(f"{work}/ceiling.times") if l.strip()]
print(f"{n / statistics.median(r[0] for r in rows):.0f}")
PY
)
tail_rate=$(echo "$tail_row" | awk -F'|' '{gsub(/ /, "", $5); print $5}')
pct=$(python3 -c "print(round(100 * $tail_rate / $ceiling_rate))")
verdict=$([[ $pct -ge 90 ]] && echo "met" || echo "NOT met")

commit=$(git rev-parse --short HEAD)
{
  echo "# kds-tail benchmark"
  echo
  echo "Generated by \`bench/tail.sh\` (not a test); re-run it to refresh. One $shards-shard stream in"
  echo "$EMULATOR_DESC, loaded with $records trade lines by"
  echo "boto3 (took ${load_secs} s), then read from TRIM_HORIZON to the tip by each reader. Every reader's"
  echo "output is counted (must be exactly $records lines). Wall and CPU (user + sys of the reader"
  echo "process and its children) from \`/usr/bin/time\`; medians of the runs shown."
  echo
  echo "- machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, load average before: $load_before"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ), commit $commit"
  echo
  echo "| reader | records | runs | records/s | CPU s per 100k records |"
  echo "|---|---:|---:|---:|---:|"
  echo "$tail_row"
  row "kds-tail -e --envelope" kds-tail-envelope "$records"
  row "boto3 GetRecords loop (shards one after another, data lines to stdout)" boto3 "$records"
  row "boto3, one thread per shard, data discarded" boto3-threads "$records"
  row "aws kinesis get-records loop (one shard, 1000 per call)" awscli "$cli_got"
  row "the emulator's ceiling: kds-ceiling, one connection per shard, reading phase alone" ceiling "$records"
  echo
  echo "The aws CLI loop reads $cli_got records of one shard, one CLI process per call; its rate and CPU"
  echo "are for those records (CPU scaled to 100k). kds-tail keeps the per-shard limits of the real"
  echo "service (at most 5 GetRecords calls/s and 2 MB/s per shard); the Python peers do not."
  echo "The emulator's ceiling is measured apart from every reader: kds-ceiling (bench/ceiling) reads"
  echo "every shard at once with 10,000-record GetRecords calls as fast as the emulator answers, over"
  echo "keep-alive connections, and times its reading phase alone. kds-tail keeps the service's"
  echo "5 calls/s per shard, so on a small stream its rate also shows that pacing. The load average"
  echo "shows other work on the machine (figures are noisy)."
  echo
  echo "Target: kds-tail ≥ 90% of the emulator's ceiling (kds-ceiling's median:"
  echo "$ceiling_rate records/s): **${pct}%**, $verdict."
} >"$out"
cat "$out"
