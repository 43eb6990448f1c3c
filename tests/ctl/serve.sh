#!/bin/bash
# serve.sh — udsrpcctl serve (udsrpcctl(1), udsrpc(7) PROVIDERS) against a live udsrpcd:
# the method registered with its schemas, params on stdin and never in argv, the
# caller's identity in the environment, exit status to result or error, --timeout
# (SIGTERM, then SIGKILL), --jobs, answers in any order, notifications, usage
# errors, and how serve ends (SIGTERM: exit 0; the daemon gone: exit 3).
. "$(dirname "$0")/lib.sh"

# answer METHOD [PARAMS_JSON]: the daemon's whole reply line to one call (errors included); sets OUT.
answer() {
	local req="{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\"${2:+,\"params\":$2}}"
	OUT=$(printf '%s\n' "$req" | "$CTL" -s "$SOCK" -t 10000 raw)
}
SERVES=()
# serve METHOD ARGS...: udsrpcctl serve in the background until it says it serves; sets SERVE.
serve() {
	local log="$DIR/serve.$1.err"
	: >"$log"
	"$CTL" -s "$SOCK" serve "$@" 2>"$log" &
	SERVE=$!
	SERVES+=("$SERVE")
	await_start "$SERVE" "$log" "udsrpcctl serve $1" grep -q "^udsrpcctl: serving $1 " "$log"
}
# unserve PID: SIGTERM, wait; sets STATUS.
unserve() {
	kill -TERM "$1"
	STATUS=0
	wait "$1" || STATUS=$?
}
cleanup_serve() {
	for p in "${SERVES[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	cleanup
}
trap cleanup_serve EXIT
# await_lines FILE LINES: until FILE has that many lines (5 s at most).
await_lines() {
	for _ in $(seq 1 250); do
		[ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.02
	done
	return 1
}

# The commands serve runs, as scripts in the test's directory.
mkdir -p "$DIR/cmd"
cat >"$DIR/cmd/report" <<'EOF'
#!/bin/sh
# What the command saw: its argv, its stdin, the UDSRPC_* environment.
stdin=$(cat)
printf '{"argc":%d,"argv":"%s","stdin":%s,"method":"%s","uid":%s,"gid":%s,"pid":%s,"user":"%s","exe":"%s","groups":"%s"}\n' \
	$# "$*" "$stdin" "$UDSRPC_METHOD" "$UDSRPC_CALLER_UID" "$UDSRPC_CALLER_GID" \
	"$UDSRPC_CALLER_PID" "$UDSRPC_CALLER_USER" "$UDSRPC_CALLER_EXE" "$UDSRPC_CALLER_GROUPS"
EOF
cat >"$DIR/cmd/exit" <<'EOF'
#!/bin/sh
# exit STATUS [STDOUT [STDERR]]: print, then exit as told.
[ $# -ge 2 ] && printf '%b' "$2"
[ $# -ge 3 ] && printf '%b' "$3" >&2
exit "$1"
EOF
cat >"$DIR/cmd/slow" <<'EOF'
#!/bin/sh
# slow LOG: log start and end around a sleep of params.ms (stdin {"ms":N}); print the ms.
ms=$(sed 's/.*"ms":\([0-9]*\).*/\1/')
echo "start $$" >>"$1"
sleep "$(awk "BEGIN { print $ms / 1000 }")"
echo "end $$" >>"$1"
echo "$ms"
EOF
cat >"$DIR/cmd/hang" <<'EOF'
#!/bin/sh
# hang PIDFILE [stubborn]: record our pid, ignore SIGTERM if stubborn, sleep long.
echo $$ >"$1"
[ "${2:-}" = stubborn ] && trap '' TERM
sleep 30 &
wait $!
sleep 30
EOF
cat >"$DIR/cmd/append" <<'EOF'
#!/bin/sh
# append FILE: add stdin as a line to FILE.
cat >>"$1"
echo >>"$1"
EOF
chmod +x "$DIR"/cmd/*

start_daemon

# ---- usage ----
ctl serve
check "serve without METHOD: exit 2" 2 "$RC"
check "serve without METHOD: says so" "udsrpcctl: serve: missing METHOD" "$(printf '%s\n' "$ERR" | sed -n 1p)"
ctl serve t.none
check "serve without COMMAND: exit 2" 2 "$RC"
check "serve without COMMAND: says where it goes" "udsrpcctl: serve: missing COMMAND (it goes after --)" \
	"$(printf '%s\n' "$ERR" | sed -n 1p)"
ctl serve t.none --params '[{' -- true
check "--params not JSON: exit 2" 2 "$RC"
ctl serve t.none --jobs 0 -- true
check "--jobs 0: exit 2" 2 "$RC"
ctl get k --jobs 2
check "--jobs is serve's alone: exit 2" 2 "$RC"
check "--jobs elsewhere: says so" "udsrpcctl: get: --jobs is not an option of get" "$(printf '%s\n' "$ERR" | sed -n 1p)"
ctl serve rpc.mine -- true
like "a daemon namespace: the daemon's -32013, exit 1" '^1:.*code -32013' "$RC:$ERR"
ctl serve t.bad --params '[{"name":"n","schema":{"type":"integer","if":{}}}]' -- true
check "an unsupported schema keyword: exit 1" 1 "$RC"
like "an unsupported schema keyword: named" "keyword 'if' is not supported" "$ERR"

# ---- registered, with its schemas; params on stdin, the caller in the environment ----
serve t.report --params '[{"name":"n","required":true,"schema":{"type":"integer"}},{"name":"secret","schema":{"type":"string"}}]' \
	--result '{"type":"object"}' -- "$DIR/cmd/report" one "two words"
REPORT=$SERVE
ctl -j methods
check "rpc.discover lists it with its params" \
	'[{"name":"n","required":true,"schema":{"type":"integer"}},{"name":"secret","schema":{"type":"string"}}]' \
	"$(printf '%s' "$OUT" | python3 -c 'import json, sys
print(json.dumps([m["params"] for m in json.load(sys.stdin)["methods"] if m["name"] == "t.report"][0], separators=(",", ":")))')"
ctl call t.report '{"n":"x"}'
check "params checked against --params: exit 1" 1 "$RC"
like "params checked: the daemon's -32602" 'code -32602' "$ERR"
"$CTL" -s "$SOCK" -j call t.report '{"n":7,"secret":"hunter2"}' >"$DIR/report.out" 2>"$DIR/report.err" &
CALLER=$!
wait "$CALLER"
R=$(cat "$DIR/report.out")
get() { printf '%s' "$R" | grep -o "\"$1\":[^,}]*" | head -1 | cut -d: -f2-; }
check "the command's argv is COMMAND's own: 2 arguments" 2 "$(get argc)"
check "the command's argv: as given" '"one two words"' "$(get argv)"
check "params reach stdin as compact JSON" '{"n":7,"secret":"hunter2"}' \
	"$(printf '%s' "$R" | sed 's/.*"stdin":\({[^}]*}\).*/\1/')"
check "params never in argv" no "$(printf '%s' "$(get argv)" | grep -q hunter2 && echo yes || echo no)"
check "UDSRPC_METHOD" '"t.report"' "$(get method)"
WHO=$("$CTL" -s "$SOCK" -j whoami)
whoami() { printf '%s' "$WHO" | grep -o "\"$1\":[^,}]*" | head -1 | cut -d: -f2-; }
check "UDSRPC_CALLER_UID is the caller's uid" "$(whoami uid)" "$(get uid)"
check "UDSRPC_CALLER_GID is the caller's gid" "$(whoami gid)" "$(get gid)"
check "UDSRPC_CALLER_PID is the calling process" "$CALLER" "$(get pid)"
check "UDSRPC_CALLER_USER" "$(whoami user)" "$(get user)"
check "UDSRPC_CALLER_EXE" "\"$CTL\"" "$(get exe)"
check "UDSRPC_CALLER_GROUPS, comma-separated" \
	"\"$(printf '%s' "$WHO" | sed 's/.*"groups":\[\([0-9,]*\)\].*/\1/')\"" "$(get groups)"

# ---- exit status to result or error ----
serve t.exit --params '[{"name":"a","schema":{}}]' -- "$DIR/cmd/exit" 0 '{"a": [1, 2]}\n'
ctl -j call t.exit
check "exit 0, JSON stdout: the result is that JSON" '{"a":[1,2]}' "$OUT"
unserve "$SERVE"
check "SIGTERM: serve exits 0" 0 "$STATUS"
ctl call t.exit
check "after serve stops the method is gone: -32601" "1:udsrpcctl: t.exit: Method not found (code -32601)" "$RC:$ERR"
serve t.text -- "$DIR/cmd/exit" 0 'hello world\n'
ctl -j call t.text
check "exit 0, text stdout: a string, the trailing newline removed" '"hello world"' "$OUT"
serve t.fail -- "$DIR/cmd/exit" 3 'ignored\n' 'disk full\nsecond line\n'
ctl call t.fail
check "non-zero: exit 1" 1 "$RC"
check "non-zero: the one-line message" "udsrpcctl: t.fail: disk full (code 1)" "$ERR"
answer t.fail
check "non-zero: code 1, stderr's first line, exit_status and stderr" \
	'{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"disk full","data":{"exit_status":3,"stderr":"disk full\nsecond line\n"}}}' "$OUT"
serve t.mute -- "$DIR/cmd/exit" 1
answer t.mute
check "non-zero, no stderr: \"command failed\"" \
	'{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"command failed","data":{"exit_status":1,"stderr":""}}}' "$OUT"
serve t.long -- sh -c 'head -c 10000 /dev/zero | tr "\0" x >&2; exit 2'
answer t.long
check "stderr cut to 4 KiB" 4096 "$(printf '%s' "$OUT" | sed 's/.*"stderr":"\([x]*\)".*/\1/' | tr -d '\n' | wc -c)"
serve t.missing -- "$DIR/cmd/no-such-command"
answer t.missing
check "a command that cannot run: exit status 127, why" \
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,\"message\":\"udsrpcctl: serve: cannot run $DIR/cmd/no-such-command: No such file or directory\",\"data\":{\"exit_status\":127,\"stderr\":\"udsrpcctl: serve: cannot run $DIR/cmd/no-such-command: No such file or directory\n\"}}}" \
	"$OUT"
serve t.typed --result '{"type":"integer"}' -- "$DIR/cmd/exit" 0 '"not a number"'
ctl call t.typed
like "a result against --result: -32603 naming the mismatch" \
	"code -32603\\): the provider's result does not match the schema at '': expected integer, got string" "$ERR"

# ---- --timeout: SIGTERM, then SIGKILL 2 s later ----
# timed NAME METHOD TIMEOUT_MS EXIT_STATUS MIN_MS MAX_MS PIDFILE: a call to METHOD (serving
# cmd/hang PIDFILE) answered as timed out, with EXIT_STATUS, after MIN_MS to MAX_MS, the command gone.
timed() {
	local start ms
	start=$(date +%s%N)
	answer "$2"
	ms=$((($(date +%s%N) - start) / 1000000))
	check "$1: an error with timeout:true" \
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,\"message\":\"command timed out after $3 ms\",\"data\":{\"exit_status\":$4,\"stderr\":\"\",\"timeout\":true}}}" \
		"$OUT"
	check "$1: answered after $5 to $6 ms" yes "$([ "$ms" -ge "$5" ] && [ "$ms" -lt "$6" ] && echo yes || echo "$ms ms")"
	check "$1: the command is gone" gone "$(kill -0 "$(cat "$7")" 2>/dev/null && echo running || echo gone)"
}
serve t.hang --timeout 300 -- "$DIR/cmd/hang" "$DIR/hang.pid"
timed "--timeout 300: SIGTERM (exit_status 143)" t.hang 300 143 300 2000 "$DIR/hang.pid"
serve t.stubborn -t 200 -- "$DIR/cmd/hang" "$DIR/stubborn.pid" stubborn
timed "ignoring SIGTERM: SIGKILL 2 s later (exit_status 137)" t.stubborn 200 137 2200 4000 "$DIR/stubborn.pid"

# ---- SIGTERM while a command runs: it is stopped, the caller told, serve exits 0 ----
serve t.busy -- "$DIR/cmd/hang" "$DIR/busy.pid"
"$CTL" -s "$SOCK" -t 10000 call t.busy >"$DIR/busy.out" 2>"$DIR/busy.err" &
BUSY=$!
await_lines "$DIR/busy.pid" 1 || true
START=$(date +%s%N)
unserve "$SERVE"
MS=$((($(date +%s%N) - START) / 1000000))
check "SIGTERM with a command running: serve exits 0" 0 "$STATUS"
check "SIGTERM with a command running: within 2 s" yes "$([ "$MS" -lt 2000 ] && echo yes || echo "$MS ms")"
check "SIGTERM with a command running: the command is gone" gone \
	"$(kill -0 "$(cat "$DIR/busy.pid")" 2>/dev/null && echo running || echo gone)"
RC=0
wait "$BUSY" || RC=$?
like "SIGTERM with a command running: the caller gets -32005, exit 1" '^1:.*code -32005' "$RC:$(cat "$DIR/busy.err")"

# ---- --jobs, and answers in any order ----
# max_parallel LOG: the most commands the start/end lines show running at once.
max_parallel() { awk '$1 == "start" { n++; if (n > m) m = n } $1 == "end" { n-- } END { print m }' "$1"; }
# calls METHOD N MS...: N calls at once, each on its own connection; waits for all.
calls() {
	local m=$1 pids=() i=0
	shift
	for ms in "$@"; do
		"$CTL" -s "$SOCK" -t 20000 call "$m" "{\"ms\":$ms}" >"$DIR/call.$m.$i" 2>&1 &
		pids+=($!)
		i=$((i + 1))
	done
	for p in "${pids[@]}"; do wait "$p"; done
}
serve t.one --params '[{"name":"ms","schema":{"type":"integer"}}]' -- "$DIR/cmd/slow" "$DIR/one.log"
calls t.one 300 300 300
check "default --jobs 1: one at a time" 1 "$(max_parallel "$DIR/one.log")"
check "default --jobs 1: every call answered" "300 300 300" "$(cat "$DIR"/call.t.one.* | tr '\n' ' ' | sed 's/ $//')"
serve t.two --jobs 2 --params '[{"name":"ms","schema":{"type":"integer"}}]' -- "$DIR/cmd/slow" "$DIR/two.log"
calls t.two 400 400 400 400 400
check "--jobs 2: two at once, never more" 2 "$(max_parallel "$DIR/two.log")"
check "--jobs 2: all five ran" 5 "$(grep -c '^end' "$DIR/two.log")"
serve t.order --jobs 2 --params '[{"name":"ms","schema":{"type":"integer"}}]' -- "$DIR/cmd/slow" "$DIR/order.log"
"$CTL" -s "$SOCK" call t.order '{"ms":1500}' >"$DIR/slow.out" 2>&1 &
SLOW=$!
await_lines "$DIR/order.log" 1 || true
ctl call t.order '{"ms":0}'
check "a fast call answered while a slow one runs" "0:0:" "$RC:$OUT:$(cat "$DIR/slow.out")"
wait "$SLOW"
check "then the slow one" 1500 "$(cat "$DIR/slow.out")"

# ---- a notification runs the command and gets no answer ----
serve t.note --params '[{"name":"x","schema":{}}]' -- "$DIR/cmd/append" "$DIR/note.log"
OUT=$(printf '%s\n' '{"jsonrpc":"2.0","method":"t.note","params":{"x":1}}' \
	'{"jsonrpc":"2.0","id":9,"method":"t.note","params":{"x":2}}' | "$CTL" -s "$SOCK" raw)
check "a notification gets no answer; the call after it does" '{"jsonrpc":"2.0","id":9,"result":""}' "$OUT"
await_lines "$DIR/note.log" 2 || true
check "both ran, in order" "$(printf '%s\n' '{"x":1}' '{"x":2}')" "$(cat "$DIR/note.log")"

# ---- a name another serve has ----
ctl serve t.report -- true
like "a method another connection provides: exit 1, -32013" '^1:.*code -32013' "$RC:$ERR"

# ---- the daemon goes away: exit 3 ----
stop_daemon
STATUS=0
wait "$REPORT" || STATUS=$?
check "the daemon gone: serve exits 3" 3 "$STATUS"
like "the daemon gone: says so" 'udsrpcd closed the connection' "$(cat "$DIR/serve.t.report.err")"
finish
