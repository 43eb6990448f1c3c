#!/usr/bin/env bash
# provider.sh — a brokered call through udsrpcd against a method call through a
# D-Bus bus, side by side in one run (issue 15, point 5). Not part of the test
# suite (provider_smoke.sh runs it with tiny counts); every run is bounded.
#
#   udsrpcd      udsrpcd + bench_provider (libudsrpc's provider loop, bench.ping
#                -> "pong"), driven by udsrpc-bench -m bench.ping
#   udsrpcd ping the same daemon's built-in ping, udsrpc-bench -m ping: the
#                daemon's CPU for a call it answers itself
#   dbus-daemon  dbus-daemon + peer_dbus (sd-bus, Ping() -> "pong"), dbusload
#   dbus-broker  dbus-broker (started by brokerwrap, see dbus/README.md) + the same
#
# Configs: 1 client, 50 clients, 50 clients x depth 32; ROUNDS rounds of RDUR s
# per system, the systems interleaved within each round, each after the
# previous went idle. The table gives medians over the rounds.
# CPU µs/call = utime+stime delta of /proc/PID/stat (the whole process, all its
# threads) over the client's run / calls answered, for the broker (udsrpcd;
# the bus daemon, with dbus-broker-launch) and the service (bench_provider;
# peer_dbus), and their sum. Memory: a fresh broker (udsrpcd with bench_provider
# registered: providers in use; the buses without their service), VmRSS before
# and after HOLD_N idle connections, / HOLD_N.
#
# Env: BUILD (build dir, default <repo>/build; a Release or RelWithDebInfo build,
#      this script warns about others), ROUNDS (3), RDUR (1 s), HOLD_N (1000),
#      SYSTEMS ("udsrpcd udsrpcd-ping dbus-daemon dbus-broker"), CONFIGS
#      ("1:1 50:1 50:32", clients:depth), OUT (a copy of the table).
# As root, the D-Bus packages it needs (dbus, dbus-broker, libsystemd-dev,
# pkg-config, gcc) are installed when missing; else those rows are skipped.
set -u
. "$(dirname "$0")/paths.sh"
PROVIDER=${PROVIDER:-$BUILD/tests/bench_provider}
ROUNDS=${ROUNDS:-3}
RDUR=${RDUR:-1}
HOLD_N=${HOLD_N:-1000}
SYSTEMS=${SYSTEMS:-"udsrpcd udsrpcd-ping dbus-daemon dbus-broker"}
CONFIGS=${CONFIGS:-"1:1 50:1 50:32"}
OUT=${OUT:-}
SESSION_CONF=/usr/share/dbus-1/session.conf
DBUS_SRC=$ROOT/tests/bench/dbus
DBUS_BIN=$BUILD/tests/bench/dbus
T_START=$(date +%s)

for b in "$UDSRPCD" "$UDSRPC_BENCH" "$PROVIDER"; do
	[ -x "$b" ] || { echo "provider.sh: no $b; build first (cmake --build $BUILD) or set BUILD" >&2; exit 2; }
done
if ldd "$UDSRPCD" 2>/dev/null | grep -q libasan; then
	echo "provider.sh: warning: $UDSRPCD is a sanitizer build; its figures mean little" >&2
fi
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)
case $btype in
Release | RelWithDebInfo) ;;
*) echo "provider.sh: warning: $BUILD is a '${btype:-?}' build; use -DCMAKE_BUILD_TYPE=Release or RelWithDebInfo" >&2 ;;
esac

declare -A SKIP # system -> why it is not measured
wants() { [[ " $SYSTEMS " == *" $1 "* ]]; }

# need PACKAGE...: install what is missing (root only); 1 if any is still missing.
need() {
	local missing="" p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	[ "$(id -u)" -eq 0 ] || { echo "provider.sh: missing:$missing (not root: not installing)" >&2; return 1; }
	echo "provider.sh: installing:$missing" >&2
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2 ||
		{ DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2; }
}

# The D-Bus side's programs, built here (they need libsystemd, which the project does not).
build_dbus() {
	local f cflags libs
	cflags=$(pkg-config --cflags libsystemd) && libs=$(pkg-config --libs libsystemd) || return 1
	mkdir -p "$DBUS_BIN"
	for f in peer_dbus dbusload brokerwrap; do
		[ "$DBUS_BIN/$f" -nt "$DBUS_SRC/$f.c" ] && continue
		# shellcheck disable=SC2086
		cc -O2 -g -Wall -Wextra $cflags -o "$DBUS_BIN/$f" "$DBUS_SRC/$f.c" $libs -lm || return 1
	done
}

