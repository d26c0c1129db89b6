#!/usr/bin/env python3
"""Builds bench/RESULTS.md and bench/charts/*.svg from the results of a bench/run.

Usage: report.py OUT_DIR RESULTS_MD CHARTS_DIR

Reads (all written by bench/run and the bench/<tool>.sh scripts, see bench/lib.sh):
  OUT_DIR/run-meta.tsv          key<TAB>value lines: date, commit, machine, mode, load, ...
  OUT_DIR/run-tools.tsv         tool<TAB>status<TAB>seconds<TAB>load_before<TAB>load_after<TAB>date<TAB>commit
  OUT_DIR/<tool>.tsv            one row per (case, contender), header line first
  OUT_DIR/e2e.tsv               end-to-end latency: stage<TAB>n<TAB>p50_ms<TAB>p90_ms<TAB>p99_ms<TAB>max_ms
  OUT_DIR/e2e-meta.tsv          key<TAB>value lines describing the latency run
  OUT_DIR/window-peers.tsv      contender<TAB>how it answers the window query (bench/window.sh)

Standard library only (the charts are plain SVG written here), so it runs on any python3.
"""
import html
import math
import os
import sys

TITLES = {
    "gen": "kds-gen: generate trade events to /dev/null",
    "window": "kds-window: the lab query (count and sum of tnum per minute)",
    "put": "kds-put: write records into kinesalite",
    "tail": "kds-tail: read a kinesalite stream to its tip",
    "s3sink": "kds-s3sink: buffer NDJSON into S3 objects (moto_server; a null store for its own ceiling)",
}
OURS_COLOR = "#d9480f"
PEER_COLOR = "#4c6ef5"


def read_kv(path):
    kv = {}
    if os.path.exists(path):
        for line in open(path, encoding="utf-8"):
            if "\t" in line:
                k, v = line.rstrip("\n").split("\t", 1)
                kv[k] = v
    return kv


def read_tsv(path):
    with open(path, encoding="utf-8") as f:
        lines = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    if not lines:
        return []
    head = lines[0]
    return [dict(zip(head, row)) for row in lines[1:]]


def human(x):
    x = float(x)
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if x >= div:
            return f"{x / div:.3g}{unit}" if x / div < 100 else f"{x / div:.0f}{unit}"
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def bar_chart(path, title, bars, unit, log=True):
    """bars: list of (label, value, is_ours). Horizontal bars, log or linear x axis."""
    bars = [b for b in bars if b[1] > 0]
    if not bars:
        return False
    label_w, plot_w, bar_h, gap, top = 330, 520, 20, 6, 48
    width = label_w + plot_w + 90
    height = top + len(bars) * (bar_h + gap) + 40
    vmax = max(v for _, v, _ in bars)
    vmin = min(v for _, v, _ in bars)
    if log:
        lo = 10 ** math.floor(math.log10(vmin))
        hi = 10 ** math.ceil(math.log10(vmax))
        if hi <= lo:
            hi = lo * 10

        def xpos(v):
            return label_w + plot_w * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

        ticks = []
        t = lo
        while t <= hi * 1.0001:
            ticks.append(t)
            t *= 10
    else:
        lo, hi = 0.0, vmax * 1.1

        def xpos(v):
            return label_w + plot_w * v / hi

        step = 10 ** math.floor(math.log10(hi / 2)) if hi > 0 else 1
        ticks = [i * step for i in range(int(hi / step) + 1)]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="20" font-size="15" font-weight="bold">{html.escape(title)}</text>',
        f'<text x="10" y="38" fill="#555">{html.escape(unit)}{" (log scale)" if log else ""}; '
        f'<tspan fill="{OURS_COLOR}">ours</tspan>, <tspan fill="{PEER_COLOR}">peers</tspan></text>',
    ]
    axis_y = top + len(bars) * (bar_h + gap)
    for t in ticks:
        x = xpos(t)
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{axis_y}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{axis_y + 16}" text-anchor="middle" fill="#555">{human(t)}</text>')
    for i, (label, v, ours) in enumerate(bars):
        y = top + i * (bar_h + gap)
        x0 = label_w if not log else xpos(lo)
        x1 = xpos(v)
        color = OURS_COLOR if ours else PEER_COLOR
        out.append(f'<text x="{label_w - 8}" y="{y + bar_h - 5}" text-anchor="end">{html.escape(label)}</text>')
        out.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{bar_h}" fill="{color}"/>')
        out.append(f'<text x="{x1 + 5:.1f}" y="{y + bar_h - 5}">{human(v)}</text>')
    out.append("</svg>")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    return True


def fnum(x, digits=2):
    return f"{float(x):.{digits}f}"


