#!/bin/sh
# clang.t: every library source compiles with clang, the compiler of the
# fuzz targets (tests/fuzz/run builds src/lib/*.c with it), so `make fuzz`
# cannot be broken by code only GCC takes (a GCC-only builtin argument
# once did). Syntax and semantics only (-fsyntax-only), with the
# Makefile's language flags.
. "$(dirname "$0")/lib.sh"
cd "$T_TOP"
cc=${CLANG:-clang}
command -v "$cc" >/dev/null 2>&1 || skip_all "$cc not installed"
for c in src/lib/*.c; do
	run "$cc" -std=c11 -D_GNU_SOURCE -Isrc/lib -fsyntax-only "$c"
	is "$rc:$(printf '%s\n' "$errout" | grep -c 'error:')" "0:0" \
	    "clang compiles $c"
done
done_testing
