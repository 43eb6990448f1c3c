#!/bin/bash
# symbols.sh — libudsrpc exports exactly its API: every dynamic symbol the
# built libudsrpc.so.0 defines is named in daemon/lib/libudsrpc.map and every
# name there is exported, all under the version node UDSRPC_0, with soname
# libudsrpc.so.0; and libudsrpc.a (hidden symbols made local) defines no
# global symbol but the same udsrpc_* names, so a program linking it
# statically cannot clash with the library's internals.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/common.sh"
need_tool nm binutils
need_tool readelf binutils
: "${UDSRPC_BINARY_DIR:?run through ctest, or export UDSRPC_BINARY_DIR=build dir}"
: "${UDSRPC_SOURCE_DIR:?run through ctest, or export UDSRPC_SOURCE_DIR=checkout}"

LIBDIR=$UDSRPC_BINARY_DIR/daemon/lib
SO=$LIBDIR/libudsrpc.so.0
A=$LIBDIR/libudsrpc.a
MAP=$UDSRPC_SOURCE_DIR/daemon/lib/libudsrpc.map
for f in "$SO" "$A" "$MAP"; do
	[ -e "$f" ] || { echo "FAIL: $f is missing (build first)" >&2; exit 1; }
done

# The names of the map's global: section, one per line, sorted.
sed -n '/^[[:space:]]*global:/,/^[[:space:]]*local:/p' "$MAP" | sed 's|/\*.*\*/||' |
	tr -d ' \t' | grep -E '^[A-Za-z_][A-Za-z0-9_]*;$' | tr -d ';' | LC_ALL=C sort >"$DIR/map"
check "the map names symbols" yes "$([ -s "$DIR/map" ] && echo yes || echo no)"
check "the map has one version node, UDSRPC_0" "UDSRPC_0" \
	"$(grep -oE '^[A-Za-z_][A-Za-z0-9_.]*[[:space:]]*\{' "$MAP" | tr -d ' \t{')"
check "the map ends in local: *" yes \
	"$(tr -d ' \t\n' <"$MAP" | grep -q 'local:\*;};' && echo yes || echo no)"

# What the .so exports: defined dynamic symbols, versions stripped (newer nm
# prints name@@VERSION), without the version node's own ABS symbol.
nm -D --defined-only "$SO" | awk '{print $NF}' | sed 's/@.*//' | grep -vx 'UDSRPC_0' |
	LC_ALL=C sort -u >"$DIR/exported"
count=$(wc -l <"$DIR/exported")
echo "libudsrpc.so.0 exports $count symbols (the map names $(wc -l <"$DIR/map"))"
check "every exported symbol is in libudsrpc.map" "" \
	"$(LC_ALL=C comm -23 "$DIR/exported" "$DIR/map" | tr '\n' ' ' | sed 's/ $//')"
check "every name in libudsrpc.map is exported" "" \
	"$(LC_ALL=C comm -13 "$DIR/exported" "$DIR/map" | tr '\n' ' ' | sed 's/ $//')"
check "every exported symbol is udsrpc_*" "" "$(grep -v '^udsrpc_' "$DIR/exported" | tr '\n' ' ' | sed 's/ $//')"

check "soname" "libudsrpc.so.0" \
	"$(readelf -d "$SO" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
real=$(basename "$(readlink -f "$SO")")
check "libudsrpc.so.0 links to libudsrpc.so.0.MINOR.PATCH ($real)" yes \
	"$(printf '%s' "$real" | grep -qE '^libudsrpc\.so\.0\.[0-9]+\.[0-9]+$' && echo yes || echo no)"

# Versions from the dynamic symbol table: every defined symbol is
# NAME@@UDSRPC_0 (the default version), and UDSRPC_0 is the only version
# the library defines.
readelf --dyn-syms -W "$SO" | awk '$1 ~ /^[0-9]+:$/ && $7 != "UND" {print $8}' >"$DIR/versioned"
check "every exported symbol has version UDSRPC_0" "" \
	"$(grep -v '@@UDSRPC_0$' "$DIR/versioned" | grep -vx 'UDSRPC_0' | tr '\n' ' ' | sed 's/ $//')"
check "as many versioned symbols as exported" "$count" "$(grep -c '@@UDSRPC_0$' "$DIR/versioned")"
check "version definitions: the file and UDSRPC_0" "libudsrpc.so.0 UDSRPC_0" \
	"$(readelf -V -W "$SO" | sed -n '/\.gnu\.version_d/,/\.gnu\.version_r/p' | grep -o 'Name: [^ ]*' |
		cut -d' ' -f2 | tr '\n' ' ' | sed 's/ $//')"
check "no text relocations" "" "$(readelf -d "$SO" | grep -E 'TEXTREL' || true)"

# The static library: its global definitions are the same udsrpc_* names.
nm -g --defined-only "$A" | awk 'NF >= 3 {print $3}' | LC_ALL=C sort -u >"$DIR/static"
check "libudsrpc.a defines global symbols" yes "$([ -s "$DIR/static" ] && echo yes || echo no)"
check "libudsrpc.a: no global symbol but udsrpc_*" "" \
	"$(grep -v '^udsrpc_' "$DIR/static" | head -20 | tr '\n' ' ' | sed 's/ $//')"
check "libudsrpc.a defines what the map names, no more" "" \
	"$(LC_ALL=C comm -3 "$DIR/static" "$DIR/map" | tr -d '\t' | tr '\n' ' ' | sed 's/ $//')"
check "libudsrpc.a is one object" 1 "$(ar t "$A" | wc -l)"
finish
