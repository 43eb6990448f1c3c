#!/bin/bash
# errors.sh — udsrpc-bench counts what the daemon refuses and what it never answers:
# error replies (unless expected), a daemon killed mid-run (reported, no hang), exit status 1.
. "$(dirname "$0")/lib_bench.sh"

start_daemon

bench -s "$SOCK" -n 300 -c 3 -m nosuch --json
check "-m nosuch (-32601): exit 1" 1 "$RC"
check "-m nosuch: every reply is an error" 300 "$(jnum errors)"
check "-m nosuch: every request was answered" 300 "$(jnum requests)"
check "-m nosuch: the reply is shown" yes "$(yes_if grep -q '"code":-32601' <<<"$ERR")"
check "-m nosuch: the breakdown names the kind" yes \
	"$(yes_if grep -q '300 errors: 300 unexpected error replies' <<<"$ERR")"

bench -s "$SOCK" -n 200 -c 2 -m config.get -p '{"key":"bench/missing"}' --json
check "config.get of a missing key (-32010): exit 1" 1 "$RC"
check "config.get of a missing key: errors" 200 "$(jnum errors)"

bench -s "$SOCK" -n 200 -c 2 -m config.get -p '{"key":"bench/missing"}' --expect-error -32010 --json
check "--expect-error -32010: exit 0" 0 "$RC"
check "--expect-error -32010: errors 0" 0 "$(jnum errors)"
check "--expect-error -32010: requests" 200 "$(jnum requests)"

bench -s "$SOCK" -n 200 -c 2 -m config.get -p '{"key":"bench/missing"}' --expect-error -32601 --json
check "--expect-error with another code: exit 1" 1 "$RC"

rpc '{"jsonrpc":"2.0","id":1,"method":"config.set","params":{"key":"bench/k","value":{"a":1}}}' >/dev/null
bench -s "$SOCK" -n 200 -c 2 -m config.get -p '{"key":"bench/k"}' --json
check "config.get of a key that exists: exit 0" 0 "$RC"
check "config.get of a key that exists: errors 0" 0 "$(jnum errors)"

bench -s "$SOCK" -n 100 -c 1 -p '{"extra":1}' --json
check "ping with an unknown param (-32602): exit 1" 1 "$RC"

# A request over max_message_bytes is answered with id null (-32002): not an answer to it.
stop_daemon
echo '{"limits":{"max_message_bytes":4096}}' >"$DIR/small.json"
start_daemon -c "$DIR/small.json"
bench -s "$SOCK" -n 5 -c 1 --size 10000 -t 1 --json
check "oversize request (-32002 with id null): exit 1" 1 "$RC"
check "oversize request: no request counts as answered" 0 "$(jnum requests)"
check "oversize request: the -32002 and the unanswered request are both errors" 2 "$(jnum errors)"
check "oversize request: reported" yes "$(yes_if grep -q -- '"code":-32002' <<<"$ERR")"
check "oversize request: given up after -t" yes "$(yes_if grep -q 'unanswered for 1 s' <<<"$ERR")"

