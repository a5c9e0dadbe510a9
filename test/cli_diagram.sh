# cli_diagram.sh - mlog diagram: SVG space-time diagrams of traces
#
# Run as `MLOG_BIN=path/to/mlog bash test/cli_diagram.sh` (CTest does).
# Good traces give a well-formed SVG with one process line per process, one
# arrow per message, one box per checkpoint, the recovery line only with
# --failed, and the orphan and lost colours on exactly the messages `mlog
# analyze --json` lists. --shiviz gives a ShiViz log: the regular
# expression, an empty line, then one line per event matching it, each
# process's events in its order, every send before its receive, vector
# clocks following the rules (own entry +1 per event, a receive's clock the
# componentwise max with its send's; checked with python3 when there is
# one). Bad traces (every case of cli_analyze.sh) exit 3 and write nothing;
# usage errors exit 2; an unwritable output exits 3 without leaving a
# temporary file or the other output.

. "$(dirname "${BASH_SOURCE[0]}")/cli_harness.bash"

ORPHAN='#d62728'
LOST='#ff7f0e'

# xml_ok FILE: FILE is well-formed XML (python3, else xmllint, else skipped).
if command -v python3 >/dev/null 2>&1; then
  xml_ok() { python3 -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' "$1" 2>/dev/null; }
elif command -v xmllint >/dev/null 2>&1; then
  xml_ok() { xmllint --noout "$1" 2>/dev/null; }
else
  echo "# neither python3 nor xmllint: well-formedness is not checked"
  xml_ok() { true; }
fi

# count PATTERN FILE: the lines of FILE holding the fixed string PATTERN.
count() { grep -cF -- "$1" "$2"; }

# same_set WANT GOT: the same words, in any order.
same_set() {
  [ "$(printf '%s\n' $1 | sort)" = "$(printf '%s\n' $2 | sort)" ]
}

# ids LIST FILE: the message ids in the JSON list LIST of analyze's output.
ids() {
  sed -n "s/.*\"$1\":\[\([^]]*\)\].*/\1/p" "$2" | tr -d '"' | tr ',' ' '
}

# svg_ids COLOUR FILE: the data-msg of the message arrows drawn in COLOUR,
# unescaped.
svg_ids() {
  grep -F 'class="msg ' "$2" | grep -F "stroke=\"$1\"" |
    sed 's/.*data-msg="\([^"]*\)".*/\1/' |
    sed "s/&lt;/</g; s/&gt;/>/g; s/&quot;/\"/g; s/&apos;/'/g; s/&amp;/\\&/g"
}

# expect_diagram NAME TRACE PROCS MSGS CKPTS [FAILED]: draw TRACE and check
# the counts, the recovery line and the colours against analyze.
expect_diagram() {
  local name=$1 trace=$2 procs=$3 msgs=$4 ckpts=$5 failed_list=${6:-}
  local svg="$T/$name.svg" args=(--trace "$trace" -o "$T/$name.svg")
  [ -n "$failed_list" ] && args=(--failed "$failed_list" "${args[@]}")
  run diagram "${args[@]}"
  check "$name: exit 0, silent" test "$rc" -eq 0 -a -z "$out" -a -z "$err"
  check "$name: well-formed XML" xml_ok "$svg"
  check "$name: $procs process lines" \
    test "$(count 'class="process"' "$svg")" -eq "$procs"
  check "$name: $msgs message arrows" \
    test "$(count 'class="msg ' "$svg")" -eq "$msgs"
  check "$name: $msgs arrowheads on messages" \
    test "$(grep -F 'class="msg ' "$svg" | grep -c 'marker-end=')" -eq "$msgs"
  check "$name: $ckpts checkpoint boxes" \
    test "$(count 'class="checkpoint' "$svg")" -eq "$ckpts"
  check "$name: no temporary file left" \
    test -z "$(find "$T" -name '*.tmp.*')"
  if [ -z "$failed_list" ]; then
    check "$name: no recovery line without --failed" \
      test "$(count 'recovery-line' "$svg")" -eq 0
    check "$name: no orphan or lost arrow without --failed" \
      test -z "$(svg_ids "$ORPHAN" "$svg")$(svg_ids "$LOST" "$svg")"
    return
  fi
  check "$name: one recovery line" \
    test "$(count 'class="recovery-line"' "$svg")" -eq 1
  "$MLOG_BIN" analyze --json --failed "$failed_list" --trace "$trace" >"$T/.json"
  check "$name: orphans as analyze lists them" \
    same_set "$(ids orphan_messages "$T/.json")" "$(svg_ids "$ORPHAN" "$svg")"
  check "$name: lost messages as analyze lists them" \
    same_set "$(ids lost_messages "$T/.json")" "$(svg_ids "$LOST" "$svg")"
}

# ---------------------------------------------------------------------------
# Good traces: those cli_analyze.sh checks (test/traces/), and more

cp "$(dirname "${BASH_SOURCE[0]}")"/traces/{example,zigzag,lists}.json "$T/"

expect_diagram zigzag "$T/zigzag.json" 3 5 7
expect_diagram zigzag-X "$T/zigzag.json" 3 5 7 X
expect_diagram zigzag-Z "$T/zigzag.json" 3 5 7 Z
expect_diagram lists-B "$T/lists.json" 2 5 6 B
expect_diagram lists-A-B "$T/lists.json" 2 5 6 A,B
expect_diagram example-X "$T/example.json" 2 1 3 X
expect_diagram example-Y "$T/example.json" 2 1 3 Y
check "zigzag-X: m0 is drawn as an orphan" \
  grep -q 'class="msg orphan" data-msg="m0"' "$T/zigzag-X.svg"
check "lists-B: lost-b is drawn as lost" \
  grep -q 'class="msg lost" data-msg="lost-b"' "$T/lists-B.svg"
check "a message never received: one dashed arrow in transit" \
  test "$(grep -F 'class="msg transit"' "$T/lists-B.svg" |
    grep -c 'stroke-dasharray')" -eq 1