if wants dbus-daemon || wants dbus-broker; then
	pk="dbus libsystemd-dev pkg-config gcc"
	wants dbus-broker && pk="$pk dbus-broker"
	# shellcheck disable=SC2086
	if ! need $pk || ! build_dbus; then
		for b in dbus-daemon dbus-broker; do SKIP[$b]="D-Bus packages or programs missing (see above)"; done
	fi
fi

DIR=$(mktemp -d /tmp/udsrpc-provider-bench-XXXXXX)
CLK=$(getconf CLK_TCK)
declare -A BUSPID  # system -> the broker process measured
declare -A AUXPID  # system -> its launcher (dbus-broker-launch), measured with it
declare -A TOPPID  # system -> the process we started and stop
declare -A SINKPID # system -> brokerwrap's journal sink
declare -A SVCPID  # system -> the service
BG_PID=""
HARD=$(ulimit -Hn)
ulimit -n "$HARD" 2>/dev/null

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
stop_pid() { # PID: TERM, up to 5 s, then KILL; only what this script started
	local p=$1
	alive "$p" || { wait "$p" 2>/dev/null; return 0; }
	kill -TERM "$p" 2>/dev/null
	for _ in $(seq 50); do alive "$p" || break; sleep 0.1; done
	alive "$p" && kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}
sock_of() { echo "$DIR/$1.sock"; }
# The process a system's figures come from: udsrpcd ping shares udsrpcd's daemon.
base_of() { [ "$1" = udsrpcd-ping ] && echo udsrpcd || echo "$1"; }

stop_system() {
	local s=$1 p
	[ -n "${SVCPID[$s]:-}" ] && stop_pid "${SVCPID[$s]}"
	[ -n "${TOPPID[$s]:-}" ] && stop_pid "${TOPPID[$s]}"
	for p in ${BUSPID[$s]:-} ${SINKPID[$s]:-}; do # dbus-broker and the sink die with the launcher
		for _ in $(seq 30); do alive "$p" || break; sleep 0.1; done
		alive "$p" && kill -KILL "$p" 2>/dev/null
	done
	unset "SVCPID[$s]" "TOPPID[$s]" "BUSPID[$s]" "AUXPID[$s]" "SINKPID[$s]"
	rm -f "$(sock_of "$s")"
}
cleanup() {
	[ -n "$BG_PID" ] && stop_pid "$BG_PID"
	for s in "${!TOPPID[@]}"; do stop_system "$s"; done
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

children_of() { cat "/proc/$1/task/$1/children" 2>/dev/null; }
comm_of() { cat "/proc/$1/comm" 2>/dev/null; }

broker_unusable() { # why dbus-broker cannot run here; empty if it can
	command -v dbus-broker-launch >/dev/null || { echo "dbus-broker-launch not installed"; return; }
	if [ ! -S /run/systemd/journal/socket ]; then
		unshare -m --propagation private true 2>/dev/null ||
			echo "no journald socket and no private mount namespace (unshare -m) for a stand-in"
	fi
}

# start_broker SYSTEM: the broker alone (no service); 1 on failure.
start_broker() {
	local s=$1 sock k
	sock=$(sock_of "$s")
	rm -f "$sock"
	case $s in
	udsrpcd)
		# 50 clients x depth 32 keep 1,600 calls pending on the one provider.
		printf '{"limits":{"max_provider_inflight":4096,"max_connections":%d}}\n' $((HOLD_N + 200)) \
			>"$DIR/udsrpcd.json"
		rm -rf "$DIR/state"
		"$UDSRPCD" -s "$sock" -S "$DIR/state" -c "$DIR/udsrpcd.json" -l warning 2>>"$DIR/$s.err" &
		TOPPID[$s]=$!
		BUSPID[$s]=$!
		for _ in $(seq 250); do [ -S "$sock" ] && break; alive "${TOPPID[$s]}" || break; sleep 0.02; done
		[ -S "$sock" ] || { echo "provider.sh: udsrpcd did not start: $(head -c 300 "$DIR/$s.err")" >&2; return 1; }
		;;
	dbus-daemon)
		dbus-daemon --session --nofork --address="unix:path=$sock" --print-address \
			>"$DIR/$s.addr" 2>"$DIR/$s.err" &
		TOPPID[$s]=$!
		BUSPID[$s]=$!
		for _ in $(seq 100); do [ -s "$DIR/$s.addr" ] && break; alive "${TOPPID[$s]}" || break; sleep 0.05; done
		[ -s "$DIR/$s.addr" ] || { echo "provider.sh: dbus-daemon did not start: $(head -c 300 "$DIR/$s.err")" >&2; return 1; }
		;;
	dbus-broker)
		if [ -S /run/systemd/journal/socket ]; then
			"$DBUS_BIN/brokerwrap" "$sock" -- dbus-broker-launch --scope user \
				--config-file "$SESSION_CONF" >"$DIR/$s.out" 2>"$DIR/$s.err" &
		else
			unshare -m --propagation private "$DBUS_BIN/brokerwrap" --private-journal "$DIR/$s.journal" \
				"$sock" -- dbus-broker-launch --scope user --config-file "$SESSION_CONF" \
				>"$DIR/$s.out" 2>"$DIR/$s.err" &
		fi
		TOPPID[$s]=$!
		AUXPID[$s]=$!
		for _ in $(seq 100); do
			for k in $(children_of "${TOPPID[$s]}"); do
				case $(comm_of "$k") in dbus-broker) BUSPID[$s]=$k ;; brokerwrap) SINKPID[$s]=$k ;; esac
			done
			[ -n "${BUSPID[$s]:-}" ] && [ "$(comm_of "${TOPPID[$s]}")" = dbus-broker-lau ] && break
			alive "${TOPPID[$s]}" || break
			sleep 0.05
		done
		[ -n "${BUSPID[$s]:-}" ] || { echo "provider.sh: dbus-broker did not start: $(head -c 400 "$DIR/$s.err")" >&2; return 1; }
		;;
	esac
}

