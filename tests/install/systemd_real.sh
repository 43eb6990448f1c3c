#!/bin/bash
# systemd_real.sh — the packages under a real systemd (issue 18): a Debian 12
# container booted by systemd-nspawn (tests/install/container.sh), the three
# .deb packages of the debs fixture installed with dpkg, and the units run by
# systemd as PID 1: socket activation, Type=notify, the sandbox as the
# kernel shows it inside the service, the user udsrpcd reading another
# user's exe, reload, journal priorities, stop and restart.
# Each check names its evidence (ok N - what: evidence).
#
# UDSRPC_REAL_UNIT=FILE replaces the packaged udsrpcd.service inside the
# container after dpkg -i, to show what a changed unit breaks (e.g. one
# without AmbientCapabilities=).
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/container.sh"
[ "$(id -u)" = 0 ] || skip "needs root: debootstrap, systemd-nspawn, nsenter"
need_tool systemd-nspawn systemd-container
need_tool debootstrap debootstrap
need_tool nsenter util-linux
need_tool flock util-linux
: "${UDSRPC_DEBS_DIR:?run through ctest (the debs fixture makes the packages)}"
started=$(date +%s.%N)

mkdir "$DIR/debs"
cp "$UDSRPC_DEBS_DIR"/*.deb "$DIR/debs/"
check "the three packages of the debs fixture" 3 "$(ls "$DIR/debs" | wc -l)"
container_tree
echo "tree: $TREE"
container_boot --bind-ro="$DIR/debs:/debs"
echo "booted: nspawn $NSPAWN, container PID 1 $CPID, $(in_ct systemctl --version | head -1)"

# sh_ct SCRIPT: a shell script inside the container, stderr with stdout.
sh_ct() { in_ct sh -c "$1" 2>&1; }
# as_nobody CMD...: CMD inside as uid 65534 (a second, unprivileged user).
as_nobody() { in_ct setpriv --reuid=65534 --regid=65534 --clear-groups "$@" 2>&1; }
# nobody_set KEY VALUE [BINARY]: config.set as uid 65534 through BINARY (udsrpcctl).
nobody_set() { as_nobody "${3:-udsrpcctl}" -s /run/udsrpcd.sock set "$1" "$2" || true; }
# eventually WANT CMD...: CMD's output contains WANT within 5 s (a reload is
# a signal: systemctl reload returns before the daemon has read the files).
eventually() {
	local want=$1 got i
	shift
	for i in $(seq 1 50); do
		got=$("$@")
		case $got in *"$want"*) break ;; esac
		sleep 0.1
	done
	echo "$got"
}
show() { in_ct systemctl show -p "$1" --value "$2"; }
# cursor: how many lines of priority err or worse the daemon logged so far;
# errors_after CURSOR: the ones logged since.
errors() { in_ct journalctl -u udsrpcd -p err -o cat --no-pager -q; }
cursor() { errors | wc -l; }
errors_after() { errors | tail -n +$(($1 + 1)); }
mainpid() { show MainPID udsrpcd.service; }

rc=0
sh_ct 'dpkg -i /debs/libudsrpc0_*.deb /debs/libudsrpc-dev_*.deb /debs/udsrpc_*.deb' >"$DIR/dpkg.log" || rc=$?
[ $rc = 0 ] || cat "$DIR/dpkg.log"
check "dpkg -i of the three packages in the container: exit $rc" 0 "$rc"
if [ -n "${UDSRPC_REAL_UNIT:-}" ]; then
	echo "note: the packaged unit replaced by $UDSRPC_REAL_UNIT"
	in_ct sh -c 'cat >/lib/systemd/system/udsrpcd.service && systemctl daemon-reload' <"$UDSRPC_REAL_UNIT"
fi
user=$(sh_ct 'getent passwd udsrpcd')
contains "postinst made the system user: $user" "udsrpcd:x:" "$user"
uid=$(echo "$user" | cut -d: -f3)
gid=$(echo "$user" | cut -d: -f4)

# 1. The socket.
in_ct systemctl enable --now udsrpcd.socket >"$DIR/enable.log" 2>&1 || cat "$DIR/enable.log"
check "udsrpcd.socket is-enabled: $(in_ct systemctl is-enabled udsrpcd.socket 2>&1)" enabled \
	"$(in_ct systemctl is-enabled udsrpcd.socket 2>&1)"
listen=$(show Listen udsrpcd.socket)
check "udsrpcd.socket listening: $listen, $(show SubState udsrpcd.socket)" "/run/udsrpcd.sock (Stream) listening" \
	"$listen $(show SubState udsrpcd.socket)"
sock=$(sh_ct 'stat -c "%F %a %U:%G" /run/udsrpcd.sock')
check "socket file: $sock" "socket 666 root:root" "$sock"
check "no service before the first connection: $(show ActiveState udsrpcd.service)" inactive \
	"$(show ActiveState udsrpcd.service)"

# 2. The first connection starts it; active (running) only after READY=1.
# The first connection starts the service (socket activation, Type=notify): on a loaded machine
# that once took longer than udsrpcctl's default 5 s. The bound is for the start, not a speed check.
ping=$(in_ct udsrpcctl -t 60000 ping 2>&1 || true)
contains "udsrpcctl ping as root (starts the service): $ping" pong "$ping"
state=$(in_ct systemctl show -p Type -p ActiveState -p SubState -p TriggeredBy udsrpcd.service | sort | tr '\n' ' ')
check "service after the connection: $state" \
	"ActiveState=active SubState=running TriggeredBy=udsrpcd.socket Type=notify " "$state"
active=$(in_ct systemctl status udsrpcd.service 2>&1 | grep -m1 'Active:' | sed 's/^ *//')
contains "systemctl status: $active" "Active: active (running)" "$active"
PIDD=$(mainpid)
contains "journal: started by systemd: $(in_ct journalctl -u udsrpcd -o cat --no-pager | grep -m1 Started)" \
	"Started" "$(in_ct journalctl -u udsrpcd -o cat --no-pager)"

