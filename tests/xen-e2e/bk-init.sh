#!/bin/busybox sh
# shellcheck shell=dash
# SPDX-License-Identifier: MIT
# /init of the driver domain "bk" of the xen-e2e "driver" test (busybox, a
# plain DomU). It holds the disk images and runs vback-disk for the guest
# Dom0 makes it the device model of:
#   1. make the images, say READY, wait for /local/domain/SELF/target
#      (vback-xen-target in Dom0 writes it last);
#   2. load xen-privcmd only now: it reads the key when it loads and is
#      restricted to that guest from then on;
#   3. isolation: the guest's memory and DM ops are allowed, those of an
#      unrelated DomU (Dom0 wrote its id in xe2e-other) refused;
#   4. vback-disk with no argument: it finds its own backend/ tree;
#   5. when the daemon has closed both disks (the guest was destroyed),
#      check the images, stop it with SIGTERM, print END and wait.
# Markers: "XE2E-BK: PASS|FAIL name".

/bin/busybox mkdir -p /proc /sys /dev /run /tmp /usr/local/bin /usr/local/lib
/bin/busybox --install -s
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LD_LIBRARY_PATH=/usr/local/lib
export XE2E_TAG=XE2E-BK
# shellcheck source=tests/xen-e2e/pattern.sh
. /xe2e/pattern.sh

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
uptime() { cut -d' ' -f1 /proc/uptime; }
echo "XE2E-BK: BOOT uptime $(uptime) s"

end() {
	[ "$XE2E_FAILS" -eq 0 ] && r=PASS || r=FAIL
	echo "XE2E-BK: RESULT $r"
	echo "XE2E-BK: END uptime $(uptime) s"
	sync
	while :; do
		sleep 60
	done
}

for m in xen-evtchn xen-gntdev; do
	check "insmod-$m" insmod /lib/modules/$m.ko
done

rw=/run/disk-rw.img
ro=/run/disk-ro.img
pattern initial 0 1024 >$rw
pattern readonly 0 256 >$ro
ro_sum=$(md5sum <$ro | cut -d' ' -f1)
self=$(xenstore-read domid)
echo "XE2E-BK: READY domid=$self uptime $(uptime) s"

# 1. The relation: Dom0 writes our target key after the rest. Sleep on a
# watch (its first event is at once, the second a change), not a poll:
# under TCG every xenstore-read costs the CPU xl in Dom0 needs.
n=0
until target=$(xenstore-read target 2>/dev/null); do
	n=$((n + 1))
	if [ $n -gt 24 ]; then
		echo "XE2E-BK: FAIL target-key: none after 120 s"
		XE2E_FAILS=$((XE2E_FAILS + 1))
		end
	fi
	timeout 5 xenstore-watch -n 2 target >/dev/null 2>&1
done
other=$(xenstore-read xe2e-other 2>/dev/null)
echo "XE2E-BK: target dom$target, unrelated dom$other, uptime $(uptime) s"

# 2. privcmd reads the key now.
check insmod-xen-privcmd insmod /lib/modules/xen-privcmd.ko

# 3. What this domain may touch.
check guest-memory-allowed xe2e-isolation map "$target"
check guest-dmop-allowed xe2e-isolation dmop "$target"
check other-memory-refused sh -c "! xe2e-isolation map $other"
check other-dmop-refused sh -c "! xe2e-isolation dmop $other"
check dom0-memory-refused sh -c "! xe2e-isolation map 0"

# 4. The daemon, as a driver domain runs it: no arguments.
: >/run/vback.log
# shellcheck disable=SC2046 # extra arguments, one per word
vback-disk $(cat /xe2e/daemon-args 2>/dev/null) >/run/vback.log 2>&1 &
daemon=$!
tail -f /run/vback.log | while IFS= read -r l; do echo "vback| $l"; done &
# Its "ready" line names the domain it serves from; under TCG on a busy
# host it can take well over 2 s, so wait for it (or for the daemon to die).
n=0
while [ $n -lt 60 ] && kill -0 $daemon 2>/dev/null &&
	! grep -q "backend domain $self)" /run/vback.log; do
	n=$((n + 1))
	sleep 0.5
done
check daemon-running kill -0 $daemon
check daemon-own-tree grep -q "backend domain $self)" /run/vback.log

# 5. Both disks closed: the guest was destroyed.
n=0
while [ "$(grep -c 'closed (reads=' /run/vback.log)" -lt 2 ]; do
	n=$((n + 1))
	if [ $n -gt 300 ] || ! kill -0 $daemon 2>/dev/null; then
		echo "XE2E-BK: FAIL disks-released: $(grep -c 'closed (reads=' /run/vback.log) of 2"
		XE2E_FAILS=$((XE2E_FAILS + 1))
		break
	fi
	sleep 1
done
check image-round1-data same "$(region_sum $rw 256 256)" \
	"$(pattern_sum round1 256 256)"
check image-round1-4k same "$(region_sum $rw 1000 1)" \
	"$(pattern_sum small 1000 1)"
check image-initial-kept same "$(region_sum $rw 0 256)" \
	"$(pattern_sum initial 0 256)"
check image-ro-unchanged same "$(md5sum <$ro | cut -d' ' -f1)" "$ro_sum"
check daemon-no-errors sh -c "! grep -q 'vback-disk: error:' /run/vback.log"

kill -TERM $daemon
n=0
while kill -0 $daemon 2>/dev/null && [ $n -lt 15 ]; do
	sleep 1
	n=$((n + 1))
done
if kill -0 $daemon 2>/dev/null; then
	echo "XE2E-BK: FAIL daemon-sigterm-exit: still running after 15 s"
	XE2E_FAILS=$((XE2E_FAILS + 1))
else
	wait $daemon
	check daemon-sigterm-exit-0 [ $? -eq 0 ]
fi
end
