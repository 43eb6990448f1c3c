#!/bin/sh
# tests/fuzz/run.sh — the fuzz targets for longer than the 5 s smoke tests:
# one target at a time, at low priority, so a shared machine stays usable.
#
#   sh tests/fuzz/run.sh [-t SECONDS] [-r RUNS] [-B BUILD_DIR] [TARGET...]
#
# TARGET: rpc, policy, config (default: all three, in that order). Each runs
# until SECONDS have passed (default 600) or RUNS inputs were tried
# (default: no limit), whichever comes first. Builds BUILD_DIR (default
# build-fuzz) with clang first. What the fuzzer learns is kept in
# BUILD_DIR/tests/fuzz/corpus/TARGET (seeds stay untouched in
# tests/fuzz/corpus/TARGET), crashes go to BUILD_DIR/tests/fuzz/artifacts/,
# the full log to BUILD_DIR/tests/fuzz/logs/TARGET.log. Prints one line per
# target with its execution count; exits 1 if any target crashed.
set -eu
cd "$(dirname "$0")/../.."

seconds=600
runs=-1
build=build-fuzz
while getopts t:r:B: opt; do
	case $opt in
	t) seconds=$OPTARG ;;
	r) runs=$OPTARG ;;
	B) build=$OPTARG ;;
	*)
		echo "usage: tests/fuzz/run.sh [-t SECONDS] [-r RUNS] [-B BUILD_DIR] [rpc|policy|config...]" >&2
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
targets=${*:-rpc policy config}

CC=${CC:-clang} cmake -S . -B "$build" -DUDSRPC_FUZZ=ON >/dev/null
cmake --build "$build" --target udsrpc_fuzz -j"$(nproc 2>/dev/null || echo 2)" >/dev/null

dir=$build/tests/fuzz
mkdir -p "$dir/logs" "$dir/artifacts"
failed=0
for t in $targets; do
	exe=$dir/fuzz_$t
	if [ ! -x "$exe" ]; then
		echo "run.sh: no fuzz target '$t' (have: rpc policy config)" >&2
		exit 2
	fi
	mkdir -p "$dir/corpus/$t"
	log=$dir/logs/$t.log
	status=0
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
		nice -n 10 "$exe" -max_total_time="$seconds" -runs="$runs" -timeout=20 \
		-rss_limit_mb=2048 -print_final_stats=1 -dict="tests/fuzz/$t.dict" \
		-artifact_prefix="$dir/artifacts/$t-" \
		"$dir/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1 || status=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	if [ "$status" -eq 0 ]; then
		echo "fuzz $t: ${execs:-?} executions (${secs:-?}/s), no crash"
	else
		failed=1
		echo "fuzz $t: FAILED (exit $status) after ${execs:-?} executions; see $log" >&2
		grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz: invariant)|runtime error|Test unit written' "$log" >&2 || true
	fi
done
exit $failed