# The DuckDB query measured before the peers were rewritten at their fastest: kept in the report so
# that nobody compares the old headline with the new one.
EARLIER_DUCKDB_NOTE = (
    "An earlier RESULTS.md said kds-window was 5.8× DuckDB at one thread. That ratio was against a "
    "slow DuckDB query (tuptime as TIMESTAMPTZ, `time_bucket` and `strftime` on every row, grouping "
    "on the strings), about 3× slower than DuckDB's own best formulation of the same question. "
    "The `duckdb` rows above run that best formulation; the `duckdb, earlier query` row (one run) "
    "keeps the old query for comparison. Every peer now runs the fastest formulation we found, "
    "listed below."
)


def window_notes(out_dir):
    """The 5.8x note and each contender's formulation (bench/window.sh writes window-peers.tsv)."""
    md = ["", EARLIER_DUCKDB_NOTE, "", "How each contender answers (and which cases it cannot run):", ""]
    path = os.path.join(out_dir, "window-peers.tsv")
    if os.path.exists(path):
        for line in open(path, encoding="utf-8"):
            if "\t" in line:
                name, how = line.rstrip("\n").split("\t", 1)
                md.append(f"- **{name}**: {how}")
    else:
        md.append("- (no window-peers.tsv in this run's output)")
    md.append("")
    return md


def ceiling_note(rows):
    """Ours as a percentage of the emulator's ceiling: the best `emulator ceiling` row, measured
    by bench/ceiling's minimal client, not by any contender."""
    ceilings = [r for r in rows if r["contender"].startswith("emulator ceiling")]
    ours = next((r for r in rows if r["ours"] == "1"), None)
    if not ceilings or ours is None:
        return []
    best = max(ceilings, key=rate)
    return ["", f"The emulator's ceiling (`{best['contender']}`, requests built before its clock "
            f"starts, its sending or reading phase alone): {human(rate(best))} records/s; "
            f"**{ours['contender']}** reaches **{100 * rate(ours) / rate(best):.0f}%** of it.", ""]


def rate(row):
    """records/s from the median (records_per_s in the TSV is rounded: 0 for a one-line case)."""
    return float(row["records"]) / max(float(row["median_s"]), 0.005)


def tool_section(tool, rows, charts_dir, results_dir, md, out_dir):
    md.append(f"## {TITLES.get(tool, tool)}\n")
    # Ratio: ours' records/s over this row's, against our row of the same case (else our first row).
    ours_by_case = {}
    first_ours = None
    for r in rows:
        if r["ours"] == "1":
            ours_by_case.setdefault(r["case"], r)
            first_ours = first_ours or r
    chart = os.path.join(charts_dir, f"{tool}.svg")
    # The startup case (one line: what starting a contender costs) would squash a records/s axis.
    bars = [(f"{r['contender']} [{r['case']}]", float(r["records_per_s"]), r["ours"] == "1") for r in rows
            if not r["case"].startswith("startup")]
    if bar_chart(chart, TITLES.get(tool, tool), bars, "records/s, median of the runs"):
        md.append(f"![{tool} chart](charts/{tool}.svg)\n")
    md.append("| case | contender | runs | records | median s (min–max) | records/s | MB/s | CPU s | peak RSS MiB | ours is ×faster | check |")
    md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        ref = ours_by_case.get(r["case"], first_ours)
        if r["ours"] == "1" and ref is r:
            ratio = "—"
        elif ref is not None and float(ref["median_s"]) < 0.01:
            ratio = "(ours < 0.01 s)"  # below GNU time's resolution: no meaningful ratio
        elif ref is not None and float(r["records"]) > 0:
            ratio = f"{rate(ref) / rate(r):.2f}"
        else:
            ratio = "?"
        name = f"**{r['contender']}**" if r["ours"] == "1" else r["contender"]
        md.append(
            f"| {r['case']} | {name} | {r['runs']} | {r['records']} | {fnum(r['median_s'], 3)} "
            f"({fnum(r['min_s'], 3)}–{fnum(r['max_s'], 3)}) | {human(r['records_per_s'])} | {r['mb_per_s']} | "
            f"{r['cpu_s']} | {int(r['max_rss_kb']) / 1024:.1f} | {ratio} | {r['check']} |"
        )
    md.append("")
    md.append(
        "“ours is ×faster”: our records/s (the bold row of the same case, or our first row) divided by "
        "this row's; above 1 means ours is faster."
    )
    if tool == "window":
        md.extend(window_notes(out_dir))
    md.extend(ceiling_note(rows))
    detail = os.path.join(results_dir, f"{tool}.md")
    if os.path.exists(detail):
        md.append(f"Details and the tool's own targets: [results/{tool}.md](results/{tool}.md) "
                  f"(written by `bench/{tool}.sh`).")
    md.append("")


