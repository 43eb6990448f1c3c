#!/bin/bash
# stream.sh — udsrpcctl watch (events as they happen, how it stops) and raw (NDJSON through, replies out).
. "$(dirname "$0")/lib.sh"

# await_topics JSON_TOPICS: until some peer of the daemon holds exactly these subscriptions.
await_topics() {
	for _ in $(seq 1 200); do
		"$CTL" -s "$SOCK" -j peers | grep -qF "\"topics\":$1" && return 0
		sleep 0.05
	done
	echo "no subscriber with topics $1 after 10 s" >&2
	return 1
}
# await_exit PID: wait for a background process of ours, at most 10 s; its status in WSTATUS.
await_exit() {
	for _ in $(seq 1 200); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$1" 2>/dev/null; then
		echo "process $1 still running after 10 s; killing it" >&2
		kill -KILL "$1" 2>/dev/null || true
	fi
	WSTATUS=0
	wait "$1" || WSTATUS=$?
}

start_daemon

# ---- watch --count 2 sees sets done by another udsrpcctl ----
"$CTL" -s "$SOCK" watch config --count 2 >"$DIR/w1.out" 2>"$DIR/w1.err" &
W=$!
await_topics '["config"]'
"$CTL" -s "$SOCK" -q set a '{"x":1}'
"$CTL" -s "$SOCK" -q set b hello
"$CTL" -s "$SOCK" -q unset a
await_exit "$W"
check "watch --count 2: exit 0" 0 "$WSTATUS"
check "watch --count 2: exactly the first two events, one compact line each" \
	"$(printf '%s\n' \
		'{"topic":"config","type":"set","key":"a","revision":1,"value":{"x":1},"peer":{"uid":'"$(id -u)"',"pid":PID}}' \
		'{"topic":"config","type":"set","key":"b","revision":2,"value":"hello","peer":{"uid":'"$(id -u)"',"pid":PID}}')" \
	"$(sed 's/"pid":[0-9]*}}$/"pid":PID}}/' "$DIR/w1.out")"
check "watch --count 2: nothing on stderr" "" "$(cat "$DIR/w1.err")"

# ---- watch with -j: the same lines ----
"$CTL" -s "$SOCK" -j watch --count 1 daemon >"$DIR/w2.out" &
W=$!
await_topics '["daemon"]'
"$CTL" -s "$SOCK" -q log-level info
await_exit "$W"
check "watch -j: exit 0" 0 "$WSTATUS"
check "watch -j: the event's params" '{"topic":"daemon","type":"log_level","level":"info"}' "$(cat "$DIR/w2.out")"

# ---- default topics: all three; each line is out (flushed) before the watch ends; SIGTERM: 0 ----
"$CTL" -s "$SOCK" watch >"$DIR/w3.out" &
W=$!
await_topics '["config","daemon","peer"]'
"$CTL" -s "$SOCK" -q set c 3
"$CTL" -s "$SOCK" -q log-level info
for _ in $(seq 1 200); do grep -q '"topic":"daemon"' "$DIR/w3.out" && break; sleep 0.05; done
check "watch: still running while its output is read" yes "$(kill -0 "$W" 2>/dev/null && echo yes || echo no)"
check "watch (no topics): a config event" 1 "$(grep -c '^{"topic":"config","type":"set","key":"c",' "$DIR/w3.out")"
check "watch (no topics): a daemon event" 1 "$(grep -c '^{"topic":"daemon","type":"log_level","level":"info"}$' "$DIR/w3.out")"
check "watch (no topics): peer events" yes \
	"$(grep -q '^{"topic":"peer","type":"connect",.*"comm":"udsrpcctl"' "$DIR/w3.out" && echo yes || echo no)"
check "watch: every line is one JSON object" 0 "$(grep -vc '^{.*}$' "$DIR/w3.out" || true)"
kill -TERM "$W"
await_exit "$W"
check "watch: SIGTERM ends it with exit 0" 0 "$WSTATUS"

# ---- SIGINT (Ctrl-C) ends it with exit 0 too ----
"$CTL" -s "$SOCK" watch peer >"$DIR/w4.out" &
W=$!
await_topics '["peer"]'
kill -INT "$W"
await_exit "$W"
check "watch: SIGINT ends it with exit 0" 0 "$WSTATUS"

