#!/bin/bash
# run.sh — udsrpcd's benchmark: one table of throughput, latency and server CPU per request
# for ping (1 client, 50 clients, 50 clients x depth 32), echo (1 KiB, 64 KiB) and
# config.get, plus the daemon's memory per idle connection with 10,000 held.
# Not part of the test suite; every run is bounded.
#
#   tests/bench/run.sh                 # uses build/ (cmake -S . -B build && cmake --build build)
#   BUILD=build-bench DUR=1 tests/bench/run.sh
#
# Env: BUILD (build dir, default <repo>/build), UDSRPCD / UDSRPC_BENCH (explicit binaries),
#   DUR (seconds per measurement, default 3), WORKERS (udsrpc-bench -w, default 1: one
#   client process leaves the other core to the daemon), HOLD_N (10000).
# Server CPU µs/req = the daemon's /proc/PID/stat utime+stime delta over the run (all its
# threads, CLK_TCK resolution) / requests answered. RSS/conn = VmRSS growth of a fresh daemon
# while udsrpc-bench --hold keeps HOLD_N idle connections, / connections held.
set -u
. "$(dirname "$0")/paths.sh"
DUR=${DUR:-3}
WORKERS=${WORKERS:-1}
HOLD_N=${HOLD_N:-10000}

for b in "$UDSRPCD" "$UDSRPC_BENCH"; do
	[ -x "$b" ] || { echo "run.sh: no $b; build first (cmake --build $BUILD) or set BUILD" >&2; exit 2; }
done

# Descriptors: HOLD_N connections plus some room, in this shell (inherited by both programs).
HARD=$(ulimit -Hn)
ulimit -n "$HARD" 2>/dev/null
if [ "$HARD" != unlimited ] && [ $((HOLD_N + 200)) -gt "$HARD" ]; then
	echo "run.sh: ulimit -Hn is $HARD; holding $((HARD - 200)) instead of $HOLD_N" >&2
	HOLD_N=$((HARD - 200))
fi

DIR=$(mktemp -d /tmp/udsrpc-run-XXXXXX)
SOCK=$DIR/udsrpcd.sock
CLK=$(getconf CLK_TCK)
. "$(dirname "$0")/daemon.sh"
BPID=""

cleanup() {
	[ -n "$BPID" ] && { kill -TERM "$BPID" 2>/dev/null; wait "$BPID" 2>/dev/null; }
	stop_daemon
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ticks() { # utime+stime of the daemon, all threads
	local rest
	read -r rest <"/proc/$DPID/stat" || return
	rest=${rest##*) }
	# shellcheck disable=SC2086
	set -- $rest
	echo $((${12} + ${13}))
}
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$DPID/status"; }
jnum() { sed -n "s/.*\"$1\":\\(-\\{0,1\\}[0-9][0-9.eE+-]*\\).*/\\1/p" <<<"$2"; }

ROWS=""
row() { ROWS="$ROWS$1"$'\n'; }

measure() { # label, udsrpc-bench args...
	local label=$1 t0 t1 out rc=0
	shift
	t0=$(ticks)
	out=$(timeout -k 5 $((${DUR%.*} + 60)) "$UDSRPC_BENCH" -s "$SOCK" -d "$DUR" -w "$WORKERS" \
		--json "$@" 2>"$DIR/bench.err") || rc=$?
	t1=$(ticks)
	local req err note=""
	req=$(jnum requests "$out")
	err=$(jnum errors "$out")
	[ "$rc" -ne 0 ] && note="udsrpc-bench exit $rc: $(head -c 100 "$DIR/bench.err" | tr '\n|' '  ')"
	if [ -z "$req" ]; then
		row "| $label | - | - | - | - | - | - | - | - | $note |"
		return
	fi
	local cpu
	cpu=$(awk -v t=$((t1 - t0)) -v clk="$CLK" -v n="$req" \
		'BEGIN { if (n > 0) printf "%.2f%s", t * 1e6 / clk / n, (t < 20 ? " (coarse)" : ""); else print "-" }')
	row "$(printf '| %s | %s | %.0f | %.1f | %.1f | %.1f | %s | %s | %s | %s |' "$label" "$req" \
		"$(jnum rps "$out")" "$(jnum p50 "$out")" "$(jnum p99 "$out")" "$(jnum p999 "$out")" \
		"$err" "$cpu" "-" "$note")"
	echo "  $label: $out" >&2
}

hold() { # label
	local label=$1 rss0 rss1 f0 f held out
	start_daemon -c "$DIR/hold.json"
	sleep 0.3
	rss0=$(rss_kb)
	f0=$(find "/proc/$DPID/fd" -mindepth 1 -maxdepth 1 | wc -l)
	"$UDSRPC_BENCH" -s "$SOCK" -c 0 --hold "$HOLD_N" -d 120 -t 30 --json >"$DIR/hold.out" 2>"$DIR/hold.err" &
	BPID=$!
	for _ in $(seq 600); do
		f=$(find "/proc/$DPID/fd" -mindepth 1 -maxdepth 1 | wc -l)
		[ "$f" -ge $((f0 + HOLD_N)) ] && break
		kill -0 "$BPID" 2>/dev/null || break
		sleep 0.1
	done
	sleep 1
	rss1=$(rss_kb)
	kill -TERM "$BPID" 2>/dev/null # ends the hold early; it still checks and reports
	wait "$BPID" 2>/dev/null
	BPID=""
	out=$(cat "$DIR/hold.out")
	held=$(jnum held "$out")
	stop_daemon
	local per="-" note="VmRSS $rss0 -> $rss1 KiB"
	[ -n "$held" ] && [ "$held" -gt 0 ] &&
		per=$(awk -v a="$rss0" -v b="$rss1" -v n="$held" 'BEGIN { printf "%.2f", (b - a) / n }')
	[ "${held:-0}" != "$HOLD_N" ] && note="$note; held ${held:-0} of $HOLD_N"
	row "| $label | - | - | - | - | - | - | - | $per | $note |"
	echo "  $label: $note, $out" >&2
}

echo "run.sh: $UDSRPCD, ${DUR}s per row, udsrpc-bench -w $WORKERS" >&2
start_daemon
"$UDSRPC_BENCH" -s "$SOCK" -c 50 -w "$WORKERS" -P 4 -d 0.5 -q >/dev/null 2>&1 # warm up
"$UDSRPC_BENCH" -s "$SOCK" -n 1 -c 1 -m config.set -p '{"key":"bench/key","value":"some value"}' -q \
	>/dev/null 2>&1 || echo "run.sh: config.set failed; the config.get row will show errors" >&2

measure "ping, 1 client" -c 1
measure "ping, 50 clients" -c 50
measure "ping, 50 clients x depth 32" -c 50 -P 32
measure "echo 1 KiB, 50 clients" -c 50 --size 1024
measure "echo 64 KiB, 50 clients" -c 50 --size 65536
measure "config.get, 50 clients" -c 50 -m config.get -p '{"key":"bench/key"}'
stop_daemon

printf '{"limits":{"max_connections":%d}}\n' $((HOLD_N + 100)) >"$DIR/hold.json"
hold "idle connections: $HOLD_N held"

echo
echo "udsrpcd benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, ${DUR}s per row, client udsrpc-bench -w $WORKERS"
echo
echo "| test | requests | rps | p50 µs | p99 µs | p99.9 µs | errors | server CPU µs/req | RSS KiB/conn | note |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
printf '%s' "$ROWS"
