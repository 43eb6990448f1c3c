#!/bin/bash
# man_lint.sh — the three man pages are clean for mandoc and groff, and say
# what the programs and schemas say: every option, command, config key with
# its default and bounds, environment variable and exit status.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/common.sh"
need_tool mandoc mandoc
need_tool groff groff-base
need_tool python3 python3

MAN=$UDSRPC_SOURCE_DIR/contrib/man
CTL=${UDSRPCCTL:-$UDSRPC_BINARY_DIR/ctl/udsrpcctl}
BENCH=${UDSRPC_BENCH:-$UDSRPC_BINARY_DIR/ctl/udsrpc-bench}

for page in udsrpcd.8 udsrpcctl.1 udsrpc-bench.1; do
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
# The default socket order of PROTOCOL.md section 1, as the daemon prints it.
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
	echo "note: udsrpcctl is not built ($CTL); checking the page against CLI.md's list only"
fi
for cmd in ping info stats whoami peers methods get set unset list watch call raw reload shutdown log-level help; do
	has udsrpcctl.1 "command $cmd" "^\.It Cm $cmd( |$)"
done
for code in 0 1 2 3 4; do
	has udsrpcctl.1 "exit status $code" "^\.It $code$"
done
has udsrpcctl.1 "default timeout 5000" 'default 5000'

# udsrpc-bench: CLI.md's options, and its own --help when it is built.
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
	echo "note: udsrpc-bench is not built ($BENCH); checking the page against CLI.md's list only"
fi
finish
