#!/bin/bash
# SPDX-License-Identifier: MIT
# vback-disk against qemu-storage-daemon's own nbd and rbd block drivers: the
# same vhost-user-blk front-end (tests/netio/bench_vhu_client) drives each
# daemon in turn, both serving the same server - an nbdkit memory export on
# a unix socket, and a one-node Ceph cluster (scripts/ceph-single-node.sh).
# A benchmark, not a test: it prints a table (medians of ROUNDS runs, the two
# daemons alternating inside each round) and the CPU time each daemon spent
# per request (from /proc/PID/stat). The disks are filled with random data
# first, so reads move real bytes.
#
# usage: scripts/bench-netio.sh [BUILD_DIR]
#   env: SECS=seconds per run (3), ROUNDS (3), KINDS ("nbd rbd"),
#        SIZE_MIB=disk size (512), WORKLOADS ("OP BS SEG DEPTH;...")
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
secs=${SECS:-3}
rounds=${ROUNDS:-3}
kinds=${KINDS:-nbd rbd}
size_mib=${SIZE_MIB:-512}
client=$build/tests/vhost-user/bench_vhu_client
vback=$build/examples/vback-disk/vback-disk
qsd=$(command -v qemu-storage-daemon) ||
	{ echo "bench-netio: qemu-storage-daemon missing (scripts/install-deps.sh)" >&2; exit 1; }
for f in "$client" "$vback"; do
	[ -x "$f" ] || { echo "bench-netio: build first: ninja -C $build" >&2; exit 1; }
done

# Workloads: OP BS SEG DEPTH. SEG < BS: the guest's page-sized pieces
# (vectored requests); SEG = BS: one buffer per request.
workloads=(
	"randread 4096 4096 1"
	"randread 4096 4096 32"
	"randwrite 4096 4096 32"
	"read 131072 4096 8"
	"read 131072 131072 8"
	"write 131072 4096 8"
	"write 131072 131072 8"
)
# WORKLOADS="read 131072 4096 8;read 131072 131072 8" runs only those.
if [ -n "${WORKLOADS:-}" ]; then
	IFS=';' read -r -a workloads <<<"$WORKLOADS"
fi

