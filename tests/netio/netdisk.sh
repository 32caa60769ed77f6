#!/bin/bash
# SPDX-License-Identifier: MIT
# Real servers for the network engines' tests, on loopback and unix sockets
# only. One KIND of server per work directory DIR:
#
#   nbdkit-memory  one `nbdkit memory` per disk, behind nbdkit's error
#                  filter (switched on and off by a trigger file)
#   nbdkit-file    one `nbdkit file dir=DIR/exports` for every disk (export
#                  name = file name): data survives a server restart
#   qemu-nbd       one `qemu-nbd` per disk, on a raw file
#   rbd            a one-node Ceph cluster (scripts/ceph-single-node.sh),
#                  pool "vback", one image per disk
#
#   netdisk.sh KIND DIR setup             start what every disk shares
#   netdisk.sh KIND DIR teardown          stop everything DIR started
#   netdisk.sh KIND DIR create BYTES      prints "SPEC FILE" (FILE: the raw
#                                         file behind the export, or -)
#   netdisk.sh KIND DIR destroy SPEC
#   netdisk.sh KIND DIR fail SPEC on|off  inject errors (exit 77: cannot)
#   netdisk.sh KIND DIR resize SPEC BYTES (exit 77: this server cannot)
#   netdisk.sh KIND DIR server stop|start|pause|resume
#                                         kill -9 / restart / SIGSTOP /
#                                         SIGCONT the shared server (nbdkit-
#                                         file; rbd: pause/resume the OSD)
#   netdisk.sh KIND DIR export SPEC FILE  copy the disk out through the
#                                         server (nbdcopy, rbd export)
#   netdisk.sh rbd DIR snap SPEC NAME     snapshot the image
#
# The test programs call it through $VBACK_TEST_NETDISK ("netdisk.sh KIND
# DIR"); tests/netio/with-server.sh sets that up and tears it down.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
kind=$1
dir=$2
cmd=$3
shift 3

die() {
	echo "netdisk: $*" >&2
	exit 1
}

# Wait until a unix socket accepts (nbdkit/qemu-nbd fork once listening,
# but be sure).
wait_socket() {
	for _ in $(seq 100); do
		[ -S "$1" ] && return 0
		sleep 0.05
	done
	die "no socket $1 after 5 s"
}

# Servers that daemonized are reaped by whoever is PID 1, maybe late: a
# zombie counts as gone.
alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

kill_pidfile() { # PIDFILE [SIGNAL]
	local pid
	[ -f "$1" ] || return 0
	pid=$(cat "$1")
	kill "-${2:-TERM}" "$pid" 2>/dev/null || true
	if [ "${2:-TERM}" = TERM ] || [ "${2:-TERM}" = KILL ]; then
		for _ in $(seq 100); do
			alive "$pid" || break
			sleep 0.02
		done
		kill -KILL "$pid" 2>/dev/null || true
		rm -f "$1"
	fi
}

next_id() {
	local n
	n=$(cat "$dir/seq" 2>/dev/null || echo 0)
	echo $((n + 1)) >"$dir/seq"
	echo "$n"
}

# The disk number in a spec: ".../diskN?..." or "rbd:vback/diskN:...".
disk_of() { sed -n 's/.*disk\([0-9]*\).*/\1/p' <<<"$1"; }

nbdkit_file_start() {
	nbdkit -U "$dir/file.sock" -P "$dir/file.pid" file dir="$dir/exports" \
		>>"$dir/nbdkit-file.log" 2>&1
	wait_socket "$dir/file.sock"
	for _ in $(seq 100); do
		[ -s "$dir/file.pid" ] && return 0
		sleep 0.05
	done
	die "no pid file from nbdkit"
}

