#!/bin/bash
# checks.sh — every reply is checked: a fake daemon (socat + a shell loop) answers wrongly
# in one way per case, and udsrpc-bench must count it, name it and exit 1 — never hang.
. "$(dirname "$0")/lib_bench.sh"
command -v socat >/dev/null || skip "socat is not installed (apt-get install socat)"

FAKE=""
trap '[ -n "$FAKE" ] && kill "$FAKE" 2>/dev/null; cleanup' EXIT

# The fake's reply to each request line, by mode; $1 is the request's id.
cat >"$DIR/fake.sh" <<'FAKE_EOF'
mode=$1
while IFS= read -r line; do
	id=$(printf '%s' "$line" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
	case $mode in
	good)      printf '{"jsonrpc":"2.0","id":%s,"result":"pong"}\n' "$id" ;;
	spaced)    printf '{ "result" : "pong" , "id" : %s , "jsonrpc" : "2.0" }\r\n' "$id" ;;
	wrongid)   printf '{"jsonrpc":"2.0","id":%s,"result":"pong"}\n' "$((id + 1000))" ;;
	twice)     printf '{"jsonrpc":"2.0","id":%s,"result":"pong"}\n' "$id" "$id" ;;
	malformed) printf '{"jsonrpc":"2.0","id":%s,"result":}\n' "$id" ;;
	noresult)  printf '{"jsonrpc":"2.0","id":%s}\n' "$id" ;;
	both)      printf '{"jsonrpc":"2.0","id":%s,"result":1,"error":{"code":1,"message":"x"}}\n' "$id" ;;
	version)   printf '{"jsonrpc":"1.0","id":%s,"result":"pong"}\n' "$id" ;;
	unknown)   printf '{"jsonrpc":"2.0","id":%s,"result":"pong","extra":1}\n' "$id" ;;
	badutf8)   printf '{"jsonrpc":"2.0","id":%s,"result":"\xff"}\n' "$id" ;;
	strid)     printf '{"jsonrpc":"2.0","id":"%s","result":"pong"}\n' "$id" ;;
	event)     printf '{"jsonrpc":"2.0","method":"event","params":{"topic":"config"}}\n{"jsonrpc":"2.0","id":%s,"result":"pong"}\n' "$id" ;;
	echoback)  printf '{"jsonrpc":"2.0","id":%s,"result":{"data":"not what was sent"}}\n' "$id" ;;
	close)     exit 0 ;;
	silent)    ;;
	esac
done
FAKE_EOF

fake() {
	if [ -n "$FAKE" ]; then
		kill "$FAKE" 2>/dev/null || true
		wait "$FAKE" 2>/dev/null || true
	fi
	rm -f "$DIR/fake.sock"
	# unlink-close=0: by default every forked socat child unlinks the socket
	# path when it closes, so a late one of the previous fake removed the
	# next fake's socket (rm -f above does the cleanup instead).
	socat "UNIX-LISTEN:$DIR/fake.sock,fork,unlink-close=0" "SYSTEM:bash $DIR/fake.sh $1" 2>/dev/null &
	FAKE=$!
	for _ in $(seq 1 250); do
		[ -S "$DIR/fake.sock" ] && return 0
		sleep 0.02
	done
	echo "socat did not listen" >&2
	exit 1
}

fake good
bench -s "$DIR/fake.sock" -n 20 -c 2 --json
check "good fake: exit 0" 0 "$RC"
check "good fake: requests" 20 "$(jnum requests)"

fake spaced
bench -s "$DIR/fake.sock" -n 20 -c 2 --json
check "whitespace, member order and CRLF are fine: errors" 0 "$(jnum errors)"

fake event
bench -s "$DIR/fake.sock" -n 20 -c 2 --json
check "server push between replies is not an error" 0 "$(jnum errors)"
check "server push: replies still counted" 20 "$(jnum requests)"

# mode, the message that must name it
for c in "wrongid:not in flight" "twice:not in flight" "malformed:malformed reply" \
	"noresult:neither \"result\" nor \"error\"" "both:both \"result\" and \"error\"" \
	"version:\"jsonrpc\" is not \"2.0\"" "unknown:unknown member" "badutf8:invalid UTF-8" \
	"strid:an id we never sent"; do
	mode=${c%%:*}
	why=${c#*:}
	fake "$mode"
	# Some modes never answer the request they got (wrongid, strid), so -t
	# ends them; 1 s was too short for the others when the machine is loaded
	# (a bash and a sed per reply): the timeout then named itself instead of
	# what was wrong with the reply.
	bench -s "$DIR/fake.sock" -n 10 -c 2 -t 3 --json
	check "$mode: exit 1" 1 "$RC"
	check "$mode: counted as errors" yes "$(yes_if test "$(jnum errors)" -ge 1)"
	check "$mode: named" yes "$(yes_if grep -qF -- "$why" <<<"$ERR")"
done

fake echoback
bench -s "$DIR/fake.sock" -n 10 -c 1 --size 100 --json
check "--size: an echo that is not the params: exit 1" 1 "$RC"
check "--size: wrong echo named" yes "$(yes_if grep -q 'echo returned other params' <<<"$ERR")"

fake close
bench -s "$DIR/fake.sock" -n 10 -c 2 -t 1 --json
check "closed without a reply: exit 1" 1 "$RC"
check "closed without a reply: the requests are missing" 2 "$(jnum errors)"

fake silent
bench -s "$DIR/fake.sock" -n 10 -c 2 -w 1 -t 1 --json
check "never answers: exit 1 after -t, no hang" 1 "$RC"
check "never answers: the in-flight requests are errors" 2 "$(jnum errors)"
check "never answers: says so" yes "$(yes_if grep -q 'unanswered for 1 s' <<<"$ERR")"

fake silent
bench -s "$DIR/fake.sock" -d 0.3 -c 1 -P 8 -t 1 --json
check "never answers, -d and -P 8: all 8 in flight are errors" 8 "$(jnum errors)"

finish
