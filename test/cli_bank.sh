# cli_bank.sh - examples/bank: its own command line (it runs mlog chaos
# --app bank) under every protocol, and its JSON verdict
#
# Run as `MLOG_BIN=path/to/mlog bash test/cli_bank.sh` (CTest does); the
# bank example is found beside the tool (../examples/bank). The many runs
# with SIGKILLs are test/cli_chaos.sh's.

. "$(dirname "${BASH_SOURCE[0]}")/cli_harness.bash"

bank="$(dirname "$MLOG_BIN")/../examples/bank"
if [ ! -x "$bank" ]; then
  ok "examples/bank not built (no ZeroMQ): skipped"
  finish
  exit 0
fi

field() {
  printf '%s\n' "$1" | sed -n "s/.*\"$2\":\\(\"[^\"]*\"\\|\\[[^]]*\\]\\|[^,}]*\\).*/\\1/p"
}

for variant in pessimistic-receiver "pessimistic-sender --durable" \
  optimistic-receiver coordinated none; do
  read -r protocol mode <<<"$variant"
  what="bank --protocol $variant --kills 2"
  rm -rf "$T/bank"
  # shellcheck disable=SC2086
  out=$("$bank" --procs 3 --protocol "$protocol" $mode --kicks 6 --kills 2 \
    --seed 5 --dir "$T/bank" --json 2>"$T/.err")
  rc=$?
  last=$(printf '%s\n' "$out" | tail -n 1)
  missing=""
  for key in ok protocol procs transfers total expected_total duplicates \
    lost crashes recoveries recovery_ms; do
    [ -n "$(field "$last" "$key")" ] || missing="$missing $key"
  done
  if [ "$rc" -eq 0 ] && [ -z "$missing" ] && [ "$(field "$last" ok)" = true ] &&
    [ "$(field "$last" protocol)" = "\"$protocol\"" ] &&
    [ "$(field "$last" procs)" = 3 ] && [ "$(field "$last" crashes)" = 2 ] &&
    [ "$(field "$last" duplicates)" = 0 ] && [ "$(field "$last" lost)" = 0 ] &&
    [ "$(field "$last" total)" = 3000 ] &&
    [ "$(field "$last" expected_total)" = 3000 ]; then
    ok "$what: conserved, nothing lost or applied twice (recovery ms $(field "$last" recovery_ms))"
  else
    not_ok "$what: exit $rc, missing keys:${missing:- none}: $last; stderr: $(head -c 300 "$T/.err")"
  fi
done

# Text mode: the verdict and the kills, for people.
out=$("$bank" --procs 3 --kicks 4 --kills 1 --seed 3 --dir "$T/text" 2>&1)
if [ $? -eq 0 ] && printf '%s\n' "$out" | grep -q '^ok: bank' &&
  printf '%s\n' "$out" | grep -q 'SIGKILL p[0-9]' &&
  printf '%s\n' "$out" | grep -q '(conserved)'; then
  ok "bank in text mode: the kills and the verdict"
else
  not_ok "bank in text mode: $out"
fi

# Usage errors: exit 2.
"$bank" --procs 1 --dir "$T/x" >/dev/null 2>&1
[ $? -eq 2 ] && ok "bank --procs 1: usage error" || not_ok "bank --procs 1"
"$bank" --protocol nosuch --dir "$T/x" >/dev/null 2>&1
[ $? -eq 2 ] && ok "bank --protocol nosuch: usage error" || not_ok "bank --protocol nosuch"
"$bank" --member 0 >/dev/null 2>&1
[ $? -eq 2 ] && ok "bank --member without the rest: usage error" ||
  not_ok "bank --member alone"

finish
