#!/bin/busybox sh
# shellcheck shell=dash
# SPDX-License-Identifier: MIT
# /init of the Dom0 of the Xen end-to-end test (PID 1, busybox). Brings up
# the Xen tools, then runs the test that /proc/cmdline names:
#   xe2e.mode=smoke  xl works, the hypervisor serves IOREQ servers, and a
#                    DomU without disks boots
#   xe2e.mode=disk   vback-disk serves two virtio disks (rw, ro) of a DomU
#                    that is created, destroyed and created again
#   xe2e.mode=driver vback-disk in a driver domain (bk-init.sh) serves the
#                    DomU's disks; Dom0 only sets up the relation
#                    (vback-xen-target); Xen runs with xsm=dummy
#   xe2e.mode=bmdomain  the bare-metal backend domain vback-xen-domain (no
#                    OS) serves the DomU's disk from its boot module; one
#                    "stageN" marker per stage of the issue
# Every check prints "XE2E: PASS name" or "XE2E: FAIL name"; the DomU's
# console is relayed with a "domu| " prefix; the last line is
# "XE2E: RESULT PASS|FAIL", then the machine powers off.

/bin/busybox mkdir -p /proc /sys /dev /run /tmp /usr/local/bin /usr/local/lib
/bin/busybox --install -s
export PATH=/usr/lib/xen-4.17/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LD_LIBRARY_PATH=/usr/local/lib
export XE2E_TAG=XE2E
# shellcheck source=tests/xen-e2e/pattern.sh
. /xe2e/pattern.sh

finish() {
	[ "$XE2E_FAILS" -eq 0 ] && r=PASS || r=FAIL
	echo "XE2E: RESULT $r (failures: $XE2E_FAILS, uptime $(cut -d' ' -f1 /proc/uptime) s)"
	sync
	poweroff -f
}

