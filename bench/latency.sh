#!/usr/bin/env bash
# Benchmark (not a test): where a record's put → read-by-kds-tail latency goes, per setting of
# kds-put's --linger and kds-tail's --poll-interval. For each setting: a fresh SHARDS-shard
# kinesalite stream, `kds-tail --from trim-horizon --envelope` started first, then
# `kds-gen --rate RATE --duration SECONDS | kds-put`; two stampers note when each line entered
# kds-put and when kds-tail wrote it. Per record (ms): put → arrival (ApproximateArrivalTimestamp,
# stamped by the emulator: linger plus the PutRecords call), arrival → read (kds-tail's wait for
# its next GetRecords call plus the call), put → read (the sum). Checked: every record put is
# read exactly once. Writes bench/out/latency.tsv and bench/results/latency.md.
#
# Usage: bench/latency.sh      env: RATE=1000 SHARDS=4 SECONDS_RUN=10
#   SETTINGS="LINGER/POLL ..." (default "100ms/200ms 50ms/200ms 20ms/200ms 1ms/200ms 20ms/50ms";
#   a poll interval under 200ms exceeds AWS's 5 GetRecords/s per shard and is for measuring only)
#   BIN=DIR (default target/release; built with cargo when it is that)
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
bench_init latency
rate=${RATE:-1000}
shards=${SHARDS:-4}
seconds=${SECONDS_RUN:-10}
settings=${SETTINGS:-"100ms/200ms 50ms/200ms 20ms/200ms 1ms/200ms 20ms/50ms"}
bin=${BIN:-target/release}
out=bench/results/latency.md
work=$BENCH_WORK
mkdir -p bench/results

[[ -x "$BENCH_VENV/bin/aws" ]] || bench_pip "awscli=awscli>=1.32,<2"
[[ "$bin" == target/release ]] && bench_build kds-gen kds-put kds-tail
bench_start_kinesalite
bench_isolate_aws
ep=$KINESALITE_ENDPOINT
aws() { "$BENCH_VENV/bin/aws" --endpoint-url "$ep" "$@"; }

# measure NAME LINGER POLL: one run; appends one row per stage to $work/rows.tsv
measure() {
  local name=$1 linger=$2 poll=$3 stream="lat-$1" w="$work/$1"
  rm -rf "$w" && mkdir -p "$w"
  aws kinesis create-stream --stream-name "$stream" --shard-count "$shards"
  aws kinesis wait stream-exists --stream-name "$stream"
  mkfifo "$w/tail.fifo"
  "$bin/kds-tail" --endpoint-url "$ep" --stream "$stream" --from trim-horizon --envelope \
    --poll-interval "$poll" >"$w/tail.fifo" 2>"$w/tail.err" &
  local tail_pid=$!
  BENCH_PIDS+=("$tail_pid")
  python3 -u -c '
import json, sys, time
with open(sys.argv[1], "w") as log:
    for line in sys.stdin:
        t = time.time() * 1000
        e = json.loads(line)
        if e["data"]["tid"] == "ready":
            open(sys.argv[2], "w").close()
            continue
        log.write("%s\t%s\t%.1f\n" % (e["data"]["tid"], e["arrival"], t))' "$w/read.tsv" "$w/ready" <"$w/tail.fifo" &
  local reader=$!
  BENCH_PIDS+=("$reader")
  # One record first, timed by nobody: once kds-tail has written it, it is polling steadily.
  echo '{"tid":"ready","tno":"ready"}' | "$bin/kds-put" --endpoint-url "$ep" --stream "$stream" 2>>"$w/put.err"
  local _
  for _ in $(seq 600); do [[ -e "$w/ready" ]] && break; sleep 0.1; done
  [[ -e "$w/ready" ]] || die "kds-tail did not read the first record within 60 s"
  "$bin/kds-gen" --rate "$rate" --duration "${seconds}s" --seed 1 |
    python3 -u bench/peers/stamp_put.py "$w/put.tsv" |
    "$bin/kds-put" --endpoint-url "$ep" --stream "$stream" --linger "$linger" 2>"$w/put.err"
  for _ in $(seq 300); do # the last records are read (at most 30 s)
    (($(wc -l <"$w/read.tsv") >= $(wc -l <"$w/put.tsv"))) && break
    sleep 0.1
  done
  kill "$tail_pid" 2>/dev/null || true
  wait "$reader" "$tail_pid" 2>/dev/null || true
  aws kinesis delete-stream --stream-name "$stream"
  python3 - "$w" "$name" "$linger" "$poll" "$work/rows.tsv" <<'PY'
import sys
from datetime import datetime
w, name, linger, poll, dst = sys.argv[1:6]
put = dict(l.rstrip("\n").split("\t") for l in open(f"{w}/put.tsv"))
seen, arrive, wait, total = set(), [], [], []
for line in open(f"{w}/read.tsv"):
    tid, arrival, read = line.rstrip("\n").split("\t")
    if tid in seen:
        sys.exit(f"latency: CHECK FAILED ({name}): tid {tid} read twice")
    seen.add(tid)
    a = datetime.fromisoformat(arrival.replace("Z", "+00:00")).timestamp() * 1000
    p, r = float(put[tid]), float(read)
    arrive.append(a - p); wait.append(r - a); total.append(r - p)
if seen != set(put):
    sys.exit(f"latency: CHECK FAILED ({name}): put {len(put)} records, read {len(seen)}")
def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]
with open(dst, "a") as out:
    for stage, xs in (("put → arrival", arrive), ("arrival → read", wait), ("put → read", total)):
        out.write(f"{linger}\t{poll}\t{stage}\t{len(xs)}\t{pct(xs, 50):.0f}\t{pct(xs, 90):.0f}\t{pct(xs, 99):.0f}\t{max(xs):.0f}\n")
print(f"latency: {name}: {len(put)} records put, all read once")
PY
}

printf 'linger\tpoll_interval\tstage\tn\tp50_ms\tp90_ms\tp99_ms\tmax_ms\n' >"$work/rows.tsv"
i=0
for s in $settings; do
  i=$((i + 1))
  measure "s$i" "${s%/*}" "${s#*/}"
done
cp "$work/rows.tsv" "$BENCH_OUT/latency.tsv"

{
  echo "# put → read latency"
  echo
  echo "Generated by \`bench/latency.sh\` (RATE=$rate SHARDS=$shards SECONDS_RUN=$seconds). Not a test."
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD)"
  echo "- machine: $(bench_machine); load before: $BENCH_LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- emulator: kinesalite $KINESALITE_VERSION (in memory), $shards shards; \`kds-gen --rate $rate | kds-put --linger L\`, \`kds-tail --from trim-horizon --envelope --poll-interval P\`"
  echo "- put = the line entered kds-put's stdin; arrival = ApproximateArrivalTimestamp (the emulator's clock, same machine); read = kds-tail wrote the record. Every record put was read exactly once."
  echo
  echo "| --linger | --poll-interval | stage | records | p50 ms | p90 ms | p99 ms | max ms |"
  echo "|---|---|---|---:|---:|---:|---:|---:|"
  tail -n +2 "$work/rows.tsv" | awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8}'
} >"$out"
say "wrote $out"
cat "$out"
