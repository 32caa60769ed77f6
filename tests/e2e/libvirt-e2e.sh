#!/bin/bash
# SPDX-License-Identifier: MIT
# vback-disk as the disk of a libvirt guest: the domain XML of
# docs/libvirt.md (<disk type='vhostuser'>, memfd shared memory) started by
# a real libvirtd, the guest of vhost-user-e2e (TCG: <domain type='qemu'>)
# doing its IO checks on the vback disk, the host re-checking the image.
#
# The libvirt daemon is private to the test: session mode (qemu:///session)
# with every directory (XDG_CONFIG_HOME, XDG_RUNTIME_DIR, XDG_CACHE_HOME,
# HOME) in a temporary folder, so it neither sees nor touches a libvirt of
# the machine. A root libvirtd would always be the system one
# (/etc/libvirt, /run/libvirt): as root, libvirt and its QEMU run as
# "nobody" (setpriv); vback-disk runs as the caller and its socket is made
# reachable for the guest's QEMU, as it must be for libvirt's QEMU user in
# production. Everything started is stopped on exit, failure included.
#
# Usage: libvirt-e2e.sh PATH/TO/vback-disk
# Exit 77 (skip) with one line only when the machine cannot run libvirt or
# the guest (no QEMU with vhost-user-blk-pci, the guest cannot be built,
# the daemon dies at start); a missing libvirtd or virsh is a failure:
# scripts/install-deps.sh installs them (scripts/deps/libvirt-e2e.txt).
set -euo pipefail
vback_disk=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
. "$here/image.sh"
qemu='qemu-system-x86_64' # what libvirt picks for <domain type='qemu'>
name=vback-libvirt-e2e
started=$SECONDS

skip() { echo "SKIP: $*"; exit 77; }
work=
die() {
	echo "FAIL: $*"
	if [ -n "$work" ]; then
		[ -f "$work/serial.log" ] && { echo "--- guest serial"; tail -n 40 "$work/serial.log"; }
		for f in "$work"/home/.cache/libvirt/qemu/log/"$name".log "$work/libvirtd.log" \
			"$work/daemon.log"; do
			[ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
		done
	fi
	exit 1
}

for tool in libvirtd virsh; do
	command -v "$tool" >/dev/null ||
		PATH=$PATH:/usr/sbin command -v "$tool" >/dev/null ||
		die "$tool not found: run scripts/install-deps.sh (scripts/deps/libvirt-e2e.txt)"
done
libvirtd=$(PATH=$PATH:/usr/sbin command -v libvirtd)
command -v "$qemu" >/dev/null || skip "$qemu not installed"
"$qemu" -device help 2>/dev/null | grep -q '"vhost-user-blk-pci"' ||
	skip "$qemu has no vhost-user-blk-pci"
set +e
guest=$("$here/build-guest.sh")
rc=$?
set -e
[ $rc -eq 77 ] && skip "cannot build the guest"
[ $rc -eq 0 ] || die "build-guest.sh failed ($rc)"
read -r vmlinux initramfs <<<"$guest"

work=$(mktemp -d "${TMPDIR:-/tmp}/vback-libvirt.XXXXXX")
chmod 755 "$work"
as_libvirt=()
if [ "$(id -u)" = 0 ]; then
	uid=$(id -u nobody 2>/dev/null) || skip "no user 'nobody' to run libvirt as"
	gid=$(id -g nobody)
	as_libvirt=(setpriv "--reuid=$uid" "--regid=$gid" --clear-groups --)
fi
libvirt_dirs=$work/home
mkdir -p "$libvirt_dirs/.config/libvirt"
# QEMU's stdout/stderr to a file, not through virtlogd (which libvirt would
# start as a second daemon).
echo 'stdio_handler = "file"' >"$libvirt_dirs/.config/libvirt/qemu.conf"
[ -n "${as_libvirt[*]}" ] && chown -R "$uid:$gid" "$libvirt_dirs"

libvirt_pid=
daemon_pid=
qemu_pid=
sock_dir=$libvirt_dirs/.cache/libvirt # the session's own folders hold the socket
lv_sock=$libvirt_dirs/run/libvirt/libvirt-sock
# libvirt's user in the private session, for the daemon and for virsh.
lv_env=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C
	HOME="$libvirt_dirs" XDG_CONFIG_HOME="$libvirt_dirs/.config"
	XDG_CACHE_HOME="$libvirt_dirs/.cache" XDG_RUNTIME_DIR="$libvirt_dirs/run")