# The daemon dies under load: the lost requests are errors, and the run ends by itself.
pings_answered() {
	rpc '{"jsonrpc":"2.0","id":1,"method":"daemon.stats"}' |
		sed -n 's/.*"ping":{"calls":\([0-9]*\).*/\1/p'
}
# wait_for_pings N: until the daemon has answered N pings since bench_bg
# started the load, bounded. The daemon's count is cumulative: an earlier
# run's pings must not make this return before the new run is under way.
wait_for_pings() {
	local n
	for _ in $(seq 1 300); do
		n=$(pings_answered)
		[ $((${n:-0} - PINGS0)) -ge "$1" ] && return 0
		sleep 0.05
	done
	echo "the load never reached $1 pings" >&2
}
bench_bg() {
	PINGS0=$(pings_answered)
	PINGS0=${PINGS0:-0}
	timeout -k 5 120 "$BENCH" "$@" >"$DIR/bench.out" 2>"$DIR/bench.err" &
	BPID=$!
}
# kill_daemon_under_bench BENCH_ARGS...: SIGKILL the daemon once the bench is
# under way; sets RC, OUT and ERR from the bench.
kill_daemon_under_bench() {
	bench_bg -s "$SOCK" "$@"
	wait_for_pings 200
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null || true
	PID=""
	RC=0
	wait "$BPID" || RC=$?
	OUT=$(cat "$DIR/bench.out")
	ERR=$(cat "$DIR/bench.err")
}
kill_daemon_under_bench -d 30 -c 4 --json
check "daemon killed mid-run: exit 1 (not a timeout)" 1 "$RC"
check "daemon killed mid-run: errors counted" yes "$(yes_if test "$(jnum errors)" -ge 1)"
check "daemon killed mid-run: requests before it are still counted" yes \
	"$(yes_if test "$(jnum requests)" -ge 1)"
check "daemon killed mid-run: the lost connections are named" yes \
	"$(yes_if grep -q 'client [0-9]*: connection ended' <<<"$ERR")"

# Same, with one worker multiplexing.
start_daemon
kill_daemon_under_bench -d 30 -c 8 -w 1 -P 4 --json
check "daemon killed under -w 1 -P 4: exit 1" 1 "$RC"
check "daemon killed under -w 1 -P 4: errors counted" yes "$(yes_if test "$(jnum errors)" -ge 1)"

# A worker killed mid-run: reported by pid and signal, counted as an error, the rest still reported.
if command -v pgrep >/dev/null; then
	start_daemon
	bench_bg -s "$SOCK" -d 30 -c 3 --json
	wait_for_pings 200
	parent=$(pgrep -P "$BPID" -x udsrpc-bench) # bench_bg runs it under timeout(1)
	victim=$(pgrep -P "$parent" -x udsrpc-bench | head -1)
	kill -KILL "$victim"
	sleep 0.5
	kill -INT "$parent" # end the run early; the summary still comes
	RC=0
	wait "$BPID" || RC=$?
	OUT=$(cat "$DIR/bench.out")
	ERR=$(cat "$DIR/bench.err")
	check "worker killed: exit 1" 1 "$RC"
	check "worker killed: named with its signal" yes \
		"$(yes_if grep -q "worker [0-9]* (pid $victim) died: killed by signal 9" <<<"$ERR")"
	check "worker killed: counted" yes "$(yes_if grep -q 'workers that died or hung' <<<"$ERR")"
	check "worker killed: the others' requests still counted" yes \
		"$(yes_if test "$(jnum requests)" -ge 1)"

	# Ctrl-C (SIGINT to the parent): everyone stops, the summary so far is printed, 130.
	bench_bg -s "$SOCK" -d 30 -c 3 -w 1 --hold 5 --json
	wait_for_pings 400
	kill -INT "$(pgrep -P "$BPID" -x udsrpc-bench)"
	RC=0
	wait "$BPID" || RC=$?
	OUT=$(cat "$DIR/bench.out")
	check "interrupted: exit 130" 130 "$RC"
	check "interrupted: the summary so far" yes "$(yes_if test "$(jnum requests)" -ge 1)"
	check "interrupted: no error" 0 "$(jnum errors)"
	check "interrupted: the held connections still checked" 5 "$(jnum held)"
	stop_daemon
fi

# No daemon at all: every client fails to connect, said once per client, exit 1.
bench -s "$DIR/nobody.sock" -n 10 -c 3 --json
check "no daemon: exit 1" 1 "$RC"
check "no daemon: each client is an error" 3 "$(jnum errors)"
check "no daemon: the message names the socket and the fix" yes \
	"$(yes_if grep -q "cannot connect to $DIR/nobody.sock.*is udsrpcd running" <<<"$ERR")"

finish
