# lib.sh — shared by the shell integration tests: a real udsrpcd in a temp dir, socat clients.
# Source it; it sets -eu, a cleanup trap, and these:
#   start_daemon [udsrpcd args...]   sets DIR SOCK PID
#   await_start PID LOG WHAT CMD...  until CMD succeeds while PID lives
#   readme_block NAME                the README.md block after <!-- readme_use: NAME -->
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

# await_start PID LOG WHAT CMD...: until CMD succeeds (500 tries, 20 ms apart) while
# PID, the program WHAT just started, lives; else print LOG and why, and exit 1.
await_start() {
	local pid=$1 log=$2 what=$3
	shift 3
	for _ in $(seq 1 500); do
		"$@" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "$what exited" >&2; exit 1; }
		sleep 0.02
	done
	echo "$what did not start (waited for: $*)" >&2
	exit 1
}

# The README's commands are tested as written: the fenced block after a
# "<!-- readme_use: NAME -->" marker, as it stands there.
readme_block() {
	awk -v m="<!-- readme_use: $1 -->" '
		$0 == m { found = 1; next }
		found && /^```/ { if (inside) exit; inside = 1; next }
		inside { print }' "${UDSRPC_SOURCE_DIR:?}/README.md"
}

start_daemon() {
	$UDSRPCD -s "$SOCK" -S "$DIR/state" "$@" 2>>"$DIR/stderr" &
	PID=$!
	await_start "$PID" "$DIR/stderr" udsrpcd socat -u /dev/null "UNIX-CONNECT:$SOCK"
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
