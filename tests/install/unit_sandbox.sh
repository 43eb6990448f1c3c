#!/bin/bash
# unit_sandbox.sh — the sandbox of contrib/systemd/udsrpcd.service holds up
# without systemd as PID 1, by emulating what it enforces:
#  - systemd-analyze security rates the unit "OK" or better (exposure at most 2.0);
#  - User= (a uid of its own, as systemd-sysusers would give it), the
#    ambient capability, the bounding set and NoNewPrivileges (setpriv) with
#    ProcSubset=pid (a private /proc mounted subset=pid) still let the daemon
#    identify another user's process, exe included, and CAP_SYS_PTRACE is what
#    makes that work (tests/install/systemd_real.sh runs the unit itself);
#  - every system call of a whole session (start by socket activation, calls,
#    durable writes, a compaction, events, SIGHUP, stop, restart and recovery)
#    is allowed by the unit's SystemCallFilter= lines, every socket is
#    AF_UNIX (RestrictAddressFamilies), nothing maps memory writable and
#    executable (MemoryDenyWriteExecute), no namespaces (RestrictNamespaces).
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/common.sh"
need_tool systemd-analyze systemd
need_tool systemd-socket-activate systemd
need_tool strace strace
need_tool setpriv util-linux
need_tool socat socat
[ "$(id -u)" = 0 ] || skip "needs root: peers of another uid, setpriv, a private /proc"
[ -z "${UDSRPC_SANITIZED:-}" ] ||
	skip "the sanitizer runtime makes system calls the installed binary never makes (checked in the plain build)"
strace -f -qq -o /dev/null true 2>/dev/null || skip "ptrace is not permitted here, so strace cannot run"

