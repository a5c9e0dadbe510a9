# cli_verify.sh - mlog verify, dump, info and keygen on real logs, clean and tampered
#
# Run as `MLOG_BIN=path/to/mlog bash test/cli_verify.sh` (CTest does). Logs
# come from `mlog gen`, whose payloads start with the marker "<lsn=N>", so a
# record's bytes can be found in data.mdb and edited with od and dd.

. "$(dirname "${BASH_SOURCE[0]}")/cli_harness.bash"

# Payloads of one page or more live on LMDB overflow pages, which hold the
# only copy of a record (smaller records can leave stale copies in free
# space, which editing would miss).
PAYLOAD=$(getconf PAGESIZE 2>/dev/null || echo 4096)
N=60

# expect_line DESCRIPTION TEXT PATTERN: ok when TEXT matches the regex.
expect_line() {
  if [[ $2 =~ $3 ]]; then ok "$1"; else not_ok "$1 (got '$(short "$2")')"; fi
}

# expect_exit DESCRIPTION STATUS: ok when the last run exited with STATUS.
expect_exit() {
  if [ "$rc" -eq "$2" ]; then
    ok "$1"
  else
    not_ok "$1 (exit $rc, expected $2; stderr: $(short "$err"))"
  fi
}

# edit_record DIR LSN DELTA: flip the lowest bit of the byte DELTA bytes
# from the start of record LSN's payload (negative: in its header).
edit_record() {
  local offs
  offs=$(marker_offsets "$1/data.mdb" "$2")
  if [ "$(echo "$offs" | grep -c .)" -ne 1 ]; then
    not_ok "record $2 found once in $(short "$1")/data.mdb (offsets: $offs)"
    return 1
  fi
  flip_byte "$1/data.mdb" $((offs + $3))
}

# ---------------------------------------------------------------------------
# keygen

run keygen --out "$T/keys"
expect_exit "keygen writes keys" 0
expect_line "keygen prints the three paths" "$out" \
  "^$T/keys/log.key"$'\n'"$T/keys/sign.key"$'\n'"$T/keys/sign.pub$"
modes=$(cd "$T/keys" && stat -c '%n %a %s' log.key sign.key sign.pub | tr '\n' ' ')
expect_line "key files have modes 0600/0600/0644 and sizes 32/64/32" "$modes" \
  '^log.key 600 32 sign.key 600 64 sign.pub 644 32 $'
before=$(snapshot "$T/keys")
run keygen --out "$T/keys"
expect_exit "keygen refuses to overwrite keys" 3
expect_line "keygen names the file it will not overwrite" "$err" \
  "refusing to overwrite $T/keys/log.key"
check "keygen left the keys as they were" test "$before" = "$(snapshot "$T/keys")"
KEY=$T/keys/log.key

# ---------------------------------------------------------------------------
# A clean keyed log

run gen --out "$T/log" --records $N --payload "$PAYLOAD" --key "$KEY" \
  --process 1 --group 3 --protocol pessimistic-receiver
expect_exit "gen writes a keyed log" 0
run verify --key "$KEY" "$T/log"
expect_exit "a clean log verifies" 0
check "verify prints 'DIR: ok, N records (lsn 1..N)'" \
  test "$out" = "$T/log: ok, $N records (lsn 1..$N)"
run verify --quiet --key "$KEY" "$T/log"
check "verify --quiet prints nothing for a clean log" \
  test "$rc" -eq 0 -a -z "$out" -a -z "$err"

run info --json "$T/log"
expect_exit "info --json on a keyed log needs no key" 0
check "info --json prints one line" test "$(count_lines "$T/.out")" -eq 1
check "info --json prints a JSON object" json_lines_ok <"$T/.out"
expect_line "info --json has process_id, group_size and records" "$out" \
  '"process_id":1,"group_size":3,"protocol":"pessimistic-receiver",.*"keyed":true,"records":60,"first_lsn":1,"last_lsn":60'
run info "$T/log"
expect_line "info prints key: value lines" "$out" \
  $'^process_id: 1\ngroup_size: 3\nprotocol: pessimistic-receiver\nincarnation: 0\nformat_version: 1.0\nkeyed: yes\nrecords: 60\n'

run dump --json --key "$KEY" "$T/log"
expect_exit "dump --json prints the log" 0
check "dump --json prints one line per record" \
  test "$(count_lines "$T/.out")" -eq $N
