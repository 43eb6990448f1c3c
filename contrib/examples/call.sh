#!/bin/sh
# call.sh — one JSON-RPC call through socat: prints the result, or the error
# reply on stderr with exit status 1 (4 for permission denied, 3 when there
# is no reply), like udsrpcctl.
# usage: call.sh [-s SOCKET] METHOD [PARAMS_JSON]
#   call.sh ping
#   call.sh config.get '{"key":"app/mode"}'
#   UDSRPC_SOCKET=/tmp/demo.sock call.sh daemon.info
set -eu
S=${UDSRPC_SOCKET:-/run/udsrpcd.sock}
if [ "${1:-}" = -s ]; then
	S=$2
	shift 2
fi
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: call.sh [-s SOCKET] METHOD [PARAMS_JSON]" >&2
	exit 2
fi
method=$1
if [ $# -eq 2 ]; then
	req="{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$method\",\"params\":$2}"
else
	req="{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$method\"}"
fi

reply=$(printf '%s\n' "$req" | socat -t 5 - UNIX-CONNECT:"$S") || reply=""
if [ -z "$reply" ]; then
	echo "call.sh: no reply from $S; is udsrpcd running? (socket: -s or \$UDSRPC_SOCKET)" >&2
	exit 3
fi
# udsrpcd writes the members in this order, so plain prefix matching is
# enough here; a general client would parse the JSON (see udsrpc.py).
head='{"jsonrpc":"2.0","id":1,"result":'
case $reply in
"$head"*)
	result=${reply#"$head"}
	printf '%s\n' "${result%\}}"
	;;
*'"code":-32001,'*)
	echo "call.sh: $method: $reply" >&2
	exit 4
	;;
*)
	echo "call.sh: $method: $reply" >&2
	exit 1
	;;
esac