UNIT=$UDSRPC_SOURCE_DIR/contrib/systemd/udsrpcd.service
UDSRPCD_ABS=$(readlink -f "$UDSRPCD")
# The daemon runs as another uid, so a copy it can reach (the checkout may
# be root's only), with the library beside it.
stage "$UDSRPCD_ABS"
DAEMON=$DIR/bin/${UDSRPCD_ABS##*/}
chmod 0711 "$DIR" # other uids reach $SOCK, as they reach /run/udsrpcd.sock

# 1. systemd's own rating of the unit.
mkdir "$DIR/unit"
sed "s|^ExecStart=/usr/sbin/udsrpcd |ExecStart=$UDSRPCD_ABS |" "$UNIT" >"$DIR/unit/udsrpcd.service"
rc=0
systemd-analyze security --offline=true --threshold=20 "$DIR/unit/udsrpcd.service" >"$DIR/security" 2>&1 || rc=$?
check "systemd-analyze security: exposure at most 2.0" 0 "$rc"
grep 'Overall exposure' "$DIR/security" || cat "$DIR/security"

# 2. The unit's settings, as setpriv and a private /proc apply them.
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT")
check "CapabilityBoundingSet" CAP_SYS_PTRACE "$caps"
bounding="-all"
for c in $caps; do
	c=${c#CAP_}
	bounding="$bounding,+${c,,}"
done
grep -q '^NoNewPrivileges=yes$' "$UNIT" && nnp=--no-new-privs || nnp=""
check "NoNewPrivileges=yes" --no-new-privs "$nnp"
ambient=$(sed -n 's/^AmbientCapabilities=//p' "$UNIT")
check "AmbientCapabilities" CAP_SYS_PTRACE "$ambient"
check "User" udsrpcd "$(sed -n 's/^User=//p' "$UNIT")"
# The unit's user stands in as a uid no one else here has (the daemon must
# not share the peer's uid 65534, or it could read that exe without the
# capability), with the ambient set of the unit.
DUID=64999
ids="--reuid=$DUID --regid=$DUID --clear-groups"
amb=""
for c in $ambient; do
	c=${c#CAP_}
	amb="$amb,+${c,,}"
done
amb=${amb#,}
mkdir -m 0700 "$DIR/state"
chown "$DUID:$DUID" "$DIR/state" # StateDirectory= of a unit with User=
procsubset=""
if grep -q '^ProcSubset=pid$' "$UNIT"; then
	if unshare -m --propagation private sh -c 'mount -t proc -o subset=pid proc /proc' 2>/dev/null; then
		procsubset=yes
	else
		echo "note: cannot mount a private /proc here; ProcSubset=pid is not emulated"
	fi
fi

as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

socat -u "UNIX-RECV:$DIR/notify.sock" "OPEN:$DIR/notify.out,creat,append" &
on_exit "kill $!"
wait_for "notify socket" test -S "$DIR/notify.sock"
chmod 0666 "$DIR/notify.sock" # systemd's accepts the service's user

start_traced() {
	local n=$1
	rm -f "$SOCK"
	# unshare only for the private /proc; otherwise plain sh.
	strace -f -qq -o "$DIR/trace.$n" \
		${PROCSUBSET:+unshare -m --propagation private} sh -c '
			[ -z "$PROCSUBSET" ] || mount -t proc -o subset=pid proc /proc || exit 1
			exec systemd-socket-activate -l "$SOCK" -E NOTIFY_SOCKET="$NOTIFY" \
				-E STATE_DIRECTORY="$STATE" -E LD_LIBRARY_PATH="$LIBS" setpriv $IDS --inh-caps="$AMB" --ambient-caps="$AMB" \
				--bounding-set="$BOUNDING" $NNP "$DAEMON"' &
	TPID=$!
	wait_for "activation socket" test -S "$SOCK"
	chmod 0666 "$SOCK" # SocketMode=0666 of udsrpcd.socket
}
# On the way out: the traced process (activator or daemon, one pid), then strace.
kill_traced() {
	[ -n "${TPID:-}" ] || return 0
	for p in $(ps -o pid= --ppid "$TPID"); do
		kill -KILL "$p"
	done
	kill "$TPID"
}
on_exit kill_traced
export PROCSUBSET=$procsubset BOUNDING=$bounding NNP=$nnp IDS=$ids AMB=$amb SOCK NOTIFY=$DIR/notify.sock \
	STATE=$DIR/state DAEMON LIBS=$DIR/bin

# stop_traced: SIGTERM to the daemon (by the pid it reports), then wait for strace.
stop_traced() {
	local dpid
	dpid=$(rpc '{"jsonrpc":"2.0","id":1,"method":"daemon.info"}' | grep -o '"pid":[0-9]*' | cut -d: -f2)
	kill -TERM "$dpid"
	STATUS=0
	wait "$TPID" || STATUS=$?
	TPID=""
}

big=$(head -c 300000 /dev/zero | tr '\0' x)
start_traced 1
who=$(as_nobody socat -t 5 - "UNIX-CONNECT:$SOCK" <<<'{"jsonrpc":"2.0","id":1,"method":"peer.whoami"}')
contains "sandboxed: another uid's exe is read" '"uid":65534' "$who"
contains "sandboxed: exe of a nobody peer" "\"exe\":\"$(readlink -f "$(command -v socat)")\"" "$who"
contains "sandboxed: comm of a nobody peer" '"comm":"socat"' "$who"
info=$(rpc '{"jsonrpc":"2.0","id":1,"method":"daemon.info"}')
contains "sandboxed: the daemon runs as the unit's user (uid $DUID)" "\"uid\":$DUID" "$info"
denied=$(as_nobody socat -t 5 - "UNIX-CONNECT:$SOCK" <<<'{"jsonrpc":"2.0","id":1,"method":"config.set","params":{"key":"k","value":1}}')
contains "sandboxed: policy still judges by uid" '"code":-32001' "$denied"
# A subscriber, writes big enough to compact the store, a reload.
# The subscriber's input stays open (fd 7 on a fifo) until the reload event is
# seen: a fixed lifetime was shorter than the writes take under load.
mkfifo "$DIR/sub.in"
socat -t 5 - "UNIX-CONNECT:$SOCK" <"$DIR/sub.in" >"$DIR/events.out" &
SUBPID=$!
on_exit "kill $SUBPID"
exec 7>"$DIR/sub.in"
printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"events.subscribe","params":{"topics":["config","daemon"]}}' >&7
wait_for "subscriber" subscribed config || true
for i in 1 2 3 4 5; do
	rpc "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"config.set\",\"params\":{\"key\":\"big/$i\",\"value\":\"$big\"}}" >>"$DIR/writes"
done
check "5 durable writes of 300 kB" 5 "$(grep -c '"result":{"key":"big/' "$DIR/writes")"
compacted=$(ls "$DIR/state")
contains "store compacted into a snapshot" config.snap "$compacted"
kill -HUP "$(rpc '{"jsonrpc":"2.0","id":1,"method":"daemon.info"}' | grep -o '"pid":[0-9]*' | cut -d: -f2)"
wait_for "reload event" grep -q '"type":"reload"' "$DIR/events.out" || true
contains "SIGHUP reloaded" '"type":"reload"' "$(cat "$DIR/events.out")"
exec 7>&-
check "log_level" '{"jsonrpc":"2.0","id":1,"result":{"level":"debug"}}' \
	"$(rpc '{"jsonrpc":"2.0","id":1,"method":"daemon.log_level","params":{"level":"debug"}}')"
stop_traced
check "session 1: daemon exit 0" 0 "$STATUS"
kill "$SUBPID" 2>/dev/null || true

# Session 2: recovery from the snapshot and log, reads, stop.
start_traced 2
got=$(rpc '{"jsonrpc":"2.0","id":1,"method":"config.list","params":{"prefix":"big/"}}' | grep -o '"key":"big/[0-9]"' | tr '\n' ' ')
check "session 2: recovered every write" '"key":"big/1" "key":"big/2" "key":"big/3" "key":"big/4" "key":"big/5" ' "$got"
stop_traced
check "session 2: daemon exit 0" 0 "$STATUS"
check "READY=1 twice" 2 "$(grep -o READY=1 "$DIR/notify.out" | wc -l)"

# Without CAP_SYS_PTRACE the daemon could not read another user's exe: the
# reason the bounding set keeps it.
mkdir -m 0711 "$DIR/nocap"
chown "$DUID:$DUID" "$DIR/nocap"
LD_LIBRARY_PATH=$DIR/bin setpriv $ids --bounding-set=-all --inh-caps=-all --no-new-privs "$DAEMON" \
	-s "$DIR/nocap/udsrpcd.sock" -S "$DIR/nocap/state" 2>>"$DIR/stderr" &
NOCAP=$!
on_exit "kill $NOCAP"
wait_for "nocap daemon" test -S "$DIR/nocap/udsrpcd.sock"
who=$(as_nobody socat -t 5 - "UNIX-CONNECT:$DIR/nocap/udsrpcd.sock" <<<'{"jsonrpc":"2.0","id":1,"method":"peer.whoami"}')
contains "no CAP_SYS_PTRACE: exe of another uid is null" '"exe":null' "$who"
kill -TERM "$NOCAP"
wait "$NOCAP" || true

# 3. The system calls of both sessions, from the daemon's exec on.
expand() { # a systemd-analyze syscall-filter set, groups resolved
	systemd-analyze syscall-filter "$1" | tail -n +2 | sed 's/^ *//; /^#/d; /^$/d' |
		while read -r s; do
			case $s in
			@*) expand "$s" ;;
			*) echo "$s" ;;
			esac
		done
}
items() { # the system calls of a SystemCallFilter= value
	local i
	for i in $1; do
		case $i in
		@*) expand "$i" ;;
		*) echo "$i" ;;
		esac
	done | sort -u
}
# The unit's SystemCallFilter= lines in order: the first is the allow list,
# each "~" line takes system calls away from it.
: >"$DIR/permitted"
while IFS= read -r v; do
	case $v in
	"~"*)
		items "${v#\~}" >"$DIR/minus"
		comm -23 "$DIR/permitted" "$DIR/minus" >"$DIR/next"
		;;
	*) { items "$v"; cat "$DIR/permitted"; } | sort -u >"$DIR/next" ;;
	esac
	mv "$DIR/next" "$DIR/permitted"
