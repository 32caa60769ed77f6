# shellcheck shell=sh
# The demo, guest side: format the vback disk, mount it, write and read a
# file, and say what happened in plain words.
# shellcheck source=lib.sh
. /guest/lib.sh
dev=/dev/vda
say() { echo "guest: $*"; }
mb=$(($(cat /sys/block/vda/size) / 2048))
say "found /dev/vda: $mb MiB virtio-blk disk, $(ls /sys/block/vda/mq | wc -l) queue(s), cache: $(cat /sys/block/vda/queue/write_cache)"
say "mke2fs /dev/vda"
mke2fs -F -q -L vback-demo $dev >/dev/null 2>&1 || { fail "mke2fs"; exit 1; }
mount -t ext4 $dev /mnt || { fail "mount"; exit 1; }
say "mounted on /mnt: $(df -h /mnt | tail -n 1 | awk '{print $2 " size, " $4 " free"}')"
echo "Hello from a guest whose disk is served by vback over vhost-user." >/mnt/hello.txt
say "wrote /mnt/hello.txt"
size=$(arg mib)
[ -n "$size" ] || size=32
say "writing a $size MiB file of random data (dd, then fsync)..."
# Seconds since boot, to 10 ms (busybox has no nanosecond date).
now() { cut -d' ' -f1 /proc/uptime; }
rate() { awk -v mib="$1" -v t0="$2" -v t1="$3" 'BEGIN {
	t = t1 - t0; if (t < 0.01) t = 0.01
	printf "%d MiB in %.2f s = %.1f MiB/s", mib, t, mib / t }'; }
# Random data made in RAM first, so the timing is the disk's, not the RNG's.
dd if=/dev/urandom of=/tmp/chunk bs=1M count=4 2>/dev/null
t0=$(now)
i=0
while [ $i -lt $((size / 4)) ]; do
	cat /tmp/chunk
	i=$((i + 1))
done >/mnt/big
sync
t1=$(now)
size=$((size / 4 * 4))
say "  write: $(rate "$size" "$t0" "$t1")"
want=$(sha256sum /mnt/big | cut -d' ' -f1)
umount /mnt
echo 3 >/proc/sys/vm/drop_caches
mount -t ext4 -o ro $dev /mnt
say "remounted read-only, cache dropped; reading it back..."
t0=$(now)
dd if=/mnt/big of=/dev/null bs=1M 2>/dev/null
t1=$(now)
say "  read:  $(rate "$size" "$t0" "$t1")"
got=$(sha256sum /mnt/big | cut -d' ' -f1)
say "cat /mnt/hello.txt: $(cat /mnt/hello.txt)"
ls -l /mnt | sed 's/^/guest:   /'
umount /mnt
if [ "$got" = "$want" ]; then
	pass "demo: $size MiB file read back with the same checksum"
else
	fail "demo: checksum mismatch"
fi
exit $failed
