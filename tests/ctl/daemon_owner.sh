#!/bin/bash
# daemon_owner.sh — PROTOCOL.md §4 "clients check the daemon": on the default
# socket path (no -s), udsrpcctl, udsrpc-bench, the client library (under both
# tools) and contrib/examples/udsrpc.py refuse a daemon whose uid is neither 0
# nor their own: exit 3, naming the path and the uid. The squatter is a daemon
# run as uid 65534 on another uid's fallback path, /tmp/udsrpcd-UID.sock.
. "$(dirname "$0")/../integration/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root to run the daemon and the clients as other uids"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
# The system interpreter: one under root's home (pyenv) is not the client uid's to run.
PY=/usr/bin/python3
[ -x "$PY" ] || skip "python3 is not installed at $PY"
B=$UDSRPC_BINARY_DIR
stage "$UDSRPCD" "$B/ctl/udsrpcctl" "$B/ctl/udsrpc-bench" "$UDSRPC_SOURCE_DIR/contrib/examples/udsrpc.py"

# A uid of no account whose fallback path nothing else uses: the client.
U=""
for i in $(seq 0 99); do
	u=$((61000 + ($$ + i) % 1000))
	if ! getent passwd "$u" >/dev/null && [ ! -e "/tmp/udsrpcd-$u.sock" ]; then
		U=$u
		break
	fi
done
[ -n "$U" ] || skip "no free uid in 61000-61999 for the client"
FALLBACK=/tmp/udsrpcd-$U.sock
DAEMON=""
# The squatter's socket is removed by it on SIGTERM; never leave it behind.
cleanup_owner() {
	if [ -n "$DAEMON" ] && kill -0 "$DAEMON" 2>/dev/null; then kill -KILL "$DAEMON"; fi
	rm -f "$FALLBACK"
	cleanup
}
trap cleanup_owner EXIT

# as UID CMD...: runs CMD with that uid (and gid), the staged library, and an
# environment in which the default path is the fallback one. env and setpriv
# exec what they run: the pid is CMD's.
as() {
	local uid=$1
	shift
	exec env -u UDSRPC_SOCKET -u RUNTIME_DIRECTORY -u XDG_RUNTIME_DIR LD_LIBRARY_PATH="$DIR/bin" \
		HOME=/nonexistent setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"
}

# serve_as UID: a daemon of that uid on the fallback path, its state its own.
# Started in a subshell that execs it, so $! is the daemon's pid.
serve_as() {
	mkdir -p "$DIR/state-$1"
	chown "$1:$1" "$DIR/state-$1"
	(as "$1" "$DIR/bin/udsrpcd" -s "$FALLBACK" -S "$DIR/state-$1" 2>>"$DIR/stderr") &
	DAEMON=$!
	for _ in $(seq 1 500); do
		[ -S "$FALLBACK" ] && socat -u /dev/null "UNIX-CONNECT:$FALLBACK" 2>/dev/null && return 0
		kill -0 "$DAEMON" 2>/dev/null || { cat "$DIR/stderr" >&2; echo "udsrpcd exited" >&2; exit 1; }
		sleep 0.02
	done
	echo "udsrpcd as uid $1 did not listen on $FALLBACK" >&2
	exit 1
}

unserve() {
	kill -TERM "$DAEMON"
	wait "$DAEMON" || true
	DAEMON=""
}

# run NAME CMD...: as the client uid; sets RC, OUT, ERR.
run() {
	RC=0
	OUT=$( (as "$U" "$@") 2>"$DIR/err") || RC=$?
	ERR=$(cat "$DIR/err")
}

REFUSED="$FALLBACK is served by uid 65534, neither root nor you (uid $U): refusing to talk to it; pass -s $FALLBACK if you trust it"

serve_as 65534
run "$DIR/bin/udsrpcctl" ping
check "udsrpcctl, squatter on the default path: exit 3" 3 "$RC"
check "udsrpcctl: names the path and the uid" "udsrpcctl: $REFUSED" "$ERR"
run "$DIR/bin/udsrpcctl" -j whoami
check "udsrpcctl -j: exit 3 too" 3 "$RC"
run "$DIR/bin/udsrpc-bench" -n 20 -c 2
check "udsrpc-bench, squatter: exit 3" 3 "$RC"
check "udsrpc-bench: names the path and the uid, once" "udsrpc-bench: $REFUSED" "$ERR"
run "$PY" "$DIR/bin/udsrpc.py" call ping
check "udsrpc.py, squatter: exit 3" 3 "$RC"
check "udsrpc.py: names the path and the uid" "udsrpc.py: $REFUSED" "$ERR"
run "$PY" -c "import sys; sys.path.insert(0, '$DIR/bin'); import udsrpc
try:
    udsrpc.Client()
except udsrpc.UntrustedDaemon as e:
    print('refused:', e)"
check "udsrpc.Client(): raises UntrustedDaemon" "refused: $REFUSED" "$OUT"
# The path given on purpose (-s) is trusted: the check is for the default only.
run "$DIR/bin/udsrpcctl" -s "$FALLBACK" ping
check "udsrpcctl -s the same path: served" "0:pong" "$RC:${OUT%% *}"
run "$PY" "$DIR/bin/udsrpc.py" -s "$FALLBACK" call ping
check "udsrpc.py -s the same path: served" '0:"pong"' "$RC:$OUT"
run "$DIR/bin/udsrpc-bench" -s "$FALLBACK" -n 20 -c 2 -q
check "udsrpc-bench -s the same path: served" 0 "$RC"
unserve

# The client's own daemon and root's are the ones to talk to.
for owner in "$U" 0; do
	serve_as "$owner"
	run "$DIR/bin/udsrpcctl" ping
	check "udsrpcctl, daemon of uid $owner on the default path: served" "0:pong" "$RC:${OUT%% *}"
	run "$DIR/bin/udsrpc-bench" -n 20 -c 2 -q
	check "udsrpc-bench, daemon of uid $owner: served" 0 "$RC"
	run "$PY" "$DIR/bin/udsrpc.py" call ping
	check "udsrpc.py, daemon of uid $owner: served" '0:"pong"' "$RC:$OUT"
	unserve
done
finish
