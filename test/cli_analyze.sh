# cli_analyze.sh - mlog analyze: recovery lines of traces, bad traces, usage errors
#
# Run as `MLOG_BIN=path/to/mlog bash test/cli_analyze.sh` (CTest does).
# Good traces must give exactly the expected JSON or text on stdout and
# nothing on stderr; bad traces exit 3 with one stderr line that names the
# bad event, usage errors exit 2; failures print nothing on stdout.

. "$(dirname "${BASH_SOURCE[0]}")/cli_harness.bash"

# expect_out DESCRIPTION WANT ARGS...: exit 0, stdout exactly WANT, no stderr.
expect_out() {
  local what=$1 want=$2
  shift 2
  run analyze "$@"
  if [ "$rc" -eq 0 ] && [ "$out" = "$want" ] && [ -z "$err" ]; then
    ok "$what"
  else
    not_ok "$what: exit $rc; stdout: $out; stderr: $err"
  fi
}

# expect_fail STATUS PATTERN ARGS...: exit STATUS, nothing on stdout, one
# line on stderr, starting "mlog analyze: " and matching the extended
# regular expression PATTERN.
expect_fail() {
  local status=$1 pattern=$2
  shift 2
  local name problems=()
  name="[exit $status] mlog analyze $(short "$*")"
  run analyze "$@"
  [ "$rc" -eq "$status" ] || problems+=("exit $rc")
  [ -z "$out" ] || problems+=("stdout not empty")
  [ "$(count_lines "$T/.err")" -eq 1 ] || problems+=("not one stderr line")
  [[ $err == "mlog analyze: "* ]] || problems+=("stderr not from mlog analyze")
  [[ $err =~ $pattern ]] || problems+=("stderr does not match /$pattern/")
  if [ ${#problems[@]} -eq 0 ]; then
    ok "$name"
  else
    not_ok "$name: ${problems[*]}; stderr: $(short "$err")"
  fi
}

# bad_trace PATTERN JSON: the trace JSON is refused with exit 3.
n_bad=0
bad_trace() {
  n_bad=$((n_bad + 1))
  printf '%s\n' "$2" >"$T/bad$n_bad.json"
  expect_fail 3 "$1" --failed X --trace "$T/bad$n_bad.json"
}

# ---------------------------------------------------------------------------
# The traces cli_diagram.sh shares (test/traces/); first the issue's example

cp "$(dirname "${BASH_SOURCE[0]}")"/traces/{example,zigzag,lists}.json "$T/"
expect_out "example, X failed: Y rolls back, m1 is an orphan" \
  '{"recovery_line":{"X":"x1","Y":"initial"},"rolled_back_past":{"X":0,"Y":0},"domino":false,"orphan_messages":["m1"],"lost_messages":[]}' \
  --json --failed X --trace "$T/example.json"
expect_out "example, Y failed: X keeps its end, m1 is lost" \
  '{"recovery_line":{"X":"end","Y":"initial"},"rolled_back_past":{"X":0,"Y":0},"domino":false,"orphan_messages":[],"lost_messages":["m1"]}' \
  --json --failed Y --trace "$T/example.json"
expect_out "example, both failed" \
  '{"recovery_line":{"X":"x1","Y":"initial"},"rolled_back_past":{"X":0,"Y":0},"domino":false,"orphan_messages":[],"lost_messages":[]}' \
  --json --failed Y,X --trace "$T/example.json"
if printf '%s\n' "$out" | json_lines_ok; then
  ok "--json prints valid JSON"
else
  not_ok "--json prints valid JSON: $out"
fi

# ---------------------------------------------------------------------------
# A zigzag: every checkpoint of X follows a receive of a message Y sent
# after its checkpoint, and the other way round. X's failure rolls both back
# to their initial states. Z only watches (a message in transit from Y).

expect_out "zigzag: domino to the initial states" \
  '{"recovery_line":{"Y":"initial","X":"initial","Z":"end"},"rolled_back_past":{"Y":1,"X":2,"Z":0},"domino":true,"orphan_messages":["m0","m1","m2","m3"],"lost_messages":[]}' \
  --json --failed X --trace "$T/zigzag.json"
expect_out "zigzag: text output" "recovery line:
  Y: initial (rolled back past 1 checkpoint)
  X: initial (failed, rolled back past 2 checkpoints)
  Z: end
domino: yes
orphan messages: m0, m1, m2, m3
lost messages: none" --failed X --trace "$T/zigzag.json"
expect_out "zigzag, Z failed: nothing else moves" \
  '{"recovery_line":{"Y":"end","X":"end","Z":"z1"},"rolled_back_past":{"Y":0,"X":0,"Z":0},"domino":false,"orphan_messages":[],"lost_messages":[]}' \
  --json --trace "$T/zigzag.json" --failed Z
expect_out "options in any order, = form" \
  "$("$MLOG_BIN" analyze --json --failed X --trace "$T/zigzag.json")" \
  --trace="$T/zigzag.json" --failed=X --json

# Orphans and lost messages sorted by id in byte order; a live process
# rolled back past checkpoints; a message never received is in neither list.
expect_out "sorted orphan and lost lists" \
  '{"recovery_line":{"A":"a2","B":"b1"},"rolled_back_past":{"A":1,"B":0},"domino":true,"orphan_messages":["orphan-10","orphan-2"],"lost_messages":["Lost-a","lost-b"]}' \
  --json --failed B --trace "$T/lists.json"

# ---------------------------------------------------------------------------
# Bad traces: exit 3, one line naming the event

X='{"proc":"X"'
bad_trace 'event 2 \(process Z\): unknown process' \
  '{"processes":["X","Y"],"events":[{"proc":"X","kind":"checkpoint","name":"a"},{"proc":"Y","kind":"send","msg":"m","to":"X"},{"proc":"Z","kind":"recv","msg":"m"}]}'
bad_trace 'event 1 \(process Y\): sends "m" to unknown process Q' \
  '{"processes":["X","Y"],"events":[{"proc":"Y","kind":"checkpoint","name":"a"},{"proc":"Y","kind":"send","msg":"m","to":"Q"}]}'
bad_trace 'event 1 \(process Y\): receives "m9", which no event sends' \
  '{"processes":["X","Y"],"events":[{"proc":"X","kind":"send","msg":"m","to":"Y"},{"proc":"Y","kind":"recv","msg":"m9"}]}'
bad_trace 'event 3 \(process Y\): message "m" is received twice \(first by event 1\)' \
  '{"processes":["X","Y"],"events":[{"proc":"X","kind":"send","msg":"m","to":"Y"},{"proc":"Y","kind":"recv","msg":"m"},{"proc":"Y","kind":"checkpoint","name":"c"},{"proc":"Y","kind":"recv","msg":"m"}]}'
bad_trace 'event 2 \(process Y\): message "m" is sent twice \(first by event 0\)' \
  '{"processes":["X","Y"],"events":[{"proc":"X","kind":"send","msg":"m","to":"Y"},{"proc":"Y","kind":"recv","msg":"m"},{"proc":"Y","kind":"send","msg":"m","to":"X"}]}'
bad_trace 'event 1 \(process Z\): receives "m", which event 0 sends to Y' \
  '{"processes":["X","Y","Z"],"events":[{"proc":"X","kind":"send","msg":"m","to":"Y"},{"proc":"Z","kind":"recv","msg":"m"}]}'
bad_trace 'event 0 \(process X\): sends "m" to itself' \
  '{"processes":["X","Y"],"events":[{"proc":"X","kind":"send","msg":"m","to":"X"}]}'
bad_trace 'event 1 \(process X\): unknown kind "deliver"' \
  '{"processes":["X"],"events":[{"proc":"X","kind":"checkpoint","name":"a"},{"proc":"X","kind":"deliver","msg":"m"}]}'
bad_trace 'event 0 \(process X\): "kind" is missing' \
  "{\"processes\":[\"X\"],\"events\":[$X}]}"
bad_trace 'event 0 \(process X\): "kind" is missing or not a string' \
  "{\"processes\":[\"X\"],\"events\":[$X,\"kind\":7}]}"
bad_trace 'event 0: "proc" is missing' \
  '{"processes":["X"],"events":[{"kind":"checkpoint","name":"a"}]}'
bad_trace 'event 1: "proc" is missing or not a non-empty string' \
  "{\"processes\":[\"X\"],\"events\":[$X,\"kind\":\"checkpoint\",\"name\":\"a\"},{\"proc\":[\"X\"],\"kind\":\"checkpoint\",\"name\":\"b\"}]}"
bad_trace 'event 0: not an object' \
  '{"processes":["X"],"events":["checkpoint"]}'
bad_trace 'event 0 \(process X\): "name" is missing' \
  "{\"processes\":[\"X\"],\"events\":[$X,\"kind\":\"checkpoint\"}]}"
bad_trace 'event 0 \(process X\): "name" is missing or not a non-empty string' \
  "{\"processes\":[\"X\"],\"events\":[$X,\"kind\":\"checkpoint\",\"name\":\"\"}]}"
bad_trace 'event 0 \(process X\): "msg" is missing' \
  "{\"processes\":[\"X\",\"Y\"],\"events\":[$X,\"kind\":\"send\",\"to\":\"Y\"}]}"
bad_trace 'event 0 \(process X\): "to" is missing' \
  "{\"processes\":[\"X\",\"Y\"],\"events\":[$X,\"kind\":\"send\",\"msg\":\"m\"}]}"
bad_trace 'event 0 \(process X\): "to" is missing or not a non-empty string' \
  "{\"processes\":[\"X\",\"Y\"],\"events\":[$X,\"kind\":\"send\",\"msg\":\"m\",\"to\":1}]}"
bad_trace 'event 0 \(process X\): "msg" is missing' \
  "{\"processes\":[\"X\"],\"events\":[$X,\"kind\":\"recv\",\"msg\":null}]}"
bad_trace 'process X is listed twice' \
  '{"processes":["X","Y","X"],"events":[]}'
bad_trace 'processes\[1\] is not a non-empty string' \
  '{"processes":["X",2],"events":[]}'
bad_trace '"processes" is missing or not an array' '{"events":[]}'
bad_trace '"events" is missing or not an array' '{"processes":["X"],"events":{}}'
bad_trace 'event 2 \(process X\): a second checkpoint named "c"' \
  "{\"processes\":[\"X\",\"Y\"],\"events\":[$X,\"kind\":\"checkpoint\",\"name\":\"c\"},{\"proc\":\"Y\",\"kind\":\"checkpoint\",\"name\":\"c\"},$X,\"kind\":\"checkpoint\",\"name\":\"c\"}]}"
bad_trace 'event 1 \(process X\): a checkpoint may not be named "initial"' \
  "{\"processes\":[\"X\"],\"events\":[$X,\"kind\":\"checkpoint\",\"name\":\"c\"},$X,\"kind\":\"checkpoint\",\"name\":\"initial\"}]}"
bad_trace 'event 0 \(process X\): a checkpoint may not be named "end"' \
  "{\"processes\":[\"X\"],\"events\":[$X,\"kind\":\"checkpoint\",\"name\":\"end\"}]}"
bad_trace 'invalid JSON at line 2' '{"processes":["X"],"events":['
bad_trace 'invalid JSON' '{"processes":["X"],"processes":["Y"],"events":[]}'
bad_trace 'not a JSON object' '["X"]'
bad_trace 'invalid JSON' ''
expect_fail 3 '--failed names an unknown process Q' \
  --failed X,Q --trace "$T/example.json"
expect_fail 3 'cannot read' --failed X --trace "$T/missing.json"
expect_fail 3 'cannot read' --failed X --trace "$T"

# ---------------------------------------------------------------------------
# Usage errors: exit 2

expect_fail 2 "no trace given" --failed X
expect_fail 2 "no failed processes given" --trace "$T/example.json"
expect_fail 2 "an empty name" --failed '' --trace "$T/example.json"
expect_fail 2 "an empty name" --failed X, --trace "$T/example.json"
expect_fail 2 "an empty name" --failed ,X --trace "$T/example.json"
expect_fail 2 "an empty name" --failed X,,Y --trace "$T/example.json"
expect_fail 2 "X named twice" --failed X,Y,X --trace "$T/example.json"
expect_fail 2 "--failed given twice" --failed X --failed Y \
  --trace "$T/example.json"
expect_fail 2 "--trace given twice" --failed X --trace "$T/example.json" \
  --trace "$T/example.json"
expect_fail 2 "unexpected argument" --failed X --trace "$T/example.json" extra
expect_fail 2 "unknown option '--bogus'" --bogus --failed X \
  --trace "$T/example.json"
expect_fail 2 "needs an argument" --failed X --trace
expect_fail 2 "takes no argument" --json=yes --failed X \
  --trace "$T/example.json"
run analyze --help
check "--help prints the usage" test "$rc" -eq 0 -a -n "$out" -a -z "$err"
run help analyze
check "help analyze prints the usage" test "$rc" -eq 0 -a -n "$out"

finish
