#!/bin/bash
# SPDX-License-Identifier: MIT
# Many disks in one vback-disk process, and its control socket, with a
# real guest: three disks (a --vhost-user/--image pair, a read-only --disk
# with a name and a serial, and a spare pair), two of them used by one
# QEMU guest (tests/e2e/guest/multi.sh). While the guest works:
#   - a hostile front-end keeps connecting to the spare disk and sending
#     garbage: it loses its connection each time, nothing else notices;
#   - control clients list the disks, add a fourth disk and remove it,
#     change the log level, and resize the guest's disk (the guest sees
#     the new size);
# afterwards the counters in the list must add up (both guest disks busy
# on both queues, the bad messages counted on the spare), the image must
# hold what the guest wrote, and SIGTERM must leave nothing behind.
#
# Usage: multi-disk-e2e.sh PATH/TO/vback-disk
# Exit 77 (skip) when the machine cannot boot the guest.
set -euo pipefail
vback_disk=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
. "$here/qemu.sh"
# shellcheck source-path=SCRIPTDIR
. "$here/image.sh"
# shellcheck source-path=SCRIPTDIR
. "$here/run-guest.sh"
qemu=${QEMU:-qemu-system-x86_64}
started=$(date +%s)

skip() { echo "SKIP: $*"; exit 77; }
die() {
	echo "FAIL: $*"
	[ -f "$work/daemon.log" ] && { echo "--- daemon log"; tail -n 60 "$work/daemon.log"; }
	exit 1
}

command -v "$qemu" >/dev/null || skip "$qemu not installed"
"$qemu" -device help 2>/dev/null | grep -q '"vhost-user-blk-pci"' ||
	skip "$qemu has no vhost-user-blk-pci"
command -v python3 >/dev/null || skip "python3 not installed"
vback_build_guest

