#!/usr/bin/env bash
# `aws kinesis get-records` loop for bench/tail.sh: reads up to RECORDS records of one shard from
# TRIM_HORIZON, LIMIT per call, one CLI process per call; prints the record count.
# Usage: tail_awscli.sh STREAM SHARD RECORDS LIMIT   (endpoint from AWS_ENDPOINT_URL_KINESIS)
set -euo pipefail
stream=$1 shard=$2 want=$3 limit=$4
aws=${AWS_CLI:-aws}
ep=(--endpoint-url "$AWS_ENDPOINT_URL_KINESIS")
page=$(mktemp)
trap 'rm -f "$page"' EXIT
it=$("$aws" "${ep[@]}" kinesis get-shard-iterator --stream-name "$stream" --shard-id "$shard" \
  --shard-iterator-type TRIM_HORIZON --query ShardIterator --output text)
got=0
while (( got < want )); do
  "$aws" "${ep[@]}" kinesis get-records --shard-iterator "$it" --limit "$limit" --output json >"$page"
  n=$(jq '.Records | length' "$page")
  (( n == 0 )) && break
  got=$((got + n))
  it=$(jq -r '.NextShardIterator' "$page")
done
echo "$got"
