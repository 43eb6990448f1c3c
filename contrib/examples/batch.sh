#!/bin/sh
# batch.sh — several calls in one JSON-RPC batch: one line out, one array
# back, the answers in the order of the calls (the notification gets none).
# usage: batch.sh [SOCKET]   (default: $UDSRPC_SOCKET, else /run/udsrpcd.sock)
# Sets two keys under app/example/ (an admin method: root or the daemon's user).
set -eu
S=${1:-${UDSRPC_SOCKET:-/run/udsrpcd.sock}}

batch='[
 {"jsonrpc":"2.0","id":1,"method":"config.set","params":{"key":"app/example/colour","value":"blue"}},
 {"jsonrpc":"2.0","id":2,"method":"config.set","params":{"key":"app/example/replicas","value":3}},
 {"jsonrpc":"2.0","method":"ping"},
 {"jsonrpc":"2.0","id":3,"method":"config.list","params":{"prefix":"app/example/"}},
 {"jsonrpc":"2.0","id":4,"method":"daemon.info"}
]'
# One request is one line: squeeze the pretty text above onto one.
reply=$(printf '%s\n' "$(printf '%s' "$batch" | tr -d '\n')" | socat -t 5 - UNIX-CONNECT:"$S") || reply=""
if [ -z "$reply" ]; then
	echo "batch.sh: no reply from $S; is udsrpcd running?" >&2
	exit 3
fi
printf '%s\n' "$reply"
case $reply in
*'"error":{"code":'*)
	echo "batch.sh: at least one call failed" >&2
	exit 1
	;;
esac
