#!/bin/bash
# commands.sh — every udsrpcctl command against a live udsrpcd, in human and --json form.
. "$(dirname "$0")/lib.sh"

start_daemon

# ---- ping ----
ctl ping
check "ping: exit 0" 0 "$RC"
like "ping: pong and the round trip" '^pong \([0-9]+\.[0-9]{2} ms\)$' "$OUT"
ctl -j ping
check "ping -j: the result" '"pong"' "$OUT"
ctl -q ping
check "ping -q: exit 0" 0 "$RC"
check "ping -q: silent" "" "$OUT$ERR"
ctl ping --json
check "options after the command" '"pong"' "$OUT"

# ---- info ----
ctl info
check "info: exit 0" 0 "$RC"
check "info: keys in order" "name version pid uid socket started uptime connections" \
	"$(printf '%s\n' "$OUT" | cut -d: -f1 | tr '\n' ' ' | sed 's/ $//')"
check "info: name" "name:        udsrpcd" "$(printf '%s\n' "$OUT" | sed -n 1p)"
check "info: pid is the daemon's" "pid:         $PID" "$(printf '%s\n' "$OUT" | sed -n 3p)"
check "info: socket" "socket:      $SOCK" "$(printf '%s\n' "$OUT" | sed -n 5p)"
check "info: values aligned in one column" 1 \
	"$(printf '%s\n' "$OUT" | awk '{ match($0, /: +/); print RSTART + RLENGTH }' | sort -u | wc -l)"
ctl -j info
like "info -j: one compact object" \
	"^\\{\"name\":\"udsrpcd\",\"version\":\"[^\"]+\",\"pid\":$PID,\"uid\":$(id -u),\"socket\":\"$SOCK\",\"started\":\"[0-9T:.Z-]+\",\"uptime_ms\":[0-9]+,\"connections\":1\\}$" \
	"$OUT"

# ---- whoami ----
ctl whoami
check "whoami: exit 0" 0 "$RC"
check "whoami: uid" "uid:    $(id -u)" "$(printf '%s\n' "$OUT" | grep '^uid:')"
check "whoami: comm" "comm:   udsrpcctl" "$(printf '%s\n' "$OUT" | grep '^comm:')"
check "whoami: exe" "exe:    $CTL" "$(printf '%s\n' "$OUT" | grep '^exe:')"
ctl -j whoami
like "whoami -j" "^\\{\"id\":[0-9]+,\"uid\":$(id -u),\"gid\":$(id -g),\"pid\":[0-9]+,\"groups\":\\[[0-9,]*\\],\"user\":[^,]+,\"comm\":\"udsrpcctl\",\"exe\":\"$CTL\"\\}$" "$OUT"

# ---- config: set, get, list, unset ----
ctl set greeting hello
check "set: exit 0" 0 "$RC"
check "set: prints the revision" "revision 1" "$OUT"
ctl -j get greeting
check "set of a non-JSON word stores a string" '{"key":"greeting","value":"hello","revision":1,"create_revision":1,"version":1}' "$OUT"
ctl get greeting
check "get of a string prints it raw" "hello" "$OUT"
ctl set obj '{"a":1}'
check "set of an object: revision 2" "revision 2" "$OUT"
ctl -j get obj
check "set of {\"a\":1} stores an object" '{"key":"obj","value":{"a":1},"revision":2,"create_revision":2,"version":1}' "$OUT"
ctl get obj
check "get of an object prints compact JSON" '{"a":1}' "$OUT"
ctl set quoted '"42"'
ctl -j get quoted
check "set of a JSON string stores the string" '{"key":"quoted","value":"42","revision":3,"create_revision":3,"version":1}' "$OUT"
ctl get quoted
check "get of that string prints it raw" "42" "$OUT"
ctl set num -5
check "set of a negative number: not taken for an option" "revision 4" "$OUT"
ctl get num
check "get of a number" "-5" "$OUT"
ctl -j set -- -dash '[true,null]'
check "-- before a KEY that starts with '-'" '{"key":"-dash","revision":5}' "$OUT"
ctl get -- -dash
check "get after --" "[true,null]" "$OUT"
ctl -q set greeting world
check "set -q: silent" "" "$OUT$ERR"
check "set -q: exit 0" 0 "$RC"

ctl set greeting again --expect-revision 6
check "set --expect-revision (matching): exit 0" 0 "$RC"
check "set --expect-revision (matching): revision" "revision 7" "$OUT"
ctl set greeting nope --expect-revision=1
check "set --expect-revision (stale): exit 1" 1 "$RC"
# ... with where the key is now, from the error's data (it was dropped).
check "set --expect-revision (stale): the daemon's error and the current revision" \
	"udsrpcctl: config.set: Conflict (code -32011): greeting is at revision 7" "$ERR"
