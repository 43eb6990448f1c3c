#!/usr/bin/env bash
# store.sh — the config store at size (issue 16 targets): a restore of KEYS
# keys (one revision, one fdatasync, its wall time), what they cost in
# memory (VmRSS growth of the daemon over the bytes stored, also with the
# event history at its smallest, to tell the store's part), and config.list
# paged by PAGE against config.get (the daemon's CPU per listed item over
# its CPU per get request).
#
# Usage: contrib/bench/store.sh            (from anywhere; ~20 s with the defaults)
# Env:   UDSRPCD, UDSRPCCTL  the binaries (default: BUILD/daemon/udsrpcd, BUILD/ctl/udsrpcctl;
#                  use a Release build)
#        BUILD     build dir (default: <repo>/build)
#        KEYS      keys restored (default 100000), VALUE_BYTES their string values (64)
#        PAGE      config.list limit (default 1000)
#        PASSES    times the whole store is listed page by page (default 5)
#        GET_N     config.get requests (default 200000)
#        STORE_DIR parent of the temp dir (default /var/tmp; tmpfs is refused)
# Stored bytes are counted as the quotas count them: key plus the compact
# JSON value (max_store_bytes, udsrpc(7)). CPU is utime+stime of
# /proc/PID/stat (all threads, 10 ms ticks); the tick count is printed so
# that a figure of few ticks is read as such. fdatasync/fsync calls of the
# restore come from strace -f -c on the daemon (its committer): compaction
# after a log this big adds fsyncs of its own (snapshot, directory, log),
# which are counted apart.
# Output: markdown rows on stdout; progress on stderr. Exit 1 on failure.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
UDSRPCD=${UDSRPCD:-$BUILD/daemon/udsrpcd}
UDSRPCCTL=${UDSRPCCTL:-$BUILD/ctl/udsrpcctl}
KEYS=${KEYS:-100000}
VALUE_BYTES=${VALUE_BYTES:-64}
PAGE=${PAGE:-1000}
PASSES=${PASSES:-5}
GET_N=${GET_N:-200000}
PARENT=${STORE_DIR:-/var/tmp}

NAME=store.sh
PIDS=()
. "$ROOT/contrib/bench/lib.sh"

for b in "$UDSRPCD" "$UDSRPCCTL"; do
	[ -x "$b" ] || die "no $b; build it (cmake -S . -B build && cmake --build build) or set BUILD"
done
command -v python3 >/dev/null || die "python3 not found (the paging client)"
bench_dir "$PARENT" STORE_DIR
SPID=""

# The restore is one request of KEYS items: the message limit must hold it, the
# key quota them and the one key of the config.get row.
printf '{"limits": {"max_message_bytes": 1073741824, "max_keys": %d}}\n' $((KEYS + 1)) >"$DIR/udsrpcd.json"
# The same with the event history at its smallest (history_bytes 4096): the
# store's own memory, apart from the history's (up to 16 MiB by default).
printf '{"limits": {"max_message_bytes": 1073741824, "max_keys": %d, "history_bytes": 4096}}\n' \
	$((KEYS + 1)) >"$DIR/nohist.json"
