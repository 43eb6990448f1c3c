#!/bin/bash
# package.sh — `cpack -G DEB` from a fresh build makes a Debian package that
# puts everything where Debian puts a daemon's files, declares what it
# links against, installs, runs, and removes cleanly.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/common.sh"
need_tool cpack cmake
need_tool dpkg-deb dpkg
need_tool dpkg-shlibdeps dpkg-dev
need_tool file file
need_tool readelf binutils
need_tool flock util-linux

# One package test at a time on this machine: several build trees of the
# same source may run their suites at once, and dpkg -i/-r is machine-wide.
exec 9>/tmp/udsrpc-install-package.lock
flock -w 240 9 || { echo "another udsrpc package test held the lock for 4 minutes" >&2; exit 1; }

B=$(mktemp -d /tmp/udsrpc-pkg-XXXXXX)
on_exit "rm -rf $B"
# run WHAT CMD...: CMD with its output in a log, shown only if it fails.
run() {
	local what=$1
	shift
	if ! "$@" >"$DIR/log" 2>&1; then
		tail -40 "$DIR/log" >&2
		echo "FAIL: $what" >&2
		exit 1
	fi
}
run "configure a fresh build" cmake -S "$UDSRPC_SOURCE_DIR" -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo
run "build" cmake --build "$B" -j2
(cd "$B" && run "cpack -G DEB" cpack -G DEB)
debs=$(ls "$B"/*.deb)
arch=$(dpkg --print-architecture)
check "one package, Debian file name" "$B/udsrpc_0.1.0-1_$arch.deb" "$debs"
DEB=$debs

# Which programs the fresh build made decides what the package must hold.
ctl=no bench=no
[ -x "$B/ctl/udsrpcctl" ] && ctl=yes
[ -x "$B/ctl/udsrpc-bench" ] && bench=yes
echo "built: udsrpcctl $ctl, udsrpc-bench $bench"

dpkg-deb -c "$DEB" | awk '{print $1, $6}' >"$DIR/contents"
# has PATH MODE: the package holds PATH with that mode.
has() {
	check "contains $1" "$2 ./$1" "$(grep -E " \./$1\$" "$DIR/contents" || echo "(missing)")"
}
has usr/sbin/udsrpcd -rwxr-xr-x
has lib/systemd/system/udsrpcd.service -rw-r--r--
has lib/systemd/system/udsrpcd.socket -rw-r--r--
has usr/share/man/man8/udsrpcd.8.gz -rw-r--r--
for f in udsrpc.openrpc.json config.schema.json policy.schema.json; do
	has "usr/share/udsrpc/$f" -rw-r--r--
done
has usr/share/doc/udsrpc/copyright -rw-r--r--
has usr/share/doc/udsrpc/README.md -rw-r--r--
for f in README.md config.json policy.json; do
	has "usr/share/doc/udsrpc/examples/$f" -rw-r--r--
done
for f in socat-oneliners.sh call.sh batch.sh watch-events.sh udsrpc.py; do
	has "usr/share/doc/udsrpc/examples/$f" -rwxr-xr-x
done
if [ $ctl = yes ]; then
	has usr/bin/udsrpcctl -rwxr-xr-x
	has usr/share/man/man1/udsrpcctl.1.gz -rw-r--r--
	has usr/share/bash-completion/completions/udsrpcctl -rw-r--r--
fi
if [ $bench = yes ]; then
	has usr/bin/udsrpc-bench -rwxr-xr-x
	has usr/share/man/man1/udsrpc-bench.1.gz -rw-r--r--
fi
check "nothing in /etc (no conffiles: the embedded defaults apply)" "" "$(grep ' \./etc/' "$DIR/contents" || true)"
check "nothing under /usr/local, no headers or libraries" "" \
	"$(grep -E ' \./usr/(local|include)/|\.a$|\.so(\.[0-9]+)*$' "$DIR/contents" || true)"
check "every man page gzipped (Debian policy 12.1)" "" \
	"$(grep -E '^-.* \./usr/share/man/man[0-9]/' "$DIR/contents" | grep -v '\.gz$' || true)"
check "owned by root" "" "$(dpkg-deb -c "$DEB" | awk '$2 != "root/root"')"

# Inside the files.
X=$B/extract
dpkg-deb -x "$DEB" "$X"
check "service ExecStart is the packaged daemon" 'ExecStart=/usr/sbin/udsrpcd $UDSRPCD_OPTS' \
	"$(grep '^ExecStart=' "$X/lib/systemd/system/udsrpcd.service")"
for page in man8/udsrpcd.8 man1/udsrpcctl.1 man1/udsrpc-bench.1; do
	[ -e "$X/usr/share/man/$page.gz" ] || continue
	same=$(gzip -dc "$X/usr/share/man/$page.gz" | cmp - "$UDSRPC_SOURCE_DIR/contrib/man/${page#*/}" && echo same)
	check "$page.gz is contrib/man/${page#*/}" same "$same"