# start_service SYSTEM: its service, once it is ready; 1 on failure.
start_service() {
	local s=$1
	case $s in
	udsrpcd) "$PROVIDER" -s "$(sock_of "$s")" >"$DIR/svc.$s.out" 2>"$DIR/svc.$s.err" & ;;
	*) "$DBUS_BIN/peer_dbus" --address "unix:path=$(sock_of "$s")" >"$DIR/svc.$s.out" 2>"$DIR/svc.$s.err" & ;;
	esac
	SVCPID[$s]=$!
	for _ in $(seq 200); do
		grep -q '^ready' "$DIR/svc.$s.out" 2>/dev/null && return 0
		alive "${SVCPID[$s]}" || break
		sleep 0.05
	done
	echo "provider.sh: the service on $s is not ready: $(head -c 300 "$DIR/svc.$s.err")" >&2
	return 1
}

ticks() { # utime+stime of a whole process; 0 for none, empty if gone
	local line rest
	[ -n "${1:-}" ] || { echo 0; return; }
	read -r line 2>/dev/null <"/proc/$1/stat" || return
	rest=${line##*) }
	# shellcheck disable=SC2086
	set -- $rest
	echo $((${12} + ${13}))
}
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
nfds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
jnum() { sed -n "s/.*\"$1\":\\(-\\{0,1\\}[0-9][0-9.eE+-]*\\).*/\\1/p" <<<"$2"; }
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2" | head -1; }

busy_ticks() { # the brokers' and services' CPU so far
	local t=0 s
	for s in "${!BUSPID[@]}"; do t=$((t + $(ticks "${BUSPID[$s]}") + $(ticks "${SVCPID[$s]:-}"))); done
	echo $t
}
wait_idle() { # the last round's leftovers done: no broker or service CPU for 0.2 s (at most 3 s)
	local a b
	for _ in $(seq 15); do
		a=$(busy_ticks)
		sleep 0.2
		b=$(busy_ticks)
		[ "$a" = "$b" ] && return
	done
}

# load SYSTEM CLIENTS DEPTH SECONDS: the client's one-line summary in LOAD_OUT, its exit status returned.
load() {
	local s=$1 c=$2 p=$3 d=$4 rc=0
	case $s in
	udsrpcd | udsrpcd-ping)
		local m=bench.ping
		[ "$s" = udsrpcd-ping ] && m=ping
		LOAD_OUT=$(timeout -k 5 $((${d%.*} + 60)) "$UDSRPC_BENCH" -s "$(sock_of udsrpcd)" -m "$m" \
			-c "$c" -P "$p" -d "$d" -w 1 --json 2>"$DIR/load.err") || rc=$?
		;;
	*)
		LOAD_OUT=$(timeout -k 5 $((${d%.*} + 60)) "$DBUS_BIN/dbusload" -s "$(sock_of "$s")" \
			-c "$c" -P "$p" -d "$d" -w 1 2>"$DIR/load.err") || rc=$?
		;;
	esac
	return $rc
}

