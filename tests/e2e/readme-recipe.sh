#!/bin/bash
# SPDX-License-Identifier: MIT
# The README's "Serve your own VM" recipe, run as written, so that it can
# never drift from what works. The commands between the README's
# "<!-- recipe: serve-your-own-vm" and "<!-- end of recipe -->" lines run
# in this shell, in a temporary folder holding build/examples/vback-disk/
# (a link to the binary under test). qemu-system-x86_64 is a shell
# function here that runs the real QEMU with the recipe's options, except:
#   - "-drive file=my-vm.qcow2,if=virtio", the stand-in for the reader's
#     VM, becomes the test guest (tests/e2e/build-guest.sh), whose demo
#     script formats, mounts, writes and reads the vback disk;
#   - "-accel kvm -cpu host" becomes TCG unless accel.sh's probe proved
#     KVM runs guests here;
#   - the serial console goes to a file, no display, no reboot; the
#     watch of qemu.sh stops a guest that does not run, 120 s at most.
# Either stand-in missing from the README fails the test: change both.
#
# The recipe runs twice: as written (QEMU's default of one vCPU), then
# with -smp 4 added to QEMU's line and nothing else changed: QEMU then
# asks vback-disk for 4 queues (one per vCPU, its default), which the
# guest must see.
#
# Usage: readme-recipe.sh PATH/TO/vback-disk README.md
# Exit 77 (skip) only when the machine cannot boot the guest (no QEMU with
# vhost-user-blk-pci, no way to build the guest).
set -euo pipefail
vback_disk=$(realpath "$1")
readme=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
. "$here/qemu.sh"
started=$SECONDS

skip() { echo "SKIP: $*"; exit 77; }
die() { echo "FAIL: $*"; exit 1; }

recipe=$(awk '/^<!-- end of recipe/ { on = 0 } on; /^<!-- recipe: serve-your-own-vm/ { on = 1 }' \
	"$readme" | sed -n 's/^    //p')
[ -n "$recipe" ] || die "no serve-your-own-vm recipe between the markers of $readme"
echo "--- the recipe, from $readme"
echo "$recipe"
echo "---"

# A path: the name qemu-system-x86_64 is the function below from then on.
real_qemu=$(command -v "${QEMU:-qemu-system-x86_64}") ||
	skip "${QEMU:-qemu-system-x86_64} not installed"
"$real_qemu" -device help 2>/dev/null | grep -q '"vhost-user-blk-pci"' ||
	skip "$real_qemu has no vhost-user-blk-pci"
vback_build_guest
vback_accel "$vmlinux" "$initramfs"

work=$(mktemp -d "${TMPDIR:-/tmp}/vback-recipe.XXXXXX")
cleanup() {
	vback_qemu_stop
	# The recipe's own background job: vback-disk.
	local pids
	mapfile -t pids < <(jobs -p)
	[ ${#pids[@]} -gt 0 ] && kill -9 "${pids[@]}" 2>/dev/null
	wait 2>/dev/null
	cd /
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/build/examples/vback-disk"
ln -s "$vback_disk" "$work/build/examples/vback-disk/vback-disk"

# The recipe's QEMU, with the two stand-ins replaced (see the top).
qemu-system-x86_64() {
	local args=() vm=0 accel=0 a
	while [ $# -gt 0 ]; do
		a=$1
		shift
		if [ "$a" = -drive ] && [ "${1:-}" = file=my-vm.qcow2,if=virtio ]; then
			shift
			args+=(-kernel "$vmlinux" -initrd "$initramfs"
				-append "console=ttyS0 loglevel=7 panic=-1 vback.script=demo vback.mib=8")
			vm=1
		elif [ "$a" = -accel ] && [ "${1:-}" = kvm ] &&
			[ "${2:-}" = -cpu ] && [ "${3:-}" = host ]; then
			shift 3
			args+=("${VBACK_ACCEL_ARGS[@]}")
			accel=1
		else
			args+=("$a")
		fi
	done
	[ $vm = 1 ] || die "the recipe's QEMU line has no '-drive file=my-vm.qcow2,if=virtio' (the reader's VM) any more: update this test"
	[ $accel = 1 ] || die "the recipe's QEMU line has no '-accel kvm -cpu host' any more: update this test"
	[ -n "$smp" ] && args+=(-smp "$smp")
	QEMU_CMD=("$real_qemu" "${args[@]}" -display none -monitor none -no-reboot
		-serial "file:$work/serial.log")
	echo "\$ ${QEMU_CMD[*]}"
	: >"$work/serial.log"
	vback_qemu_start "$work/qemu.log" "$work/serial.log"
	local deadline=$((SECONDS + 120)) rc
	while :; do
		rc=0
		vback_qemu_watch || rc=$?
		[ $rc = 0 ] || break
		if [ $SECONDS -ge $deadline ]; then
			QEMU_WHY="the guest did not finish within 120 s"
			rc=2
			break
		fi
		sleep 0.2
	done
	if [ $rc = 2 ]; then
		vback_qemu_stop
		echo "--- serial"; cat "$work/serial.log"
		echo "--- qemu"; vback_qemu_tail "$work/qemu.log"
		die "$QEMU_WHY"
	fi
	QEMU_PID= # exited and reaped
	echo "--- qemu exited with $QEMU_RC; its output:"
	cat "$work/qemu.log"
	[ "$QEMU_RC" = 0 ] || die "QEMU exited with $QEMU_RC: $(vback_qemu_tail "$work/qemu.log" | tail -n 1)"
}

# run_recipe [SMP]: the recipe as the reader runs it (set -e: any failing
# line fails it), then its vback-disk is stopped.
run_recipe() {
	local pids
	smp=${1:-}
	echo "=== the recipe${smp:+, with -smp $smp}"
	eval "$recipe"
	echo "--- guest output"
	grep -a -E '^(guest:|VBACK:)' "$work/serial.log" | tr -d '\r' || true
	grep -aq 'VBACK: PASS demo' "$work/serial.log" ||
		die "the guest did not read back what it wrote on the vback disk"
	grep -aq 'VBACK: FAIL' "$work/serial.log" && die "the guest reported a failure"
	# The recipe's background job: vback-disk.
	mapfile -t pids < <(jobs -p)
	[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
	wait 2>/dev/null || true
}

cd "$work"
run_recipe
grep -aq 'found /dev/vda: .* 1 queue(s)' "$work/serial.log" ||
	die "one vCPU: the guest did not see one queue"
# QEMU's default with 4 vCPUs: 4 queues, with the recipe unchanged.
run_recipe 4
grep -aq 'found /dev/vda: .* 4 queue(s)' "$work/serial.log" ||
	die "4 vCPUs: the guest did not see 4 queues"
echo "PASS: the README's recipe, 1 and 4 vCPUs, in $((SECONDS - started)) s"
