# shellcheck shell=bash
# common.sh — helpers for tests/install/*.sh; source it after tests/integration/lib.sh.
#   need_tool CMD PACKAGE     skip (77) without CMD; in CI (CI=true) fail instead,
#                             since contrib/dev.sh test installs PACKAGE there
#   wait_for WHAT CMD...      run CMD every 50 ms until it succeeds, at most 10 s
#   contains NAME NEEDLE TEXT check that TEXT contains NEEDLE
#   lacks NAME NEEDLE TEXT    check that TEXT does not contain NEEDLE
#   on_exit CMD               run CMD (e.g. kill one pid) before lib.sh's cleanup
#   run WHAT CMD...           CMD with its output in a log, shown (and exit 1) if it fails

need_tool() {
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $1 is missing in CI; contrib/dev.sh test installs $2 (TEST_PKGS)" >&2
		exit 1
	fi
	skip "$1 is not installed (apt-get install $2)"
}

wait_for() {
	local what=$1
	shift
	# A wall-clock bound, not a count of tries: under load one try of a
	# traced daemon can take longer than 200 tries of 50 ms allowed.
	local end=$((SECONDS + ${WAIT_FOR_SECONDS:-30}))
	while [ "$SECONDS" -lt "$end" ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "timed out waiting for: $what (${WAIT_FOR_SECONDS:-30} s)" >&2
	return 1
}

contains() {
	case $3 in
	*"$2"*) check "$1" yes yes ;;
	*) check "$1" "text containing $2" "$3" ;;
	esac
}

lacks() {
	case $3 in
	*"$2"*) check "$1" "text without $2" "$3" ;;
	*) check "$1" yes yes ;;
	esac
}

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

ON_EXIT=""
on_exit() {
	ON_EXIT="{ $1; } 2>/dev/null || true; $ON_EXIT"
}
install_cleanup() {
	eval "$ON_EXIT"
	cleanup
}
trap install_cleanup EXIT

# subscribed TOPIC: some connection of the daemon on $SOCK listens to TOPIC.
subscribed() {
	rpc '{"jsonrpc":"2.0","id":1,"method":"peer.list"}' | grep -q "\"topics\":\[[^]]*\"$1\""
}