check "the legend explains orphans with --failed" \
  grep -q 'class="legend-item".*orphan message' "$T/zigzag-X.svg"
check "the legend has no recovery line without --failed" \
  test "$(grep -c 'class="legend-item".*recovery line' "$T/zigzag.svg")" -eq 0

# Receives always to the right of their sends.
forward=$(grep -F 'class="msg normal"' "$T/zigzag.svg" |
  sed 's/.*x1="\([0-9.]*\)".*x2="\([0-9.]*\)".*/\1 \2/' |
  awk '$2 <= $1 { bad++ } END { print bad + 0 }')
check "arrows go forward in time" test "$forward" -eq 0

# Names with XML's special characters; a control character; a causality
# cycle (drawn, one arrow pointing back).
cat >"$T/special.json" <<'EOF'
{"processes": ["A&<B>\"'", "C\u0001"],
 "events": [
  {"proc": "A&<B>\"'", "kind": "recv", "msg": "m<1>"},
  {"proc": "A&<B>\"'", "kind": "send", "msg": "m&2", "to": "C\u0001"},
  {"proc": "C\u0001", "kind": "recv", "msg": "m&2"},
  {"proc": "C\u0001", "kind": "checkpoint", "name": "c\"'\u00e9"},
  {"proc": "C\u0001", "kind": "send", "msg": "m<1>", "to": "A&<B>\"'"}
 ]}
EOF
expect_diagram special "$T/special.json" 2 2 3 $'A&<B>"\''

check "special: names escaped" \
  grep -qF 'data-proc="A&amp;&lt;B&gt;&quot;&apos;"' "$T/special.svg"
check "special: message ids escaped" \
  grep -qF 'data-msg="m&lt;1&gt;"' "$T/special.svg"
check "special: checkpoint names escaped" \
  grep -qF 'data-name="c&quot;&apos;é"' "$T/special.svg"
check "special: no raw control character" \
  test "$(tr -d '\n\t' <"$T/special.svg" | LC_ALL=C grep -c '[[:cntrl:]]')" -eq 0

