#!/bin/bash
# exit_codes.sh — udsrpcctl's exit statuses (udsrpcctl(1)) and the one line on stderr that goes with each.
. "$(dirname "$0")/lib.sh"
# ctl ARGS...: here every call names its socket (or none).
ctl() { ctl_exec "$@"; }

# ---- 3: nothing listens ----
ctl -s "$SOCK" ping
check "no daemon: exit 3" 3 "$RC"
check "no daemon: names the socket and the fix" \
	"udsrpcctl: cannot connect to $SOCK: No such file or directory; is udsrpcd running? (or pass -s PATH / set UDSRPC_SOCKET)" \
	"$ERR"
check "no daemon: nothing on stdout" "" "$OUT"
RC=0; ERR=$(UDSRPC_SOCKET="$DIR/env.sock" "$CTL" info 2>&1 >/dev/null) || RC=$?
check "no daemon at \$UDSRPC_SOCKET: exit 3, and that path named" \
	"3:udsrpcctl: cannot connect to $DIR/env.sock: No such file or directory; is udsrpcd running? (or pass -s PATH / set UDSRPC_SOCKET)" \
	"$RC:$ERR"
: >"$DIR/not-a-socket"
ctl -s "$DIR/not-a-socket" ping
check "a file that is not a socket: exit 3" 3 "$RC"
ctl -s "$DIR/no-such-dir/x/$(printf 'y%.0s' $(seq 1 120)).sock" ping
check "a path too long for a Unix socket: exit 3" 3 "$RC"
case $ERR in *"socket path longer than"*) check "too long: says so" yes yes ;;
*) check "too long: says so" "...socket path longer than..." "$ERR" ;; esac

# ---- 3: it listens but never answers (timeout) ----
socat -u "UNIX-LISTEN:$DIR/mute.sock" OPEN:/dev/null &
MUTE=$!
for _ in $(seq 1 100); do [ -S "$DIR/mute.sock" ] && break; sleep 0.02; done
START=$(date +%s%N)
ctl -s "$DIR/mute.sock" -t 300 ping
ELAPSED=$((($(date +%s%N) - START) / 1000000))
check "no reply: exit 3" 3 "$RC"
check "no reply: the timeout named" \
	"udsrpcctl: ping: no reply from $DIR/mute.sock within 300 ms; is udsrpcd running and responsive? (or raise -t MS)" \
	"$ERR"
check "no reply: gave up after about 300 ms" yes "$([ "$ELAPSED" -ge 290 ] && [ "$ELAPSED" -lt 3000 ] && echo yes || echo "no ($ELAPSED ms)")"
kill "$MUTE" 2>/dev/null || true
wait "$MUTE" 2>/dev/null || true

start_daemon

# ---- 2: usage ----
for args in "" "frob" "get" "get a b" "set k" "unset" "log-level" "call" "watch --count 0" \
	"watch --count x" "get --count 1 k" "ping extra" "help frob" "--frob ping" "get k --frob" \
	"-t abc ping" "-t" "ping -s" "call echo {bad"; do
	# shellcheck disable=SC2086 # word splitting of the argument list is the point
	ctl -s "$SOCK" $args
	check "usage error: udsrpcctl $args: exit 2" 2 "$RC"
	check "usage error: udsrpcctl $args: nothing on stdout" "" "$OUT"
done
# An empty -s (an unset variable) is a usage error, not a connection attempt.
ctl -s "" ping
check "usage error: udsrpcctl -s '': exit 2" 2 "$RC"
check "usage error: udsrpcctl -s '': said" "udsrpcctl: -s: empty socket path" "$(printf '%s' "$ERR" | head -1)"
ctl -s "$SOCK" frob
check "unknown command: the valid ones listed" \
	"udsrpcctl: unknown command 'frob'; the commands are: ping info stats whoami peers methods get set unset list txn dump restore watch call raw reload shutdown log-level serve help
