# SPDX-License-Identifier: MIT
# Sourced by the vhost-user e2e test and scripts/demo.sh: the QEMU command
# line for the tiny guest with one vback disk over vhost-user.
#
# vback_qemu_cmd SOCKET VMLINUX INITRAMFS SMP QUEUES SERIAL APPEND...
#   sets the array QEMU_CMD. SERIAL is a QEMU -serial argument (stdio,
#   file:PATH). KVM is used when /dev/kvm is usable, else TCG (multi-thread).
# vback_qemu_accel: sets the array QEMU_ACCEL (accelerator and CPU).
vback_qemu_accel() {
	QEMU_ACCEL=(-accel tcg,thread=multi -cpu max)
	if [ -z "${VBACK_NO_KVM:-}" ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		QEMU_ACCEL=(-accel kvm -cpu host)
	fi
}

vback_qemu_cmd() {
	local sock=$1 vmlinux=$2 initramfs=$3 smp=$4 queues=$5 serial=$6
	shift 6
	vback_qemu_accel
	# memfd memory shared with the back-end (vhost-user needs an fd per
	# region); the uncompressed vmlinux boots through its PVH note.
	QEMU_CMD=("${QEMU:-qemu-system-x86_64}" -nodefaults -no-user-config
		-display none -no-reboot
		-machine pc,memory-backend=mem "${QEMU_ACCEL[@]}"
		-smp "$smp" -m 256M
		-object memory-backend-memfd,id=mem,size=256M,share=on
		-kernel "$vmlinux" -initrd "$initramfs"
		-append "console=ttyS0 quiet loglevel=0 panic=-1 $*"
		-serial "$serial"
		-chardev socket,id=vu0,path="$sock"
		-device vhost-user-blk-pci,chardev=vu0,num-queues="$queues")
}