# measure SYSTEM CLIENTS DEPTH ROUND: one TSV row in rows.tsv:
# system c P round rps p50 p99 errors requests broker_ticks service_ticks note
measure() {
	local s=$1 c=$2 p=$3 r=$4 base bp ap sp b0 b1 a0 a1 s0 s1 rc=0 note="" rps p50 p99 err req
	base=$(base_of "$s")
	bp=${BUSPID[$base]:-}
	ap=${AUXPID[$base]:-}
	sp=${SVCPID[$base]:-}
	wait_idle
	b0=$(ticks "$bp"); a0=$(ticks "$ap"); s0=$(ticks "$sp")
	load "$s" "$c" "$p" "$RDUR" || rc=$?
	b1=$(ticks "$bp"); a1=$(ticks "$ap"); s1=$(ticks "$sp")
	[ -z "$b1" ] && { note="broker died; "; b1=$b0; }
	[ -z "$s1" ] && { note="${note}service died; "; s1=$s0; }
	[ -z "$a1" ] && a1=$a0
	[ "$rc" -ne 0 ] && note="${note}client exit $rc: $(head -c 120 "$DIR/load.err" | tr '\n\t|' '   ')"
	case $s in
	udsrpcd*)
		rps=$(jnum rps "$LOAD_OUT"); p50=$(jnum p50 "$LOAD_OUT"); p99=$(jnum p99 "$LOAD_OUT")
		err=$(jnum errors "$LOAD_OUT"); req=$(jnum requests "$LOAD_OUT")
		;;
	*)
		rps=$(kv rps "$LOAD_OUT"); p50=$(kv p50_us "$LOAD_OUT"); p99=$(kv p99_us "$LOAD_OUT")
		err=$(kv errors "$LOAD_OUT"); req=$(kv requests "$LOAD_OUT")
		;;
	esac
	# The plain ping row has no service: its CPU is the daemon's alone.
	[ "$s" = udsrpcd-ping ] && s1=$s0
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$c" "$p" "$r" "${rps:-0}" "${p50:--}" \
		"${p99:--}" "${err:--}" "${req:-0}" $((b1 - b0 + a1 - a0)) $((s1 - s0)) "$note" >>"$DIR/rows.tsv"
	echo "  $s c=$c P=$p round $r: $LOAD_OUT" >&2
}

# hold SYSTEM: a fresh broker (udsrpcd with its provider registered; a bus
# without its service), VmRSS before and after HOLD_N idle connections.
hold() {
	local s=$1 pid rss0 rss1 f0 f note="" held=""
	if ! start_broker "$s" || { [ "$s" = udsrpcd ] && ! start_service "$s"; }; then
		printf '| %s | - | - | - | failed to start |\n' "$s" >>"$DIR/mem.md"
		stop_system "$s"
		return
	fi
	pid=${BUSPID[$s]}
	sleep 0.5
	rss0=$(rss_kb "$pid")
	f0=$(nfds "$pid")
	case $s in
	udsrpcd) "$UDSRPC_BENCH" -s "$(sock_of "$s")" -c 0 --hold "$HOLD_N" -d 120 -t 30 --json \
		>"$DIR/hold.out" 2>"$DIR/hold.err" & ;;
	*) "$DBUS_BIN/dbusload" -s "$(sock_of "$s")" --hold "$HOLD_N" -w 4 -d 120 \
		>"$DIR/hold.out" 2>"$DIR/hold.err" & ;;
	esac
	BG_PID=$!
	for _ in $(seq 600); do
		f=$(nfds "$pid")
		[ "$f" -ge $((f0 + HOLD_N)) ] && { [ "$s" = udsrpcd ] || grep -q '^hold_ready' "$DIR/hold.out"; } && break
		alive "$BG_PID" || break
		sleep 0.1
	done
	sleep 1
	rss1=$(rss_kb "$pid")
	f=$(nfds "$pid")
	stop_pid "$BG_PID" # udsrpc-bench still reports how many the daemon kept
	BG_PID=""
	[ "$s" = udsrpcd ] && held=$(jnum held "$(cat "$DIR/hold.out")")
	stop_system "$s"
	[ "$f" -lt $((f0 + HOLD_N)) ] && note="only $((f - f0)) new fds; "
	[ -n "$held" ] && [ "$held" != "$HOLD_N" ] && note="${note}held $held; "
	printf '| %s | %s | %s | %s | %sfds %s -> %s |\n' "$s" "$rss0" "$rss1" \
		"$(awk -v a="$rss0" -v b="$rss1" -v n="$HOLD_N" 'BEGIN { printf "%.2f", (b - a) / n }')" \
		"$note" "$f0" "$f" >>"$DIR/mem.md"
}

