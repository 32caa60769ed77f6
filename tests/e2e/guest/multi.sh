# shellcheck shell=sh
# Several disks of one vback-disk process, guest side: one read-write
# (filesystem, O_DIRECT writes the host re-checks, a resize the host
# makes through the control socket), one read-only with a serial and a
# pattern the host wrote. The disks are told apart by serial.
# shellcheck source=lib.sh
. /guest/lib.sh
rw=
ro=
for d in /sys/block/vd*; do
	n=${d##*/}
	s=$(cat "$d/serial" 2>/dev/null)
	echo "VBACK: DISK $n serial='$s' ro=$(cat "$d/ro") sectors=$(cat "$d/size") queues=$(ls "$d/mq" | wc -l)"
	if [ "$s" = "$(arg roserial)" ]; then ro=$n; else rw=$n; fi
done
[ -n "$rw" ] && [ -n "$ro" ] && pass "two disks: $rw, $ro" || fail "want two disks"

# The read-only disk: its pattern, and no write gets through.
[ "$(cat /sys/block/$ro/ro)" = 1 ] && pass "$ro is read-only" || fail "$ro is writable"
got=$(sum_range /dev/$ro 32 $((4 * MiB)))
[ "$got" = "$(arg pattern)" ] && pass "$ro: host pattern" || fail "$ro: pattern $got"
dd if=/dev/zero of=/dev/$ro bs=4096 count=1 oflag=direct 2>/dev/null &&
	fail "$ro: a write went through" || pass "$ro: write refused"

# The read-write disk.
dev=/dev/$rw
sectors=$(cat /sys/block/$rw/size)
if mke2fs -F -q $dev 16384 >/dev/null 2>&1 && mount -t ext4 $dev /mnt; then
	dd if=/dev/urandom of=/mnt/file bs=64k count=32 2>/dev/null
	want=$(sha256sum /mnt/file | cut -d' ' -f1)
	umount /mnt
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 -o ro $dev /mnt
	got=$(sha256sum /mnt/file | cut -d' ' -f1)
	umount /mnt
	[ "$got" = "$want" ] && pass "$rw: filesystem round trip" ||
		fail "$rw: file reads back different"
else
	fail "$rw: mke2fs or mount failed"
fi
dd if=/dev/urandom of=/tmp/data bs=1M count=1 2>/dev/null
want=$(sha256sum /tmp/data | cut -d' ' -f1)
dd if=/tmp/data of=$dev bs=1M seek=40 oflag=direct conv=notrunc 2>/dev/null
got=$(sum_range $dev 40 $MiB)
[ "$got" = "$want" ] && pass "$rw: O_DIRECT 1 MiB" || fail "$rw: O_DIRECT $got"
echo "VBACK: SUM direct 40 $MiB $want"

# Resize through the host's control socket.
echo "VBACK: RESIZE-REQUEST"
i=0
while [ "$(cat /sys/block/$rw/size)" = "$sectors" ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
new=$(cat /sys/block/$rw/size)
[ "$new" = "$(arg resized)" ] && pass "$rw: resized to $new sectors" ||
	fail "$rw: $new sectors after the resize, want $(arg resized)"
echo "VBACK: DONE failed=$failed"
exit $failed
