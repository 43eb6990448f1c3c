#!/bin/bash
# serve_root.sh — README.md's "Let a group run one privileged action", run as
# written: its policy block, root's `udsrpcctl serve app.restart -- systemctl
# restart app` (with a script that appends a line to a file in place of
# systemctl), a member of the group calling app.restart, and a caller outside
# the group denied with exit 4 while the command does not run. The group is a
# gid no group has, in place of `deploy`; both callers are uid 65534, one with
# that gid as a supplementary group, one with none. Also: systemd-analyze
# verify accepts contrib/systemd/udsrpc-serve@.service for an instance.
# The transcript (commands and output) goes to the test's log.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root: the README's serve runs as root and the callers as uid 65534"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
stage "$CTL"

# A gid no group uses: the group deploy of the README.
G=""
for i in $(seq 0 99); do
	g=$((62000 + ($$ + i) % 1000))
	if ! getent group "$g" >/dev/null; then
		G=$g
		break
	fi
done
[ -n "$G" ] || skip "no free gid in 62000-62999 for the group"

# The harmless systemctl: what "restart app" did, one line per run.
RESTARTS=$DIR/restarts
cat >"$DIR/bin/restart-app" <<EOF
#!/bin/sh
echo "restarted for uid \$UDSRPC_CALLER_UID groups \$UDSRPC_CALLER_GROUPS" >>"$RESTARTS"
EOF
chmod 0755 "$DIR/bin/restart-app"
: >"$RESTARTS"

# block NAME: the README's marked block, on the test's daemon, group and command.
block() {
	readme_block "$1" | sed -e "s|/run/udsrpcd.sock|$SOCK|g" -e "s|\"deploy\"|$G|g" \
		-e "s|systemctl restart app|$DIR/bin/restart-app|g"
}
for name in serve-policy serve-root serve-deploy; do
	block "$name" >"$DIR/$name.block"
	check "README block $name found" yes "$([ -s "$DIR/$name.block" ] && echo yes || echo no)"
done
check "the README serves app.restart with systemctl" "udsrpcctl serve app.restart -- systemctl restart app" \
	"$(readme_block serve-root | grep '^udsrpcctl')"

TRANSCRIPT=$DIR/transcript
# say TEXT: a line of the transcript.
say() { printf '%s\n' "$*" >>"$TRANSCRIPT"; }

cp "$DIR/serve-policy.block" "$DIR/policy.json"
chmod 0644 "$DIR/policy.json"
start_daemon -p "$DIR/policy.json"
say "# policy: $DIR/policy.json (group deploy is gid $G)"
sed 's/^/  /' "$DIR/policy.json" >>"$TRANSCRIPT"

# root: the serve block, in the background (bash -c runs its one command with exec).
export PATH=$DIR/bin:$PATH LD_LIBRARY_PATH=$DIR/bin UDSRPC_SOCKET=$SOCK
: >"$DIR/serve.err"
bash -c "$(cat "$DIR/serve-root.block")" 2>"$DIR/serve.err" &
SERVE=$!
serve_cleanup() {
	kill -KILL "$SERVE" 2>/dev/null || true
	cleanup
}
trap serve_cleanup EXIT
await_start "$SERVE" "$DIR/serve.err" "udsrpcctl serve" grep -q "^udsrpcctl: serving app.restart " "$DIR/serve.err"
say "root# $(cat "$DIR/serve-root.block") &"
sed 's/^/  /' "$DIR/serve.err" >>"$TRANSCRIPT"

# caller LABEL SETPRIV_GROUPS...: the deploy block as uid 65534; sets RC OUT ERR.
caller() {
	local label=$1
	shift
	RC=0
	OUT=$(env -u UDSRPC_SOCKET HOME=/nonexistent setpriv --reuid=65534 --regid=65534 "$@" \
		bash -e "$DIR/serve-deploy.block" 2>"$DIR/caller.err") || RC=$?
	ERR=$(cat "$DIR/caller.err")
	say "$label\$ $(grep -v '^#' "$DIR/serve-deploy.block" | sed 's/ *#.*//')"
	[ -n "$OUT" ] && say "  $OUT"
	[ -n "$ERR" ] && say "  $ERR (stderr)"
	say "  exit status $RC"
}

caller "deploy (uid 65534, groups $G)" --groups="$G"
check "a member of deploy: exit 0" 0 "$RC"
check "a member of deploy: the command's empty stdout is the result" '""' "$OUT"
check "the command ran once, for that caller" "restarted for uid 65534 groups $G" "$(cat "$RESTARTS")"

BEFORE=$(cat "$RESTARTS")
caller "other (uid 65534, no groups)" --clear-groups
check "outside deploy: exit 4" 4 "$RC"
check "outside deploy: the daemon's verdict" yes \
	"$(printf '%s' "$ERR" | grep -q '^udsrpcctl: app.restart: Permission denied (code -32001)' && echo yes || echo "$ERR")"
sleep 0.3 # a command wrongly started would have had time to write
check "outside deploy: the command did not run (file unchanged)" "$BEFORE" "$(cat "$RESTARTS")"

# A failing command is an error for the caller: exit 1 with its stderr's first line.
cat >"$DIR/bin/restart-app" <<'EOF'
#!/bin/sh
echo "Job for app.service failed." >&2
exit 1
EOF
caller "deploy (uid 65534, groups $G)" --groups="$G"
check "a failing command: exit 1, its stderr's first line" \
	"1:udsrpcctl: app.restart: Job for app.service failed. (code 1)" "$RC:$ERR"

kill -TERM "$SERVE"
STATUS=0
wait "$SERVE" || STATUS=$?
check "root's serve: SIGTERM, exit 0" 0 "$STATUS"
say "root# kill -TERM %1   (serve exits $STATUS)"

# The unit, as systemd would run it for app.restart.
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$DIR/unit" "$DIR/man/man1"
	sed "s|^ExecStart=/usr/bin/udsrpcctl |ExecStart=$DIR/bin/udsrpcctl |" \
		"$UDSRPC_SOURCE_DIR/contrib/systemd/udsrpc-serve@.service" >"$DIR/unit/udsrpc-serve@.service"
	cp "$UDSRPC_SOURCE_DIR/contrib/man/udsrpcctl.1" "$DIR/man/man1/"
	RC=0
	OUT=$(MANPATH=$DIR/man systemd-analyze verify "$DIR/unit/udsrpc-serve@app.restart.service" 2>&1) || RC=$?
	check "udsrpc-serve@app.restart.service: systemd-analyze verify is silent" "0:" "$RC:$OUT"
else
	echo "note: systemd-analyze is not installed: the unit is not verified"
fi

echo "---- transcript ----"
cat "$TRANSCRIPT"
finish
