# shellcheck shell=bash
# shellcheck disable=SC2034 # variables are used by the scripts that source this file
# Shared helpers for the scripts in this directory. Source it, don't run it:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# It sets ROOT (the repository root) and cd's there, so every script works from any cwd.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CALLER_PWD="$PWD"
cd "$ROOT" || exit 1

TOOLS="$ROOT/.tools"
RUN_DIR="$TOOLS/run"
STACK_ENV="$TOOLS/stack.env"
VENV="$TOOLS/venv"
NPM_PREFIX="$TOOLS/npm"
KINESIS_PKG_DIR="$NPM_PREFIX/node_modules/kinesis-local"
LOCAL_REGION="us-east-1"

PROG="$(basename "$0")"

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: %s (see --help)\n' "$PROG" "$*" >&2; exit 2; }

# The live stack: both pid files name a process of ours and both ports accept connections.
# Cheap (no API call); scripts/stack status does the real API check.
pid_of() { # pid_of kinesis|moto -> prints pid if the pid file names a live process of ours
  local name="$1" pid pattern
  [[ -f "$RUN_DIR/$name.pid" ]] || return 1
  pid="$(cat "$RUN_DIR/$name.pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  case "$name" in
    kinesis) pattern='kinesis-local/main.js' ;;
    moto) pattern='moto_server' ;;
    *) return 1 ;;
  esac
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern" || return 1
  printf '%s\n' "$pid"
}

port_of() { # port_of kinesis|moto
  local port
  port="$(cat "$RUN_DIR/$1.port" 2>/dev/null)" || return 1
  [[ "$port" =~ ^[0-9]+$ ]] || return 1
  printf '%s\n' "$port"
}

port_open() { # port_open PORT: something accepts TCP connections on 127.0.0.1:PORT
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

stack_up() { # quick check: env file, both processes alive, both ports open
  local svc port
  [[ -f "$STACK_ENV" ]] || return 1
  for svc in kinesis moto; do
    pid_of "$svc" >/dev/null || return 1
    port="$(port_of "$svc")" || return 1
    port_open "$port" || return 1
  done
}

# Load .tools/stack.env into this shell when the local stack is running. Returns 1 if not.
load_stack_env() {
  stack_up || return 1
  # shellcheck disable=SC1090
  . "$STACK_ENV"
}

# Isolate the AWS CLI from the machine's profiles/config when talking to the local stack.
isolate_aws_config() {
  mkdir -p "$TOOLS/aws"
  : >"$TOOLS/aws/config"
  : >"$TOOLS/aws/credentials"
  export AWS_CONFIG_FILE="$TOOLS/aws/config" AWS_SHARED_CREDENTIALS_FILE="$TOOLS/aws/credentials"
  unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ENDPOINT_URL
}

# The venv's AWS CLI v1 (local stack), or the system one.
venv_aws() { printf '%s\n' "$VENV/bin/aws"; }
system_aws() {
  local a
  a="$(command -v aws 2>/dev/null || true)"
  if [[ -n "$a" ]]; then printf '%s\n' "$a"; elif [[ -x "$VENV/bin/aws" ]]; then printf '%s\n' "$VENV/bin/aws"; else return 1; fi
}
