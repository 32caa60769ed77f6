# shellcheck shell=sh
# The virtio-rng real-guest test, guest side: the kernel's hwrng core must
# have picked the virtio-rng device, and /dev/hwrng (read raw, no mixing)
# must deliver bytes that are not all alike. The host checks that vback-rng
# served at least as many bytes as were read here.
# shellcheck source=lib.sh
. /guest/lib.sh
cur=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
case "$cur" in
virtio_rng*) pass "hwrng is $cur" ;;
*) fail "hwrng is '$cur', not virtio_rng" ;;
esac
if dd if=/dev/hwrng of=/tmp/rnd bs=512 count=8 2>/dev/null; then
	n=$(wc -c </tmp/rnd)
	[ "$n" -eq 4096 ] && pass "read $n bytes" || fail "read $n bytes of 4096"
	distinct=$(od -An -v -tx1 /tmp/rnd | tr -s ' ' '\n' | sort -u | wc -l)
	[ "$distinct" -gt 200 ] && pass "$distinct distinct byte values" ||
		fail "only $distinct distinct byte values"
	echo "VBACK: READ $n"
else
	fail "reading /dev/hwrng"
fi
echo "VBACK: DONE failed=$failed"