fatal() {
	echo "XE2E: FAIL $1"
	XE2E_FAILS=$((XE2E_FAILS + 1))
	finish
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts		# xenconsoled allocates ptys
mount -t tmpfs tmpfs /run
ln -sfn /run /var/run
mkdir -p /etc/xen
[ -f /etc/xen/xl.conf ] || echo '# defaults' >/etc/xen/xl.conf
mkdir -p /run/xen /run/xenstored /var/lib/xen /var/lib/xenstored \
	/var/log/xen/console /run/xe2e /var/lock

mode=$(sed -n 's/.*xe2e\.mode=\([a-z-]*\).*/\1/p' /proc/cmdline)
echo "XE2E: dom0 up, mode=${mode:-none}, uptime $(cut -d' ' -f1 /proc/uptime) s"

for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs; do
	insmod /lib/modules/$m.ko || fatal "insmod-$m"
done
# Block devices over files, for --direct (/run is tmpfs: no O_DIRECT).
[ -f /lib/modules/loop.ko ] && insmod /lib/modules/loop.ko
mkdir -p /proc/xen
mount -t xenfs xenfs /proc/xen || fatal mount-xenfs

xenstored --pid-file=/run/xenstored.pid || fatal xenstored
xen-init-dom0 || fatal xen-init-dom0
xenconsoled --log=guest --log-dir=/var/log/xen/console || fatal xenconsoled
check xl-list sh -c 'xl list | grep -q "^Domain-0 "'

# relay PREFIX FILE: copy lines of FILE to our console as they come.
relay() {
	touch "$2"
	tail -f "$2" | while IFS= read -r l; do echo "$1$l"; done &
}

# The DomU console (xenconsoled's log of it).
log=/var/log/xen/console/guest-domu.log
relay "domu| " $log

# domu_cfg FILE ROUND DISKS...: an xl config for the test DomU.
domu_cfg() {
	f=$1 round=$2
	shift 2
	{
		echo 'name = "domu"'
		echo 'kernel = "/boot/vmlinuz"'
		echo 'ramdisk = "/run/xe2e/domu.cpio"'
		# Disk rounds wait to be destroyed (domu-init.sh).
		hold=0
		[ $# -gt 0 ] && hold=1
		echo "extra = \"console=hvc0 rdinit=/init panic=-1 loglevel=${XE2E_DOMU_LOGLEVEL:-4} xe2e.round=$round xe2e.wait=$hold xe2e.secs=${XE2E_SECS:-40} ${XE2E_DOMU_EXTRA:-}\""
		echo 'memory = 256'
		echo 'vcpus = 1'
		if [ $# -gt 0 ]; then
			printf 'disk = [ '
			sep=""
			for d in "$@"; do
				printf "%s'%s'" "$sep" "$d"
				sep=", "
			done
			echo ' ]'
		fi
	} >"$f"
}

# run_domu ROUND CFG [probe]: create the DomU, wait for its END marker,
# destroy it. With "probe", first check on the paused DomU that the
# hypervisor serves IOREQ servers.
run_domu() {
	r=$1
	echo "XE2E: creating DomU round $r, uptime $(cut -d' ' -f1 /proc/uptime) s"
	if [ "${3:-}" = probe ]; then
		# Paused, so that the probe's IOREQ server sees no access.
		if ! xl create -p "$2"; then
			echo "XE2E: FAIL xl-create-$r"
			XE2E_FAILS=$((XE2E_FAILS + 1))
			return 1
		fi
		xe2e-ioreq-probe "$(xl domid domu)" ||
			XE2E_FAILS=$((XE2E_FAILS + 1))
		xl unpause domu
	elif ! xl create "$2"; then
		echo "XE2E: FAIL xl-create-$r"
		XE2E_FAILS=$((XE2E_FAILS + 1))
		return 1
	fi
	finish_domu "$r"
}

# finish_domu ROUND: wait for the running DomU's END marker, destroy it,
# check its markers.
finish_domu() {
	r=$1
	n=0
	while ! grep -q "XE2E-DOMU: END round=$r" $log; do
		n=$((n + 1))
		if [ $n -gt 180 ]; then
			echo "XE2E: FAIL domu-$r-timeout"
			XE2E_FAILS=$((XE2E_FAILS + 1))
			break
		fi
		sleep 1
	done
	sleep 1
	# Destroyed while its disks are live (round 0 powers itself off).
	if xl list domu >/dev/null 2>&1; then
		xl destroy domu || echo "XE2E: xl destroy failed"
	fi
	n=0
	while xl list domu >/dev/null 2>&1 && [ $n -lt 30 ]; do
		sleep 1
		n=$((n + 1))
	done
	check "domu-$r-destroyed" sh -c '! xl list domu >/dev/null 2>&1'
	check "domu-$r-no-fail-markers" sh -c "! grep -q 'XE2E-DOMU: FAIL' $log"
	check "domu-$r-passed" grep -q "XE2E-DOMU: ROUND $r PASS" $log
	return 0
}

cp /xe2e/domu.cpio /run/xe2e/domu.cpio

case "$mode" in
smoke)
	domu_cfg /run/xe2e/smoke.cfg 0
	run_domu 0 /run/xe2e/smoke.cfg probe
	;;
disk)
	if [ ! -x /usr/local/bin/vback-disk ]; then
		fatal "vback-disk-missing"
	fi
	rw=/run/xe2e/disk-rw.img
	ro=/run/xe2e/disk-ro.img
	pattern initial 0 1024 >$rw
	pattern readonly 0 256 >$ro
	ro_sum=$(md5sum <$ro | cut -d' ' -f1)
	# With --direct the daemon is given loop devices over the images
	# (O_DIRECT into foreign-mapped guest memory: the kernel cannot pin
	# it, vback bounces); the checks below read the files as before.
	trw=$rw tro=$ro
	if grep -q -- --direct /xe2e/daemon-args 2>/dev/null; then
		# busybox: "-f" alone names the next free device.
		trw=$(losetup -f) || fatal losetup-rw
		losetup "$trw" $rw || fatal losetup-rw
		tro=$(losetup -f) || fatal losetup-ro
		losetup "$tro" $ro || fatal losetup-ro
		echo "XE2E: --direct: serving $trw ($rw) and $tro ($ro)"
	fi
	line='format=raw,backendtype=standalone,specification=virtio'
	domu_cfg /run/xe2e/round1.cfg 1 "$line,vdev=xvda,target=$trw" \
		"$line,vdev=xvdb,access=ro,target=$tro"
	domu_cfg /run/xe2e/round2.cfg 2 "$line,vdev=xvda,target=$trw" \
		"$line,vdev=xvdb,access=ro,target=$tro"

	# The daemon in its default mode: watch xenstore, serve what xl sets up.
	# shellcheck disable=SC2046 # extra arguments, one per word
	vback-disk $(cat /xe2e/daemon-args 2>/dev/null) \
		>/run/xe2e/vback-disk.log 2>&1 &
	daemon=$!
	relay "vback| " /run/xe2e/vback-disk.log
	sleep 2
	check daemon-running kill -0 $daemon

	# The image checks of a round only make sense when its DomU ran.
	if run_domu 1 /run/xe2e/round1.cfg; then
		check image-round1-data same "$(region_sum $rw 256 256)" \
			"$(pattern_sum round1 256 256)"
		check image-round1-4k same "$(region_sum $rw 1000 1)" \
			"$(pattern_sum small 1000 1)"
		check image-round1-512 same \
			"$(dd if=$rw bs=512 skip=8190 count=1 2>/dev/null | md5sum | cut -d' ' -f1)" \
			"$(pattern sector 0 1 | head -c 512 | md5sum | cut -d' ' -f1)"
		check image-initial-kept same "$(region_sum $rw 0 256)" \
			"$(pattern_sum initial 0 256)"
	fi
	check image-ro-unchanged same "$(md5sum <$ro | cut -d' ' -f1)" "$ro_sum"
	check daemon-survives-destroy kill -0 $daemon

	if run_domu 2 /run/xe2e/round2.cfg; then
		check image-round2-data same "$(region_sum $rw 512 256)" \
			"$(pattern_sum round2 512 256)"
	fi
	check image-ro-unchanged-2 same "$(md5sum <$ro | cut -d' ' -f1)" "$ro_sum"

	# SIGTERM: a clean exit.
	kill -TERM $daemon
	n=0
	while kill -0 $daemon 2>/dev/null && [ $n -lt 15 ]; do
		sleep 1
		n=$((n + 1))
	done
	if kill -0 $daemon 2>/dev/null; then
		echo "XE2E: FAIL daemon-sigterm-exit: still running after 15 s"
		XE2E_FAILS=$((XE2E_FAILS + 1))
	else
		wait $daemon
		check daemon-sigterm-exit-0 [ $? -eq 0 ]
	fi
	;;
driver)
	for t in vback-xen-target xe2e-isolation; do
		[ -x /usr/local/bin/$t ] || fatal "$t-missing"
	done
	relay "bk| " /var/log/xen/console/guest-bk.log
	# The driver domain: a plain DomU with the images and vback-disk.
	cp /xe2e/bk.cpio /run/xe2e/bk.cpio
	{
		echo 'name = "bk"'
		echo 'kernel = "/boot/vmlinuz"'
		echo 'ramdisk = "/run/xe2e/bk.cpio"'
		echo 'extra = "console=hvc0 rdinit=/init panic=-1 loglevel=4"'
		echo 'memory = 192'
		echo 'vcpus = 1'
	} >/run/xe2e/bk.cfg
	check bk-created xl create /run/xe2e/bk.cfg
	bk=$(xl domid bk)
	# An unrelated DomU, never run: its memory is there to be refused.
	{
		echo 'name = "other"'
		echo 'kernel = "/boot/vmlinuz"'
		echo 'memory = 64'
		echo 'vcpus = 1'
	} >/run/xe2e/other.cfg
	check other-created xl create -p /run/xe2e/other.cfg
	other=$(xl domid other)
	# Dom0 may map it: what bk is refused below exists.
	check dom0-maps-other xe2e-isolation map "$other"
	xenstore-write "/local/domain/$bk/xe2e-other" "$other"
	n=0
	while ! grep -q "XE2E-BK: READY" /var/log/xen/console/guest-bk.log; do
		n=$((n + 1))
		[ $n -gt 120 ] && fatal "bk-ready-timeout"
		sleep 1
	done

	# The guest's disks are served by bk: libxl writes them in bk's
	# tree and waits up to 10 s for bk's InitWait, so the relation is
	# set while xl create -p waits.
	line="format=raw,backendtype=standalone,specification=virtio,backend=bk"
	# libxl gives the guest's virtio nodes a grant-DMA IOMMU (the backend
	# is not Dom0); Debian's kernel has no driver for it (no
	# CONFIG_XEN_VIRTIO) and probes them after the deferred-probe
	# timeout, with plain addresses: 1 s instead of 10.
	XE2E_DOMU_EXTRA="deferred_probe_timeout=1"
	domu_cfg /run/xe2e/round1.cfg 1 "$line,vdev=xvda,target=/run/disk-rw.img" \
		"$line,vdev=xvdb,access=ro,target=/run/disk-ro.img"
	echo "XE2E: creating DomU round 1 (paused), uptime $(cut -d' ' -f1 /proc/uptime) s"
	xl create -p /run/xe2e/round1.cfg &
	xl_pid=$!
	check relate vback-xen-target --wait 30 bk domu
	wait $xl_pid
	check xl-create-paused [ $? -eq 0 ]
	if xl list domu >/dev/null 2>&1; then
		xl unpause domu
		finish_domu 1
	fi
	# bk checks the images once its daemon has released both disks.
	n=0
	while ! grep -q "XE2E-BK: END" /var/log/xen/console/guest-bk.log; do
		n=$((n + 1))
		[ $n -gt 120 ] && break
		sleep 1
	done
	check bk-passed grep -q "XE2E-BK: RESULT PASS" /var/log/xen/console/guest-bk.log
	# (bk and other go with the machine: each xl destroy costs seconds.)
	;;
