#!/bin/bash
# SPDX-License-Identifier: MIT
# The real-Xen end-to-end test: Debian's arm64 Xen (rebuilt with
# CONFIG_IOREQ_SERVER=y) and Linux Dom0 + DomU under qemu-system-aarch64
# (TCG), pass/fail from markers on the serial console.
#
#   tests/xen-e2e/run.sh smoke [OUTDIR]   Dom0 boots, xl works, the
#                                         hypervisor serves IOREQ servers,
#                                         a DomU without disks boots
#   tests/xen-e2e/run.sh disk [OUTDIR]    vback-disk (arm64 build) serves a
#                                         rw and a ro virtio disk to a DomU
#                                         created twice
#   tests/xen-e2e/run.sh driver [OUTDIR]  vback-disk in a driver domain (a
#                                         plain DomU, xsm=dummy) serves the
#                                         disks of a DomU that Dom0 relates
#                                         to it with vback-xen-target; the
#                                         driver domain cannot touch an
#                                         unrelated DomU
#   tests/xen-e2e/run.sh bmdomain [OUTDIR] the bare-metal backend domain
#                                         (examples/xen-domain, no OS)
#                                         serves a DomU's disk from its
#                                         boot module, one marker per stage
#   tests/xen-e2e/run.sh reference [OUTDIR]
#                                         the DomU's disk checks against
#                                         QEMU's own virtio-mmio disks, no
#                                         Xen: proves the test itself, so a
#                                         'disk' failure points at vback
#
# Exit 0 pass, 1 fail, 77 skip (tools missing, or no vback-disk with Xen
# support in the arm64 build). Downloads and builds are cached in
# ${VBACK_CACHE:-~/.cache/vback}; the arm64 build is build-aarch64 at the
# top of the tree (VBACK_AARCH64_BUILD overrides). The console log is
# OUTDIR/console-MODE.log (OUTDIR defaults to a temporary directory).
# VBACK_XE2E_TIMEOUT (seconds, default 240) bounds the QEMU run;
# VBACK_XE2E_DAEMON_ARGS adds arguments to vback-disk; VBACK_XE2E_XEN boots
# another hypervisor image instead of the rebuilt one.
set -euo pipefail
# (No "| grep -q" below: with pipefail, an early grep exit fails the writer.)
here=$(cd "$(dirname "$(realpath "$0")")" && pwd)
top=$(cd "$here/../.." && pwd)
mode=${1:-}
case "$mode" in
smoke | disk | driver | bmdomain | reference | adopt-probe | restart) ;;
*) echo "usage: $0 smoke|disk|driver|bmdomain|reference|adopt-probe|restart [OUTDIR]" >&2; exit 2 ;;
esac
out=${2:-$(mktemp -d)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cache=${VBACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vback}
build=${VBACK_AARCH64_BUILD:-$top/build-aarch64}
t0=$(date +%s)

skip() {
	echo "xen-e2e: SKIP: $*"
	exit 77
}
elapsed() {
	echo "xen-e2e: $1 ($(($(date +%s) - t0)) s)"
}

for tool in qemu-system-aarch64 qemu-aarch64-static aarch64-linux-gnu-gcc \
	cpio dpkg-source flex bison python3 make awk timeout flock; do
	command -v "$tool" >/dev/null ||
		skip "$tool not found: install the packages of scripts/deps/xen-e2e.txt"
done
qemu-system-aarch64 -device help 2>/dev/null | grep guest-loader >/dev/null ||
	skip "qemu-system-aarch64 has no guest-loader device (QEMU >= 6.0 needed)"

# The package lists (fetched once a day; stale ones do when offline).
"$top/cross/apt-arm64.sh" policy libc6 | grep "Candidate: [0-9]" >/dev/null ||
	skip "no arm64 package lists: the Debian mirror of /etc/apt is needed once to fill $cache"

mkdir -p "$cache/xen-e2e"
# One builder at a time per cache (the smoke and disk tests share it).
exec 8>"$cache/xen-e2e/lock"
flock 8

daemon=""
if [ "$mode" = disk ] || [ "$mode" = driver ] || [ "$mode" = restart ]; then
	[ -d "$top/examples/vback-disk" ] ||
		skip "examples/vback-disk does not exist: the daemon (issue 6) is not there yet"
	# The daemon and libvback for arm64, from the cross build; only those,
	# so that half-written tests elsewhere do not stop this test.
	"$top/cross/build-aarch64.sh" "$build" build.ninja
	target=examples/vback-disk/vback-disk
	ninja -C "$build" -t targets all | grep "^$target:" >/dev/null ||
		skip "no $target target in the arm64 build: the daemon is not there yet"
	"$top/cross/build-aarch64.sh" "$build" "$target"
	daemon=$build/$target
	help=$(qemu-aarch64-static -L "$top/cross/sysroot-aarch64" "$daemon" --help 2>&1 || true)
	grep -qi xen <<<"$help" ||
		skip "vback-disk --help does not mention Xen: the daemon's Xen mode is not there yet"
	# Its default mode serves what xl configures (issue 6); should the
	# Xen mode need a switch, --help names it.
	if [ -z "${VBACK_XE2E_DAEMON_ARGS+set}" ] && grep -q -- '--xen\b' <<<"$help"; then
		VBACK_XE2E_DAEMON_ARGS=--xen
	fi
	elapsed "arm64 vback-disk built: $daemon"
fi
relate_tool=""
if [ "$mode" = driver ] || [ "$mode" = bmdomain ]; then
	"$top/cross/build-aarch64.sh" "$build" build.ninja
	target=examples/vback-xen-target/vback-xen-target
	ninja -C "$build" -t targets all | grep "^$target:" >/dev/null ||
		skip "no $target target in the arm64 build (libxenctrl missing in the sysroot?)"
	"$top/cross/build-aarch64.sh" "$build" "$target"
	relate_tool=$build/$target
fi
bm_image=""
if [ "$mode" = bmdomain ]; then
	[ -f /usr/include/xen/arch-arm.h ] ||
		skip "no Xen public headers (libxen-dev): the backend domain cannot be built"
	# The freestanding build: libvback-freestanding.a and the domain.
	fs=${VBACK_XEN_DOMAIN_BUILD:-$build-xen-domain}
	if [ ! -f "$fs/build.ninja" ]; then
		meson setup "$fs" "$top" --cross-file "$top/cross/aarch64-none.ini" \
			-Dfreestanding=true >"$fs.setup.log" 2>&1 ||
			{ cat "$fs.setup.log" >&2; exit 1; }
	fi
	ninja -C "$fs" examples/xen-domain/vback-xen-domain.Image >"$fs.ninja.log" 2>&1 ||
		{ tail -n 40 "$fs.ninja.log" >&2; exit 1; }
	bm_image=$fs/examples/xen-domain/vback-xen-domain.Image
	elapsed "backend domain built: $bm_image ($(wc -c <"$bm_image") bytes)"
fi

if [ -n "${VBACK_XE2E_XEN:-}" ]; then
	xen=$VBACK_XE2E_XEN
elif [ "$mode" != reference ]; then
	xen=$("$here/build-xen.sh") || { echo "xen-e2e: building Xen failed (tests/xen-e2e/build-xen.sh)" >&2; exit 1; }
	elapsed "hypervisor: $xen"
fi
root=$("$here/mkroot.sh") || { echo "xen-e2e: building the root file systems failed (tests/xen-e2e/mkroot.sh)" >&2; exit 1; }
elapsed "root file systems: $root"
flock -u 8

# The test's own files, as cpio archives appended to the cached bases.
stage=$out/stage
rm -rf "$stage"
mkdir -p "$stage/domu/xe2e" "$stage/dom0/xe2e" "$stage/dom0/usr/local/bin" \
	"$stage/dom0/usr/local/lib" "$stage/bk/xe2e" "$stage/bk/usr/local/bin" \
	"$stage/bk/usr/local/lib"
cp "$here/domu-init.sh" "$stage/domu/init"
cp "$here/pattern.sh" "$stage/domu/xe2e/"
cp "$here/dom0-init.sh" "$stage/dom0/init"
cp "$here/pattern.sh" "$stage/dom0/xe2e/"
if [ "$mode" != reference ]; then
	# The IOREQ probe, against the arm64 sysroot's Xen libraries.
	"$top/cross/make-sysroot.sh"
	sysroot=$top/cross/sysroot-aarch64
	aarch64-linux-gnu-gcc -std=c11 -O2 -Wall -Wextra -Wpedantic -Werror \
		-D_GNU_SOURCE -D__XEN_TOOLS__ -isystem "$sysroot/usr/include" \
		-o "$stage/dom0/usr/local/bin/xe2e-ioreq-probe" "$here/ioreq-probe.c" \
		-L"$sysroot/usr/lib/aarch64-linux-gnu" \
		-Wl,-rpath-link="$sysroot/usr/lib/aarch64-linux-gnu" \
		-Wl,-rpath-link="$sysroot/lib/aarch64-linux-gnu" \
		-lxendevicemodel -lxenforeignmemory
	# What one domain may do to another (driver mode).
	aarch64-linux-gnu-gcc -std=c11 -O2 -Wall -Wextra -Wpedantic -Werror \
		-D_GNU_SOURCE -D__XEN_TOOLS__ -isystem "$sysroot/usr/include" \
		-o "$stage/dom0/usr/local/bin/xe2e-isolation" "$here/isolation-probe.c" \
		-L"$sysroot/usr/lib/aarch64-linux-gnu" \
		-Wl,-rpath-link="$sysroot/usr/lib/aarch64-linux-gnu" \
		-Wl,-rpath-link="$sysroot/lib/aarch64-linux-gnu" \
		-lxenforeignmemory
	# A new process takes over a killed one's IOREQ server (adopt-probe).
	aarch64-linux-gnu-gcc -std=c11 -O2 -Wall -Wextra -Wpedantic -Werror \
		-D_GNU_SOURCE -D__XEN_TOOLS__ -isystem "$sysroot/usr/include" \
		-o "$stage/dom0/usr/local/bin/xe2e-adopt-probe" "$here/adopt-probe.c" \
		-L"$sysroot/usr/lib/aarch64-linux-gnu" \
		-Wl,-rpath-link="$sysroot/usr/lib/aarch64-linux-gnu" \
		-Wl,-rpath-link="$sysroot/lib/aarch64-linux-gnu" \
		-lxendevicemodel -lxenforeignmemory -lxenevtchn
	# The writer of the restart test, for the DomU and for Dom0's check
	# of the image afterwards (static: the DomU has no libc).
	mkdir -p "$stage/domu/bin"
	aarch64-linux-gnu-gcc -static -O2 -Wall -Wextra -Werror \
		-o "$stage/domu/bin/blkwrite" "$top/tests/e2e/guest-tools/blkwrite.c"
	cp "$stage/domu/bin/blkwrite" "$stage/dom0/usr/local/bin/blkwrite"
fi
if [ -n "$daemon" ]; then
	# Extra daemon arguments for debugging, e.g. a log level.
	echo "${VBACK_XE2E_DAEMON_ARGS:-}" >"$stage/dom0/xe2e/daemon-args"
	cp "$daemon" "$stage/dom0/usr/local/bin/vback-disk"
	find "$build" -maxdepth 1 -name 'libvback.so*' ! -type d \
		-exec cp -P {} "$stage/dom0/usr/local/lib/" \;
fi
if [ -n "$bm_image" ]; then
	cp "$relate_tool" "$stage/dom0/usr/local/bin/vback-xen-target"
	cp "$bm_image" "$stage/dom0/usr/local/bin/vback-xen-domain.Image"
fi
if [ "$mode" = driver ]; then
	# The driver domain runs the daemon; Dom0 only the relation tool.
	mv "$stage/dom0/usr/local/bin/vback-disk" "$stage/bk/usr/local/bin/"
	cp -P "$stage/dom0/usr/local/lib/"libvback.so* "$stage/bk/usr/local/lib/"
	cp "$stage/dom0/xe2e/daemon-args" "$stage/bk/xe2e/"
	cp "$stage/dom0/usr/local/bin/xe2e-isolation" "$stage/bk/usr/local/bin/"
	cp "$relate_tool" "$stage/dom0/usr/local/bin/vback-xen-target"
	cp "$here/bk-init.sh" "$stage/bk/init"
	cp "$here/pattern.sh" "$stage/bk/xe2e/"
fi
mkcpio() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc --owner=0:0 --quiet)
}
{ cat "$root/domu.cpio"; mkcpio "$stage/domu"; } >"$stage/dom0/xe2e/domu.cpio"
if [ "$mode" = driver ]; then
	{ cat "$root/bk.cpio"; mkcpio "$stage/bk"; } >"$stage/dom0/xe2e/bk.cpio"
