#!/usr/bin/env bash
# durable.sh — durable config.set throughput of udsrpcd against Redis 7 with
# appendonly yes + appendfsync always (fdatasync before replying), both on
# the same real disk, both driven by the same client (contrib/bench/durload.c:
# one process, N sequential connections over epoll; NDJSON config.set to
# udsrpcd, RESP SET to Redis, same value size), at 1 and 50 concurrent
# writers. Also the daemon's CPU per request for config.get against ping
# (utime+stime of /proc/PID/stat over a fixed count of requests).
#
# Why our own client and not redis-benchmark: redis-benchmark cannot speak
# NDJSON, and the yardstick's ndload cannot send RESP SET; a different client
# per server would measure the clients too.
#
# Usage: contrib/bench/durable.sh            (from anywhere; takes ~10-30 s)
# Env:   UDSRPCD   the daemon binary (default: BUILD/daemon/udsrpcd)
#        BUILD     build dir (default: <repo>/build)
#        N         sets per run (default 20000)
#        ROUNDS    runs per server and row, interleaved; the table shows the
#                  median and the range (default 3: this VM's speed drifts)
#        CPU_N     requests per CPU row (default 200000)
#        DURABLE_DIR  parent of the temp dir (default /var/tmp; tmpfs is refused)
# Output: one markdown table on stdout; progress on stderr. Exit 1 on setup
# failure or when a run had errors.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
UDSRPCD=${UDSRPCD:-$BUILD/daemon/udsrpcd}
N=${N:-20000}
ROUNDS=${ROUNDS:-3}
CPU_N=${CPU_N:-200000}
PARENT=${DURABLE_DIR:-/var/tmp}

die() { echo "durable.sh: $*" >&2; exit 1; }

[ -x "$UDSRPCD" ] || die "no udsrpcd at $UDSRPCD; build it (cmake -S . -B build && cmake --build build) or set UDSRPCD"
command -v redis-server >/dev/null || die "redis-server not found; apt-get install -y redis-server"
command -v cc >/dev/null || die "no C compiler; apt-get install -y gcc"
if ldd "$UDSRPCD" 2>/dev/null | grep -q libasan; then
	echo "durable.sh: warning: $UDSRPCD is a sanitizer build; its numbers mean little" >&2
fi

DIR=$(mktemp -d "$PARENT/udsrpc-durable.XXXXXX") || die "cannot make a temp dir in $PARENT"
UPID=""
RPID=""
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
cleanup() {
	stop_pid "$UPID"
	stop_pid "$RPID"
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# fsync on tmpfs is a no-op: the comparison would be of two memory stores.
FSTYPE=$(df --output=fstype "$DIR" | tail -1 | tr -d ' ')
case $FSTYPE in
tmpfs | ramfs) die "$DIR is on $FSTYPE, where fsync does nothing; set DURABLE_DIR to a directory on a disk" ;;
esac
SOURCE=$(df --output=source "$DIR" | tail -1)

cc -O2 -Wall -Wextra -Werror -o "$DIR/durload" "$ROOT/contrib/bench/durload.c" ||
	die "cannot build contrib/bench/durload.c"
LOAD=$DIR/durload

# Both stores in subdirectories of one temp dir: the same filesystem and disk.
USOCK=$DIR/udsrpcd.sock
RSOCK=$DIR/redis.sock
mkdir -p "$DIR/redis"
"$UDSRPCD" -s "$USOCK" -S "$DIR/udsrpcd-state" -l warning 2>"$DIR/udsrpcd.log" &
UPID=$!
redis-server --port 0 --unixsocket "$RSOCK" --unixsocketperm 700 --dir "$DIR/redis" \
	--appendonly yes --appendfsync always --save '' --daemonize no \
	--logfile "$DIR/redis.log" &
RPID=$!

wait_ready() { # wait_ready PROTO SOCK PID NAME
	for _ in $(seq 100); do
		kill -0 "$3" 2>/dev/null || die "$4 exited at start:$(cat "$DIR"/*.log 2>/dev/null | tail -5)"
		"$LOAD" -s "$2" "$1" -n 1 -m ping -T 2 >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	die "$4 did not answer on $2 within 5 s"
}
wait_ready --udsrpc "$USOCK" "$UPID" udsrpcd
wait_ready --redis "$RSOCK" "$RPID" redis-server

