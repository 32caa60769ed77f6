#!/bin/bash
# SPDX-License-Identifier: MIT
# Stands in for qemu-system-x86_64 (QEMU=this script) and behaves like a
# KVM that cannot run guests whenever KVM is asked for (-accel kvm,
# -enable-kvm, -machine ...,accel=kvm); every other command line goes to
# the real QEMU unchanged. What "broken" looks like, VBACK_FAKE_KVM=
#   hang     (default) QEMU's message of a nested KVM that fails, "KVM
#            internal error. Suberror: 1" / "emulation failure", then QEMU
#            stays up with the guest stopped (the real QEMU under -S: QMP
#            answers, the status is not "running")
#   silent   no message, QEMU stays up, the guest never runs (what a
#            nested KVM on the machine this was written on does)
#   exit     the message, then exit 1
#   works    a KVM that works: TCG runs the guest in its place, so that
#            the probe is seen to accept a KVM that boots the guest
# VBACK_REAL_QEMU is the real binary (default qemu-system-x86_64).
set -euo pipefail
real=${VBACK_REAL_QEMU:-qemu-system-x86_64}
mode=${VBACK_FAKE_KVM:-hang}

kvm=0
args=()
prev=
for a in "$@"; do
	case "$prev:$a" in
	-accel:kvm*)
		kvm=1
		a=tcg
		;;
	-cpu:host)
		# TCG has no "host" CPU model (only read when KVM was asked for).
		a=max
		;;
	-machine:*accel=kvm* | -M:*accel=kvm*)
		kvm=1
		a=${a//accel=kvm/accel=tcg}
		;;
	*)
		if [ "$a" = -enable-kvm ]; then
			kvm=1
			prev=$a
			continue
		fi
		;;
	esac
	args+=("$a")
	prev=$a
done
[ $kvm = 1 ] || exec "$real" "$@"

say_broken() {
	echo "KVM internal error. Suberror: 1" >&2
	echo "emulation failure" >&2
	echo "RAX=0000000000000000 RBX=0000000000000000 RCX=0000000000000000 RDX=0000000000000663" >&2
}
case "$mode" in
hang)
	say_broken
	exec "$real" "${args[@]}" -S
	;;
silent) exec "$real" "${args[@]}" -S ;;
exit)
	say_broken
	exit 1
	;;
works) exec "$real" "${args[@]}" ;;
*)
	echo "fake-broken-kvm: unknown VBACK_FAKE_KVM=$mode" >&2
	exit 2
	;;
esac