bmdomain)
	for t in vback-xen-target vback-xen-domain.Image; do
		[ -e /usr/local/bin/$t ] || fatal "$t-missing"
	done
	bmlog=/var/log/xen/console/guest-bm.log
	relay "bm| " $bmlog
	# stage: wait for a line in the backend domain's console, print the
	# stage's marker. stage NAME SECONDS PATTERN [FILE]
	stage() {
		n=0
		while ! grep -q "$3" "${4:-$bmlog}" 2>/dev/null; do
			n=$((n + 1))
			if [ $n -gt $(($2 * 5)) ]; then
				echo "XE2E: FAIL $1 (no '$3' after $2 s)"
				XE2E_FAILS=$((XE2E_FAILS + 1))
				return 1
			fi
			sleep 0.2
		done
		echo "XE2E: PASS $1 (uptime $(cut -d' ' -f1 /proc/uptime) s)"
	}
	# Its disk is its boot module: the 4 MiB image with the pattern.
	pattern initial 0 1024 >/run/xe2e/bm-disk.img
	{
		echo 'name = "bm"'
		echo 'kernel = "/usr/local/bin/vback-xen-domain.Image"'
		echo 'ramdisk = "/run/xe2e/bm-disk.img"'
		echo 'memory = 16'
		echo 'vcpus = 1'
	} >/run/xe2e/bm.cfg
	check bm-created xl create /run/xe2e/bm.cfg
	stage stage1-boots-and-prints 30 "vback-xen-domain: booted: dom" || finish

	line="format=raw,backendtype=standalone,specification=virtio,backend=bm"
	# Debian's kernel probes the grant-DMA-declared disk after the
	# deferred-probe timeout (see the driver mode); one disk only.
	XE2E_DOMU_EXTRA="deferred_probe_timeout=1 xe2e.disks=1"
	domu_cfg /run/xe2e/bm-guest.cfg 1 "$line,vdev=xvda,target=module"
	# The guest powers itself off at the end: stage 5.
	sed -i 's/xe2e.wait=1/xe2e.wait=0/' /run/xe2e/bm-guest.cfg
	echo "XE2E: creating DomU (paused), uptime $(cut -d' ' -f1 /proc/uptime) s"
	xl create -p /run/xe2e/bm-guest.cfg &
	xl_pid=$!
	check relate vback-xen-target --wait 30 bm domu
	wait $xl_pid
	check xl-create-paused [ $? -eq 0 ]
	guest=$(xl domid domu 2>/dev/null)
	stage stage2-config-from-xenstore 20 "vback-xen-domain: config: dom$guest virtio_disk"
	stage bm-refused-dom0-memory 5 "isolation: XENMEM_add_to_physmap_batch .*refused: EPERM"
	if stage bm-ioreq-server 20 "IOREQ server" && xl unpause domu &&
		stage stage3-ioreq-server-and-probe 60 "XE2E-DOMU: PASS disks-appear" $log; then
		stage stage4-data-path 120 "XE2E-DOMU: ROUND 1 PASS" $log
	fi
	# CPU time per domain: the backend domain sleeps in WFI when idle.
	xl list | sed 's/^/XE2E: xl list: /'
	# The guest powers off; xl destroys it; the backend domain releases
	# its disk, says so and powers off too.
	n=0
	while xl list domu >/dev/null 2>&1 && [ $n -lt 60 ]; do
		sleep 1
		n=$((n + 1))
	done
	check domu-shut-down sh -c '! xl list domu >/dev/null 2>&1'
	echo "XE2E: guest gone, uptime $(cut -d' ' -f1 /proc/uptime) s"
	check domu-clean-shutdown grep -q "XE2E-DOMU: END round=1" $log
	check domu-no-fail-markers sh -c "! grep -q 'XE2E-DOMU: FAIL' $log"
	stage stage5-shutdown-noticed 30 "vback-xen-domain: dom$guest is gone: every disk released"
	n=0
	while xl list bm >/dev/null 2>&1 && [ $n -lt 30 ]; do
		sleep 1
		n=$((n + 1))
	done
	check bm-powered-off sh -c '! xl list bm >/dev/null 2>&1'
	check bm-done grep -q "vback-xen-domain: done" $bmlog
	grep "vback-xen-domain: footprint" $bmlog | sed 's/^/XE2E: /'
	;;
