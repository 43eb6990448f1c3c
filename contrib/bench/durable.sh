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
# Also durable config.txn (K sets in one transaction, one record, one
# fdatasync per group) in the same rounds as the sets at 50 writers, its
# ratio to them, and the fdatasync calls per transaction at 1 writer counted
# by strace -c (the committer's calls only; the zeroed tail adds one per MiB).
#
# Usage: contrib/bench/durable.sh            (from anywhere; ~1 min with the defaults)
# Env:   UDSRPCD   the daemon binary (default: BUILD/daemon/udsrpcd; use a Release build)
#        BUILD     build dir (default: <repo>/build)
#        DUR       seconds per run (default 2)
#        ROUNDS    runs per server and row, interleaved; the table shows the
#                  median and the range (default 5: this VM's speed drifts)
#        TXN_OPS   sets per config.txn (default 10)
#        FSYNC_N   transactions of the strace row (default 300; 0: no row)
#        CPU_N     requests per CPU row (default 200000)
#        DURABLE_DIR  parent of the temp dir (default /var/tmp; tmpfs is refused)
# Output: one markdown table on stdout; progress on stderr. Exit 1 on setup
# failure or when a run had errors.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
UDSRPCD=${UDSRPCD:-$BUILD/daemon/udsrpcd}
DUR=${DUR:-2}
ROUNDS=${ROUNDS:-5}
TXN_OPS=${TXN_OPS:-10}
FSYNC_N=${FSYNC_N:-300}
CPU_N=${CPU_N:-200000}
PARENT=${DURABLE_DIR:-/var/tmp}

NAME=durable.sh
PIDS=()
. "$ROOT/contrib/bench/lib.sh"

[ -x "$UDSRPCD" ] || die "no udsrpcd at $UDSRPCD; build it (cmake -S . -B build && cmake --build build) or set UDSRPCD"
command -v redis-server >/dev/null || die "redis-server not found; apt-get install -y redis-server"
if ldd "$UDSRPCD" 2>/dev/null | grep -q libasan; then
	echo "durable.sh: warning: $UDSRPCD is a sanitizer build; its numbers mean little" >&2
fi
bench_dir "$PARENT" DURABLE_DIR

# Both stores in subdirectories of one temp dir: the same filesystem and disk.
USOCK=$DIR/udsrpcd.sock
RSOCK=$DIR/redis.sock
mkdir -p "$DIR/redis"
"$UDSRPCD" -s "$USOCK" -S "$DIR/udsrpcd-state" -l warning 2>"$DIR/udsrpcd.log" &
UPID=$!
PIDS+=("$UPID")
redis-server --port 0 --unixsocket "$RSOCK" --unixsocketperm 700 --dir "$DIR/redis" \
	--appendonly yes --appendfsync always --save '' --daemonize no \
	--logfile "$DIR/redis.log" &
RPID=$!
PIDS+=("$RPID")

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
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
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
run --udsrpc "$USOCK" "$UPID" -c 50 -n 500 -m txn --ops "$TXN_OPS"
run --redis "$RSOCK" "$RPID" -c 50 -n 2000 -m set

# median_range VALUES...: "median (min–max)"
median_range() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.0f (%.0f–%.0f)", m, v[1], v[NR] }'
}
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

