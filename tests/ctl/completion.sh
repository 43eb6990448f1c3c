#!/bin/bash
# completion.sh — contrib/bash-completion/udsrpcctl loads in bash and completes commands, topics, methods.
. "$(dirname "$0")/lib.sh"
COMPLETION=$(readlink -f "$(dirname "$0")/../../contrib/bash-completion/udsrpcctl")
[ -r "$COMPLETION" ] || { echo "no completion script at $COMPLETION" >&2; exit 1; }

# comp WORD...: what the completion offers for the last WORD, as bash would
# call it (COMP_WORDS, COMP_CWORD), space-separated and sorted. The first
# word is the program as typed; CTL gives the daemon-backed parts our build.
comp() {
	bash --norc --noprofile -c '
		. "$1" || exit 99
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		"$(complete -p udsrpcctl | sed "s/.*-F \([^ ]*\) .*/\1/")" udsrpcctl \
			"${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"
	' comp "$COMPLETION" "$@" | sed '/^$/d' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'
}

check "loads in bash and registers a function for udsrpcctl" "complete -F _udsrpcctl udsrpcctl" \
	"$(bash --norc --noprofile -c '. "$1" && complete -p udsrpcctl' _ "$COMPLETION")"
check "udsrpcctl pi -> ping" "ping" "$(comp udsrpcctl pi)"
check "udsrpcctl (nothing) -> every command" \
	"call dump get help info list log-level methods peers ping raw reload restore serve set shutdown stats txn unset watch whoami" \
	"$(comp udsrpcctl '')"
check "the command list is the tool's own (udsrpcctl -j help)" \
	"$(comp udsrpcctl '')" \
	"$("$CTL" -j help | grep -o '"name":"[^"]*"' | cut -d'"' -f4 | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
check "options before the command are stepped over" "serve set shutdown stats" "$(comp udsrpcctl -j -t 100 s)"
check "udsrpcctl watch -> topics" "config daemon peer" "$(comp udsrpcctl watch '')"
check "udsrpcctl watch config p -> peer" "peer" "$(comp udsrpcctl watch config p)"
check "udsrpcctl watch --c -> --count" "--count" "$(comp udsrpcctl watch --c)"
check "udsrpcctl watch --r -> --reconnect" "--reconnect" "$(comp udsrpcctl watch --r)"
check "udsrpcctl watch --after-revision <tab>: a number, nothing offered" "" "$(comp udsrpcctl watch --after-revision '')"
check "udsrpcctl watch --prefix app/ c -> config (the value is no topic)" "config" "$(comp udsrpcctl watch --prefix app/ c)"
check "udsrpcctl log-level d -> debug" "debug" "$(comp udsrpcctl log-level d)"
check "udsrpcctl help s -> commands" "serve set shutdown stats" "$(comp udsrpcctl help s)"
check "udsrpcctl set k --exp -> --expect-revision" "--expect-revision" "$(comp udsrpcctl set k --exp)"
check "udsrpcctl set k --e -> --ephemeral --expect-revision" "--ephemeral --expect-revision" "$(comp udsrpcctl set k --e)"
check "udsrpcctl set k --s -> --socket --string" "--socket --string" "$(comp udsrpcctl set k --s)"
check "udsrpcctl set k --f -> --file" "--file" "$(comp udsrpcctl set k --f)"
check "udsrpcctl set k --file /e -> a file" "/etc" "$(comp udsrpcctl set k --file /e | tr ' ' '\n' | grep -x /etc)"
check "udsrpcctl set k --file = /e -> a file" "/etc" "$(comp udsrpcctl set k --file = /e | tr ' ' '\n' | grep -x /etc)"
check "udsrpcctl unset k --e -> --expect-revision" "--expect-revision" "$(comp udsrpcctl unset k --e)"
check "udsrpcctl --j -> --json" "--json" "$(comp udsrpcctl --j)"
check "udsrpcctl serve m --j -> --jobs --json" "--jobs --json" "$(comp udsrpcctl serve m --j)"
check "udsrpcctl serve m --params V --r -> --result" "--result" "$(comp udsrpcctl serve m --params '[]' --r)"
check "udsrpcctl serve m --jobs 2 -- systemc -> a program" "systemctl" \
	"$(comp udsrpcctl serve m --jobs 2 -- systemc | tr ' ' '\n' | grep -x systemctl | sort -u)"
check "udsrpcctl serve m -- ls /e -> a file argument" "/etc" "$(comp udsrpcctl serve m -- ls /e | tr ' ' '\n' | grep -x /etc)"

# From the daemon: methods (rpc.discover via udsrpcctl methods) and keys, with -s honoured.
START=$(date +%s%N)
check "call METHOD without a daemon: nothing offered" "" "$(comp "$CTL" -s "$SOCK" call '')"
check "without a daemon: no wait" yes "$([ $((($(date +%s%N) - START) / 1000000)) -lt 3000 ] && echo yes || echo no)"

start_daemon
check "udsrpcctl -s SOCK call <tab> -> all 21 methods" \
	"config.get config.list config.restore config.set config.txn config.unset daemon.info daemon.log_level daemon.reload daemon.shutdown daemon.stats echo events.publish events.subscribe events.unsubscribe peer.list peer.whoami ping rpc.discover rpc.provide rpc.unprovide" \
	"$(comp "$CTL" -s "$SOCK" call '')"
check "udsrpcctl --socket=SOCK call daemon.s -> two" "daemon.shutdown daemon.stats" \
	"$(comp "$CTL" "--socket=$SOCK" call daemon.s)"
check "call METHOD PARAMS: no more methods" "" "$(comp "$CTL" -s "$SOCK" call ping '')"
"$CTL" -s "$SOCK" -q set app.name x
"$CTL" -s "$SOCK" -q set app.port 8080
"$CTL" -s "$SOCK" -q set other 1
check "udsrpcctl get app -> the keys" "app.name app.port" "$(comp "$CTL" -s "$SOCK" get app)"
# As bash really passes --socket=PATH: split at '=' into three words.
check "udsrpcctl --socket = SOCK call daemon.s -> two" "daemon.shutdown daemon.stats" \
	"$(comp "$CTL" --socket = "$SOCK" call daemon.s)"
check "udsrpcctl --socket = SOCK get app -> the keys" "app.name app.port" \
	"$(comp "$CTL" --socket = "$SOCK" get app)"
check "udsrpcctl --socket=<tab> completes files" "$SOCK" "$(comp "$CTL" --socket = "$DIR/udsrpcd.so")"
# A value with a newline and a tab adds no false key.
"$CTL" -s "$SOCK" -q set app.text "$(printf 'line\napp.fake\tx')"
check "a value's newline makes no key" "app.name app.port app.text" "$(comp "$CTL" -s "$SOCK" get app)"
# Keys are asked for with keys_only and the word as prefix; a word no key
# can start with (a quote) asks nothing and offers nothing.
check "udsrpcctl get 'app\"' -> nothing" "" "$(comp "$CTL" -s "$SOCK" get 'app"')"
check "udsrpcctl unset app.p -> app.port" "app.port" "$(comp "$CTL" -s "$SOCK" unset app.p)"
finish
