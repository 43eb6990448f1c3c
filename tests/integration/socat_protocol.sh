#!/bin/bash
# socat_protocol.sh — what a shell user sees: JSON lines through socat, replies in order.
. "$(dirname "$0")/lib.sh"
command -v socat >/dev/null || skip "socat is not installed (apt-get install socat)"

start_daemon

check "ping" '{"jsonrpc":"2.0","id":1,"result":"pong"}' \
	"$(rpc '{"jsonrpc":"2.0","id":1,"method":"ping"}')"

check "several lines, in order, half-close answers all" \
	'{"jsonrpc":"2.0","id":1,"result":"pong"}
{"jsonrpc":"2.0","id":2,"result":[1,2]}
{"jsonrpc":"2.0","id":3,"result":"pong"}' \
	"$(rpc '{"jsonrpc":"2.0","id":1,"method":"ping"}' \
		'{"jsonrpc":"2.0","id":2,"method":"echo","params":[1,2]}' \
		'{"jsonrpc":"2.0","method":"echo","params":[0]}' \
		'{"jsonrpc":"2.0","id":3,"method":"ping"}')"

check "last line without newline is answered at EOF" '{"jsonrpc":"2.0","id":9,"result":"pong"}' \
	"$(printf '%s' '{"jsonrpc":"2.0","id":9,"method":"ping"}' | socat -t 5 - "UNIX-CONNECT:$SOCK")"

check "CRLF and blank lines" '{"jsonrpc":"2.0","id":"a","result":"pong"}' \
	"$(printf '\r\n \t\r\n{"jsonrpc":"2.0","id":"a","method":"ping"}\r\n' | socat -t 5 - "UNIX-CONNECT:$SOCK")"

check "batch" '[{"jsonrpc":"2.0","id":1,"result":"pong"},{"jsonrpc":"2.0","id":2,"result":{"a":1}}]' \
	"$(rpc '[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"echo","params":{"a":1}}]')"

check "all-notification batch: no output" '' \
	"$(rpc '[{"jsonrpc":"2.0","method":"ping"},{"jsonrpc":"2.0","method":"ping"}]')"

check "parse error" '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error","data":{"offset":1}}}' \
	"$(rpc '{]')"

if command -v nc >/dev/null; then
	check "nc -N (half-close at EOF)" '{"jsonrpc":"2.0","id":5,"result":"pong"}' \
		"$(printf '%s\n' '{"jsonrpc":"2.0","id":5,"method":"ping"}' | nc -N -U "$SOCK")"
fi

# 1000 requests through one socat: every reply, in order.
seq 1 1000 | sed 's/.*/{"jsonrpc":"2.0","id":&,"method":"ping"}/' >"$DIR/req"
socat -t 10 - "UNIX-CONNECT:$SOCK" <"$DIR/req" >"$DIR/rep"
check "1000 pipelined replies" 1000 "$(wc -l <"$DIR/rep")"
check "1000 replies in order" "$(seq 1 1000 | tr '\n' ' ')" \
	"$(sed 's/.*"id":\([0-9]*\).*/\1/' "$DIR/rep" | tr '\n' ' ')"

stop_daemon
check "SIGTERM: exit 0" 0 "$STATUS"
check "SIGTERM: socket removed" no "$([ -e "$SOCK" ] && echo yes || echo no)"
finish
