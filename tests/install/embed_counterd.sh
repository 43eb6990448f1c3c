#!/bin/bash
# embed_counterd.sh — a service built on the installed library alone:
# `cmake --install` of the build tree into a temporary prefix, counterd (the
# example of the -dev package) compiled from there with cc and pkg-config,
# with CMake's find_package(udsrpc), and statically against libudsrpc.a;
# then driven with the prefix's udsrpcctl, socat and udsrpc-bench: its
# methods, its own rpc.discover, params checked by its schema, events, the
# policy (from other uids when root), SIGHUP and SIGTERM.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/common.sh"
need_tool cc gcc
need_tool pkg-config pkgconf
need_tool socat socat
need_tool od coreutils
: "${UDSRPC_BINARY_DIR:?run through ctest, or export UDSRPC_BINARY_DIR=build dir}"
: "${UDSRPC_SOURCE_DIR:?run through ctest, or export UDSRPC_SOURCE_DIR=checkout}"

# Everything another uid runs or reaches lives under $DIR: the checkout and
# the build tree may sit in a directory only root can enter.
chmod 0711 "$DIR"
P=$DIR/prefix
run "cmake --install into $P" cmake --install "$UDSRPC_BINARY_DIR" --prefix "$P"
chmod -R a+rX "$P"
pc=$(find "$P" -name udsrpc.pc -print -quit)
check "the prefix has udsrpc.pc" yes "$([ -n "$pc" ] && echo yes || echo no)"
[ -n "$pc" ] || { finish; exit 1; }
export PKG_CONFIG_PATH=${pc%/*}
LIB=$(pkg-config --variable=libdir udsrpc)
check "pkg-config: libdir is in the prefix" "$P" "${LIB%/lib*}"
check "pkg-config: version" 0.1.0 "$(pkg-config --modversion udsrpc)"
CFLAGS_UDSRPC=$(pkg-config --cflags udsrpc)
LIBS_UDSRPC=$(pkg-config --libs udsrpc)
echo "pkg-config --cflags --libs udsrpc: $CFLAGS_UDSRPC $LIBS_UDSRPC"
lacks "pkg-config: nothing of the source tree" "$UDSRPC_SOURCE_DIR" "$CFLAGS_UDSRPC $LIBS_UDSRPC"
lacks "pkg-config: nothing of the build tree" "$UDSRPC_BINARY_DIR" "$CFLAGS_UDSRPC $LIBS_UDSRPC"
CTL=$P/bin/udsrpcctl
BENCH=$P/bin/udsrpc-bench
[ -x "$CTL" ] || skip "udsrpcctl is not built"
# The installed programs carry no RPATH: they find the library here.
export LD_LIBRARY_PATH=$LIB

# The example's sources, as installed (the -dev package's docs), each the
# file of contrib/examples/embed.
EX=$P/share/doc/libudsrpc-dev/examples/embed
S=$DIR/src
mkdir "$S"
cp "$EX"/* "$S"/
check "example files" "CMakeLists.txt Makefile README.md counterd.c counterd.openrpc.json policy.json" \
	"$(cd "$S" && ls | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
for f in "$UDSRPC_SOURCE_DIR"/contrib/examples/embed/*; do
	check "installed ${f##*/} is contrib/examples/embed/${f##*/}" same "$(cmp "$f" "$S/${f##*/}" && echo same)"
done

# A sanitizer build installs a sanitized library: its users link the runtimes too.
SAN=()
[ -z "${UDSRPC_SANITIZED:-}" ] || SAN=(-fsanitize=address,undefined -fno-omit-frame-pointer)

# cc and pkg-config, as the README says.
(cd "$S" && od -An -v -tx1 counterd.openrpc.json | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g' >counterd.openrpc.h)
# shellcheck disable=SC2086 # the flags are words
run "cc counterd.c \$(pkg-config --cflags --libs udsrpc)" \
	cc "${SAN[@]}" -O2 -g -Wall -Wextra -Werror -o "$S/counterd" "$S/counterd.c" -I"$S" $CFLAGS_UDSRPC $LIBS_UDSRPC
found=$(ldd "$S/counterd" | awk '$1 == "libudsrpc.so.0" {print $3}')
check "counterd loads libudsrpc.so.0 of the prefix" "$LIB/libudsrpc.so.0" "$found"

# Statically: libudsrpc.a, with Requires.private and Libs.private.
# shellcheck disable=SC2046
run "cc counterd.c libudsrpc.a \$(pkg-config --static --libs udsrpc)" \
	cc "${SAN[@]}" -O2 -Wall -Wextra -Werror -o "$S/counterd-static" "$S/counterd.c" -I"$S" $CFLAGS_UDSRPC \
	$(pkg-config --static --libs udsrpc | sed 's/-ludsrpc\b/-Wl,-Bstatic -ludsrpc -Wl,-Bdynamic/')
check "counterd-static needs no libudsrpc.so.0" "" \
	"$(readelf -d "$S/counterd-static" | grep 'libudsrpc' || true)"

# find_package(udsrpc): a CMakeLists.txt of its own here, and the example's.
if command -v cmake >/dev/null; then
	mkdir "$DIR/fp"
	cat >"$DIR/fp/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.20)
project(counterd_fp LANGUAGES C)
find_package(udsrpc 0.1 REQUIRED)
message(STATUS "udsrpc \${udsrpc_VERSION} in \${udsrpc_DIR}")
add_executable(counterd $S/counterd.c)
target_include_directories(counterd PRIVATE $S)
target_link_libraries(counterd udsrpc::udsrpc)
EOF
	run "find_package(udsrpc): configure" env -u PKG_CONFIG_PATH \
		cmake -S "$DIR/fp" -B "$DIR/fp/build" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_FLAGS="${SAN[*]}"
	contains "find_package(udsrpc): found in the prefix" "udsrpc 0.1.0 in $LIB/cmake/udsrpc" "$(cat "$DIR/log")"
	run "find_package(udsrpc): build" cmake --build "$DIR/fp/build"
	found=$(env -u LD_LIBRARY_PATH ldd "$DIR/fp/build/counterd" | awk '$1 == "libudsrpc.so.0" {print $3}')
	check "find_package build: links libudsrpc.so.0 of the prefix (RUNPATH)" "$LIB/libudsrpc.so.0" "$found"
	sed -i 's/find_package(udsrpc 0.1 REQUIRED)/find_package(udsrpc 1.0 REQUIRED)/' "$DIR/fp/CMakeLists.txt"
	rc=0
	env -u PKG_CONFIG_PATH cmake -S "$DIR/fp" -B "$DIR/fp/build1" -DCMAKE_PREFIX_PATH="$P" >"$DIR/log" 2>&1 || rc=$?
	check "find_package(udsrpc 1.0) refuses 0.1.0" 1 "$rc"
	mkdir "$DIR/ex"
	cp "$EX"/* "$DIR/ex"/
	run "the example's CMakeLists.txt: configure" env -u PKG_CONFIG_PATH \
		cmake -S "$DIR/ex" -B "$DIR/ex/build" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_FLAGS="${SAN[*]}"
	run "the example's CMakeLists.txt: build" cmake --build "$DIR/ex/build"
	check "the example's CMakeLists.txt embeds the same bytes as od" same \
		"$([ "$(tr -d ' \n' <"$S/counterd.openrpc.h")" = "$(tr -d ' \n' <"$DIR/ex/build/counterd.openrpc.h")" ] && echo same)"
else
	echo "note: no cmake: find_package(udsrpc) is not tried"
fi

# ---- counterd at work -------------------------------------------------------
mkdir -m 0755 "$DIR/run"
CSOCK=$DIR/run/counterd.sock
cp "$S/policy.json" "$DIR/policy.json"
chmod 0644 "$DIR/policy.json"
CPID=""
start_counterd() {
	"$1" -s "$CSOCK" "${@:2}" 2>>"$DIR/counterd.err" &
	CPID=$!
	on_exit "kill -KILL $CPID"
	if ! wait_for "counterd listens on $CSOCK" socat -u /dev/null "UNIX-CONNECT:$CSOCK"; then
		cat "$DIR/counterd.err" >&2
		exit 1
	fi
}
stop_counterd() {
	kill -TERM "$CPID"
	STATUS=0
	wait "$CPID" || STATUS=$?
}
crpc() { printf '%s\n' "$@" | socat -t 5 -T 10 - "UNIX-CONNECT:$CSOCK"; }
ctl() { "$CTL" -s "$CSOCK" "$@"; }

# The statically linked one first, briefly.
start_counterd "$S/counterd-static"
check "counterd-static answers" '{"jsonrpc":"2.0","id":1,"result":"pong"}' \
	"$(crpc '{"jsonrpc":"2.0","id":1,"method":"ping"}')"
stop_counterd
check "counterd-static: exit 0 on SIGTERM" 0 "$STATUS"

start_counterd "$S/counterd" -p "$DIR/policy.json"
contains "counterd logs where it serves" "counterd: info: serving on $CSOCK" "$(cat "$DIR/counterd.err")"

# udsrpcctl call
check "call counter.add by 2" '{"name":"x","value":2}' "$(ctl call counter.add '{"name":"x","by":2}')"
check "call counter.add (by defaults to 1)" '{"name":"x","value":3}' "$(ctl call counter.add '{"name":"x"}')"
check "call counter.get" '{"name":"x","value":3}' "$(ctl call counter.get '{"name":"x"}')"
check "counter.get of a counter never added to: 0" '{"name":"never","value":0}' \
	"$(ctl call counter.get '{"name":"never"}')"
check "counter.add -5" '{"name":"y.z-1_","value":-5}' "$(ctl call counter.add '{"name":"y.z-1_","by":-5}')"
# err CMD...: "EXIT<TAB>STDERR" of a udsrpcctl that should fail.
err() {
	local rc=0 e
	e=$("$@" 2>&1 >/dev/null) || rc=$?
	printf '%s\t%s' "$rc" "$e"
}
code() { grep -o 'code -\{0,1\}[0-9]*' | head -1 | cut -d' ' -f2; }
for bad in '{"name":"Upper"}' '{"name":""}' '{"name":"x","by":"two"}' '{"name":"x","by":1.5}' \
	'{"name":"x","extra":1}' '{}' '{"name":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}'; do
	out=$(err ctl call counter.add "$bad")
	check "counter.add $bad: exit 1, -32602" "1 -32602" "${out%%	*} $(printf '%s' "${out#*	}" | code)"
done
contains "the message names the schema's pattern" 'does not match pattern' \
	"$(err ctl call counter.get '{"name":"No"}')"
out=$(err ctl call counter.add '{"name":"x","by":9007199254740990}')
check "out of range: exit 1, the service's error 1" "1 1" "${out%%	*} $(printf '%s' "${out#*	}" | code)"
contains "out of range: its message" "Counter out of range" "$out"
check "out of range: the counter keeps its value" '{"name":"x","value":3}' "$(ctl call counter.get '{"name":"x"}')"

# socat lines: several requests on one connection, a batch, a notification.
check "socat: requests in order, a batch, no reply to the notification" \
	'{"jsonrpc":"2.0","id":1,"result":{"name":"s","value":10}}
{"jsonrpc":"2.0","id":2,"result":{"name":"s","value":11}}
[{"jsonrpc":"2.0","id":3,"result":{"name":"s","value":11}},{"jsonrpc":"2.0","id":4,"result":{"name":"x","value":3}}]
{"jsonrpc":"2.0","id":5,"result":{"name":"s","value":12}}
{"jsonrpc":"2.0","id":6,"result":"pong"}' \
	"$(crpc '{"jsonrpc":"2.0","id":1,"method":"counter.add","params":{"name":"s","by":10}}' \
		'{"jsonrpc":"2.0","id":2,"method":"counter.add","params":{"name":"s"}}' \
		'[{"jsonrpc":"2.0","id":3,"method":"counter.get","params":{"name":"s"}},{"jsonrpc":"2.0","id":4,"method":"counter.get","params":{"name":"x"}}]' \
		'{"jsonrpc":"2.0","method":"counter.add","params":{"name":"s"}}' \
		'{"jsonrpc":"2.0","id":5,"method":"counter.get","params":{"name":"s"}}' \
		'{"jsonrpc":"2.0","id":6,"method":"ping"}')"
contains "socat: an unknown method is -32601" '"error":{"code":-32601' \
	"$(crpc '{"jsonrpc":"2.0","id":7,"method":"config.get","params":{"key":"a"}}')"
contains "socat: the service's error code on the wire" '"error":{"code":1,"message":"Counter out of range"' \
	"$(crpc '{"jsonrpc":"2.0","id":8,"method":"counter.add","params":{"name":"s","by":9007199254740991}}')"

# The built-ins switched on, and only those; rpc.discover is counterd's.
check "methods: counterd's and the four built-ins" \
	"counter.add counter.get counter.reset events.subscribe events.unsubscribe peer.whoami ping rpc.discover" \
	"$(ctl methods | awk '{print $1}' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
disc=$(ctl -j call rpc.discover)
contains "rpc.discover: counterd's own info" '"info":{"title":"counterd","version":"1.0.0"' "$disc"
contains "rpc.discover: the name schema" '"pattern":"^[a-z0-9_.-]{1,64}$"' "$disc"
contains "rpc.discover: counter.reset is admin" '"name":"counter.reset","summary":"Set a counter back to 0 (admin).","x-udsrpc-admin":true' "$disc"
contains "peer.whoami: the caller's uid and comm" "\"uid\":$(id -u)," "$(ctl -j call peer.whoami)"
contains "peer.whoami: comm" '"comm":"udsrpcctl"' "$(ctl -j call peer.whoami)"
check "udsrpcctl ping" 0 "$(ctl -q ping >/dev/null 2>&1; echo $?)"

# Events: a watch of the topic counter sees add and reset. It is subscribed
# once an add to "sync" reaches it.
ctl watch counter >"$DIR/watch.out" 2>"$DIR/watch.err" &
WPID=$!
on_exit "kill $WPID"
synced() {
	ctl -q call counter.add '{"name":"sync"}' >/dev/null
	grep -q '"name":"sync"' "$DIR/watch.out"
}
wait_for "the watch sees events" synced || cat "$DIR/watch.err" >&2
ctl call counter.add '{"name":"x","by":2}' >/dev/null
ctl call counter.add '{"name":"x","by":0}' >/dev/null
check "counter.reset (root or counterd's own uid)" '{"name":"x","value":0}' "$(ctl call counter.reset '{"name":"x"}')"
check "after reset: 0" '{"name":"x","value":0}' "$(ctl call counter.get '{"name":"x"}')"
ctl call counter.reset '{"name":"x"}' >/dev/null
ctl call counter.add '{"name":"x","by":4}' >/dev/null
seen() { [ "$(grep -c '"name":"x"' "$DIR/watch.out")" -ge 3 ]; }
wait_for "the watch sees the events of x" seen || true
kill "$WPID" 2>/dev/null || true
wait "$WPID" 2>/dev/null || true
check "watch counter: add, reset (by = minus the old value), add; nothing for by 0 or a second reset" \
	'{"topic":"counter","name":"x","value":5,"by":2}
{"topic":"counter","name":"x","value":0,"by":-5}
{"topic":"counter","name":"x","value":4,"by":4}' "$(grep '"name":"x"' "$DIR/watch.out")"

# udsrpc-bench on counter.get: every reply checked, none an error.
if [ -x "$BENCH" ]; then
	rc=0
	out=$("$BENCH" -s "$CSOCK" -m counter.get -p '{"name":"x"}' -n 20000 -c 4 --json 2>"$DIR/bench.err") || rc=$?
	echo "udsrpc-bench counter.get: $out"
	check "udsrpc-bench -m counter.get: exit 0" 0 "$rc"
	contains "udsrpc-bench: 20000 requests, 0 errors" '{"requests":20000,"errors":0,' "$out"
	rc=0
	out=$("$BENCH" -s "$CSOCK" -m counter.add -p '{"name":"bench"}' -n 2000 -c 2 --json 2>>"$DIR/bench.err") || rc=$?
	check "udsrpc-bench -m counter.add: exit 0" 0 "$rc"
	check "after 2000 adds from the bench" '{"name":"bench","value":2000}' "$(ctl call counter.get '{"name":"bench"}')"
else
	echo "note: udsrpc-bench is not built"
fi

# The policy. As root: the shipped policy with uid 65534 in place of group
# users may add but not reset; then, after SIGHUP, the shipped policy
# itself: members of users add, others only read.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && getent group users >/dev/null; then
	as() {
		local uid=$1 groups=$2
		shift 2
		if [ -n "$groups" ]; then
			setpriv --reuid="$uid" --regid="$uid" --groups="$groups" "$@"
		else
			setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"
		fi
	}
	sed 's/"groups": \["users"\]/"uids": [65534]/' "$S/policy.json" >"$DIR/policy.json"
	kill -HUP "$CPID"
	# subscribe ARGS: udsrpcctl's exit status for events.subscribe as that
	# uid: a probe of the policy in force that changes nothing.
	subscribe() { err as "$@" "$CTL" -s "$CSOCK" call events.subscribe '{"topics":["counter"]}' | cut -f1; }
	reloaded() { [ "$(subscribe 65534 "")" = 0 ]; }
	wait_for "SIGHUP: the policy naming uid 65534" reloaded || true
	check "uid 65534: whoami" 65534 \
		"$(as 65534 "" "$CTL" -s "$CSOCK" -j call peer.whoami | sed -n 's/.*"uid":\([0-9]*\).*/\1/p')"
	check "uid 65534 may add" '{"name":"n","value":5}' \
		"$(as 65534 "" "$CTL" -s "$CSOCK" call counter.add '{"name":"n","by":5}')"
	check "uid 65534 may get" '{"name":"x","value":4}' \
		"$(as 65534 "" "$CTL" -s "$CSOCK" call counter.get '{"name":"x"}')"
	out=$(err as 65534 "" "$CTL" -s "$CSOCK" call counter.reset '{"name":"n"}')
	check "uid 65534 may not reset: exit 4, -32001" "4 -32001" "${out%%	*} $(printf '%s' "${out#*	}" | code)"
	check "... and the counter is untouched" '{"name":"n","value":5}' "$(ctl call counter.get '{"name":"n"}')"
	out=$(err as 2 "" "$CTL" -s "$CSOCK" call counter.add '{"name":"n"}')
	check "uid 2 may not add: exit 4" 4 "${out%%	*}"
	check "uid 2 may get" '{"name":"n","value":5}' "$(as 2 "" "$CTL" -s "$CSOCK" call counter.get '{"name":"n"}')"
	out=$(err as 2 "" "$CTL" -s "$CSOCK" watch counter --count 1)
	check "uid 2 may not watch: exit 4" 4 "${out%%	*}"
	# The shipped file, unchanged.
	cp "$S/policy.json" "$DIR/policy.json"
	kill -HUP "$CPID"
	refused() { [ "$(subscribe 65534 "")" = 4 ]; }
	wait_for "SIGHUP: the shipped policy" refused || true
	check "shipped policy: a member of users adds" '{"name":"n","value":6}' \
		"$(as 65534 users "$CTL" -s "$CSOCK" call counter.add '{"name":"n"}')"
	out=$(err as 65534 users "$CTL" -s "$CSOCK" call counter.reset '{"name":"n"}')
	check "shipped policy: a member of users does not reset (exit 4)" 4 "${out%%	*}"
	out=$(err as 65534 "" "$CTL" -s "$CSOCK" call counter.add '{"name":"n"}')
	check "shipped policy: anyone else does not add (exit 4)" 4 "${out%%	*}"
	check "shipped policy: anyone reads" '{"name":"n","value":6}' \
		"$(as 65534 "" "$CTL" -s "$CSOCK" call counter.get '{"name":"n"}')"
	check "shipped policy: root resets" '{"name":"n","value":0}' "$(ctl call counter.reset '{"name":"n"}')"
else
	# Not root: this uid is counterd's own ("self"), which the shipped policy
	# lets do everything. A policy without "self" makes it a non-admin.
	echo '{"rules": [{"effect": "allow", "methods": ["ping", "rpc.discover", "peer.whoami", "counter.get", "counter.add"]},
  {"effect": "allow", "methods": ["*"], "uids": [0]}]}' >"$DIR/policy.json"
	kill -HUP "$CPID"
	refused() { [ "$(err ctl call events.subscribe '{"topics":["counter"]}' | cut -f1)" = 4 ]; }
	wait_for "SIGHUP: a policy without self" refused || true
	echo "note: not root (or no setpriv or group users): the policy is checked for this uid only"
fi
out=$(err ctl call counter.reset '{"name":"x"}')
if [ "$(id -u)" = 0 ]; then
	check "root may reset" 0 "${out%%	*}"
else
	check "counter.reset denied to a non-admin: exit 4, -32001" "4 -32001" \
		"${out%%	*} $(printf '%s' "${out#*	}" | code)"
fi

# A broken policy file is refused on SIGHUP; the one in force stays.
echo '{"rules": [{"effect": "allow"}]}' >"$DIR/policy.json"
kill -HUP "$CPID"
wait_for "the refused reload is logged" grep -q 'rule 1' "$DIR/counterd.err" || true
contains "SIGHUP with a broken policy: the error names the rule" "rule 1" "$(cat "$DIR/counterd.err")"
check "SIGHUP with a broken policy: still serving" '{"name":"s","value":12}' "$(ctl call counter.get '{"name":"s"}')"

stop_counterd
check "counterd: exit 0 on SIGTERM" 0 "$STATUS"
check "counterd removed its socket" no "$([ -e "$CSOCK" ] && echo yes || echo no)"
finish
