#!/bin/bash
# readme_use.sh — the commands of README.md's "Use it" section work as
# written: each fenced block after a "<!-- readme_use: NAME -->" marker runs
# (bash -e -o pipefail) against a temporary daemon whose socket replaces
# /run/udsrpcd.sock, and every output the README shows in a "# {...}"
# comment is what the daemon printed.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/common.sh"
need_tool socat socat

CTL=${UDSRPCCTL:-$UDSRPC_BINARY_DIR/ctl/udsrpcctl}

# block NAME: the marked block, with the test daemon's socket.
block() {
	readme_block "$1" | sed "s|/run/udsrpcd.sock|$SOCK|g"
}
for name in shell shell-admin shell-watch socat socat-watch; do
	block "$name" >"$DIR/$name.sh"
	check "README block $name found" yes "$([ -s "$DIR/$name.sh" ] && echo yes || echo no)"
done

# documented NAME OUTPUT: every "# {...}" / "# [...]" line of the block is a
# line of OUTPUT.
documented() {
	local line
	while IFS= read -r line; do
		check "$1: README shows ${line:0:40}..." yes \
			"$(printf '%s\n' "$2" | grep -qxF -- "$line" && echo yes || echo no)"
	done < <(sed -n 's/^# \([{[].*\)$/\1/p' "$DIR/$1.sh")
}

start_daemon
# The README's commands find udsrpcctl on PATH, as an installed one is.
mkdir "$DIR/bin"
export PATH=$DIR/bin:$PATH

# --- script author: socat ---------------------------------------------------
rc=0
out=$(bash -e -o pipefail "$DIR/socat.sh" 2>&1) || rc=$?
check "socat block: exit 0" 0 "$rc"
documented socat "$out"
contains "socat block: set" '{"jsonrpc":"2.0","id":1,"result":{"key":"app/colour","revision":1}}' "$out"
contains "socat block: get" '{"jsonrpc":"2.0","id":2,"result":{"key":"app/colour","value":"red","revision":1,"create_revision":1,"version":1}}' "$out"
contains "socat block: batch" '[{"jsonrpc":"2.0","id":1,"result":"pong"},{"jsonrpc":"2.0","id":2,"result":{"items":[{"key":"app/colour","value":"red","revision":1,"create_revision":1,"version":1}],"revision":1,"more":false}}]' "$out"

# The event follower: its input stays open (the README's `cat`) until we
# close it, as Ctrl-D would.
mkfifo "$DIR/stdin"
bash -e -o pipefail "$DIR/socat-watch.sh" <"$DIR/stdin" >"$DIR/socat-watch.out" 2>&1 &
SWPID=$!
on_exit "kill $SWPID"
exec 7>"$DIR/stdin"
wait_for "socat-watch subscribed" subscribed config || true
rpc '{"jsonrpc":"2.0","id":1,"method":"config.set","params":{"key":"app/colour","value":"green"}}' >/dev/null
wait_for "an event line" grep -q '"method":"event"' "$DIR/socat-watch.out" || true
exec 7>&-
rc=0
timeout 10 tail --pid="$SWPID" -f /dev/null || rc=$?
check "socat-watch block ends at end of input" 0 "$rc"
check "socat-watch block: the event, and only events" \
	'{"jsonrpc":"2.0","method":"event","params":{"topic":"config","type":"set","key":"app/colour","revision":2,"value":"green","peer":{"uid":'"$(id -u)"',"pid":PID}}}' \
	"$(sed -E 's/"pid":[0-9]+/"pid":PID/' "$DIR/socat-watch.out")"

# --- shell user: udsrpcctl --------------------------------------------------
if [ ! -x "$CTL" ]; then
	echo "note: udsrpcctl is not built ($CTL): its README blocks are not run"
else
	ln -s "$(readlink -f "$CTL")" "$DIR/bin/udsrpcctl"
	rc=0
	out=$(bash -e -o pipefail "$DIR/shell.sh" 2>&1) || rc=$?
	check "shell block: exit 0" 0 "$rc"
	check "shell block: ping" yes "$(printf '%s\n' "$out" | head -1 | grep -qE '^pong \([0-9.]+ ms\)$' && echo yes || echo no)"
	contains "shell block: whoami" "uid:    $(id -u)" "$out"
	contains "shell block: methods" "config.set" "$out"
	contains "shell block: info" "socket:      $SOCK" "$out"
	# The next blocks are typed as root, for whom /run/udsrpcd.sock is the
	# default socket; here that default is the test daemon's.
	export UDSRPC_SOCKET=$SOCK

	# watch first, then the changes it reports.
	bash -e -o pipefail "$DIR/shell-watch.sh" >"$DIR/shell-watch.out" 2>&1 &
	WPID=$!
	on_exit "kill $WPID"
	wait_for "udsrpcctl watch subscribed" subscribed config || true

	rc=0
	out=$(bash -e -o pipefail "$DIR/shell-admin.sh" 2>&1) || rc=$?
	check "shell-admin block: exit 0" 0 "$rc"
	check "shell-admin block: set, set, set --expect-revision 0, get, list, -j get, unset" \
		"revision 3
revision 4
revision 5
blue
app/colour	green
app/mode	blue
app/owner	ops
app/replicas	3
{\"key\":\"app/replicas\",\"value\":3,\"revision\":4,\"create_revision\":4,\"version\":1}
revision 6" "$(printf '%s\n' "$out" | sed -n '1,10p')"
	contains "shell-admin block: stats table" "METHOD" "$out"

	rc=0
	timeout 10 tail --pid="$WPID" -f /dev/null || rc=$?
	check "shell-watch block: done after --count 2" 0 "$rc"
	check "shell-watch block: the first two changes" \
		'{"topic":"config","type":"set","key":"app/mode","revision":3,"value":"blue"}
{"topic":"config","type":"set","key":"app/replicas","revision":4,"value":3}' \
		"$(sed -E 's/,"peer":\{[^}]*\}//' "$DIR/shell-watch.out")"
fi

stop_daemon
check "daemon: exit 0" 0 "$STATUS"
finish
