#!/bin/sh
# socat-oneliners.sh — udsrpcd from the shell with nothing but socat. Every
# command below works on its own: copy the line you need.
# usage: socat-oneliners.sh [SOCKET]   (default: $UDSRPC_SOCKET, else /run/udsrpcd.sock)
#
# socat sends the lines, half-closes at the end of its input, and the daemon
# answers every request it got, then closes; -t 5 only bounds the wait.
# config.set and config.unset are admin methods: under the default policy only
# root and the daemon's own user may call them (others get error -32001).
set -eu
S=${1:-${UDSRPC_SOCKET:-/run/udsrpcd.sock}}

echo '# ping'
echo '{"jsonrpc":"2.0","id":1,"method":"ping"}' | socat -t 5 - UNIX-CONNECT:"$S"

echo '# who the daemon thinks we are (from the kernel, not from the request)'
echo '{"jsonrpc":"2.0","id":1,"method":"peer.whoami"}' | socat -t 5 - UNIX-CONNECT:"$S"

echo '# name, version, pid, socket, uptime'
echo '{"jsonrpc":"2.0","id":1,"method":"daemon.info"}' | socat -t 5 - UNIX-CONNECT:"$S"

echo '# set a key (answered once it is on disk), then read it back'
echo '{"jsonrpc":"2.0","id":1,"method":"config.set","params":{"key":"example/greeting","value":"hello"}}' | socat -t 5 - UNIX-CONNECT:"$S"
echo '{"jsonrpc":"2.0","id":1,"method":"config.get","params":{"key":"example/greeting"}}' | socat -t 5 - UNIX-CONNECT:"$S"

echo '# several requests on one connection: replies come back in order'
printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"config.list","params":{"prefix":"example/"}}' \
	'{"jsonrpc":"2.0","id":2,"method":"config.unset","params":{"key":"example/greeting"}}' \
	'{"jsonrpc":"2.0","id":3,"method":"config.get","params":{"key":"example/greeting"}}' |
	socat -t 5 - UNIX-CONNECT:"$S"

echo '# a notification (no "id") gets no reply at all; the ping after it does'
printf '%s\n' '{"jsonrpc":"2.0","method":"ping"}' '{"jsonrpc":"2.0","id":"after","method":"ping"}' |
	socat -t 5 - UNIX-CONNECT:"$S"

echo '# the same with netcat-openbsd: -N half-closes at the end of input'
echo '{"jsonrpc":"2.0","id":1,"method":"ping"}' | nc -N -U "$S"
