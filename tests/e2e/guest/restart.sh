# shellcheck shell=sh
# Guest side of tests/e2e/restart-e2e.sh: write distinct blocks with
# O_DIRECT from several threads for vback.secs seconds while the host
# kills and restarts vback-disk, then read back every acknowledged block
# (blkwrite, tests/e2e/guest-tools/blkwrite.c, prints the details).
# shellcheck source=lib.sh
. /guest/lib.sh
secs=$(arg secs)
writers=$(arg writers)
if ! command -v blkwrite >/dev/null; then
	fail "no blkwrite in the guest (build-guest.sh could not build it)"
else
	echo "VBACK: WRITING secs=${secs:-30} writers=${writers:-4}"
	if blkwrite /dev/vda "${secs:-30}" "${writers:-4}"; then
		pass restart-writes
	else
		fail "restart-writes: see the lines above"
	fi
fi
echo "VBACK: DONE failed=$failed"