Try 'udsrpcctl help' for the commands and options." "$ERR"
ctl -s "$SOCK" set k
check "missing argument: named, with the usage" \
	"udsrpcctl: set: missing VALUE
usage: udsrpcctl [OPTIONS] set KEY VALUE [--expect-revision N] [--string | --json] [--file F] [--ephemeral]" "$ERR"
ctl -s "$SOCK" get a b
check "extra argument: named" "udsrpcctl: get: unexpected argument 'b'" "$(printf '%s\n' "$ERR" | sed -n 1p)"

# ---- 1: the daemon answered an error ----
ctl -s "$SOCK" get missing
check "get of a missing key: exit 1" 1 "$RC"
check "get of a missing key: one line" "udsrpcctl: config.get: Not found (code -32010)" "$ERR"
check "get of a missing key: nothing on stdout without -j" "" "$OUT"
# -j: the error object on stdout too, compact, for a script to read.
ctl -s "$SOCK" -j get missing
check "-j get of a missing key: exit 1" 1 "$RC"
check "-j get of a missing key: the error object on stdout" \
	'{"error":{"code":-32010,"message":"Not found","data":{"key":"missing"}}}' "$OUT"
check "-j get of a missing key: the line on stderr still" "udsrpcctl: config.get: Not found (code -32010)" "$ERR"
# A conflict says where the key is now (the daemon's data.revision).
ctl -s "$SOCK" set conflicted 1
ctl -s "$SOCK" set conflicted 2 --expect-revision 999999
check "conflict: exit 1" 1 "$RC"
check "conflict: the current revision named" \
	"udsrpcctl: config.set: Conflict (code -32011): conflicted is at revision $(
		"$CTL" -s "$SOCK" -j call config.get '{"key":"conflicted"}' | sed 's/.*"revision":\([0-9]*\).*/\1/')" "$ERR"
ctl -s "$SOCK" set absent-key 1 --expect-revision 5
check "conflict on an absent key: said so" \
	"udsrpcctl: config.set: Conflict (code -32011): absent-key does not exist" "$ERR"
ctl -s "$SOCK" call no.such.method
check "a method the daemon lacks: exit 1" 1 "$RC"
check "a method the daemon lacks: -32601" "udsrpcctl: no.such.method: Method not found (code -32601)" "$ERR"
ctl -s "$SOCK" log-level loud
check "a value only the daemon checks (log level): exit 1" 1 "$RC"
case $ERR in "udsrpcctl: daemon.log_level: Invalid params (code -32602)"*) check "log-level loud: -32602" yes yes ;;
*) check "log-level loud: -32602" "udsrpcctl: daemon.log_level: Invalid params (code -32602)..." "$ERR" ;; esac
ctl -s "$SOCK" watch bogus
check "an unknown topic is the daemon's to refuse: exit 1" 1 "$RC"
ctl -s "$SOCK" set k v --expect-revision abc
check "--expect-revision is the daemon's to check: exit 1" 1 "$RC"
# (CLI.md v2: under -j the error object goes to stdout as well; checked above.)
ctl -s "$SOCK" -j call no.such.method
check "-j: a -32601 as an object on stdout, the line on stderr" \
	'1:{"error":{"code":-32601,"message":"Method not found","data":{"method":"no.such.method"}}}:udsrpcctl: no.such.method: Method not found (code -32601)' \
	"$RC:$OUT:$ERR"
ctl -s "$SOCK" call echo 5
check "call with params that are not object/array: the daemon's -32600" \
	"1:udsrpcctl: echo: Invalid Request (code -32600)" "$RC:$(printf '%s' "$ERR" | cut -d: -f1-3)"

# ---- 4: permission denied ----
if [ "$(id -u)" -ne 0 ]; then
	echo "# SKIP exit 4: not root, so this test cannot run udsrpcctl as another uid"
elif ! command -v setpriv >/dev/null; then
	echo "# SKIP exit 4: setpriv (util-linux) is not installed"