ctl set fresh 1 --expect-revision 0
check "set --expect-revision 0 on a new key" "revision 8" "$OUT"

ctl list
check "list: KEY<TAB>VALUE, sorted, values as get prints them" \
	"$(printf '%s\t%s\n' -dash '[true,null]' fresh 1 greeting again num -5 obj '{"a":1}' quoted 42)" "$OUT"
ctl list gr
check "list PREFIX" "$(printf 'greeting\tagain')" "$OUT"
ctl list nothing-here
check "list: nothing matches: no output, exit 0" "0:" "$RC:$OUT"
ctl -j list o
check "list -j" '{"items":[{"key":"obj","value":{"a":1},"revision":2,"create_revision":2,"version":1}],"revision":8,"more":false}' "$OUT"

ctl unset fresh --expect-revision 3
check "unset --expect-revision (stale): exit 1" 1 "$RC"
ctl unset fresh
check "unset: revision" "revision 9" "$OUT"
ctl -j unset num
check "unset -j" '{"key":"num","revision":10}' "$OUT"
ctl get num
check "get after unset: exit 1" 1 "$RC"
check "get after unset: not found" "udsrpcctl: config.get: Not found (code -32010)" "$ERR"

# ---- methods ----
ctl methods
check "methods: exit 0" 0 "$RC"
check "methods: all 21, one line each" 21 "$(printf '%s\n' "$OUT" | wc -l)"
check "methods: names from rpc.discover" \
	"config.get config.list config.restore config.set config.txn config.unset daemon.info daemon.log_level daemon.reload daemon.shutdown daemon.stats echo events.publish events.subscribe events.unsubscribe peer.list peer.whoami ping rpc.discover rpc.provide rpc.unprovide" \
	"$(printf '%s\n' "$OUT" | awk '{print $1}' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