# A few hundred events: still well-formed, wider than a small trace.
{
  printf '{"processes": ["P", "Q", "R"], "events": [\n'
  for i in $(seq 1 100); do
    printf '{"proc":"P","kind":"send","msg":"a%d","to":"Q"},' "$i"
    printf '{"proc":"Q","kind":"recv","msg":"a%d"},' "$i"
    printf '{"proc":"R","kind":"checkpoint","name":"r%d"},' "$i"
  done
  printf '{"proc":"Q","kind":"send","msg":"last","to":"R"}]}\n'
} >"$T/big.json"
expect_diagram big "$T/big.json" 3 101 103 Q
width() { sed -n 's/.*<svg [^>]* width="\([0-9]*\)".*/\1/p' "$1"; }
check "big: the width grows with the columns" \
  test "$(width "$T/big.svg")" -gt "$(width "$T/zigzag.svg")"

# An existing output is replaced.
cp "$T/zigzag.svg" "$T/replace.svg"
run diagram --failed X --trace "$T/zigzag.json" -o "$T/replace.svg"
check "an existing output is replaced" \
  cmp -s "$T/replace.svg" "$T/zigzag-X.svg"

# ---------------------------------------------------------------------------
# ShiViz logs (--shiviz)

REGEX='^(?<host>\S+) (?<clock>\{.*?\}) (?<event>.*)$'

# The checks of a log against its trace (python3): the header, one line per
# event, each matching the regular expression, each process's events in
# its order, sends before their receives (but receives marked as closing a
# causality cycle), and the vector clocks: a process's own entry +1 per
# event, the other entries unchanged but at a receive, whose clock is the
# componentwise max with its send's; only nonzero entries.
cat >"$T/shiviz_check.py" <<'EOF'
import json, re, sys

def enc(s):
    spaces = "\u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff"
    def one(ch):
        o = ord(ch)
        if (o <= 0x20 or 0x7f <= o <= 0xa0 or 0x2000 <= o <= 0x200a
                or ch in spaces or ch == "%"):
            return "".join("%%%02X" % b for b in ch.encode())
        return ch
    return "".join(one(ch) for ch in s)

def main(trace_path, log_path, regex):
    trace = json.load(open(trace_path, encoding="utf-8"))
    raw = open(log_path, encoding="utf-8", newline="").read()
    assert raw.endswith("\n"), "no final newline"
    lines = raw[:-1].split("\n")
    assert lines[0] == regex, "first line is not the regex: %r" % lines[0]
    assert lines[1] == "", "second line is not empty"
    body = lines[2:]
    events = trace["events"]
    assert len(body) == len(events), "%d lines, %d events" % (len(body), len(events))
    pattern = re.compile(regex.replace("(?<", "(?P<"))
    want = {}  # host -> its events' texts, in order
    to = {}
    for ev in events:
        if ev["kind"] == "send":
            to[ev["msg"]] = ev["to"]
    sender = {ev["msg"]: ev["proc"] for ev in events if ev["kind"] == "send"}
    for ev in events:
        p, k = ev["proc"], ev["kind"]
        text = ("checkpoint " + enc(ev["name"]) if k == "checkpoint" else
                "send %s to %s" % (enc(ev["msg"]), enc(to[ev["msg"]])) if k == "send"
                else "recv %s from %s" % (enc(ev["msg"]), enc(sender[ev["msg"]])))
        want.setdefault(enc(p), []).append(text)
    got = {}
    clock = {}  # host -> its last clock
    sent = {}  # message -> the clock of its send
    cycle = " (causality cycle: written before its send, not linked)"
    for n, line in enumerate(body, 3):
        m = pattern.fullmatch(line)
        assert m, "line %d does not match: %r" % (n, line)
        host, c, event = m["host"], json.loads(m["clock"]), m["event"]
        assert all(isinstance(v, int) and v > 0 for v in c.values()), "line %d: %r" % (n, c)
        expect = dict(clock.get(host, {}))
        expect[host] = expect.get(host, 0) + 1
        words = event.split(" ")
        if words[0] == "send":
            sent[words[1]] = c
        elif words[0] == "recv" and event.endswith(cycle):
            assert words[1] not in sent, "line %d: marked a cycle, send written" % n
            event = event[: -len(cycle)]
        elif words[0] == "recv":
            assert words[1] in sent, "line %d: receive before its send" % n
            for h, v in sent[words[1]].items():
                expect[h] = max(expect.get(h, 0), v)
            assert all(c.get(h, 0) >= v for h, v in sent[words[1]].items()), \
                "line %d: does not dominate the send's clock" % n
        assert c == expect, "line %d: clock %r, want %r" % (n, c, expect)
        clock[host] = c
        got.setdefault(host, []).append(event)
    assert got == want, "events per host: %r, want %r" % (got, want)