# 3. udsrpcctl as root.
info=$(in_ct udsrpcctl info 2>&1 || true)
check "udsrpcctl info: $(echo "$info" | grep -E '^(pid|uid):' | tr -s ' ' | tr '\n' ' ')(MainPID $PIDD)" \
	"pid: $PIDD uid: $uid" "$(echo "$info" | grep -E '^(pid|uid):' | tr -s ' ' | tr '\n' ' ' | sed 's/ $//')"
contains "udsrpcctl info: $(echo "$info" | grep -E '^ *socket:' | sed 's/^ *//')" "/run/udsrpcd.sock" "$info"
set=$(in_ct udsrpcctl set real/durable kept 2>&1 || true)
check "udsrpcctl set real/durable kept: $set" "revision 1" "$set"
check "udsrpcctl get real/durable: $(in_ct udsrpcctl get real/durable 2>&1)" kept \
	"$(in_ct udsrpcctl get real/durable 2>&1)"
rc=0
out=$(in_ct udsrpcctl reload 2>&1) || rc=$?
check "udsrpcctl reload as root (embedded policy, daemon not root): exit $rc: $out" 0 "$rc"
st=$(sh_ct 'stat -c "%U %a" /var/lib/udsrpcd')
check "state directory /var/lib/udsrpcd: $st" "udsrpcd 700" "$st"

# 4. A second user: the daemon (user udsrpcd) reads its exe.
who=$(as_nobody udsrpcctl -s /run/udsrpcd.sock -j whoami || true)
contains "peer.whoami as uid 65534: $who" '"uid":65534' "$who"
contains "another user's exe is read under the sandbox: $(echo "$who" | grep -o '"exe":[^,]*')" \
	'"exe":"/usr/bin/udsrpcctl"' "$who"

# 5. The sandbox, as the kernel shows it inside the service.
status=$(sh_ct "grep -E '^(Uid|Gid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/$PIDD/status")
echo "$status" | sed 's/^/  \/proc\/'"$PIDD"'\/status: /'
field() { echo "$status" | awk -v f="$1:" '$1 == f {print $2}'; }
check "service runs as udsrpcd: Uid $(field Uid)" "$uid" "$(field Uid)"
# CAP_SYS_PTRACE is bit 19.
for c in CapPrm CapEff CapBnd CapAmb; do
	check "$c: $(field $c) (CAP_SYS_PTRACE only)" 0000000000080000 "$(field $c)"
