#!/bin/bash
# SPDX-License-Identifier: MIT
# Build libvback-freestanding.a with a cross file (-Dfreestanding=true) in
# its own build directory and check what it needs from an embedder.
# Usage: build-and-check.sh SRCROOT BUILDDIR CROSSFILE NM
# Exit 77 (skip) only when the cross compiler is not installed; the
# packages are in scripts/deps/baremetal.txt.
set -euo pipefail
src=$1 dir=$2 cross=$3 nm=$4
cc=$(sed -n "s/^c *= *'\(.*\)'/\1/p" "$cross")
if ! command -v "$cc" >/dev/null || ! command -v "$nm" >/dev/null; then
	echo "skip: $cc or $nm not installed (scripts/install-deps.sh)"
	exit 77
fi
if [ ! -f "$dir/build.ninja" ]; then
	meson setup "$dir" "$src" --cross-file "$cross" -Dfreestanding=true \
		>"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; exit 1; }
fi
ninja -C "$dir" >/dev/null
exec bash "$src/tests/freestanding/check-nm.sh" "$nm" \
	"$dir/libvback-freestanding.a"
