# shellcheck shell=bash
# shellcheck disable=SC2034 # variables are used by the scripts that source this file
# AWS target selection and aws CLI wrappers for scripts/provision and scripts/teardown.
# Source after lib.sh.

export AWS_PAGER=""

STREAM="${STREAM:-}"
BUCKET="${BUCKET:-}"
REGION=""
ENDPOINT=""
KINESIS_EP=""
S3_EP=""
STS_EP=""
AWS_MODE=0
YES=0
REST=()
TARGET=""
TARGET_DESC=""
CLI=""

# Parses the flags provision and teardown share; the rest goes to REST.
parse_common_args() {
  local a
  while (($#)); do
    a="$1"
    case "$a" in
      -h | --help) usage; exit 0 ;;
      --stream | --bucket | --region | --endpoint-url | --kinesis-endpoint-url | --s3-endpoint-url)
        (($# >= 2)) || usage_error "$a needs a value"
        set_opt "$a" "$2"; shift ;;
      --stream=* | --bucket=* | --region=* | --endpoint-url=* | --kinesis-endpoint-url=* | --s3-endpoint-url=*)
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
    --endpoint-url) ENDPOINT="$2" ;;
    --kinesis-endpoint-url) KINESIS_EP="$2" ;;
    --s3-endpoint-url) S3_EP="$2" ;;
  esac
}

# Decides TARGET (local | endpoint | aws), the CLI to use and the endpoints.
select_target() {
  if [[ -n "$ENDPOINT" ]]; then
    KINESIS_EP="${KINESIS_EP:-$ENDPOINT}"
    S3_EP="${S3_EP:-$ENDPOINT}"
  fi
  if ((AWS_MODE)); then
    [[ -z "$KINESIS_EP$S3_EP" ]] || usage_error "--aws and --endpoint-url exclude each other"
    TARGET=aws
    CLI="$(system_aws)" || die "no aws CLI found (install AWS CLI, or run scripts/stack install for .tools/venv/bin/aws)"
    TARGET_DESC="real AWS ($CLI)"
  elif [[ -n "$KINESIS_EP$S3_EP" ]]; then
    [[ -n "$KINESIS_EP" && -n "$S3_EP" ]] || usage_error "give both --kinesis-endpoint-url and --s3-endpoint-url (or --endpoint-url)"
    TARGET=endpoint
    STS_EP="$S3_EP"
    if [[ -x "$(venv_aws)" ]]; then CLI="$(venv_aws)"; else CLI="$(system_aws)" || die "no aws CLI found"; fi
    TARGET_DESC="endpoints kinesis=$KINESIS_EP s3=$S3_EP"
  elif load_stack_env; then
    TARGET=local
    KINESIS_EP="$AWS_ENDPOINT_URL_KINESIS"
    S3_EP="$AWS_ENDPOINT_URL_S3"
    STS_EP="${AWS_ENDPOINT_URL_STS:-$S3_EP}"
    CLI="$(venv_aws)"
    [[ -x "$CLI" ]] || die "$CLI missing: run scripts/stack install"
    TARGET_DESC="local stack (kinesis $KINESIS_EP, s3 $S3_EP)"
  else
    TARGET=aws
    CLI="$(system_aws)" || die "local stack not running and no aws CLI found: run scripts/stack start"
    TARGET_DESC="real AWS ($CLI; local stack not running)"
  fi
}

aws_cli() {
  if [[ -n "$REGION" ]]; then
    "$CLI" --region "$REGION" "$@"
  else
    "$CLI" "$@"
  fi
}
aws_kinesis() { aws_cli ${KINESIS_EP:+--endpoint-url "$KINESIS_EP"} kinesis "$@"; }
aws_s3() { aws_cli ${S3_EP:+--endpoint-url "$S3_EP"} s3 "$@"; }
aws_s3api() { aws_cli ${S3_EP:+--endpoint-url "$S3_EP"} s3api "$@"; }
aws_sts() { aws_cli ${STS_EP:+--endpoint-url "$STS_EP"} sts "$@"; }

account_id() {
  local out
  if ! out="$(aws_sts get-caller-identity --query Account --output text 2>&1)"; then
    die "aws sts get-caller-identity failed (needed for the default bucket name; or pass --bucket): $out"
  fi
  printf '%s\n' "$out"
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

bucket_exists() {
  aws_s3api head-bucket --bucket "$1" >/dev/null 2>&1
}
