#!/bin/bash
# tests/soak/soak.sh — one udsrpcd under mixed load for SOAK_SECONDS (default
# 600): pings from udsrpc-bench (or a socat loop without it), durable config
# writes read back, watchers coming and going, SIGHUP every few seconds,
# clients killed mid-request. RSS and the descriptor count, sampled with the
# load paused after a warm-up and again at the end, must agree within 10%;
# every check along the way must pass; the daemon must then stop with 0.
#
#   ctest -L soak                         (from a build dir; not in contrib/dev.sh test)
#   SOAK_SECONDS=60 UDSRPCD=build/daemon/udsrpcd UDSRPC_BINARY_DIR=build bash tests/soak/soak.sh
#
# Workers stop on their own at the deadline; everything they start is waited
# for or killed by pid. Figures go to stdout; the daemon's log stays in the
# temp dir until exit.
. "$(dirname "$0")/../integration/lib.sh"

SOAK_SECONDS=${SOAK_SECONDS:-600}
WARMUP=$((SOAK_SECONDS / 10))
[ "$WARMUP" -lt 10 ] && WARMUP=10
[ "$WARMUP" -gt 60 ] && WARMUP=60
BIN=${UDSRPC_BINARY_DIR:-}/ctl
BENCH=$BIN/udsrpc-bench
CTL=$BIN/udsrpcctl
[ -x "$BENCH" ] || BENCH=""
[ -x "$CTL" ] || CTL=""
command -v socat >/dev/null || skip "socat is not installed"

LOG=$DIR/events # one line per check or action: "ok WHAT", "fail WHAT DETAIL", "act WHAT"
PAUSE=$DIR/pause
STOP=$DIR/stop
WORKERS=""

note() { echo "$*" >>"$LOG"; }
paused_wait() { while [ -e "$PAUSE" ] && [ ! -e "$STOP" ]; do sleep 0.1; done; }
running() { [ ! -e "$STOP" ]; }

# One request, one reply line (socat: no udsrpcctl needed).
call() { rpc "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\"${2:+,\"params\":$2}}"; }

current_connections() {
	call daemon.stats | grep -o '"current":[0-9]*' | head -n 1 | cut -d: -f2
}

bench_worker() {
	set +e # a failed step is a "fail" line, never the end of the worker
	while running; do
		paused_wait
		running || break
		if [ -n "$BENCH" ]; then
			# Steady pressure, not a benchmark: two cores are shared with the rest.
			out=$("$BENCH" -s "$SOCK" -c 4 -w 1 -P 2 -d 2 -q --json 2>&1) && rc=0 || rc=$?
			n=$(printf '%s' "$out" | grep -o '"requests":[0-9]*' | cut -d: -f2)
			e=$(printf '%s' "$out" | grep -o '"errors":[0-9]*' | cut -d: -f2)
			if [ "$rc" -eq 0 ] && [ "${e:-1}" -eq 0 ] && [ "${n:-0}" -gt 0 ]; then
				note "ok bench $n"
			else
				note "fail bench rc=$rc $out"
			fi
			sleep 1
		else
			n=$(for _ in $(seq 200); do echo '{"jsonrpc":"2.0","id":1,"method":"ping"}'; done |
				socat -t 5 -T 10 - "UNIX-CONNECT:$SOCK" | grep -c '"result":"pong"' || true)
			if [ "$n" -eq 200 ]; then note "ok bench 200"; else note "fail bench pongs=$n"; fi
		fi
	done
}

# A set is answered once durable: read it straight back; an unset leaves nothing.
writer_worker() {
	set +e # a failed step is a "fail" line, never the end of the worker
	i=0
	while running; do
		paused_wait
		running || break
		i=$((i + 1))
		key=soak/w$((i % 64))
		got=$(call config.set "{\"key\":\"$key\",\"value\":{\"i\":$i,\"pad\":\"$(printf '%*s' $((i % 200)) '' | tr ' ' x)\"}}")
		case $got in *'"revision":'*) note "ok set" ;; *) note "fail set $got" ;; esac
		got=$(call config.get "{\"key\":\"$key\"}")
		case $got in *"\"i\":$i,"*) note "ok get" ;; *) note "fail get $key want i=$i: $got" ;; esac
		if [ $((i % 7)) -eq 0 ]; then
			got=$(call config.unset "{\"key\":\"$key\"}")
			case $got in *'"revision":'*) note "ok unset" ;; *) note "fail unset $got" ;; esac
			got=$(call config.get "{\"key\":\"$key\"}")
			case $got in *'"code":-32010'*) note "ok gone" ;; *) note "fail gone $key: $got" ;; esac
		fi
	done
}