: >"$DIR/rows.tsv"
: >"$DIR/mem.md"
if wants dbus-broker && [ -z "${SKIP[dbus-broker]:-}" ]; then
	why=$(broker_unusable)
	[ -n "$why" ] && SKIP[dbus-broker]=$why
fi
ACTIVE=""
for s in $SYSTEMS; do
	[ -n "${SKIP[$s]:-}" ] && { echo "provider.sh: skipping $s: ${SKIP[$s]}" >&2; continue; }
	if [ "$s" = udsrpcd-ping ]; then
		wants udsrpcd || { SKIP[$s]="needs udsrpcd in SYSTEMS"; continue; }
		ACTIVE="$ACTIVE $s"
		continue
	fi
	if start_broker "$s" && start_service "$s"; then
		ACTIVE="$ACTIVE $s"
	else
		SKIP[$s]="failed to start (see above)"
		stop_system "$s"
	fi
done
[ -n "$ACTIVE" ] || { echo "provider.sh: nothing could be started" >&2; exit 1; }
echo "provider.sh: [$ACTIVE ], $ROUNDS x ${RDUR}s per config and system" >&2
for s in $ACTIVE; do load "$s" 50 4 0.5 >/dev/null; done # warm-up

for cfg in $CONFIGS; do
	for r in $(seq "$ROUNDS"); do
		for s in $ACTIVE; do measure "$s" "${cfg%%:*}" "${cfg##*:}" "$r"; done
	done
done
for s in "${!TOPPID[@]}"; do stop_system "$s"; done
for s in $ACTIVE; do [ "$s" = udsrpcd-ping ] || hold "$s"; done

# Medians over the rounds: one line per system and config, TSV, for the table and the targets.
awk -F'\t' -v clk="$CLK" '
function med(a, n,   i, j, x) {
	for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
	k = $1 SUBSEP $2 SUBSEP $3
	if (!(k in n)) order[++nk] = k
	i = ++n[k]; rps[k, i] = $5; p50[k, i] = $6; p99[k, i] = $7
	err[k] += ($8 == "-" ? 0 : $8); req[k] += $9; bt[k] += $10; st[k] += $11
	if (i == 1 || $5 < lo[k]) lo[k] = $5
	if (i == 1 || $5 > hi[k]) hi[k] = $5
	if ($12 != "" && note[k] == "") note[k] = $12
}
END {
	for (o = 1; o <= nk; o++) {
		k = order[o]; split(k, f, SUBSEP); m = n[k]
		for (i = 1; i <= m; i++) { a[i] = rps[k, i]; b[i] = p50[k, i]; c[i] = p99[k, i] }
		r = med(a, m); q50 = med(b, m); q99 = med(c, m)
		delete a; delete b; delete c
		if (req[k] > 0) {
			bc = sprintf("%.2f", bt[k] * 1e6 / clk / req[k])
			sc = f[1] == "udsrpcd-ping" ? "-" : sprintf("%.2f", st[k] * 1e6 / clk / req[k])
			tc = sprintf("%.2f", (bt[k] + st[k]) * 1e6 / clk / req[k])
		} else { bc = sc = tc = "-" }
		if (bt[k] < 20) note[k] = note[k] (note[k] == "" ? "" : "; ") "broker " bt[k] " ticks: coarse"
		printf "%s\t%s\t%s\t%.0f\t%.0f-%.0f\t%.1f\t%.1f\t%d\t%s\t%s\t%s\t%s\n", f[1], f[2], f[3], r, lo[k], hi[k],
			q50, q99, err[k], bc, sc, tc, note[k]
	}
}' "$DIR/rows.tsv" >"$DIR/med.tsv"