done
for prog in usr/sbin/udsrpcd usr/bin/udsrpcctl usr/bin/udsrpc-bench; do
	[ -e "$X/$prog" ] || continue
	check "$prog is stripped" 0 "$(readelf -S "$X/$prog" | grep -c '\.debug_info' || true)"
done

# Control: the fields, the maintainer scripts, and Depends covering every
# library the programs load.
# lib_package PATH: the Debian package that owns the library PATH (ldd's
# path may be the /usr-merged alias of the one dpkg recorded).
lib_package() {
	local c out
	for c in "$1" "$(readlink -f "$1")" "${1#/usr}" "/usr$1"; do
		if out=$(dpkg -S "$c" 2>/dev/null); then
			echo "${out%%:*}"
			return
		fi
	done
}
dpkg-deb -f "$DEB" Package Version Architecture Section Priority >"$DIR/fields"
check "control fields" "Package: udsrpc
Version: 0.1.0-1
Architecture: $arch
Section: admin
Priority: optional" "$(cat "$DIR/fields")"
maint=$(dpkg-deb -f "$DEB" Maintainer)
check "Maintainer: Name <address>" yes "$(printf '%s' "$maint" | grep -qE '^[^<]+ <[^@> ]+@[^> ]+>$' && echo yes || echo no)"
desc=$(dpkg-deb -f "$DEB" Description)
contains "Description synopsis" "local control daemon speaking JSON-RPC 2.0 over a Unix socket" "$(printf '%s' "$desc" | head -1)"
check "Description has a long part" yes "$([ "$(printf '%s\n' "$desc" | wc -l)" -ge 5 ] && echo yes || echo no)"
info=$(dpkg-deb -I "$DEB")
for script in postinst prerm postrm; do
	contains "maintainer script $script" " $script " "$info"
done
depends=$(dpkg-deb -f "$DEB" Depends)
echo "Depends: $depends"
for pkg in libc6 libjansson4 libevent-core-2.1-7; do
	contains "Depends on $pkg" "$pkg (>= " "$depends"
