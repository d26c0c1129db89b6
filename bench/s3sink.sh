#!/usr/bin/env bash
# Benchmark (not a test): kds-s3sink into moto_server, side by side with `aws s3 cp` of the same
# batches, and kds-s3sink's own ceiling: its pipeline against a null object store
# (kds-s3sink-ceiling, bench/s3sink-ceiling/), which moto_server's speed cannot bound. MB/s of input delivered and CPU seconds (user+sys) per 100 MB, median of RUNS runs.
# Every run's objects are summed afterwards, so a run that lost data cannot win.
# Writes bench/out/s3sink.tsv (see bench/lib.sh) and bench/results/s3sink.md.
#
# Usage: bench/s3sink.sh      env: SIZE_MB=200 RUNS=3
#
# Installs moto[server] + awscli into .tools/venv (pip) when missing; starts its own moto_server
# on 127.0.0.1:<free port> (not the shared stack's) and stops that process (by its pid) at the
# end. moto keeps objects in memory: the numbers measure the clients plus moto's request
# handling, not a disk.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
bench_init s3sink
size_mb=${SIZE_MB:-200}
runs=${RUNS:-3}
out=bench/results/s3sink.md
venv=.tools/venv
work=$BENCH_WORK
data=$work/input-${size_mb}MB.ndjson
mkdir -p bench/results

load_before=$BENCH_LOAD_BEFORE

# --- tools -------------------------------------------------------------------------------
bench_pip "moto=moto[server]>=5,<6" boto3=boto3
[[ -x "$venv/bin/aws" ]] || bench_pip "awscli=awscli>=1.32,<2"
bench_build kds-s3sink kds-bench-s3sink-ceiling
sink=target/release/kds-s3sink
# kds-s3sink's own ceiling: its pipeline against a null object store (bench/s3sink-ceiling).
ceiling=target/release/kds-s3sink-ceiling

# --- input: trade events, SIZE_MB megabytes ------------------------------------------------
mkdir -p "$work"
if [[ ! -s "$data" ]]; then
  say "generating $data"
  python3 - "$size_mb" "$data" <<'EOF'
import json, random, sys
size, path = int(sys.argv[1]) * 1_000_000, sys.argv[2]
r = random.Random(1)
written, i = 0, 0
with open(path, "w") as f:
    while written < size:
        i += 1
        tno = "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") for _ in range(4)) + "20210319131548"
        line = json.dumps({"tid": str(i), "tno": tno, "tdate": "2021-03-19", "uno": "U%d" % r.randint(1000, 1099),
                           "pno": "P%d" % r.randint(1000, 1099), "tnum": r.randint(1, 100),
                           "tuptime": "2021-03-19T13:15:48Z"}, separators=(",", ":")) + "\n"
        f.write(line)
        written += len(line)
EOF
fi
input_bytes=$(stat -c %s "$data")
# The same batches for `aws s3 cp`: whole lines, at most 5 MiB / 128 MiB per file.
rm -rf "$work/b5" "$work/b128"
mkdir -p "$work/b5" "$work/b128"
split -C 5242880 -d -a 5 "$data" "$work/b5/part-"
split -C 134217728 -d -a 5 "$data" "$work/b128/part-"

# --- moto_server ---------------------------------------------------------------------------
bench_start_moto
endpoint=$MOTO_ENDPOINT
bench_isolate_aws
aws() { "$venv/bin/aws" --endpoint-url "$endpoint" "$@"; }
for _ in $(seq 1 100); do
  aws s3 ls >/dev/null 2>&1 && break
  sleep 0.2
done
aws s3 ls >/dev/null

# Sum of object sizes under a prefix of the bench bucket (gunzip: of the objects' gunzipped bytes).
stored_bytes() {
  "$venv/bin/python" - "$endpoint" "$1" "${2:-}" <<'EOF'
import gzip, sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
total = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix=sys.argv[2]):
    for o in page.get("Contents", []):
        if sys.argv[3] == "gunzip":
            total += len(gzip.decompress(s3.get_object(Bucket="bench", Key=o["Key"])["Body"].read()))
        else:
            total += o["Size"]
print(total)
EOF
}
aws s3 mb s3://bench >/dev/null

# record_run CASE NAME OURS CHECK: the last timed run's "name wall user sys" into $work/times,
# and its sample.
record_run() {
  local t
  t=$(tail -1 "$BENCH_WORK/last.time")
  echo "$2 ${t% *}" >>"$work/times"
  bench_sample "$1" "$2" "$3" "$input_lines" "$input_bytes" "$4"
}

# run NAME PREFIX EXPECTED_BYTES [gunzip] -- command...   (input on stdin from $data)
# Checks the stored bytes (gunzipped for gzip), appends "name wall user sys" to $work/times and
# records the sample.
: >"$work/times"
input_lines=$(wc -l <"$data")
run() {
  local name=$1 prefix=$2 expect=$3 how=""
  shift 3
  [[ "$1" == gunzip ]] && { how=gunzip; shift; }
  bench_time /dev/null "$@" <"$data" || { say "$name failed"; exit 1; }
  local got
  got=$(stored_bytes "$prefix" "$how")
  [[ "$got" == "$expect" ]] || bench_check_fail "$name" "stored $got bytes${how:+ (gunzipped)}, expected $expect"
  local ours=0
  [[ "$name" == kds-s3sink* ]] && ours=1
  record_run "into moto_server" "$name" "$ours" "objects hold all $expect bytes"
}