work=$(mktemp -d /var/tmp/vback-bench-netio.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	[ -f "$work/nbd.pid" ] && kill -9 "$(cat "$work/nbd.pid")" 2>/dev/null
	[ -d "$work/ceph" ] && "$top/scripts/ceph-single-node.sh" stop "$work/ceph"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench-netio: $*" >&2; }

wait_socket() {
	for _ in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.05; done
	log "no socket $1"
	exit 1
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run_one NAME PID SOCKET WORKLOAD -> "IOPS MIBS CPU_US_PER_REQ"
run_one() {
	local pid=$2 sock=$3 out c0 c1 iops mibs n hz
	hz=$(getconf CLK_TCK)
	c0=$(cpu_ticks "$pid")
	# shellcheck disable=SC2086 # the workload is words on purpose
	out=$("$client" "$sock" $4 "$secs" "$size_mib")
	c1=$(cpu_ticks "$pid")
	iops=$(sed -n 's/.*: \([0-9]*\) IOPS.*/\1/p' <<<"$out")
	mibs=$(sed -n 's/.* IOPS \([0-9.]*\) MiB.*/\1/p' <<<"$out")
	n=$(sed -n 's/.*(\([0-9]*\) requests.*/\1/p' <<<"$out")
	echo "$iops $mibs $(((c1 - c0) * 1000000 / hz / (n > 0 ? n : 1)))"
}

median() { tr ' ' '\n' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# bench KIND VBACK_SPEC QSD_BLOCKDEV
bench() {
	local kind=$1 spec=$2 blockdev=$3 vsock=$work/vback.sock qsock=$work/qsd.sock
	local vpid qpid
	"$vback" --vhost-user "$vsock" --image "$spec" --queue-size 1024 \
		--log-level warn 2>>"$work/vback.log" &
	vpid=$!
	pids+=("$vpid")
	"$qsd" --blockdev "$blockdev" \
		--export type=vhost-user-blk,id=e0,node-name=disk,addr.type=unix,addr.path="$qsock",writable=on \
		2>>"$work/qsd.log" &
	qpid=$!
	pids+=("$qpid")
	wait_socket "$vsock"
	wait_socket "$qsock"
	for w in "${workloads[@]}"; do
		local vi=() vm=() vc=() qi=() qm=() qc=() r
		for ((r = 0; r < rounds; r++)); do
			read -r a b c <<<"$(run_one vback "$vpid" "$vsock" "$w")"
			vi+=("$a"); vm+=("$b"); vc+=("$c")
			read -r a b c <<<"$(run_one qsd "$qpid" "$qsock" "$w")"
			qi+=("$a"); qm+=("$b"); qc+=("$c")
		done
		local v q
		v=$(echo "${vi[*]}" | median)
		q=$(echo "${qi[*]}" | median)
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$kind" \
			"$(awk '{ printf "%s %dK/%dK qd%d", $1, $2 / 1024, $3 / 1024, $4 }' <<<"$w")" \
			"$v" "$(echo "${vm[*]}" | median)" "$(echo "${vc[*]}" | median)" \
			"$q" "$(echo "${qm[*]}" | median)" "$(echo "${qc[*]}" | median)" \
			"$(awk -v a="$v" -v b="$q" 'BEGIN { printf "%.2f", b ? a / b : 0 }')"
	done
	kill "$vpid" "$qpid"
	wait "$vpid" "$qpid" 2>/dev/null || true
	rm -f "$vsock" "$qsock"
}

echo "bench-netio: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); ${secs} s per run, median of $rounds; disk ${size_mib} MiB of random data" >&2
echo "| disk | workload | vback IOPS | vback MiB/s | vback CPU us/req | qsd IOPS | qsd MiB/s | qsd CPU us/req | vback/qsd |"
echo "|---|---|---|---|---|---|---|---|---|"
for kind in $kinds; do
	case $kind in
	nbd)
		if ! command -v nbdkit >/dev/null || ! command -v nbdcopy >/dev/null; then
			log "nbdkit/nbdcopy missing"
			exit 1
		fi
		nbdkit -U "$work/nbd.sock" -P "$work/nbd.pid" memory "${size_mib}M"
		wait_socket "$work/nbd.sock"
		# Random data, so reads are not holes.
		nbdcopy -- [ nbdkit random "${size_mib}M" ] "nbd+unix:///?socket=$work/nbd.sock"
		bench "nbd (nbdkit memory)" "nbd+unix:///?socket=$work/nbd.sock" \
			"driver=nbd,node-name=disk,server.type=unix,server.path=$work/nbd.sock"
		kill "$(cat "$work/nbd.pid")"
		rm -f "$work/nbd.pid"
		;;
	rbd)
		# Room for both images and then some: a full OSD blocks writes.
		CEPH_MEMSTORE_BYTES=$(((4 * size_mib + 512) << 20)) \
			"$top/scripts/ceph-single-node.sh" start "$work/ceph" >/dev/null
		conf=$work/ceph/ceph.conf
		CEPH_CONF=$conf ceph osd pool create vback 8 >/dev/null 2>&1
		rbd -c "$conf" pool init vback
		head -c "$((size_mib << 20))" /dev/urandom >"$work/fill.img"
		# One image each, same data: no exclusive-lock ping-pong.
		rbd -c "$conf" import --no-progress "$work/fill.img" vback/vb
		rbd -c "$conf" import --no-progress "$work/fill.img" vback/qsd
		rm -f "$work/fill.img"
		# qsd's image name is fixed on its command line; vback's spec
		# names the other one.
		bench "rbd (1 OSD, memstore)" "rbd:vback/vb:conf=$conf" \
			"driver=rbd,node-name=disk,pool=vback,image=qsd,conf=$conf"
		"$top/scripts/ceph-single-node.sh" stop "$work/ceph"
		;;
	*) log "unknown kind $kind"; exit 2 ;;
	esac
done