as_libvirt_env() {
	"${as_libvirt[@]}" "${lv_env[@]}" "$@"
}
virsh_() {
	as_libvirt_env virsh -q -c "qemu:///session?socket=$lv_sock" "$@"
}
# stop_libvirtd: SIGTERM, up to 10 s, then SIGKILL; 1 if it needed that.
stop_libvirtd() {
	kill -TERM "$libvirt_pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$libvirt_pid" 2>/dev/null || { libvirt_pid=; return 0; }
		sleep 0.1
	done
	kill -9 "$libvirt_pid" 2>/dev/null || true
	libvirt_pid=
	return 1
}
cleanup() {
	set +e
	if [ -n "$libvirt_pid" ] && kill -0 "$libvirt_pid" 2>/dev/null; then
		virsh_ destroy "$name" >/dev/null 2>&1
		virsh_ undefine "$name" >/dev/null 2>&1
		stop_libvirtd
	fi
	# libvirt leaves running guests alone when it stops: so must we not.
	[ -n "$qemu_pid" ] && kill -9 "$qemu_pid" 2>/dev/null
	[ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# ---- libvirtd, private ---------------------------------------------------
# --timeout: should this script be killed outright, the daemon still ends
# once it has no guest and no client for that long.
# A simple command, so that $! is libvirtd itself (setpriv and env exec).
"${as_libvirt[@]}" "${lv_env[@]}" "$libvirtd" --timeout 300 \
	>"$work/libvirtd.log" 2>&1 &
libvirt_pid=$!
for _ in $(seq 100); do
	[ -S "$lv_sock" ] && break
	kill -0 "$libvirt_pid" 2>/dev/null ||
		skip "libvirtd cannot start on this machine: $(grep -a 'error' "$work/libvirtd.log" | tail -n 1)"
	sleep 0.1
done
[ -S "$lv_sock" ] || skip "libvirtd cannot start on this machine: no socket after 10 s"
# The first connection probes every QEMU of the machine (a few seconds).
version=$(virsh_ version 2>&1) || die "virsh cannot talk to libvirtd: $version"
echo "libvirt: $(grep -a 'Running hypervisor' <<<"$version" | sed 's/.*: *//') under libvirtd $("$libvirtd" --version | awk '{print $NF}'), session mode, uid $(as_libvirt_env id -un)"

# ---- the image, vback-disk ----------------------------------------------
img=$work/disk.img
e2e_make_image "$img"
mkdir -p "$sock_dir"
[ -n "${as_libvirt[*]}" ] && chown "$uid:$gid" "$sock_dir"
sock=$sock_dir/vback.sock
"$vback_disk" --vhost-user "$sock" --image "$img" --queues 2 \
	--log-level info 2>"$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 50); do
	[ -S "$sock" ] && break
	kill -0 "$daemon_pid" 2>/dev/null || die "vback-disk exited at start"
	sleep 0.1
done
[ -S "$sock" ] || die "no vhost-user socket after 5 s"
# The guest's QEMU runs as libvirt's user and must reach the socket.
chmod 0666 "$sock"

# ---- the domain ------------------------------------------------------------
# The guest's kernel and initramfs where libvirt's user can read them.
# (install -m: whatever the umask, libvirt's user reads them)
install -m 0644 "$vmlinux" "$work/vmlinux"
install -m 0644 "$initramfs" "$work/initramfs"
serial=$work/serial.log
: >"$serial"
[ -n "${as_libvirt[*]}" ] && chown "$uid:$gid" "$serial"
cat >"$work/domain.xml" <<EOF
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>256</memory>
  <vcpu>2</vcpu>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$work/vmlinux</kernel>
    <initrd>$work/initramfs</initrd>
    <cmdline>console=ttyS0 loglevel=7 panic=-1 vback.script=e2e vback.pattern=$E2E_PATTERN vback.sectors=$((64 * 2048)) vback.queues=2 vback.resized=$((96 * 2048))</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='vhostuser' device='disk'>
      <driver name='qemu' type='raw' queues='2'/>
      <source type='unix' path='$sock'>
        <reconnect enabled='yes' timeout='1'/>
      </source>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='file'>
      <source path='$serial'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
chmod 644 "$work/domain.xml"
out=$(virsh_ define "$work/domain.xml" 2>&1) || die "virsh define: $out"
out=$(virsh_ start "$name" 2>&1) || die "virsh start: $out"
pidfile=$(find "$libvirt_dirs" -name "$name.pid" 2>/dev/null | head -n 1)
[ -n "$pidfile" ] && qemu_pid=$(cat "$pidfile" 2>/dev/null)
echo "libvirt: $name started (QEMU pid ${qemu_pid:-?}, TCG)"

# ---- wait: the guest powers off when done; fail at once if it stops -------
deadline=$((SECONDS + 120))
resized=0
while :; do
	state=$(virsh_ domstate "$name" --reason 2>&1) || die "virsh domstate: $state"
	case "$state" in
	"shut off"*) break ;;
	# Powering off: "in shutdown" until QEMU is gone.
	running* | "in shutdown"*) ;;
	*) die "the guest is '$state', not running" ;;
	esac
	if [ $resized = 0 ] && grep -aqs 'VBACK: RESIZE-REQUEST' "$serial"; then
		truncate -s 96M "$img"
		kill -HUP "$daemon_pid"
		resized=1
	fi
	kill -0 "$daemon_pid" 2>/dev/null || die "vback-disk died while the guest ran"
	[ $SECONDS -lt "$deadline" ] || die "the guest did not finish within 120 s"
	if [ $SECONDS -gt $((started + ${VBACK_BOOT_TIMEOUT:-60})) ] &&
		! grep -aqs 'VBACK:' "$serial"; then
		die "the guest printed nothing in ${VBACK_BOOT_TIMEOUT:-60} s"
	fi
	sleep 0.5
