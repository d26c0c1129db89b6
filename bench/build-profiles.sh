#!/usr/bin/env bash
# Build time against the tools' speed, per build profile: what `cargo build --release` costs a
# first-time user (scripts/demo builds the six tools on a fresh clone) and what each profile gives
# back in kds-window's and kds-gen's instructions per line (valgrind cachegrind, deterministic on
# a shared machine, unlike wall time). The figures are in bench/README.md ("The build profile").
#
#   bench/build-profiles.sh                 # every profile below, one after the other
#   bench/build-profiles.sh nolto-hot       # only the named ones
#
# Each profile builds from scratch into its own target directory (target/profiles/NAME), with
# CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}; build seconds are wall and user+sys CPU of the whole
# cargo run, with the load average at the start (a loaded machine inflates wall time far more than
# CPU time). The build directory is removed afterwards unless KEEP=1. N=200000 lines for cachegrind.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

N=${N:-200000}
JOBS=${CARGO_BUILD_JOBS:-2}
OUT=bench/out/build-profiles
mkdir -p "$OUT"

# name | cargo --config overrides of [profile.release] (space-separated). sdk-o1 builds the
# generated AWS service crates (the bulk of the build; their code runs once per request, not per
# record) at opt-level 1 and everything else as nolto-cgu16.
PROFILES=(
    "nolto-cgu16|profile.release.lto=false profile.release.codegen-units=16"
    "nolto-hot|profile.release.lto=false profile.release.codegen-units=16 profile.release.package.kds-window.codegen-units=1 profile.release.package.kds-gen.codegen-units=1 profile.release.package.kds-common.codegen-units=1"
    "fat-cgu1|profile.release.lto=\"fat\" profile.release.codegen-units=1"
    "thin-cgu16|profile.release.lto=\"thin\" profile.release.codegen-units=16"
    "sdk-o1|profile.release.lto=false profile.release.codegen-units=16 $(for c in aws-config aws-sdk-kinesis aws-sdk-s3 aws-sdk-sso aws-sdk-ssooidc aws-sdk-sts; do printf 'profile.release.package.%s.opt-level=1 ' "$c"; done)"
)
TOOLS=(-p kds-gen -p kds-put -p kds-tail -p kds-window -p kds-s3sink -p kds-chart)
# The benchmarks' trades (bench/lib.sh), which every profile's tools are measured on; kds-gen is
# measured writing them.
# shellcheck source=bench/lib.sh
. bench/lib.sh
TRADES=$(bench_dataset "$N")
LAB_SQL=window/perf/lab1.sql

wanted() { [ $# -eq 1 ] && return 0; local n; for n in "${@:2}"; do [ "$n" = "$1" ] && return 0; done; return 1; }

# instructions per line of one command over N lines, via cachegrind
instr_per_line() { # log-name command...
    local log="$OUT/$1.cg.log"
    shift
    valgrind --tool=cachegrind --cache-sim=no --branch-sim=yes --cachegrind-out-file=/dev/null \
        "$@" > /dev/null 2> "$log"
    awk -v n="$N" '/I *refs:/ {gsub(",", "", $NF); printf "%.0f", $NF / n}' "$log"
}

size_kib() { echo $(( $(stat -c %s "$1") / 1024 )); }

echo "| profile | build wall s | build CPU s | load at start | kds-window event time (instr/line) | kds-window --sql lab1 (instr/line) | kds-gen (instr/line) | kds-window size (KiB) | kds-put size (KiB) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for entry in "${PROFILES[@]}"; do
    IFS='|' read -r name overrides <<< "$entry"
    wanted "$name" "$@" || continue
    target="target/profiles/$name"
    rm -rf "$target"
    config=()
    for o in $overrides; do config+=(--config "$o"); done
    load=$(cut -d' ' -f1 /proc/loadavg)
    /usr/bin/time -f '%e %U %S' -o "$OUT/$name.time" \
        env CARGO_TARGET_DIR="$target" CARGO_BUILD_JOBS="$JOBS" \
        cargo build --release --quiet "${config[@]}" "${TOOLS[@]}"
    read -r wall user sys < "$OUT/$name.time"
    bin="$target/release"
    w_event=$(instr_per_line "$name-window-event" "$bin/kds-window" --time event:tuptime "$TRADES")
    w_sql=$(instr_per_line "$name-window-sql" "$bin/kds-window" --sql "$LAB_SQL" "$TRADES")
    g=$(instr_per_line "$name-gen" "$bin/kds-gen" "${BENCH_GEN_ARGS[@]}" -n "$N")
    awk -v name="$name" -v wall="$wall" -v cpu="$(echo "$user + $sys" | bc -l)" -v load="$load" \
        -v we="$w_event" -v ws="$w_sql" -v g="$g" -v sw="$(size_kib "$bin/kds-window")" \
        -v sp="$(size_kib "$bin/kds-put")" \
        'BEGIN { printf "| %s | %.0f | %.0f | %s | %s | %s | %s | %s | %s |\n", name, wall, cpu, load, we, ws, g, sw, sp }'
    [ "${KEEP:-0}" = 1 ] || rm -rf "$target"
done
