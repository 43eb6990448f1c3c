#!/bin/bash
# scripts.sh — a quick smoke run of the store benchmarks (contrib/bench/durable.sh against
# Redis, contrib/bench/store.sh): tiny sizes, only that every row is printed and that the
# counts which do not depend on speed hold (a restore raises one revision). Their figures
# mean nothing here (a Debug build, tiny runs); the benchmarks themselves are not tests.
. "$(dirname "$0")/../integration/lib.sh"

: "${UDSRPC_BINARY_DIR:?run through ctest, or export UDSRPC_BINARY_DIR=path/to/build}"
BENCH_DIR=${UDSRPC_SOURCE_DIR:?}/contrib/bench
export UDSRPCD UDSRPCCTL="$UDSRPC_BINARY_DIR/ctl/udsrpcctl"
command -v cc >/dev/null || skip "no C compiler for contrib/bench/durload.c"
command -v python3 >/dev/null || skip "no python3 for store.sh's paging client"

# row FILE TEXT: yes if a table row of FILE starts with TEXT.
row() { if grep -qF -- "| $2" "$1"; then echo yes; else echo no; fi; }

RC=0
KEYS=2000 PAGE=100 PASSES=1 GET_N=2000 timeout -k 5 120 bash "$BENCH_DIR/store.sh" \
	>"$DIR/store.md" 2>"$DIR/store.err" || RC=$?
check "store.sh: exit 0" 0 "$RC"
[ "$RC" -eq 0 ] || tail -5 "$DIR/store.err"
for r in "restore of 2000 keys: wall time" "restore: CPU of udsrpcctl" "restore: fdatasync calls" \
	"memory: VmRSS growth / stored bytes" "config.list: 2000 items in 20 pages of 100" \
	"config.get: daemon CPU per request" "config.list µs/item ÷ config.get µs/req"; do
	check "store.sh prints the row: $r" yes "$(row "$DIR/store.md" "$r")"
done
check "store.sh: the restore raised one revision" yes "$(row "$DIR/store.md" "restore: revisions it raised | 1 |")"

if command -v redis-server >/dev/null; then
	RC=0
	DUR=0.2 ROUNDS=1 FSYNC_N=20 CPU_N=2000 timeout -k 5 120 bash "$BENCH_DIR/durable.sh" \
		>"$DIR/durable.md" 2>"$DIR/durable.err" || RC=$?
	check "durable.sh: exit 0" 0 "$RC"
	[ "$RC" -eq 0 ] || tail -5 "$DIR/durable.err"
	for r in "1 |" "50 |" "config.txn, 1 writer" "config.get / ping"; do
		check "durable.sh prints the row: $r" yes "$(row "$DIR/durable.md" "$r")"
	done
	check "durable.sh: a config.txn row at 50 writers" yes \
		"$(if grep -q '^| 50 | [0-9]* ([0-9]*–[0-9]*) | [0-9]* | [0-9.]* |' "$DIR/durable.md"; then echo yes; else echo no; fi)"
else
	echo "# durable.sh not run: no redis-server (apt-get install -y redis-server)"
fi
finish
