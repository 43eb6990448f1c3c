#!/bin/bash
# set_value.sh — udsrpcctl set --string, --json, --file and --ephemeral (udsrpcctl(1)) on a live udsrpcd.
. "$(dirname "$0")/lib.sh"

start_daemon

# ---- --string: a string, whatever it looks like ----
ctl set s/num 42 --string
check "set --string: revision" "revision 1" "$OUT"
ctl -j get s/num
check "set --string 42 stores the string \"42\"" '{"key":"s/num","value":"42","revision":1,"create_revision":1,"version":1}' "$OUT"
ctl set --string s/obj '{"a":1}'
ctl -j get s/obj
check "set --string (before KEY) of an object's text stores the text" '{"key":"s/obj","value":"{\"a\":1}","revision":2,"create_revision":2,"version":1}' "$OUT"

# ---- --json: it must parse; -j still means JSON output ----
ctl set j/arr '[1,"x",null]' --json
check "set --json: revision" "revision 3" "$OUT"
ctl -j get j/arr
check "set --json stores the array" '{"key":"j/arr","value":[1,"x",null],"revision":3,"create_revision":3,"version":1}' "$OUT"
ctl set j/word hello --json
check "set --json of a word: usage error" 2 "$RC"
like "set --json of a word: says it is not JSON" '^udsrpcctl: set: VALUE is not JSON: ' "$(printf '%s\n' "$ERR" | sed -n 1p)"
ctl get j/word
check "set --json of a word: nothing set" 1 "$RC"
ctl set j/x 1 --json --string
check "set --json --string: usage error" "2:udsrpcctl: set: --string and --json exclude each other" "$RC:$(printf '%s\n' "$ERR" | sed -n 1p)"
ctl set j/out 7 -j
check "set ... -j: the result as JSON" '{"key":"j/out","revision":4}' "$OUT"
ctl --json set j/out2 8
check "--json before the command: the result as JSON" '{"key":"j/out2","revision":5}' "$OUT"
ctl set j/big 18446744073709551616 --json
check "set --json of 2^64: sent as written, the daemon's error" 1 "$RC"

# ---- --file F: the file's bytes exactly; - is stdin ----
printf '{"x":[1,2.5,"\\u00e9"]}\n' >"$DIR/v.json"
ctl set f/json --file "$DIR/v.json"
check "set --file: revision" "revision 6" "$OUT"
ctl -j get f/json
check "set --file of JSON: the value" '{"key":"f/json","value":{"x":[1,2.5,"é"]},"revision":6,"create_revision":6,"version":1}' "$OUT"
printf 'line one\n\ttwo\n' >"$DIR/v.txt"
ctl set f/text --file="$DIR/v.txt"
ctl -j get f/text
check "set --file of text: a string, its newlines kept" '{"key":"f/text","value":"line one\n\ttwo\n","revision":7,"create_revision":7,"version":1}' "$OUT"
printf '42\n' >"$DIR/v.num"
ctl set f/str --file "$DIR/v.num" --string
ctl -j get f/str
check "set --file --string: the bytes as a string" '{"key":"f/str","value":"42\n","revision":8,"create_revision":8,"version":1}' "$OUT"
RC=0; OUT=$(printf ' true ' | "$CTL" -s "$SOCK" set f/stdin --file - 2>&1) || RC=$?
check "set --file - reads stdin" "0:revision 9" "$RC:$OUT"
ctl get f/stdin
check "set --file -: JSON parsed" "true" "$OUT"
printf '18446744073709551616\n' >"$DIR/v.big"
ctl set f/big --file "$DIR/v.big"
like "set --file of 2^64 (with its newline): the daemon judges the number" '^udsrpcctl: config.set: ' "$ERR"
check "set --file of 2^64: exit 1" 1 "$RC"
ctl set f/bad --file "$DIR/v.txt" --json
check "set --file --json of text: usage error" 2 "$RC"
ctl set f/two value --file "$DIR/v.txt"
check "set KEY VALUE --file: usage error" "2:udsrpcctl: set: --file takes the place of VALUE; got 'value' too" "$RC:$(printf '%s\n' "$ERR" | sed -n 1p)"
ctl set f/none --file "$DIR/missing"
like "set --file of a missing file: usage error naming it" "^2:udsrpcctl: set: cannot open $DIR/missing: No such file or directory" "$RC:$ERR"
head -c 1048577 /dev/zero | tr '\0' 'a' >"$DIR/v.huge"
ctl set f/huge --file "$DIR/v.huge"
like "set --file over 1 MiB: usage error" '^2:udsrpcctl: set: .* is larger than a message may be \(1048576 bytes\)' "$RC:$ERR"
ctl get f/huge
check "set --file over 1 MiB: nothing set" 1 "$RC"

# ---- --ephemeral: held until SIGINT/SIGTERM, the key goes with it ----
# await FILE REGEX: until FILE has a line matching (bounded: 5 s).
await() {
	for _ in $(seq 1 250); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
	done
	return 1
}
# gone KEY: until config.get says -32010 (bounded: 5 s); the unset is durable first.
gone() {
	for _ in $(seq 1 250); do
		"$CTL" -s "$SOCK" get "$1" >/dev/null 2>&1 || return 0
		sleep 0.02
	done
	return 1
}
for sig in INT TERM; do
	"$CTL" -s "$SOCK" set "e/$sig" held --ephemeral >"$DIR/eph.out" 2>"$DIR/eph.err" &
	EPH=$!
	check "set --ephemeral ($sig): prints the revision, then holds" yes \
		"$(await "$DIR/eph.out" '^revision [0-9]+$' && kill -0 "$EPH" && echo yes)"
	ctl -j get "e/$sig"
	like "set --ephemeral ($sig): the item names its owner" \
		"^\\{\"key\":\"e/$sig\",\"value\":\"held\",.*\"ephemeral\":true,\"owner\":\\{\"id\":[0-9]+,\"uid\":$(id -u),\"pid\":$EPH\\}\\}$" "$OUT"
	kill -"$sig" "$EPH"
	STATUS=0
	wait "$EPH" || STATUS=$?
	check "set --ephemeral: SIG$sig ends it with exit 0" 0 "$STATUS"
	check "set --ephemeral ($sig): the key went with it" yes "$(gone "e/$sig" && echo yes)"
done
"$CTL" -s "$SOCK" -j set e/json x --ephemeral >"$DIR/eph.out" 2>"$DIR/eph.err" &
EPH=$!
check "set --ephemeral -j: the result line" yes "$(await "$DIR/eph.out" '^\{"key":"e/json","revision":[0-9]+\}$' && echo yes)"
# The daemon going away ends the hold: an I/O error (exit 3), said on stderr.
stop_daemon
STATUS=0
wait "$EPH" || STATUS=$?
check "set --ephemeral: the daemon stopping ends it with exit 3" 3 "$STATUS"
like "set --ephemeral: says the daemon closed" 'closed the connection' "$(cat "$DIR/eph.err")"
finish
