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
set +e
guest=$("$here/build-guest.sh")
rc=$?
set -e
[ $rc -eq 77 ] && skip "cannot build the guest"
[ $rc -eq 0 ] || die "build-guest.sh failed ($rc)"
read -r vmlinux initramfs <<<"$guest"

work=$(mktemp -d "${TMPDIR:-/tmp}/vback-rng-e2e.XXXXXX")
rng_pid=
qemu_pid=
cleanup() {
	[ -n "$qemu_pid" ] && kill -9 "$qemu_pid" 2>/dev/null
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
vback_qemu_accel
"$qemu" -nodefaults -no-user-config -display none -no-reboot \
	-machine pc,memory-backend=mem "${QEMU_ACCEL[@]}" -smp 1 -m 256M \
	-object memory-backend-memfd,id=mem,size=256M,share=on \
	-kernel "$vmlinux" -initrd "$initramfs" \
	-append "console=ttyS0 quiet loglevel=0 panic=-1 vback.script=rng vback.wait=hwrng" \
	-serial "file:$log" \
	-chardev socket,id=rng0,path="$sock" \
	-device vhost-user-rng-pci,chardev=rng0 >"$work/qemu.log" 2>&1 &
qemu_pid=$!
deadline=$(($(date +%s) + 60))
while kill -0 "$qemu_pid" 2>/dev/null; do
	if [ "$(date +%s)" -gt "$deadline" ]; then
		kill -9 "$qemu_pid" 2>/dev/null
		cat "$log" 2>/dev/null
		die "the guest did not finish within 60 s"
	fi
	sleep 0.2
done
wait "$qemu_pid" || true
qemu_pid=
echo "--- guest output"
grep -a 'VBACK:' "$log" || true
if grep -aq 'VBACK: FAIL' "$log" || ! grep -aq 'VBACK: DONE failed=0' "$log"; then
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