ROWS=""
TXN_ROW=""
for w in 1 50; do
	echo "writers=$w, $ROUNDS rounds of $DUR s" >&2
	us=() rs=() ts=() uc=() rc=() tc=()
	for round in $(seq "$ROUNDS"); do
		# Alternate who goes first: neither always gets the fresher page cache.
		order="u r"
		[ $((round % 2)) -eq 1 ] || order="r u"
		[ "$w" -eq 1 ] || order+=" t"
		for who in $order; do
			case $who in
			u) run --udsrpc "$USOCK" "$UPID" -c "$w" -d "$DUR" -m set
				us+=("$(field rps)") uc+=("$(field server_us_per_req)") ;;
			r) run --redis "$RSOCK" "$RPID" -c "$w" -d "$DUR" -m set
				rs+=("$(field rps)") rc+=("$(field server_us_per_req)") ;;
			t) run --udsrpc "$USOCK" "$UPID" -c "$w" -d "$DUR" -m txn --ops "$TXN_OPS"
				ts+=("$(field rps)") tc+=("$(field server_us_per_req)") ;;
			esac
		done
	done
	ratio=$(awk -v u="$(median "${us[@]}")" -v r="$(median "${rs[@]}")" \
		'BEGIN { printf (r > 0 ? "%.2f" : "-"), u / r }')
	target=$([ "$w" -eq 1 ] && echo 1.00 || echo 1.20)
	ROWS+="| $w | $(median_range "${us[@]}") | $(median_range "${rs[@]}") | $ratio | ≥ $target | $(median "${uc[@]}") | $(median "${rc[@]}") |"$'\n'
	if [ "$w" -ne 1 ]; then
		tratio=$(awk -v t="$(median "${ts[@]}")" -v u="$(median "${us[@]}")" \
			'BEGIN { printf (u > 0 ? "%.2f" : "-"), t / u }')
		TXN_ROW="| $w | $(median_range "${ts[@]}") | $(median "${us[@]}") | $tratio | $(median "${tc[@]}") | $(median "${uc[@]}") |"
	fi
done

# fdatasync calls per transaction, one writer: each transaction its own group.
FSYNC_ROW=""
if [ "$FSYNC_N" -gt 0 ] && command -v strace >/dev/null; then
	echo "strace -c -e fdatasync: $FSYNC_N transactions, 1 writer" >&2
	strace -f -c -e trace=fdatasync -o "$DIR/strace.txt" -p "$UPID" 2>/dev/null &
	SPID=$!
	sleep 0.5 # attached to every thread before the first transaction
	run --udsrpc "$USOCK" "$UPID" -c 1 -n "$FSYNC_N" -m txn --ops "$TXN_OPS"
	txns=$(field requests)
	kill -INT "$SPID" 2>/dev/null
	wait "$SPID" 2>/dev/null
	calls=$(awk '$NF == "fdatasync" { print $4 }' "$DIR/strace.txt")
	FSYNC_ROW="| $txns | ${calls:--} | $(awk -v c="${calls:-0}" -v t="$txns" 'BEGIN { printf (t > 0 ? "%.2f" : "-"), c / t }') |"
fi

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
echo "- load average before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared: read the ratios, not the absolute rates)"
echo "- client: contrib/bench/durload.c, one process, sequential request/reply per connection; runs of $DUR s, 32-byte string values, one key per connection ($TXN_OPS per connection for config.txn)"
echo "- sets/s: median of $ROUNDS interleaved runs (min–max); ratio = udsrpcd / redis medians; CPU µs = the server's utime+stime (/proc/PID/stat, all threads, 10 ms ticks) per request, median"
[ $FAILED -eq 0 ] || echo "- **some runs had errors: see stderr**"
echo
echo "| writers | udsrpcd sets/s | redis sets/s | ratio | target | udsrpcd CPU µs/set | redis CPU µs/set |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
printf '%s' "$ROWS"
echo
echo "| writers | udsrpcd config.txn/s ($TXN_OPS sets each) | udsrpcd sets/s, same rounds | txn/s ÷ sets/s (target ≥ 0.80) | CPU µs/txn | CPU µs/set |"
echo "|---:|---:|---:|---:|---:|---:|"
echo "$TXN_ROW"
if [ -n "$FSYNC_ROW" ]; then
	echo
	echo "| config.txn, 1 writer | fdatasync calls (strace -c) | per txn (target 1) |"
	echo "|---:|---:|---:|"
	echo "$FSYNC_ROW"
fi
echo
echo "| udsrpcd server CPU, $CPU_N requests, 50 conns | µs/req | ticks |"
echo "|---|---:|---:|"
echo "| ping | $ping_us | $ping_ticks |"
echo "| config.get | $get_us | $get_ticks |"
echo "| config.get / ping (target ≤ 1.20) | $cpu_ratio | |"
exit $FAILED
