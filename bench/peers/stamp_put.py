"""Passes trade lines from stdin to stdout unchanged, one flush per line, and logs when each
entered the producer: `tid<TAB>epoch ms` per line into the file named by the first argument.
Used by bench/run's e2e and bench/latency.sh between kds-gen and kds-put.
"""
import sys
import time

with open(sys.argv[1], "w") as log:
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        out.write(line)
        out.flush()
        t = time.time() * 1000
        i = line.find(b'"tid":"') + 7
        log.write("%s\t%.1f\n" % (line[i:line.index(b'"', i)].decode(), t))