done
for prog in usr/sbin/udsrpcd usr/bin/udsrpcctl usr/bin/udsrpc-bench; do
	[ -e "$X/$prog" ] || continue
	for lib in $(readelf -d "$X/$prog" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		owner=$(lib_package "$(ldd "$X/$prog" | awk -v l="$lib" '$1 == l {print $3}')")
		contains "$prog needs $lib: Depends has its package ${owner:-?}" "${owner:-unknown package}" "$depends"
	done
done

# Install it, run what it installed, remove it again. Only on a machine
# where nothing of ours is installed already: this test must not touch an
# administrator's copy.
if [ "$(id -u)" != 0 ]; then
	echo "note: not root: the package is built and checked, not installed"
elif dpkg-query -W -f='${Status}' udsrpc 2>/dev/null | grep -qv 'config-files\|not-installed'; then
	echo "note: a udsrpc package is installed here already: not installing over it"
elif [ -e /usr/sbin/udsrpcd ] || [ -e /usr/bin/udsrpcctl ] || [ -e /usr/bin/udsrpc-bench ]; then
	echo "note: udsrpc programs exist in /usr outside dpkg: not installing over them"
else
	state_before=no
	[ -e /var/lib/udsrpcd ] && state_before=yes
	on_exit "dpkg -r udsrpc >/dev/null 2>&1"
	rc=0
	dpkg -i "$DEB" >"$DIR/dpkg.log" 2>&1 || { rc=$?; cat "$DIR/dpkg.log" >&2; }
	check "dpkg -i" 0 "$rc"
	check "installed: /usr/sbin/udsrpcd --version" "udsrpcd 0.1.0" "$(/usr/sbin/udsrpcd --version)"
	if [ $ctl = yes ]; then
		check "installed: /usr/bin/udsrpcctl --version" "udsrpcctl 0.1.0" "$(/usr/bin/udsrpcctl --version)"
	else
		echo "note: udsrpcctl is not built yet: only udsrpcd is checked"
	fi
	if [ $bench = yes ]; then
		check "installed: /usr/bin/udsrpc-bench --version" "udsrpc-bench 0.1.0" "$(/usr/bin/udsrpc-bench --version)"
	fi
	contains "dpkg -L lists the socket unit" /lib/systemd/system/udsrpcd.socket "$(dpkg -L udsrpc)"
	# The installed daemon serves; the installed tools and examples reach it.
	UDSRPCD=/usr/sbin/udsrpcd start_daemon
	check "installed daemon answers" '{"jsonrpc":"2.0","id":1,"result":"pong"}' \
		"$(rpc '{"jsonrpc":"2.0","id":1,"method":"ping"}')"
	if [ $ctl = yes ]; then
		check "installed udsrpcctl reaches it" "app/pkg	ok" \
			"$(/usr/bin/udsrpcctl -s "$SOCK" -q set app/pkg ok && /usr/bin/udsrpcctl -s "$SOCK" list app/)"
	fi
	if [ -x /usr/share/doc/udsrpc/examples/call.sh ]; then
		check "installed example call.sh" '"pong"' "$(/usr/share/doc/udsrpc/examples/call.sh -s "$SOCK" ping)"
	else
		echo "note: /usr/share/doc is excluded by this machine's dpkg configuration"
	fi
	stop_daemon
	check "installed daemon: exit 0" 0 "$STATUS"
	rc=0
	dpkg -r udsrpc >"$DIR/dpkg.log" 2>&1 || { rc=$?; cat "$DIR/dpkg.log" >&2; }
	check "dpkg -r" 0 "$rc"
	for f in /usr/sbin/udsrpcd /usr/bin/udsrpcctl /lib/systemd/system/udsrpcd.service /usr/share/udsrpc; do
		check "removed: $f" no "$([ -e "$f" ] && echo yes || echo no)"
	done
	# The maintainer scripts stay for a purge, which also deletes
	# /var/lib/udsrpcd. One that this test did not create (a root udsrpcd
	# run with the default state dir) is hidden from the purge by an empty
	# directory mounted over it in a private mount namespace.
	rc=0
	if [ $state_before = no ]; then
		dpkg -P udsrpc >"$DIR/dpkg.log" 2>&1 || rc=$?
	elif unshare -m --propagation private true 2>/dev/null; then
		mkdir "$DIR/empty-state"
		unshare -m --propagation private sh -c \
			'mount --bind "$1" /var/lib/udsrpcd && exec dpkg -P udsrpc' sh "$DIR/empty-state" \
			>"$DIR/dpkg.log" 2>&1 || rc=$?
		check "purge kept the existing /var/lib/udsrpcd" yes "$([ -d /var/lib/udsrpcd ] && echo yes || echo no)"
	else
		echo "note: /var/lib/udsrpcd existed before and cannot be shielded: left udsrpc in state config-files"
		rc=skip
	fi
	if [ "$rc" != skip ]; then
		[ "$rc" = 0 ] || cat "$DIR/dpkg.log" >&2
		check "dpkg -P" 0 "$rc"
		check "purged: dpkg knows nothing of udsrpc" "" \
			"$(dpkg-query -W -f='${Status}' udsrpc 2>/dev/null | grep -v 'not-installed' || true)"
	fi
fi
finish
