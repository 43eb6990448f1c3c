# daemon.sh — sourced by the benchmark scripts (run.sh, fanout.sh): one udsrpcd of
# theirs at a time, on $SOCK with its state and log in $DIR, its pid in $DPID.
DPID=""

start_daemon() { # [udsrpcd args...]
	rm -rf "$DIR/state" "$SOCK"
	# shellcheck disable=SC2086 # DAEMON_WRAP: a command and its words, e.g. no_uring EPERM
	${DAEMON_WRAP:-} "$UDSRPCD" -s "$SOCK" -S "$DIR/state" -l warning "$@" 2>>"$DIR/udsrpcd.log" &
	DPID=$!
	for _ in $(seq 250); do
		[ -S "$SOCK" ] && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.02
	done
	echo "$(basename "$0"): udsrpcd did not start:" >&2
	cat "$DIR/udsrpcd.log" >&2
	exit 1
}

stop_daemon() { # TERM, up to 5 s, then KILL: only the daemon this script started
	[ -n "$DPID" ] || return 0
	kill -TERM "$DPID" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$DPID" 2>/dev/null && kill -KILL "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	DPID=""
}
