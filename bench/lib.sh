# shellcheck shell=bash
# shellcheck disable=SC2034 # variables are used by the scripts that source this file
# Shared helpers for the benchmark scripts (bench/run and bench/<tool>.sh). Source it:
#
#   . "$(dirname "$0")/lib.sh"
#   bench_init window            # cd to the repo root, set BENCH_* variables, start a fresh sample file
#
# Every script measures each contender with bench_time (GNU /usr/bin/time: wall, user+sys CPU of
# the command and its children, peak RSS), checks the contender's answer, and only then records the
# run with bench_sample. bench_summarize turns the samples into bench/out/<tool>.tsv, the
# machine-readable result that bench/run collects into bench/RESULTS.md:
#
#   case contender ours runs records bytes median_s min_s max_s records_per_s mb_per_s cpu_s max_rss_kb check
#
# (records_per_s and mb_per_s from the median wall time; cpu_s is the median user+sys seconds;
# max_rss_kb the largest peak RSS of any run; ours is 1 for our tool's rows.)
#
# Environment read here:
#   BENCH_QUICK=1      quick mode (scripts use smaller inputs and fewer runs)
#   RUNS=N             runs per contender (scripts choose their default; bench/run sets it)
#   BENCH_NO_INSTALL=1 install nothing (bench/run --no-install)
#   BENCH_BUILT=1      the release binaries are fresh (bench/run built them): bench_build does nothing

BENCH_LIB="$(readlink -f "${BASH_SOURCE[0]}")"
BENCH_ROOT="$(cd "$(dirname "$BENCH_LIB")/.." && pwd)"
BENCH_VENV="$BENCH_ROOT/.tools/venv"
# kds-window's peers (DuckDB, Polars, chDB, DataFusion, orjson), pinned in bench/requirements.txt.
BENCH_PEERS_VENV="$BENCH_ROOT/.tools/bench-venv"
BENCH_NPM="$BENCH_ROOT/.tools/bench-npm"
BENCH_OUT="$BENCH_ROOT/bench/out"
BENCH_QUICK="${BENCH_QUICK:-0}"
BENCH_PIDS=()

say() { printf '%s: %s\n' "${BENCH_TOOL:-bench}" "$*" >&2; }
die() { printf '%s: error: %s\n' "${BENCH_TOOL:-bench}" "$*" >&2; exit 1; }

# bench_init TOOL: cd to the root, create bench/out/TOOL/, truncate the sample file, install the
# cleanup trap (stops the processes this script started, by pid).
bench_init() {
  BENCH_TOOL="$1"
  cd "$BENCH_ROOT" || exit 1
  BENCH_WORK="$BENCH_OUT/$BENCH_TOOL"
  BENCH_SAMPLES="$BENCH_OUT/$BENCH_TOOL.samples.tsv"
  BENCH_TSV="$BENCH_OUT/$BENCH_TOOL.tsv"
  mkdir -p "$BENCH_WORK"
  : >"$BENCH_SAMPLES"
  rm -f "$BENCH_TSV"
  BENCH_LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
  trap bench_cleanup EXIT
}

bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${BENCH_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  BENCH_PIDS=()
}

bench_median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

bench_machine() { # one line: cores, CPU model, memory, kernel
  printf '%s cores, %s, %s GiB RAM, %s\n' "$(nproc)" \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
    "$(awk '/MemTotal/ {printf "%.0f", $2/1048576}' /proc/meminfo)" "$(uname -sr)"
}

# --- installs (idempotent; everything goes into the git-ignored .tools/) --------------------

bench_venv() {
  [[ -x "$BENCH_VENV/bin/python" ]] || python3 -m venv "$BENCH_VENV" >&2
}