work=$(mktemp -d "${TMPDIR:-/tmp}/vback-multi.XXXXXX")
E2E_DAEMON_PID=
hostile=
cleanup() {
	vback_qemu_stop
	[ -n "$hostile" ] && kill "$hostile" 2>/dev/null
	[ -n "$E2E_DAEMON_PID" ] && kill -9 "$E2E_DAEMON_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
ctl() { "$vback_disk" ctl "$work/ctl.sock" "$@"; }

truncate -s 64M "$work/rw.img"
e2e_make_image "$work/ro.img" # sets E2E_PATTERN
truncate -s 8M "$work/spare.img" "$work/extra.img"
"$vback_disk" --vhost-user "$work/rw.sock" --image "$work/rw.img" \
	--disk "socket=$work/ro.sock,image=$work/ro.img,name=data,ro,serial=VBACK-RO" \
	--vhost-user "$work/spare.sock" --image "$work/spare.img" \
	--control "$work/ctl.sock" 2>"$work/daemon.log" &
E2E_DAEMON_PID=$!
for _ in $(seq 50); do
	[ -S "$work/ctl.sock" ] && break
	kill -0 "$E2E_DAEMON_PID" 2>/dev/null || die "vback-disk exited at start"
	sleep 0.1
done
[ -S "$work/ctl.sock" ] || die "no control socket after 5 s"
for s in rw ro spare; do [ -S "$work/$s.sock" ] || die "no socket $s.sock"; done

# The hostile front-end: garbage, unknown requests, a memory table
# without its fd, half a header, over and over, on the spare's socket.
python3 - "$work/spare.sock" >"$work/hostile.log" 2>&1 <<'PY' &
import os, socket, struct, sys, time
path = sys.argv[1]
attacks = [
    os.urandom(64),
    struct.pack('<III', 999, 1, 0),
    struct.pack('<III', 5, 1, 8) + b'\0' * 8,      # SET_MEM_TABLE, no fd
    struct.pack('<III', 1, 1, 0x10000000),         # absurd size
    b'\x01\x00',                                   # half a header
]
n = 0
deadline = time.time() + 60
while time.time() < deadline:
    for a in attacks:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            s.sendall(a)
            time.sleep(0.05)
            s.close()
            n += 1
        except OSError as e:
            print('attack:', e)
    time.sleep(0.5)
    print('attacks:', n, flush=True)
PY
hostile=$!

resized=0
extra_done=0
last_list=0
host_side() {
	if [ $resized = 0 ] && grep -aqs 'VBACK: RESIZE-REQUEST' "$work/serial.log"; then
		truncate -s 96M "$work/rw.img"
		ctl resize disk0 >"$work/resize.out" || die "control: resize failed"
		resized=1
	fi
	# At once: the guest boots meanwhile (and may be quick).
	if [ $extra_done = 0 ]; then
		ctl add "socket=$work/extra.sock" "image=$work/extra.img" name=extra >/dev/null ||
			die "control: add failed"
		[ -S "$work/extra.sock" ] || die "control: add made no socket"
		ctl log-level level=debug >/dev/null || die "control: log-level failed"
		ctl log-level level=info >/dev/null || die "control: log-level failed"
		ctl remove extra >/dev/null || die "control: remove failed"
		[ -e "$work/extra.sock" ] && die "control: remove left the socket"
		extra_done=1
	fi
	if [ "$(date +%s)" -ge $((last_list + 2)) ]; then
		ctl list >/dev/null || die "control: list failed while the guest runs"
		last_list=$(date +%s)
	fi
}

vback_qemu_cmd "$work/rw.sock" "$vmlinux" "$initramfs" 2 default \
	"file:$work/serial.log" vback.script=multi vback.wait=vdb \
	"vback.pattern=$E2E_PATTERN" vback.roserial=VBACK-RO \
	"vback.resized=$((96 * 2048))"
# shellcheck disable=SC2054 # QEMU's commas
QEMU_CMD+=(-chardev "socket,id=vu1,path=$work/ro.sock"
	-device vhost-user-blk-pci,chardev=vu1)
echo "\$ ${QEMU_CMD[*]}"
e2e_run_guest "$work/serial.log" "$work/qemu.log" 90 host_side || die "$E2E_WHY"
echo "--- guest output"
grep -a 'VBACK:' "$work/serial.log" | tr -d '\r'
[ $resized = 1 ] || die "the guest never asked for the resize"
[ $extra_done = 1 ] || die "the guest finished before the add/remove round"
e2e_check_sums "$work/serial.log" "$work/rw.img" ||
	die "the image does not hold what the guest wrote"
kill "$hostile" 2>/dev/null || true
wait "$hostile" 2>/dev/null || true
hostile=
tail -n 1 "$work/hostile.log" | sed 's/^/hostile front-end: /'

# The counters, as a monitoring client sees them.
sleep 0.5
ctl list >"$work/list.json" || die "control: list failed"
python3 - "$work/list.json" <<'PY' || die "the list does not add up"
import json, sys
d = {x['name']: x for x in json.load(open(sys.argv[1]))['disks']}
fails = []
def want(cond, what):
    print(('ok: ' if cond else 'FAIL: ') + what)
    if not cond:
        fails.append(what)
want(sorted(d) == ['data', 'disk0', 'disk2'], 'disks %s' % sorted(d))
rw, ro, spare = d['disk0'], d['data'], d['disk2']
want(rw['state'] == 'listening' and rw['front_end']['connections'] == 1,
     'disk0: the guest came and went')
want(rw['totals']['writes'] > 0 and rw['totals']['bytes_written'] >= 1 << 20,
     'disk0: writes %d, %d bytes' % (rw['totals']['writes'], rw['totals']['bytes_written']))
want(rw['totals']['io_errors'] == 0, 'disk0: no IO errors')
want(rw['size'] == 96 << 20, 'disk0: resized to 96 MiB')
want(len(rw['queues']) == 2 and all(q['reads'] + q['writes'] > 0 for q in rw['queues']),
     'disk0: both queues carried IO')
want(all(sum(b['count'] for b in q['latency']) ==
         sum(q[k] for k in ('reads', 'writes', 'flushes', 'discards',
                            'write_zeroes', 'get_ids', 'unsupported', 'io_errors'))
         for q in rw['queues']), 'disk0: latency histograms count every request')
want(ro['read_only'] and ro['totals']['reads'] > 0 and ro['totals']['writes'] == 0,
     'data: read-only, read, never written')
want(spare['front_end']['bad_messages'] >= 5 and spare['state'] == 'listening',
     'spare: %d bad messages, listening again' % spare['front_end']['bad_messages'])
sys.exit(1 if fails else 0)
PY
grep -q 'resized to 100663296' "$work/daemon.log" || die "no resize in the daemon log"

kill -TERM "$E2E_DAEMON_PID"
rc=0
wait "$E2E_DAEMON_PID" || rc=$?
E2E_DAEMON_PID=
[ $rc -eq 0 ] || die "vback-disk exited with $rc after SIGTERM"
for s in rw ro spare ctl; do [ -e "$work/$s.sock" ] && die "$s.sock left behind"; done
# Errors only for the hostile front-end's disk.
others=$(grep 'error:' "$work/daemon.log" | grep -v 'error: disk2: ' || true)
[ -z "$others" ] || { echo "$others"; die "errors for other disks than the hostile front-end's"; }
echo "PASS: 3 disks in one process, a hostile front-end, the control socket, in $(($(date +%s) - started)) s"
