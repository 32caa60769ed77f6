# shellcheck shell=sh
# QEMU's default queues, guest side: QEMU asked vback-disk for one queue
# per vCPU (no num-queues given) and the guest got them all. Each CPU
# writes and reads back its own MiB on its own queue; "VBACK: SUM" lines
# tell the host what to find in the image.
# shellcheck source=lib.sh
. /guest/lib.sh
dev=/dev/vda
ncpu=$(nproc)
nq=$(ls /sys/block/vda/mq | wc -l)
echo "VBACK: QUEUES $nq CPUS $ncpu"
[ "$nq" = "$(arg queues)" ] && pass "$nq queues for $ncpu vCPUs" ||
	fail "queues: $nq, want $(arg queues) ($ncpu vCPUs)"
cpu=0
while [ $cpu -lt "$ncpu" ]; do
	dd if=/dev/urandom of=/tmp/data bs=64k count=16 2>/dev/null
	want=$(sha256sum /tmp/data | cut -d' ' -f1)
	taskset -c $cpu dd if=/tmp/data of=$dev bs=64k seek=$((cpu * 16)) \
		oflag=direct conv=notrunc 2>/dev/null || fail "write on cpu $cpu"
	got=$(taskset -c $cpu dd if=$dev bs=64k skip=$((cpu * 16)) count=16 \
		iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ] && pass "cpu $cpu: 1 MiB written and read back" ||
		fail "cpu $cpu: read back $got, want $want"
	echo "VBACK: SUM cpu$cpu $cpu $MiB $want"
	cpu=$((cpu + 1))
done
busy=$(grep 'virtio[0-9]*-req\.[0-9]' /proc/interrupts | awk '{
	s = 0
	for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i
	if (s > 0) n++
} END { print n + 0 }')
grep 'virtio[0-9]*-req' /proc/interrupts | sed 's/^/VBACK: IRQ /'
[ "$busy" -ge "$(arg queues)" ] && pass "$busy queues raised interrupts" ||
	fail "interrupt lines used: $busy, want $(arg queues)"
echo "VBACK: DONE failed=$failed"
exit $failed