restart)
	# A DomU writes and checks blocks (blkwrite) while vback-disk is
	# SIGKILLed twice at random moments and SIGTERMed once, each time
	# started again with the same command line: the restarted one takes
	# the running guest's device over (its state in /run/vback-disk).
	[ -x /usr/local/bin/vback-disk ] || fatal "vback-disk-missing"
	img=/run/xe2e/disk-restart.img
	dd if=/dev/zero of=$img bs=1M count=0 seek=32 2>/dev/null
	# 30 s of writing (the DomU's monotonic clock): the three restarts,
	# 2-4 s apart, and their take-overs end well before it does, so the
	# last vback-disk serves writes too.
	XE2E_SECS=30
	domu_cfg /run/xe2e/restart.cfg 7 \
		"format=raw,backendtype=standalone,specification=virtio,vdev=xvda,target=$img"
	dlog=/run/xe2e/vback-disk.log
	relay "vback| " $dlog
	n_daemon=0
	start_daemon() {
		n_daemon=$((n_daemon + 1))
		echo "=== daemon $n_daemon" >>$dlog
		# shellcheck disable=SC2046 # extra arguments, one per word
		vback-disk $(cat /xe2e/daemon-args 2>/dev/null) >>$dlog 2>&1 &
		daemon=$!
	}
	start_daemon
	sleep 2
	xl create /run/xe2e/restart.cfg || fatal xl-create-restart
	n=0
	while ! grep -q 'VBACK: WRITING' $log && [ $n -lt 120 ]; do
		sleep 1
		n=$((n + 1))
	done
	grep -q 'VBACK: WRITING' $log || fatal restart-domu-not-writing
	t0=$(cut -d' ' -f1 /proc/uptime)
	kills=
	for sig in KILL KILL TERM; do
		sleep $((2 + $(od -An -N1 -tu1 /dev/urandom) % 3))
		t=$(cut -d' ' -f1 /proc/uptime)
		kill -$sig $daemon
		wait $daemon
		st=$?
		echo "XE2E: SIG$sig to vback-disk $n_daemon at $(echo "$t $t0" | awk '{printf "%.1f", $1 - $2}') s of writing, uptime $t (exit $st)"
		[ "$sig" = TERM ] && check restart-sigterm-exit-0 [ "$st" -eq 0 ]
		kills="$kills $t"
		start_daemon
	done
	n=0
	while ! grep -q 'VBACK: RESULT' $log && [ $n -lt 150 ]; do
		sleep 1
		n=$((n + 1))
	done
	result=$(grep 'VBACK: RESULT' $log | tail -n 1 | tr -d '\r')
	echo "XE2E: ${result#*VBACK: }"
	field() { echo "$result" | sed -n "s/.* $1=\([0-9]*\).*/\1/p"; }
	check restart-no-io-error [ "$(field errors)" = 0 ]
	check restart-nothing-stuck [ "$(field stuck)" = 0 ]
	check restart-readback [ "$(field bad)" = 0 ]
	check restart-no-30s-request [ "$(field max_ms)" -lt 30000 ]
	grep 'VBACK: PAUSE' $log | sed 's/^.*VBACK: /XE2E: domu /'
	check restart-adopted-3 [ "$(grep -c 'adopted at' $dlog)" -ge 3 ]
	# How long the device had no backend: from each kill (Dom0's uptime)
	# to the adoption by the next one (its log's time, the same clock).
	adopts=$(sed -n 's/^\[ *\([0-9.]*\)\].*adopted at.*/\1/p' $dlog | tr '\n' ' ')
	echo "$kills|$adopts" | awk -F'|' '{
		nk = split($1, k, " "); na = split($2, a, " ");
		for (i = 1; i <= nk && i <= na; i++)
			printf "XE2E: restart %d: no backend for %.2f s (killed at %s, adopted at %s)\n", i, a[i] - k[i], k[i], a[i];
	}'
	sleep 1
	xl destroy domu
	n=0
	while xl list domu >/dev/null 2>&1 && [ $n -lt 30 ]; do
		sleep 1
		n=$((n + 1))
	done
	sleep 1
	# Writes went on after the last restart: the last daemon served some.
	last=$(sed -n "/^=== daemon $n_daemon\$/,\$p" $dlog |
		sed -n 's/.*closed (reads=[0-9]* writes=\([0-9]*\).*/\1/p' | tail -n 1)
	echo "XE2E: the last vback-disk (of $n_daemon) served ${last:-0} writes"
	check restart-writes-after-last [ "${last:-0}" -gt 0 ]
	acked=$(grep 'VBACK: ACKED' $log | sed -n 's/.* n=\([0-9]*\).*/\1/p' | tr '\n' ' ')
	# shellcheck disable=SC2086 # one count per writer
	check restart-image-intact blkwrite verify $img 4 $acked
	check restart-state-files-gone sh -c "! ls /run/vback-disk/*.state 2>/dev/null | grep -q ."
	kill -TERM $daemon
	wait $daemon
	;;
