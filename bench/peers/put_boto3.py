#!/usr/bin/env python3
"""Peer for bench/put.sh: NDJSON lines into Kinesis with boto3 put_records.

The usual hand-written producer: batches of 500 records (and at most 5 MiB), partition key
from the `tno` field, resends the entries a call reports failed (up to 10 attempts, backoff),
optionally several threads each sending its own batches.

  put_boto3.py put   --stream S --endpoint URL FILE [--threads N]
  put_boto3.py count --stream S --endpoint URL      prints the number of user records in S
                                                    (KPL aggregates count their user records)
"""
import argparse
import json
import sys
import threading
import time

import boto3
from botocore.config import Config

MAX_RECORDS = 500
MAX_BYTES = 5 * 1024 * 1024


def client(endpoint):
    return boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=32),
    )


def batches(path):
    batch, size = [], 0
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            key = str(json.loads(line)["tno"])
            rec_size = len(line) + len(key.encode())
            if batch and (len(batch) == MAX_RECORDS or size + rec_size > MAX_BYTES):
                yield batch
                batch, size = [], 0
            batch.append({"Data": line, "PartitionKey": key})
            size += rec_size
    if batch:
        yield batch


def send(kinesis, stream, records):
    for attempt in range(10):
        out = kinesis.put_records(StreamName=stream, Records=records)
        if out["FailedRecordCount"] == 0:
            return 0
        records = [r for r, res in zip(records, out["Records"]) if "ErrorCode" in res]
        time.sleep(min(2.0, 0.05 * 2**attempt))
    return len(records)


def put(args):
    kinesis = client(args.endpoint)
    failed = 0
    if args.threads <= 1:
        for b in batches(args.file):
            failed += send(kinesis, args.stream, b)
    else:
        lock = threading.Lock()
        it = iter(batches(args.file))

        def worker():
            nonlocal failed
            while True:
                with lock:
                    b = next(it, None)
                if b is None:
                    return
                f = send(kinesis, args.stream, b)
                with lock:
                    failed += f

        threads = [threading.Thread(target=worker) for _ in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if failed:
        print(f"put_boto3: {failed} records not delivered", file=sys.stderr)
        sys.exit(1)


def varint(b, i):
    v = shift = 0
    while True:
        v |= (b[i] & 0x7F) << shift
        i += 1
        if b[i - 1] < 0x80:
            return v, i
        shift += 7


def user_records(data):
    """1 for a plain record; the number of `records` (field 3) in a KPL aggregate."""
    if len(data) < 20 or data[:4] != b"\xf3\x89\x9a\xc2":
        return 1
    body, n, i = data[4:-16], 0, 0
    while i < len(body):
        tag, i = varint(body, i)
        if tag & 7 == 0:
            _, i = varint(body, i)
        elif tag & 7 == 2:
            length, i = varint(body, i)
            n += tag >> 3 == 3
            i += length
        else:
            raise ValueError("unexpected wire type")
    return n


def count(args):
    kinesis = client(args.endpoint)
    total = 0
    shards = kinesis.list_shards(StreamName=args.stream)["Shards"]
    for shard in shards:
        it = kinesis.get_shard_iterator(
            StreamName=args.stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while it:
            page = kinesis.get_records(ShardIterator=it, Limit=10000)
            total += sum(user_records(r["Data"]) for r in page["Records"])
            if not page["Records"]:
                break
            it = page.get("NextShardIterator")
    print(total)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["put", "count"])
    p.add_argument("--stream", required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("file", nargs="?")
    args = p.parse_intermixed_args()
    put(args) if args.mode == "put" else count(args)


if __name__ == "__main__":
    main()
