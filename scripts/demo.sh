#!/bin/bash
# SPDX-License-Identifier: MIT
# The vback demo - no arguments needed, no Xen needed:
#   1. build vback-disk (meson, in build/),
#   2. create a disk image,
#   3. serve it with vback-disk over vhost-user,
#   4. boot a tiny Linux guest under QEMU that formats the disk, mounts it,
#      writes and reads a file,
#   5. show what the guest saw, the throughput, and where the image is.
#
# Environment (all optional):
#   VBACK_DEMO_DIR     where the image and logs go (default build/demo)
#   VBACK_DEMO_SIZE    image size in MiB (default 256)
#   VBACK_DEMO_FILE    size of the file the guest writes, MiB (default 32)
#   VBACK_DEMO_QUEUES  virtqueues and guest CPUs (default 2)
#   VBACK_DEMO_ENGINE  posix or io_uring (default: vback's choice)
#   VBACK_NO_KVM=1     use TCG, do not even try KVM (KVM is used only once
#                      a probe boot proved it runs the guest; the verdict
#                      is cached for this boot: tests/e2e/accel.sh)
#   VBACK_BUILD_DIR    meson build directory (default build)
#   QEMU               the QEMU binary (default qemu-system-x86_64)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VBACK_BUILD_DIR:-$top/build}
demo=${VBACK_DEMO_DIR:-$build/demo}
size=${VBACK_DEMO_SIZE:-256}
file_mib=${VBACK_DEMO_FILE:-32}
queues=${VBACK_DEMO_QUEUES:-2}

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else echo "$*"; fi; }
step() { echo; bold "==> $*"; }
die() { echo "demo: $*" >&2; exit 1; }