try:
    main(*sys.argv[1:4])
except AssertionError as e:
    print("#", e)
    sys.exit(1)
EOF
if command -v python3 >/dev/null 2>&1; then
  shiviz_ok() { python3 "$T/shiviz_check.py" "$1" "$2" "$REGEX"; }
else
  echo "# no python3: ShiViz clocks and event order are not checked"
  shiviz_ok() { true; }
fi
# grep -P, when grep has it: every line but the first two matches.
if echo x | grep -qP 'x' 2>/dev/null; then
  grep_ok() { tail -n +3 "$1" | grep -cvP -- "$REGEX" | grep -qx 0; }
else
  echo "# grep -P unavailable: the regex is checked with python3 only"
  grep_ok() { true; }
fi

# expect_shiviz NAME TRACE EVENTS [ARGS...]: export TRACE and check it.
expect_shiviz() {
  local name=$1 trace=$2 events=$3
  shift 3
  run diagram --trace "$trace" --shiviz "$T/$name.log" "$@"
  check "shiviz $name: exit 0, silent" test "$rc" -eq 0 -a -z "$out" -a -z "$err"
  check "shiviz $name: the regex, an empty line, $events event lines" \
    test "$(head -1 "$T/$name.log")" = "$REGEX" -a \
    -z "$(sed -n 2p "$T/$name.log")" -a \
    "$(count_lines "$T/$name.log")" -eq $((events + 2))
  check "shiviz $name: every event line matches (grep -P)" grep_ok "$T/$name.log"
  check "shiviz $name: order and vector clocks" shiviz_ok "$trace" "$T/$name.log"
  check "shiviz $name: no temporary file left" \
    test -z "$(find "$T" -name '*.tmp.*')"
}

expect_shiviz example "$T/example.json" 3
check "shiviz example: the lines" test "$(tail -n +3 "$T/example.log")" = \
  'X {"X":1} checkpoint x1
X {"X":2} send m1 to Y
Y {"X":2,"Y":1} recv m1 from X'
expect_shiviz zigzag "$T/zigzag.json" 13
check "shiviz zigzag: a receive's clock" \
  grep -qxF 'X {"Y":4,"X":4} recv m2 from Y' "$T/zigzag.log"
expect_shiviz lists "$T/lists.json" 13 --failed B
expect_shiviz big "$T/big.json" 301
# Names with white space, '%', quotes, control characters; a causality
# cycle: written anyway, the receive closing it marked and not linked.
cat >"$T/names.json" <<'EOF'
{"processes": ["A&<B>\"' x", "C\u0001%\u00a0\\"],
 "events": [
  {"proc": "A&<B>\"' x", "kind": "recv", "msg": "m 1"},
  {"proc": "A&<B>\"' x", "kind": "send", "msg": "m} {2", "to": "C\u0001%\u00a0\\"},
  {"proc": "C\u0001%\u00a0\\", "kind": "recv", "msg": "m} {2"},
  {"proc": "C\u0001%\u00a0\\", "kind": "checkpoint", "name": "c\n\u00e9"},
  {"proc": "C\u0001%\u00a0\\", "kind": "send", "msg": "m 1", "to": "A&<B>\"' x"}
 ]}
EOF
expect_shiviz names "$T/names.json" 5
check "shiviz names: the receive closing the cycle is marked" \
  grep -qF 'recv m%201 from C%01%25%C2%A0\ (causality cycle' "$T/names.log"
run diagram --trace "$T/zigzag.json" -o "$T/both.svg" --shiviz "$T/both.log"
check "-o and --shiviz: exit 0" test "$rc" -eq 0
check "-o and --shiviz: the same SVG as -o alone" \
  cmp -s "$T/both.svg" "$T/zigzag.svg"
check "-o and --shiviz: the same log as --shiviz alone" \
  cmp -s "$T/both.log" "$T/zigzag.log"
