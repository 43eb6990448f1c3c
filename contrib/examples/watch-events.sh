#!/bin/bash
# watch-events.sh — subscribe and print each event as it arrives (its params
# object, one JSON line), like `udsrpcctl watch`, with socat.
# usage: watch-events.sh [-s SOCKET] [-n COUNT] [TOPIC...]
#   TOPIC: config, peer, daemon (default: all three); stops after COUNT
#   events, at Ctrl-C, or when the daemon goes away.
set -euo pipefail
S=${UDSRPC_SOCKET:-/run/udsrpcd.sock}
count=0
while getopts s:n: opt; do
	case $opt in
	s) S=$OPTARG ;;
	n) count=$OPTARG ;;
	*)
		echo "usage: watch-events.sh [-s SOCKET] [-n COUNT] [TOPIC...]" >&2
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- config peer daemon
topics=$(printf '"%s",' "$@")

# socat runs beside us: we write the request to it and read its output.
# Bash unsets SOCAT and SOCAT_PID, and closes their descriptors, once socat
# exits (the daemon stopped): keep copies of our own, and close bash's.
coproc SOCAT { exec socat - UNIX-CONNECT:"$S"; }
socat_pid=$SOCAT_PID
exec {from}<&"${SOCAT[0]}" {to}>&"${SOCAT[1]}"
fd=${SOCAT[0]}
exec {fd}<&-
fd=${SOCAT[1]}
exec {fd}>&-
printf '{"jsonrpc":"2.0","id":1,"method":"events.subscribe","params":{"topics":[%s]}}\n' \
	"${topics%,}" >&"$to"
if ! read -r -t 5 reply <&"$from"; then
	echo "watch-events.sh: no reply from $S; is udsrpcd running?" >&2
	exit 3
fi
case $reply in
*'"result":'*) echo "watch-events.sh: subscribed: $reply" >&2 ;;
*)
	echo "watch-events.sh: $reply" >&2
	exit 1
	;;
esac

head='{"jsonrpc":"2.0","method":"event","params":'
n=0
while read -r line <&"$from"; do
	params=${line#"$head"}
	printf '%s\n' "${params%\}}"
	n=$((n + 1))
	if [ "$count" -gt 0 ] && [ "$n" -ge "$count" ]; then
		break
	fi
done
# Half-close: the daemon answers what it has, then closes; socat exits.
exec {to}>&-
wait "$socat_pid" 2>/dev/null || true
if [ "$count" -eq 0 ] || [ "$n" -lt "$count" ]; then
	echo "watch-events.sh: the daemon closed the connection after $n event(s)" >&2
fi
# Fewer events than asked for is a failure; with no count, the daemon
# going away is one of the ways to stop.
[ "$count" -eq 0 ] || [ "$n" -ge "$count" ] || exit 1
