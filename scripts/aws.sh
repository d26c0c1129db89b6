# shellcheck shell=bash
# shellcheck disable=SC2034 # variables are used by the scripts that source this file
# Target selection (local stack by default, real AWS only with --aws), aws CLI wrappers and the
# ownership evidence (tags, state file) shared by scripts/provision, scripts/teardown,
# scripts/demo and scripts/aws-smoke. Source after lib.sh.

export AWS_PAGER=""

STREAM="${STREAM:-}"
BUCKET="${BUCKET:-}"
REGION=""
PROFILE=""
ENDPOINT=""
KINESIS_EP=""
S3_EP=""
STS_EP=""
AWS_MODE=0
YES=0
RUN_ID=""
REST=()
TARGET=""
TARGET_DESC=""
CLI=""

# Everything the scripts create carries these tags ("Tagging your Amazon Kinesis Data Streams
# resources", "Using cost allocation S3 bucket tags"); teardown deletes only what carries them.
TAG_CREATED_BY=kds-tools/created-by
TAG_RUN_ID=kds-tools/run-id
CREATED_BY=provision
STATE_DIR="$TOOLS/state"
# Kinesis Data Streams pricing, provisioned mode, US East (N. Virginia): per shard-hour, and per
# million PUT payload units. Other regions cost a little more; this is an estimate.
PRICE_SHARD_HOUR=0.015
PRICE_MILLION_PUT_UNITS=0.014

# Parses the flags provision and teardown share; the rest goes to REST.
parse_common_args() {
  local a
  while (($#)); do
    a="$1"
    case "$a" in
      -h | --help) usage; exit 0 ;;
      --stream | --bucket | --region | --profile | --run-id | --endpoint-url | --kinesis-endpoint-url | --s3-endpoint-url)
        (($# >= 2)) || usage_error "$a needs a value"
        set_opt "$a" "$2"; shift ;;
      --stream=* | --bucket=* | --region=* | --profile=* | --run-id=* | --endpoint-url=* | --kinesis-endpoint-url=* | --s3-endpoint-url=*)
        set_opt "${a%%=*}" "${a#*=}" ;;
      --aws) AWS_MODE=1 ;;
      --yes | -y) YES=1 ;;
      *) REST+=("$a") ;;
    esac
    shift
  done
}

set_opt() {
  case "$1" in
    --stream) STREAM="$2" ;;
    --bucket) BUCKET="$2" ;;
    --region) REGION="$2" ;;
    --profile) PROFILE="$2" ;;
    --run-id) RUN_ID="$2" ;;
    --endpoint-url) ENDPOINT="$2" ;;
    --kinesis-endpoint-url) KINESIS_EP="$2" ;;
    --s3-endpoint-url) S3_EP="$2" ;;
  esac
}

new_run_id() { printf '%s-%04x%04x\n' "$(date -u +%Y%m%dT%H%M%SZ)" "$RANDOM" "$RANDOM"; }

# Forget what `eval "$(scripts/stack env)"` exported: emulator endpoints, the test keys, the
# isolated config files. Only values that are the stack's own are removed.
clear_local_stack_env() {
  unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KINESIS AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL_STS
  if [[ "${AWS_ACCESS_KEY_ID:-}" == test && "${AWS_SECRET_ACCESS_KEY:-}" == test ]]; then
    unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  fi
  [[ "${AWS_CONFIG_FILE:-}" != "$TOOLS/aws/config" ]] || unset AWS_CONFIG_FILE
  [[ "${AWS_SHARED_CREDENTIALS_FILE:-}" != "$TOOLS/aws/credentials" ]] || unset AWS_SHARED_CREDENTIALS_FILE
  if [[ -n "${KDS_STACK_KINESIS_PORT:-}" ]]; then
    # The stack turned instance metadata off; real AWS may need it (EC2 instance roles).
    unset AWS_EC2_METADATA_DISABLED KDS_STACK_KINESIS_PORT KDS_STACK_S3_PORT
  fi
}

