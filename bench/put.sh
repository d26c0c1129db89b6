#!/usr/bin/env bash
# Benchmark (not a test): kds-put into kinesalite next to a boto3 put_records script and an
# `aws kinesis put-records` loop. Records/s and CPU seconds per 100k records; every run's
# stream is counted afterwards, so a fast run that lost records cannot win.
# Writes bench/results/put.md.
#
# Usage: bench/put.sh      env: RECORDS=100000 CLI_RECORDS=5000 SHARDS=16 RUNS=3
#
# Installs kinesalite into .tools/bench-npm (npm) and boto3 + awscli into .tools/venv (pip)
# when missing; starts kinesalite in memory on 127.0.0.1:<free port> through its Node API and
# stops that process (by its pid) at the end.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
records=${RECORDS:-100000}
cli_records=${CLI_RECORDS:-5000}
shards=${SHARDS:-16}
runs=${RUNS:-3}
out=bench/results/put.md
venv=.tools/venv
npm_dir=.tools/bench-npm
data=bench/out/put-${records}.ndjson
cli_data=bench/out/put-${cli_records}.ndjson

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
say() { printf 'bench/put.sh: %s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------------------
if [[ ! -f "$npm_dir/node_modules/kinesalite/package.json" ]]; then
  say "installing kinesalite into $npm_dir"
  mkdir -p "$npm_dir"
  npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error kinesalite@3 >&2
fi
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import boto3' 2>/dev/null || [[ ! -x "$venv/bin/aws" ]]; then
  say "installing boto3 + awscli into $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check boto3 "awscli>=1.32,<2" >&2
fi
say "building kds-put (release)"
cargo build --release -p kds-put >&2
put=target/release/kds-put

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

# --- kinesalite --------------------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
endpoint="http://127.0.0.1:$port"
NODE_PATH="$npm_dir/node_modules" node bench/peers/put_kinesalite.js "$port" >bench/out/kinesalite.log 2>&1 &
kl_pid=$!
trap 'kill "$kl_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q ready bench/out/kinesalite.log 2>/dev/null && break
  sleep 0.1
done
grep -q ready bench/out/kinesalite.log || { say "kinesalite did not start"; cat bench/out/kinesalite.log >&2; exit 1; }
kinesalite_version=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$npm_dir/node_modules/kinesalite/package.json" | head -1)

# Isolated credentials for the emulator; nothing from the machine's AWS config.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KINESIS AWS_SESSION_TOKEN
aws() { "$venv/bin/aws" --endpoint-url "$endpoint" "$@"; }

n_stream=0
new_stream() {
  n_stream=$((n_stream + 1))
  local s="bench-put-$n_stream"
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
  if ! /usr/bin/time -o bench/out/put-time.txt -f '%e %U %S' "${@//STREAM/$s}" >/dev/null 2>bench/out/put-stderr.txt; then
    say "$name failed:"; tail -5 bench/out/put-stderr.txt >&2; exit 1
  fi
  got=$(count_stream "$s")
  aws kinesis delete-stream --stream-name "$s" >&2
  if [[ "$got" != "$n" ]]; then
    say "$name: stream holds $got records, expected $n"
    exit 1
  fi
  read -r W C < <(awk '{printf "%s %.3f\n", $1, $2 + $3}' bench/out/put-time.txt)
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A rate cpu100k
# bench NAME N RUNS CMD... : median wall and CPU of RUNS runs.
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
  cpu100k[$name]=$(awk -v n="$n" -v c="$c" 'BEGIN {printf "%.2f", c * 100000 / n}')
}

py="$venv/bin/python"
bench "kds-put" "$records" "$runs" "$put" --stream STREAM --endpoint-url "$endpoint" "$data"
bench "kds-put --concurrency 16" "$records" "$runs" "$put" --stream STREAM --endpoint-url "$endpoint" --concurrency 16 "$data"
bench "kds-put --aggregate" "$records" 1 "$put" --stream STREAM --endpoint-url "$endpoint" --aggregate "$data"
bench "boto3 put_records" "$records" "$runs" "$py" bench/peers/put_boto3.py put --stream STREAM --endpoint "$endpoint" "$data"
bench "boto3 put_records, 8 threads" "$records" 1 "$py" bench/peers/put_boto3.py put --stream STREAM --endpoint "$endpoint" --threads 8 "$data"
bench "aws kinesis put-records loop" "$cli_records" 1 bench/peers/put_awscli.sh "$venv/bin/aws" STREAM "$endpoint" "$cli_data"

# The emulator's ceiling: the best rate any plain (non-aggregating) producer reached.
ceiling=0
for k in "kds-put" "kds-put --concurrency 16" "boto3 put_records" "boto3 put_records, 8 threads"; do
  (( ${rate[$k]} > ceiling )) && ceiling=${rate[$k]}
done
pct=$(awk -v a="${rate[kds-put]}" -v c="$ceiling" 'BEGIN {printf "%.0f", 100 * a / c}')
# % of a core per 1,000 records/s = CPU seconds per 1,000 records x 100.
core=$(awk -v c="${cpu100k[kds-put]}" 'BEGIN {printf "%.2f", c / 100000 * 1000 * 100}')
verdict_rate=$(awk -v p="$pct" 'BEGIN {print (p >= 90) ? "met" : "NOT met"}')
verdict_cpu=$(awk -v c="$core" 'BEGIN {print (c < 5) ? "met" : "NOT met"}')

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
{
  echo "# kds-put benchmark"
  echo
  echo "Generated by \`bench/put.sh\` (not a test); re-run it to refresh. Each run writes to a fresh"
  echo "$shards-shard stream in kinesalite $kinesalite_version (in memory, Node API, 127.0.0.1), which is then read"
  echo "back and must hold exactly the records sent. Wall and CPU (user + sys of the producer process"
  echo "and its children) from \`/usr/bin/time\`; median of $runs runs where the table says so."
  echo
  echo "- machine: $cpu_model, $(nproc) cores, load average before: $load_before"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
  echo "- input: $records kds-gen trade lines (~$bytes_per_line bytes each), partition key \`tno\`"
  echo
  echo "| producer | records | runs | records/s | CPU s per 100k records |"
  echo "|---|---:|---:|---:|---:|"
  row() { printf '| %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "${rate[$1]}" "${cpu100k[$1]}"; }
  row "kds-put" "$records" "$runs"
  row "kds-put --concurrency 16" "$records" "$runs"
  row "kds-put --aggregate" "$records" 1
  row "boto3 put_records" "$records" "$runs"
  row "boto3 put_records, 8 threads" "$records" 1
  row "aws kinesis put-records loop" "$cli_records" 1
  echo
  echo "The aws CLI loop sends $cli_records records (one CLI process per 500); its CPU figure is scaled to 100k."
  echo "\`--aggregate\` sends KPL aggregates of up to 50 KiB (far fewer, larger Kinesis records); the count"
  echo "check de-aggregates them (bench/peers/put_boto3.py count)."
  echo
  echo "Targets (issue 4), for kds-put with default flags:"
  echo
  echo "- ≥ 90% of the emulator's ceiling (best plain producer above: $ceiling records/s): **$pct%**, $verdict_rate"
  echo "- < 5% of a core per 1,000 records/s: **$core%**, $verdict_cpu"
} >"$out"
say "wrote $out"
cat "$out"
