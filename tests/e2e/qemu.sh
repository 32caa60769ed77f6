# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Sourced by the e2e tests and scripts/demo.sh: the QEMU command line for
# the tiny guest with one vback disk over vhost-user, and a watch on the
# running QEMU that fails within seconds, not at a test's time limit.
#
# vback_qemu_cmd SOCKET VMLINUX INITRAMFS SMP QUEUES SERIAL APPEND...
#   sets the array QEMU_CMD. QUEUES "default" leaves num-queues out (QEMU
#   then asks for one queue per vCPU). SERIAL is a QEMU -serial argument
#   (stdio, file:PATH). The accelerator is accel.sh's choice (KVM only once
#   a probe boot proved it runs this guest, else TCG). More vhost-user
#   disks: append -chardev/-device pairs to QEMU_CMD. VBACK_CHARDEV_OPTS
#   is appended to the disk's -chardev (",reconnect=1": QEMU reconnects
#   to a restarted back-end).
#
# vback_qemu_start LOG [SERIAL_LOG]
#   runs QEMU_CMD in the background with a QMP socket, its stdout and
#   stderr to LOG; sets QEMU_PID.
# vback_qemu_watch
#   one look at the QEMU started last; call it every fraction of a second
#   while waiting. Returns 0 while QEMU runs and the guest looks alive, 1
#   once QEMU has exited (it is reaped: QEMU_RC is its status), 2 when QEMU
#   is up but the guest is not running: QEMU_WHY says why. The signs:
#   QEMU's "KVM internal error"; a QMP status other than "running" (e.g.
#   internal-error, guest-panicked, paused, prelaunch: at once for the
#   first three, seen twice a second apart for the others); no "VBACK:"
#   line on SERIAL_LOG within VBACK_BOOT_TIMEOUT seconds (default 30; the
#   guest's init prints "VBACK: BOOT" first thing; the kernel's boot
#   messages before it are on SERIAL_LOG, and QEMU_WHY quotes the last).
# vback_qemu_stop
#   kills QEMU if it still runs, reaps it, removes the QMP socket.
# vback_qemu_tail LOG
#   QEMU's own last words (stderr tail, register dumps left out).
# shellcheck disable=SC2034,SC2054 # variables for the caller; QEMU's commas
_vback_e2e_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
. "$_vback_e2e_dir/accel.sh"

# Build (or reuse) the test guest and set vmlinux and initramfs; the
# caller's skip() when this machine cannot build it, its die() when the
# build fails.
vback_build_guest() {
	local guest rc=0
	guest=$("$_vback_e2e_dir/build-guest.sh") || rc=$?
	[ $rc -eq 77 ] && skip "cannot build the guest"
	[ $rc -eq 0 ] || die "build-guest.sh failed ($rc)"
	read -r vmlinux initramfs <<<"$guest"
}

vback_qemu_cmd() {
	local sock=$1 vmlinux=$2 initramfs=$3 smp=$4 queues=$5 serial=$6
	local dev=vhost-user-blk-pci,chardev=vu0
	shift 6
	[ "$queues" = default ] || dev+=",num-queues=$queues"
	vback_accel "$vmlinux" "$initramfs"
	# memfd memory shared with the back-end (vhost-user needs an fd per
	# region); the uncompressed vmlinux boots through its PVH note.
	QEMU_CMD=("${QEMU:-qemu-system-x86_64}" -nodefaults -no-user-config
		-display none -no-reboot
		-machine pc,memory-backend=mem "${VBACK_ACCEL_ARGS[@]}"
		-smp "$smp" -m 256M
		-object memory-backend-memfd,id=mem,size=256M,share=on
		-kernel "$vmlinux" -initrd "$initramfs"
		-append "console=ttyS0 loglevel=7 panic=-1 $*"
		-serial "$serial"
		-chardev socket,id=vu0,path="$sock${VBACK_CHARDEV_OPTS:-}"
		-device "$dev")
}

vback_qemu_start() {
	QEMU_LOG=$1
	QEMU_SERIAL=${2:-}
	QEMU_QMP=$(mktemp -u "${TMPDIR:-/tmp}/vback-qmp.XXXXXX")
	QEMU_RC=
	QEMU_WHY=
	_vback_qemu_t0=$SECONDS
	_vback_qemu_polled=$SECONDS
	_vback_qemu_odd=
	"${QEMU_CMD[@]}" -qmp "unix:$QEMU_QMP,server=on,wait=off" \
		</dev/null >"$QEMU_LOG" 2>&1 &
	QEMU_PID=$!
}

vback_qemu_watch() {
	local status
	if ! kill -0 "$QEMU_PID" 2>/dev/null; then
		QEMU_RC=0
		wait "$QEMU_PID" 2>/dev/null || QEMU_RC=$?
		rm -f "$QEMU_QMP"
		return 1
	fi
	if grep -aqs 'KVM internal error' "$QEMU_LOG"; then
		QEMU_WHY="QEMU reports a KVM internal error: KVM cannot run this guest (VBACK_NO_KVM=1 forces TCG)"
		return 2
	fi
	# QMP once a second: a Python start is not free.
	[ "$SECONDS" -gt "$_vback_qemu_polled" ] || return 0
	_vback_qemu_polled=$SECONDS
	status=$(python3 "$_vback_e2e_dir/qmp.py" "$QEMU_QMP" 2>/dev/null) || status=
	case "$status" in
	"" | running | shutdown) _vback_qemu_odd= ;; # not up yet, fine, exiting
	internal-error | guest-panicked | io-error)
		QEMU_WHY="QEMU status '$status': the guest stopped"
		return 2
		;;
	*)
		if [ "$_vback_qemu_odd" = "$status" ]; then
			QEMU_WHY="QEMU status '$status': the guest is not running"
			return 2
		fi
		_vback_qemu_odd=$status
		;;
	esac
	if [ -n "$QEMU_SERIAL" ] &&
		[ $((SECONDS - _vback_qemu_t0)) -ge "${VBACK_BOOT_TIMEOUT:-30}" ] &&
		! grep -aqs 'VBACK:' "$QEMU_SERIAL"; then
		QEMU_WHY="the guest's init printed nothing in ${VBACK_BOOT_TIMEOUT:-30} s (QEMU status '${status:-unknown}'; the kernel's last words: $(tr -d '\r' <"$QEMU_SERIAL" | tail -n 1); a KVM that cannot run guests looks like this: VBACK_NO_KVM=1 forces TCG)"
		return 2
	fi
	return 0
}

vback_qemu_stop() {
	if [ -n "${QEMU_PID:-}" ]; then
		kill -9 "$QEMU_PID" 2>/dev/null || true
		wait "$QEMU_PID" 2>/dev/null || true
	fi
	QEMU_PID=
	[ -n "${QEMU_QMP:-}" ] && rm -f "$QEMU_QMP"
	return 0
}

vback_qemu_tail() {
	grep -av -e '^[A-Z][A-Z0-9]* *=' -e '^Code=' "$1" 2>/dev/null | tail -n 8 || true
}
