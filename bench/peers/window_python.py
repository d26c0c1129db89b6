#!/usr/bin/env python3
"""Peer for bench/window.sh: count and sum(tnum) per minute of tuptime, with json or orjson.

Usage: window_python.py json|orjson FILE  -> lines "YYYY-MM-DDTHH:MM count sum"
"""
import sys


def main() -> None:
    lib, path = sys.argv[1], sys.argv[2]
    if lib == "orjson":
        import orjson

        loads = orjson.loads
    else:
        import json

        loads = json.loads
    counts: dict = {}
    sums: dict = {}
    with open(path, "rb") as f:
        for line in f:
            r = loads(line)
            m = r["tuptime"][:16]
            counts[m] = counts.get(m, 0) + 1
            t = r.get("tnum")
            if t is not None:
                sums[m] = sums.get(m, 0) + t
    for m in sorted(counts):
        print(m, counts[m], sums.get(m, 0))


if __name__ == "__main__":
    main()