done
check "NoNewPrivs: $(field NoNewPrivs)" 1 "$(field NoNewPrivs)"
check "Seccomp: $(field Seccomp) (filter mode)" 2 "$(field Seccomp)"
# As root in the service's mount namespace: read-only even for root (ProtectSystem=strict).
w=$(sh_ct "nsenter -t $PIDD -m touch /usr/udsrpc-probe || true")
contains "a write under /usr from the service's mount namespace fails: $w" "Read-only file system" "$w"
w=$(sh_ct "nsenter -t $PIDD -m -S $uid -G $gid sh -c 'touch /var/lib/udsrpcd/probe && echo written && rm /var/lib/udsrpcd/probe' || true")
check "its state directory stays writable: $w" written "$w"

# 6. Reload: a policy with an exe rule for the second user's binary.
# config.set is denied to uid 65534 by the embedded policy; the file allows
# it to uid 65534 only through /usr/bin/udsrpcctl, so an exe match on
# another user's process is what lets the call through.
denied=$(nobody_set real/nobody 1)
contains "before: config.set as uid 65534 denied: $denied" "(code -32001)" "$denied"
in_ct sh -c 'mkdir -p /etc/udsrpcd && cat >/etc/udsrpcd/policy.json' <<'EOF'
{"rules": [
  {"effect": "allow", "methods": ["ping", "rpc.discover", "daemon.info", "peer.whoami"]},
  {"effect": "allow", "methods": ["config.set"], "uids": [65534], "exe": ["/usr/bin/udsrpcctl"]},
  {"effect": "allow", "methods": ["*"], "uids": [0, "self"]}
]}
EOF
echo 'UDSRPCD_OPTS="-p /etc/udsrpcd/policy.json"' | in_ct sh -c 'cat >/etc/default/udsrpcd'
in_ct systemctl restart udsrpcd.service
PIDD=$(mainpid)
allowed=$(nobody_set real/nobody 1)
check "policy file: uid 65534 through /usr/bin/udsrpcctl may config.set: $allowed" "revision 2" "$allowed"
sh_ct 'cp /usr/bin/udsrpcctl /usr/local/bin/other-ctl'
other=$(nobody_set real/nobody 2 /usr/local/bin/other-ctl)
contains "the same uid through another binary is denied: $other" "(code -32001)" "$other"
# A changed policy: the exe rule names the other binary now.
in_ct sed -i 's|"/usr/bin/udsrpcctl"|"/usr/local/bin/other-ctl"|' /etc/udsrpcd/policy.json
in_ct systemctl reload udsrpcd.service
check "systemctl reload kept the same process: $(mainpid)" "$PIDD" "$(mainpid)"
denied=$(eventually "(code -32001)" nobody_set real/nobody 3)
contains "after reload the changed policy applies: udsrpcctl denied: $denied" "(code -32001)" "$denied"
allowed=$(nobody_set real/nobody 3 /usr/local/bin/other-ctl)
check "after reload the changed policy applies: other-ctl allowed: $allowed" "revision 3" "$allowed"
# A broken one: logged, the one in force kept (the embedded policy would
# deny other-ctl).
in_ct sh -c 'echo "{\"rules\": [" >/etc/udsrpcd/policy.json'
c=$(cursor)
in_ct systemctl reload udsrpcd.service
broken=$(eventually "keeping the running policy" errors_after "$c")
check "after the broken reload: still active, same process: $(show ActiveState udsrpcd.service) $(mainpid)" \
	"active $PIDD" "$(show ActiveState udsrpcd.service) $(mainpid)"