# cell SYSTEM CONFIG COLUMN: a figure of med.tsv (1 system, 2 c, 3 P, 4 rps, 5 range, 6 p50,
# 7 p99, 8 errors, 9 broker, 10 service, 11 broker+service CPU µs/call, 12 note).
cell() { awk -F'\t' -v s="$1" -v c="$2" -v k="$3" '$1 == s && ($2 ":" $3) == c { print $k }' "$DIR/med.tsv"; }
# verdict A OP B FACTOR: "A / B = x (target OP FACTOR): met|MISSED".
verdict() {
	awk -v a="$1" -v b="$2" -v op="$3" -v f="$4" 'BEGIN {
		if (a == "" || b == "" || a == "-" || b == "-" || b == 0) { print "n/a"; exit }
		x = a / b; ok = (op == "<=" ? x <= f : x < f)
		printf "%.2f (target %s %s): %s", x, op, f, ok ? "met" : "MISSED" }'
}

{
	echo "Brokered call: udsrpcd + a libudsrpc provider against D-Bus (one run, $(date -u '+%Y-%m-%d %H:%M UTC'))"
	echo
	echo "- $(nproc) CPUs, kernel $(uname -r); ${ROUNDS} rounds x ${RDUR}s per config and system, interleaved; medians, rps range = min-max"
	echo "- clients: udsrpc-bench -w 1 (-m bench.ping, or -m ping), dbusload -w 1 (Ping); services: bench_provider, peer_dbus (sd-bus)"
	[ -n "${SKIP[dbus-daemon]:-}${SKIP[dbus-broker]:-}" ] || echo "- $(dbus-daemon --version | head -1); $(dbus-broker --version 2>/dev/null | head -1)"
	echo "- CPU µs/call: /proc/PID/stat utime+stime (CLK_TCK $CLK) over the client's run / calls; broker = udsrpcd or the bus (dbus-broker with its launcher)"
	echo
	echo "| system | config | rps | rps range | p50 µs | p99 µs | errors | broker CPU µs/call | service CPU µs/call | broker+service µs/call | note |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	for cfg in $CONFIGS; do
		for s in $SYSTEMS; do
			if [ -n "${SKIP[$s]:-}" ]; then
				echo "| $s | c=${cfg%%:*} P=${cfg##*:} | - | - | - | - | - | - | - | - | skipped: ${SKIP[$s]} |"
				continue
			fi
			awk -F'\t' -v s="$s" -v c="$cfg" '$1 == s && ($2 ":" $3) == c {
				printf "| %s | c=%s P=%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
					$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 }' "$DIR/med.tsv"
		done
	done
	echo
	echo "Memory: the broker's VmRSS before / after $HOLD_N idle connections (udsrpcd with bench_provider registered)"
	echo
	echo "| broker | RSS KiB | RSS with $HOLD_N conns KiB | KiB/conn | note |"
	echo "|---|---:|---:|---:|---|"
	cat "$DIR/mem.md"
	echo
	echo "Targets (50 clients):"
	echo "- udsrpcd+provider CPU/call / dbus-broker+service: $(verdict "$(cell udsrpcd 50:1 11)" "$(cell dbus-broker 50:1 11)" '<=' 0.5)"
	echo "- udsrpcd+provider CPU/call / dbus-daemon+service: $(verdict "$(cell udsrpcd 50:1 11)" "$(cell dbus-daemon 50:1 11)" '<=' 0.33)"
	echo "- p50 udsrpcd / dbus-broker: $(verdict "$(cell udsrpcd 50:1 6)" "$(cell dbus-broker 50:1 6)" '<' 1)"
	echo "- udsrpcd CPU per brokered call / per plain ping: $(verdict "$(cell udsrpcd 50:1 9)" "$(cell udsrpcd-ping 50:1 9)" '<=' 2.5)"
	echo "- udsrpcd RSS per idle connection with a provider: $(awk -F'|' '$2 ~ /udsrpcd/ { printf "%s KiB (target <= 1): %s", $5 + 0, ($5 + 0 <= 1 ? "met" : "MISSED") }' "$DIR/mem.md")"
	echo "- wall time: $(($(date +%s) - T_START)) s"
} >"$DIR/table.md"
[ -n "$OUT" ] && cp "$DIR/table.md" "$OUT"
cat "$DIR/table.md"
