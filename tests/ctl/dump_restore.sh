#!/bin/bash
# dump_restore.sh — udsrpcctl dump | restore into a fresh udsrpcd gives the same config.list:
# keys and values byte for byte (numbers as written where int64 or double hold them,
# -0, int64's ends, unicode, controls, nesting, empty strings and containers).
. "$(dirname "$0")/lib.sh"

start_daemon

# KEY VALUE pairs, set as udsrpcctl set takes them (VALUE parsed as JSON if it parses).
VALUES=(
	d/0.1 0.1
	d/1.10 1.10
	d/1e300 1e300
	d/1E2 1E2
	d/-0 -0
	d/-0.0 -0.0
	d/2p53 9007199254740992
	d/2p53p1 9007199254740993
	d/int64-min -9223372036854775808
	d/int64-max 9223372036854775807
	d/dbl-max 1.7976931348623157e308
	d/dbl-min 5e-324
	d/third 0.3333333333333333
	d/unicode '"héllo wörld ✓ 😀 ∑ \u00e9\ud83d\ude00"'
	d/controls '"tab\there\nline \"quoted\" back\\slash \u0001 \u001f \u007f"'
	d/nul '"a\u0000b"'
	d/placeholder '"\u0001udsrpcctl-verbatim-0\u0001"' # restore's items go as verbatim text: data, not spliced again
	d/nested '{"a":{"b":[1,{"c":[[],{}]}],"d":null},"e":[true,false,-1.5e-7],"":"empty key"}'
	d/empty-string '""'
	d/empty-object '{}'
	d/empty-array '[]'
	d/null null
	d/plain word
	. dot
	a//b double-slash
	/x leading-slash
	Z upper
)
for ((i = 0; i < ${#VALUES[@]}; i += 2)); do
	ctl -q set -- "${VALUES[i]}" "${VALUES[i + 1]}"
	[ "$RC" = 0 ] || check "set ${VALUES[i]}" 0 "$RC"
done
N=$((${#VALUES[@]} / 2))

ctl list
printf '%s\n' "$OUT" >"$DIR/list-a.txt"
ctl -j call config.list
printf '%s\n' "$OUT" >"$DIR/list-a.json"
ctl dump
printf '%s\n' "$OUT" >"$DIR/dump.txt"
check "dump: one line per key" "$N" "$(wc -l <"$DIR/dump.txt")"

# A fresh daemon with an empty state dir, the same socket.
stop_daemon
check "first daemon stopped" 0 "$STATUS"
mv "$DIR/state" "$DIR/state-a"
start_daemon
ctl restore "$DIR/dump.txt"
check "restore into the fresh daemon: one revision" "restored $N keys, revision 1" "$OUT"
ctl list
printf '%s\n' "$OUT" >"$DIR/list-b.txt"
ctl -j call config.list
printf '%s\n' "$OUT" >"$DIR/list-b.json"
ctl dump
printf '%s\n' "$OUT" >"$DIR/dump-b.txt"

check "list: the same KEY<TAB>VALUE lines, byte for byte" yes \
	"$(cmp -s "$DIR/list-a.txt" "$DIR/list-b.txt" && echo yes)"
# Items are {"key","value","revision","create_revision","version"} in that
# order: what differs between the two stores is only that tail, and the
# listing's own revision.
meta() {
	sed -E 's/,"revision":[0-9]+,"create_revision":[0-9]+,"version":[0-9]+\}/}/g; s/,"revision":[0-9]+,"more":false\}$/}/' "$1"
}
check "config.list: the same keys and values, byte for byte" yes \
	"$(cmp -s <(meta "$DIR/list-a.json") <(meta "$DIR/list-b.json") && echo yes)"
check "dump of the restored store: the same lines but for revisions" yes \
	"$(cmp -s <(meta "$DIR/dump.txt") <(meta "$DIR/dump-b.txt") && echo yes)"
check "config.list: nothing lost to the stripping (N items, all restored at revision 1)" "$N" \
	"$(grep -o ',"revision":1,"create_revision":1,"version":1}' "$DIR/list-b.json" | wc -l)"
# Numbers read back as the shortest text of the same double or int64.
for pair in 'd/0.1 0.1' 'd/1.10 1.1' 'd/1e300 1e300' 'd/1E2 1e2' 'd/-0 0' 'd/-0.0 -0.0' \
	'd/2p53 9007199254740992' 'd/int64-min -9223372036854775808' \
	'd/int64-max 9223372036854775807' 'd/dbl-min 5e-324' 'd/empty-string '; do
	ctl get "${pair%% *}"
	check "get ${pair%% *} after restore" "${pair#* }" "$OUT"
done
# ---- paging: more items than one config.list page (1000) ----
for i in $(seq 1 2500); do printf '{"key":"p/%04d","value":{"i":%d}}\n' "$i" "$i"; done >"$DIR/many.txt"
ctl restore --merge "$DIR/many.txt"
check "restore of 2500 items" "restored 2500 keys, revision 2" "$OUT"
ctl dump p/
check "dump pages through all 2500" "2500 $(sed -n 2500p "$DIR/many.txt" | sed 's/}}$/},"revision":2,"create_revision":2,"version":1}/')" \
	"$(printf '%s\n' "$OUT" | wc -l) $(printf '%s\n' "$OUT" | sed -n 2500p)"
ctl list p/
check "list without --limit pages through all 2500, in order" "2500 p/0001 p/2500" \
	"$(printf '%s\n' "$OUT" | wc -l) $(printf '%s\n' "$OUT" | sed -n 1p | cut -f1) $(printf '%s\n' "$OUT" | sed -n 2500p | cut -f1)"
ctl -j dump p/
like "dump -j: one result of every item at one revision" '^\{"items":\[.*\],"revision":2,"more":false\}$' "$OUT"
check "dump -j: all 2500 items" 2500 "$(printf '%s' "$OUT" | grep -o '"key":"p/' | wc -l)"
# A writer meanwhile: dump prints one consistent revision, or says it could not.
( for i in $(seq 1 300); do "$CTL" -s "$SOCK" -q set p/0001 "$i" || exit 1; done ) &
WRITER=$!
# Dump only once the writer's first set is acknowledged (p/0001 then holds a number, not
# {"i":1}): started before it, a dump under load can finish before any write lands.
for _ in $(seq 1 500); do
	ctl get p/0001
	[[ "$OUT" =~ ^[0-9]+$ ]] && break
	kill -0 "$WRITER" 2>/dev/null || break
	sleep 0.02
done
like "dump while written: the writer's first set is in before the dump" '^[0-9]+$' "$OUT"
ctl dump p/
DUMP_RC=$RC
wait "$WRITER" || true
if [ "$DUMP_RC" = 0 ]; then
	check "dump while written: all 2500 lines" 2500 "$(printf '%s\n' "$OUT" | wc -l)"
	check "dump while written: p/0002..p/2500 all at revision 2 (one state)" 2499 \
		"$(printf '%s\n' "$OUT" | grep -c '"revision":2,')"
else
	check "dump while written: exit 1 and why" "1:udsrpcctl: dump: the store changed while it was read, 5 times; nothing printed (try again when writes pause)" "$DUMP_RC:$ERR"
fi

stop_daemon
check "second daemon stopped" 0 "$STATUS"
if [ "$FAIL" -gt 0 ]; then
	diff <(meta "$DIR/list-a.json" | tr -d '\n') <(meta "$DIR/list-b.json" | tr -d '\n') || true
	cat "$DIR/dump.txt"
fi
finish