# The region, resolved once as the AWS CLI v2 and the SDKs do ("Configuration and credential
# file settings in the AWS CLI": flag > AWS_REGION > AWS_DEFAULT_REGION > the profile's region),
# then exported so the CLI v1 (which ignores AWS_REGION) and the tools agree.
resolve_region() {
  local from=--region
  if [[ -z "$REGION" && -n "${AWS_REGION:-}" ]]; then REGION="$AWS_REGION"; from=AWS_REGION; fi
  if [[ -z "$REGION" && -n "${AWS_DEFAULT_REGION:-}" ]]; then REGION="$AWS_DEFAULT_REGION"; from=AWS_DEFAULT_REGION; fi
  if [[ -z "$REGION" ]]; then
    REGION="$("$CLI" configure get region 2>/dev/null || true)"
    from="profile ${AWS_PROFILE:-default}"
  fi
  if [[ -z "$REGION" ]]; then
    say "no AWS region: pass --region REGION, export AWS_REGION, or set one with 'aws configure set region REGION'"
    exit 2
  fi
  REGION_SOURCE="$from"
  export AWS_REGION="$REGION" AWS_DEFAULT_REGION="$REGION"
}

# Decides TARGET (local | endpoint | aws), the CLI to use and the endpoints. Without --aws and
# without explicit endpoints the local stack must be running: exit 2 before any AWS call.
select_target() {
  if [[ -n "$ENDPOINT" ]]; then
    KINESIS_EP="${KINESIS_EP:-$ENDPOINT}"
    S3_EP="${S3_EP:-$ENDPOINT}"
  fi
  if ((AWS_MODE)); then
    [[ -z "$KINESIS_EP$S3_EP" ]] || usage_error "--aws and --endpoint-url exclude each other"
    TARGET=aws
    clear_local_stack_env
    [[ -z "$PROFILE" ]] || export AWS_PROFILE="$PROFILE"
    CLI="$(system_aws)" || die "no aws CLI found (install the AWS CLI, or run scripts/stack install for .tools/venv/bin/aws)"
    resolve_region
    TARGET_DESC="real AWS, region $REGION (from $REGION_SOURCE)"
  elif [[ -n "$KINESIS_EP$S3_EP" ]]; then
    [[ -n "$KINESIS_EP" && -n "$S3_EP" ]] || usage_error "give both --kinesis-endpoint-url and --s3-endpoint-url (or --endpoint-url)"
    TARGET=endpoint
    STS_EP="$S3_EP"
    if [[ -x "$(venv_aws)" ]]; then CLI="$(venv_aws)"; else CLI="$(system_aws)" || die "no aws CLI found"; fi
    REGION="${REGION:-${AWS_REGION:-${AWS_DEFAULT_REGION:-$LOCAL_REGION}}}"
    TARGET_DESC="endpoints kinesis=$KINESIS_EP s3=$S3_EP"
  elif load_stack_env; then
    TARGET=local
    KINESIS_EP="$AWS_ENDPOINT_URL_KINESIS"
    S3_EP="$AWS_ENDPOINT_URL_S3"
    STS_EP="${AWS_ENDPOINT_URL_STS:-$S3_EP}"
    REGION="$LOCAL_REGION"
    CLI="$(venv_aws)"
    [[ -x "$CLI" ]] || die "$CLI missing: run scripts/stack install"
    TARGET_DESC="local stack (kinesis $KINESIS_EP, s3 $S3_EP)"
  else
    say "the local stack is not running: start it with scripts/stack start (or pass --aws for real AWS); nothing done"
    exit 2
  fi
}

aws_cli() { "$CLI" --region "$REGION" "$@"; }
aws_kinesis() { aws_cli ${KINESIS_EP:+--endpoint-url "$KINESIS_EP"} kinesis "$@"; }
aws_s3() { aws_cli ${S3_EP:+--endpoint-url "$S3_EP"} s3 "$@"; }
aws_s3api() { aws_cli ${S3_EP:+--endpoint-url "$S3_EP"} s3api "$@"; }
aws_sts() { aws_cli ${STS_EP:+--endpoint-url "$STS_EP"} sts "$@"; }