done < <(sed -n 's/^SystemCallFilter=//p' "$UNIT")
check "SystemCallFilter starts from @system-service" "@system-service" \
	"$(sed -n 's/^SystemCallFilter=//p' "$UNIT" | head -1)"
check "SystemCallFilter expanded" yes "$([ "$(wc -l <"$DIR/permitted")" -gt 200 ] && echo yes || echo no)"
for s in ptrace process_vm_readv process_vm_writev setuid setgroups setrlimit ioprio_set; do
	check "SystemCallFilter denies $s" "" "$(grep -x "$s" "$DIR/permitted" || true)"
done
for n in 1 2; do
	awk -v d="execve(\"$DAEMON\"" 'index($0, d) { on = 1 } on' "$DIR/trace.$n" >"$DIR/daemon.$n"
	check "session $n: daemon exec traced" yes "$([ -s "$DIR/daemon.$n" ] && echo yes || echo no)"
	sed -nE 's/^[0-9]+ +([a-z0-9_]+)\(.*/\1/p' "$DIR/daemon.$n" | sort -u >"$DIR/used.$n"
	check "session $n: system calls outside the unit's SystemCallFilter" "" \
		"$(comm -23 "$DIR/used.$n" "$DIR/permitted" | tr '\n' ' ')"
	check "session $n: sockets other than AF_UNIX" "" \
		"$(grep -E '^[0-9]+ +socket\(' "$DIR/daemon.$n" | grep -v 'socket(AF_UNIX,' || true)"
	check "session $n: writable+executable memory" "" \
		"$(grep -E '^[0-9]+ +(mmap|mprotect|pkey_mprotect)\(' "$DIR/daemon.$n" |
			grep -E 'PROT_WRITE\|PROT_EXEC|PROT_EXEC\|PROT_WRITE|^[0-9]+ +(pkey_)?mprotect\(.*PROT_EXEC' || true)"
	check "session $n: new namespaces" "" \
		"$(grep -E '^[0-9]+ +(clone3?|unshare|setns)\(.*CLONE_NEW' "$DIR/daemon.$n" || true)"
done
echo "system calls used: $(sort -u "$DIR/used.1" "$DIR/used.2" | tr '\n' ' ')"
finish
