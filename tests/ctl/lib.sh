# lib.sh — shared by the udsrpcctl tests: integration/lib.sh (a real udsrpcd), the
# udsrpcctl under test in CTL, and these:
#   ctl ARGS...          udsrpcctl on the test's socket; sets OUT, ERR, RC
#   ctl_exec ARGS...     the same without -s (the test names the socket, or none)
#   like WHAT REGEX TEXT TEXT matches the extended regex (anchored by the caller)
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
command -v socat >/dev/null || skip "socat is not installed (apt-get install socat)"
CTL=$(readlink -f "${UDSRPCCTL:-$UDSRPC_BINARY_DIR/ctl/udsrpcctl}")
[ -x "$CTL" ] || { echo "udsrpcctl is not built at $CTL" >&2; exit 1; }

ctl_exec() {
	RC=0
	OUT=$("$CTL" "$@" 2>"$DIR/ctl.err") || RC=$?
	ERR=$(cat "$DIR/ctl.err")
}
ctl() {
	ctl_exec -s "$SOCK" "$@"
}
like() {
	if printf '%s' "$3" | grep -Eq -- "$2"; then check "$1" yes yes; else check "$1" "/$2/" "$3"; fi
}