fi

if [ "$mode" = reference ]; then
	# The DomU as a plain QEMU guest with two virtio-mmio disks, the same
	# images and rounds as under Xen, and the Dom0's image checks here.
	# shellcheck source=tests/xen-e2e/pattern.sh
	. "$here/pattern.sh"
	export XE2E_TAG=XE2E
	rw=$out/disk-rw.img
	ro=$out/disk-ro.img
	pattern initial 0 1024 >"$rw"
	pattern readonly 0 256 >"$ro"
	ro_sum=$(md5sum <"$ro" | cut -d' ' -f1)
	for round in 1 2; do
		log=$out/console-reference-$round.log
		timeout --foreground -k 5 120 qemu-system-aarch64 \
			-machine virt -cpu cortex-a57 -m 512 -accel tcg \
			-display none -monitor none -serial stdio -no-reboot \
			-kernel "$root/vmlinuz" -initrd "$stage/dom0/xe2e/domu.cpio" \
			-append "console=ttyAMA0 rdinit=/init panic=-1 loglevel=4 xe2e.round=$round" \
			-drive "file=$rw,if=none,id=rw,format=raw,cache=none" \
			-device virtio-blk-device,drive=rw \
			-drive "file=$ro,if=none,id=ro,format=raw,readonly=on" \
			-device virtio-blk-device,drive=ro \
			</dev/null >"$log" 2>&1 || true
		grep -a 'XE2E' "$log" | grep -av 'XE2E-DOMU: BOOT' || true
		check "domu-$round-passed" grep -aq "XE2E-DOMU: ROUND $round PASS" "$log"
	done
	check image-round1-data same "$(region_sum "$rw" 256 256)" "$(pattern_sum round1 256 256)"
	check image-round2-data same "$(region_sum "$rw" 512 256)" "$(pattern_sum round2 512 256)"
	check image-ro-unchanged same "$(md5sum <"$ro" | cut -d' ' -f1)" "$ro_sum"
	elapsed "reference done"
	if [ "$XE2E_FAILS" -eq 0 ]; then
		echo "xen-e2e: PASS (reference)"
		exit 0
	fi
	echo "xen-e2e: FAIL (reference); consoles in $out"
	exit 1
