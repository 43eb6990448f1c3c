#!/bin/bash
# fanout_smoke.sh — tests/bench/fanout.sh runs and prints its rows with tiny
# counts, and bench_fanout's counts held (it exits non-zero when a subscriber
# allowed the key missed an event or one not allowed got one): with the keys
# policy half the subscribers' events, with the open policy all of them, for
# config.set and for config.txn of 10 keys (3 of them: as many events); and
# the half row again with io_uring refused (the write(2) fall-back) gets the
# same events; and the floor rows have their figure (the io_uring ones, or
# say there is no io_uring here).
. "$(dirname "$0")/lib_bench.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root: half the subscribers are uid 65534"

out=$DIR/table.md
rc=0
SUBS=20 SETS=30 BUILD="$UDSRPC_BINARY_DIR" UDSRPCD="$UDSRPCD" OUT="$out" \
	timeout -k 5 120 bash "$(dirname "$0")/fanout.sh" >"$DIR/stdout" 2>"$DIR/stderr" || rc=$?
check "fanout.sh exits 0" 0 "$rc"
[ "$rc" -eq 0 ] || cat "$DIR/stderr"
touch "$out"
col() { awk -F' *[|] *' -v n="$(($2 + 1))" '{ print $n }' <<<"$1"; }
half=$(grep -F '| keys policy, half see the key |' "$out" || true)
whalf=$(grep -F '| keys policy, half see the key, write(2) each (io_uring refused) |' "$out" || true)
all=$(grep -F '| everyone sees the key |' "$out" || true)
thalf=$(grep -F '| keys policy, half see them, config.txn of 10 keys |' "$out" || true)
tall=$(grep -F '| everyone sees them, config.txn of 10 keys |' "$out" || true)
floor=$(grep -F '| floor: one write(2) per subscriber' "$out" || true)
hfloor=$(grep -F '| floor, half the readers written to' "$out" || true)
ufloor=$(grep -F '| floor: io_uring sends' "$out" || true)
uhfloor=$(grep -F '| floor, half the readers, io_uring sends' "$out" || true)
check "half row: events delivered" 300 "$(col "$half" 4)"
check "half row, write(2) each: events delivered" 300 "$(col "$whalf" 4)"
check "all row: events delivered" 600 "$(col "$all" 4)"
check "txn half row: transactions" 3 "$(col "$thalf" 3)"
check "txn half row: events delivered" 300 "$(col "$thalf" 4)"
check "txn all row: events delivered" 600 "$(col "$tall" 4)"
check "floor: µs per write is a figure" yes "$(yes_if grep -Eq '^[0-9]+\.[0-9]+$' <<<"$(col "$floor" 6)")"
check "half floor: µs per write is a figure" yes "$(yes_if grep -Eq '^[0-9]+\.[0-9]+$' <<<"$(col "$hfloor" 6)")"
for line in "$ufloor" "$uhfloor"; do
	check "io_uring floor: a figure, or no io_uring here" yes \
		"$(yes_if grep -Eq '[|] [0-9]+\.[0-9]+ [|].*[|] writer|[|] - [|].*no io_uring here' <<<"$line")"
done
for line in "$half" "$whalf" "$all" "$thalf" "$tall"; do
	check "CPU per event is a figure" yes "$(yes_if grep -Eq '^[0-9]+\.[0-9]+' <<<"$(col "$line" 6)")"
	check "load is given" yes "$(yes_if grep -Eq '^[0-9.]+ [0-9.]+ [0-9.]+$' <<<"$(col "$line" 8)")"
done
check "the target is stated" yes "$(yes_if grep -q '1.5 µs per delivered event' "$out")"
finish
