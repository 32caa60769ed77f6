#!/bin/bash
# SPDX-License-Identifier: MIT
# Configure (when needed) and build vback for arm64:
#
#   cross/build-aarch64.sh [BUILDDIR [TARGET...]]
#
# BUILDDIR defaults to build-aarch64 at the top; no TARGET builds all.
# Makes the sysroot first (cross/make-sysroot.sh). The build directory is
# set up again from scratch when the machine files changed, since meson
# reads them only at setup time.
set -euo pipefail
here=$(cd "$(dirname "$(realpath "$0")")" && pwd)
top=$(cd "$here/.." && pwd)
build=$(realpath -m "${1:-$top/build-aarch64}")
[ $# -gt 0 ] && shift

"$here/make-sysroot.sh"
sum=$(cat "$here/aarch64-sysroot.ini" "$here/aarch64-debian.ini" | md5sum | cut -d' ' -f1)
if [ ! -f "$build/build.ninja" ] || [ "$(cat "$build/.cross-files.md5" 2>/dev/null)" != "$sum" ]; then
	rm -rf "$build"
	mkdir -p "$(dirname "$build")"
	meson setup "$build" "$top" \
		--cross-file "$here/aarch64-sysroot.ini" \
		--cross-file "$here/aarch64-debian.ini" >"$build.setup.log" 2>&1 ||
		{ cat "$build.setup.log" >&2; rm -rf "$build"; exit 1; }
	echo "$sum" >"$build/.cross-files.md5"
fi
ninja -C "$build" "$@" >"$build.ninja.log" 2>&1 ||
	{ tail -n 60 "$build.ninja.log" >&2; exit 1; }
