#!/bin/bash
# debs.sh — the CTest fixture "debs": `cpack -G DEB` once, from a fresh build
# of the source (RelWithDebInfo, stripped by cpack), into $UDSRPC_DEBS_DIR.
# install_package checks those packages and installs them here;
# install_systemd_real installs them in a container. Both read the same
# files, so cpack runs once per suite.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/common.sh"
need_tool cpack cmake
need_tool dpkg-deb dpkg
: "${UDSRPC_DEBS_DIR:?run through ctest (the debs fixture sets it)}"

B=$UDSRPC_DEBS_DIR
rm -rf "$B" # a failed build leaves no packages for the tests to find
run "configure a fresh build" cmake -S "$UDSRPC_SOURCE_DIR" -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo
run "build" cmake --build "$B" -j2
(cd "$B" && run "cpack -G DEB" cpack -G DEB)
check "cpack made three packages" 3 "$(cd "$B" && ls -- *.deb | wc -l)"
(cd "$B" && ls -l -- *.deb)
finish
