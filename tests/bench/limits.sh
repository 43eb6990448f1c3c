#!/bin/bash
# limits.sh — udsrpc-bench against the daemon's connection limits: --hold reports what the
# daemon kept, and clients over max_connections are counted as errors, not silently lost.
. "$(dirname "$0")/lib_bench.sh"

start_daemon

bench -s "$SOCK" -n 2000 -c 4 --hold 50 --json
check "--hold 50: exit 0" 0 "$RC"
check "--hold 50: held" 50 "$(jnum held)"
check "--hold 50: the load still ran" 2000 "$(jnum requests)"

bench -s "$SOCK" -c 0 --hold 30 -w 3 -d 0.3 --json
check "-c 0 --hold 30 over 3 workers: exit 0" 0 "$RC"
check "-c 0 --hold 30: held" 30 "$(jnum held)"
check "-c 0 --hold 30: no requests" 0 "$(jnum requests)"

bench -s "$SOCK" -n 500 -c 2 -w 1 --hold 40 --json
check "--hold 40 in one multiplexing worker: held" 40 "$(jnum held)"
stop_daemon

# max_connections 6: of 10 clients, the 4 over the limit get -32003 and are errors.
echo '{"limits":{"max_connections":6}}' >"$DIR/six.json"
start_daemon -c "$DIR/six.json"
bench -s "$SOCK" -n 1000 -c 10 --json
check "-c 10 over max_connections 6: exit 1" 1 "$RC"
check "-c 10 over max_connections 6: the rejected clients are errors" yes \
	"$(yes_if test "$(jnum errors)" -ge 4)"
check "-c 10 over max_connections 6: the rejection is reported" yes \
	"$(yes_if grep -q 'rejected by the daemon.*-32003' <<<"$ERR")"
check "-c 10 over max_connections 6: the kept clients still did their share" yes \
	"$(yes_if test "$(jnum requests)" -ge 400)"

bench -s "$SOCK" -n 1000 -c 10 -w 1 --json
check "-c 10 -w 1 over max_connections 6: exit 1" 1 "$RC"
check "-c 10 -w 1 over max_connections 6: rejections counted" yes \
	"$(yes_if test "$(jnum errors)" -ge 4)"

bench -s "$SOCK" -c 0 --hold 10 -d 0.3 --json
check "--hold 10 over max_connections 6: exit 1" 1 "$RC"
check "--hold 10 over max_connections 6: held no more than the limit" yes \
	"$(yes_if test "$(jnum held)" -le 6)"
check "--hold 10 over max_connections 6: held + not kept = 10" 10 \
	"$(( $(jnum held) + $(jnum errors) ))"
check "--hold 10 over max_connections 6: says why" yes \
	"$(yes_if grep -q 'hold connection [0-9]*: not held: rejected' <<<"$ERR")"

stop_daemon
check "daemon: clean stop" 0 "$STATUS"
finish