contains "the broken policy is logged at priority err: $broken" "/etc/udsrpcd/policy.json: line " "$broken"
check "ping still answered: $(in_ct udsrpcctl ping 2>&1)" pong "$(in_ct udsrpcctl ping 2>&1 | cut -d' ' -f1)"
allowed=$(nobody_set real/nobody 4 /usr/local/bin/other-ctl)
check "the policy in force is kept (other-ctl still allowed): $allowed" "revision 4" "$allowed"
# A valid policy the daemon must not believe: another user's file, then a
# group-writable one. udsrpcd is not root here, and still refuses them.
printf '%s\n' '{"rules": [{"effect": "allow", "methods": ["*"]}]}' | in_ct sh -c 'cat >/etc/udsrpcd/policy.json'
for how in "chown 65534 /etc/udsrpcd/policy.json|owned by uid 65534" \
	"chown 0 /etc/udsrpcd/policy.json; chmod 0664 /etc/udsrpcd/policy.json|writable by group or others"; do
	want=${how#*|}
	how=${how%|*}
	sh_ct "$how"
	c=$(cursor)
	in_ct systemctl reload udsrpcd.service
	refused=$(eventually "keeping the running policy" errors_after "$c")
	contains "$how: refused: $refused" "$want" "$refused"
	allowed=$(nobody_set real/nobody 5 /usr/local/bin/other-ctl)
	contains "$how: the policy in force is kept: $allowed" "revision" "$allowed"
done
sh_ct 'chmod 0644 /etc/udsrpcd/policy.json'

# 7. Journal priorities: the daemon's <N> prefixes become PRIORITY=.
prios=$(in_ct journalctl -u udsrpcd -o verbose --no-pager _PID="$PIDD" | sed -n 's/^ *PRIORITY=//p' | sort -u | tr '\n' ' ')
has() { case " $prios" in *" $1 "*) echo yes ;; *) echo no ;; esac; }
check "journalctl -u udsrpcd -o verbose _PID=$PIDD: PRIORITY values $prios(3 err, 6 info)" "yes yes" \
	"$(has 3) $(has 6)"

# 8. Stop: the socket stays, the next connection starts the service again.
sh_ct 'printf "{\"rules\": [{\"effect\": \"allow\", \"methods\": [\"*\"], \"uids\": [0, \"self\"]}]}\n" >/etc/udsrpcd/policy.json'
in_ct systemctl stop udsrpcd.service 2>"$DIR/stop.err" || true
check "systemctl stop: service $(show ActiveState udsrpcd.service), socket $(show SubState udsrpcd.socket)" \
	"inactive listening" "$(show ActiveState udsrpcd.service) $(show SubState udsrpcd.socket)"
check "/run/udsrpcd.sock still there: $(sh_ct 'stat -c %F /run/udsrpcd.sock')" socket \
	"$(sh_ct 'stat -c %F /run/udsrpcd.sock')"
ping=$(in_ct udsrpcctl -t 60000 ping 2>&1 || true)
contains "the next connection starts it again: $ping, $(show ActiveState udsrpcd.service) pid $(mainpid)" pong "$ping"
check "a new process" yes "$([ "$(mainpid)" != "$PIDD" ] && [ "$(mainpid)" != 0 ] && echo yes || echo no)"

# 9. Durable keys survive a restart.
old=$(mainpid)
in_ct systemctl restart udsrpcd.service
check "systemctl restart: new pid $(mainpid) (was $old)" yes "$([ "$(mainpid)" != "$old" ] && echo yes || echo no)"
check "real/durable after the restart: $(in_ct udsrpcctl get real/durable 2>&1)" kept \
	"$(in_ct udsrpcctl get real/durable 2>&1)"
check "real/nobody after the restart: $(in_ct udsrpcctl get real/nobody 2>&1)" 5 \
	"$(in_ct udsrpcctl get real/nobody 2>&1)"

# 10. systemd's rating of the running unit.
rating=$(in_ct systemd-analyze security udsrpcd.service 2>&1 | grep 'Overall exposure level' || true)
echo "systemd-analyze security udsrpcd: $rating"
level=$(echo "$rating" | sed -n 's/.*udsrpcd.service: \([0-9.]*\) .*/\1/p')
check "systemd-analyze security udsrpcd, exposure at most 2.0 (OK or SAFE): ${rating#*: }" yes \
	"$(awk -v l="${level:-99}" 'BEGIN { print (l <= 2.0) ? "yes" : "no" }')"

container_stop
check "container powered off" no "$(kill -0 "$CPID" 2>/dev/null && echo yes || echo no)"
echo "runtime: $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
finish
