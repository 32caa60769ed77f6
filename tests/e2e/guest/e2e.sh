# shellcheck shell=sh
# The real-guest test, guest side. Disk layout (64 MiB image, MiB units):
#   0-16  ext2 filesystem made here     32-36 pattern written by the host
#   40    O_DIRECT 4 KiB write          41    O_DIRECT 1 MiB write
#   44    write-zeroes over host data   46    discard
# Results are "VBACK: PASS|FAIL|SKIP name" lines; "VBACK: SUM name MiB len
# sha256" lines tell the host what to re-check in the image afterwards.
# shellcheck source=lib.sh
. /guest/lib.sh
dev=/dev/vda

sectors=$(cat /sys/block/vda/size)
[ "$sectors" = "$(arg sectors)" ] && pass "capacity $sectors sectors" ||
	fail "capacity: $sectors sectors, want $(arg sectors)"
wc=$(cat /sys/block/vda/queue/write_cache)
[ "$wc" = "write back" ] && pass "write-cache '$wc'" || fail "write-cache '$wc'"

# Filesystem round trip (first: nothing else lives in 0-16 MiB).
if mke2fs -F -q $dev 16384 >/dev/null 2>&1 && mount -t ext4 $dev /mnt; then
	dd if=/dev/urandom of=/mnt/file bs=64k count=32 2>/dev/null
	want=$(sha256sum /mnt/file | cut -d' ' -f1)
	umount /mnt
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 -o ro $dev /mnt
	got=$(sha256sum /mnt/file | cut -d' ' -f1)
	umount /mnt
	[ "$got" = "$want" ] && pass "filesystem round trip" ||
		fail "filesystem: file reads back different"
	echo "VBACK: FILESUM $want"
else
	fail "filesystem: mke2fs or mount failed"
fi

# A pattern the host wrote before boot.
got=$(sum_range $dev 32 $((4 * MiB)))
[ "$got" = "$(arg pattern)" ] && pass "host pattern reads back" ||
	fail "host pattern: $got"

# O_DIRECT writes of 4 KiB and 1 MiB read back.
for spec in "40 4096 4k" "41 $MiB 1m"; do
	set -- $spec
	dd if=/dev/urandom of=/tmp/data bs="$2" count=1 2>/dev/null
	want=$(sha256sum /tmp/data | cut -d' ' -f1)
	if [ "$2" = 4096 ]; then
		dd if=/tmp/data of=$dev bs=4096 seek=$(($1 * 256)) oflag=direct conv=notrunc 2>/dev/null
	else
		dd if=/tmp/data of=$dev bs=1M seek="$1" oflag=direct conv=notrunc 2>/dev/null
	fi || fail "direct-$3 write"
	got=$(sum_range $dev "$1" "$2")
	[ "$got" = "$want" ] && pass "O_DIRECT $3 write reads back" ||
		fail "O_DIRECT $3: $got != $want"
	echo "VBACK: SUM direct-$3 $1 $2 $want"
done

# Flush: fsync on the block device sends one (write cache is on).
dd if=/tmp/data of=$dev bs=1M seek=42 conv=notrunc,fsync 2>/dev/null &&
	pass "fsync" || fail "fsync"
echo "VBACK: SUM fsync 42 $MiB $(sha256sum /tmp/data | cut -d' ' -f1)"

# Write zeroes over data the host wrote at 44 MiB.
if [ "$(cat /sys/block/vda/queue/write_zeroes_max_bytes)" -gt 0 ] &&
	[ -x /bin/zeroout ]; then
	zeroout $dev $((44 * MiB)) $MiB && got=$(sum_range $dev 44 $MiB)
	zero=$(dd if=/dev/zero bs=1M count=1 2>/dev/null | sha256sum | cut -d' ' -f1)
	[ "$got" = "$zero" ] && pass "write-zeroes" || fail "write-zeroes: $got"
	echo "VBACK: SUM zeroes 44 $MiB $zero"
else
	skip "write-zeroes (not offered)"
fi

# Discard (contents afterwards are unspecified; the request must succeed).
if [ "$(cat /sys/block/vda/queue/discard_max_bytes)" -gt 0 ]; then
	blkdiscard -o $((46 * MiB)) -l $MiB $dev && pass "discard" ||
		fail "discard"
else
	skip "discard (not offered)"
fi

# Multiqueue: IO from each CPU goes to its own queue.
nq=$(ls /sys/block/vda/mq | wc -l)
if [ "$(arg queues)" -gt 1 ]; then
	[ "$nq" = "$(arg queues)" ] && pass "$nq hardware queues" ||
		fail "queues: $nq, want $(arg queues)"
	for cpu in $(seq 0 $(($(nproc) - 1))); do
		taskset -c "$cpu" dd if=$dev of=/dev/null bs=64k count=64 iflag=direct 2>/dev/null ||
			fail "read on cpu $cpu"
	done
	# Queues whose interrupt line fired at least once (any CPU).
	busy=$(grep 'virtio[0-9]*-req\.[0-9]' /proc/interrupts | awk '{
		s = 0
		for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i
		if (s > 0) n++
	} END { print n + 0 }')
	grep 'virtio[0-9]*-req' /proc/interrupts | sed 's/^/VBACK: IRQ /'
	[ "$busy" -ge "$(arg queues)" ] && pass "interrupts per queue" ||
		fail "interrupt lines: $busy"
fi
# Driver rebind: the guest resets the device, QEMU stops the rings
# (GET_VRING_BASE) and starts them again on the same connection.
vdev=$(basename "$(readlink /sys/block/vda/device)")
echo "$vdev" >/sys/bus/virtio/drivers/virtio_blk/unbind
echo "$vdev" >/sys/bus/virtio/drivers/virtio_blk/bind
i=0
while [ ! -b $dev ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
got=$(sum_range $dev 32 $((4 * MiB)))
[ "$got" = "$(arg pattern)" ] && pass "device reset and restart" ||
	fail "after driver rebind: $got"

# Resize: the host grows the image and sends SIGHUP to vback-disk, which
# tells QEMU over the back-end channel; the guest sees the new capacity.
# (vback.resized=none: this disk cannot grow, e.g. an NBD export.)
if [ "$(arg resized)" = none ]; then
	skip "resize (the disk cannot grow)"
	echo "VBACK: DONE failed=$failed"
	exit $failed
fi
echo "VBACK: RESIZE-REQUEST"
i=0
while [ "$(cat /sys/block/vda/size)" = "$sectors" ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
new=$(cat /sys/block/vda/size)
[ "$new" = "$(arg resized)" ] && pass "resize to $new sectors" ||
	fail "resize: $new sectors, want $(arg resized)"
echo "VBACK: DONE failed=$failed"
exit $failed