done
qemu_pid=
echo "libvirt: $name is $state"
echo "--- guest output"
grep -a 'VBACK:' "$serial" | tr -d '\r' || true
grep -aq 'VBACK: FAIL' "$serial" && die "the guest reported a failure"
grep -aq 'VBACK: DONE failed=0' "$serial" || die "the guest did not finish its checks"
e2e_check_sums "$serial" "$img" || die "the image does not hold what the guest wrote"

# The daemon's account: both queues carried IO, no IO error.
for _ in $(seq 50); do
	grep -q 'session: queue 1:' "$work/daemon.log" && break
	sleep 0.1
done
grep 'session' "$work/daemon.log" | sed 's/^/daemon: /'
grep -q 'session: .* io_errors=0' "$work/daemon.log" || die "no clean session summary from vback-disk"
for q in 0 1; do
	kicks=$(grep -m1 "session: queue $q:" "$work/daemon.log" |
		sed -n 's/.*kicks=\([0-9]*\).*/\1/p')
	[ "${kicks:-0}" -gt 0 ] || die "queue $q carried no IO"
done

out=$(virsh_ undefine "$name" 2>&1) || die "virsh undefine: $out"
stop_libvirtd || die "libvirtd ignored SIGTERM for 10 s"
kill -TERM "$daemon_pid"
rc=0
wait "$daemon_pid" || rc=$?
daemon_pid=
[ $rc -eq 0 ] || die "vback-disk exited with $rc"
echo "PASS: libvirt guest on a vback disk in $((SECONDS - started)) s"
