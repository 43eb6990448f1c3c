# paths.sh — sourced by the benchmark scripts (run.sh, provider.sh): the
# checkout, the build dir and the programs in it.
# Env: BUILD (default <repo>/build; relative to the checkout), UDSRPCD, UDSRPC_BENCH.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
UDSRPCD=${UDSRPCD:-$BUILD/daemon/udsrpcd}
UDSRPC_BENCH=${UDSRPC_BENCH:-$BUILD/ctl/udsrpc-bench}
