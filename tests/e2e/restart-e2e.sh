#!/bin/bash
# SPDX-License-Identifier: MIT
# vback-disk restarted under a real guest that keeps writing (QEMU with
# -chardev socket,...,reconnect=1, vhost-user-blk-pci). The guest
# (tests/e2e/guest/restart.sh, guest-tools/blkwrite.c) writes distinct
# 4 KiB blocks with O_DIRECT from 4 threads, records each acknowledged
# write, flushes every 32 writes, measures every request, and at the end
# reads back every acknowledged block.
#
# Modes:
#   kill  SIGKILL at three random moments, each followed by a start with
#         the same command line, then a planned restart (SIGTERM, start).
#   ooo   the dangerous case on purpose: the first daemon runs with
#         hold-write.so (LD_PRELOAD, --engine posix), which holds one
#         write forever while the writes after it complete; once they
#         have, SIGKILL and a start without it. One queue, so that every
#         write is on the ring the held one is on.
#
# Passes only if the guest saw no IO error, no request took 30 s or more,
# writes went on after the last restart (the last daemon served some),
# and every acknowledged block is intact in the guest and in the image.
# Prints how long the guest's IO paused across each restart.
#
# Usage: restart-e2e.sh PATH/TO/vback-disk kill|ooo [PATH/TO/hold-write.so]
# VBACK_RESTART_NO_INFLIGHT=1 starts every daemon with --no-inflight: the
# comparison without in-flight tracking (ooo then fails: the held write
# is never resubmitted and its writer waits forever).
# Exit 77 (skip) when the machine cannot run it.
set -euo pipefail
vback_disk=$(realpath "$1")
mode=${2:-kill}
hold_lib=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
. "$here/qemu.sh"
qemu=${QEMU:-qemu-system-x86_64}
started=$(date +%s)

skip() { echo "SKIP: $*"; exit 77; }
die() {
	echo "FAIL: $*"
	for f in "$work"/daemon.*.log; do
		[ -f "$f" ] && { echo "--- $(basename "$f")"; tail -n 15 "$f"; }
	done
	[ -f "$work/guest.serial" ] && { echo "--- serial"; grep -a 'VBACK:' "$work/guest.serial" | grep -av PROGRESS | tail -n 30; }
	# QEMU's own lines (a front-end that gave up, a boot that never
	# reached the console).
	[ -s "$work/qemu.log" ] && { echo "--- qemu.log"; tail -n 20 "$work/qemu.log"; }
	[ -f "$work/guest.serial" ] && ! grep -aq 'VBACK:' "$work/guest.serial" &&
		{ echo "--- serial (no VBACK line)"; tail -n 20 "$work/guest.serial"; }
	exit 1
}

command -v "$qemu" >/dev/null || skip "$qemu not installed"
"$qemu" -device help 2>/dev/null | grep -q '"vhost-user-blk-pci"' ||
	skip "$qemu has no vhost-user-blk-pci"
command -v python3 >/dev/null || skip "python3 not installed"
case $mode in
kill) queues=2 writers=4 secs=40 engine=() ;;
ooo)
	[ -f "$hold_lib" ] || skip "no hold-write.so"
	queues=1 writers=4 secs=30 engine=(--engine posix)
	;;
*) echo "usage: $0 VBACK_DISK kill|ooo [HOLD_LIB]"; exit 2 ;;
esac
vback_build_guest
vback_accel "$vmlinux" "$initramfs"