# ---- SIGTERM stops a watch that is stuck writing to a reader that does not read ----
mkfifo "$DIR/fifo"
exec 3<>"$DIR/fifo" # a reader that never reads: the pipe fills at 64 KiB
"$CTL" -s "$SOCK" watch config >"$DIR/fifo" &
W=$!
await_topics '["config"]'
BIG=$(printf 'x%.0s' $(seq 1 8000))
for i in $(seq 1 20); do "$CTL" -s "$SOCK" -q set "big$i" "$BIG"; done
check "watch: blocked on a full pipe, still there" yes "$(kill -0 "$W" 2>/dev/null && echo yes || echo no)"
kill -TERM "$W"
await_exit "$W"
check "watch: SIGTERM while blocked writing: exit 0" 0 "$WSTATUS"
exec 3<&-

# ---- raw: 3 lines, one a notification: 2 replies, in order ----
RC=0
OUT=$(printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"ping"}' \
	'{"jsonrpc":"2.0","method":"echo","params":["note"]}' \
	'{"jsonrpc":"2.0","id":2,"method":"echo","params":{"b":[1,2]}}' | "$CTL" -s "$SOCK" raw) || RC=$?
check "raw: exit 0" 0 "$RC"
check "raw: 2 replies in order" '{"jsonrpc":"2.0","id":1,"result":"pong"}
{"jsonrpc":"2.0","id":2,"result":{"b":[1,2]}}' "$OUT"

RC=0
OUT=$(printf '%s\n' '{"jsonrpc":"2.0","method":"ping"}' | "$CTL" -s "$SOCK" raw) || RC=$?
check "raw: only a notification: no output, exit 0" "0:" "$RC:$OUT"
RC=0
OUT=$("$CTL" -s "$SOCK" raw </dev/null) || RC=$?
check "raw: empty stdin: no output, exit 0" "0:" "$RC:$OUT"
RC=0
OUT=$(printf '%s\n' '{]' '[{"jsonrpc":"2.0","id":"a","method":"ping"},{"jsonrpc":"2.0","method":"ping"}]' |
	"$CTL" -s "$SOCK" raw) || RC=$?
check "raw: errors and batches pass through as the daemon wrote them" \
	'0:{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error","data":{"offset":1}}}
[{"jsonrpc":"2.0","id":"a","result":"pong"}]' "$RC:$OUT"
RC=0
OUT=$(printf '%s' '{"jsonrpc":"2.0","id":7,"method":"ping"}' | "$CTL" -s "$SOCK" raw) || RC=$?
check "raw: a last line without newline is answered" '0:{"jsonrpc":"2.0","id":7,"result":"pong"}' "$RC:$OUT"

# Far more than a socket buffer in both directions: raw must read replies while
# it still writes requests, or both sides would wait for each other forever.
PAD=$(printf 'x%.0s' $(seq 1 2000))
seq 1 3000 | sed "s/.*/{\"jsonrpc\":\"2.0\",\"id\":&,\"method\":\"echo\",\"params\":[\"$PAD\"]}/" >"$DIR/big.in"
RC=0
"$CTL" -s "$SOCK" raw <"$DIR/big.in" >"$DIR/big.out" || RC=$?
check "raw: 6 MB through: exit 0" 0 "$RC"
check "raw: 6 MB through: 3000 replies" 3000 "$(wc -l <"$DIR/big.out")"
check "raw: 6 MB through: in order" "$(seq 1 3000 | md5sum)" \
	"$(sed 's/.*"id":\([0-9]*\).*/\1/' "$DIR/big.out" | md5sum)"

# raw's timeout counts after stdin ends: a listener that never answers, nor
# closes when we shut down our side (ignoreeof).
socat -u "UNIX-LISTEN:$DIR/mute.sock,ignoreeof" OPEN:/dev/null &
MUTE=$!
for _ in $(seq 1 100); do [ -S "$DIR/mute.sock" ] && break; sleep 0.02; done
RC=0
ERR=$(printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"ping"}' | "$CTL" -s "$DIR/mute.sock" -t 300 raw 2>&1 >/dev/null) || RC=$?
check "raw: silent peer: exit 3 after the timeout" 3 "$RC"
check "raw: silent peer: the timeout named" \
	"udsrpcctl: raw: no reply from $DIR/mute.sock within 300 ms; is udsrpcd running and responsive? (or raise -t MS)" "$ERR"
kill "$MUTE" 2>/dev/null || true
wait "$MUTE" 2>/dev/null || true

stop_daemon
check "daemon: clean stop after all of it" 0 "$STATUS"
finish