def main():
    out_dir, results_md, charts_dir = sys.argv[1:4]
    results_dir = os.path.join(os.path.dirname(results_md), "results")
    os.makedirs(charts_dir, exist_ok=True)
    meta = read_kv(os.path.join(out_dir, "run-meta.tsv"))
    tools = []
    tools_path = os.path.join(out_dir, "run-tools.tsv")
    if os.path.exists(tools_path):
        for line in open(tools_path, encoding="utf-8"):
            f = line.rstrip("\n").split("\t")
            if len(f) >= 5:
                tools.append(f)
    md = [
        "# Benchmark results",
        "",
        f"Generated by `bench/run {meta.get('args', '').strip()}`".rstrip() + " — do not edit; rerun it to refresh "
        "(see [README.md](README.md)). Every contender's answer was checked against ours before its time "
        "counted; a disagreement fails the run.",
        "",
        *(["Only some comparisons ran this time; the others' sections are kept from earlier runs (see the "
           "\"measured\" column).", ""] if "--only" in meta.get("args", "") else []),
        f"- date: {meta.get('date', '?')}",
        f"- commit: {meta.get('commit', '?')}",
        f"- machine: {meta.get('machine', '?')}",
        f"- mode: {meta.get('mode', '?')}",
        f"- data: {meta.get('data', '?')}",
        f"- load average (1/5/15 min) at the start: {meta.get('load_start', '?')}, at the end: {meta.get('load_end', '?')}"
        + (f" — {meta['load_note']}" if meta.get("load_note") else ""),
        f"- peers: {meta.get('peers', '?')}",
        "",
        "Times are wall-clock seconds from GNU `time` (median of the runs, min–max in brackets); CPU s is "
        "user + system of the contender and its children (median); peak RSS is the largest process's.",
        "",
        "| comparison | status | seconds | load before | load after | measured |",
        "|---|---|---:|---|---|---|",
    ]
    order = ["gen", "window", "put", "tail", "s3sink", "e2e"]
    tools.sort(key=lambda t: order.index(t[0]) if t[0] in order else len(order))
    for t in tools:
        tool, status, secs, lb, la = t[:5]
        when = f"{t[5]} at {t[6]}" if len(t) >= 7 else "this run"
        md.append(f"| {tool} | {status} | {secs} | {lb} | {la} | {when} |")
    md.append("")
    for tool, status, *_ in tools:
        if tool == "e2e":
            continue
        tsv = os.path.join(out_dir, f"{tool}.tsv")
        if status == "ok" and os.path.exists(tsv):
            tool_section(tool, read_tsv(tsv), charts_dir, results_dir, md, out_dir)
        else:
            md.append(f"## {TITLES.get(tool, tool)}\n")
            md.append(f"Not measured in this run: {status}.\n")
    # End-to-end latency.
    if any(t[0] == "e2e" for t in tools):
        md.append("## End-to-end latency: kds-put → kinesalite → kds-tail → kds-window\n")
        e2e_meta = read_kv(os.path.join(out_dir, "e2e-meta.tsv"))
        e2e_tsv = os.path.join(out_dir, "e2e.tsv")
        status = next(t[1] for t in tools if t[0] == "e2e")
        if status == "ok" and os.path.exists(e2e_tsv):
            rows = read_tsv(e2e_tsv)
            for k in ("pipeline", "measure"):
                if k in e2e_meta:
                    md.append(f"- {k}: {e2e_meta[k]}")
            md.append("")
            chart = os.path.join(charts_dir, "e2e.svg")
            bars = []
            for r in rows:
                for p in ("p50_ms", "p99_ms"):
                    bars.append((f"{r['stage']} {p[:3]}", float(r[p]), True))
            if bar_chart(chart, "End-to-end latency (ms)", bars, "milliseconds", log=False):
                md.append("![e2e latency chart](charts/e2e.svg)\n")
            md.append("| stage | records | p50 ms | p90 ms | p99 ms | max ms |")
            md.append("|---|---:|---:|---:|---:|---:|")
            for r in rows:
                md.append(f"| {r['stage']} | {r['n']} | {r['p50_ms']} | {r['p90_ms']} | {r['p99_ms']} | {r['max_ms']} |")
            md.append("")
            if "note" in e2e_meta:
                md.append(e2e_meta["note"] + "\n")
        else:
            md.append(f"Not measured in this run: {status}.\n")
    with open(results_md, "w", encoding="utf-8") as f:
        f.write("\n".join(md).rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