check "dump --json lines are JSON" json_lines_ok <"$T/.out"
marker_hex=$(printf '<lsn=1>' | od -An -tx1 | tr -d ' \n')
expect_line "dump --json shows the first record whole" "$(head -1 "$T/.out")" \
  "^\\{\"lsn\":1,\"type\":\"delivery\",\"src\":2,\"dst\":1,\"ssn\":1,\"rsn\":1,\"incarnation\":0,\"flags\":0,\"payload_len\":$PAYLOAD,\"payload_hex\":\"$marker_hex[0-9a-f]{$((2 * PAYLOAD - ${#marker_hex}))}\",\"tag\":\"[0-9a-f]{64}\"\\}$"
run dump --key "$KEY" "$T/log"
check "dump prints one line per record" test "$(count_lines "$T/.out")" -eq $N
expect_line "dump text cuts payloads at 64 bytes" "$(head -1 "$T/.out")" \
  "^lsn=1 type=delivery src=2 dst=1 ssn=1 rsn=1 inc=0 flags=0x00 len=$PAYLOAD payload=$marker_hex[0-9a-f]{$((128 - ${#marker_hex}))}…\\($PAYLOAD\\)$"
run dump --full --key "$KEY" "$T/log"
expect_line "dump --full prints whole payloads" "$(sed -n 2p "$T/.out")" \
  "^lsn=2 type=delivery src=0 dst=1 ssn=1 rsn=2 .* payload=[0-9a-f]{$((2 * PAYLOAD))}$"

# ---------------------------------------------------------------------------
# Tampering

cp -r "$T/log" "$T/edited"
edit_record "$T/edited" 42 5 # a digit of the marker
run verify --key "$KEY" "$T/edited"
expect_exit "verify finds an edited payload" 1
expect_line "verify names the bad tag and its lsn" "$out" \
  "^$T/edited: BAD at lsn 42: bad tag"
run dump --key "$KEY" "$T/edited"
expect_exit "dump stops at the edited record" 1
check "dump printed the 41 records before it" test "$(count_lines "$T/.out")" -eq 41
check "dump's last line is lsn 41" test "$(tail -1 "$T/.out" | cut -d' ' -f1)" = lsn=41
expect_line "dump's one error line names lsn 42" "$err" '^mlog dump: .*lsn 42[^0-9]'
check "dump printed one error line" test "$(count_lines "$T/.err")" -eq 1
run info "$T/edited"
expect_exit "info still reads an edited log" 0

cp -r "$T/log" "$T/renumbered"
edit_record "$T/renumbered" 30 -8 # lowest byte of the header's lsn
run verify --key "$KEY" "$T/renumbered"
expect_exit "verify finds a renumbered record" 1
expect_line "verify names the broken chain and its lsn" "$out" \
  "^$T/renumbered: BAD at lsn 30: broken chain"

cp -r "$T/log" "$T/last-renumbered"
edit_record "$T/last-renumbered" $N -8
run verify --key "$KEY" "$T/last-renumbered"
expect_exit "verify finds a renumbered last record" 1
expect_line "verify reports it as BAD" "$out" "^$T/last-renumbered: BAD"

cp -r "$T/log" "$T/truncated"
size=$(stat -c %s "$T/truncated/data.mdb")
truncate -s $((size / 2)) "$T/truncated/data.mdb"
run verify --key "$KEY" "$T/truncated"
expect_exit "verify finds a truncated data file" 1
expect_line "verify calls it a torn tail" "$out" "^$T/truncated: BAD: torn tail"

# An unkeyed log: tags are plain BLAKE2b, edits are still found.
run gen --out "$T/plain" --records 10 --payload "$PAYLOAD" --batch 3
expect_exit "gen writes an unkeyed log in batches" 0
run verify "$T/plain"
check "an unkeyed log verifies without a key" \
  test "$rc" -eq 0 -a "$out" = "$T/plain: ok, 10 records (lsn 1..10)"
cp -r "$T/plain" "$T/plain-edited"
edit_record "$T/plain-edited" 7 100
run verify "$T/plain-edited" "$T/plain"
expect_exit "verify of several logs exits 1 when one is bad" 1
check "verify prints one line per log" test "$(count_lines "$T/.out")" -eq 2
expect_line "lines come in argument order, the bad one naming its lsn" "$out" \
  "^$T/plain-edited: BAD at lsn 7: bad tag.*"$'\n'"$T/plain: ok, 10 records"
run verify --quiet "$T/plain" "$T/plain-edited"
check "verify --quiet prints only the bad log" \
  test "$rc" -eq 1 -a "$(count_lines "$T/.out")" -eq 1

# An empty log (gen with no records).
run gen --out "$T/none" --records 0
run verify "$T/none"
check "an empty log verifies as 'ok, 0 records'" \
  test "$rc" -eq 0 -a "$out" = "$T/none: ok, 0 records"
run dump "$T/none"
check "dump of an empty log prints nothing" test "$rc" -eq 0 -a -z "$out"

finish