# Sets ACCOUNT and CALLER_ARN. Bad or missing credentials are a configuration error: exit 2.
caller_identity() {
  local out
  if ! out="$(aws_sts get-caller-identity --query '[Account,Arn]' --output text 2>&1)"; then
    say "aws sts get-caller-identity failed: $(tail -n 1 <<<"$out")"
    say "fix the credentials (aws configure, aws sso login, --profile NAME); nothing done"
    exit 2
  fi
  ACCOUNT="$(cut -f1 <<<"$out")"
  CALLER_ARN="$(cut -f2 <<<"$out")"
}

# Prints the stream's status (CREATING, ACTIVE, UPDATING, DELETING) or NONE if it doesn't exist.
stream_status() {
  local out
  if out="$(aws_kinesis describe-stream-summary --stream-name "$1" \
    --query StreamDescriptionSummary.StreamStatus --output text 2>&1)"; then
    printf '%s\n' "$out"
  elif grep -q ResourceNotFoundException <<<"$out"; then
    echo NONE
  else
    die "aws kinesis describe-stream-summary --stream-name $1 failed: $out"
  fi
}

wait_stream_active() { # NAME TIMEOUT_S : polls every 0.5 s
  local name="$1" deadline=$((SECONDS + $2)) st
  while :; do
    st="$(stream_status "$name")"
    [[ "$st" == ACTIVE ]] && return 0
    [[ "$st" == NONE ]] && die "stream $name disappeared while waiting for ACTIVE"
    ((SECONDS < deadline)) || die "stream $name still $st after $2 s"
    sleep 0.5
  done
}

wait_stream_gone() { # NAME TIMEOUT_S
  local name="$1" deadline=$((SECONDS + $2)) st
  while :; do
    st="$(stream_status "$name")"
    [[ "$st" == NONE ]] && return 0
    ((SECONDS < deadline)) || die "stream $name still $st after $2 s"
    sleep 0.5
  done
}

# HeadBucket ("HeadBucket", Amazon S3 API Reference): 200 = exists and we may use it, 404 = absent,
# 403 = exists and is not ours (or no permission). Anything else is not an answer: stop, since
# "absent" would let a later step create or delete on a guess. Prints present | absent.
bucket_state() {
  local out code
  if out="$(aws_s3api head-bucket --bucket "$1" 2>&1)"; then
    echo present
    return
  fi
  code="$(sed -n 's/.*An error occurred (\([0-9A-Za-z]*\)) when calling the HeadBucket operation.*/\1/p' <<<"$out" | head -n 1)"
  case "$code" in
    404 | NoSuchBucket | NotFound) echo absent ;;
    403 | Forbidden | AccessDenied)
      die "bucket $1 exists and is not yours, or you have no permission to it (HeadBucket 403); choose another --bucket. Nothing was created or deleted" ;;
    *) die "HeadBucket $1 gave no usable answer ($(tail -n 1 <<<"$out")); stopping, nothing was created or deleted" ;;
  esac
}

# Our two tags of a stream / bucket as "created-by<TAB>run-id" ("None" where absent), one call.
stream_tags() { # NAME
  aws_kinesis list-tags-for-stream --stream-name "$1" --output text \
    --query "[Tags[?Key=='$TAG_CREATED_BY'].Value | [0], Tags[?Key=='$TAG_RUN_ID'].Value | [0]]" 2>/dev/null || true
}
bucket_tags() { # NAME ("NoSuchTagSet" for an untagged bucket: not ours)
  aws_s3api get-bucket-tagging --bucket "$1" --output text \
    --query "[TagSet[?Key=='$TAG_CREATED_BY'].Value | [0], TagSet[?Key=='$TAG_RUN_ID'].Value | [0]]" 2>/dev/null || true
}

