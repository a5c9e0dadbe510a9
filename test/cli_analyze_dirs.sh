# cli_analyze_dirs.sh - mlog analyze and mlog diagram on log directories
#
# Run as `MLOG_BIN=path/to/mlog bash test/cli_analyze_dirs.sh` (CTest does).
# Logs come from `mlog sim --dir` (one directory per process), mostly of
# protocol none, whose processes record their counts at a close. analyze
# prints the five keys for processes p0..p<N-1>, the failed process restarts
# from one of its checkpoints, the order of the directories does not
# matter, ids and "p<id>" names are the same in --failed, and the logs are
# left as they were. The logs of the message-logging protocols (no counts:
# each process ends at its newest checkpoint, raised to what its peers
# received from it) are analysed too, for several seeds with crashes.
# diagram draws them (SVG and ShiViz log, no causality cycle) with the
# orphan and lost messages analyze lists. Bad inputs exit 3
# with one stderr line naming the directory (a missing process, a process
# given twice, not a log, logs of different groups, a keyed log without
# its key, a wrong key, an unknown --failed name); usage errors exit 2. The
# analysis itself is checked against the JSON traces by
# test/test_analyze_dirs.c.

. "$(dirname "${BASH_SOURCE[0]}")/cli_harness.bash"

# expect_fail COMMAND STATUS PATTERN ARGS...: exit STATUS, nothing on
# stdout, one line on stderr, starting "mlog COMMAND: " and matching the
# extended regular expression PATTERN.
expect_fail() {
  local cmd=$1 status=$2 pattern=$3
  shift 3
  local name problems=()
  name="[exit $status] mlog $cmd $(short "$*")"
  run "$cmd" "$@"
  [ "$rc" -eq "$status" ] || problems+=("exit $rc")
  [ -z "$out" ] || problems+=("stdout not empty")
  [ "$(count_lines "$T/.err")" -eq 1 ] || problems+=("not one stderr line")
  [[ $err == "mlog $cmd: "* ]] || problems+=("stderr not from mlog $cmd")
  [[ $err =~ $pattern ]] || problems+=("stderr does not match /$pattern/")
  if [ ${#problems[@]} -eq 0 ]; then
    ok "$name"
  else
    not_ok "$name: ${problems[*]}; stderr: $(short "$err")"
  fi
}

# sim_logs DIR ARGS...: a simulated run of three processes that log no
# messages (protocol none: each records its counts at a clean close),
# keeping its logs in DIR/p0..p2.
sim_logs() {
  local dir=$1
  shift
  if "$MLOG_BIN" sim --protocol none -n 3 -m 40 -c 0 --ckpt-every 4 \
    --seed 5 --dir "$dir" "$@" >"$T/.sim" 2>&1; then
    ok "sim --dir $(short "$dir $*")"
  else
    not_ok "sim --dir $(short "$dir $*"): $(short "$(cat "$T/.sim")")"
  fi
}

R=$T/run
sim_logs "$R"
DIRS=("$R/p0" "$R/p1" "$R/p2")

# ---------------------------------------------------------------------------
# analyze

before=$(for d in "${DIRS[@]}"; do snapshot "$d"; done)
run analyze --json --failed p1 "${DIRS[@]}"
json=$out
check "analyze --json: exit 0, nothing on stderr" \
  test "$rc" -eq 0 -a -z "$err"
keys='^\{"recovery_line":\{"p0":"[^"]+","p1":"[^"]+","p2":"[^"]+"\},'
keys+='"rolled_back_past":\{"p0":[0-9]+,"p1":[0-9]+,"p2":[0-9]+\},'
keys+='"domino":(true|false),"orphan_messages":\[[^]]*\],'
keys+='"lost_messages":\[[^]]*\]\}$'
if [[ $json =~ $keys ]]; then
  ok "analyze --json: the five keys, processes p0 p1 p2"
else
  not_ok "analyze --json: the five keys: $json"
fi
if printf '%s\n' "$json" | json_lines_ok; then
  ok "analyze --json prints valid JSON"
else
  not_ok "analyze --json prints valid JSON: $json"
fi
if [[ $json =~ \"p1\":\"(p1\.c[0-9]+|initial)\" ]]; then
  ok "the failed p1 restarts from a checkpoint (${BASH_REMATCH[1]})"
else
  not_ok "the failed p1 restarts from a checkpoint: $json"
fi
ids='("p[0-2]-p[0-2]#[1-9][0-9]*",?)*'
if [[ $json =~ \"orphan_messages\":\[$ids\],\"lost_messages\":\[$ids\]\}$ ]]; then
  ok "messages are named p<i>-p<j>#<ssn>"
else
  not_ok "messages are named p<i>-p<j>#<ssn>: $json"
fi
after=$(for d in "${DIRS[@]}"; do snapshot "$d"; done)
check "the logs are unchanged" test "$before" = "$after"

run analyze --json --failed 1 "$R/p2" "$R/p0" "$R/p1"
check "ids in --failed, directories in any order: the same output" \
  test "$rc" -eq 0 -a "$out" = "$json"
run analyze --failed p1 "${DIRS[@]}"
check "text output" test "$rc" -eq 0 -a -z "$err"
check "text output: the line of p0..p2" \
  grep -qE '^  p1: (p1\.c[0-9]+|initial) \(failed' "$T/.out"
run analyze --json --failed p0,p1,p2 "${DIRS[@]}"
check "every process failed: none at its end" \
  test "$rc" -eq 0 -a -n "$out" -a "${out/\"end\"/}" = "$out"

# The logs of the message-logging protocols: their processes write no
# counts at a close, so each ends at its newest checkpoint, raised to the
# messages its peers' ends received from it. Receivers often checkpoint
# after their senders' newest checkpoints (14 of these 30 runs when this
# was written), which used to be refused as a receive with no send.
for proto in pessimistic-receiver pessimistic-sender optimistic-receiver; do
  for seed in 1 2 3 4 5 6 7 8 9 10; do
    L=$T/$proto-$seed
    if ! "$MLOG_BIN" sim --protocol "$proto" -n 3 -m 40 -c 2 --ckpt-every 4 \
      --seed "$seed" --dir "$L" >"$T/.sim" 2>&1; then
      not_ok "sim $proto seed $seed: $(short "$(cat "$T/.sim")")"
      continue
    fi
    run analyze --json --failed p1 "$L/p0" "$L/p1" "$L/p2"
    if [ "$rc" -eq 0 ] && [[ $out =~ $keys ]] && [ -z "$err" ]; then
      ok "analyze the logs of $proto, seed $seed"
    else
      not_ok "analyze the logs of $proto, seed $seed: exit $rc: $out $err"
    fi
  done
done

# ---------------------------------------------------------------------------
# diagram

run diagram --failed p1 "${DIRS[@]}" -o "$T/d.svg" --shiviz "$T/d.log"
check "diagram: exit 0, silent" test "$rc" -eq 0 -a -z "$out" -a -z "$err"
check "diagram: three process lines" \
  test "$(grep -cF 'class="process"' "$T/d.svg")" -eq 3
check "diagram: one recovery line" \
  test "$(grep -cF 'class="recovery-line"' "$T/d.svg")" -eq 1
check "diagram: message arrows" \
  test "$(grep -cF 'class="msg ' "$T/d.svg")" -gt 0
if command -v python3 >/dev/null 2>&1; then
  check "diagram: well-formed XML" python3 -c \
    'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' "$T/d.svg"
fi
# The orphan (red) and lost (orange) arrows are the messages analyze lists.
svg_ids() {
  grep -F 'class="msg ' "$T/d.svg" | grep -F "stroke=\"$1\"" |
    sed 's/.*data-msg="\([^"]*\)".*/\1/' | sort | tr '\n' ' '
}
json_ids() {
  printf '%s\n' "$json" | sed -n "s/.*\"$1\":\[\([^]]*\)\].*/\1/p" |
    tr -d '"' | tr ',' '\n' | sed '/^$/d' | sort | tr '\n' ' '
}
check "diagram: the orphan arrows are analyze's orphans" \
  test "$(svg_ids '#d62728')" = "$(json_ids orphan_messages)"
check "diagram: the lost arrows are analyze's lost messages" \
  test "$(svg_ids '#ff7f0e')" = "$(json_ids lost_messages)"
check "diagram --shiviz: the regular expression first" \
  grep -q '^^(?<host>' "$T/d.log"
check "diagram --shiviz: no causality cycle" \
  test "$(grep -c 'causality cycle' "$T/d.log")" -eq 0
run diagram "$R/p1" "$R/p0" "$R/p2" -o "$T/plain.svg"
check "diagram without --failed: no recovery line" \
  test "$rc" -eq 0 -a "$(grep -c 'recovery-line' "$T/plain.svg")" -eq 0

# ---------------------------------------------------------------------------
# Keyed logs

"$MLOG_BIN" keygen --out "$T/keys" >/dev/null 2>&1
"$MLOG_BIN" keygen --out "$T/other" >/dev/null 2>&1
K=$T/keyed
sim_logs "$K" --key "$T/keys/log.key"
run analyze --json --key "$T/keys/log.key" --failed p1 "$K/p0" "$K/p1" "$K/p2"
check "keyed logs with --key: the same analysis as unkeyed" \
  test "$rc" -eq 0 -a "$out" = "$json"
expect_fail analyze 3 "$K/p0: the log is keyed: pass its key with --key" \
  --failed p1 "$K/p0" "$K/p1" "$K/p2"
expect_fail analyze 3 "$K/p0: the key does not match" \
  --key "$T/other/log.key" --failed p1 "$K/p0" "$K/p1" "$K/p2"
expect_fail analyze 3 "$R/p0: the log is not keyed but a key was given" \
  --key "$T/keys/log.key" --failed p1 "${DIRS[@]}"
expect_fail diagram 3 "$K/p0: the log is keyed" "$K/p0" "$K/p1" "$K/p2" \
  -o "$T/keyed.svg"
check "diagram: nothing written on failure" test ! -e "$T/keyed.svg"
head -c 5 "$T/keys/log.key" >"$T/short.key"
expect_fail analyze 2 "not a key file" --key "$T/short.key" --failed p1 \
  "${DIRS[@]}"

# ---------------------------------------------------------------------------
# Bad directories: exit 3, one line naming the directory

mkdir -p "$T/empty"
sim_logs "$T/two" -n 2
expect_fail analyze 3 "no log given for process p1 \(a group of 3" \
  --failed p0 "$R/p0" "$R/p2"
expect_fail analyze 3 "no log given for processes p0, p2" \
  --failed p1 "$R/p1"
expect_fail analyze 3 "$R/p0: a second log of process p0 \(the first: $R/p0\)" \
  --failed p1 "$R/p0" "$R/p0" "$R/p1" "$R/p2"
expect_fail analyze 3 "^mlog analyze: $T/empty: " \
  --failed p1 "${DIRS[@]}" "$T/empty"
expect_fail analyze 3 "^mlog analyze: $T/missing: " \
  --failed p1 "$T/missing" "${DIRS[@]}"
expect_fail analyze 3 "$T/two/p1: .*group of 2.*$R/p0 is of a group of 3" \
  --failed p1 "${DIRS[@]}" "$T/two/p1"
expect_fail analyze 3 \
  "--failed names an unknown process q1 \(the logs are of p0..p2\)" \
  --failed q1 "${DIRS[@]}"
expect_fail analyze 3 "--failed names an unknown process p3" \
  --failed p0,p3 "${DIRS[@]}"
expect_fail analyze 3 "--failed names an unknown process 01" \
  --failed 01 "${DIRS[@]}"
expect_fail diagram 3 "no log given for process p2" \
  --failed p1 "$R/p0" "$R/p1" -o "$T/missing.svg"
check "diagram: nothing written for a missing process" \
  test ! -e "$T/missing.svg"

# ---------------------------------------------------------------------------
# Usage errors: exit 2

expect_fail analyze 2 "process p1 named twice" --failed p1,1 "${DIRS[@]}"
expect_fail analyze 2 "not both" --failed p1 --trace "$T/t.json" "$R/p0"
expect_fail analyze 2 "no trace given" --failed p1
expect_fail analyze 2 "--key is for log directories" --key "$T/keys/log.key" \
  --failed X --trace "$T/t.json"
expect_fail analyze 2 "--key given twice" --key "$T/keys/log.key" \
  --key "$T/keys/log.key" --failed p1 "${DIRS[@]}"
expect_fail analyze 2 "no failed processes given" "${DIRS[@]}"
expect_fail diagram 2 "not both" --trace "$T/t.json" "$R/p0" -o "$T/x.svg"
expect_fail diagram 2 "no output given" "${DIRS[@]}"
expect_fail diagram 2 "no trace given" -o "$T/x.svg"

finish