# start_daemon NAME [CONFIG]: a fresh daemon with its own state dir; sets UPID and SOCK.
start_daemon() {
	SOCK=$DIR/$1.sock
	"$UDSRPCD" -c "${2:-$DIR/udsrpcd.json}" -s "$SOCK" -S "$DIR/$1.state" -l warning 2>"$DIR/$1.log" &
	UPID=$!
	PIDS+=("$UPID")
	for _ in $(seq 100); do
		kill -0 "$UPID" 2>/dev/null || die "udsrpcd exited at start: $(tail -5 "$DIR/$1.log")"
		"$UDSRPCCTL" -s "$SOCK" -q ping >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	die "udsrpcd did not answer on $SOCK within 5 s"
}
# A restore of all the keys can take seconds on a loaded machine: past udsrpcctl's 5 s default.
ctl() { "$UDSRPCCTL" -s "$SOCK" -t 120000 "$@"; }
warm() { # one change made and undone: files open, the first allocations done
	ctl -q set bench/warm 1 >/dev/null || die "a set failed"
	ctl -q unset bench/warm >/dev/null || die "an unset failed"
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$UPID/status"; }
ticks() { # utime+stime of the daemon; comm may hold spaces
	sed 's/.*) //' "/proc/$UPID/stat" | awk '{ print $12 + $13 }'
}
revision() { ctl call config.list '{"limit":1,"keys_only":true}' | sed -n 's/.*"revision":\([0-9]*\).*/\1/p' | tail -1; }

# The items: keys bench/k/NNNNNNN, string values of VALUE_BYTES characters.
awk -v n="$KEYS" -v vb="$VALUE_BYTES" 'BEGIN {
	v = sprintf("%*s", vb, ""); gsub(/ /, "v", v)
	for (i = 0; i < n; i++) printf "{\"key\":\"bench/k/%07d\",\"value\":\"%s\"}\n", i, v
}' >"$DIR/items.ndjson"
# Bytes stored: key + compact value (the value's two quotes included).
STORED=$(awk -v n="$KEYS" -v vb="$VALUE_BYTES" 'BEGIN { printf "%d", n * (length("bench/k/0000000") + vb + 2) }')

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# Memory: the store's own cost, loaded by merges of 1000 keys each (what one
# request leaves behind is reused by the next, so the growth is the store's,
# not one huge request's): VmRSS growth over the bytes stored.
split -l 1000 -d -a 4 "$DIR/items.ndjson" "$DIR/part."
# merged NAME [CONFIG]: a fresh daemon given every part; sets RSS_BEFORE and RSS_AFTER (KiB).
merged() {
	start_daemon "$@"
	warm
	RSS_BEFORE=$(rss_kib)
	for f in "$DIR"/part.*; do
		ctl -q restore --merge "$f" >/dev/null || die "restore --merge $f failed"
	done
	RSS_AFTER=$(rss_kib)
	stop_pid "$UPID"
}
echo "memory: $KEYS keys by restore --merge of 1000 each" >&2
merged mem
MRSS0=$RSS_BEFORE MRSS1=$RSS_AFTER
echo "memory: the same, history_bytes 4096" >&2
merged nohist "$DIR/nohist.json"
NRSS0=$RSS_BEFORE NRSS1=$RSS_AFTER
rm -f "$DIR"/part.*

# The rest on a fresh daemon: the restore as one request.
start_daemon main
warm
RSS0=$(rss_kib)
REV0=$(revision)
R0=$(ticks)

echo "restore: $KEYS keys, under strace -c (fdatasync, fsync)" >&2
STRACE_OK=0
if command -v strace >/dev/null; then
	strace -f --seccomp-bpf -c -e trace=fdatasync,fsync -o "$DIR/strace.txt" -p "$UPID" 2>/dev/null &
	SPID=$!
	PIDS+=("$SPID")
	sleep 0.5 # attached to every thread first
	STRACE_OK=1
fi
TIMEFORMAT='%R %U %S'
{ time ctl restore "$DIR/items.ndjson" >"$DIR/restore.out" 2>&1; } 2>"$DIR/restore.time" ||
	die "restore failed: $(cat "$DIR/restore.out")"
RESTORED=$(cat "$DIR/restore.out")
read -r RWALL RUSER RSYS <"$DIR/restore.time"
R1=$(ticks)
REV1=$(revision)
sleep 0.5 # a compaction after the restore finishes
if [ $STRACE_OK -eq 1 ]; then
	kill -INT "$SPID" 2>/dev/null
	wait "$SPID" 2>/dev/null
	SPID=""
fi
syscalls() { awk -v s="$1" '$NF == s { print $4 }' "$DIR/strace.txt" 2>/dev/null; }
FDATASYNC=$(syscalls fdatasync)
FSYNC=$(syscalls fsync)
RSS1=$(rss_kib)
echo "  $RESTORED; revision $REV0 -> $REV1; fdatasync ${FDATASYNC:-0}, fsync ${FSYNC:-0}" >&2

# config.list page by page, PASSES times over the whole store, one connection.
echo "config.list: $PASSES passes, pages of $PAGE" >&2
cat >"$DIR/pages.py" <<'EOF'
import json, socket, sys
sock, page, passes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sock)
f = s.makefile("rb")
items = pages = rid = 0
for _ in range(passes):
    after = None
    while True:
        rid += 1
        p = {"limit": page}
        if after is not None:
            p["after"] = after
        s.sendall(json.dumps({"jsonrpc": "2.0", "id": rid, "method": "config.list", "params": p}).encode() + b"\n")
        r = json.loads(f.readline())["result"]
        pages += 1
        items += len(r["items"])
        if not r["more"]:
            break
        after = r["items"][-1]["key"]
