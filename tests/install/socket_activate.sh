#!/bin/bash
# socket_activate.sh — systemd-style socket activation with Debian's
# systemd-socket-activate: the socket exists before the daemon, the first
# client starts udsrpcd on it, READY=1 reaches NOTIFY_SOCKET, the passed socket
# wins over -s and is never unlinked, and the state survives a re-activation.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/common.sh"
need_tool systemd-socket-activate systemd
need_tool socat socat

UDSRPCD_ABS=$(readlink -f "$UDSRPCD")
NOTIFY=$DIR/notify.sock

# A datagram socket standing in for systemd's notification socket.
socat -u "UNIX-RECV:$NOTIFY" "OPEN:$DIR/notify.out,creat,append" &
NPID=$!
on_exit "kill $NPID"
wait_for "notify socket" test -S "$NOTIFY"

# activate: systemd-socket-activate listens on $SOCK and, on the first
# connection, execs udsrpcd in place (same pid), passing fd 3 and only the
# environment given with -E.
activate() {
	systemd-socket-activate -l "$SOCK" -E NOTIFY_SOCKET="$NOTIFY" -E STATE_DIRECTORY="$DIR/state" \
		"$UDSRPCD_ABS" -s "$DIR/not-this.sock" 2>>"$DIR/stderr" &
	PID=$!
	wait_for "activation socket" test -S "$SOCK"
}

activate
inode=$(stat -c %i "$SOCK")
check "before any client: no udsrpcd yet" systemd-socket- "$(cat /proc/$PID/comm)"

check "first client is served" '{"jsonrpc":"2.0","id":1,"result":"pong"}' \
	"$(rpc '{"jsonrpc":"2.0","id":1,"method":"ping"}')"
check "udsrpcd runs in the activator's process" "$UDSRPCD_ABS" "$(readlink -f /proc/$PID/exe)"
info=$(rpc '{"jsonrpc":"2.0","id":2,"method":"daemon.info"}')
contains "daemon.info: the passed socket" "\"socket\":\"$SOCK\"" "$info"
contains "daemon.info: pid of the activated process" "\"pid\":$PID," "$info"
check "LISTEN_FDS wins over -s" no "$([ -e "$DIR/not-this.sock" ] && echo yes || echo no)"
wait_for "READY=1" grep -q READY=1 "$DIR/notify.out" || true
check "READY=1 sent" READY=1 "$(grep -o READY=1 "$DIR/notify.out")"
check "state dir from STATE_DIRECTORY" yes "$([ -d "$DIR/state" ] && echo yes || echo no)"
check "config.set through the activated daemon" '{"jsonrpc":"2.0","id":3,"result":{"key":"activation/k","revision":1}}' \
	"$(rpc '{"jsonrpc":"2.0","id":3,"method":"config.set","params":{"key":"activation/k","value":"v"}}')"

stop_daemon
check "SIGTERM: exit 0" 0 "$STATUS"
wait_for "STOPPING=1" grep -q STOPPING=1 "$DIR/notify.out" || true
check "STOPPING=1 sent" STOPPING=1 "$(grep -o STOPPING=1 "$DIR/notify.out")"
check "the passed socket is not unlinked" yes "$([ -S "$SOCK" ] && echo yes || echo no)"
check "the passed socket is the same file" "$inode" "$(stat -c %i "$SOCK")"
grep -q "serving on $SOCK" "$DIR/stderr" && served=yes || served=no
check "log names the passed socket" yes "$served"

# Activated again on the same path (as systemd would after a restart): the
# durable store comes back.
rm -f "$SOCK"
activate
check "re-activated: state survived" '{"jsonrpc":"2.0","id":4,"result":{"key":"activation/k","value":"v","revision":1,"create_revision":1,"version":1}}' \
	"$(rpc '{"jsonrpc":"2.0","id":4,"method":"config.get","params":{"key":"activation/k"}}')"
stop_daemon
check "second stop: exit 0" 0 "$STATUS"
finish
