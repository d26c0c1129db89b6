#!/usr/bin/env python3
"""A short Python generator of the kds-gen trade-event schema, for bench/gen.sh.

Usage: gen.py N [SEED]   -- writes N NDJSON events as fast as possible to stdout.
Same schema and key order as kds-gen (gen/README.md); tuptime is the wall clock.
Written the idiomatic-but-quick way: f-strings, random.choices, one write per 10k lines.
"""
import random
import string
import sys
import time


def main():
    n = int(sys.argv[1])
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    tdate = "2021-03-19"
    letters = string.ascii_letters
    out = sys.stdout
    batch = []
    last_sec = None
    stamp = tuptime = ""
    for i in range(1, n + 1):
        sec = int(time.time())
        if sec != last_sec:  # date strings change once a second
            t = time.gmtime(sec)
            stamp = time.strftime("%Y%m%d%H%M%S", t)
            tuptime = time.strftime("%Y-%m-%dT%H:%M:%SZ", t)
            last_sec = sec
        tno = "".join(rng.choices(letters, k=4)) + stamp
        batch.append(
            f'{{"tid":"{i}","tno":"{tno}","tdate":"{tdate}",'
            f'"uno":"U{rng.randrange(1000, 1100)}","pno":"P{rng.randrange(1000, 1100)}",'
            f'"tnum":{rng.randint(1, 100)},"tuptime":"{tuptime}"}}\n'
        )
        if len(batch) == 10_000:
            out.write("".join(batch))
            batch.clear()
    out.write("".join(batch))


if __name__ == "__main__":
    main()
