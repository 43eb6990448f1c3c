# shellcheck shell=bash
# container.sh — a Debian 12 container with systemd as its PID 1, for tests
# that need the real thing (source it after common.sh):
#   container_tree            debootstrap the tree once into a cache outside
#                             the checkout (under flock); sets TREE
#   container_boot [ARGS...]  boot TREE with systemd-nspawn in the background,
#                             ARGS passed to nspawn (--bind-ro=...); sets
#                             CPID (the container's systemd) and NSPAWN
#   in_ct CMD...              run CMD inside the container (nsenter -a)
#   container_stop            poweroff (bounded), then kill by pid; on_exit
#                             runs it on every way out, a failed check too
#
# The tree is booted with --volatile=overlay: whatever a test does inside
# lands in a tmpfs and the cached tree stays as debootstrap left it.
# --register=no --keep-unit let nspawn run where the machine's own PID 1 is
# not systemd (no machined, no scope unit to ask for).

# The cache key: bump the version when the tree has to change in another
# way than its package list.
CONTAINER_VERSION="udsrpc-test bookworm minbase 1"
CONTAINER_PKGS="systemd,dbus,procps,libjansson4,libevent-core-2.1-7,libjansson-dev,libevent-dev"
CONTAINER_CACHE=${UDSRPC_CONTAINER_CACHE:-/var/cache/udsrpc-test}

# container_mirror: the Debian mirror apt is configured with (one-line or
# deb822 sources), deb.debian.org when none names bookworm.
container_mirror() {
	local m
	m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" { u = $2; if (u ~ /^\[/) u = $3; for (i = 2; i <= NF; i++) if ($i == "bookworm") { print u; exit } }')
	if [ -z "$m" ]; then
		m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
			/^[ \t]*$/ { if (ok && uri != "") { print uri; exit } ok = 0; uri = "" }
			/^URIs:/ { uri = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") ok = 1 }
			END { if (ok && uri != "") print uri }' | head -1)
	fi
	echo "${m:-http://deb.debian.org/debian}"
}

container_tree() {
	local key lock tmp mirror
	key=$(printf '%s\n%s\n' "$CONTAINER_VERSION" "$CONTAINER_PKGS" | sha256sum | cut -c1-12)
	TREE=$CONTAINER_CACHE/bookworm-$key
	mkdir -p "$CONTAINER_CACHE"
	lock=$TREE.lock
	exec 8>>"$lock"
	flock -w 600 8 || { echo "FAIL: $lock held for 10 minutes" >&2; exit 1; }
	if [ ! -e "$TREE/.complete" ]; then
		mirror=$(container_mirror)
		tmp=$TREE.tmp
		rm -rf "$tmp" "$TREE"
		echo "debootstrap bookworm from $mirror into $TREE (once)"
		if ! debootstrap --variant=minbase --include="$CONTAINER_PKGS" bookworm "$tmp" "$mirror" \
			>"$DIR/debootstrap.log" 2>&1; then
			tail -30 "$DIR/debootstrap.log" >&2
			rm -rf "$tmp"
			flock -u 8
			skip "debootstrap of bookworm from $mirror failed (log above)"
		fi
		printf '%s\n%s\n' "$CONTAINER_VERSION" "$CONTAINER_PKGS" >"$tmp/.complete"
		mv "$tmp" "$TREE"
	fi
	flock -u 8
	exec 8>&-
}

CPID="" NSPAWN=""
container_boot() {
	local i state
	systemd-nspawn --register=no --keep-unit --volatile=overlay --console=passive -q \
		-b -D "$TREE" "$@" </dev/null >"$DIR/nspawn.log" 2>&1 &
	NSPAWN=$!
	on_exit container_stop
	# nspawn's child is the container's PID 1.
	for i in $(seq 1 200); do
		CPID=$(ps -o pid= --ppid "$NSPAWN" | head -1 | tr -d ' ')
		[ -n "$CPID" ] && [ "$(cat "/proc/$CPID/comm" 2>/dev/null)" = systemd ] && break
		CPID=""
		kill -0 "$NSPAWN" 2>/dev/null || break
		sleep 0.05
	done
	if [ -z "$CPID" ]; then
		cat "$DIR/nspawn.log" >&2
		skip "systemd-nspawn could not boot $TREE (log above)"
	fi
	# Booted when systemd says so: running, or degraded (some unit of the
	# minimal tree failed; which one is shown).
	state=""
	for i in $(seq 1 300); do
		state=$(in_ct systemctl is-system-running 2>/dev/null || true)
		case $state in running | degraded) break ;; esac
		sleep 0.1
	done
	case $state in
	running) ;;
	degraded) echo "note: container degraded: $(in_ct systemctl --failed --no-legend --plain | tr '\n' ' ')" ;;
	*)
		cat "$DIR/nspawn.log" >&2
		skip "the container's systemd did not finish booting in 30 s (state: ${state:-none})"
		;;
	esac
}

in_ct() {
	nsenter -t "$CPID" -a "$@"
}

container_stop() {
	local i
	[ -n "$NSPAWN" ] || return 0
	if kill -0 "$NSPAWN" 2>/dev/null; then
		[ -n "$CPID" ] && timeout 10 nsenter -t "$CPID" -a systemctl poweroff >/dev/null 2>&1
		for i in $(seq 1 200); do
			kill -0 "$NSPAWN" 2>/dev/null || break
			sleep 0.05
		done
	fi
	if kill -0 "$NSPAWN" 2>/dev/null; then
		echo "note: the container did not power off in 10 s: killing its PID 1 $CPID and nspawn $NSPAWN" >&2
		[ -n "$CPID" ] && kill -KILL "$CPID" 2>/dev/null
		sleep 0.5
		kill -KILL "$NSPAWN" 2>/dev/null
	fi
	wait "$NSPAWN" 2>/dev/null
	NSPAWN=""
	return 0
}
