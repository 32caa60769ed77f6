#!/bin/bash
# SPDX-License-Identifier: MIT
# QEMU's defaults work: a 4-vCPU guest with vhost-user-blk-pci and no
# num-queues (QEMU then asks for one queue per vCPU) against
#   vback-disk --vhost-user SOCKET --image IMAGE
# as a user would start it, without --queues. The guest must see 4
# queues (QEMU puts its own num-queues into the config space), do IO on
# each from its own CPU (tests/e2e/guest/queues.sh), and the daemon's
# session summary must show 4 busy queues; the host re-checks the image.
#
# Usage: default-queues-e2e.sh PATH/TO/vback-disk
# Exit 77 (skip) when the machine cannot boot the guest.
set -euo pipefail
vback_disk=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
. "$here/qemu.sh"
# shellcheck source-path=SCRIPTDIR
. "$here/image.sh"
# shellcheck source-path=SCRIPTDIR
. "$here/run-guest.sh"
qemu=${QEMU:-qemu-system-x86_64}
started=$(date +%s)
vcpus=4

skip() { echo "SKIP: $*"; exit 77; }
die() {
	echo "FAIL: $*"
	[ -f "$work/daemon.log" ] && { echo "--- daemon log"; tail -n 40 "$work/daemon.log"; }
	exit 1
}

command -v "$qemu" >/dev/null || skip "$qemu not installed"
"$qemu" -device help 2>/dev/null | grep -q '"vhost-user-blk-pci"' ||
	skip "$qemu has no vhost-user-blk-pci"
command -v python3 >/dev/null || skip "python3 not installed"
vback_build_guest

work=$(mktemp -d "${TMPDIR:-/tmp}/vback-queues.XXXXXX")
E2E_DAEMON_PID=
cleanup() {
	vback_qemu_stop
	[ -n "$E2E_DAEMON_PID" ] && kill -9 "$E2E_DAEMON_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

img=$work/disk.img
sock=$work/vhu.sock
truncate -s 64M "$img"
# Exactly the documented command: no --queues.
"$vback_disk" --vhost-user "$sock" --image "$img" 2>"$work/daemon.log" &
E2E_DAEMON_PID=$!
for _ in $(seq 50); do
	[ -S "$sock" ] && break
	kill -0 "$E2E_DAEMON_PID" 2>/dev/null || die "vback-disk exited at start"
	sleep 0.1
done
[ -S "$sock" ] || die "no socket after 5 s"

vback_qemu_cmd "$sock" "$vmlinux" "$initramfs" "$vcpus" default \
	"file:$work/serial.log" vback.script=queues "vback.queues=$vcpus"
# Nothing in QEMU's command line asks for a number of queues.
[[ " ${QEMU_CMD[*]} " != *num-queues* ]] || die "num-queues in the QEMU command line"
echo "\$ ${QEMU_CMD[*]}"
e2e_run_guest "$work/serial.log" "$work/qemu.log" 60 || die "$E2E_WHY"
echo "--- guest output"
grep -a 'VBACK:' "$work/serial.log" | tr -d '\r'
grep -aq "VBACK: QUEUES $vcpus CPUS $vcpus" "$work/serial.log" ||
	die "the guest did not see $vcpus queues"
e2e_check_sums "$work/serial.log" "$img" || die "the image does not hold what the guest wrote"

# The daemon's account: every queue the guest had carried requests.
for _ in $(seq 50); do
	grep -q 'session: [0-9.]* s,' "$work/daemon.log" && break
	sleep 0.1
done
grep 'session' "$work/daemon.log" | sed 's/^/daemon: /'
busy=$(grep -c 'session: queue [0-9]*: .*requests=[1-9]' "$work/daemon.log" || true)
[ "$busy" -eq "$vcpus" ] || die "$busy queues carried requests, want $vcpus"

kill -TERM "$E2E_DAEMON_PID"
rc=0
wait "$E2E_DAEMON_PID" || rc=$?
E2E_DAEMON_PID=
[ $rc -eq 0 ] || die "vback-disk exited with $rc after SIGTERM"
grep -q 'error:' "$work/daemon.log" && { grep 'error:' "$work/daemon.log"; die "the daemon logged errors"; }
echo "PASS: $vcpus vCPUs, QEMU's default queues, in $(($(date +%s) - started)) s"
