#!/bin/bash
# man3_example.sh — the complete service in the EXAMPLES section of udsrpc(3)
# is what the page says: taken from the page source (its first literal
# display), checked against what mandoc shows a reader, compiled with
# -Wall -Wextra -Werror against the build tree's libudsrpc, and run: its
# method, the built-ins it switches on, the params check and a clean stop.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/common.sh"
need_tool socat socat
need_tool mandoc mandoc
need_tool python3 python3
need_tool pkg-config pkg-config
CC=${CC:-cc}
need_tool "$CC" gcc

PAGE=$UDSRPC_SOURCE_DIR/contrib/man/udsrpc.3
LIB=$UDSRPC_BINARY_DIR/daemon/lib/libudsrpc.so
INC=$UDSRPC_SOURCE_DIR/daemon/include
[ -f "$LIB" ] || { echo "FAIL: $LIB is not built" >&2; exit 1; }
pkg-config --exists jansson || skip "pkg-config does not know jansson (apt-get install libjansson-dev)"

# 1. The program: the first ".Bd -literal" ... ".Ed" of ".Sh EXAMPLES", with
#    the page's escapes undone. Any other escape in it would be a guess about
#    what the reader sees, so it is an error.
python3 - "$PAGE" "$DIR/hellod.c" "$DIR/escapes" <<'PY'
import re, sys
page, out, bad = sys.argv[1:]
lines = open(page, encoding="ascii").read().split("\n")
prog, section, inside, done = [], None, False, False
for line in lines:
    if line.startswith(".Sh "):
        section = line[4:].strip()
        inside = False
        continue
    if section != "EXAMPLES" or done:
        continue
    if not inside and re.match(r"^\.Bd\s+-literal(\s|$)", line):
        inside = True
    elif inside and line.startswith(".Ed"):
        inside, done = False, True
    elif inside:
        prog.append(line)
odd = sorted({m.group(0) for l in prog for m in re.finditer(r"\\(.)", l)} - {r"\e", r"\&", r"\-"})
open(bad, "w").write(" ".join(odd))
text = "\n".join(prog) + "\n"
text = re.sub(r"\\([e&-])", lambda m: {"e": "\\", "&": "", "-": "-"}[m.group(1)], text)
open(out, "w").write(text if prog else "")
PY
check "udsrpc.3: EXAMPLES has a literal display with the program" "/* hellod.c" \
	"$(head -c 11 "$DIR/hellod.c")"
check "udsrpc.3: the program uses only the escapes \\e, \\& and \\-" "" "$(cat "$DIR/escapes")"
contains "udsrpc.3: the program has main()" "int main(" "$(cat "$DIR/hellod.c")"

# 2. A reader sees the same program: every line of it is a line of mandoc's
#    rendering (the section indent removed), in order.
mandoc -T ascii -O width=200 "$PAGE" | sed "s/.\x08//g" >"$DIR/rendered"
out=$(python3 - "$DIR/hellod.c" "$DIR/rendered" <<'PY'
import sys
prog = [l.rstrip() for l in open(sys.argv[1]).read().split("\n") if l.strip()]
shown = [l.rstrip()[5:] if l.startswith("     ") else None for l in open(sys.argv[2]).read().split("\n")]
at = 0
for l in prog:
    try:
        at = shown.index(l, at) + 1
    except ValueError:
        print("not shown as in the source: " + l)
        break
PY
)
check "udsrpc.3: mandoc shows the program line for line" "" "$out"

