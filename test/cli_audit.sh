# cli_audit.sh - mlog audit on the logs of a group
#
# Run as `MLOG_BIN=path/to/mlog bash test/cli_audit.sh` (CTest does).
# The logs `mlog sim --dir` leaves (every protocol, with crashes, several
# seeds) audit clean: exit 0, "ok": true, and the checks that do not apply
# to the protocol are listed as skipped. Logs of `mlog gen` make a group
# of two whose record can be edited in data.mdb: the audit names the
# verify check and the record, exit 1. A missing directory, a missing
# process and a process given twice exit 3 with one stderr line; usage
# errors exit 2. The logs are left as they were. Duplicates, gaps, kept
# copies, incarnations, checkpoints and orphans on logs written by hand:
# test/test_audit.c.

. "$(dirname "${BASH_SOURCE[0]}")/cli_harness.bash"

# expect_fail STATUS PATTERN ARGS...: exit STATUS, nothing on stdout, one
# stderr line from mlog audit matching PATTERN.
expect_fail() {
  local status=$1 pattern=$2
  shift 2
  local name problems=()
  name="[exit $status] mlog audit $(short "$*")"
  run audit "$@"
  [ "$rc" -eq "$status" ] || problems+=("exit $rc")
  [ -z "$out" ] || problems+=("stdout not empty")
  [ "$(count_lines "$T/.err")" -eq 1 ] || problems+=("not one stderr line")
  [[ $err == "mlog audit: "* ]] || problems+=("stderr not from mlog audit")
  [[ $err =~ $pattern ]] || problems+=("stderr does not match /$pattern/")
  if [ ${#problems[@]} -eq 0 ]; then
    ok "$name"
  else
    not_ok "$name: ${problems[*]}; stderr: $(short "$err")"
  fi
}

# ---------------------------------------------------------------------------
# Clean logs of every protocol

for proto in pessimistic-receiver optimistic-receiver \
  "pessimistic-sender --durable" coordinated none; do
  for seed in 1 2 3; do
    dir=$T/sim/${proto%% *}-$seed
    # shellcheck disable=SC2086 # proto holds an option
    if ! "$MLOG_BIN" sim --protocol $proto -n 3 -m 40 -c 3 --ckpt-every 4 \
      --seed "$seed" --dir "$dir" >"$T/.sim" 2>&1; then
      not_ok "sim --protocol $proto --seed $seed: $(short "$(cat "$T/.sim")")"
      continue
    fi
    before=$(snapshot "$dir/p0")
    run audit --json "$dir/p2" "$dir/p0" "$dir/p1"
    if [ "$rc" -eq 0 ] && [ -z "$err" ] &&
      [[ $out == '{"ok":true,"procs":3,"problems":[],'* ]]; then
      ok "audit --json $proto seed $seed: exit 0, ok true"
    else
      not_ok "audit --json $proto seed $seed: exit $rc: $(short "$out $err")"
    fi
    check "audit --json $proto seed $seed: valid JSON" \
      json_lines_ok <<<"$out"
    check "audit $proto seed $seed: the log is unchanged" \
      test "$before" = "$(snapshot "$dir/p0")"
    case $proto in
    pessimistic-receiver | optimistic-receiver)
      check "audit $proto: the gap check applies" \
        test "${out/\"check\":\"gap\"/}" = "$out" ;;
    *)
      check "audit $proto: the gap check is skipped" \
        test "${out/\"check\":\"gap\"/}" != "$out" ;;
    esac
  done
done

dir=$T/sim/pessimistic-receiver-1
run audit "$dir/p0" "$dir/p1" "$dir/p2"
check "audit (text): exit 0, last line 'ok: 3 processes'" \
  test "$rc" -eq 0 -a "$(tail -n1 "$T/.out")" = "ok: 3 processes"

# ---------------------------------------------------------------------------
# An edited record

G=$T/gen
for id in 0 1; do
  "$MLOG_BIN" gen --out "$G/p$id" --records 20 --process "$id" --group 2 \
    --protocol pessimistic-receiver >/dev/null ||
    not_ok "gen p$id"
done
run audit "$G/p0" "$G/p1"
check "audit of gen logs: exit 0" test "$rc" -eq 0
off=$(marker_offsets "$G/p0/data.mdb" 7 | head -n1)
flip_byte "$G/p0/data.mdb" $((off + 3))
run audit "$G/p0" "$G/p1"
if [ "$rc" -eq 1 ] && [[ $out == *"p0: lsn 7: verify: bad tag"* ]]; then
  ok "audit of an edited record: exit 1, 'p0: lsn 7: verify: bad tag'"
else
  not_ok "audit of an edited record: exit $rc: $(short "$out $err")"
fi
run audit --json "$G/p1" "$G/p0"
pat='"ok":false,.*\{"process":"p0","lsn":7,"check":"verify","detail":"bad tag'
if [ "$rc" -eq 1 ] && [[ $out =~ $pat ]]; then
  ok "audit --json of an edited record: the verify problem at lsn 7"
else
  not_ok "audit --json of an edited record: exit $rc: $(short "$out $err")"
fi

# ---------------------------------------------------------------------------
# Bad inputs and usage

dir=$T/sim/none-1
expect_fail 3 "$T/missing" "$T/missing" "$dir/p1" "$dir/p2"
expect_fail 3 "no log given for process p2" "$dir/p0" "$dir/p1"
expect_fail 3 "a second log of process p1" "$dir/p0" "$dir/p1" "$dir/p1" \
  "$dir/p2"
expect_fail 3 "a group of 2, but .* is of a group of 3" "$dir/p0" "$dir/p1" "$dir/p2" "$G/p1"
mkdir -p "$T/empty"
expect_fail 3 "$T/empty" "$T/empty"
expect_fail 2 "no log directory given" --json
expect_fail 2 "unknown option" --bogus "$dir/p0"
expect_fail 2 "" --key "$T/missing.key" "$dir/p0"
run audit --help
check "audit --help: exit 0, usage on stdout" \
  test "$rc" -eq 0 -a "${out:0:18}" = "usage: mlog audit "

finish
