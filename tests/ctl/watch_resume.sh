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
cat <&3 >"$DIR/w2.out" &
R=$!
for _ in $(seq 1 200); do
	[ "$(wc -l <"$DIR/w2.out")" -ge 100 ] && break
	sleep 0.05
done
kill -TERM "$W"
wait "$W" || true
exec 3>&-
kill "$R" 2>/dev/null || true
wait "$R" 2>/dev/null || true
check "slow reader: all 100 changes, each once, in order" \
	"$(seq $((N0 + 1)) $((N0 + 100)) | tr '\n' ' ')" \
	"$(keys_revs "$DIR/w2.out" | awk '{printf "%s ", $2}')"
like "slow reader: cut off and resumed" "cut off as a slow reader after revision [0-9]+; resuming" \
	"$(cat "$DIR/w2.err")"
check "slow reader: the notice itself is not printed as a change" 0 \
	"$(grep -c overflow "$DIR/w2.out" || true)"

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
