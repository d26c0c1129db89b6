#!/usr/bin/env bash
# The lab's producer script, rebuilt on kds-gen and kds-put. The lab runs it as
#   sh lab1.sh kds-lab1 2021-03-19 &
# and so can you:
#   scripts/lab1.sh kds-lab1 2021-03-19 &
set -euo pipefail

PROG="lab1.sh"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  cat <<'EOF'
Usage: scripts/lab1.sh [OPTIONS] STREAM [TDATE] [-- KDS-GEN-FLAGS...]

The lab's producer: writes simulated trade events for trade date TDATE (default: today, UTC)
into the Kinesis data stream STREAM, 10 events per second, until it is stopped:

    kds-gen --log LOG TDATE [KDS-GEN-FLAGS] | kds-put --stream STREAM

Like the lab's `sh lab1.sh kds-lab1 2021-03-19 &`, run it in the background with `&`. The log
file gets kds-gen's start-up line ("... kds-gen started: tdate=... rate=10/s ... pid=...") when
the generator starts, and a "lab1.sh stopped" line with the totals when the script ends.

Stopping: SIGTERM or SIGINT (kill %1, kill PID) stops the generator; every event it already
wrote is still sent by kds-put (nothing read is lost), then the script exits with kds-put's
status. It also ends by itself when KDS-GEN-FLAGS bound the run (-n N, --duration 90s).

Options:
  --log FILE        the log file (default: lab1.log in the current directory; env LAB1_LOG)
  --events FILE     also keep a copy of every generated event in FILE (env LAB1_EVENTS)
  --receipts FILE   write kds-put's receipts (one NDJSON line per record delivered) to FILE
                    (env LAB1_RECEIPTS)
  --bin DIR         directory with kds-gen and kds-put (env KDS_BIN_DIR; default: PATH, then
                    target/release, then target/debug of this checkout)
  -h, --help        this help

Everything after `--` goes to kds-gen, e.g. `-- --rate 50 --seed 7` or `-- --simulated-clock -n 1000`.
AWS settings come from the environment (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_KINESIS, ...;
for the local stack: eval "$(scripts/stack env)").

Exit status: kds-put's (0 when every generated event was delivered), 2 on a usage error.
EOF
}

usage_error() { printf '%s: %s (see --help)\n' "$PROG" "$*" >&2; exit 2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
now_ms() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }

LOG="${LAB1_LOG:-lab1.log}"
EVENTS="${LAB1_EVENTS:-}"
RECEIPTS="${LAB1_RECEIPTS:-}"
BIN="${KDS_BIN_DIR:-}"
POS=()
GEN_ARGS=()
while (($#)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --log | --events | --receipts | --bin)
      (($# >= 2)) || usage_error "$1 needs a value"
      case "$1" in
        --log) LOG="$2" ;;
        --events) EVENTS="$2" ;;
        --receipts) RECEIPTS="$2" ;;
        --bin) BIN="$2" ;;
      esac
      shift ;;
    --log=*) LOG="${1#*=}" ;;
    --events=*) EVENTS="${1#*=}" ;;
    --receipts=*) RECEIPTS="${1#*=}" ;;
    --bin=*) BIN="${1#*=}" ;;
    --) shift; GEN_ARGS=("$@"); break ;;
    -*) usage_error "unknown option: $1" ;;
    *) POS+=("$1") ;;
  esac
  shift
done
((${#POS[@]} >= 1 && ${#POS[@]} <= 2)) || usage_error "give STREAM and optionally TDATE"
STREAM="${POS[0]}"
TDATE="${POS[1]:-$(date -u +%Y-%m-%d)}"
[[ -n "$STREAM" ]] || usage_error "STREAM must not be empty"
[[ "$TDATE" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] || usage_error "TDATE must be YYYY-MM-DD, got '$TDATE'"
[[ -n "$LOG" ]] || usage_error "--log must not be empty"

# shellcheck source=scripts/find-bin.sh
. "$ROOT/scripts/find-bin.sh"
GEN="$(find_bin kds-gen)"
PUT="$(find_bin kds-put)"

PUT_ARGS=(--stream "$STREAM")
[[ -z "$RECEIPTS" ]] || PUT_ARGS+=(--receipts)

TMP="$(mktemp -d "${TMPDIR:-/tmp}/lab1.XXXXXX")"
FIFO="$TMP/events"
mkfifo "$FIFO"

gen_pid=""
put_pid=""
SIGNALS=0
# shellcheck disable=SC2317 # a trap handler
on_signal() {
  SIGNALS=$((SIGNALS + 1))
  if [[ -n "$gen_pid" ]]; then kill -TERM "$gen_pid" 2>/dev/null || true; fi
}
trap on_signal TERM INT HUP
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  # Only on an unexpected exit: never leave the children running.
  if [[ -n "$gen_pid" ]]; then kill -TERM "$gen_pid" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# wait_pid PID: the exit status of a child, even when a signal interrupts `wait`.
wait_pid() {
  local pid="$1" rc seen last=""
  while :; do
    seen=$SIGNALS
    rc=0
    wait "$pid" 2>/dev/null || rc=$?
    if ((SIGNALS == seen)); then
      # 127: the status was already collected by an interrupted wait
      if ((rc == 127)) && [[ -n "$last" ]]; then rc=$last; fi
      return "$rc"
    fi
    last=$rc
  done
}

# The consumer first (it opens the FIFO for reading), then the generator.
if [[ -n "$RECEIPTS" ]]; then
  exec 3>"$RECEIPTS"
else
  exec 3>/dev/null
fi
if [[ -n "$EVENTS" ]]; then
  tee -- "$EVENTS" <"$FIFO" | "$PUT" "${PUT_ARGS[@]}" >&3 &
else
  "$PUT" "${PUT_ARGS[@]}" <"$FIFO" >&3 &
fi
put_pid=$!
exec 3>&-
"$GEN" --log "$LOG" "$TDATE" "${GEN_ARGS[@]}" >"$FIFO" &
gen_pid=$!

gen_rc=0
wait_pid "$gen_pid" || gen_rc=$?
gen_pid=""
put_rc=0
wait_pid "$put_pid" || put_rc=$?
put_pid=""

how="generator ended"
((SIGNALS == 0)) || how="stopped by signal"
counts=""
if [[ -n "$EVENTS" && -f "$EVENTS" ]]; then
  counts=" events=$(wc -l <"$EVENTS" | tr -d ' ')"
fi
if [[ -n "$RECEIPTS" && -f "$RECEIPTS" ]]; then
  counts="$counts delivered=$(wc -l <"$RECEIPTS" | tr -d ' ')"
fi
printf '%s lab1.sh stopped: %s; stream=%s%s kds-gen=%s kds-put=%s\n' \
  "$(now_ms)" "$how" "$STREAM" "$counts" "$gen_rc" "$put_rc" >>"$LOG"
if ((gen_rc != 0)); then
  printf '%s: kds-gen exited with status %s\n' "$PROG" "$gen_rc" >&2
fi
if ((put_rc != 0)); then
  printf '%s: kds-put exited with status %s\n' "$PROG" "$put_rc" >&2
  exit "$put_rc"
fi
((gen_rc == 0)) || exit 1
exit 0
