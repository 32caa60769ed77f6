#!/bin/bash
# SPDX-License-Identifier: MIT
# Real-guest end-to-end test of vback-disk --vhost-user: a Debian 6.1 kernel
# under QEMU (TCG, or KVM once a probe proved it runs guests: accel.sh)
# uses the vback disk through vhost-user-blk-pci, with two vCPUs and two
# queues. The guest checks what it reads and writes
# (tests/e2e/guest/e2e.sh); the host re-checks the image afterwards, then a
# second guest connects to the same daemon and finds the data again.
#
# Usage: vhost-user-e2e.sh PATH/TO/vback-disk [file|nbd|rbd]
# The disk is a file (default), an export of nbdkit's file plugin on a
# unix socket, or an image of a one-node Ceph cluster
# (scripts/ceph-single-node.sh); the host reads the disk back through the
# server afterwards (nbdcopy, rbd export). NBD exports cannot grow: the
# resize step is skipped there.
# Exit 77 (skip) only when the machine cannot run it: no QEMU with
# vhost-user-blk, no way to build the guest, or the server not installed.
set -euo pipefail
vback_disk=$(realpath "$1")
kind=${2:-file}
here=$(cd "$(dirname "$0")" && pwd)
netdisk=$here/../netio/netdisk.sh
# shellcheck source-path=SCRIPTDIR
. "$here/qemu.sh"
# shellcheck source-path=SCRIPTDIR
. "$here/image.sh"
qemu=${QEMU:-qemu-system-x86_64}
started=$(date +%s)

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
case $kind in
file) ;;
nbd) for t in nbdkit nbdcopy; do command -v $t >/dev/null || skip "$t not installed"; done ;;
rbd) for t in ceph-mon ceph-osd rbd; do command -v $t >/dev/null || skip "$t not installed"; done ;;
*) die "unknown disk kind $kind (file, nbd or rbd)" ;;
esac
vback_build_guest
vback_accel "$vmlinux" "$initramfs"

work=$(mktemp -d "${TMPDIR:-/tmp}/vback-e2e.XXXXXX")
daemon_pid=
cleanup() {
	vback_qemu_stop
	[ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null
	wait 2>/dev/null
	[ -f "$work/nbd.pid" ] && kill -9 "$(cat "$work/nbd.pid")" 2>/dev/null
	[ -d "$work/net" ] && "$netdisk" rbd "$work/net" teardown
	rm -rf "$work"
}
trap cleanup EXIT

# ---- the image: zeroes, a pattern at 32-36 MiB, data at 44-45 MiB --------
img=$work/disk.img
e2e_make_image "$img"

# ---- where the disk lives: the file, or a server holding it ---------------
# disk_resize grows the disk to 96 MiB; disk_export copies what the server
# holds to $check (the file itself for kind file).
check=$img
resized=$((96 * 2048))
case $kind in
file)
	spec=$img
	disk_resize() { truncate -s 96M "$img"; }
	disk_export() { :; }
	;;
nbd)
	nbdkit -U "$work/nbd.sock" -P "$work/nbd.pid" file "$img" 2>"$work/nbdkit.log"
	spec="nbd+unix:///?socket=$work/nbd.sock"
	resized=none
	check=$work/check.img
	disk_export() { rm -f "$check"; nbdcopy "$spec" "$check"; }
	;;
rbd)
	"$netdisk" rbd "$work/net" setup
	conf=$work/net/ceph/ceph.conf
	rbd -c "$conf" import --no-progress "$img" vback/e2e
	spec="rbd:vback/e2e:conf=$conf"
	check=$work/check.img
	disk_resize() { rbd -c "$conf" resize --no-progress --size 96M vback/e2e; }
	disk_export() { rm -f "$check"; rbd -c "$conf" export --no-progress vback/e2e "$check"; }
	;;
esac

# ---- the daemon ------------------------------------------------------------
sock=$work/vhu.sock
"$vback_disk" --vhost-user "$sock" --image "$spec" --queues 2 \
	--log-level info 2>"$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 50); do
	[ -S "$sock" ] && break
	kill -0 "$daemon_pid" 2>/dev/null || die "vback-disk exited at start"
	sleep 0.1
done
[ -S "$sock" ] || die "no socket after 5 s"

