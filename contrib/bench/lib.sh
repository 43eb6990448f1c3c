# lib.sh — sourced by the store benchmarks (durable.sh, store.sh): a temp dir on a real
# disk, the processes they start stopped by pid, and durload built into the temp dir.
# The caller sets NAME (for messages) and PIDS (an array it appends to) first.

die() { echo "$NAME: $*" >&2; exit 1; }

stop_pid() { # stop_pid PID: SIGTERM, up to 5 s, then SIGKILL; only what we started
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

bench_cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	[ -z "${DIR:-}" ] || rm -rf "$DIR"
}

# bench_dir PARENT VAR: DIR, a temp dir under PARENT, removed on exit; FSTYPE, SOURCE its
# filesystem. fsync on tmpfs is a no-op, so a benchmark of durable writes there would
# compare memory stores: refused, naming VAR (the setting that moves it).
bench_dir() {
	DIR=$(mktemp -d "$1/udsrpc-$NAME.XXXXXX") || die "cannot make a temp dir in $1"
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	FSTYPE=$(df --output=fstype "$DIR" | tail -1 | tr -d ' ')
	SOURCE=$(df --output=source "$DIR" | tail -1)
	case $FSTYPE in
	tmpfs | ramfs) die "$DIR is on $FSTYPE, where fsync does nothing; set $2 to a directory on a disk" ;;
	esac
	command -v cc >/dev/null || die "no C compiler; apt-get install -y gcc"
	cc -O2 -Wall -Wextra -Werror -o "$DIR/durload" "$ROOT/contrib/bench/durload.c" ||
		die "cannot build contrib/bench/durload.c"
	LOAD=$DIR/durload
}
