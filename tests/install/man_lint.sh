#!/bin/bash
# man_lint.sh — the man pages are clean for mandoc and groff, and say what
# the programs, schemas and library say: every option, command, config key
# with its default and bounds, environment variable and exit status; in
# udsrpc(7) every error code, method and limit; in section 3 every symbol
# libudsrpc exports, each in the NAME and SYNOPSIS of one page.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/common.sh"
need_tool mandoc mandoc
need_tool groff groff-base
need_tool python3 python3

MAN=$UDSRPC_SOURCE_DIR/contrib/man
CTL=${UDSRPCCTL:-$UDSRPC_BINARY_DIR/ctl/udsrpcctl}
BENCH=${UDSRPC_BENCH:-$UDSRPC_BINARY_DIR/ctl/udsrpc-bench}

PAGES3=(udsrpc.3 udsrpc_server.3 udsrpc_call.3 udsrpc_client.3)
for page in udsrpcd.8 udsrpcctl.1 udsrpc-bench.1 udsrpc.7 "${PAGES3[@]}"; do
	# "referenced manual not found" depends on what this machine has installed
	# (udsrpcctl(1) before the package is), not on the page.
	out=$(mandoc -T lint -W style "$MAN/$page" 2>&1 |
		grep -v -e 'referenced manual not found' -e 'outdated mandoc.db' || true)
	check "mandoc -T lint -W style: $page" "" "$out"
	out=$(groff -mdoc -ww -z "$MAN/$page" 2>&1 || echo "groff exit $?")
	check "groff -mdoc -ww: $page" "" "$out"
	out=$(LC_ALL=C grep -n '[^ -~	]' "$MAN/$page" || true)
	check "ASCII only: $page" "" "$out"
done

# has PAGE NAME REGEX: the page source matches the extended regex.
has() {
	if grep -Eq -- "$3" "$MAN/$1"; then check "$1 has $2" yes yes; else check "$1 has $2" "/$3/" "no match"; fi
}

