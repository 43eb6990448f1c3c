#!/bin/bash
# systemd_verify.sh — systemd-analyze verify accepts both units, as written
# (ExecStart pointed at the built binary) and as `cmake --install` writes them
# for another prefix and with DESTDIR; man:udsrpcd(8) resolves to our page.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/common.sh"
need_tool systemd-analyze systemd
need_tool man man-db

SRC=$UDSRPC_SOURCE_DIR/contrib/systemd
UDSRPCD_ABS=$(readlink -f "$UDSRPCD")

# Documentation=man:udsrpcd(8) is checked by running man: give it our pages.
mkdir -p "$DIR/man/man8" "$DIR/man/man1"
cp "$UDSRPC_SOURCE_DIR/contrib/man/udsrpcd.8" "$DIR/man/man8/"
export MANPATH=$DIR/man

# verify NAME UNIT...: exit 0 and not one warning.
verify() {
	local name=$1 out rc=0
	shift
	out=$(systemd-analyze verify "$@" 2>&1) || rc=$?
	check "$name: systemd-analyze verify exit status" 0 "$rc"
	check "$name: systemd-analyze verify says nothing" "" "$out"
}

# 1. The units from the source tree, ExecStart rewritten to the built daemon.
mkdir "$DIR/src"
cp "$SRC/udsrpcd.service" "$SRC/udsrpcd.socket" "$DIR/src/"
sed -i "s|^ExecStart=/usr/sbin/udsrpcd |ExecStart=$UDSRPCD_ABS |" "$DIR/src/udsrpcd.service"
check "ExecStart rewritten" "ExecStart=$UDSRPCD_ABS \$UDSRPCD_OPTS" \
	"$(grep '^ExecStart=' "$DIR/src/udsrpcd.service")"
verify "source units" "$DIR/src/udsrpcd.socket" "$DIR/src/udsrpcd.service"

# What the units promise, line by line.
unit() { grep -E "^$1=" "$DIR/src/udsrpcd.$2" | tr '\n' ' '; }
check "service Type" "Type=notify " "$(unit Type service)"
check "service ExecReload" 'ExecReload=/bin/kill -HUP $MAINPID ' "$(unit ExecReload service)"
check "service RuntimeDirectory" "RuntimeDirectory=udsrpcd " "$(unit RuntimeDirectory service)"
check "service StateDirectory" "StateDirectory=udsrpcd " "$(unit StateDirectory service)"
check "service needs its socket" "Requires=udsrpcd.socket " "$(unit Requires service)"
check "socket ListenStream" "ListenStream=/run/udsrpcd.sock " "$(unit ListenStream socket)"
check "socket SocketMode" "SocketMode=0666 " "$(unit SocketMode socket)"
for opt in ProtectSystem=strict ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes \
	RestrictAddressFamilies=AF_UNIX LockPersonality=yes MemoryDenyWriteExecute=yes \
	ProtectKernelTunables=yes ProtectKernelModules=yes ProtectKernelLogs=yes \
	SystemCallFilter=@system-service SystemCallFilter=~@resources IPAddressDeny=any PrivateNetwork=yes; do
	check "service sandbox $opt" "$opt " "$(unit "${opt%%=*}" service | grep -o "$opt " | head -1)"
done
# Its own system user (sysusers.d/udsrpcd.conf) keeping the one capability
# that reads other users' /proc/PID/exe (issue 18's privilege decision).
check "service User" "User=udsrpcd " "$(unit User service)"
check "service Group" "Group=udsrpcd " "$(unit Group service)"
check "service AmbientCapabilities" "AmbientCapabilities=CAP_SYS_PTRACE " "$(unit AmbientCapabilities service)"
check "service CapabilityBoundingSet" "CapabilityBoundingSet=CAP_SYS_PTRACE " "$(unit CapabilityBoundingSet service)"
check "sysusers.d file makes that user" 'u udsrpcd - "udsrpc control daemon" /var/lib/udsrpcd /usr/sbin/nologin' \
	"$(grep '^u ' "$SRC/udsrpcd.sysusers")"
# These would hide or disguise the peers the daemon must identify
# (DynamicUser= would also make the durable store's owner change).
for opt in ProtectProc PrivateUsers DynamicUser; do
	check "service does not set $opt" "" "$(unit $opt service)"
done

# 2. cmake --install to another prefix: units in PREFIX/lib/systemd/system,
#    ExecStart naming the binary installed there.
if ! cmake --install "$UDSRPC_BINARY_DIR" --prefix "$DIR/prefix" >"$DIR/install.log" 2>&1; then
	cat "$DIR/install.log" >&2
	check "cmake --install --prefix" 0 1
fi
check "prefix install: daemon in sbin" yes "$([ -x "$DIR/prefix/sbin/udsrpcd" ] && echo yes || echo no)"
check "prefix install: ExecStart" "ExecStart=$DIR/prefix/sbin/udsrpcd \$UDSRPCD_OPTS" \
	"$(grep '^ExecStart=' "$DIR/prefix/lib/systemd/system/udsrpcd.service")"
verify "prefix install" "$DIR/prefix/lib/systemd/system/udsrpcd.socket" \
	"$DIR/prefix/lib/systemd/system/udsrpcd.service"

# 3. DESTDIR with prefix /usr, as a distribution builds: /lib/systemd/system.
if ! DESTDIR=$DIR/dest cmake --install "$UDSRPC_BINARY_DIR" --prefix /usr >"$DIR/install.log" 2>&1; then
	cat "$DIR/install.log" >&2
	check "DESTDIR cmake --install" 0 1
fi
check "DESTDIR: daemon at usr/sbin" yes "$([ -x "$DIR/dest/usr/sbin/udsrpcd" ] && echo yes || echo no)"
check "DESTDIR: units at lib/systemd/system" "udsrpc-serve@.service udsrpcd.service udsrpcd.socket" \
	"$(ls "$DIR/dest/lib/systemd/system" | tr '\n' ' ' | sed 's/ $//')"
check "DESTDIR: ExecStart" 'ExecStart=/usr/sbin/udsrpcd $UDSRPCD_OPTS' \
	"$(grep '^ExecStart=' "$DIR/dest/lib/systemd/system/udsrpcd.service")"
check "DESTDIR: nothing outside DESTDIR's usr and lib" "lib usr" "$(ls "$DIR/dest" | tr '\n' ' ' | sed 's/ $//')"
check "DESTDIR: installed unit = source unit" "" \
	"$(diff "$SRC/udsrpcd.service" "$DIR/dest/lib/systemd/system/udsrpcd.service")"
check "DESTDIR: installed serve template = source template" "" \
	"$(diff "$SRC/udsrpc-serve@.service" "$DIR/dest/lib/systemd/system/udsrpc-serve@.service")"
# The template for an instance, from the prefix install (ExecStart there names
# the udsrpcctl installed with it; man:udsrpcctl(1) resolves to our page).
cp "$UDSRPC_SOURCE_DIR/contrib/man/udsrpcctl.1" "$DIR/man/man1/"
check "prefix install: the serve template's ExecStart" \
	"ExecStart=$DIR/prefix/bin/udsrpcctl -s /run/udsrpcd.sock serve %i \$SERVE_OPTS -- \$SERVE_COMMAND" \
	"$(grep '^ExecStart=' "$DIR/prefix/lib/systemd/system/udsrpc-serve@.service")"
verify "serve template, instance app.restart" "$DIR/prefix/lib/systemd/system/udsrpc-serve@app.restart.service"
finish