print(items, pages)
EOF
L0=$(ticks)
read -r ITEMS PAGES < <(python3 "$DIR/pages.py" "$SOCK" "$PAGE" "$PASSES") || die "the paging client failed"
L1=$(ticks)
[ "${ITEMS:-0}" -eq $((KEYS * PASSES)) ] || die "listed ${ITEMS:-0} items, not $((KEYS * PASSES))"

echo "config.get: $GET_N requests, 50 connections" >&2
GET_OUT=$("$LOAD" -s "$SOCK" --udsrpc -m set -c 1 -n 1 -T 10 && "$LOAD" -s "$SOCK" --udsrpc -m get -c 50 -n "$GET_N" --pid "$UPID" -T 120) ||
	die "config.get runs failed: $GET_OUT"
echo "  $GET_OUT" >&2
GET_TICKS=$(sed -n 's/.*server_ticks=\([0-9]*\).*/\1/p' <<<"$GET_OUT" | tail -1)
GET_US=$(sed -n 's/.*server_us_per_req=\([0-9.]*\).*/\1/p' <<<"$GET_OUT" | tail -1)

HZ=$(getconf CLK_TCK)
awk -v wall="$RWALL" -v cu="$RUSER" -v cs="$RSYS" -v rt=$((R1 - R0)) \
	-v m0="$MRSS0" -v m1="$MRSS1" -v n0="$NRSS0" -v n1="$NRSS1" -v r0="$REV0" -v r1="$REV1" -v fd="${FDATASYNC:-0}" -v fs="${FSYNC:-0}" \
	-v keys="$KEYS" -v st="$STRACE_OK" -v rss0="$RSS0" -v rss1="$RSS1" -v stored="$STORED" \
	-v vb="$VALUE_BYTES" -v lt=$((L1 - L0)) -v items="$ITEMS" -v pages="$PAGES" -v hz="$HZ" \
	-v gt="$GET_TICKS" -v gus="$GET_US" -v page="$PAGE" -v load0="$LOAD_BEFORE" \
	-v load1="$(cut -d' ' -f1-3 /proc/loadavg)" -v fstype="$FSTYPE" -v date="$(date -u '+%Y-%m-%d %H:%M:%S UTC')" 'BEGIN {
	printf "# config store at %d keys: restore, memory, paging\n\n", keys
	printf "- %s; state dir on %s; load average before: %s, after: %s\n\n", date, fstype, load0, load1
	printf "| row | measured | target |\n|---|---:|---:|\n"
	printf "| restore of %d keys: wall time (udsrpcctl restore) | %.2f s | < 2 s |\n", keys, wall
	printf "| restore: CPU of udsrpcctl, of the daemon | %.2f s, %.2f s | |\n", cu + cs, rt / hz
	printf "| restore: revisions it raised | %d | 1 |\n", r1 - r0
	if (st) {
		printf "| restore: fdatasync calls (strace -c) | %d | 1 |\n", fd
		printf "| restore: fsync calls (the compaction it set off) | %d | |\n", fs
	}
	printf "| restore: VmRSS before, after (one request of all of them) | %d KiB, %d KiB | |\n", rss0, rss1
	printf "| memory: stored bytes (%d keys + %d-byte values) | %d | |\n", keys, vb, stored
	printf "| memory: VmRSS before, after (merges of 1000) | %d KiB, %d KiB | |\n", m0, m1
	printf "| memory: VmRSS growth / stored bytes | %.2f | ≤ 2.5 |\n", (m1 - m0) * 1024 / stored
	printf "| memory: VmRSS growth per key, default history / history_bytes 4096 | %d B, %d B | |\n", (m1 - m0) * 1024 / keys, (n1 - n0) * 1024 / keys
	printf "| memory: the same / stored bytes, history_bytes 4096 (the store alone) | %.2f | |\n", (n1 - n0) * 1024 / stored
	printf "| memory: the event history'"'"'s part per key (default less history_bytes 4096) | %d B | |\n", ((m1 - m0) - (n1 - n0)) * 1024 / keys
	per_item = lt * 1e6 / hz / items
	printf "| config.list: %d items in %d pages of %d, daemon CPU | %d ticks, %.3f µs/item | |\n", items, pages, page, lt, per_item
	printf "| config.get: daemon CPU per request (50 conns) | %d ticks, %.2f µs/req | |\n", gt, gus
	printf "| config.list µs/item ÷ config.get µs/req | %.2f | ≤ 2 |\n", (gus > 0 ? per_item / gus : 0)
}'
