# cli_harness.bash - shared by the test/cli_*.sh tests of the mlog tool (sourced)
#
# Needs MLOG_BIN (the mlog binary). Gives each test a scratch directory $T
# (removed on exit), the counters behind ok/not_ok, and helpers to run the
# tool, flip bytes in files and snapshot inputs. End a test with `finish`.

set -u

if [ -z "${MLOG_BIN:-}" ] || [ ! -x "$MLOG_BIN" ]; then
  echo "MLOG_BIN must name the mlog binary (got '${MLOG_BIN:-}')" >&2
  exit 2
fi
MLOG_BIN=$(cd "$(dirname "$MLOG_BIN")" && pwd)/$(basename "$MLOG_BIN")

T=$(mktemp -d "${TMPDIR:-/tmp}/mlog-cli.XXXXXX") || exit 2
cleanup() {
  chmod -R u+rwx "$T" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

passed=0
failed=0

ok() {
  passed=$((passed + 1))
  echo "ok - $*"
}

not_ok() {
  failed=$((failed + 1))
  echo "not ok - $*"
}

# check DESCRIPTION COMMAND...: ok when the command succeeds.
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# A path with $T shortened to "T", for case names.
short() {
  local s=$*
  echo "${s//$T/T}"
}

# run ARGS...: run the tool; sets rc, out (stdout) and err (stderr).
run() {
  "$MLOG_BIN" "$@" >"$T/.out" 2>"$T/.err"
  rc=$?
  out=$(cat "$T/.out")
  err=$(cat "$T/.err")
}

# The number of lines in a file (a last line without newline counts).
count_lines() {
  awk 'END { print NR }' "$1"
}

# ---------------------------------------------------------------------------
# Running the tool as a user without privileges (for permission cases)

NOBODY_BIN=$MLOG_BIN
# run_nobody ARGS...: like run, as uid/gid 65534 when we are root (root
# ignores file modes), else as ourselves.
run_nobody() {
  if [ "$(id -u)" -ne 0 ]; then
    run "$@"
    return
  fi
  setpriv --reuid=65534 --regid=65534 --clear-groups "$NOBODY_BIN" "$@" \
    >"$T/.out" 2>"$T/.err"
  rc=$?
  out=$(cat "$T/.out")
  err=$(cat "$T/.err")
}

# Make $T reachable for uid 65534, and the binary too (a copy when the
# build tree is not readable for it).
nobody_setup() {
  [ "$(id -u)" -eq 0 ] || return 0
  chmod 755 "$T"
  if ! setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$NOBODY_BIN" --version >/dev/null 2>&1; then
    mkdir -p "$T/bin" && cp "$MLOG_BIN" "$T/bin/mlog" &&
      chmod 755 "$T/bin" "$T/bin/mlog"
    NOBODY_BIN=$T/bin/mlog
  fi
}

# ---------------------------------------------------------------------------
# Inputs

# snapshot PATH: what must not change when the tool reads PATH: the names
# in it and the bytes of every file. lock.mdb is compared by presence and
# size only: LMDB keeps its reader table in it, and a read-only open of a
# log that has one records itself there (data.mdb is never written).
snapshot() {
  local p=$1
  if [ -d "$p" ]; then
    stat -c '%a %s %n' "$p"
    (cd "$p" 2>/dev/null && ls -A && find . -type f ! -name lock.mdb \
      -exec sha256sum {} + | sort &&
      find . -type f -name lock.mdb -exec stat -c '%s %n' {} +)
  elif [ -e "$p" ]; then
    sha256sum "$p"
  else
    echo "absent"
  fi
}

# Byte N (from 0) of FILE, as a decimal number.
byte_at() {
  od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '
}

# flip_byte FILE OFFSET: invert the lowest bit of one byte, in place.
flip_byte() {
  local v
  v=$(byte_at "$1" "$2")
  printf "\\$(printf '%03o' $((v ^ 1)))" |
    dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# marker_offsets FILE LSN: the offsets of the payload marker "<lsn=LSN>"
# that `mlog gen` writes at the start of record LSN's payload.
marker_offsets() {
  grep -obUaF "<lsn=$2>" "$1" | cut -d: -f1
}

# A JSON checker for stdin (one value per line), or nothing when neither
# python3 nor jq is installed.
json_lines_ok() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json, sys
for line in sys.stdin:
    json.loads(line)'
  elif command -v jq >/dev/null 2>&1; then
    jq -e . >/dev/null
  else
    grep -qv '^{.*}$' && return 1 || return 0
  fi
}