# Watchers subscribe, see some events, and leave: politely (--count) or killed.
watcher_worker() {
	set +e # a failed step is a "fail" line, never the end of the worker
	w=0
	while running; do
		paused_wait
		running || break
		w=$((w + 1))
		out=$DIR/watch.$w
		if [ -n "$CTL" ]; then
			"$CTL" -s "$SOCK" watch config daemon peer --count 3 >"$out" 2>&1 &
		else
			(echo '{"jsonrpc":"2.0","id":1,"method":"events.subscribe","params":{"topics":["config","daemon","peer"]}}'
				sleep 5) 2>/dev/null | socat - "UNIX-CONNECT:$SOCK" >"$out" 2>&1 &
		fi
		wpid=$!
		if [ $((w % 3)) -eq 0 ]; then
			sleep 0.$((RANDOM % 5 + 1))
			kill -KILL "$wpid" 2>/dev/null || true
			wait "$wpid" 2>/dev/null || true
			note "act watcher-killed"
		else
			for _ in $(seq 50); do kill -0 "$wpid" 2>/dev/null || break; sleep 0.1; done
			kill -TERM "$wpid" 2>/dev/null || true
			wait "$wpid" 2>/dev/null || true
			# The writer never stops while we are not paused: three events come
			# within the 5 s (config sets, peers coming and going, reloads).
			if [ "$(grep -c '"topic":"' "$out")" -ge 3 ]; then
				note "ok watcher"
			elif [ -e "$PAUSE" ] || [ -e "$STOP" ]; then
				note "act watcher-cut-short"
			else
				note "fail watcher: $(head -c 300 "$out")"
			fi
		fi
		rm -f "$out"
	done
}

# SIGHUP every few seconds, and now and then a reload asked for over the socket.
hup_worker() {
	set +e # a failed step is a "fail" line, never the end of the worker
	h=0
	while running; do
		sleep 3
		running || break
		h=$((h + 1))
		if ! kill -HUP "$PID" 2>/dev/null; then
			note "fail hup: daemon gone"
			break
		fi
		note "act hup"
		if [ $((h % 5)) -eq 0 ]; then
			paused_wait
			got=$(call daemon.reload)
			case $got in *'"policy_rules":3'*) note "ok reload" ;; *) note "fail reload $got" ;; esac
		fi
	done
}

# Clients that die with requests in flight, or halfway through a line.
killer_worker() {
	set +e # a failed step is a "fail" line, never the end of the worker
	k=0
	while running; do
		paused_wait
		running || break
		k=$((k + 1))
		burst=$DIR/burst.$k
		for j in $(seq 300); do
			echo "{\"jsonrpc\":\"2.0\",\"id\":$j,\"method\":\"config.set\",\"params\":{\"key\":\"soak/k$((j % 16))\",\"value\":$j}}"
			echo "{\"jsonrpc\":\"2.0\",\"id\":$j,\"method\":\"echo\",\"params\":[\"$(printf '%*s' 64 '' | tr ' ' e)\"]}"
		done >"$burst"
		[ $((k % 2)) -eq 0 ] && printf '{"jsonrpc":"2.0","id":0,"method":"pi' >>"$burst"
		socat - "UNIX-CONNECT:$SOCK" <"$burst" >/dev/null 2>&1 &
		kpid=$!
		sleep 0.00$((RANDOM % 9 + 1))
		# Durable writes take a while: most bursts still have replies owed.
		if kill -KILL "$kpid" 2>/dev/null; then
			note "act client-killed"
		else
			note "act client-finished"
		fi
		wait "$kpid" 2>/dev/null || true
		rm -f "$burst"
		sleep 0.2
	done
}