FAILED=0
# run PROTO SOCK PID ARGS...: one durload run; prints its line on stderr, sets OUT.
run() {
	local proto=$1 sock=$2 pid=$3
	shift 3
	OUT=$("$LOAD" -s "$sock" "$proto" --pid "$pid" -T 300 "$@")
	local rc=$?
	echo "  ${proto#--} $*: $OUT" >&2
	[ $rc -eq 0 ] || FAILED=1
}
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$OUT"; }

# Warm-up: files allocated, caches hot, the key bench/0 exists for the get row.
echo "warm-up" >&2
run --udsrpc "$USOCK" "$UPID" -c 50 -n 2000 -m set
run --redis "$RSOCK" "$RPID" -c 50 -n 2000 -m set

# median_range VALUES...: "median (min–max)"
median_range() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.0f (%.0f–%.0f)", m, v[1], v[NR] }'
}
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

ROWS=""
for w in 1 50; do
	echo "writers=$w, $ROUNDS rounds of $N sets" >&2
	us=() rs=()
	for round in $(seq "$ROUNDS"); do
		# Alternate who goes first: neither always gets the fresher page cache.
		if [ $((round % 2)) -eq 1 ]; then
			run --udsrpc "$USOCK" "$UPID" -c "$w" -n "$N" -m set
			us+=("$(field rps)")
			run --redis "$RSOCK" "$RPID" -c "$w" -n "$N" -m set
			rs+=("$(field rps)")
		else
			run --redis "$RSOCK" "$RPID" -c "$w" -n "$N" -m set
			rs+=("$(field rps)")
			run --udsrpc "$USOCK" "$UPID" -c "$w" -n "$N" -m set
			us+=("$(field rps)")
		fi
	done
	ratio=$(awk -v u="$(median "${us[@]}")" -v r="$(median "${rs[@]}")" \
		'BEGIN { printf (r > 0 ? "%.2f" : "-"), u / r }')
	ROWS+="| $w | $(median_range "${us[@]}") | $(median_range "${rs[@]}") | $ratio |"$'\n'
done

# CPU per request: the same client, the same count, 50 connections so that
# per-request work (not one wake-up per request) dominates.
echo "server CPU: $CPU_N requests each" >&2
run --udsrpc "$USOCK" "$UPID" -c 50 -n "$CPU_N" -m ping
ping_us=$(field server_us_per_req)
ping_ticks=$(field server_ticks)
run --udsrpc "$USOCK" "$UPID" -c 50 -n "$CPU_N" -m get
get_us=$(field server_us_per_req)
get_ticks=$(field server_ticks)
cpu_ratio=$(awk -v g="$get_us" -v p="$ping_us" 'BEGIN { printf (p > 0 ? "%.2f" : "-"), g / p }')

echo "# durable config.set: udsrpcd vs Redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') (appendonly yes, appendfsync always)"
echo
echo "- $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs; both data dirs in $DIR on $FSTYPE ($SOURCE)"
echo "- client: contrib/bench/durload.c, one process, sequential request/reply per connection; $N sets per run, 32-byte string values, one key per connection"
echo "- sets/s: median of $ROUNDS interleaved runs (min–max); ratio = udsrpcd / redis medians"
[ $FAILED -eq 0 ] || echo "- **some runs had errors: see stderr**"
echo
echo "| writers | udsrpcd sets/s | redis sets/s | ratio |"
echo "|---:|---:|---:|---:|"
printf '%s' "$ROWS"
echo
echo "| udsrpcd server CPU, $CPU_N requests, 50 conns | µs/req | ticks |"
echo "|---|---:|---:|"
echo "| ping | $ping_us | $ping_ticks |"
echo "| config.get | $get_us | $get_ticks |"
echo "| config.get / ping (target ≤ 1.20) | $cpu_ratio | |"
exit $FAILED
