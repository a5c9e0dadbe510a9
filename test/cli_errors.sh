# cli_errors.sh - bad input to every mlog subcommand: exit status, one error line, input unchanged
#
# Run as `MLOG_BIN=path/to/mlog bash test/cli_errors.sh` (CTest does). Each
# row of the tables below is one case: the tool must exit with the expected
# status; a failure must print exactly one line on stderr (and nothing on
# stdout unless the row says so); a success prints on stdout only; and the
# input the case names must be byte-for-byte the same afterwards, with no
# file created in it.

. "$(dirname "${BASH_SOURCE[0]}")/cli_harness.bash"

# case EXPECT STDOUT INPUT ARGS...
#   EXPECT  the exit status
#   STDOUT  none (must be empty), some (must not be empty) or any
#   INPUT   a path that must not change, or -
#   ARGS    the tool's arguments; a first word @nobody runs the tool as an
#           unprivileged user
case_() {
  local expect=$1 stdout=$2 input=$3
  shift 3
  local name problems=() before after
  name="[exit $expect] mlog $(short "$*")"
  before=$(snapshot "$input")
  if [ "${1:-}" = @nobody ]; then
    shift
    run_nobody "$@"
  else
    run "$@"
  fi
  after=$(snapshot "$input")
  [ "$rc" -eq "$expect" ] || problems+=("exit $rc")
  local errlines
  errlines=$(count_lines "$T/.err")
  if [ "$expect" -ne 0 ]; then
    [ "$errlines" -eq 1 ] || problems+=("$errlines stderr lines")
    case $err in
    mlog*|usage:\ mlog*) ;;
    *) problems+=("stderr not from mlog") ;;
    esac
  else
    [ "$errlines" -eq 0 ] || problems+=("stderr not empty")
  fi
  case $stdout in
  none) [ -z "$out" ] || problems+=("stdout not empty") ;;
  some) [ -n "$out" ] || problems+=("stdout empty") ;;
  esac
  [ "$input" = - ] || [ "$before" = "$after" ] || problems+=("input changed")
  if [ ${#problems[@]} -eq 0 ]; then
    ok "$name"
  else
    not_ok "$name: ${problems[*]}; stderr: $(short "$err")"
  fi
}

# ---------------------------------------------------------------------------
# Inputs

nobody_setup
mkdir "$T/empty" "$T/random" "$T/locked" "$T/keys" "$T/keydir"
: >"$T/file"
head -c 65536 /dev/urandom >"$T/random/data.mdb"
head -c 31 /dev/urandom >"$T/short.key"
head -c 32 /dev/urandom >"$T/wrong.key"
"$MLOG_BIN" keygen --out "$T/keys" >/dev/null || exit 2
"$MLOG_BIN" gen --out "$T/plain" --records 20 >/dev/null || exit 2
"$MLOG_BIN" gen --out "$T/keyed" --records 20 --key "$T/keys/log.key" \
  >/dev/null || exit 2
"$MLOG_BIN" gen --out "$T/locked" --records 20 >/dev/null || exit 2
# An archived copy: a log without LMDB's lock file, where a read-only open
# must not create one.
cp -r "$T/keyed" "$T/archived" && rm -f "$T/archived/lock.mdb"
chmod 000 "$T/locked"

# ---------------------------------------------------------------------------
# The tool itself

case_ 2 none - 
case_ 2 none - nosuchcommand
case_ 2 none - --bogus
case_ 2 none - help nosuchcommand
case_ 0 some - --help
case_ 0 some - -h
case_ 0 some - help
case_ 0 some - help verify
case_ 0 some - --version
if [ "$out" = "mlog $("$MLOG_BIN" --version | cut -d' ' -f2)" ] &&
  [[ $out =~ ^mlog\ [0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  ok "--version prints 'mlog X.Y.Z'"
else
  not_ok "--version prints 'mlog X.Y.Z' (got '$out')"
fi

# ---------------------------------------------------------------------------
# What every subcommand that reads a log does with bad input

for sub in verify dump info; do
  case_ 3 none "$T/missing" $sub "$T/missing"
  case_ 3 none "$T/file" $sub "$T/file"
  case_ 3 none "$T/empty" $sub "$T/empty"
  case_ 3 none "$T/random" $sub "$T/random"
  case_ 3 none "$T/locked" @nobody $sub "$T/locked"
  case_ 2 none "$T/plain" $sub --bogus "$T/plain"
  case_ 2 none "$T/plain" $sub -Z "$T/plain"
  case_ 2 none - $sub
  case_ 0 some - $sub --help
done
case_ 2 none "$T/plain" info "$T/plain" "$T/keyed"
case_ 2 none "$T/plain" dump "$T/plain" "$T/keyed"

for sub in verify dump; do
  case_ 3 none "$T/keyed" $sub --key "$T/wrong.key" "$T/keyed"
  case_ 3 none "$T/archived" $sub --key "$T/wrong.key" "$T/archived"
  case_ 3 none "$T/keyed" $sub "$T/keyed"
  case_ 3 none "$T/archived" $sub "$T/archived"
  case_ 3 none "$T/plain" $sub --key "$T/keys/log.key" "$T/plain"
  case_ 2 none "$T/keyed" $sub --key "$T/short.key" "$T/keyed"
  case_ 2 none "$T/keyed" $sub --key "$T/nokey" "$T/keyed"
  case_ 2 none "$T/keyed" $sub --key "$T/keys" "$T/keyed"
  case_ 2 none "$T/keyed" $sub "$T/keyed" --key
done
# One bad directory among good ones: the good one is still reported.
case_ 3 some "$T/plain" verify "$T/plain" "$T/missing"
case_ 3 some "$T/keyed" verify "$T/keyed" --key "$T/keys/log.key" "$T/random"

# Reading a log that is fine, as a control for the cases above.
case_ 0 some "$T/archived" info "$T/archived"
case_ 0 some "$T/archived" verify --key "$T/keys/log.key" "$T/archived"
case_ 0 some "$T/archived" dump --key "$T/keys/log.key" "$T/archived"
case_ 0 some "$T/keyed" dump --json --key "$T/keys/log.key" "$T/keyed"

# ---------------------------------------------------------------------------
# keygen and gen write: they must refuse without touching what is there

case_ 2 none - keygen
case_ 2 none "$T/keydir" keygen --out "$T/keydir" extra
case_ 2 none - keygen --out
case_ 2 none - keygen --bogus
case_ 0 some - keygen --help
case_ 3 none "$T/keys" keygen --out "$T/keys"
case_ 3 none "$T/file" keygen --out "$T/file"
case_ 3 none "$T/missing" keygen --out "$T/missing/sub"
chmod 555 "$T/keydir"
case_ 3 none "$T/keydir" @nobody keygen --out "$T/keydir"
chmod 755 "$T/keydir"

case_ 2 none - gen
case_ 2 none - gen --out "$T/new"
case_ 2 none - gen --records 5
case_ 2 none - gen --out "$T/new" --records x
case_ 2 none - gen --out "$T/new" --records -1
case_ 2 none - gen --out "$T/new" --records 5 --payload 999999999999
case_ 2 none - gen --out "$T/new" --records 5 --process 2 --group 2
case_ 2 none - gen --out "$T/new" --records 5 --key "$T/short.key"
case_ 2 none - gen --out "$T/new" --records 5 extra
case_ 2 none - gen --out "$T/new" --records 5 \
  --protocol 0123456789abcdef0123456789abcdef
case_ 0 some - gen --help
case_ 3 none "$T/plain" gen --out "$T/plain" --records 5
case_ 3 none "$T/file" gen --out "$T/file" --records 5
case_ 3 none "$T/random" gen --out "$T/random" --records 5
check "failed gens created no directory" test ! -e "$T/new"

finish
