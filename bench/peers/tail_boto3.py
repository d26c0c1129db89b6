#!/usr/bin/env python3
"""Peers for bench/tail.sh.

  tail_boto3.py load STREAM SHARDS RECORDS   create the stream, put RECORDS trade lines (500 a call)
  tail_boto3.py read STREAM                  a plain boto3 GetRecords loop: every shard from
                                             TRIM_HORIZON, one after another, data lines on stdout,
                                             until a page is empty and MillisBehindLatest is 0
  tail_boto3.py read-threads STREAM          the same with one thread per shard, data discarded,
                                             prints the count (an estimate of the emulator's
                                             read ceiling)
The endpoint comes from AWS_ENDPOINT_URL_KINESIS.
"""
import json
import os
import random
import sys
import threading
import time

import boto3

client = boto3.client("kinesis", endpoint_url=os.environ["AWS_ENDPOINT_URL_KINESIS"])


def shards(stream):
    out, token = [], None
    while True:
        resp = client.list_shards(NextToken=token) if token else client.list_shards(StreamName=stream)
        out += [s["ShardId"] for s in resp["Shards"]]
        token = resp.get("NextToken")
        if not token:
            return out


def load(stream, nshards, n):
    client.create_stream(StreamName=stream, ShardCount=nshards)
    while client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE":
        time.sleep(0.1)
    r = random.Random(1)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    batch = []
    for i in range(n):
        tno = "".join(r.choice(letters) for _ in range(4)) + "20210319131548"
        line = json.dumps({"tid": str(i + 1), "tno": tno, "tdate": "2021-03-19",
                           "uno": "U%d" % r.randint(1000, 1099), "pno": "P%d" % r.randint(1000, 1099),
                           "tnum": r.randint(1, 100), "tuptime": "2021-03-19T13:15:48Z"},
                          separators=(",", ":"))
        batch.append({"Data": line.encode(), "PartitionKey": tno})
        if len(batch) == 500 or i == n - 1:
            while batch:
                resp = client.put_records(StreamName=stream, Records=batch)
                batch = [e for e, res in zip(batch, resp["Records"]) if "ErrorCode" in res]


def read_shard(stream, shard, write, counts=None):
    it = client.get_shard_iterator(StreamName=stream, ShardId=shard,
                                   ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    n = 0
    while it:
        resp = client.get_records(ShardIterator=it, Limit=10000)
        recs = resp["Records"]
        n += len(recs)
        if write:
            sys.stdout.buffer.write(b"".join(r["Data"] + b"\n" for r in recs))
        if not recs and resp.get("MillisBehindLatest", 0) == 0:
            break
        it = resp.get("NextShardIterator")
    if counts is not None:
        counts.append(n)


def main():
    mode, stream = sys.argv[1], sys.argv[2]
    if mode == "load":
        load(stream, int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "read":
        for s in shards(stream):
            read_shard(stream, s, True)
        sys.stdout.buffer.flush()
    elif mode == "read-threads":
        counts = []
        threads = [threading.Thread(target=read_shard, args=(stream, s, False, counts))
                   for s in shards(stream)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(sum(counts))  # the record count, checked by bench/tail.sh
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
