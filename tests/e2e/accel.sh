# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Sourced by every script that boots an x86 guest under QEMU (tests/e2e,
# scripts/demo.sh): which accelerator to use, KVM or TCG.
#
# A /dev/kvm that opens is no proof that KVM runs guests: under nested
# virtualisation QEMU may start and the guest never run (it spins in its
# first instructions, or stops with "KVM internal error ... emulation
# failure"). So KVM is used only after a probe boot proved it: the guest's
# own kernel and initramfs under -accel kvm, PID 1 being
# `busybox poweroff -f`. QEMU must exit by itself within
# VBACK_KVM_PROBE_TIMEOUT seconds (about 1 s with a working KVM) after the
# kernel said "reboot: Power down". Anything else means TCG, which always
# works. The verdict is cached for the current boot of the machine, per
# QEMU binary, KVM device and guest kernel.
#
# vback_accel VMLINUX INITRAMFS
#   sets VBACK_ACCEL_USED (kvm or tcg) and the array VBACK_ACCEL_ARGS (the
#   QEMU options), and prints one line: "accel: KVM (why)" or
#   "accel: TCG (why)". Once per shell: later calls keep the first choice
#   and print nothing.
#
# Environment:
#   QEMU                     the QEMU binary (default qemu-system-x86_64)
#   VBACK_NO_KVM=1           TCG, no probe
#   VBACK_ACCEL=kvm|tcg      use this one, no probe (default: probe)
#   VBACK_KVM_DEV            the KVM device (default /dev/kvm; the tests
#                            point it elsewhere to fake a present or a
#                            missing KVM)
#   VBACK_KVM_PROBE_TIMEOUT  seconds the probe guest may take (default 5)
#   VBACK_ACCEL_CACHE        where verdicts are kept (default $VBACK_CACHE,
#                            else $XDG_CACHE_HOME/vback or ~/.cache/vback),
#                            in its kvm-probe/ folder; delete a verdict
#                            there to probe again
# shellcheck disable=SC2054 # the commas are QEMU's
vback_accel() {
	[ -n "${VBACK_ACCEL_ARGS+set}" ] && return 0
	local vmlinux=$1 initramfs=$2 why
	local dev=${VBACK_KVM_DEV:-/dev/kvm}
	VBACK_ACCEL_USED=tcg
	if [ -n "${VBACK_NO_KVM:-}" ]; then
		why="VBACK_NO_KVM set"
	elif [ "${VBACK_ACCEL:-}" = tcg ]; then
		why="VBACK_ACCEL=tcg"
	elif [ "${VBACK_ACCEL:-}" = kvm ]; then
		VBACK_ACCEL_USED=kvm
		why="VBACK_ACCEL=kvm, not probed"
	elif [ -n "${VBACK_ACCEL:-}" ] && [ "$VBACK_ACCEL" != auto ]; then
		why="VBACK_ACCEL='$VBACK_ACCEL' is not kvm, tcg or auto"
	elif [ ! -e "$dev" ]; then
		why="no $dev"
	elif [ ! -r "$dev" ] || [ ! -w "$dev" ]; then
		why="$dev not readable and writable"
	else
		_vback_kvm_verdict "$vmlinux" "$initramfs" "$dev"
		why=$_vback_why
		[ "$_vback_ok" = 1 ] && VBACK_ACCEL_USED=kvm
	fi
	if [ "$VBACK_ACCEL_USED" = kvm ]; then
		VBACK_ACCEL_ARGS=(-accel kvm -cpu host)
		echo "accel: KVM ($why)"
	else
		VBACK_ACCEL_ARGS=(-accel tcg,thread=multi -cpu max)
		echo "accel: TCG ($why)"
	fi
}

