#!/usr/bin/env bash
# Peer for bench/put.sh: the shell-script producer, one `aws kinesis put-records` call per 500
# lines (AWS CLI v1 from .tools/venv; v1 sends a blob given as text as-is).
# Usage: put_awscli.sh AWS STREAM ENDPOINT FILE
set -euo pipefail
aws=$1 stream=$2 endpoint=$3 file=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$file" "$work" <<'PY'
import json, sys
src, out = sys.argv[1], sys.argv[2]
batch, n = [], 0
def flush():
    global batch, n
    if batch:
        with open(f"{out}/batch-{n:06d}.json", "w") as f:
            json.dump(batch, f)
        n += 1
        batch = []
for line in open(src, encoding="utf-8"):
    line = line.rstrip("\n")
    batch.append({"Data": line, "PartitionKey": str(json.loads(line)["tno"])})
    if len(batch) == 500:
        flush()
flush()
PY
for b in "$work"/batch-*.json; do
  failed=$("$aws" --endpoint-url "$endpoint" kinesis put-records --stream-name "$stream" \
    --records "file://$b" --query FailedRecordCount --output text)
  [[ "$failed" == 0 ]] || { echo "put_awscli: $failed records failed in $b" >&2; exit 1; }
done
