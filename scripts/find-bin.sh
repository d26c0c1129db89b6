# shellcheck shell=bash
# find_bin, shared by the scripts that run the tools and must not change the caller's cwd
# (lab1.sh, cron-example.sh; scripts/lib.sh cd's to the repository root). Source it after
# setting ROOT (repository root), BIN (a directory, or empty) and defining die.

# find_bin NAME -> path of the binary: $BIN/NAME when BIN is set, else NAME on PATH, else
# target/release or target/debug of the repository.
find_bin() {
  local name="$1" d
  if [[ -n "$BIN" ]]; then
    [[ -x "$BIN/$name" ]] || die "$BIN/$name not found or not executable"
    printf '%s\n' "$BIN/$name"
    return
  fi
  if command -v "$name" >/dev/null 2>&1; then
    command -v "$name"
    return
  fi
  for d in "$ROOT/target/release" "$ROOT/target/debug"; do
    if [[ -x "$d/$name" ]]; then
      printf '%s\n' "$d/$name"
      return
    fi
  done
  die "$name not found: build it (cargo build --release -p $name) or pass --bin DIR"
}
