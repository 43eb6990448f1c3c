#!/bin/bash
# examples.sh — every file under contrib/examples works against a real daemon:
# the scripts, the Python client, and the example config and policy (the
# daemon runs with them, and the policy does what its README says).
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/common.sh"
need_tool socat socat
need_tool nc netcat-openbsd
need_tool python3 python3

chmod 0711 "$DIR" # other uids reach $SOCK (policy checks below)
# The examples run from a copy that every uid can read: the checkout may sit
# in a directory only root can enter (mktemp -d, /root/src), and the policy
# checks below run call.sh as other uids.
EX=$DIR/examples
cp -R "$UDSRPC_SOURCE_DIR/contrib/examples" "$EX"
chmod -R a+rX "$EX"

# Every example file is covered here (embed/, the library example, by
# embed_counterd.sh); a new one needs a test.
check "example files" "README.md batch.sh call.sh config.json embed policy.json provider-example.py socat-oneliners.sh udsrpc.py watch-events.sh" \
	"$(cd "$EX" && ls | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"

# The example policy names a "deploy" user; stand in for it with nobody, and
# point the example config at that copy. Everything else is used as shipped.
sed 's/"deploy"/"nobody"/' "$EX/policy.json" >"$DIR/policy.json"
sed "s|/etc/udsrpcd/policy.json|$DIR/policy.json|" "$EX/config.json" >"$DIR/config.json"
if getent passwd deploy >/dev/null; then
	echo "note: a deploy user exists here; not checking the warning for the unmodified policy"
else
	rc=0
	out=$("$UDSRPCD" --check -p "$EX/policy.json" 2>&1) || rc=$?
	# A missing account matches no one: a warning, never a refusal.
	check "shipped policy without a deploy user: accepted" 0 "$rc"
	contains "shipped policy: the warning names rule 3" \
		"policy: rule 3: uids: unknown user 'deploy' matches no one" "$out"
	contains "shipped policy: ... and rule 4" \
		"policy: rule 4: uids: unknown user 'deploy' matches no one" "$out"
fi
rc=0
out=$("$UDSRPCD" --check -c "$DIR/config.json" 2>&1) || rc=$?
check "example config + policy: --check" 0 "$rc"
contains "example config: max_connections" '"max_connections": 1024' "$out"
contains "example config: idle_timeout_ms" '"idle_timeout_ms": 600000' "$out"
contains "example config: the policy" "\"policy\": \"$DIR/policy.json\"" "$out"

norev() { sed -E 's/"(create_)?revision":[0-9]+/"\1revision":N/g'; }

start_daemon -c "$DIR/config.json"
export UDSRPC_SOCKET=$SOCK

# socat-oneliners.sh, with the socket as its argument.
rc=0
out=$(env -u UDSRPC_SOCKET sh "$EX/socat-oneliners.sh" "$SOCK" 2>&1) || rc=$?
check "socat-oneliners.sh: exit 0" 0 "$rc"
contains "oneliners: ping" '{"jsonrpc":"2.0","id":1,"result":"pong"}' "$out"
contains "oneliners: whoami" '"comm":"socat"' "$out"
contains "oneliners: set" '"result":{"key":"example/greeting","revision":' "$out"
contains "oneliners: get" '"result":{"key":"example/greeting","value":"hello"' "$out"
contains "oneliners: get after unset" '"id":3,"error":{"code":-32010,"message":"Not found"' "$out"
contains "oneliners: notification unanswered, ping after it answered" \
	'# a notification (no "id") gets no reply at all; the ping after it does
{"jsonrpc":"2.0","id":"after","result":"pong"}' "$out"
check "oneliners: nc -N line answered" 1 "$(printf '%s\n' "$out" | sed -n '/netcat-openbsd/,$p' | grep -c '"result":"pong"')"

