#!/bin/bash
# SPDX-License-Identifier: MIT
# A throw-away one-node Ceph cluster for tests and benchmarks, from Debian's
# packages (ceph-mon, ceph-osd, ceph-common): one monitor and one OSD on
# 127.0.0.1, no authentication, pools of one replica, data in RAM.
#
#   scripts/ceph-single-node.sh start DIR   # ~10 s; prints CEPH_CONF=DIR/ceph.conf
#   scripts/ceph-single-node.sh stop DIR    # stops what start started, removes DIR
#
# Then, e.g.:
#   export CEPH_CONF=DIR/ceph.conf
#   ceph osd pool create vback 8 && rbd pool init vback
#   rbd create --size 64M vback/disk
#   vback-disk --vhost-user /tmp/s --image rbd:vback/disk:conf=$CEPH_CONF
#
# The recipe, for a reader who wants it by hand:
#  1. ceph.conf: `mon host` on 127.0.0.1 and a free port, `auth_* = none`,
#     `osd pool default size = 1` and `osd crush chooseleaf type = 0` (one
#     host holds every replica), run/log/data paths under DIR, the OSD on
#     `memstore` (no disk; `memstore device bytes` caps it).
#  2. monmaptool --create, ceph-mon --mkfs, start ceph-mon.
#  3. `ceph osd create` gives id 0; ceph-osd --mkfs; start ceph-osd.
#  4. Wait until `ceph osd stat` says the OSD is up and in.
# No manager daemon: pools, images and IO do not need one (`ceph -s` warns).
# About 650 MB of RSS with the default 1 GiB memstore; root not needed.
#
# Environment: CEPH_MEMSTORE_BYTES (default 1073741824),
# CEPH_START_TIMEOUT seconds (default 60).
set -euo pipefail

usage() {
	echo "usage: $0 start|stop DIR" >&2
	exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

log() { echo "ceph-single-node: $*" >&2; }

# The daemons fork into the background; whoever reaps them may do so late,
# so a zombie counts as stopped.
alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# Kill the daemons whose pid files are in DIR/run, then wait for them.
stop_daemons() {
	local pids=() pid f
	for f in "$dir"/run/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null) || continue
		[ -n "$pid" ] && alive "$pid" && pids+=("$pid")
	done
	[ ${#pids[@]} -eq 0 ] && return 0
	kill -TERM "${pids[@]}" 2>/dev/null || true
	for _ in $(seq 50); do
		local running=0
		for pid in "${pids[@]}"; do
			alive "$pid" && running=1
		done
		[ $running = 0 ] && return 0
		sleep 0.1
	done
	kill -KILL "${pids[@]}" 2>/dev/null || true
}

case $cmd in
stop)
	[ -d "$dir" ] || exit 0
	stop_daemons
	rm -rf "$dir"
	exit 0
	;;
start) ;;
*) usage ;;
esac

for tool in ceph-mon ceph-osd ceph monmaptool python3; do
	command -v "$tool" >/dev/null ||
		{ log "$tool not installed (scripts/install-deps.sh)"; exit 1; }
done
started=$(date +%s)
[ -e "$dir" ] && { log "$dir exists; choose a new directory"; exit 1; }
mkdir -p "$dir"/{run,log,mon,osd}
dir=$(cd "$dir" && pwd)
# A failed start leaves nothing running.
on_exit() {
	local rc=$?
	if [ $rc -ne 0 ]; then
		log "start failed; logs in $dir/log"
		stop_daemons
	fi
}
trap on_exit EXIT

# A free loopback port for the monitor (msgr2).
port=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
fsid=$(cat /proc/sys/kernel/random/uuid)
conf=$dir/ceph.conf
cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$port
mon initial members = a
public network = 127.0.0.0/8
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = false
osd pool default size = 1
osd pool default min size = 1
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
crash dir = $dir/log
keyring = /dev/null

[client]
# Every client process its own admin socket and log (tests run several).
admin socket = $dir/run/\$name.\$pid.asok
log file = $dir/log/\$name.\$pid.log

[mon]
mon data = $dir/mon/\$name

[osd]
osd data = $dir/osd/\$name
osd objectstore = memstore
memstore device bytes = ${CEPH_MEMSTORE_BYTES:-1073741824}
osd max object name len = 256
osd max object namespace len = 64
# A small box: few threads, no scrubbing during tests.
osd op num shards = 1
osd op num threads per shard = 2
osd scrub during recovery = false
osd scrub begin hour = 0
osd scrub end hour = 0
EOF

log "monitor on 127.0.0.1:$port, data in $dir"
monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$port]" \
	"$dir/monmap" >"$dir/log/monmaptool.log" 2>&1
ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" \
	>"$dir/log/mon-mkfs.log" 2>&1
ceph-mon -c "$conf" -i a 2>>"$dir/log/mon-start.log"
export CEPH_CONF=$conf
deadline=$(($(date +%s) + ${CEPH_START_TIMEOUT:-60}))
until ceph --connect-timeout 5 mon stat >/dev/null 2>&1; do
	[ "$(date +%s)" -lt "$deadline" ] || { log "monitor did not answer"; exit 1; }
	sleep 0.2
done

id=$(ceph osd create)
mkdir -p "$dir/osd/osd.$id"
ceph-osd -c "$conf" -i "$id" --mkfs >"$dir/log/osd-mkfs.log" 2>&1
ceph-osd -c "$conf" -i "$id" 2>>"$dir/log/osd-start.log"
until ceph osd stat 2>/dev/null | grep -q '1 up.*1 in'; do
	[ "$(date +%s)" -lt "$deadline" ] || { log "OSD did not come up"; exit 1; }
	sleep 0.2
done
log "ready in $(($(date +%s) - started)) s"
echo "CEPH_CONF=$conf"