if [ $# -gt 0 ]; then
	# The header comment, however long it grows.
	sed -n '3,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'
	[ "$1" = -h ] || [ "$1" = --help ] && exit 0
	exit 2
fi

# ---- 0. dependencies ---------------------------------------------------------
# Every time: it is quiet when all is there, and a machine that has the
# tools but not, say, the CMocka headers would fail at meson setup.
step "Checking the Debian packages (scripts/install-deps.sh)"
"$top/scripts/install-deps.sh"

# ---- 1. build ------------------------------------------------------------------
step "Building vback-disk (meson + ninja in build/)"
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$top" >"$build.setup.log" 2>&1 ||
		{ cat "$build.setup.log"; die "meson setup failed"; }
fi
ninja -C "$build" examples/vback-disk/vback-disk | tail -n 1
vback_disk=$build/examples/vback-disk/vback-disk
"$vback_disk" --version

# ---- 2. guest and image ----------------------------------------------------------
step "Preparing the guest (Debian's kernel + busybox, cached after the first run)"
set +e
guest=$("$top/tests/e2e/build-guest.sh")
rc=$?
set -e
[ $rc -eq 0 ] || die "could not build the guest (see above)"
read -r vmlinux initramfs <<<"$guest"
echo "kernel:    $vmlinux"
echo "initramfs: $initramfs"
# KVM only if a probe boot of this guest under KVM works (a few seconds,
# once per boot of this machine), else TCG: one line says which and why.
# shellcheck source-path=SCRIPTDIR/..
. "$top/tests/e2e/qemu.sh"
vback_accel "$vmlinux" "$initramfs"

mkdir -p "$demo"
img=$demo/vback-demo.img
sock=$demo/vhost-user.sock
rm -f "$img"
truncate -s "${size}M" "$img"
echo "disk image: $img (${size} MiB, sparse)"

# ---- 3. the back-end -------------------------------------------------------------
step "Starting vback-disk: $queues queue(s) over vhost-user"
args=(--vhost-user "$sock" --image "$img" --queues "$queues")
[ -n "${VBACK_DEMO_ENGINE:-}" ] && args+=(--engine "$VBACK_DEMO_ENGINE")
echo "\$ vback-disk ${args[*]}"
"$vback_disk" "${args[@]}" 2>"$demo/vback-disk.log" &
daemon=$!
cleanup() {
	vback_qemu_stop
	kill "$daemon" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 50); do
	[ -S "$sock" ] && break
	kill -0 "$daemon" 2>/dev/null || { cat "$demo/vback-disk.log"; die "vback-disk did not start"; }
	sleep 0.1
done
[ -S "$sock" ] || die "no vhost-user socket after 5 s"
sed 's/^/  /' "$demo/vback-disk.log"

# ---- 4. the guest ------------------------------------------------------------------
vback_qemu_cmd "$sock" "$vmlinux" "$initramfs" "$queues" "$queues" \
	"file:$demo/guest.log" vback.script=demo "vback.mib=$file_mib"
accel=TCG
[ "$VBACK_ACCEL_USED" = kvm ] && accel=KVM
step "Booting the guest under QEMU ($accel) with -device vhost-user-blk-pci"
: >"$demo/guest.log"
start=$(date +%s.%N)
vback_qemu_start "$demo/qemu.log" "$demo/guest.log"
# Show the guest's lines as they come; stop at once if QEMU stops or dies,
# the guest does not start or vback-disk dies; give up after 5 minutes.
tail -n +1 -f "$demo/guest.log" --pid="$QEMU_PID" 2>/dev/null |
	grep --line-buffered -a -E '^(guest:|VBACK: (PASS|FAIL))' |
	sed -u 's/\r$//; s/^/  /' &
tailer=$!
deadline=$(($(date +%s) + 300))
why=
while :; do
	rc=0
	vback_qemu_watch || rc=$?
	[ $rc = 0 ] || break
	kill -0 "$daemon" 2>/dev/null || { why="vback-disk died; see $demo/vback-disk.log"; break; }
	[ "$(date +%s)" -lt "$deadline" ] || { why="the guest took more than 5 minutes"; break; }
	sleep 0.2
done
[ $rc = 2 ] && why=$QEMU_WHY
if [ -n "$why" ]; then
	vback_qemu_stop
	echo "QEMU's last words ($demo/qemu.log):" >&2
	vback_qemu_tail "$demo/qemu.log" | sed 's/^/  /' >&2
	die "$why"
fi
QEMU_PID= # exited and reaped
wait "$tailer" 2>/dev/null || true
elapsed=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')" 2>/dev/null || echo "?")

# ---- 5. what happened ------------------------------------------------------------------
kill -TERM "$daemon"
wait "$daemon" || true
trap - EXIT
step "What the back-end saw (vback-disk's session summary)"
grep 'session' "$demo/vback-disk.log" | sed 's/^.*session: /  /' ||
	echo "  (none in $demo/vback-disk.log)"

ok=0
grep -aq 'VBACK: PASS demo' "$demo/guest.log" && ok=1
step "Summary"
if [ $ok = 1 ]; then
	echo "  A Linux guest formatted, mounted, wrote and read back a ${file_mib} MiB file"
	echo "  on a virtio-blk disk served by vback over vhost-user (guest run: ${elapsed} s)."
	grep -a -E '^guest: +(write|read):' "$demo/guest.log" | tr -d '\r' |
		sed "s/^guest: */  guest-measured /; s/\$/ (QEMU $accel)/"
elif ! grep -aq 'VBACK: EXIT' "$demo/guest.log"; then
	echo "  QEMU exited (status $QEMU_RC) before the guest finished; logs below."
else
	echo "  The guest did not complete the demo; logs below."
fi
echo "  disk image:   $img"
echo "  daemon log:   $demo/vback-disk.log"
echo "  guest serial: $demo/guest.log"
echo "  Serve your own VM (README.md, \"Serve your own VM\"):"
echo "    $vback_disk --vhost-user SOCK --image IMG &"
echo "    qemu-system-x86_64 ... -m 1G -object memory-backend-memfd,id=mem,size=1G,share=on"
echo "      -machine q35,memory-backend=mem -chardev socket,id=vback0,path=SOCK,reconnect=1"
echo "      -device vhost-user-blk-pci,chardev=vback0"
if [ $ok != 1 ]; then
	tail -n 20 "$demo/guest.log" "$demo/qemu.log" "$demo/vback-disk.log" >&2
	exit 1
fi