# call.sh: result, errors and their exit statuses.
check "call.sh ping" '"pong"' "$(sh "$EX/call.sh" ping)"
check "call.sh -s with params" '{"a":[1,"x"]}' "$(env -u UDSRPC_SOCKET sh "$EX/call.sh" -s "$SOCK" echo '{"a":[1,"x"]}')"
check "call.sh config.set" '{"key":"app/mode","revision":N}' "$(sh "$EX/call.sh" config.set '{"key":"app/mode","value":"blue"}' | norev)"
check "call.sh config.get" '{"key":"app/mode","value":"blue","revision":N,"create_revision":N,"version":1}' \
	"$(sh "$EX/call.sh" config.get '{"key":"app/mode"}' | norev)"
rc=0
err=$(sh "$EX/call.sh" config.get '{"key":"app/none"}' 2>&1 >/dev/null) || rc=$?
check "call.sh error: exit 1" 1 "$rc"
contains "call.sh error: the reply on stderr" '"code":-32010' "$err"
rc=0
sh "$EX/call.sh" -s "$DIR/nothing.sock" ping >/dev/null 2>&1 || rc=$?
check "call.sh no daemon: exit 3" 3 "$rc"
rc=0
sh "$EX/call.sh" >/dev/null 2>&1 || rc=$?
check "call.sh usage: exit 2" 2 "$rc"

# batch.sh
rc=0
out=$(sh "$EX/batch.sh" 2>&1) || rc=$?
check "batch.sh: exit 0" 0 "$rc"
check "batch.sh: one reply line" 1 "$(printf '%s\n' "$out" | grep -c .)"
check "batch.sh: answers in order, none for the notification" '1 2 3 4 ' \
	"$(printf '%s' "$out" | grep -o '{"jsonrpc":"2.0","id":[0-9]*' | cut -d: -f3 | tr '\n' ' ')"
contains "batch.sh: list sees both writes" \
	'"items":[{"key":"app/example/colour","value":"blue","revision":' "$out"
contains "batch.sh: second key" '{"key":"app/example/replicas","value":3,' "$out"

# watch-events.sh: two events, then it stops by itself.
bash "$EX/watch-events.sh" -n 2 config >"$DIR/watch.out" 2>"$DIR/watch.err" &
WPID=$!
on_exit "kill $WPID"
wait_for "watch-events.sh subscribed" grep -q subscribed "$DIR/watch.err" || true
sh "$EX/call.sh" config.set '{"key":"app/watched","value":[1,2]}' >/dev/null
sh "$EX/call.sh" config.unset '{"key":"app/watched"}' >/dev/null
rc=0
timeout 10 tail --pid="$WPID" -f /dev/null || rc=$?
check "watch-events.sh stopped after 2 events" 0 "$rc"
rc=0
wait "$WPID" || rc=$?
check "watch-events.sh: exit 0" 0 "$rc"
check "watch-events.sh: the two events" \
	'{"topic":"config","type":"set","key":"app/watched","value":[1,2]}
{"topic":"config","type":"unset","key":"app/watched"}' \
	"$(sed -E 's/,"revision":[0-9]+//; s/,"peer":\{[^}]*\}//' "$DIR/watch.out")"

