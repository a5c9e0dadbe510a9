# cli_bank.sh - examples/bank: real processes over ZeroMQ, SIGKILLed and
# recovered, under every protocol
#
# Run as `MLOG_BIN=path/to/mlog bash test/cli_bank.sh` (CTest does); the
# bank example is found beside the tool (../examples/bank). BANK_RUNS sets
# the runs per protocol (default 4, each with 3 SIGKILLs at random moments:
# about a minute in all).

. "$(dirname "${BASH_SOURCE[0]}")/cli_harness.bash"

bank="$(dirname "$MLOG_BIN")/../examples/bank"
if [ ! -x "$bank" ]; then
  ok "examples/bank not built (no ZeroMQ): skipped"
  finish
  exit 0
fi
runs=${BANK_RUNS:-4}

field() {
  printf '%s\n' "$1" | sed -n "s/.*\"$2\":\\(\"[^\"]*\"\\|\\[[^]]*\\]\\|[^,}]*\\).*/\\1/p"
}

# Sender-based memory mode survives one failure at a time: kills at random
# moments (one every 0.3-1 s) may overlap a recovery, so it runs in durable
# mode here.
for variant in pessimistic-receiver "pessimistic-sender --durable" \
  optimistic-receiver coordinated none; do
  read -r protocol mode <<<"$variant"
  for seed in $(seq 1 "$runs"); do
    what="bank --protocol $variant --kills 3 --seed $seed"
    rm -rf "$T/bank"
    # shellcheck disable=SC2086
    out=$("$bank" --procs 4 --protocol "$protocol" $mode --kicks 10 \
      --kills 3 --seed "$seed" --dir "$T/bank" --json 2>"$T/.err")
    rc=$?
    last=$(printf '%s\n' "$out" | tail -n 1)
    if [ "$rc" -eq 0 ] && [ "$(field "$last" ok)" = true ] &&
      [ "$(field "$last" duplicates)" = 0 ] && [ "$(field "$last" lost)" = 0 ] &&
      [ "$(field "$last" total)" = "$(field "$last" expected_total)" ] &&
      [ "$(field "$last" crashes)" = 3 ] && [ "$(field "$last" recoveries)" = 3 ]; then
      ok "$what: conserved, nothing lost or applied twice ($(field "$last" seconds) s, recovery ms $(field "$last" recovery_ms))"
    else
      not_ok "$what: exit $rc: $last; stderr: $(head -c 300 "$T/.err")"
    fi
  done
  # The logs the run left verify and audit clean.
  if "$MLOG_BIN" audit "$T/bank/p0" "$T/bank/p1" "$T/bank/p2" "$T/bank/p3" \
    >"$T/.audit" 2>&1; then
    ok "$variant: mlog audit of the last run's logs is clean"
  else
    not_ok "$variant: mlog audit: $(head -c 400 "$T/.audit")"
  fi
done

# Usage errors: exit 2
"$bank" --procs 1 --dir "$T/x" >/dev/null 2>&1
[ $? -eq 2 ] && ok "bank --procs 1: usage error" || not_ok "bank --procs 1"
"$bank" --procs 4 >/dev/null 2>&1
[ $? -eq 2 ] && ok "bank without --dir: usage error" || not_ok "bank without --dir"

finish