# run_guest NAME SCRIPT ARGS...: boot, watch, collect serial. A QEMU that
# stops or dies, a guest that does not start, a daemon that dies fail the
# test at once with the reason; a guest that hangs fails after 60 s.
run_guest() {
	local name=$1 script=$2
	shift 2
	local log=$work/$name.serial deadline=$(($(date +%s) + 60)) why=
	vback_qemu_cmd "$sock" "$vmlinux" "$initramfs" 2 2 "file:$log" \
		"vback.script=$script" "$@"
	# No `timeout` wrapper: the watch below stops QEMU itself.
	vback_qemu_start "$work/$name.qemu" "$log"
	local resized=0 rc
	while :; do
		rc=0
		vback_qemu_watch || rc=$?
		[ $rc = 0 ] || break
		if [ $resized = 0 ] && grep -aqs 'VBACK: RESIZE-REQUEST' "$log"; then
			disk_resize
			kill -HUP "$daemon_pid"
			resized=1
		fi
		if ! kill -0 "$daemon_pid" 2>/dev/null; then
			why="vback-disk died while the guest ran"
			break
		fi
		if [ "$(date +%s)" -gt "$deadline" ]; then
			why="guest did not finish within 60 s (hung back-end?)"
			break
		fi
		sleep 0.2
	done
	[ $rc = 2 ] && why=$QEMU_WHY
	if [ -n "$why" ]; then
		vback_qemu_stop
		echo "--- serial"; cat "$log" 2>/dev/null || true
		echo "--- qemu (stdout and stderr, last lines)"; vback_qemu_tail "$work/$name.qemu"
		die "$name: $why"
	fi
	QEMU_PID= # exited and reaped
	echo "--- $name guest output"
	grep -as 'VBACK:' "$log" || true
	if grep -aqs 'VBACK: FAIL' "$log" || ! grep -aqs 'VBACK: DONE failed=0' "$log"; then
		echo "--- qemu"; cat "$work/$name.qemu"
		echo "--- serial"; cat "$log" 2>/dev/null || true
		grep -aqs 'VBACK: DONE' "$log" ||
			die "$name: QEMU exited (status $QEMU_RC) before the guest finished"
		die "$name: the guest reported a failure"
	fi
}

run_guest first e2e "vback.pattern=$E2E_PATTERN" "vback.sectors=$((64 * 2048))" \
	vback.queues=2 "vback.resized=$resized"

# ---- the host re-checks every range the guest wrote ------------------------
# (read back through the server, for NBD and RBD disks)
log=$work/first.serial
disk_export
e2e_check_sums "$log" "$check" || die "the disk does not hold what the guest wrote"

# The daemon's account of the session: flushes, both queues busy.
for _ in $(seq 50); do
	grep -q 'session: queue 1:' "$work/daemon.log" && break
	sleep 0.1
done
grep 'session' "$work/daemon.log" | sed 's/^/daemon: /'
session=$(grep -m1 'session: [0-9.]* s,' "$work/daemon.log") ||
	die "no session summary from the daemon"
count() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$session"; }
[ "$(count flushes)" -gt 0 ] || die "the guest sent no flush"
[ "$(count io_errors)" -eq 0 ] || die "IO errors in the session"
# Every kind of disk here offers both: a guest that skipped them means the
# device stopped offering them.
grep -aq 'VBACK: PASS write-zeroes' "$log" ||
	die "the guest did not write zeroes (not offered, or no zeroout tool)"
[ "$(count write_zeroes)" -gt 0 ] || die "write-zeroes did not reach the device"
grep -aq 'VBACK: PASS discard' "$log" || die "the guest did not discard (not offered?)"
[ "$(count discards)" -gt 0 ] || die "discard did not reach the device"
for q in 0 1; do
	kicks=$(grep -m1 "session: queue $q:" "$work/daemon.log" |
		sed -n 's/.*kicks=\([0-9]*\).*/\1/p')
	[ "${kicks:-0}" -gt 0 ] || die "queue $q carried no IO"
done

# ---- reconnect: a second front-end, same daemon, same data ------------------
d1m=$(grep -a '^VBACK: SUM direct-1m ' "$log" | tr -d '\r' | awk '{print $6}')
fsum=$(grep -a '^VBACK: FILESUM ' "$log" | tr -d '\r' | awk '{print $3}')
run_guest second verify "vback.direct1m=$d1m" "vback.filesum=$fsum"

# ---- clean shutdown ----------------------------------------------------------
kill -TERM "$daemon_pid"
for _ in $(seq 50); do
	kill -0 "$daemon_pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$daemon_pid" 2>/dev/null && die "vback-disk ignored SIGTERM for 5 s"
rc=0
wait "$daemon_pid" || rc=$?
daemon_pid=
[ $rc -eq 0 ] || die "vback-disk exited with $rc"
[ -e "$sock" ] && die "socket file left behind"
if grep -q 'error:' "$work/daemon.log"; then
	grep 'error:' "$work/daemon.log"
	die "the daemon logged errors"
fi
echo "PASS: vhost-user end to end ($kind disk) in $(($(date +%s) - started)) s"