like "methods: name and summary" '^ping +Check that the daemon answers\.$' "$(printf '%s\n' "$OUT" | grep '^ping ')"
ctl -j methods
check "methods -j: the OpenRPC document on one line" "1:1.2.6" \
	"$(printf '%s\n' "$OUT" | wc -l):$(printf '%s' "$OUT" | grep -o '"openrpc":"[^"]*"' | cut -d'"' -f4)"

# ---- call ----
ctl call echo '{"x":[1,2]}'
check "call: result, compact when not a tty" '{"x":[1,2]}' "$OUT"
ctl -j call echo '[1,"a"]'
check "call -j" '[1,"a"]' "$OUT"
ctl call ping
check "call without params" '"pong"' "$OUT"
ctl call config.get '{"key":"obj"}'
check "call config.get" '{"key":"obj","value":{"a":1},"revision":2,"create_revision":2,"version":1}' "$OUT"
if command -v script >/dev/null; then
	# On a terminal the result is indented (script(1) gives the command a pty).
	script -qec "'$CTL' -s '$SOCK' call echo '{\"x\":1}'" /dev/null >"$DIR/tty.out" </dev/null || true
	check "call on a tty: pretty" "$(printf '{\r\n  "x": 1\r\n}\r')" "$(cat "$DIR/tty.out")"
fi

# ---- log-level, reload ----
ctl log-level debug
check "log-level: one line" "log level: debug" "$OUT"
ctl -j log-level info
check "log-level -j" '{"level":"info"}' "$OUT"
ctl -q log-level info
check "log-level -q: silent" "0:" "$RC:$OUT"
ctl reload
check "reload: one line" "reloaded: 3 policy rules" "$OUT"
ctl -j reload
check "reload -j" '{"policy_rules":3}' "$OUT"

# ---- peers, stats: a second client keeps a connection open meanwhile ----
socat -u "UNIX-CONNECT:$SOCK" OPEN:/dev/null &
HOLD=$!
for _ in $(seq 1 100); do
	"$CTL" -s "$SOCK" peers | grep -q ' socat ' && break
	sleep 0.05
done
ctl peers
check "peers: exit 0" 0 "$RC"
check "peers: header" "ID UID GID PID USER COMM CONNECTED REQUESTS TOPICS EXE" \
	"$(printf '%s\n' "$OUT" | sed -n 1p | tr -s ' ')"
like "peers: our own row" "^ *[0-9]+ +$(id -u) +$(id -g) +[0-9]+ +[^ ]+ +udsrpcctl +[0-9T:.Z-]+ +1 +- +$CTL\$" \
	"$(printf '%s\n' "$OUT" | grep " udsrpcctl ")"
check "peers: two rows (socat's and ours) under the header" 3 "$(printf '%s\n' "$OUT" | wc -l)"
check "peers: columns sized to content: EXE starts at one column in every row" 1 \
	"$(printf '%s\n' "$OUT" | awk '{ print index($0, $NF) }' | sort -u | wc -l)"
ctl -j peers
like "peers -j" '^\{"peers":\[\{"id":[0-9]+,"uid":' "$OUT"
check "peers -j: one line" 1 "$(printf '%s\n' "$OUT" | wc -l)"

ctl stats
check "stats: exit 0" 0 "$RC"
like "stats: connection totals" '^connections: [0-9]+ current, [0-9]+ peak, [0-9]+ accepted, 0 rejected$' \
	"$(printf '%s\n' "$OUT" | sed -n 1p)"
like "stats: request totals" '^requests: +[0-9]+ total, [0-9]+ errors, 0 denied$' "$(printf '%s\n' "$OUT" | sed -n 2p)"
like "stats: byte totals" '^bytes: +[0-9]+ in, [0-9]+ out$' "$(printf '%s\n' "$OUT" | sed -n 3p)"
like "stats: the store's items and bytes" '^store: +[0-9]+ items, [0-9]+ bytes$' "$(printf '%s\n' "$OUT" | sed -n 4p)"
check "stats: table header" "METHOD CALLS ERRORS DENIED P50_US P99_US MAX_US" \
	"$(printf '%s\n' "$OUT" | grep '^METHOD' | tr -s ' ')"
like "stats: a ping row (5 pings so far)" '^ping +5 +0 +0 +[0-9]+ +[0-9]+ +[0-9]+$' \
	"$(printf '%s\n' "$OUT" | grep '^ping ')"
like "stats: config.get counts its error" '^config.get +[0-9]+ +1 +0 ' \
	"$(printf '%s\n' "$OUT" | grep '^config.get ')"
# Sized to content: the first column is as wide as the longest name (CALLS,
# right-aligned in a 5-wide column, starts 2 after it), and every row is as
# long as the header since the last column is right-aligned.
TABLE=$(printf '%s\n' "$OUT" | sed -n '/^METHOD/,$p')
check "stats: METHOD column as wide as its longest name" \
	"$(printf '%s\n' "$TABLE" | awk '{ if (length($1) > w) w = length($1) } END { print w + 3 }')" \
	"$(printf '%s\n' "$TABLE" | awk 'NR == 1 { print index($0, "CALLS") }')"
check "stats: every row as long as the header" 1 "$(printf '%s\n' "$TABLE" | awk '{ print length($0) }' | sort -u | wc -l)"
ctl -j stats
like "stats -j" '^\{"connections":\{"current":[0-9]+,"peak":[0-9]+,"accepted":[0-9]+,"rejected":0\},"requests":\{.*"methods":\{.*"ping":\{"calls":5,' "$OUT"
kill "$HOLD" 2>/dev/null || true
wait "$HOLD" 2>/dev/null || true

# ---- help, --version (no daemon needed) ----
RC=0; OUT=$("$CTL" help 2>&1) || RC=$?
check "help: exit 0" 0 "$RC"
for c in ping info stats whoami peers methods get set unset list txn dump restore watch call raw reload shutdown log-level help; do
	like "help lists $c" "^  $c( |\$)" "$(printf '%s\n' "$OUT" | grep -E "^  $c( |\$)")"
done
RC=0; OUT=$("$CTL" help set 2>&1) || RC=$?
check "help set: usage from the table" "usage: udsrpcctl [OPTIONS] set KEY VALUE [--expect-revision N] [--string | --json] [--file F] [--ephemeral]" \
	"$(printf '%s\n' "$OUT" | sed -n 1p)"
RC=0; OUT=$("$CTL" set --help 2>&1) || RC=$?
check "set --help is help set" "0:usage: udsrpcctl [OPTIONS] set KEY VALUE [--expect-revision N] [--string | --json] [--file F] [--ephemeral]" \
	"$RC:$(printf '%s\n' "$OUT" | sed -n 1p)"
RC=0; OUT=$("$CTL" -j help get 2>&1) || RC=$?
check "help -j COMMAND" '{"name":"get","usage":"get KEY","summary":"print a value (strings raw, else JSON)","method":"config.get"}' "$OUT"
RC=0; OUT=$("$CTL" --version 2>&1) || RC=$?
like "--version" '^udsrpcctl [0-9]+\.[0-9]+\.[0-9]+$' "$OUT"
RC=0; OUT=$("$CTL" -h 2>&1) || RC=$?
check "-h: exit 0 with the usage" "0:usage: udsrpcctl [-s PATH] [-j|--json] [-t|--timeout MS] [-q] COMMAND [ARG...]" \
	"$RC:$(printf '%s\n' "$OUT" | sed -n 1p)"

# ---- the default socket path: $UDSRPC_SOCKET, as the daemon resolves it ----
RC=0; OUT=$(UDSRPC_SOCKET="$SOCK" "$CTL" ping 2>&1) || RC=$?
like "no -s: \$UDSRPC_SOCKET" '^pong ' "$OUT"

# A value's control bytes never reach the terminal raw, and an item stays
# one line: tab, newline and backslash as \t \n \\, others as \xNN.
ctl set zz-ctl "$(printf 'a\tb\nc\033[31md\\e')"
ctl list zz-ctl
check "list: control characters in a value escaped" 'zz-ctl	a\tb\nc\x1b[31md\\e' "$OUT"
ctl get zz-ctl
check "get: the value's bytes as they are" "$(printf 'a\tb\nc\033[31md\\e')" "$OUT"
ctl unset zz-ctl

# ---- txn: from the argument or stdin; results as get prints them ----
ctl set txn/a 1
ctl txn '{"compare":[{"key":"txn/a","version":1}],"success":[{"op":"set","key":"txn/a","value":"two"},{"op":"get","key":"txn/a"},{"op":"get","key":"txn/none"},{"op":"unset","key":"txn/none"}]}'
REV=$(printf '%s\n' "$OUT" | sed -n '1s/^succeeded revision //p')
check "txn: succeeded, one line per result" \
	"$(printf 'succeeded revision %s\ntxn/a revision %s\ntwo\nnull\ntxn/none revision 0' "$REV" "$REV")" "$OUT"
RC=0; OUT=$(printf '%s' '{"compare":[{"key":"txn/a","version":1}],"success":[]}' | "$CTL" -s "$SOCK" -j txn 2>&1) || RC=$?
check "txn from stdin, -j: the compare fails now" \
	"0:{\"succeeded\":false,\"revision\":$REV,\"results\":[]}" "$RC:$OUT"
ctl txn 'not json'
check "txn: not JSON: usage error" 2 "$RC"
ctl txn '{"success":[{"op":"set","key":"k"}]}'
check "txn: the daemon's -32602: exit 1" "1:udsrpcctl: config.txn: Invalid params (code -32602): /success/0: a set op needs a value" "$RC:$ERR"

# ---- unset --prefix, list --limit --after ----
for k in pg/1 pg/2 pg/3; do ctl set "$k" 1; done
ctl list pg/ --limit 2 --after pg/1
check "list --limit --after: a page" "$(printf 'pg/2\t1\npg/3\t1')" "$OUT"
ctl -j list pg/ --limit 1
check "list --limit -j: more" yes "$(printf '%s' "$OUT" | grep -q '"more":true' && echo yes || echo no)"
ctl list --limit 0
check "list --limit 0: the daemon's -32602" "1:udsrpcctl: config.list: Invalid params (code -32602): /limit: must be >= 1" "$RC:$ERR"
ctl unset --prefix pg/
like "unset --prefix: count and revision" '^removed 3 keys, revision [0-9]+$' "$OUT"
ctl unset --prefix pg/ pg/1
check "unset --prefix and a KEY: usage error" 2 "$RC"
ctl list pg/
check "unset --prefix: none left" "0:" "$RC:$OUT"

# ---- dump | restore: the same listing back ----
ctl set dr/a 0.1
ctl set dr/b '{"x":[1,null]}'
ctl dump dr/
check "dump: one item per line" 2 "$(printf '%s\n' "$OUT" | grep -c '^{"key":"dr/')"
printf '%s\n' "$OUT" >"$DIR/dump.txt"
ctl list dr/
BEFORE=$OUT
ctl unset --prefix dr/
ctl restore --merge "$DIR/dump.txt"
like "restore --merge FILE: count and revision" '^restored 2 keys, revision [0-9]+$' "$OUT"
ctl list dr/
check "dump | restore: the same listing" "$BEFORE" "$OUT"
RC=0; OUT=$(printf 'not json\n' | "$CTL" -s "$SOCK" restore 2>&1) || RC=$?
check "restore: a line that is not an item: usage error" 2 "$RC"

# ---- shutdown (last) ----
ctl shutdown
check "shutdown: exit 0" 0 "$RC"
check "shutdown: one line" "udsrpcd is stopping" "$OUT"
STATUS=0
wait "$PID" || STATUS=$?
PID=""
check "shutdown: the daemon exited 0" 0 "$STATUS"
check "shutdown: socket removed" no "$([ -e "$SOCK" ] && echo yes || echo no)"

start_daemon
ctl -j shutdown
check "shutdown -j" '{"stopping":true}' "$OUT"
STATUS=0
wait "$PID" || STATUS=$?
PID=""
check "shutdown -j: the daemon exited 0" 0 "$STATUS"
finish
