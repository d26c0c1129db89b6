"""Validates the golden Flink SQL files with Apache Flink's own planner (PyFlink).

    python3 -m venv .tools/flink-venv && .tools/flink-venv/bin/pip install apache-flink
    .tools/flink-venv/bin/python window/tests/golden/validate_flink.py window/tests/golden/*.flink.sql

Needs a JVM (java 11 or 17). The Kinesis connector is not part of PyFlink, so the source
table's WITH (...) options are swapped for the built-in 'datagen' connector; everything else
(column types, PROCTIME(), WATERMARK, the TUMBLE window TVF, casts, WHERE, GROUP BY, the sink
schema) is parsed, validated and planned by Flink exactly as written. Prints the optimized plan
of each INSERT; exits 1 on the first file Flink rejects.
"""

import re
import sys

from pyflink.table import EnvironmentSettings, TableEnvironment


def statements(text):
    body = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def main(paths):
    failed = False
    for path in paths:
        with open(path, encoding="utf-8") as f:
            stmts = statements(f.read())
        env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
        try:
            for s in stmts:
                if s.upper().startswith("CREATE TABLE") and "'kinesis'" in s:
                    s = re.sub(r"WITH \((.|\n)*\)\s*$", "WITH ('connector' = 'datagen')", s)
                if s.upper().startswith("INSERT"):
                    plan = env.explain_sql(s)
                    print(f"== {path}: Flink accepted the INSERT; optimized plan:")
                    print(plan.split("== Optimized Execution Plan ==")[-1].strip())
                else:
                    env.execute_sql(s)
        except Exception as e:  # noqa: BLE001 - report any planner error and go on
            failed = True
            print(f"== {path}: REJECTED by Flink: {e}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