# SIGSTOP/SIGCONT the shared server and wait until every thread is
# stopped (or running again), so the caller's next request meets it so.
signal_server() { # PIDFILE STOP|CONT
	local pid t st want=T
	[ -s "$1" ] || die "no server to $2 ($1)"
	pid=$(cat "$1")
	[ "$2" = CONT ] && want=
	kill "-$2" "$pid"
	for _ in $(seq 200); do
		st=ok
		for t in /proc/"$pid"/task/*/stat; do
			s=$(awk '{ print $3 }' "$t" 2>/dev/null) || continue
			if [ -n "$want" ]; then
				[ "$s" = T ] || st=
			else
				[ "$s" != T ] || st=
			fi
		done
		[ -n "$st" ] && return 0
		sleep 0.01
	done
	die "server $pid did not $2"
}

ceph_conf() { echo "$dir/ceph/ceph.conf"; }

case $kind:$cmd in
*:setup)
	mkdir -p "$dir"
	case $kind in
	nbdkit-file)
		mkdir -p "$dir/exports"
		nbdkit_file_start
		;;
	rbd)
		"$top/scripts/ceph-single-node.sh" start "$dir/ceph" >/dev/null
		export CEPH_CONF
		CEPH_CONF=$(ceph_conf)
		ceph osd pool create vback 8 >/dev/null 2>&1
		rbd pool init vback
		;;
	esac
	;;
*:teardown)
	for p in "$dir"/*.pid; do
		[ -f "$p" ] && kill_pidfile "$p" KILL
	done
	if [ -d "$dir/ceph" ]; then
		# A paused OSD must be resumed before it can be stopped (an
		# OSD already gone must not keep the cluster from stopping).
		kill_pidfile "$dir/ceph/run/osd.0.pid" CONT
		"$top/scripts/ceph-single-node.sh" stop "$dir/ceph"
	fi
	;;

nbdkit-memory:create)
	n=$(next_id)
	# Errors (EIO) while DIR/diskN.fail exists.
	nbdkit -U "$dir/disk$n.sock" -P "$dir/disk$n.pid" \
		--filter=error memory "$1" error=EIO error-rate=100% \
		error-file="$dir/disk$n.fail" >>"$dir/nbdkit-memory.log" 2>&1
	wait_socket "$dir/disk$n.sock"
	echo "nbd+unix:///?socket=$dir/disk$n.sock -"
	;;
nbdkit-memory:destroy)
	n=$(disk_of "$1")
	kill_pidfile "$dir/disk$n.pid"
	rm -f "$dir/disk$n.sock" "$dir/disk$n.fail"
	;;
nbdkit-memory:fail)
	n=$(disk_of "$1")
	if [ "$2" = on ]; then touch "$dir/disk$n.fail"; else rm -f "$dir/disk$n.fail"; fi
	;;

nbdkit-file:create)
	n=$(next_id)
	truncate -s "$1" "$dir/exports/disk$n"
	echo "nbd+unix:///disk$n?socket=$dir/file.sock $dir/exports/disk$n"
	;;
nbdkit-file:destroy)
	rm -f "$dir/exports/disk$(disk_of "$1")"
	;;
nbdkit-file:server)
	case $1 in
	stop) kill_pidfile "$dir/file.pid" KILL; rm -f "$dir/file.sock" ;;
	start) nbdkit_file_start ;;
	pause) signal_server "$dir/file.pid" STOP ;;
	resume) signal_server "$dir/file.pid" CONT ;;
	*) die "server stop|start|pause|resume" ;;
	esac
	;;

qemu-nbd:create)
	n=$(next_id)
	truncate -s "$1" "$dir/disk$n.img"
	# --discard=unmap: trim punches holes (the default ignores it).
	qemu-nbd --fork --persistent --shared=8 --discard=unmap -f raw \
		-k "$dir/disk$n.sock" --pid-file="$dir/disk$n.pid" \
		"$dir/disk$n.img" 2>>"$dir/qemu-nbd.log"
	wait_socket "$dir/disk$n.sock"
	echo "nbd+unix:///?socket=$dir/disk$n.sock $dir/disk$n.img"
	;;
qemu-nbd:destroy)
	n=$(disk_of "$1")
	kill_pidfile "$dir/disk$n.pid"
	rm -f "$dir/disk$n.sock" "$dir/disk$n.img"
	;;

rbd:create)
	n=$(next_id)
	rbd -c "$(ceph_conf)" create --size "$1B" "vback/disk$n"
	echo "rbd:vback/disk$n:conf=$(ceph_conf) -"
	;;
rbd:destroy)
	rbd -c "$(ceph_conf)" rm --no-progress "vback/disk$(disk_of "$1")" >/dev/null 2>&1
	;;
rbd:resize)
	rbd -c "$(ceph_conf)" resize --no-progress --allow-shrink --size "$2B" \
		"vback/disk$(disk_of "$1")"
	;;
rbd:snap)
	rbd -c "$(ceph_conf)" snap create --no-progress "vback/disk$(disk_of "$1")@$2"
	;;
rbd:server)
	case $1 in
	pause) signal_server "$dir/ceph/run/osd.0.pid" STOP ;;
	resume) signal_server "$dir/ceph/run/osd.0.pid" CONT ;;
	*) exit 77 ;;
	esac
	;;

*nbd*:export)
	# The socket (and export name) of the spec, read back through the
	# server.
	nbdcopy "$1" "$2"
	;;
rbd:export)
	rm -f "$2"
	rbd -c "$(ceph_conf)" export --no-progress "vback/disk$(disk_of "$1")" "$2"
	;;

*:fail | *:resize | *:server)
	exit 77 # this kind of server cannot
	;;
*)
	die "unknown: $kind $cmd"
	;;
esac
