#!/usr/bin/env bash
# A Firehose-like delivery as a cron job: every minute, copy what arrived in a Kinesis stream
# since the last run into S3, each record exactly once.
#
# crontab -e:
#   * * * * * /path/to/kds-tools/scripts/cron-example.sh --env-file /path/to/kds-tools/.tools/stack.env --stream kds-lab1 --bucket lab-000000000000-wzlinux-com >>/var/tmp/kds-cron.log 2>&1
# (against real AWS leave out --env-file: credentials and region come from the usual chain,
# e.g. AWS_PROFILE=... in the crontab line)
set -euo pipefail

PROG="cron-example.sh"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  cat <<'EOF'
Usage: scripts/cron-example.sh --stream NAME --bucket NAME [OPTIONS]

One run, meant for cron (every minute): reads every record that arrived in the stream since the
previous run and writes them into S3 with Firehose's keys, then exits:

  kds-tail --stream S --from trim-horizon --checkpoint STATE/S.checkpoint.next -e --envelope \
    | kds-s3sink --input envelope --bucket B --prefix P --error-prefix E --name N \
        --buffer-size 1MiB --buffer-interval 60s --spill STATE/spill --allow-spill

Exactly once: kds-tail resumes after the sequence numbers in the checkpoint, and -e stops it at
the tip. The run works on a copy of the checkpoint (STATE/S.checkpoint.next) and replaces the
real one (STATE/S.checkpoint) only when the whole pipeline succeeded, i.e. every record read is
in S3. A failed run leaves the old checkpoint, so the next run reads the same records again
(nothing is lost; objects a failed run did upload may then hold them twice). A lock keeps two
runs from overlapping: a run that finds the previous one still busy exits 0 at once.
Objects S3 does not take within kds-s3sink's retry duration are spilled to STATE/spill
(--allow-spill): they are safe on disk, the run counts as done, and the next run re-sends them
first under their own keys, exactly once.

Options:
  --stream NAME        stream to read (env KDS_TAIL_STREAM, as kds-tail)
  --bucket NAME        destination bucket (env KDS_S3SINK_BUCKET, as kds-s3sink)
  --prefix P           key prefix (default lab1-input/)
  --error-prefix E     error prefix (default lab1-error/)
  --name N             delivery stream name in the keys (default lab1-kfh)
  --state-dir DIR      where the checkpoint lives (default ~/.local/state/kds-cron)
  --env-file FILE      source FILE first (e.g. .tools/stack.env for the local stack: cron runs
                       with an almost empty environment)
  --bin DIR            directory with kds-tail and kds-s3sink (env KDS_BIN_DIR; default: PATH,
                       then target/release, then target/debug of this checkout)
  -h, --help           this help

Output: kds-s3sink's object reports ({"bucket","key","records","bytes"}) on stdout, one summary
line on stderr. Exit status: 0 ok (also when another run holds the lock), 1 failure (the
checkpoint is not advanced), 2 usage error.
EOF
}

usage_error() { printf '%s: %s (see --help)\n' "$PROG" "$*" >&2; exit 2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
stamp() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }

STREAM="${KDS_TAIL_STREAM:-}"
BUCKET="${KDS_S3SINK_BUCKET:-}"
PREFIX=lab1-input/
ERROR_PREFIX=lab1-error/
NAME=lab1-kfh
STATE="${HOME:-/tmp}/.local/state/kds-cron"
ENV_FILE=""
BIN="${KDS_BIN_DIR:-}"
while (($#)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --stream | --bucket | --prefix | --error-prefix | --name | --state-dir | --env-file | --bin)
      (($# >= 2)) || usage_error "$1 needs a value"
      case "$1" in
        --stream) STREAM="$2" ;;
        --bucket) BUCKET="$2" ;;
        --prefix) PREFIX="$2" ;;
        --error-prefix) ERROR_PREFIX="$2" ;;
        --name) NAME="$2" ;;
        --state-dir) STATE="$2" ;;
        --env-file) ENV_FILE="$2" ;;
        --bin) BIN="$2" ;;
      esac
      shift ;;
    *) usage_error "unknown argument: $1" ;;
  esac
  shift
done
[[ -n "$STREAM" ]] || usage_error "--stream is required"
[[ -n "$BUCKET" ]] || usage_error "--bucket is required"
[[ "$STREAM" =~ ^[A-Za-z0-9_.-]+$ ]] || usage_error "--stream: not a stream name: $STREAM"
if [[ -n "$ENV_FILE" ]]; then
  [[ -r "$ENV_FILE" ]] || die "--env-file $ENV_FILE: not readable"
  # shellcheck disable=SC1090
  . "$ENV_FILE"
fi

# shellcheck source=scripts/find-bin.sh
. "$ROOT/scripts/find-bin.sh"
TAIL="$(find_bin kds-tail)"
SINK="$(find_bin kds-s3sink)"

mkdir -p "$STATE"
CKPT="$STATE/$STREAM.checkpoint"
NEXT="$CKPT.next"

# One run at a time per stream.
exec 9>"$STATE/$STREAM.lock"
if ! flock -n 9; then
  printf '%s: %s previous run still busy; skipping this one\n' "$PROG" "$(stamp)" >&2
  exit 0
fi

# Work on a copy; the real checkpoint moves only after S3 has everything.
rm -f "$NEXT"
if [[ -f "$CKPT" ]]; then cp -p -- "$CKPT" "$NEXT"; fi
REPORTS="$STATE/$STREAM.objects"
set +e
(
  set -o pipefail
  "$TAIL" --stream "$STREAM" --from trim-horizon --checkpoint "$NEXT" -e --envelope |
    "$SINK" --input envelope --bucket "$BUCKET" --prefix "$PREFIX" --error-prefix "$ERROR_PREFIX" \
      --name "$NAME" --buffer-size 1MiB --buffer-interval 60s --spill "$STATE/spill" --allow-spill >"$REPORTS"
)
rc=$?
set -e
cat "$REPORTS"
records=0
objects=0
while IFS= read -r line; do
  if [[ "$line" =~ \"records\":([0-9]+) ]]; then
    records=$((records + BASH_REMATCH[1]))
    objects=$((objects + 1))
  fi
done <"$REPORTS"
if ((rc != 0)); then
  rm -f "$NEXT"
  printf '%s: %s run FAILED (status %s): checkpoint not advanced; the next run retries\n' "$PROG" "$(stamp)" "$rc" >&2
  exit 1
fi
if [[ -f "$NEXT" ]]; then mv -f -- "$NEXT" "$CKPT"; fi
printf '%s: %s ok: %s records in %s objects to s3://%s/%s; checkpoint %s\n' \
  "$PROG" "$(stamp)" "$records" "$objects" "$BUCKET" "$PREFIX" "$CKPT" >&2
