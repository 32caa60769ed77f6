#!/bin/bash
# SPDX-License-Identifier: MIT
# Suite 'baremetal': build libvback-freestanding.a for aarch64 with the
# project's own option (-Dfreestanding=true, cross/aarch64-none.ini) in a
# build directory of its own, link the test program of this folder against
# it, and run it on QEMU's virt machine with no OS: output and exit status
# come through semihosting. Passes only when the program exits 0 after
# reporting every check.
#
#   run.sh SRCROOT BUILDDIR
#
# Exit 77 (skip) only when the cross compiler or qemu-system-aarch64 is
# missing (scripts/deps/baremetal.txt).
set -euo pipefail
src=$(realpath "$1")
dir=$(realpath -m "$2")
cross=$src/cross/aarch64-none.ini
cc=$(sed -n "s/^c *= *'\(.*\)'/\1/p" "$cross")
qemu="qemu-system-aarch64"
for tool in "$cc" "$qemu"; do
	if ! command -v "$tool" >/dev/null; then
		echo "skip: $tool not installed (scripts/install-deps.sh)"
		exit 77
	fi
done

if [ ! -f "$dir/build.ninja" ]; then
	mkdir -p "$(dirname "$dir")"
	meson setup "$dir" "$src" --cross-file "$cross" -Dfreestanding=true \
		>"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; exit 1; }
fi
ninja -C "$dir" >/dev/null
bash "$src/tests/baremetal/build.sh" "$src" "$dir/libvback-freestanding.a" \
	"$dir/program" "$cc"
elf=$dir/program/vback-baremetal.elf

# No network, no disk, no default devices: the device under test lives in
# the program. Semihosting prints on QEMU's stderr.
log=$dir/program/output.txt
status=0
timeout 60 "$qemu" -M virt -cpu cortex-a57 -m 128M -nographic -nodefaults \
	-no-reboot -semihosting-config enable=on,target=native \
	-kernel "$elf" >"$log" 2>&1 || status=$?
cat "$log"
if [ "$status" -eq 124 ]; then
	echo "baremetal: FAIL: no exit within 60 s"
	exit 1
fi
if [ "$status" -ne 0 ]; then
	echo "baremetal: FAIL: the program exited with status $status"
	exit 1
fi
# Exit 0 must come with a complete report (the plan line) and no failure.
if ! grep -q '^1\.\.[0-9]' "$log" || grep -q '^not ok' "$log"; then
	echo "baremetal: FAIL: exit 0 without a clean report"
	exit 1
fi
