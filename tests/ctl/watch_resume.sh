#!/bin/bash
# watch_resume.sh — udsrpcctl watch config --prefix/--after-revision/--reconnect: a watch that
# resumes across a daemon restart and a slow-reader cut-off, and says so when the history is gone.
. "$(dirname "$0")/lib.sh"

# until FILE has N lines (at most 10 s)
await_lines() {
	for _ in $(seq 1 200); do
		[ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	echo "$1: fewer than $2 lines after 10 s" >&2
	return 1
}
# drain_watch OUT N: read the watch W's pipe (fd 3) into OUT until N lines (at
# most 10 s) and a little after (a repeat would come then), then stop W.
drain_watch() {
	local r
	cat <&3 >"$1" &
	r=$!
	for _ in $(seq 1 200); do
		[ "$(wc -l <"$1")" -ge "$2" ] && break
		sleep 0.05
	done
	sleep 0.2
	kill -TERM "$W"
	wait "$W" || true
	exec 3>&-
	kill "$r" 2>/dev/null || true
	wait "$r" 2>/dev/null || true
}
# keys and revisions of the watch's lines, one "KEY REV" each
keys_revs() {
	sed -E 's/.*"key":"([^"]*)","revision":([0-9]+).*/\1 \2/' "$1"
}

start_daemon
ctl set app/a 1
ctl set other 2

# ---- --after-revision 0 --prefix app/ --reconnect, across a restart ----
"$CTL" -s "$SOCK" watch config --prefix app/ --after-revision 0 --reconnect \
	>"$DIR/w.out" 2>"$DIR/w.err" &
W=$!
await_lines "$DIR/w.out" 1
ctl set app/b 3
await_lines "$DIR/w.out" 2
stop_daemon
check "daemon stopped cleanly" 0 "$STATUS"
start_daemon
ctl set app/c 4
ctl set other 5
ctl set app/d 6
await_lines "$DIR/w.out" 4
check "watch still running after the restart" yes "$(kill -0 "$W" 2>/dev/null && echo yes || echo no)"
kill -TERM "$W"
WS=0
wait "$W" || WS=$?
check "watch --reconnect: SIGTERM ends it with 0" 0 "$WS"
check "replayed, then live, then resumed after the restart: app/ keys once each, in order" \
	"$(printf '%s\n' "app/a 1" "app/b 3" "app/c 4" "app/d 6")" "$(keys_revs "$DIR/w.out")"
like "stderr says it reconnects" "reconnecting to resume" "$(cat "$DIR/w.err")"

# ---- a slow reader: cut off by the daemon with a notice, resumed, nothing lost ----
stop_daemon
echo '{"limits":{"max_output_bytes":65536}}' >"$DIR/small-output.json"
start_daemon -c "$DIR/small-output.json"
N0=$(rpc '{"jsonrpc":"2.0","id":1,"method":"config.list","params":{"keys_only":true}}' |
	sed -E 's/.*"revision":([0-9]+),"more".*/\1/')
mkfifo "$DIR/pipe"
# The watch writes into a pipe nobody reads yet: its socket backs up, the daemon cuts it off.
"$CTL" -s "$SOCK" watch config --prefix big --after-revision "$N0" --reconnect \
	>"$DIR/pipe" 2>"$DIR/w2.err" &
W=$!
exec 3<>"$DIR/pipe"
VAL=$(head -c 8192 /dev/zero | tr '\0' v)
for _ in $(seq 1 100); do ctl set big "$VAL"; done
# Now read it all.
drain_watch "$DIR/w2.out" 100
check "slow reader: all 100 changes, each once, in order" \
	"$(seq $((N0 + 1)) $((N0 + 100)) | tr '\n' ' ')" \
	"$(keys_revs "$DIR/w2.out" | awk '{printf "%s ", $2}')"
like "slow reader: cut off and resumed" "cut off as a slow reader after revision [0-9]+; resuming" \
	"$(cat "$DIR/w2.err")"
check "slow reader: the notice itself is not printed as a change" 0 \
	"$(grep -c overflow "$DIR/w2.out" || true)"

# ---- cut off in the middle of a transaction's events: resumed before it, none twice ----
# 20 transactions of 20 keys of 2 KiB (40 KiB each, under max_output_bytes, so a
# replayed one fits): the cut falls inside one, the notice names the revision
# before it, and the events of it printed before the cut are not printed again.
# txn_cut NAME WATCH-COMMAND...: the watch (resuming after the current revision)
# writes into a pipe nobody reads until all 20 are committed.
txn_cut() {
	local name=$1 n0 k r
	shift
	n0=$(rpc '{"jsonrpc":"2.0","id":1,"method":"config.list","params":{"keys_only":true}}' |
		sed -E 's/.*"revision":([0-9]+),"more".*/\1/')
	rm -f "$DIR/pipe3"
	mkfifo "$DIR/pipe3"
	"$@" --after-revision "$n0" >"$DIR/pipe3" 2>"$DIR/w3.err" &
	W=$!
	exec 3<>"$DIR/pipe3"
	sleep 0.3 # subscribed before the changes: a replay would not overflow
	for _ in $(seq 1 20); do
		OPS=""
		for k in $(seq -w 0 19); do OPS="$OPS${OPS:+,}{\"op\":\"set\",\"key\":\"tx/$k\",\"value\":\"$VAL\"}"; done
		ctl call config.txn "{\"success\":[$OPS]}"
		[ "$RC" = 0 ] || echo "config.txn: $RC $ERR" >&2
	done
	drain_watch "$DIR/w3.out" 400
	check "$name, cut inside a transaction: all 400 events, each (key, revision) once, in order" \
		"$(for r in $(seq $((n0 + 1)) $((n0 + 20))); do for k in $(seq -w 0 19); do echo "tx/$k $r"; done; done)" \
		"$(keys_revs "$DIR/w3.out" | grep '^tx/')"
	echo "# $name: first event at revision $((n0 + 1)); stderr: $(tr '\n' ' ' <"$DIR/w3.err")"
}
VAL=$(head -c 2048 /dev/zero | tr '\0' t)
txn_cut "udsrpcctl watch" "$CTL" -s "$SOCK" watch config --prefix tx/ --reconnect
like "udsrpcctl watch, cut inside a transaction: cut off and resumed" \
	"cut off as a slow reader after revision [0-9]+; resuming" "$(cat "$DIR/w3.err")"
if command -v python3 >/dev/null; then
	txn_cut "udsrpc.py watch" python3 "$UDSRPC_SOURCE_DIR/contrib/examples/udsrpc.py" -s "$SOCK" \
		watch --prefix tx/ --reconnect
else
	echo "# udsrpc.py watch: skipped, python3 is not installed"
fi

# ---- one revision bigger than max_output_bytes: an error, not a reconnect loop ----
# A restore of 40 keys of 4 KiB (160 KiB of events, over the daemon's 64 KiB) is
# one revision: every replay is cut inside it and the notice names the revision
# before it again. The watch must stop with exit 1 and say why, within the bound.
N1=$(rpc '{"jsonrpc":"2.0","id":1,"method":"config.list","params":{"keys_only":true}}' |
	sed -E 's/.*"revision":([0-9]+),"more".*/\1/')
VAL=$(head -c 4096 /dev/zero | tr '\0' r)
ITEMS=""
for k in $(seq -w 0 39); do ITEMS="$ITEMS${ITEMS:+,}{\"key\":\"huge/$k\",\"value\":\"$VAL\"}"; done
# (rpc, not ctl call: 160 KiB is over what one argument of a command may be)
like "huge revision: restored as one revision" '"count":40' \
	"$(rpc "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"config.restore\",\"params\":{\"items\":[$ITEMS],\"mode\":\"merge\"}}")"