# Ours = tagged as created by provision, and (when a run id is given) by that run.
tags_are_ours() { # "CREATED_BY<TAB>RUN_ID" [RUN_ID]
  local created_by run
  IFS=$'\t' read -r created_by run <<<"$1"
  [[ "$created_by" == "$CREATED_BY" && (-z "${2:-}" || "$run" == "$2") ]]
}
stream_is_ours() { tags_are_ours "$(stream_tags "$1")" "${2:-}"; } # NAME [RUN_ID]
bucket_is_ours() { tags_are_ours "$(bucket_tags "$1")" "${2:-}"; } # NAME [RUN_ID]

bucket_object_count() { # NAME
  # shellcheck disable=SC2016 # a JMESPath literal, not a shell expansion
  aws_s3api list-objects-v2 --bucket "$1" --query 'length(Contents || `[]`)' --output text 2>/dev/null || echo "?"
}

stream_consumers() { # NAME -> consumer names, one a line
  local arn
  arn="$(aws_kinesis describe-stream-summary --stream-name "$1" \
    --query StreamDescriptionSummary.StreamARN --output text 2>/dev/null)" || return 0
  aws_kinesis list-stream-consumers --stream-arn "$arn" --query 'Consumers[].ConsumerName' \
    --output text 2>/dev/null | tr '\t' '\n' | grep -v -e '^None$' -e '^$' || true
}

# One line per resource made, written before the next step runs: the record of what a run made.
record_state() { # KIND NAME
  mkdir -p "$STATE_DIR"
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$TARGET" "$REGION" "$1" "$2" \
    >>"$STATE_DIR/$RUN_ID.tsv"
}

# Approximate Kinesis cost in USD of SHARDS shards for SECONDS (shard-hours are billed per hour
# or part of one) plus RECORDS PUT payload units (25 KB each; the lab's records are smaller).
cost_estimate() { # SHARDS SECONDS RECORDS
  awk -v s="$1" -v t="$2" -v r="$3" -v ph="$PRICE_SHARD_HOUR" -v pu="$PRICE_MILLION_PUT_UNITS" \
    'BEGIN { h = int((t + 3599) / 3600); printf "%d shard-hours, about $%.3f", s * h, s * h * ph + r / 1e6 * pu }'
}

# Deletes the stream if it is ours (tag evidence); prints one line saying what happened.
delete_stream_if_ours() { # NAME [RUN_ID] [WAIT_S]
  local name="$1" run="${2:-}" st consumers
  st="$(stream_status "$name")" || return 1
  if [[ "$st" == NONE ]]; then
    printf 'stream  %-40s absent\n' "$name"
  elif ! stream_is_ours "$name" "$run"; then
    printf 'stream  %-40s kept (not tagged %s=%s%s)\n' "$name" "$TAG_CREATED_BY" "$CREATED_BY" \
      "${run:+, $TAG_RUN_ID=$run}"
  else
    consumers="$(stream_consumers "$name" | paste -sd, -)"
    if [[ "$st" != DELETING ]]; then
      aws_kinesis delete-stream --stream-name "$name" --enforce-consumer-deletion >/dev/null || return 1
    fi
    if [[ -n "${3:-}" ]]; then wait_stream_gone "$name" "$3" || return 1; fi
    printf 'stream  %-40s deleted%s\n' "$name" "${consumers:+ (consumers deregistered: $consumers)}"
  fi
}

# Empties and deletes the bucket if it is ours; an existing bucket of someone else is kept.
delete_bucket_if_ours() { # NAME [RUN_ID]
  local name="$1" run="${2:-}" count state
  state="$(bucket_state "$name")" || return 1
  if [[ "$state" == absent ]]; then
    printf 'bucket  %-40s absent\n' "$name"
  elif ! bucket_is_ours "$name" "$run"; then
    printf 'bucket  %-40s kept (not tagged %s=%s%s)\n' "$name" "$TAG_CREATED_BY" "$CREATED_BY" \
      "${run:+, $TAG_RUN_ID=$run}"
    return 3
  else
    count="$(bucket_object_count "$name")"
    aws_s3 rm "s3://$name" --recursive --only-show-errors || return 1
    aws_s3 rb "s3://$name" >/dev/null || return 1
    printf 'bucket  %-40s deleted (%s objects removed)\n' "$name" "$count"
  fi
}