# Load off, every connection gone: then RSS and descriptors say what the daemon keeps.
quiesce() {
	touch "$PAUSE"
	for _ in $(seq 600); do
		[ "$(current_connections)" = 1 ] && return 0
		sleep 0.1
	done
	note "fail quiesce: connections did not drain within 60 s"
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status"; }
# Where the RSS is (heap and stacks, mapped files): for the report.
rss_parts() { awk '/^Rss(Anon|File|Shmem):/ { printf "%s %s KiB ", $1, $2 }' "/proc/$PID/status"; }
fd_count() { find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }

within_10pct() { # within_10pct A B
	local d=$(($2 - $1))
	[ "$d" -lt 0 ] && d=$((-d))
	[ $((d * 10)) -le "$1" ]
}

echo '{"log_level":"warning"}' >"$DIR/udsrpcd.json"
start_daemon -c "$DIR/udsrpcd.json"
echo "soak: ${SOAK_SECONDS} s against pid $PID (warm-up ${WARMUP} s; bench: ${BENCH:-socat loop}; ctl: ${CTL:-socat})"

bench_worker & WORKERS="$WORKERS $!"
writer_worker & WORKERS="$WORKERS $!"
watcher_worker & WORKERS="$WORKERS $!"
hup_worker & WORKERS="$WORKERS $!"
killer_worker & WORKERS="$WORKERS $!"
stop_workers() {
	touch "$STOP"
	# shellcheck disable=SC2086
	wait $WORKERS 2>/dev/null || true
	WORKERS=""
}
trap 'stop_workers; cleanup' EXIT

start=$SECONDS
alive() { kill -0 "$PID" 2>/dev/null || { note "fail daemon died"; return 1; }; }
while [ $((SECONDS - start)) -lt "$WARMUP" ] && alive; do sleep 1; done
quiesce
warm_rss=$(rss_kib) warm_fds=$(fd_count)
echo "after warm-up: rss ${warm_rss} KiB ($(rss_parts)), ${warm_fds} descriptors"
rm -f "$PAUSE"
# The trend between the two samples, under load (not compared, only shown).
trend=""
while [ $((SECONDS - start)) -lt "$SOAK_SECONDS" ] && alive; do
	sleep 1
	[ $(((SECONDS - start) % 60)) -eq 0 ] && trend="$trend $(rss_kib)"
done
echo "rss under load, once a minute (KiB):$trend"
quiesce
end_rss=$(rss_kib) end_fds=$(fd_count)
echo "at the end:    rss ${end_rss} KiB ($(rss_parts)), ${end_fds} descriptors"
stop_workers

stats=$(call daemon.stats)
check "daemon still answers" '"pong"' "$(call ping | grep -o '"pong"')"
check "no connection left open" 1 "$(echo "$stats" | grep -o '"current":[0-9]*' | head -n 1 | cut -d: -f2)"
fails=$(grep -c '^fail' "$LOG" || true)
check "failed checks during the run" 0 "$fails"
[ "$fails" -eq 0 ] || grep '^fail' "$LOG" | sort | uniq -c | sort -rn | head -n 20
if within_10pct "$warm_rss" "$end_rss"; then ok=yes; else ok="no ($warm_rss -> $end_rss KiB)"; fi
check "RSS within 10% of the warm-up sample" yes "$ok"
if within_10pct "$warm_fds" "$end_fds"; then ok=yes; else ok="no ($warm_fds -> $end_fds)"; fi
check "descriptors within 10% of the warm-up sample" yes "$ok"

echo "figures: $(grep -c '^ok bench' "$LOG" || true) bench runs," \
	"$(awk '/^ok bench/ { n += $3 } END { print n + 0 }' "$LOG") bench requests," \
	"$(grep -c '^ok set' "$LOG" || true) sets read back," \
	"$(grep -c '^ok unset' "$LOG" || true) unsets," \
	"$(grep -c '^ok watcher' "$LOG" || true) watchers done," \
	"$(grep -c '^act watcher-killed' "$LOG" || true) watchers killed," \
	"$(grep -c '^act hup' "$LOG" || true) SIGHUPs," \
	"$(grep -c '^ok reload' "$LOG" || true) reloads," \
	"$(grep -c '^act client-killed' "$LOG" || true) clients killed mid-request" \
	"($(grep -c '^act client-finished' "$LOG" || true) finished first)," \
	"$(grep -c '^ok' "$LOG" || true) checks passed"
echo "stats: $stats" | cut -c 1-400

stop_daemon
check "daemon exit status" 0 "$STATUS"
finish
