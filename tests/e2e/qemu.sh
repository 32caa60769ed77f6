# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Sourced by the vhost-user e2e test and scripts/demo.sh: the QEMU command
# line for the tiny guest with one vback disk over vhost-user.
#
# vback_qemu_cmd SOCKET VMLINUX INITRAMFS SMP QUEUES SERIAL APPEND...
#   sets the array QEMU_CMD. SERIAL is a QEMU -serial argument (stdio,
#   file:PATH). The accelerator is accel.sh's choice (KVM only once a
#   probe boot proved it runs this guest, else TCG).
# shellcheck disable=SC2034,SC2054 # variables for the caller; QEMU's commas
_vback_e2e_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
. "$_vback_e2e_dir/accel.sh"

vback_qemu_cmd() {
	local sock=$1 vmlinux=$2 initramfs=$3 smp=$4 queues=$5 serial=$6
	shift 6
	vback_accel "$vmlinux" "$initramfs"
	# memfd memory shared with the back-end (vhost-user needs an fd per
	# region); the uncompressed vmlinux boots through its PVH note.
	QEMU_CMD=("${QEMU:-qemu-system-x86_64}" -nodefaults -no-user-config
		-display none -no-reboot
		-machine pc,memory-backend=mem "${VBACK_ACCEL_ARGS[@]}"
		-smp "$smp" -m 256M
		-object memory-backend-memfd,id=mem,size=256M,share=on
		-kernel "$vmlinux" -initrd "$initramfs"
		-append "console=ttyS0 quiet loglevel=0 panic=-1 $*"
		-serial "$serial"
		-chardev socket,id=vu0,path="$sock"
		-device vhost-user-blk-pci,chardev=vu0,num-queues="$queues")
}