work=$(mktemp -d "${TMPDIR:-/tmp}/vback-restart.XXXXXX")
daemon_pid=
cleanup() {
	vback_qemu_stop
	[ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

img=$work/disk.img
truncate -s 64M "$img"
sock=$work/vhu.sock
extra=()
[ "${VBACK_RESTART_NO_INFLIGHT:-0}" = 1 ] && extra+=(--no-inflight)
# Writer 0's 64th block: held by the first daemon of mode ooo.
hold_offset=$((64 * writers * 4096))
n=0

# start_daemon [hold]: the same command line every time. A killed
# daemon leaves its socket file: the next one replaces it (it checks that
# nobody listens there), so readiness is read from the log.
start_daemon() {
	n=$((n + 1))
	local log=$work/daemon.$n.log
	if [ "${1:-}" = hold ]; then
		LD_PRELOAD=$hold_lib VBACK_HOLD_OFFSET=$hold_offset \
			"$vback_disk" --vhost-user "$sock" --image "$img" \
			--queues $queues "${engine[@]}" "${extra[@]}" \
			--log-level info 2>"$log" &
	else
		"$vback_disk" --vhost-user "$sock" --image "$img" \
			--queues $queues "${engine[@]}" "${extra[@]}" \
			--log-level info 2>"$log" &
	fi
	daemon_pid=$!
	for _ in $(seq 100); do
		grep -q 'listening on' "$log" && return 0
		kill -0 "$daemon_pid" 2>/dev/null || die "daemon $n exited at start"
		sleep 0.05
	done
	die "daemon $n: not listening after 5 s"
}

serial=$work/guest.serial
# Watch QEMU while waiting: a guest that stops fails at once.
watch_qemu() {
	local rc=0
	vback_qemu_watch || rc=$?
	[ $rc = 1 ] && die "QEMU exited (status $QEMU_RC) while the guest ran"
	[ $rc = 2 ] && die "$QEMU_WHY"
	return 0
}
now_us() { local t=$EPOCHREALTIME; echo $((10#${t/[.,]/})); }
pause_ms() {
	local end=$(($(now_us) + $1 * 1000))
	while [ "$(now_us)" -lt $end ]; do
		watch_qemu
		sleep 0.1
	done
}
# Seconds since the guest started writing (the guest's t=0, give or take
# the console's delay).
now_rel() {
	local us=$(($(now_us) - t_writing))
	printf '%d.%02d' $((us / 1000000)) $((us % 1000000 / 10000))
}
acked() {
	local a
	a=$(grep -a 'VBACK: PROGRESS' "$serial" | tail -n 1 |
		sed -n 's/.*acked=\([0-9]*\).*/\1/p') || true
	echo "${a:-0}"
}

restarts=()
kill_and_start() { # signal
	local sig=$1 t st=0
	t=$(now_rel)
	kill "-$sig" "$daemon_pid"
	wait "$daemon_pid" || st=$?
	if [ "$sig" = TERM ] && [ $st -ne 0 ]; then
		die "daemon $n exited with $st on SIGTERM"
	fi
	echo "t=$t: daemon $n stopped with SIG$sig (status $st), starting daemon $((n + 1))"
	daemon_pid=
	start_daemon
	restarts+=("$t")
}

if [ "$mode" = ooo ]; then
	start_daemon hold
else
	start_daemon
fi
VBACK_CHARDEV_OPTS=,reconnect=1 vback_qemu_cmd "$sock" "$vmlinux" \
	"$initramfs" 2 "$queues" "file:$serial" vback.script=restart \
	"vback.secs=$secs" "vback.writers=$writers"
vback_qemu_start "$work/qemu.log" "$serial"
for _ in $(seq 300); do
	grep -aq 'VBACK: WRITING' "$serial" 2>/dev/null && break
	watch_qemu
	sleep 0.2
done
grep -aq 'VBACK: WRITING' "$serial" || die "the guest did not start writing in 60 s"
t_writing=$(now_us)

case $mode in
kill)
	for _ in 1 2 3; do
		pause_ms $((2000 + RANDOM % 4000))
		kill_and_start KILL
	done
	pause_ms $((2000 + RANDOM % 3000))
	kill_and_start TERM
	;;
ooo)
	for _ in $(seq 100); do
		grep -q 'hold-write: holding' "$work/daemon.1.log" && break
		pause_ms 100
	done
	grep -q 'hold-write: holding' "$work/daemon.1.log" ||
		die "the write to hold did not come in 10 s"
	# The writes after the held one complete and are published: from
	# the guest's next progress line on, 40 more.
	lines=$(grep -ac 'VBACK: PROGRESS' "$serial" || true)
	for _ in $(seq 30); do
		[ "$(grep -ac 'VBACK: PROGRESS' "$serial" || true)" -gt "$lines" ] && break
		pause_ms 100
	done
	before=$(acked)
	for _ in $(seq 50); do
		[ "$(acked)" -ge $((before + 40)) ] && break
		pause_ms 200
	done
	[ "$(acked)" -ge $((before + 40)) ] ||
		die "no write completed behind the held one"
	echo "held write in flight, $(($(acked) - before)) later writes acknowledged"
	kill_and_start KILL
	;;
esac

# The guest ends on its own: writing time, then at most 30 s for a
# request that never comes back, then the read-back.
deadline=$(($(date +%s) + secs + 90))
while ! grep -aq 'VBACK: RESULT' "$serial"; do
	[ "$(date +%s)" -lt "$deadline" ] || die "no result from the guest"
	watch_qemu
	sleep 0.5
done
for _ in $(seq 600); do
	grep -aq 'VBACK: DONE' "$serial" && break
	grep -aq 'VBACK: RESULT.*stuck=[1-9]' "$serial" && break
	watch_qemu
	sleep 0.2
done
vback_qemu_stop
result=$(grep -a 'VBACK: RESULT' "$serial" | tr -d '\r')
echo "guest: ${result#VBACK: }"
grep -a 'VBACK: FAIL' "$serial" | head -n 5 || true
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$result"; }
[ "$(field errors)" = 0 ] || die "the guest saw IO errors"
[ "$(field stuck)" = 0 ] || die "a request never completed"
[ "$(field bad)" = 0 ] || die "acknowledged blocks read back wrong in the guest"
[ "$(field max_ms)" -lt 30000 ] || die "a request took $(field max_ms) ms"
grep -aq 'VBACK: DONE failed=0' "$serial" || die "the guest reported a failure"

# Writes went on after the last restart: the last daemon served some.
last=$work/daemon.$n.log
for _ in $(seq 50); do
	grep -q 'session:.*writes=' "$last" && break
	sleep 0.1
done
w=$(sed -n 's/.*session:.* writes=\([0-9]*\).*/\1/p' "$last" | tail -n 1)
[ "${w:-0}" -gt 0 ] || die "no write reached the last daemon"
echo "the last daemon (of $n) served $w writes"
grep -h 'adopted from the in-flight record' "$work"/daemon.*.log | sed 's/^/daemon: /' || true
if grep -h 'error:' "$work"/daemon.*.log | grep -v 'front-end disconnected'; then
	die "a daemon logged errors"
fi

# Every acknowledged block, in the image on the host.
# (None at all is for the check below to report, not for set -e.)
{ grep -a 'VBACK: ACKED' "$serial" || true; } | tr -d '\r' >"$work/acked"
python3 - "$img" "$writers" "$work/acked" <<'PY' || die "the image does not hold every acknowledged block"
import struct, sys
M = (1 << 64) - 1
img, writers, acked = sys.argv[1], int(sys.argv[2]), sys.argv[3]
# blkwrite.c's pattern: u64 i of block b, pass p = b*K1 ^ (i+1)*K2 ^ p*K3,
# little endian; the last acknowledged write of each block counts.
K1, K2, K3 = 0x9E3779B97F4A7C15, 0xD1B54A32D192ED03, 0x94D049BB133111EB
tail = int.from_bytes(b''.join(struct.pack('<Q', ((i + 1) * K2) & M)
                               for i in range(512)), 'little')
total = bad = 0
with open(img, 'rb') as f:
    for line in open(acked):
        w, n, per = (int(x.split('=')[1]) for x in line.split()[2:5])
        for j in range(min(n, per)):
            b, p = w + j * writers, (n - 1 - j) // per
            f.seek(b * 4096)
            got = int.from_bytes(f.read(4096), 'little')
            rep = struct.pack('<Q', ((b * K1) ^ (p * K3)) & M) * 512
            want = tail ^ int.from_bytes(rep, 'little')
            total += 1
            if got != want:
                bad += 1
                if bad <= 5:
                    print('block %d (pass %d) differs in the image' % (b, p))
print('image: %d acknowledged blocks checked, %d wrong' % (total, bad))
sys.exit(1 if bad or not total else 0)
PY

# How long the guest's IO paused across each restart: the pause (stalls
# of all writers merged) that covers the moment of the kill.
{ grep -a 'VBACK: PAUSE' "$serial" || true; } | tr -d '\r' |
	sed 's/^VBACK: //' >"$work/pauses"
python3 - "$work/pauses" "${restarts[@]}" <<'PY'
import sys
pauses = []
for line in open(sys.argv[1]):
    f = dict(x.split('=') for x in line.split()[1:])
    pauses.append((float(f['t']), int(f['ms'])))
for i, t in enumerate(float(x) for x in sys.argv[2:]):
    near = [ms for (s, ms) in pauses if s - 1.0 <= t <= s + ms / 1000.0 + 1.0]
    print('restart %d at t=%.1f s: guest IO paused %s' %
          (i + 1, t, ('%d ms' % max(near)) if near else 'less than 100 ms'))
PY
echo "PASS: restart-e2e ($mode) in $(($(date +%s) - started)) s"