# run_null NAME FLAGS...: kds-s3sink's pipeline (same flags, same input) into the null store of
# kds-s3sink-ceiling. Checked: the bytes stored are the input's (gzip: the sizes in the gzip
# trailers, which the store sums instead of decompressing).
run_null() {
  local name=$1 field=stored_bytes
  shift
  [[ " $* " == *" gzip "* ]] && field=gzip_isize_bytes
  bench_time "$work/null.json" "$ceiling" --bucket null --newline "$@" "$data" || { say "$name failed"; exit 1; }
  local got
  got=$(sed -n "s/.*\"$field\":\([0-9]*\).*/\1/p" "$work/null.json")
  [[ "$got" == "$input_bytes" ]] || bench_check_fail "$name" "stored $got bytes ($field), expected $input_bytes"
  record_run "null object store (no S3)" "$name" 1 "the store received all $input_bytes bytes"
}

for r in $(seq 1 "$runs"); do
  run_null "kds-s3sink 5MiB, null store" --buffer-size 5MiB
  run_null "kds-s3sink 128MiB (multipart), null store" --buffer-size 128MiB
  run_null "kds-s3sink 5MiB gzip, null store" --buffer-size 5MiB --compression gzip
  run_null "kds-s3sink 5MiB gzip --concurrency 1, null store" --buffer-size 5MiB --compression gzip --concurrency 1
done

for r in $(seq 1 "$runs"); do
  run "kds-s3sink 5MiB" "s5-$r/" "$input_bytes" \
    "$sink" --endpoint-url "$endpoint" --bucket bench --prefix "s5-$r/" --newline --buffer-size 5MiB
  run "kds-s3sink 128MiB (multipart)" "s128-$r/" "$input_bytes" \
    "$sink" --endpoint-url "$endpoint" --bucket bench --prefix "s128-$r/" --newline --buffer-size 128MiB
  run "kds-s3sink 5MiB gzip" "sgz-$r/" "$input_bytes" gunzip \
    "$sink" --endpoint-url "$endpoint" --bucket bench --prefix "sgz-$r/" --newline --buffer-size 5MiB --compression gzip
  run "aws s3 cp 5MiB batches" "c5-$r/" "$input_bytes" \
    "$venv/bin/aws" --endpoint-url "$endpoint" s3 cp --recursive --quiet "$work/b5" "s3://bench/c5-$r/"
  run "aws s3 cp 128MiB batches" "c128-$r/" "$input_bytes" \
    "$venv/bin/aws" --endpoint-url "$endpoint" s3 cp --recursive --quiet "$work/b128" "s3://bench/c128-$r/"
  # Free moto's memory between runs.
  aws s3 rm --recursive --quiet s3://bench/ >/dev/null
done

bench_summarize

# --- report --------------------------------------------------------------------------------
commit=$(git rev-parse --short HEAD)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)
moto_version=$("$venv/bin/python" -c 'import moto; print(moto.__version__)')
aws_version=$("$venv/bin/aws" --version 2>&1 | cut -d' ' -f1)
{
  echo "# kds-s3sink benchmark"
  echo
  echo "Generated by \`bench/s3sink.sh\` (SIZE_MB=$size_mb RUNS=$runs). Not a test."
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $commit"
  echo "- machine: $(nproc) cores ($cpu), $mem, load before: $load_before"
  echo "- S3: moto_server $moto_version (in memory) on 127.0.0.1, started by the script; $aws_version"
  echo "- null store: \`kds-s3sink-ceiling\` (bench/s3sink-ceiling/) runs kds-s3sink's pipeline (reader thread, parsing, buffers, keys, gzip, the uploader with its multipart split and retry wrapper) with the same flags and input against an object store that accepts every call at once and keeps only counts: kds-s3sink's own ceiling, no network"
  echo "- input: $input_bytes bytes of trade-event NDJSON ($(wc -l <"$data") lines); every run's stored bytes were checked (gzip: after gunzip)"
  echo "- kds-s3sink: --newline, default --concurrency 4; aws s3 cp: --recursive over the same input split into whole-line files of at most 5 MiB / 128 MiB (its default 10 concurrent requests, 8 MiB multipart chunks)"
  echo
  echo "| client | wall s (median) | input MB/s | CPU s (user+sys) | CPU s per 100 MB |"
  echo "|---|---:|---:|---:|---:|"
  awk -v bytes="$input_bytes" '
    { name=$1; for (i=2; i<=NF-3; i++) name=name " " $i
      wall[name]=wall[name] " " $(NF-2); cpu[name]=cpu[name] " " ($(NF-1)+$NF)
      if (!(name in seen)) { seen[name]=1; order[++n]=name } }
    function median(list,   a, k, i, j, t) { k=split(list, a, " ")
      for (i=1;i<=k;i++) for (j=i+1;j<=k;j++) if (a[j]+0<a[i]+0) { t=a[i]; a[i]=a[j]; a[j]=t }
      return a[int((k+1)/2)] }
    END { for (x=1; x<=n; x++) { nm=order[x]; w=median(wall[nm]); c=median(cpu[nm])
      printf "| %s | %.2f | %.1f | %.2f | %.2f |\n", nm, w, bytes/1e6/w, c, c/(bytes/1e8) }
      printf "\n"
      plain=median(cpu["kds-s3sink 5MiB, null store"]); packed=median(cpu["kds-s3sink 5MiB gzip, null store"])
      if (packed > plain) printf "gzip (flate2, level 6) costs %.2f CPU s per 100 MB of input over the same run without it: %.0f MB/s of input per core.\n\n", (packed-plain)/(bytes/1e8), bytes/1e6/(packed-plain) }' "$work/times"
  echo "Raw runs (name, wall, user, sys):"
  echo
  echo '```'
  cat "$work/times"
  echo '```'
} >"$out"
say "wrote $out"
cat "$out"