# _vback_kvm_verdict VMLINUX INITRAMFS DEV: the cached verdict or a new
# probe; sets _vback_ok (1: KVM runs guests) and _vback_why.
_vback_kvm_verdict() {
	local vmlinux=$1 initramfs=$2 dev=$3 qemu=${QEMU:-qemu-system-x86_64}
	local root=${VBACK_ACCEL_CACHE:-${VBACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vback}}
	local dir=$root/kvm-probe key file verdict
	local qpath
	qpath=$(command -v "$qemu" 2>/dev/null) || qpath=$qemu
	# Same boot, same QEMU (path and file), same device, same kernel,
	# same probe.
	key=$({
		echo "$_vback_probe_version"
		cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo no-boot-id
		realpath "$qpath" 2>/dev/null || echo "$qpath"
		stat -L -c "%s %Y %i" "$qpath" "$vmlinux" 2>/dev/null
		echo "$dev"
	} | sha256sum | cut -c1-16)
	file=$dir/$key
	if ! mkdir -p "$dir" 2>/dev/null || ! exec {_vback_lock}>>"$dir/.lock"; then
		# No writable cache: probe every time.
		_vback_kvm_probe "$qemu" "$vmlinux" "$initramfs"
		return 0
	fi
	# One probe at a time: a second script waits and reads the verdict.
	flock -w 60 "$_vback_lock" 2>/dev/null || true
	if [ -s "$file" ] && read -r verdict _vback_why <"$file"; then
		_vback_ok=0
		[ "$verdict" = kvm ] && _vback_ok=1
		_vback_why="$_vback_why; cached for this boot in $file"
	else
		_vback_kvm_probe "$qemu" "$vmlinux" "$initramfs"
		if [ "$_vback_ok" = 1 ]; then verdict=kvm; else verdict=tcg; fi
		echo "$verdict $_vback_why" >"$file.tmp" && mv "$file.tmp" "$file"
	fi
	exec {_vback_lock}>&-
}

# _vback_kvm_probe QEMU VMLINUX INITRAMFS: boot the guest's kernel under
# KVM with `poweroff -f` as PID 1; sets _vback_ok and _vback_why. Two vCPUs
# on shared memfd memory, as the real guests have (a nested KVM may boot
# one vCPU and hang with more).
_vback_probe_version=2
_vback_kvm_probe() {
	local qemu=$1 vmlinux=$2 initramfs=$3
	local limit=${VBACK_KVM_PROBE_TIMEOUT:-5} tmp pid rc t0 t1 msg
	_vback_ok=0
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/vback-kvm-probe.XXXXXX") || {
		_vback_why="KVM probe failed: no temporary directory"
		return 0
	}
	t0=$EPOCHREALTIME
	# The same machine, CPU and memory options as the real guests (qemu.sh).
	"$qemu" -nodefaults -no-user-config -display none -monitor none \
		-no-reboot -machine pc,memory-backend=mem -accel kvm -cpu host \
		-smp 2 -m 128M \
		-object memory-backend-memfd,id=mem,size=128M,share=on \
		-kernel "$vmlinux" -initrd "$initramfs" \
		-append "console=ttyS0 quiet panic=-1 rdinit=/bin/busybox -- poweroff -f" \
		-serial "file:$tmp/serial" </dev/null >"$tmp/err" 2>&1 &
	pid=$!
	rc=
	# Poll: done when QEMU exits, failed at once when it reports a KVM
	# error (it would then sit stopped forever), else at the time limit.
	while :; do
		if ! kill -0 "$pid" 2>/dev/null; then
			rc=0
			wait "$pid" || rc=$?
			break
		fi
		grep -aqs -e 'KVM internal error' -e 'emulation failure' "$tmp/err" && break
		[ "$(_vback_us "$t0" "$EPOCHREALTIME")" -ge $((limit * 1000000)) ] && break
		sleep 0.05
	done
	if [ -z "$rc" ]; then
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	t1=$EPOCHREALTIME
	# QEMU's own words, without warnings and register dumps.
	msg=$(grep -av -e 'warning:' -e '=' -e 'extra data' -e 'terminating on signal' \
		"$tmp/err" | sed 's/^[^ :]*qemu[^ :]*: //' | awk 'NF && n < 2 {
			printf "%s%s", (n++ ? " / " : ""), $0 }') || true
	if [ "$rc" = 0 ] && grep -aqs 'reboot: Power down' "$tmp/serial"; then
		_vback_ok=1
		_vback_why="probe booted in $(_vback_seconds "$t0" "$t1") s"
	elif [ -n "$rc" ]; then
		_vback_why="KVM probe failed: QEMU exited with $rc${msg:+: $msg}"
		[ "$rc" = 0 ] && _vback_why="KVM probe failed: the guest did not power off${msg:+: $msg}"
	elif [ -n "$msg" ]; then
		_vback_why="KVM probe failed: $msg"
	else
		_vback_why="KVM probe failed: the guest did not boot within $limit s, QEMU printed nothing"
	fi
	rm -rf "$tmp"
}

# _vback_us T0 T1: microseconds from T0 to T1, two EPOCHREALTIME values
# (their decimal mark follows the locale).
_vback_us() {
	echo $(((${2%[.,]*} - ${1%[.,]*}) * 1000000 + 10#${2#*[.,]} - 10#${1#*[.,]}))
}

# _vback_seconds T0 T1: the same in seconds, to 0.1 s.
_vback_seconds() {
	local us
	us=$(_vback_us "$1" "$2")
	printf '%d.%d' $((us / 1000000)) $((us % 1000000 / 100000))
}
