#!/usr/bin/env python3
"""Fallback trade-event generator for bench/window.sh when kds-gen is not built:
N lines, 1000 events per simulated second from 2021-03-19T00:00:00Z, deterministic."""
import random
import sys
from datetime import datetime, timedelta, timezone


def main() -> None:
    n = int(sys.argv[1])
    rnd = random.Random(1)
    start = datetime(2021, 3, 19, tzinfo=timezone.utc)
    out = sys.stdout
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    for i in range(n):
        t = start + timedelta(seconds=i // 1000)
        ts = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        tno = "".join(rnd.choice(letters) for _ in range(4)) + t.strftime("%Y%m%d%H%M%S")
        out.write(
            '{"tid":"%d","tno":"%s","tdate":"2021-03-19","uno":"U%d","pno":"P%d","tnum":%d,"tuptime":"%s"}\n'
            % (i + 1, tno, 1000 + rnd.randrange(100), 1000 + rnd.randrange(100), rnd.randrange(1, 101), ts)
        )


if __name__ == "__main__":
    main()