adopt-probe)
	# A new process takes over the IOREQ server of a killed one and
	# answers the access the DomU's vCPU waits on (adopt-probe.c).
	domu_cfg /run/xe2e/probe.cfg 9
	xl create -p /run/xe2e/probe.cfg || fatal xl-create-probe
	domid=$(xl domid domu)
	xe2e-adopt-probe serve "$domid" 0x2000000 >/run/xe2e/probe1.log 2>&1 &
	p1=$!
	n=0
	while ! grep -q 'XE2E-PROBE: server' /run/xe2e/probe1.log && [ $n -lt 50 ]; do
		sleep 0.2
		n=$((n + 1))
	done
	cat /run/xe2e/probe1.log
	id=$(sed -n 's/.*XE2E-PROBE: server \([0-9]*\).*/\1/p' /run/xe2e/probe1.log)
	[ -n "$id" ] || fatal adopt-probe-serve
	xl unpause domu
	n=0
	while [ "$(grep -c 'XE2E-DOMU: probe read' $log)" -lt 20 ] && [ $n -lt 120 ]; do
		sleep 1
		n=$((n + 1))
	done
	kill -9 $p1
	wait $p1 2>/dev/null
	before=$(grep -c 'XE2E-DOMU: probe read' $log)
	echo "XE2E: probe server killed after $before reads, uptime $(cut -d' ' -f1 /proc/uptime) s"
	sleep 5
	stalled=$(grep -c 'XE2E-DOMU: probe read' $log)
	check adopt-probe-domu-stalled [ "$stalled" -le $((before + 1)) ]
	xe2e-adopt-probe adopt "$domid" "$id" 0x2000000 10 ||
		XE2E_FAILS=$((XE2E_FAILS + 1))
	after=$(grep -c 'XE2E-DOMU: probe read' $log)
	echo "XE2E: reads: $before before the kill, $stalled 5 s later, $after after the adoption"
	check adopt-probe-domu-resumed [ "$after" -gt $((stalled + 5)) ]
	xl destroy domu
	;;
*)
	fatal "unknown-mode"
	;;
esac
finish
