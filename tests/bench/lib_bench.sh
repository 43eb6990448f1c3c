# lib_bench.sh — for the udsrpc-bench tests: lib.sh (a real udsrpcd in a temp dir) plus
# the bench binary and helpers to read its --json summary without extra tools.
. "$(dirname "$0")/../integration/lib.sh"

: "${UDSRPC_BINARY_DIR:?run through ctest, or export UDSRPC_BINARY_DIR=path/to/build}"
BENCH="$UDSRPC_BINARY_DIR/ctl/udsrpc-bench"
[ -x "$BENCH" ] || { echo "no $BENCH: build the udsrpc-bench target" >&2; exit 1; }

# bench ARGS...: run it (bounded: a hang is a failure, never a stuck test); sets OUT ERR RC.
bench() {
	RC=0
	timeout -k 5 120 "$BENCH" "$@" >"$DIR/bench.out" 2>"$DIR/bench.err" || RC=$?
	OUT=$(cat "$DIR/bench.out")
	ERR=$(cat "$DIR/bench.err")
	if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
		echo "udsrpc-bench $* did not finish within 120 s" >&2
	fi
}

# jnum KEY: a number member of the one-line --json summary in $OUT.
jnum() {
	printf '%s\n' "$OUT" | sed -n "s/.*\"$1\":\\(-\\{0,1\\}[0-9][0-9.eE+-]*\\).*/\\1/p"
}

# yes_if CONDITION...: "yes" or "no", for check.
yes_if() {
	if "$@"; then echo yes; else echo no; fi
}