# Every long option of --help (the daemon's getopt table speaks through it).
for opt in $("$UDSRPCD" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
	has udsrpcd.8 "option $opt" "^\.It .*Fl \\\\-${opt#--}( |$)"
done
for opt in -s -c -p -S -l -h; do
	has udsrpcd.8 "option $opt" "^\.It Fl ${opt#-} "
done

# Config keys, defaults and bounds from the normative schema.
python3 - "$UDSRPC_SOURCE_DIR/schema/config.schema.json" >"$DIR/keys" <<'PY'
import json, re, sys
s = json.load(open(sys.argv[1]))
for k, v in s["properties"].items():
    print("key", k, "", "", "")
for k, v in s["properties"]["limits"]["properties"].items():
    d = re.search(r"Default (\d+)", v.get("description", ""))
    print("limit", k, d.group(1) if d else "-", v["minimum"], v["maximum"])
PY
while read -r kind key def min max; do
	has udsrpcd.8 "config key $key" "^\.It Cm $key( |$)|^\.It Cm [a-z_]+ , Cm $key "
	if [ "$kind" = limit ]; then
		if [ "$def" = - ]; then
			has udsrpcd.8 "$key bounds $min..$max" "^\.It Cm $key Pq default .*, $min to $max\)?$"
		else
			has udsrpcd.8 "$key default $def, bounds $min..$max" "^\.It Cm $key Pq default ${def}[ ,=].*$min to $max\)?$"
		fi
	fi
done <"$DIR/keys"
check "schema keys read" yes "$([ "$(grep -c . "$DIR/keys")" -ge 15 ] && echo yes || echo no)"
has udsrpcd.8 "idle_timeout_ms default 0 = off" '^\.It Cm idle_timeout_ms Pq default 0 = off'
has udsrpcd.8 "socket_mode default" 'Cm socket_mode Pq string, default Qq 0666'
has udsrpcd.8 "log_level default" 'Cm log_level Pq string, default Qq info'

for var in UDSRPC_SOCKET RUNTIME_DIRECTORY STATE_DIRECTORY XDG_RUNTIME_DIR XDG_STATE_HOME HOME \
	LISTEN_FDS LISTEN_PID NOTIFY_SOCKET JOURNAL_STREAM; do
	has udsrpcd.8 "environment $var" "^\.It Ev (.*[ ,])?$var( |,|$)"
done
for f in /run/udsrpcd.sock /var/lib/udsrpcd/ /lib/systemd/system/udsrpcd.service \
	/lib/systemd/system/udsrpcd.socket /usr/share/udsrpc/; do
	has udsrpcd.8 "file $f" "^\.It Pa $f$"
done
for code in 0 1 2; do
	has udsrpcd.8 "exit status $code" "^\.It $code$"
done
for sig in SIGTERM SIGHUP SIGPIPE; do
	has udsrpcd.8 "signal $sig" "^\.It Dv .*$sig"
done
# The default socket order of udsrpc(7) TRANSPORT, as the daemon prints it.
order=$(sed -n '/^\.Ss Default socket path/,/^\.El/p' "$MAN/udsrpcd.8" | grep -oE 'UDSRPC_SOCKET|RUNTIME_DIRECTORY/|/run/udsrpcd.sock|XDG_RUNTIME_DIR|/tmp/udsrpcd' | tr '\n' ' ')
check "default socket order" "UDSRPC_SOCKET RUNTIME_DIRECTORY/ /run/udsrpcd.sock XDG_RUNTIME_DIR /tmp/udsrpcd " "$order"

# udsrpcctl: every command and long option of its own help, every exit status.
if [ -x "$CTL" ]; then
	help=$("$CTL" help)
	for cmd in $(printf '%s\n' "$help" | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF {print $1}'); do
		has udsrpcctl.1 "command $cmd" "^\.It Cm $cmd( |$)"
	done
	for opt in $(printf '%s\n' "$help" | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
		has udsrpcctl.1 "option $opt" "^\\.It .*Fl \\\\-${opt#--}( |$)"
	done
else
	echo "note: udsrpcctl is not built ($CTL); checking the page against the list below only"
fi
for cmd in ping info stats whoami peers methods get set unset list watch call raw reload shutdown log-level help; do
	has udsrpcctl.1 "command $cmd" "^\.It Cm $cmd( |$)"
done
for code in 0 1 2 3 4; do
	has udsrpcctl.1 "exit status $code" "^\.It $code$"
done
has udsrpcctl.1 "default timeout 5000" 'default 5000'

# udsrpc-bench: the options of its synopsis, and its own --help when it is built.
for opt in s c w n d P m p; do
	has udsrpc-bench.1 "option -$opt" "^\.It Fl $opt "
done
for opt in size hold warmup json histogram; do
	has udsrpc-bench.1 "option --$opt" "^\.It Fl \\\\-$opt( |$)"
done
for code in 0 1 2 130; do
	has udsrpc-bench.1 "exit status $code" "^\.It $code$"
done
if [ -x "$BENCH" ]; then
	for opt in $("$BENCH" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
		has udsrpc-bench.1 "option $opt (from --help)" "^\\.It .*Fl \\\\-${opt#--}( |$)"
	done
else
	echo "note: udsrpc-bench is not built ($BENCH); checking the page against the list below only"
fi

# udsrpc(7): the error table (codes and messages of the library), every
# method of the OpenRPC document, every limit with its default and range,
# and every section the public headers point to.
python3 - "$UDSRPC_SOURCE_DIR" >"$DIR/proto" <<'PY'
import json, re, sys
src = sys.argv[1]
hdr = open(src + "/daemon/include/udsrpc/server.h").read()
codes = dict(re.findall(r"(UDSRPC_[A-Z_]+) = (-\d+),", hdr))
for name, msg in re.findall(r'case (UDSRPC_[A-Z_]+): return "([^"]+)";', open(src + "/daemon/lib/rpc.c").read()):
    print("error", codes[name], name, msg.replace(" ", "_"))
for m in json.load(open(src + "/schema/udsrpc.openrpc.json"))["methods"]:
    print("method", m["name"], "-", "-")
for name, d, lo, hi in re.findall(r"LIMIT\((\w+), (\d+), (\d+), (\d+)\)", open(src + "/daemon/lib/limits.c").read()):
    print("limit", name, d, lo + ".." + hi)
for f in ("udsrpc.h", "server.h", "call.h", "client.h", "event.h"):
    for sec in re.findall(r'udsrpc\(7\),\s+"([A-Z ]+)"', open(src + "/daemon/include/udsrpc/" + f).read()):
        print("section", sec.replace(" ", "_"), f, "-")
PY
while read -r kind a b c; do
	case $kind in
	error)
		has udsrpc.7 "error $a ${c//_/ }" "^\.It $a Qq ${c//_/ }$"
		has udsrpc_server.3 "constant $b ($a)" "^\.Dv $b$"
		;;
	method) has udsrpc.7 "method $a" "^\.It Li $a( |$)" ;;
	limit)
		has udsrpc.7 "limit $a default $b, range ${c/../ to }" "^\.It Cm $a Pq default ${b}([ ,=][^,]*)?, ${c/../ to }\)?$"
		;;
	section) has udsrpc.7 "section ${a//_/ } (named in $b)" "^\.S[hs] (.* )?${a//_/ }( |$)" ;;
	esac
