#!/bin/busybox sh
# shellcheck shell=dash
# SPDX-License-Identifier: MIT
# /init of the test DomU (busybox). xe2e.round=0 only proves the boot;
# rounds 1 and 2 test the virtio disks that vback-disk serves:
#   rw disk  4 MiB (found by size), Dom0 filled it with pattern "initial"
#   ro disk  1 MiB, pattern "readonly"
# (xe2e.disks=1: the rw disk only.)
# Round 1 reads the pattern, writes 1 MiB, 4 KiB and 512 B and reads them
# back (O_DIRECT, so the device answers, not the page cache), with fsync
# (virtio-blk FLUSH). Round 2 (after destroy + create) checks that round 1's
# data is there and writes again. Markers: "XE2E-DOMU: PASS|FAIL name",
# then "XE2E-DOMU: ROUND n PASS|FAIL" and "XE2E-DOMU: END round=n".

/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export XE2E_TAG=XE2E-DOMU
# shellcheck source=tests/xen-e2e/pattern.sh
. /xe2e/pattern.sh

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
round=$(sed -n 's/.*xe2e\.round=\([0-9]*\).*/\1/p' /proc/cmdline)
echo "XE2E-DOMU: BOOT round=$round uptime $(cut -d' ' -f1 /proc/uptime) s"

# find_disk SECTORS: the virtio disk of that size (probe order, and so the
# names, depend on the device tree; the sizes do not).
find_disk() {
	for d in /sys/block/vd*; do
		if [ "$(cat "$d/size" 2>/dev/null)" = "$1" ]; then
			echo "/dev/${d##*/}"
			return 0
		fi
	done
	return 1
}

# With xe2e.disks=1 there is no read-only disk (the bare-metal backend
# domain serves one, its boot module).
one_disk=false
grep -q 'xe2e\.disks=1' /proc/cmdline && one_disk=true

# wait_disks: both disks (or the one) appear once virtio_blk probed them.
wait_disks() {
	n=0
	while ! { find_disk 8192 && { $one_disk || find_disk 2048; }; } \
		>/dev/null && [ $n -lt 100 ]; do
		sleep 0.2
		n=$((n + 1))
	done
	rw=$(find_disk 8192) && [ -b "$rw" ] || return 1
	$one_disk && return 0
	ro=$(find_disk 2048) && [ -b "$ro" ]
}

# write_check NAME FILE BS SEEK: write FILE at block SEEK of BS bytes with
# O_DIRECT and fsync, then read it back with O_DIRECT.
write_check() {
	cnt=$(($(wc -c <"$2") / $3))
	check "$1-write" dd if="$2" of="$rw" bs="$3" seek="$4" oflag=direct \
		conv=notrunc,fsync
	check "$1-readback" same \
		"$(dd if="$rw" bs="$3" skip="$4" count=$cnt iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)" \
		"$(md5sum <"$2" | cut -d' ' -f1)"
}

if [ "${round:-0}" = 7 ]; then
	# restart: write and check blocks (blkwrite) while Dom0 kills and
	# restarts vback-disk; the disk is the 32 MiB one.
	insmod /lib/modules/virtio_mmio.ko
	insmod /lib/modules/virtio_blk.ko
	n=0
	rw=
	while [ -z "$rw" ] && [ $n -lt 100 ]; do
		rw=$(find_disk 65536) || rw=
		[ -n "$rw" ] || sleep 0.2
		n=$((n + 1))
	done
	if [ -z "$rw" ]; then
		check disk-appears false
	else
		secs=$(sed -n 's/.*xe2e\.secs=\([0-9]*\).*/\1/p' /proc/cmdline)
		echo "VBACK: WRITING secs=${secs:-40} writers=4 on $rw"
		check restart-writes blkwrite "$rw" "${secs:-40}" 4
	fi
elif [ "${round:-0}" -gt 0 ] && [ "$round" != 9 ]; then
	insmod /lib/modules/virtio_mmio.ko
	insmod /lib/modules/virtio_blk.ko
	rw=/dev/missing-rw
	ro=/dev/missing-ro
	check disks-appear wait_disks
	echo "XE2E-DOMU: rw disk $rw, ro disk $ro"
	check rw-writable [ "$(cat /sys/block/"${rw#/dev/}"/ro 2>/dev/null)" = 0 ]
	# "write back": the device offers FLUSH, so fsync sends one.
	check rw-write-cache [ "$(cat /sys/block/"${rw#/dev/}"/queue/write_cache 2>/dev/null)" = "write back" ]
	check read-initial same "$(region_sum "$rw" 0 256)" "$(pattern_sum initial 0 256)"

	if [ "$round" = 1 ]; then
		pattern round1 256 256 >/tmp/w
		write_check w1m /tmp/w 65536 16
		pattern small 1000 1 >/tmp/s
		write_check w4k /tmp/s 4096 1000
		pattern sector 0 1 | head -c 512 >/tmp/t
		write_check w512 /tmp/t 512 8190
	else
		check read-round1 same "$(region_sum "$rw" 256 256)" "$(pattern_sum round1 256 256)"
		check read-round1-4k same "$(region_sum "$rw" 1000 1)" "$(pattern_sum small 1000 1)"
		pattern round2 512 256 >/tmp/w
		write_check w1m-2 /tmp/w 65536 32
	fi
	# A flush reached the disk and completed: the writes above end with
	# fsync, which sends one (the device offers a write-back cache), and
	# the block layer counts completed flushes (stat field 16).
	check flush [ "$(awk '{print $16}' /sys/block/"${rw#/dev/}"/stat)" -gt 0 ]

	if ! $one_disk; then
		check ro-read-only [ "$(cat /sys/block/"${ro#/dev/}"/ro 2>/dev/null)" = 1 ]
		check ro-read same "$(region_sum "$ro" 0 256)" "$(pattern_sum readonly 0 256)"
		pattern small 0 1 >/tmp/s
		check ro-write-refused sh -c "! dd if=/tmp/s of=$ro bs=4096 seek=5 oflag=direct conv=notrunc,fsync 2>/dev/null"
	fi
fi
if [ "${round:-0}" = 9 ]; then
	# adopt-probe: read the probe's register, forever (Dom0 destroys us).
	i=0
	while :; do
		echo "XE2E-DOMU: probe read $i $(devmem 0x2000000 32) $(cut -d' ' -f1 /proc/uptime)"
		i=$((i + 1))
		sleep 0.1
	done
fi
check boot true

[ "$XE2E_FAILS" -eq 0 ] && r=PASS || r=FAIL
echo "XE2E-DOMU: ROUND ${round:-0} $r"
echo "XE2E-DOMU: END round=${round:-0} uptime $(cut -d' ' -f1 /proc/uptime) s"
sync
# With xe2e.wait=1 (the Xen disk rounds) wait for Dom0's xl destroy, which
# tears the disks down while they are live; otherwise shut down.
if grep -q 'xe2e\.wait=1' /proc/cmdline; then
	while :; do
		sleep 60
	done
fi
sleep 1
poweroff -f