# bench_pip MODULE=SPEC...: pip-installs SPEC into .tools/venv unless MODULE imports already.
# Example: bench_pip duckdb_cli=duckdb-cli orjson=orjson boto3=boto3
bench_pip() {
  [[ "${BENCH_NO_INSTALL:-0}" == 1 ]] && return 0
  bench_venv
  local pair mod spec missing=()
  for pair in "$@"; do
    mod="${pair%%=*}"
    spec="${pair#*=}"
    "$BENCH_VENV/bin/python" -c "import $mod" 2>/dev/null || missing+=("$spec")
  done
  if ((${#missing[@]})); then
    say "installing ${missing[*]} into .tools/venv"
    "$BENCH_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${missing[@]}" >&2
  fi
}

# bench_install_peers: kds-window's peers at the versions pinned in bench/requirements.txt (and
# scripts/requirements-duckdb.txt, which it includes) into .tools/bench-venv. Reinstalls when a pin
# changes (the venv keeps the hash of the requirement files it was installed from).
bench_install_peers() {
  [[ "${BENCH_NO_INSTALL:-0}" == 1 ]] && return 0
  local req="$BENCH_ROOT/bench/requirements.txt" stamp="$BENCH_PEERS_VENV/requirements.sha256" sum
  sum="$(cat "$req" "$BENCH_ROOT/scripts/requirements-duckdb.txt" | sha256sum | cut -d' ' -f1)"
  [[ -f "$stamp" && "$(cat "$stamp")" == "$sum" ]] && return 0
  [[ -x "$BENCH_PEERS_VENV/bin/python" ]] || python3 -m venv "$BENCH_PEERS_VENV" >&2
  say "installing the pinned kds-window peers (bench/requirements.txt) into .tools/bench-venv"
  "$BENCH_PEERS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
  printf '%s\n' "$sum" >"$stamp"
}

# bench_peer_versions: "duckdb X, polars X, ..." of the installed kds-window peers.
bench_peer_versions() {
  local v="$BENCH_PEERS_VENV/bin/python"
  [[ -x "$v" ]] || { echo "no kds-window engine peers (.tools/bench-venv missing)"; return 0; }
  "$v" - <<'PY'
from importlib import metadata
names = ["duckdb", "duckdb-cli", "polars", "chdb", "datafusion", "pyarrow", "orjson"]
out = []
for n in names:
    try:
        out.append(f"{n} {metadata.version(n)}")
    except metadata.PackageNotFoundError:
        out.append(f"{n} missing")
print(", ".join(out))
PY
}

bench_install_kinesalite() {
  [[ "${BENCH_NO_INSTALL:-0}" == 1 ]] && return 0
  if [[ ! -f "$BENCH_NPM/node_modules/kinesalite/package.json" ]]; then
    say "installing kinesalite into .tools/bench-npm"
    mkdir -p "$BENCH_NPM"
    npm install --prefix "$BENCH_NPM" --no-audit --no-fund --loglevel=error kinesalite@3 >&2
  fi
}

bench_install_miller() {
  command -v mlr >/dev/null && return 0
  [[ "${BENCH_NO_INSTALL:-0}" == 1 ]] && return 0
  if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
    say "installing miller (apt-get)"
    apt-get install -y -q miller >&2 || { apt-get update -q >&2 && apt-get install -y -q miller >&2; }
  else
    say "miller (mlr) missing and cannot apt-get it: its rows will be skipped"
  fi
}

# bench_build PKG...: cargo build --release of the given packages (kds-gen, kds-window, ...).
bench_build() {
  # bench/run builds everything first and sets BENCH_BUILT=1: no second cargo call (which could
  # wait for another build's lock on a shared machine).
  [[ "${BENCH_BUILT:-0}" == 1 ]] && return 0
  local args=() p
  for p in "$@"; do args+=(-p "$p"); done
  say "building ${*} (release)"
  cargo build --release --quiet "${args[@]}" >&2
}

# bench_dataset N: path of N deterministic trade lines (kds-gen --seed 1, 1,000 events per
# simulated second from 2021-03-19T00:00:00Z), generated once into bench/out/.
# kds-gen's arguments for the benchmark trades: deterministic (seed, simulated clock, a fixed
# start and trade date), so every run and every script measures the same bytes.
BENCH_GEN_ARGS=(--rate 1000 --seed 1 --simulated-clock --start 2021-03-19T00:00:00Z 2021-03-19)

bench_dataset() {
  local n="$1" f="$BENCH_OUT/trades-$1.ndjson"
  if [[ ! -s "$f" ]]; then
    [[ -x "$BENCH_ROOT/target/release/kds-gen" ]] || bench_build kds-gen
    say "generating $n trade lines into ${f#"$BENCH_ROOT"/}"
    mkdir -p "$BENCH_OUT"
    "$BENCH_ROOT/target/release/kds-gen" "${BENCH_GEN_ARGS[@]}" -n "$n" >"$f.tmp"
    mv "$f.tmp" "$f"
  fi
  printf '%s\n' "$f"
}

# --- emulators -------------------------------------------------------------------------------

bench_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Credentials and region for the emulators only; nothing from the machine's AWS config.
bench_isolate_aws() {
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
  unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KINESIS AWS_ENDPOINT_URL_S3
}

# bench_start_kinesalite: kinesalite in memory on 127.0.0.1:<free port> through its Node API
# (instant create/delete), stopped at exit. Sets KINESALITE_ENDPOINT, KINESALITE_PID,
# KINESALITE_VERSION.
bench_start_kinesalite() {
  bench_install_kinesalite
  local port log="$BENCH_OUT/${BENCH_TOOL:-bench}-kinesalite.log"
  port="$(bench_free_port)"
  NODE_PATH="$BENCH_NPM/node_modules" node -e '
    const kinesalite = require("kinesalite");
    const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000 });
    server.listen(Number(process.argv[1]), "127.0.0.1", (err) => {
      if (err) { console.error(err); process.exit(1); }
      console.log("ready");
    });
    process.on("SIGTERM", () => server.close(() => process.exit(0)));
  ' "$port" >"$log" 2>&1 &
  KINESALITE_PID=$!
  BENCH_PIDS+=("$KINESALITE_PID")
  local _
  for _ in $(seq 100); do
    grep -q ready "$log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q ready "$log" || { cat "$log" >&2; die "kinesalite did not start"; }
  KINESALITE_ENDPOINT="http://127.0.0.1:$port"
  KINESALITE_VERSION="$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$BENCH_NPM/node_modules/kinesalite/package.json" | head -1)"
}