# udsrpc.py: the demo, the CLI, and the module.
rc=0
out=$(python3 "$EX/udsrpc.py" demo 2>&1) || rc=$?
check "udsrpc.py demo: exit 0" 0 "$rc"
contains "demo: ping" "ping -> pong" "$out"
contains "demo: conflict" "Conflict -32011" "$out"
contains "demo: batch" "batch -> pong | ['demo/colour'] | Method not found (code -32601)" "$out"
contains "demo: event from another connection" "event -> unset demo/colour revision" "$out"
check "udsrpc.py call" '{"x":[1,"a"]}' "$(python3 "$EX/udsrpc.py" -s "$SOCK" call echo '{"x":[1,"a"]}')"
rc=0
python3 "$EX/udsrpc.py" call config.get '{"key":"nope"}' >/dev/null 2>"$DIR/py.err" || rc=$?
check "udsrpc.py call error: exit 1" 1 "$rc"
check "udsrpc.py call error: one line" "udsrpc.py: config.get: Not found (code -32010)" "$(cat "$DIR/py.err")"
rc=0
python3 "$EX/udsrpc.py" -s '' call ping >/dev/null 2>"$DIR/py.err" || rc=$?
check "udsrpc.py -s '': usage error (exit 2)" 2 "$rc"
contains "udsrpc.py -s '': says why" "-s: empty socket path" "$(cat "$DIR/py.err")"
timeout 60 python3 "$EX/udsrpc.py" watch --count 1 daemon >"$DIR/pywatch.out" &
PWPID=$!
on_exit "kill $PWPID"
wait_for "udsrpc.py watch subscribed" subscribed daemon || true
kill -HUP "$PID"
rc=0
wait "$PWPID" || rc=$?
check "udsrpc.py watch: exit 0" 0 "$rc"
check "udsrpc.py watch: the reload event" '{"topic":"daemon","type":"reload","policy_rules":5}' "$(cat "$DIR/pywatch.out")"
# udsrpc.py watch --after-revision: the kept changes first (here the prefix's two), then stops at --count.
python3 "$EX/udsrpc.py" -s "$SOCK" call config.set '{"key":"py/one","value":1}' >/dev/null
python3 "$EX/udsrpc.py" -s "$SOCK" call config.set '{"key":"other/x","value":2}' >/dev/null
python3 "$EX/udsrpc.py" -s "$SOCK" call config.set '{"key":"py/two","value":3}' >/dev/null
rc=0
timeout 30 python3 "$EX/udsrpc.py" -s "$SOCK" watch --prefix py/ --after-revision 0 --reconnect --count 2 \
	>"$DIR/pyresume.out" || rc=$?