HUGE_MSG="revision $((N1 + 1))'s events are more than the daemon's max_output_bytes sends a subscriber \\(cut off twice after revision $N1\\); raise limits.max_output_bytes or list the store again"
T0=$(date +%s)
WS=0
timeout 30 "$CTL" -s "$SOCK" watch config --after-revision "$N1" --reconnect \
	>"$DIR/w4.out" 2>"$DIR/w4.err" || WS=$?
echo "# udsrpcctl watch, huge revision: exit $WS after $(($(date +%s) - T0)) s, $(wc -l <"$DIR/w4.out") events printed; stderr: $(tr '\n' ' ' <"$DIR/w4.err")"
check "huge revision: udsrpcctl watch --reconnect ends with exit 1 (not 124: no loop)" 1 "$WS"
like "huge revision: udsrpcctl says which revision and what to do" "$HUGE_MSG" "$(cat "$DIR/w4.err")"
check "huge revision: no event printed twice" "" "$(keys_revs "$DIR/w4.out" | sort | uniq -d)"
if command -v python3 >/dev/null; then
	WS=0
	timeout 30 python3 - "$UDSRPC_SOURCE_DIR/contrib/examples" "$SOCK" "$N1" >"$DIR/w5.out" 2>&1 <<'PY' || WS=$?
import sys
sys.path.insert(0, sys.argv[1])
import udsrpc
try:
    for _ in udsrpc.watch(sys.argv[2], after_revision=int(sys.argv[3]), reconnect=True):
        pass
except udsrpc.WatchStuck as e:
    print("WatchStuck: %s" % e)
    sys.exit(7)
PY
	echo "# udsrpc.py watch, huge revision: exit $WS; $(tr '\n' ' ' <"$DIR/w5.out")"
	check "huge revision: udsrpc.watch(reconnect=True) raises WatchStuck" 7 "$WS"
	like "huge revision: WatchStuck says which revision and what to do" "$HUGE_MSG" "$(cat "$DIR/w5.out")"
else
	echo "# udsrpc.py watch, huge revision: skipped, python3 is not installed"
fi

# ---- the history no longer has it: said on stderr, exit 1 ----
stop_daemon
echo '{"limits":{"history_revisions":2}}' >"$DIR/short-history.json"
start_daemon -c "$DIR/short-history.json"
ctl watch config --after-revision 1 --reconnect
check "compacted: exit 1" 1 "$RC"
like "compacted: stderr says where the history starts and what to do" \
	"History compacted \\(code -32015\\): the history keeps only changes after revision [0-9]+; list again" \
	"$ERR"

# ---- usage ----
ctl watch config --after-revision -1
check "--after-revision -1: usage error" 2 "$RC"
ctl get k --after-revision 3
check "--after-revision on get: usage error" 2 "$RC"
finish
