# lib.sh — shared by the shell integration tests: a real udsrpcd in a temp dir, socat clients.
# Source it; it sets -eu, a cleanup trap, and these:
#   start_daemon [udsrpcd args...]   sets DIR SOCK PID
#   stop_daemon                      SIGTERM, wait; sets STATUS
#   rpc LINE...                      send lines via socat (half-close at EOF), print the replies
#   check NAME WANT GOT              compare, count, report
#   finish                           print the tally, exit 1 on any failure
#   stage PROGRAM...                 copies in $DIR/bin that any uid may run (see below)
set -eu

: "${UDSRPCD:?run through ctest, or export UDSRPCD=path/to/udsrpcd}"
PASS=0
FAIL=0
PID=""
DIR=$(mktemp -d /tmp/udsrpc-sh-XXXXXX)
SOCK="$DIR/udsrpcd.sock"

cleanup() {
	# Only what this test started, by pid.
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null || true
	fi
	rm -rf "$DIR"
}
trap cleanup EXIT

skip() {
	echo "SKIP: $*"
	exit 77
}

start_daemon() {
	$UDSRPCD -s "$SOCK" -S "$DIR/state" "$@" 2>>"$DIR/stderr" &
	PID=$!
	for _ in $(seq 1 500); do
		if socat -u /dev/null "UNIX-CONNECT:$SOCK" 2>/dev/null; then
			return 0
		fi
		kill -0 "$PID" 2>/dev/null || { cat "$DIR/stderr" >&2; echo "udsrpcd exited" >&2; exit 1; }
		sleep 0.02
	done
	echo "udsrpcd did not listen on $SOCK" >&2
	exit 1
}

stop_daemon() {
	kill -TERM "$PID"
	STATUS=0
	wait "$PID" || STATUS=$?
	PID=""
}

rpc() {
	printf '%s\n' "$@" | socat -t 5 -T 10 - "UNIX-CONNECT:$SOCK"
}

check() {
	if [ "$2" = "$3" ]; then
		PASS=$((PASS + 1))
		echo "ok $((PASS + FAIL)) - $1"
	else
		FAIL=$((FAIL + 1))
		echo "not ok $((PASS + FAIL)) - $1"
		echo "  want: $2"
		echo "  got:  $3"
	fi
}

# The checkout may sit in a directory only root can enter (mktemp -d,
# /root/src), and the build's programs load libudsrpc.so.0 from it: a
# program run as another uid is a copy in $DIR/bin, with the library beside
# it, found through LD_LIBRARY_PATH. Run it as: env LD_LIBRARY_PATH="$DIR/bin" ...
stage() {
	mkdir -p "$DIR/bin"
	for p in "$@"; do
		cp -L "$p" "$DIR/bin/"
	done
	cp -L "${UDSRPC_BINARY_DIR:?}/daemon/lib/libudsrpc.so.0" "$DIR/bin/"
	chmod 0711 "$DIR"
	chmod -R a+rX "$DIR/bin"
}

finish() {
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
}
