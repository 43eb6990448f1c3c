#!/bin/sh
# contrib/dev.sh — the README's two commands, for a fresh Debian 12 machine as root.
#   contrib/dev.sh run    install what is missing, build, run udsrpcd in the foreground
#   contrib/dev.sh test   install what is missing, build, run the whole suite (plain, under
#                         valgrind, ASan+UBSan, ThreadSanitizer for the library's threads,
#                         and a short libFuzzer smoke run per target)
set -eu
cd "$(dirname "$0")/.."

BUILD_PKGS="cmake make gcc pkg-config libjansson-dev libevent-dev"
TEST_PKGS="libcmocka-dev socat netcat-openbsd procps valgrind clang libclang-rt-14-dev mandoc groff-base man-db systemd dpkg-dev file strace python3 systemd-container debootstrap"

need() {
	missing=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "dev.sh: installing:$missing" >&2
		export DEBIAN_FRONTEND=noninteractive
		# An install cut short earlier (a killed image build, a reboot
		# mid-upgrade) leaves dpkg's journal pending, and apt then refuses
		# every install until it is finished: finish it first.
		if [ -n "$(ls -A /var/lib/dpkg/updates 2>/dev/null)" ] || [ -n "$(dpkg --audit 2>/dev/null)" ]; then
			echo "dev.sh: finishing an interrupted dpkg run (dpkg --configure -a)" >&2
			dpkg --force-confdef --force-confold --configure -a
		fi
		# Wait for another apt (unattended-upgrades at boot) rather than fail;
		# a changed config file keeps the local one, with no prompt.
		apt-get -o DPkg::Lock::Timeout=600 update -qq
		# shellcheck disable=SC2086
		apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef \
			-o Dpkg::Options::=--force-confold install -y -qq $missing
	fi
}

jobs=$(nproc 2>/dev/null || echo 2)

build() { # build DIR [cmake args...]
	dir=$1
	shift
	cmake -S . -B "$dir" "$@" >/dev/null
	cmake --build "$dir" -j"$jobs"
}

case "${1:-}" in
run)
	need $BUILD_PKGS libcmocka-dev
	build build
	shift
	exec ./build/daemon/udsrpcd "$@"
	;;
test)
	need $BUILD_PKGS $TEST_PKGS
	# The OpenRPC meta-schema check runs on Node; any node with npm will do
	# (some images ship one outside Debian's packages).
	command -v npm >/dev/null 2>&1 || need nodejs npm
	build build
	# Label systemd (integration.install_systemd_real) included: the packages
	# in a Debian 12 container under a real systemd; the first run
	# debootstraps the tree into /var/cache/udsrpc-test (about a minute).
	ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600 -LE 'soak|valgrind'
	# The C integration tests again with the daemon under valgrind memcheck:
	# a memory error or a definite leak fails them.
	ctest --test-dir build --output-on-failure -j"$jobs" --timeout 1200 -L valgrind
	# The same suite again with AddressSanitizer and UndefinedBehaviorSanitizer
	# (not label systemd: the container runs the packages, a plain build).
	build build-asan -DUDSRPC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 600 -LE 'soak|valgrind|systemd'
	# The library's threads (answers from other threads, direct replies,
	# posted functions) under ThreadSanitizer: its own tests, label tsan.
	cmake -S . -B build-tsan -DUDSRPC_TSAN=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build-tsan -j"$jobs" --target test_api
	TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build-tsan --output-on-failure --timeout 600 -L tsan
	# A Release build (gcc -O3) only has to compile: -O3 inlines enough to
	# find -Wmaybe-uninitialized cases that -O2 misses, and -Werror is on.
	build build-release -DCMAKE_BUILD_TYPE=Release
	# So does the whole tree with clang: its warnings differ from gcc's (an
	# unused static inline, string + int) and -Werror is on.
	build build-clang -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug
	# libFuzzer (clang): each target for ~5 s on its corpus (tests/fuzz/run.sh runs longer).
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DUDSRPC_FUZZ=ON >/dev/null
	cmake --build build-fuzz --target udsrpc_fuzz -j"$jobs"
	ctest --test-dir build-fuzz --output-on-failure -j"$jobs" --timeout 600 -L fuzz
	;;
*)
	echo "usage: contrib/dev.sh run [udsrpcd options] | contrib/dev.sh test" >&2
	exit 2
	;;
esac
