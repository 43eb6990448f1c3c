#!/bin/bash
# instructions.sh — the daemon's instructions per request, counted by callgrind
# (repeatable whatever else the machine does): a server under
# valgrind --tool=callgrind answers N and then 2N requests of one kind from
# one udsrpc-bench client; the difference of the two totals over N is the
# cost of one request, start-up and shut-down cancelling out.
# Not part of the test suite.
#
#   tests/bench/instructions.sh                      # ping and config.get on build/
#   BUILD=build-old tests/bench/instructions.sh      # another build, for before/after
#   tests/bench/instructions.sh writes               # config.set and a 10-set config.txn (issue 16)
#   SERVER="path/to/counterd -s" tests/bench/instructions.sh counter.get '{"name":"x"}'
#   POLICY=tests/bench/keys20.json tests/bench/instructions.sh config.get '{"key":"bench/key"}'
#                                                    # the cost of a 20-rule policy with keys
#
# Env: BUILD (default <repo>/build), N (requests, default 20000), SERVER (a command
# that takes the socket path as its last argument; default: udsrpcd -S STATE -s),
# POLICY (a policy file for that default udsrpcd, -p; default: the embedded policy).
# Arguments: METHOD PARAMS_JSON pairs (default: ping, and config.get of a key set first).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
N=${N:-20000}
BENCH=$BUILD/ctl/udsrpc-bench
CTL=$BUILD/ctl/udsrpcctl
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind" >&2; exit 2; }
DIR=$(mktemp -d /tmp/udsrpc-instr-XXXXXX)
trap 'rm -rf "$DIR"' EXIT
case ${POLICY:-} in '' | /*) ;; *) POLICY=$(pwd)/$POLICY ;; esac
SERVER=${SERVER:-$BUILD/daemon/udsrpcd ${POLICY:+-p $POLICY} -S $DIR/state -s}

# total METHOD PARAMS COUNT: instructions of a whole server run that answered COUNT of them.
total() {
	local sock=$DIR/s.sock out=$DIR/cg.out pid
	# A fresh state dir per run: the second run would otherwise replay the
	# first's log at start-up, and that replay would land in the difference.
	rm -rf "$sock" "$out" "$DIR/state"
	# shellcheck disable=SC2086
	valgrind --tool=callgrind --callgrind-out-file="$out" $SERVER "$sock" 2>"$DIR/log" &
	pid=$!
	for _ in $(seq 300); do [ -S "$sock" ] && break; sleep 0.1; done
	[ -S "$sock" ] || { cat "$DIR/log" >&2; echo "instructions.sh: the server did not start" >&2; exit 1; }
	# A key for config.get to find (udsrpcd only; harmless elsewhere).
	"$CTL" -s "$sock" -q set bench/key 1 >/dev/null 2>&1
	"$BENCH" -s "$sock" -c 1 -n "$3" -m "$1" -p "$2" -q >/dev/null ||
		{ kill -TERM "$pid"; wait "$pid"; echo "instructions.sh: udsrpc-bench failed" >&2; exit 1; }
	kill -TERM "$pid"
	wait "$pid"
	sed -n 's/^summary: //p; s/^totals: //p' "$out" | head -1
}

[ $# -eq 0 ] && set -- ping '{}' config.get '{"key":"bench/key"}'
if [ "$1" = writes ]; then
	# The same 32-byte string value as contrib/bench/durable.sh writes.
	v='"abcdefghijklmnopqrstuvwxyz012345"'
	ops=
	for i in 0 1 2 3 4 5 6 7 8 9; do
		ops="$ops${ops:+,}{\"op\":\"set\",\"key\":\"bench/t$i\",\"value\":$v}"
	done
	set -- config.set "{\"key\":\"bench/w\",\"value\":$v}" config.txn "{\"success\":[$ops]}"
fi
printf '| method | instructions per request |\n|---|---|\n'
while [ $# -ge 2 ]; do
	a=$(total "$1" "$2" "$N")
	b=$(total "$1" "$2" $((2 * N)))
	printf '| %s | %s |\n' "$1" "$(((b - a) / N))"
	shift 2
done