# The Kinesis emulator of bench/put.sh and bench/tail.sh: EMULATOR=kinesalite (the default: about
# ten times faster, so it bounds the clients less) or EMULATOR=kinesis-local (the one the tests and
# the demo use). BENCH_EMULATOR_SUFFIX names the results apart: put.md, put-kinesis-local.md.
BENCH_EMULATOR="${EMULATOR:-kinesalite}"
case "$BENCH_EMULATOR" in
  kinesalite) BENCH_EMULATOR_SUFFIX="" ;;
  kinesis-local) BENCH_EMULATOR_SUFFIX="-kinesis-local" ;;
  *) printf 'bench: error: EMULATOR must be kinesalite or kinesis-local, not %s\n' "$BENCH_EMULATOR" >&2; exit 2 ;;
esac

# bench_start_emulator: starts BENCH_EMULATOR. Sets KINESIS_ENDPOINT and EMULATOR_DESC (its
# version and how it runs). kinesis-local is scripts/stack's, started (or reused) through it, so
# it is the same emulator the tests run on: restart it first (scripts/stack stop) for a clean
# measurement, as it slows down with every stream it has held.
bench_start_emulator() {
  if [[ "$BENCH_EMULATOR" == kinesalite ]]; then
    bench_start_kinesalite
    KINESIS_ENDPOINT=$KINESALITE_ENDPOINT
    EMULATOR_DESC="kinesalite $KINESALITE_VERSION (in memory, Node API, 127.0.0.1)"
    return
  fi
  "$BENCH_ROOT/scripts/stack" start --quiet >&2 || die "scripts/stack start failed"
  KINESIS_ENDPOINT="http://127.0.0.1:$(cat "$BENCH_ROOT/.tools/run/kinesis.port")"
  local version
  version="$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$BENCH_ROOT/.tools/npm/node_modules/kinesis-local/package.json" | head -1)"
  EMULATOR_DESC="kinesis-local $version (scripts/stack, in memory, 127.0.0.1)"
}

# bench_start_moto: a private moto_server (S3) on 127.0.0.1:<free port>, not the shared stack's;
# stopped at exit. Sets MOTO_ENDPOINT, MOTO_PID, MOTO_VERSION.
bench_start_moto() {
  bench_pip "moto=moto[server]>=5,<6"
  local port log="$BENCH_OUT/${BENCH_TOOL:-bench}-moto.log"
  port="$(bench_free_port)"
  "$BENCH_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  MOTO_PID=$!
  BENCH_PIDS+=("$MOTO_PID")
  local _
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.2
  done
  curl -s -o /dev/null "http://127.0.0.1:$port/" || { cat "$log" >&2; die "moto_server did not start"; }
  MOTO_ENDPOINT="http://127.0.0.1:$port"
  MOTO_VERSION="$("$BENCH_VENV/bin/python" -c 'import moto; print(moto.__version__)')"
}

# --- timing and samples ----------------------------------------------------------------------