fi
{ cat "$root/dom0.cpio"; mkcpio "$stage/dom0"; } >"$out/dom0.cpio"

log=$out/console-$mode.log
limit=${VBACK_XE2E_TIMEOUT:-240}
# SILO, this Xen's default policy on Arm, refuses event channels between
# two DomUs: a driver domain needs the dummy policy (docs/xen.md).
xen_args="dom0_mem=1G,max:1G console=dtuart"
case "$mode" in driver | bmdomain) xen_args="$xen_args xsm=dummy" ;; esac
# The restart test writes for 30 s with three restarts on top of a boot.
[ "$mode" = restart ] && limit=${VBACK_XE2E_TIMEOUT:-480}
elapsed "booting Xen under qemu-system-aarch64 (TCG, limit $limit s), console: $log"
rc=0
timeout --foreground -k 5 "$limit" qemu-system-aarch64 \
	-machine virt,virtualization=on,gic-version=3 -cpu cortex-a57 -smp 2 -m 2G \
	-accel tcg,thread=multi -display none -monitor none -serial stdio \
	-no-reboot \
	-kernel "$xen" -append "$xen_args" \
	-device "guest-loader,addr=0x49000000,kernel=$root/vmlinuz,bootargs=console=hvc0 rdinit=/init panic=-1 xe2e.mode=$mode" \
	-device "guest-loader,addr=0x50000000,initrd=$out/dom0.cpio" \
	</dev/null >"$log" 2>&1 || rc=$?
elapsed "qemu exited with $rc"

grep -a 'XE2E' "$log" | grep -av '^domu| XE2E-DOMU: BOOT' || true
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	echo "xen-e2e: FAIL: timed out after $limit s; last console lines:"
	tail -n 40 "$log"
	exit 1
fi
if grep -aq 'XE2E: RESULT PASS' "$log" && ! grep -aqE 'XE2E(-[A-Z]+)?: FAIL' "$log"; then
	echo "xen-e2e: PASS ($mode)"
	exit 0
fi
echo "xen-e2e: FAIL ($mode); last console lines:"
tail -n 60 "$log"
exit 1
