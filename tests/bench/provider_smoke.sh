#!/bin/bash
# provider_smoke.sh — tests/bench/provider.sh runs and prints its table: the
# udsrpcd rows only (no D-Bus packages needed), tiny counts. The provider
# answered: the brokered rows have calls and no errors (udsrpc-bench counts
# an error reply, -32601 with no provider included, as an error), and the
# memory row was measured with it registered.
. "$(dirname "$0")/lib_bench.sh"

out=$DIR/table.md
rc=0
SYSTEMS="udsrpcd udsrpcd-ping" CONFIGS="1:1 4:2" ROUNDS=1 RDUR=0.3 HOLD_N=20 \
	BUILD="$UDSRPC_BINARY_DIR" UDSRPCD="$UDSRPCD" OUT="$out" \
	timeout -k 5 120 bash "$(dirname "$0")/provider.sh" >"$DIR/stdout" 2>"$DIR/stderr" || rc=$?
check "provider.sh exits 0" 0 "$rc"
[ "$rc" -eq 0 ] || cat "$DIR/stderr"
touch "$out"

# row SYSTEM CONFIG: the table's line for them.
row() { grep -F "| $1 | $2 |" "$out" || true; }
# col LINE N: the Nth cell of a table line.
col() { awk -F' *[|] *' -v n="$(($2 + 1))" '{ print $n }' <<<"$1"; }
for cfg in "c=1 P=1" "c=4 P=2"; do
	for s in udsrpcd udsrpcd-ping; do
		line=$(row "$s" "$cfg")
		check "$s $cfg: a row" yes "$(yes_if test -n "$line")"
		check "$s $cfg: no errors" 0 "$(col "$line" 7)"
		check "$s $cfg: calls answered" yes "$(yes_if awk -v r="$(col "$line" 3)" 'BEGIN { exit !(r > 0) }')"
		check "$s $cfg: broker CPU per call is a figure" yes \
			"$(yes_if grep -Eq '^[0-9]+\.[0-9]+$' <<<"$(col "$line" 8)")"
	done
	check "udsrpcd $cfg: service CPU per call is a figure" yes \
		"$(yes_if grep -Eq '^[0-9]+\.[0-9]+$' <<<"$(col "$(row udsrpcd "$cfg")" 9)")"
done
mem=$(grep -F "| udsrpcd | " "$out" | grep -F 'fds' || true)
check "memory row with the provider registered" yes "$(yes_if test -n "$mem")"
check "20 connections held" yes "$(yes_if grep -Eq 'fds [0-9]+ -> [0-9]+ \|$' <<<"$mem")"
check "the targets are reported" yes "$(yes_if grep -q 'per plain ping' "$out")"
check "no bus rows: the buses were not asked for" no "$(yes_if grep -q '^| dbus-' "$out")"
finish