done <"$DIR/proto"
check "udsrpc(7) facts read" yes "$([ "$(grep -c '^error' "$DIR/proto")" -ge 18 ] &&
	[ "$(grep -c '^method' "$DIR/proto")" -ge 16 ] && [ "$(grep -c '^limit' "$DIR/proto")" -ge 9 ] &&
	echo yes || echo no)"
for key in max_keys max_store_bytes history_revisions history_bytes max_txn_ops; do
	has udsrpc.7 "limit $key" "^\.It Cm $key Pq default [0-9]"
done
for sec in TRANSPORT JSON-RPC IDENTITY POLICY LIFECYCLE LIMITS "CONFIGURATION FILE" PROVIDERS STORE \
	"SECURITY CONSIDERATIONS"; do
	has udsrpc.7 "section $sec" "^\.Sh $sec$"
done

# Section 3: every symbol of the version script is in the NAME (.Nm) and the
# SYNOPSIS (.Fn/.Fo) of exactly one page; every function those list is
# exported (or one of the header's macros and typedefs); each page has
# RETURN VALUES; every udsrpc page a page refers to (.Xr) exists.
out=$(python3 - "$MAN" "$UDSRPC_SOURCE_DIR/daemon/lib/libudsrpc.map" "${PAGES3[@]}" <<'PY'
import os, re, sys
man, mapfile, pages = sys.argv[1], sys.argv[2], sys.argv[3:]
syms = re.findall(r"^\s*(udsrpc_\w+);", open(mapfile).read(), re.M)
not_exported = {"udsrpc_server_options_init", "udsrpc_handler_fn"}
problems, where = [], {}
print("symbols", len(syms))
for page in pages:
    text = open(os.path.join(man, page)).read()
    sections = {}
    cur = None
    for line in text.split("\n"):
        m = re.match(r"^\.Sh (.*)", line)
        if m:
            cur = m.group(1).strip()
            continue
        sections.setdefault(cur, []).append(line)
    names = {m.group(1) for l in sections.get("NAME", []) for m in [re.match(r"^\.Nm (\w+)", l)] if m}
    funcs = {m.group(1) for l in sections.get("SYNOPSIS", []) for m in [re.match(r"^\.F[no] (\w+)", l)] if m}
    if "RETURN VALUES" not in sections and page != "udsrpc.3":
        problems.append(page + ": no RETURN VALUES section")
    if page != "udsrpc.3" and (names ^ funcs) - not_exported:
        problems.append(page + ": NAME and SYNOPSIS differ: " + " ".join(sorted((names ^ funcs) - not_exported)))
    for f in sorted(funcs - set(syms) - not_exported):
        problems.append(page + ": SYNOPSIS has " + f + ", which libudsrpc does not export")
    for s in names & funcs:
        where.setdefault(s, []).append(page)
    for x, sec in re.findall(r"^\.Xr (udsrpc[\w-]*) (\d)", text, re.M):
        if not os.path.exists(os.path.join(man, x + "." + sec)):
            problems.append(page + ": .Xr " + x + " " + sec + " names no page of contrib/man")
for s in syms:
    if len(where.get(s, [])) != 1:
        problems.append(s + ": in the NAME and SYNOPSIS of " + (", ".join(where.get(s, [])) or "no page"))
print("\n".join(problems))
PY
)
check "libudsrpc.map read (77 symbols when this was written)" yes \
	"$([ "$(printf '%s\n' "$out" | sed -n 's/^symbols //p')" -ge 77 ] && echo yes || echo no)"
check "section 3: every export documented once, NAME = SYNOPSIS, RETURN VALUES, links" "" \
	"$(printf '%s\n' "$out" | grep -v '^symbols ' || true)"
# Links between the pages: every .Xr to a udsrpc page resolves (udsrpc.7 and the others too).
for page in udsrpcd.8 udsrpcctl.1 udsrpc-bench.1 udsrpc.7; do
	while read -r name sec; do
		check "$page: .Xr $name $sec exists" yes "$([ -f "$MAN/$name.$sec" ] && echo yes || echo no)"
	done < <(sed -n 's/^\.Xr \(udsrpc[A-Za-z0-9_-]*\) \([0-9]\).*/\1 \2/p' "$MAN/$page" | sort -u)
done
for page in "${PAGES3[@]}"; do
	has "$page" "SEE ALSO udsrpc(7)" '^\.Xr udsrpc 7'
done
has udsrpc.3 "the pkg-config line" 'pkg-config --cflags --libs udsrpc'
has udsrpc.3 "an EXAMPLES section" '^\.Sh EXAMPLES$'
finish