cp "$T/example.log" "$T/replace.log"
run diagram --trace "$T/zigzag.json" --shiviz "$T/replace.log"
check "an existing ShiViz log is replaced" cmp -s "$T/replace.log" "$T/zigzag.log"

# ---------------------------------------------------------------------------
# Failures: exit 3 (bad traces, unwritable outputs) or 2 (usage), one
# stderr line, nothing on stdout, no output file and no temporary file.

# snapshots 'A|B...': the snapshots of the paths A, B...
snapshots() {
  local IFS='|' o
  for o in $1; do snapshot "$o"; done
}

# expect_fail STATUS PATTERN OUT ARGS...: the tool fails as described and
# leaves OUT ('A|B...': each of them) as it was (absent when it was).
expect_fail() {
  local status=$1 pattern=$2 outfile=$3 before
  shift 3
  local name problems=()
  name="[exit $status] mlog diagram $(short "$*")"
  before=$(snapshots "$outfile")
  run diagram "$@"
  [ "$rc" -eq "$status" ] || problems+=("exit $rc")
  [ -z "$out" ] || problems+=("stdout not empty")
  [ "$(count_lines "$T/.err")" -eq 1 ] || problems+=("not one stderr line")
  [[ $err == "mlog diagram: "* ]] || problems+=("stderr not from mlog diagram")
  [[ $err =~ $pattern ]] || problems+=("stderr does not match /$pattern/")
  [ "$(snapshots "$outfile")" = "$before" ] || problems+=("output changed")
  [ -z "$(find "$T" -name '*.tmp.*')" ] || problems+=("temporary file left")
  if [ ${#problems[@]} -eq 0 ]; then
    ok "$name"
  else
    not_ok "$name: ${problems[*]}; stderr: $(short "$err")"
  fi
}

# Every bad trace of cli_analyze.sh, with and without --failed.
n_bad=0
bad_trace() {
  n_bad=$((n_bad + 1))
  printf '%s\n' "$2" >"$T/bad$n_bad.json"
  expect_fail 3 "$1" "$T/bad$n_bad.svg" --failed X --trace "$T/bad$n_bad.json" \
    -o "$T/bad$n_bad.svg"
  expect_fail 3 "$1" "$T/bad$n_bad.svg" --trace "$T/bad$n_bad.json" \
    -o "$T/bad$n_bad.svg"
  expect_fail 3 "$1" "$T/bad$n_bad.svg|$T/bad$n_bad.log" \
    --trace "$T/bad$n_bad.json" -o "$T/bad$n_bad.svg" \
    --shiviz "$T/bad$n_bad.log"
}
# The cases themselves, read from cli_analyze.sh so that the lists agree.
eval "$(sed -n '/^# Bad traces: exit 3/,/^expect_fail 3 .--failed names/p' \
  "$(dirname "${BASH_SOURCE[0]}")/cli_analyze.sh" | grep -v '^expect_fail')"
check "all of cli_analyze.sh's bad traces were tried ($n_bad)" \
  test "$n_bad" -ge 30
expect_fail 3 'unknown process' "$T/o.log" --trace "$T/bad1.json" \
  --shiviz "$T/o.log"
expect_fail 3 '--failed names an unknown process Q' "$T/o.svg" \
  --failed X,Q --trace "$T/example.json" -o "$T/o.svg"
expect_fail 3 'cannot read' "$T/o.svg" --trace "$T/missing.json" -o "$T/o.svg"
expect_fail 3 'cannot read' "$T/o.svg" --trace "$T" -o "$T/o.svg"
cp "$T/zigzag.svg" "$T/kept.svg"
expect_fail 3 'unknown process' "$T/kept.svg" --trace "$T/bad1.json" \
  -o "$T/kept.svg"

# Unwritable outputs.
expect_fail 3 "$T/nodir/o.svg: cannot write: No such file" "$T/nodir" \
  --trace "$T/zigzag.json" -o "$T/nodir/o.svg"
mkdir "$T/isdir"
expect_fail 3 "cannot write: Is a directory" "$T/isdir" \
  --trace "$T/zigzag.json" -o "$T/isdir"
nobody_setup
mkdir "$T/ro" && chmod 555 "$T/ro"
before=$(snapshot "$T/ro")
run_nobody diagram --trace "$T/zigzag.json" -o "$T/ro/o.svg"
check "[exit 3] a read-only directory: cannot write, nothing left" \
  test "$rc" -eq 3 -a "$(snapshot "$T/ro")" = "$before"
[[ $err == *"cannot write: Permission denied"* ]] &&
  ok "read-only directory: permission denied" ||
  not_ok "read-only directory: stderr: $(short "$err")"
check "a new file gets the usual mode (0666 less the umask)" \
  test "$(umask 022 && "$MLOG_BIN" diagram --trace "$T/example.json" \
    -o "$T/mode.svg" && stat -c %a "$T/mode.svg")" = 644

# An unwritable ShiViz output: the SVG beside it is not written either.
expect_fail 3 "$T/nodir/o.log: cannot write: No such file" "$T/o.svg|$T/nodir" \
  --trace "$T/zigzag.json" -o "$T/o.svg" --shiviz "$T/nodir/o.log"
expect_fail 3 "cannot write: Is a directory" "$T/o.svg|$T/isdir" \
  --trace "$T/zigzag.json" -o "$T/o.svg" --shiviz "$T/isdir"
expect_fail 3 "cannot write: Is a directory" "$T/isdir|$T/o.log" \
  --trace "$T/zigzag.json" -o "$T/isdir" --shiviz "$T/o.log"
cp "$T/zigzag.log" "$T/kept.log"
expect_fail 3 'unknown process' "$T/kept.log" --trace "$T/bad1.json" \
  --shiviz "$T/kept.log"
before=$(snapshot "$T/ro")
run_nobody diagram --trace "$T/zigzag.json" --shiviz "$T/ro/o.log"
check "[exit 3] --shiviz into a read-only directory: nothing left" \
  test "$rc" -eq 3 -a "$(snapshot "$T/ro")" = "$before"

# ---------------------------------------------------------------------------
# Usage errors: exit 2

o="$T/u.svg"
expect_fail 2 "no trace given" "$o" -o "$o"
expect_fail 2 "no output given" "$o" --trace "$T/example.json"
expect_fail 2 "an empty output path" "$o" --trace "$T/example.json" -o ''
l="$T/u.log"
expect_fail 2 "no output given" "$l" --failed X --trace "$T/example.json"
expect_fail 2 "an empty output path" "$o|$l" --trace "$T/example.json" \
  -o "$o" --shiviz ''
expect_fail 2 "--shiviz given twice" "$l" --trace "$T/example.json" \
  --shiviz "$l" --shiviz "$l"
expect_fail 2 "name the same file" "$l" --trace "$T/example.json" \
  -o "$l" --shiviz "$l"
expect_fail 2 "needs an argument" "$l" --trace "$T/example.json" --shiviz
expect_fail 2 "no trace given" "$l" --shiviz "$l"
expect_fail 2 "an empty name" "$o" --failed '' --trace "$T/example.json" -o "$o"
expect_fail 2 "an empty name" "$o" --failed X, --trace "$T/example.json" -o "$o"
expect_fail 2 "X named twice" "$o" --failed X,Y,X --trace "$T/example.json" \
  -o "$o"
expect_fail 2 "--failed given twice" "$o" --failed X --failed Y \
  --trace "$T/example.json" -o "$o"
expect_fail 2 "--trace given twice" "$o" --trace "$T/example.json" \
  --trace "$T/example.json" -o "$o"
expect_fail 2 "--output given twice" "$o" --trace "$T/example.json" -o "$o" \
  --output "$o"
expect_fail 2 "unexpected argument" "$o" --trace "$T/example.json" -o "$o" x
expect_fail 2 "unknown option '--bogus'" "$o" --bogus \
  --trace "$T/example.json" -o "$o"
expect_fail 2 "needs an argument" "$o" --trace "$T/example.json" -o
expect_fail 2 "unknown option '--json'" "$o" --json \
  --trace "$T/example.json" -o "$o"
run diagram --help
check "--help prints the usage" test "$rc" -eq 0 -a -n "$out" -a -z "$err"
run help diagram
check "help diagram prints the usage" test "$rc" -eq 0 -a -n "$out"

finish
