#!/bin/bash
# SPDX-License-Identifier: MIT
# Cross build vback for arm64 (Debian's cross gcc and an arm64 sysroot of
# Debian packages) and run its unit suite under qemu-user. Idempotent: the
# sysroot and the build directory are reused, ninja rebuilds what changed.
#
#   tests/xen-e2e/cross-unit.sh [BUILDDIR] [-- MESON TEST ARGS]
#
# BUILDDIR defaults to build-aarch64 at the top of the tree. Exit 77 (skip)
# when the cross toolchain or qemu-user is not installed.
set -euo pipefail
top=$(cd "$(dirname "$(realpath "$0")")/../.." && pwd)
build=$top/build-aarch64
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
	build=$(realpath -m "$1")
	shift
fi
[ "${1:-}" = "--" ] && shift
test_args=("$@")
[ ${#test_args[@]} -gt 0 ] || test_args=(--suite unit)

for tool in aarch64-linux-gnu-gcc qemu-aarch64-static pkg-config meson ninja; do
	if ! command -v "$tool" >/dev/null; then
		echo "cross-unit: SKIP: $tool not found (scripts/deps/xen-e2e.txt)"
		exit 77
	fi
done

"$top/cross/apt-arm64.sh" policy libc6 | grep "Candidate: [0-9]" >/dev/null || {
	echo "cross-unit: SKIP: no arm64 package lists: the Debian mirror of /etc/apt is needed once"
	exit 77
}
"$top/cross/build-aarch64.sh" "$build"
# The test programs are arm64: meson runs them through the exe_wrapper
# (qemu-aarch64-static -L sysroot) of the cross file.
meson test -C "$build" --no-rebuild --print-errorlogs "${test_args[@]}"