# 3. It compiles, warning-free, against the build tree's library.
SAN=()
[ -z "${UDSRPC_SANITIZED:-}" ] || SAN=("-fsanitize=address,undefined" -fno-omit-frame-pointer)
# shellcheck disable=SC2046 # pkg-config prints separate words on purpose
build() {
	"$CC" "$@" "${SAN[@]}" -Wall -Wextra -Werror -I"$INC" $(pkg-config --cflags jansson) \
		-o "$DIR/hellod" "$DIR/hellod.c" "$LIB" $(pkg-config --libs jansson) \
		-Wl,-rpath,"$(dirname "$LIB")" 2>&1
}
rc=0
out=$(build -std=c11 -D_POSIX_C_SOURCE=200809L) || rc=$?
check "compiles with -std=c11 -D_POSIX_C_SOURCE=200809L (as CAVEATS says)" "0" "$rc${out:+: $out}"
rc=0
out=$(build) || rc=$?
check "compiles with -Wall -Wextra -Werror" "0" "$rc${out:+: $out}"
[ "$rc" = 0 ] || { finish || true; exit 1; }

# 4. It serves: the method, its params check, ping and rpc.discover.
SOCK=$DIR/hello.sock
"$DIR/hellod" "$SOCK" 2>"$DIR/hellod.err" &
HPID=$!
on_exit "kill -KILL $HPID"
if ! wait_for "hellod listening on $SOCK" socat -u /dev/null "UNIX-CONNECT:$SOCK"; then
	cat "$DIR/hellod.err" >&2
	exit 1
fi

check "hello.greet NAME" '{"jsonrpc":"2.0","id":1,"result":"hello, NAME"}' \
	"$(rpc '{"jsonrpc":"2.0","id":1,"method":"hello.greet","params":{"name":"NAME"}}')"
check "ping (built-in)" '{"jsonrpc":"2.0","id":2,"result":"pong"}' \
	"$(rpc '{"jsonrpc":"2.0","id":2,"method":"ping"}')"
check "echo is not switched on" '{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"Method not found","data":{"method":"echo"}}}' \
	"$(rpc '{"jsonrpc":"2.0","id":3,"method":"echo"}')"

out=$(rpc '{"jsonrpc":"2.0","id":4,"method":"rpc.discover"}' | python3 -c '
import json, sys
r = json.load(sys.stdin)["result"]
print(r["info"]["title"], " ".join(m["name"] for m in r["methods"]))')
check "rpc.discover: its info and methods" "hellod hello.greet ping rpc.discover" "$out"

# error_of LINE: "code path reason" of the error answer to LINE.
error_of() {
	rpc "$1" | python3 -c '
import json, sys
e = json.load(sys.stdin)["error"]
print(e["code"], repr(e["data"]["path"]), e["data"]["reason"])'
}
contains "hello.greet with a number: -32602 at /name" "-32602 '/name' " \
	"$(error_of '{"jsonrpc":"2.0","id":5,"method":"hello.greet","params":{"name":42}}')"
check "hello.greet without name: -32602 naming it" "-32602 '' missing required member 'name'" \
	"$(error_of '{"jsonrpc":"2.0","id":6,"method":"hello.greet","params":{}}')"
check "hello.greet with an unknown member: -32602" "-32602 '/x' unknown member 'x'" \
	"$(error_of '{"jsonrpc":"2.0","id":7,"method":"hello.greet","params":{"name":"a","x":1}}')"
contains "hello.greet with an empty name: -32602 (minLength)" "-32602 '/name' " \
	"$(error_of '{"jsonrpc":"2.0","id":8,"method":"hello.greet","params":{"name":""}}')"
contains "hello.greet by position: -32602" "-32602 '' " \
	"$(error_of '{"jsonrpc":"2.0","id":9,"method":"hello.greet","params":["NAME"]}')"

# 5. SIGTERM is a clean stop (UDSRPC_SERVER_SIGNALS): exit 0, socket gone.
kill -TERM "$HPID"
rc=0
wait "$HPID" || rc=$?
check "SIGTERM: exit 0" 0 "$rc"
check "SIGTERM: the socket file is removed" gone "$([ -e "$SOCK" ] && echo there || echo gone)"
lacks "no error logged" ": error: " "$(cat "$DIR/hellod.err")"
finish
