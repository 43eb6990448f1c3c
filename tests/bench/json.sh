#!/bin/bash
# json.sh — udsrpc-bench against a healthy daemon: the --json summary's exact shape and types,
# every request answered and checked (requests == -n, errors 0), multiplexing, pipelining, --size.
. "$(dirname "$0")/lib_bench.sh"

start_daemon

INT='[0-9]+'
REAL='[0-9]+(\.[0-9]+([eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)' # jansson always marks a real
SHAPE="^\\{\"requests\":$INT,\"errors\":$INT,\"seconds\":$REAL,\"rps\":$REAL,\"clients\":$INT,"
SHAPE="$SHAPE\"workers\":$INT,\"depth\":$INT,\"latency_us\":\\{\"min\":$REAL,\"p50\":$REAL,"
SHAPE="$SHAPE\"p90\":$REAL,\"p99\":$REAL,\"p999\":$REAL,\"max\":$REAL\\},\"held\":$INT\\}\$"

bench -s "$SOCK" -n 2000 -c 4 --json
check "--json: exit 0" 0 "$RC"
check "--json: one line, exactly the documented members and types" yes \
	"$(yes_if grep -Eq "$SHAPE" <<<"$OUT")"
check "--json: one line only" 1 "$(printf '%s\n' "$OUT" | wc -l)"
check "requests == -n" 2000 "$(jnum requests)"
check "errors 0" 0 "$(jnum errors)"
check "clients" 4 "$(jnum clients)"
check "workers default: one per client" 4 "$(jnum workers)"
check "depth default" 1 "$(jnum depth)"
check "held without --hold" 0 "$(jnum held)"
check "rps > 0" yes "$(yes_if awk -v r="$(jnum rps)" 'BEGIN { exit !(r > 0) }')"
check "latency ordered: min <= p50 <= p90 <= p99 <= p999 <= max" yes \
	"$(yes_if awk -v a="$(jnum min)" -v b="$(jnum p50)" -v c="$(jnum p90)" -v d="$(jnum p99)" \
		-v e="$(jnum p999)" -v f="$(jnum max)" \
		'BEGIN { exit !(a > 0 && a <= b && b <= c && c <= d && d <= e && e <= f) }')"

# The daemon saw them all: its own count of ping calls grew by exactly -n (+ the check below).
before=$(rpc '{"jsonrpc":"2.0","id":1,"method":"daemon.stats"}' | sed -n 's/.*"ping":{"calls":\([0-9]*\).*/\1/p')
bench -s "$SOCK" -n 1234 -c 3 --json
after=$(rpc '{"jsonrpc":"2.0","id":1,"method":"daemon.stats"}' | sed -n 's/.*"ping":{"calls":\([0-9]*\).*/\1/p')
check "the daemon counted exactly -n pings" 1234 "$(( ${after:-0} - ${before:-0} ))"
check "-n not divisible by -c: still exactly -n" 1234 "$(jnum requests)"

bench -s "$SOCK" -n 2000 -w 1 -c 20 --json
check "-w 1 -c 20 (epoll multiplexing): exit 0" 0 "$RC"
check "-w 1 -c 20: requests" 2000 "$(jnum requests)"
check "-w 1 -c 20: workers" 1 "$(jnum workers)"
check "-w 1 -c 20: clients" 20 "$(jnum clients)"

bench -s "$SOCK" -n 2000 -w 2 -c 5 -P 16 --json
check "-P 16 over 2 workers: exit 0" 0 "$RC"
check "-P 16: requests" 2000 "$(jnum requests)"
check "-P 16: depth" 16 "$(jnum depth)"

bench -s "$SOCK" -n 500 -c 2 --size 1024 --json
check "--size 1024 (echo, each result compared with the params): exit 0" 0 "$RC"
check "--size 1024: requests" 500 "$(jnum requests)"
check "--size 1024: errors" 0 "$(jnum errors)"

bench -s "$SOCK" -n 40 -c 2 -P 4 --size 200000 --json
check "--size 200000 (partial writes, long lines): exit 0" 0 "$RC"
check "--size 200000: requests" 40 "$(jnum requests)"

bench -s "$SOCK" -n 300 -c 2 -m echo -p '{"a": [1, 2, {"b": "x"}]}' --json
check "-m echo -p: exit 0" 0 "$RC"
check "-m echo -p: requests" 300 "$(jnum requests)"

bench -s "$SOCK" -d 0.5 -c 2 --warmup 0.2 --json
check "-d with --warmup: exit 0" 0 "$RC"
check "-d: some requests" yes "$(yes_if test "$(jnum requests)" -gt 0)"

bench -s "$SOCK" -n 1000 -c 2 --histogram
check "text summary: requests line" "requests      1000" "$(grep '^requests' <<<"$OUT")"
check "text summary: errors line" "errors        0" "$(grep '^errors' <<<"$OUT")"
check "--histogram: a bar chart" yes "$(yes_if grep -Eq '^ +[0-9.]+ \.\. [0-9.]+ +[0-9.]+% +[0-9]+ \|#' <<<"$OUT")"
check "--histogram: rows add up to the requests" 1000 \
	"$(awk '/\|/ { n += $5 } END { print n }' <<<"$OUT")"

bench -s "$SOCK" -n 100 -c 1 -q
check "-q: one line" 1 "$(printf '%s\n' "$OUT" | wc -l)"
check "-q: no progress line when stderr is not a terminal" "" "$ERR"

# Usage errors: exit 2 with a message naming the problem.
bench -n 10 -d 1
check "-n with -d: exit 2" 2 "$RC"
check "-n with -d: says why" yes "$(yes_if grep -q 'exclude each other' <<<"$ERR")"
bench -p '{bad'
check "-p not JSON: exit 2" 2 "$RC"
bench --size 100 -m ping
check "--size with -m ping: exit 2" 2 "$RC"
bench -c x
check "-c x: exit 2" 2 "$RC"
# An empty -s (an unset variable) is a usage error, not 10 failed connections.
bench -s '' -n 10
check "-s '': exit 2" 2 "$RC"
check "-s '': says why" yes "$(yes_if grep -q -- '-s: empty socket path' <<<"$ERR")"
bench --help
check "--help: exit 0" 0 "$RC"
check "--help: shows the usage" yes "$(yes_if grep -q '^usage: udsrpc-bench' <<<"$OUT")"
bench --version
check "--version" "udsrpc-bench" "$(cut -d' ' -f1 <<<"$OUT")"

# The default socket path is the daemon's: $UDSRPC_SOCKET.
RC=0
UDSRPC_SOCKET="$SOCK" timeout 60 "$BENCH" -n 100 -c 1 -q >/dev/null 2>&1 || RC=$?
check "default socket from \$UDSRPC_SOCKET" 0 "$RC"

stop_daemon
check "daemon: clean stop after the runs" 0 "$STATUS"
finish
