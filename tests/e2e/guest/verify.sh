# shellcheck shell=sh
# Second boot against the same daemon (it accepted a new front-end): what
# the first boot wrote is still there.
# shellcheck source=lib.sh
. /guest/lib.sh
dev=/dev/vda
got=$(sum_range $dev 41 $MiB)
[ "$got" = "$(arg direct1m)" ] && pass "reconnect: 1 MiB write persisted" ||
	fail "reconnect: $got"
if mount -t ext4 -o ro $dev /mnt; then
	got=$(sha256sum /mnt/file | cut -d' ' -f1)
	umount /mnt
	[ "$got" = "$(arg filesum)" ] && pass "reconnect: file persisted" ||
		fail "reconnect: file $got"
else
	fail "reconnect: mount"
fi
echo "VBACK: DONE failed=$failed"
exit $failed
