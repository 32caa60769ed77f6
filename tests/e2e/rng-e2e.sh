#!/bin/bash
# SPDX-License-Identifier: MIT
# Real-guest test of vback's second device type: vback-rng serves a
# virtio-rng device over vhost-user to a Debian 6.1 guest under QEMU
# (vhost-user-rng-pci); the guest reads /dev/hwrng (tests/e2e/guest/rng.sh)
# and the host checks vback-rng served at least what the guest read.
#
# Usage: rng-e2e.sh PATH/TO/vback-rng
# Exit 77 (skip) only without a QEMU that has vhost-user-rng-pci or a way
# to build the guest.
set -euo pipefail
vback_rng=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/qemu.sh"
qemu=${QEMU:-qemu-system-x86_64}
started=$(date +%s)

skip() { echo "SKIP: $*"; exit 77; }
die() {
	echo "FAIL: $*"
	[ -f "$work/rng.log" ] && { echo "--- vback-rng log"; tail -n 20 "$work/rng.log"; }
	exit 1
}

command -v "$qemu" >/dev/null || skip "$qemu not installed"
"$qemu" -device help 2>/dev/null | grep -q '"vhost-user-rng-pci"' ||
	skip "$qemu has no vhost-user-rng-pci"
vback_build_guest

work=$(mktemp -d "${TMPDIR:-/tmp}/vback-rng-e2e.XXXXXX")
rng_pid=
cleanup() {
	vback_qemu_stop 2>/dev/null || true
	[ -n "$rng_pid" ] && kill -9 "$rng_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

sock=$work/rng.sock
"$vback_rng" -1 "$sock" 2>"$work/rng.log" &
rng_pid=$!
for _ in $(seq 50); do
	[ -S "$sock" ] && break
	kill -0 "$rng_pid" 2>/dev/null || die "vback-rng exited at start"
	sleep 0.1
done
[ -S "$sock" ] || die "no socket after 5 s"

log=$work/guest.serial
vback_accel "$vmlinux" "$initramfs"
# shellcheck disable=SC2054 # commas separate QEMU suboptions
QEMU_CMD=("$qemu" -nodefaults -no-user-config -display none -no-reboot
	-machine pc,memory-backend=mem "${VBACK_ACCEL_ARGS[@]}" -smp 1 -m 256M
	-object memory-backend-memfd,id=mem,size=256M,share=on
	-kernel "$vmlinux" -initrd "$initramfs"
	-append "console=ttyS0 loglevel=7 panic=-1 vback.script=rng vback.wait=hwrng"
	-serial "file:$log"
	-chardev socket,id=rng0,path="$sock"
	-device vhost-user-rng-pci,chardev=rng0)
vback_qemu_start "$work/qemu.log" "$log"
deadline=$(($(date +%s) + 60))
why=
while :; do
	rc=0
	vback_qemu_watch || rc=$?
	[ "$rc" = 0 ] || break
	if [ "$(date +%s)" -gt "$deadline" ]; then
		why="the guest did not finish within 60 s"
		break
	fi
	sleep 0.2
done
[ "$rc" = 2 ] && why=$QEMU_WHY
if [ -n "$why" ]; then
	vback_qemu_stop
	echo "--- serial"; cat "$log" 2>/dev/null
	echo "--- qemu"; vback_qemu_tail "$work/qemu.log"
	die "$why"
fi
QEMU_PID=
echo "--- guest output"
grep -as 'VBACK:' "$log" || true
if grep -aqs 'VBACK: FAIL' "$log" || ! grep -aqs 'VBACK: DONE failed=0' "$log"; then
	echo "--- qemu"; cat "$work/qemu.log"
	die "the guest reported a failure"
fi
read_bytes=$(grep -a '^VBACK: READ ' "$log" | tr -d '\r' | awk '{print $3}')

# -1: vback-rng exits once the front-end has gone, with its count.
for _ in $(seq 50); do
	kill -0 "$rng_pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$rng_pid" 2>/dev/null && die "vback-rng still running after the guest left"
rc=0
wait "$rng_pid" || rc=$?
rng_pid=
[ $rc -eq 0 ] || die "vback-rng exited with $rc"
served=$(sed -n 's/^vback-rng: \([0-9]*\) bytes of entropy served$/\1/p' "$work/rng.log")
[ -n "$served" ] || die "vback-rng printed no count"
[ "$served" -ge "$read_bytes" ] ||
	die "vback-rng served $served bytes, the guest read $read_bytes"
echo "host: vback-rng served $served bytes, the guest read $read_bytes"
echo "PASS: virtio-rng over vhost-user in $(($(date +%s) - started)) s"