else
	# The daemon's socket is 0666; the temp dir must let uid 65534 reach it,
	# and the tool it runs must be a copy it can load.
	chmod 755 "$DIR"
	stage "$CTL"
	nobody() { env LD_LIBRARY_PATH="$DIR/bin" setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	RC=0
	OUT=$(nobody "$DIR/bin/udsrpcctl" -s "$SOCK" shutdown 2>"$DIR/ctl.err") || RC=$?
	ERR=$(cat "$DIR/ctl.err")
	check "denied peer: shutdown exits 4" 4 "$RC"
	check "denied peer: one line" "udsrpcctl: daemon.shutdown: Permission denied (code -32001)" "$ERR"
	check "denied peer: nothing on stdout" "" "$OUT"
	RC=0
	OUT=$(nobody "$DIR/bin/udsrpcctl" -s "$SOCK" -j whoami 2>&1) || RC=$?
	check "that peer is who the daemon sees" "0:65534" "$RC:$(printf '%s' "$OUT" | sed 's/.*"uid":\([0-9]*\).*/\1/')"
	ctl -s "$SOCK" ping
	check "denied shutdown: the daemon still runs" 0 "$RC"
fi

# ---- 3: the daemon goes away mid-watch ----
"$CTL" -s "$SOCK" watch daemon >"$DIR/watch.out" 2>"$DIR/watch.err" &
WATCH=$!
for _ in $(seq 1 100); do
	"$CTL" -s "$SOCK" -j peers | grep -q '"topics":\["daemon"\]' && break
	sleep 0.05
done
stop_daemon
WSTATUS=0
for _ in $(seq 1 200); do kill -0 "$WATCH" 2>/dev/null || break; sleep 0.05; done
kill "$WATCH" 2>/dev/null && echo "watch did not end with the daemon" >&2
wait "$WATCH" || WSTATUS=$?
check "daemon stopped under watch: exit 3" 3 "$WSTATUS"
check "daemon stopped under watch: the shutdown event first" \
	'{"topic":"daemon","type":"shutdown"}' "$(cat "$DIR/watch.out")"
check "daemon stopped under watch: says the connection closed" \
	"udsrpcctl: watch: udsrpcd closed the connection on $SOCK; is udsrpcd still running? (see its log)" \
	"$(cat "$DIR/watch.err")"

# ---- 1: the daemon is full (max_connections) ----
printf '{"limits":{"max_connections":1}}\n' >"$DIR/full.json"
start_daemon -c "$DIR/full.json"
# The one slot goes to a holder that has had its pong, so it is surely in.
# Until start_daemon's probe connection is gone the holder itself may be
# turned away: then it tries again.
mkfifo "$DIR/hold.in"
for _ in $(seq 1 50); do
	socat - "UNIX-CONNECT:$SOCK" <"$DIR/hold.in" >"$DIR/hold.out" &
	HOLD=$!
	exec 9>"$DIR/hold.in"
	printf '{"jsonrpc":"2.0","id":1,"method":"ping"}\n' >&9
	for _ in $(seq 1 200); do [ -s "$DIR/hold.out" ] && break; sleep 0.02; done
	grep -q pong "$DIR/hold.out" && break
	exec 9>&-
	wait "$HOLD" 2>/dev/null || true
	sleep 0.05
done
check "daemon full: the holder is in" yes "$(grep -q pong "$DIR/hold.out" && echo yes)"
ctl -s "$SOCK" ping
check "daemon full: exit 1" 1 "$RC"
check "daemon full: its -32003 verdict, not a bare close" \
	"udsrpcctl: ping: Server busy (code -32003)" "$ERR"
exec 9>&-
wait "$HOLD"
for _ in $(seq 1 100); do
	ctl -s "$SOCK" ping
	[ "$RC" -eq 0 ] && break
	sleep 0.05
done
check "daemon full: served again once the holder left" "0:pong" "$RC:${OUT%% *}"
stop_daemon
finish