# bench_time OUTFILE CMD...: runs CMD (stdin from /dev/null unless redirected by the caller)
# with stdout to OUTFILE (use /dev/null to discard) and stderr to OUTFILE.err under GNU time.
# Sets BT_WALL (s), BT_CPU (user+sys s, command and children), BT_RSS (peak KB of the largest
# process). Returns the command's status; on failure prints the tail of its stderr.
bench_time() {
  local out="$1" err tf rc=0
  shift
  if [[ "$out" == /dev/null ]]; then err="$BENCH_WORK/last.err"; else err="$out.err"; fi
  tf="$BENCH_WORK/last.time"
  /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" >"$out" 2>"$err" || rc=$?
  if ((rc != 0)); then
    say "command failed (status $rc): $*"
    tail -5 "$err" >&2
    return "$rc"
  fi
  read -r BT_WALL BT_CPU BT_RSS < <(tail -1 "$tf" | awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}')
}

# bench_sample CASE CONTENDER OURS RECORDS BYTES CHECK: records the last bench_time run (call it
# only after the contender's answer was checked; CHECK says what was checked).
bench_sample() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$BT_WALL" "$BT_CPU" "$BT_RSS" "$6" \
    >>"$BENCH_SAMPLES"
  say "$2 ($1): ${BT_WALL} s wall, ${BT_CPU} s CPU, ${BT_RSS} KB peak RSS"
}

# bench_check_fail CONTENDER MESSAGE: a contender gave a different answer: the run fails.
bench_check_fail() {
  printf '%s: CHECK FAILED: %s: %s\n' "${BENCH_TOOL:-bench}" "$1" "$2" >&2
  exit 1
}

# bench_checked_runs RUNS RAW NORMALIZER EXPECTED UNIT CASE NAME OURS RECORDS BYTES -- CMD...:
# runs CMD (one bash -c string) RUNS times under bench_time with its stdout in RAW; after each run
# the answer, normalized by NORMALIZER into RAW.norm, must equal EXPECTED (else the benchmark
# fails) before the run is recorded ("same N UNIT"). The runs' figures are left in BT_WALLS,
# BT_CPUS and BT_RSSS.
bench_checked_runs() {
  local runs=$1 raw=$2 normalizer=$3 expected=$4 unit=$5 case=$6 name=$7 ours=$8 records=$9 bytes=${10} _
  shift 11
  BT_WALLS=(); BT_CPUS=(); BT_RSSS=()
  for _ in $(seq "$runs"); do
    sync
    bench_time "$raw" bash -c "$*" || bench_check_fail "$name ($case)" "failed (see $raw.err)"
    $normalizer <"$raw" >"$raw.norm"
    if ! cmp -s "$raw.norm" "$expected"; then
      diff "$expected" "$raw.norm" | head -5 >&2
      bench_check_fail "$name ($case)" "output differs from kds-window's ($raw.norm vs $expected)"
    fi
    bench_sample "$case" "$name" "$ours" "$records" "$bytes" "same $(wc -l <"$expected") $unit"
    BT_WALLS+=("$BT_WALL"); BT_CPUS+=("$BT_CPU"); BT_RSSS+=("$BT_RSS")
  done
}

# bench_summarize: writes bench/out/TOOL.tsv from the samples (see the header of this file).
bench_summarize() {
  python3 - "$BENCH_SAMPLES" "$BENCH_TSV" <<'PY'
import statistics, sys
src, dst = sys.argv[1], sys.argv[2]
groups = {}
for line in open(src):
    f = line.rstrip("\n").split("\t")
    if len(f) < 9:
        continue
    key = (f[0], f[1])
    g = groups.setdefault(key, {"ours": f[2], "records": int(f[3]), "bytes": int(f[4]), "check": f[8], "runs": []})
    g["runs"].append((float(f[5]), float(f[6]), int(f[7])))
cols = ["case", "contender", "ours", "runs", "records", "bytes", "median_s", "min_s", "max_s",
        "records_per_s", "mb_per_s", "cpu_s", "max_rss_kb", "check"]
with open(dst, "w") as out:
    out.write("\t".join(cols) + "\n")
    for (case, name), g in groups.items():
        walls = [r[0] for r in g["runs"]]
        med = statistics.median_low(walls)
        div = max(med, 0.005)
        out.write("\t".join(str(x) for x in [
            case, name, g["ours"], len(walls), g["records"], g["bytes"],
            f"{med:.3f}", f"{min(walls):.3f}", f"{max(walls):.3f}",
            f"{g['records'] / div:.0f}", f"{g['bytes'] / 1e6 / div:.1f}",
            f"{statistics.median_low([r[1] for r in g['runs']]):.2f}", max(r[2] for r in g["runs"]), g["check"],
        ]) + "\n")
PY
  say "wrote ${BENCH_TSV#"$BENCH_ROOT"/}"
}