check "udsrpc.py watch --after-revision: exit 0" 0 "$rc"
check "udsrpc.py watch --after-revision --prefix: the two py/ changes, replayed in order" "py/one py/two" \
	"$(sed -E 's/.*"key":"([^"]*)".*/\1/' "$DIR/pyresume.out" | tr '\n' ' ' | sed 's/ $//')"
rc=0
python3 "$EX/udsrpc.py" -s "$SOCK" watch --reconnect peer >/dev/null 2>"$DIR/py.err" || rc=$?
check "udsrpc.py watch --reconnect peer: usage error (exit 2)" 2 "$rc"
# The module resolves the default socket as udsrpcd does (the daemon's
# --check prints the socket it would use).
for env in "UDSRPC_SOCKET=/x/a.sock" "RUNTIME_DIRECTORY=/run/one:/run/two" "XDG_RUNTIME_DIR=/run/user/7" ""; do
	daemon=$(env -u UDSRPC_SOCKET -u RUNTIME_DIRECTORY -u XDG_RUNTIME_DIR $env "$UDSRPCD" --check -S "$DIR/s" |
		sed -n 's/^ *"socket": "\(.*\)",$/\1/p')
	py=$(cd "$EX" && env -u UDSRPC_SOCKET -u RUNTIME_DIRECTORY -u XDG_RUNTIME_DIR $env \
		python3 -c 'import udsrpc; print(udsrpc.default_socket_path())')
	check "default socket like udsrpcd (${env:-no environment})" "$daemon" "$py"
done

# The example policy, judged on real connections from other uids.
if [ "$(id -u)" = 0 ] && getent group adm >/dev/null && command -v setpriv >/dev/null; then
	adm=$(getent group adm | cut -d: -f3)
	# as UID GID [GROUPS] -- CMD...: CMD with those credentials.
	as() {
		local uid=$1 gid=$2 groups=$3
		shift 3
		if [ -n "$groups" ]; then
			setpriv --reuid="$uid" --regid="$gid" --groups="$groups" "$@"
		else
			setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"
		fi
	}
	code() { grep -o '"code":-[0-9]*' | cut -d: -f2; }
	# rule 1: anyone may ping
	check "policy rule 1: anyone pings" '"pong"' "$(as 2 2 "" sh "$EX/call.sh" ping)"
	# rule 2: adm reads and watches, but does not write
	check "policy rule 2: adm may config.get" '{"key":"app/mode","value":"blue","revision":N,"create_revision":N,"version":1}' \
		"$(as 2 2 "$adm" sh "$EX/call.sh" config.get '{"key":"app/mode"}' | norev)"
	check "policy rule 2: adm may subscribe" '{"topics":["config"],"revision":N}' \
		"$(as 2 2 "$adm" sh "$EX/call.sh" events.subscribe '{"topics":["config"]}' | norev)"
	rc=0
	err=$(as 2 2 "$adm" sh "$EX/call.sh" config.set '{"key":"app/x","value":1}' 2>&1) || rc=$?
	check "policy rule 2: adm may not config.set (exit 4)" 4 "$rc"
	check "policy rule 2: -32001" -32001 "$(printf '%s' "$err" | code)"
	# rules 3 and 4: deploy (here nobody) manages the keys under app/, and only those
	sh "$EX/call.sh" config.set '{"key":"secret/token","value":"s3cret"}' >/dev/null
	check "policy rule 4: deploy sets app/ keys" '{"key":"app/release","revision":N}' \
		"$(as 65534 65534 "" sh "$EX/call.sh" config.set '{"key":"app/release","value":"v2"}' | norev)"
	check "policy rule 4: deploy reads them" '"value":"v2"' \
		"$(as 65534 65534 "" sh "$EX/call.sh" config.get '{"key":"app/release"}' | grep -o '"value":"v2"')"
	rc=0
	err=$(as 65534 65534 "" sh "$EX/call.sh" config.set '{"key":"other/key","value":1}' 2>&1) || rc=$?
	check "policy rule 4: ... and no other key (exit 4)" 4 "$rc"
	check "policy rule 4: other/key is -32001" -32001 "$(printf '%s' "$err" | code)"
	rc=0
	as 65534 65534 "" sh "$EX/call.sh" config.get '{"key":"secret/token"}' >/dev/null 2>&1 || rc=$?
	check "policy rule 4: deploy may not read secret/token (exit 4)" 4 "$rc"
	keys() { grep -o '"key":"[^"]*"' | tr '\n' ' '; }
	contains "root lists secret/token" '"key":"secret/token"' "$(sh "$EX/call.sh" config.list | keys)"
	check "policy rule 3: deploy lists only the app/ keys" \
		'"key":"app/example/colour" "key":"app/example/replicas" "key":"app/mode" "key":"app/release" ' \
		"$(as 65534 65534 "" sh "$EX/call.sh" config.list | keys)"
	check "policy rule 3: a transaction on app/ keys" '{"succeeded":true,"revision":N,"results":[{"key":"app/a","revision":N}]}' \
		"$(as 65534 65534 "" sh "$EX/call.sh" config.txn '{"success":[{"op":"set","key":"app/a","value":1}]}' | norev)"
	rc=0
	err=$(as 65534 65534 "" sh "$EX/call.sh" config.txn \
		'{"success":[{"op":"set","key":"app/b","value":1},{"op":"get","key":"secret/token"}]}' 2>&1) || rc=$?
	check "policy rule 3: a transaction reading secret/token: exit 4" 4 "$rc"
	contains "policy rule 3: ... its -32001 names the key" '"key":"secret/token"' "$err"
	rc=0
	as 65534 65534 "" sh "$EX/call.sh" config.get '{"key":"app/b"}' >/dev/null 2>&1 || rc=$?
	check "policy rule 3: ... and wrote nothing (app/b absent: exit 1)" 1 "$rc"
	# A watch as deploy sees the app/ change, never the secret one made first.
	as 65534 65534 "" bash "$EX/watch-events.sh" -n 1 config >"$DIR/dwatch.out" 2>"$DIR/dwatch.err" &
	DPID=$!
	on_exit "kill $DPID"
	wait_for "deploy's watch subscribed" grep -q subscribed "$DIR/dwatch.err" || true
	sh "$EX/call.sh" config.set '{"key":"secret/token","value":"rotated"}' >/dev/null
	sh "$EX/call.sh" config.set '{"key":"app/deployed","value":true}' >/dev/null
	rc=0
	wait "$DPID" || rc=$?
	check "deploy's watch: exit 0" 0 "$rc"
	check "deploy's watch: the app/ event only" '{"topic":"config","type":"set","key":"app/deployed","value":true}' \
		"$(sed -E 's/,"revision":[0-9]+//; s/,"peer":\{[^}]*\}//' "$DIR/dwatch.out")"
	rc=0
	as 65534 65534 "" sh "$EX/call.sh" peer.list >/dev/null 2>&1 || rc=$?
	check "policy rule 3: deploy may not peer.list (exit 4)" 4 "$rc"
	# nobody else reads config
	rc=0
	as 2 2 "" sh "$EX/call.sh" config.get '{"key":"app/mode"}' >/dev/null 2>&1 || rc=$?
	check "policy: others may not config.get (exit 4)" 4 "$rc"
	# rule 5: root does everything
	check "policy rule 5: root reloads" '{"policy_rules":5}' "$(sh "$EX/call.sh" daemon.reload)"
else
	echo "note: not root, or no adm group or setpriv: the policy is not checked from other uids"
fi

# events(timeout=...) that times out leaves the Client usable, with its own
# timeout: it used to fail every later read ("cannot read from timed out
# object") and keep the events' timeout for later calls.
out=$(cd "$EX" && python3 -c '
import socket, udsrpc
with udsrpc.Client(timeout=4.0) as c:
    c.subscribe("config")
    try:
        list(c.events(count=1, timeout=0.2))
        print("no timeout")
    except socket.timeout:
        print("timed out")
    print(c.call("ping"), c._sock.gettimeout())
    with udsrpc.Client() as other:
        other.call("config.set", key="app/py-timeout", value=1)
    print([e["key"] for e in c.events(count=1, timeout=5)])
' 2>&1) || true
check "udsrpc.py events(timeout): times out, then the Client still works" \
	"timed out
pong 4.0
['app/py-timeout']" "$out"

# provider-example.py under the example policy: it has no provide rules, so
# nobody may provide, root included (udsrpc(7), PROVIDERS).
rc=0
err=$(timeout 20 python3 "$EX/provider-example.py" --count 1 2>&1) || rc=$?
check "provider-example.py, example policy: refused (exit 4)" 4 "$rc"
check "provider-example.py, example policy: says why" \
	"provider-example.py: rpc.provide: Permission denied (code -32001)" "$err"

# watch-events.sh without a count stops when the daemon does: it used to
# die on "SOCAT[1]: unbound variable" (bash unsets the coproc's array).
bash "$EX/watch-events.sh" daemon >"$DIR/watch2.out" 2>"$DIR/watch2.err" &
WPID=$!
on_exit "kill $WPID"
wait_for "watch-events.sh subscribed" grep -q subscribed "$DIR/watch2.err" || true
kill -HUP "$PID" # one event first
wait_for "watch-events.sh saw the reload" grep -q reload "$DIR/watch2.out" || true
stop_daemon
check "daemon: exit 0" 0 "$STATUS"
rc=0
timeout 10 tail --pid="$WPID" -f /dev/null || rc=$?
check "watch-events.sh stopped with the daemon" 0 "$rc"
rc=0
wait "$WPID" || rc=$?
check "watch-events.sh, daemon gone: exit 0" 0 "$rc"
# The reload, then what the daemon says as it stops.
check "watch-events.sh, daemon gone: says so, and nothing else" \
	"watch-events.sh: the daemon closed the connection after $(wc -l <"$DIR/watch2.out") event(s)" \
	"$(grep -v subscribed "$DIR/watch2.err")"
contains "watch-events.sh, daemon gone: the reload came first" '"type":"reload"' \
	"$(head -1 "$DIR/watch2.out")"

# provider-example.py under the default policy, where root may provide and
# call provided methods: a greeting with the caller's uid and its event,
# the params checked by udsrpcd before anything is forwarded, and two waits
# answered by a release (held, then answered newest first).
start_daemon
timeout 60 python3 "$EX/provider-example.py" --count 4 2>"$DIR/provider.err" &
PPID_=$!
on_exit "kill $PPID_"
wait_for "provider-example.py provides" grep -q providing "$DIR/provider.err" || true
check "provider-example.py: what it provides" \
	"providing example.greet example.wait example.release, topic example" "$(cat "$DIR/provider.err")"
timeout 30 python3 "$EX/udsrpc.py" watch --count 1 example >"$DIR/pevent.out" &
EVPID=$!
on_exit "kill $EVPID"
# peers PYTHON_CONDITION: exit 0 when it holds for the daemon's peer.list
# ("subscribed" would match the provider's own "provides" topics too).
peers() {
	sh "$EX/call.sh" peer.list | python3 -c '
import json, sys
peers = json.load(sys.stdin)["peers"]
sys.exit(0 if '"$1"' else 1)'
}
wait_for "udsrpc.py watch subscribed to example" peers 'any("example" in p["topics"] for p in peers)' || true
check "provider: example.greet" '"hello world, uid '"$(id -u)"'"' \
	"$(python3 "$EX/udsrpc.py" call example.greet '{"name":"world"}')"
rc=0
wait "$EVPID" || rc=$?
check "provider: the greeting's event" \
	'{"topic":"example","type":"publish","event":{"name":"world","uid":'"$(id -u)"'}}' "$(cat "$DIR/pevent.out")"
rc=0
err=$(python3 "$EX/udsrpc.py" call example.greet '{"name":""}' 2>&1) || rc=$?
check "provider: params checked by udsrpcd (exit 1)" 1 "$rc"
check "provider: -32602" "udsrpc.py: example.greet: Invalid params (code -32602)" "$err"
for i in 1 2; do
	# They wait for the release below, which a loaded machine may take longer than 5 s to send.
	timeout 120 python3 "$EX/udsrpc.py" -t 90 call example.wait >"$DIR/wait$i.out" 2>&1 &
	eval "WAIT$i=\$!"
done
on_exit "kill $WAIT1 $WAIT2"
# Both read by udsrpcd (two python3 connections with one request each), so
# both were forwarded before the release is: the provider holds them first.
wait_for "two example.wait calls read" \
	peers 'sum(p["comm"] == "python3" and p["requests"] == 1 for p in peers) == 2' || true
check "provider: example.release answers both" 2 \
	"$(python3 "$EX/udsrpc.py" call example.release '{"value":"go"}')"
rc=0
wait "$WAIT1" || rc=$?
wait "$WAIT2" || rc=$((rc + $?))
check "provider: both waits answered" '0 "go" "go"' "$rc $(cat "$DIR/wait1.out") $(cat "$DIR/wait2.out")"
rc=0
wait "$PPID_" || rc=$?
check "provider-example.py: exit 0 after --count 4" 0 "$rc"
# The Provider class in one process: an RpcError raised is the caller's
# error as raised, any other exception -32603, a notification runs the
# handler and is never answered, a name taken is refused and forgotten.
out=$(cd "$EX" && timeout 30 python3 -c '
import udsrpc
M = lambda name: {"name": name, "params": [], "result": {"name": "r", "schema": {}}}
p, c = udsrpc.Provider(), udsrpc.Client()
seen = []
def fails(request):
    seen.append(request.is_notification)
    if request.is_notification:
        return None
    raise udsrpc.RpcError({"code": 7, "message": "seven", "data": [1]})
p.add_method(M("py.fails"), fails)
p.add_method(M("py.bug"), lambda request: 1 // 0)
print(p.provide())
for method in ("py.fails", "py.bug"):
    c._send(c._request(method, None))
    p.dispatch()
    print(c._reply().get("error"))
c.notify("py.fails")
p.dispatch()
print(seen)
q = udsrpc.Provider()
q.add_method(M("py.bug"), print)
try:
    q.provide()
except udsrpc.RpcError as e:
    print(e.code, e.data, "py.bug" in q._handlers)
' 2>"$DIR/pyprovider.err") || true
check "udsrpc.Provider: errors, a notification, a name taken" \
	"{'methods': ['py.fails', 'py.bug'], 'topics': []}
{'code': 7, 'message': 'seven', 'data': [1]}
{'code': -32603, 'message': 'Internal error', 'data': {'reason': 'integer division or modulo by zero'}}
[False, True]
-32013 {'method': 'py.bug'} False" "$out"
contains "udsrpc.Provider: the handler's exception on stderr" "py.bug: ZeroDivisionError" "$(cat "$DIR/pyprovider.err")"
stop_daemon
check "daemon (providers): exit 0" 0 "$STATUS"
finish
