#!/bin/bash
# SPDX-License-Identifier: MIT
# Resident memory per served disk: vback-disk serving N vhost-user disks in
# one process against qemu-storage-daemon exporting N disks, each disk
# driven at once by its own front-end (tests/vhost-user/bench_vhu_client:
# one ring, queue depth QD, random 4 KiB reads), io_uring on a file in
# tmpfs in both (or vback's null engine against qsd's null-co). A benchmark,
# not a test: it prints figures.
#
# For 1 disk and for DISKS disks it prints each daemon's VmRSS and its Pss
# (smaps_rollup: shared pages divided among the processes that map them,
# so libc's text counts for little) halfway through the run, and then what
# each disk after the first costs: (RSS(DISKS) - RSS(1)) / (DISKS - 1).
# Both include the guest-memory pages the daemon touched (the rings and the
# buffers it wrote), the same for both daemons. Each front-end connects
# CONNECTS times, the last one measured: a daemon serves reconnects and
# guest reboots (every one sets the queues up again), and memory that a
# first connection leaves untouched need not stay so (it did not, before
# vb_calloc_pages(): 1.2 MiB more per queue from the third on).
#
# usage: scripts/bench-rss.sh [BUILD_DIR]
#   env: DISKS (8)   disks of the second run
#        QD (16)     requests in flight per disk
#        SECS (4)    seconds per run
#        CONNECTS (3) connections per front-end, the last one measured
#                    (each one before it: 1 s)
#        ENGINE (file) file or null
#        PIN         "BACKEND_CPUS:CLIENT_CPUS" as in bench-vhost-user.sh
#        VBACK, QSD  the programs (a missing qsd is skipped)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
disks=${DISKS:-8}
qd=${QD:-16}
secs=${SECS:-4}
connects=${CONNECTS:-3}
engine=${ENGINE:-file}
client=$build/tests/vhost-user/bench_vhu_client
vback=${VBACK:-$build/examples/vback-disk/vback-disk}
qsd=${QSD:-$(command -v qemu-storage-daemon || true)}
size_mib=16
on_backend=() on_client=()
if [ -n "${PIN:-}" ]; then
	on_backend=(taskset -c "${PIN%%:*}")
	on_client=(taskset -c "${PIN#*:}")
fi
case $engine in file | null) ;; *) echo "bench-rss: ENGINE=$engine: file or null" >&2; exit 2 ;; esac
[ "$disks" -ge 2 ] || { echo "bench-rss: DISKS must be 2 or more" >&2; exit 2; }
[[ "$connects" =~ ^[1-9][0-9]*$ ]] || { echo "bench-rss: CONNECTS must be 1 or more" >&2; exit 2; }
for p in "$client" "$vback"; do
	[ -x "$p" ] || { echo "bench-rss: $p missing: build first" >&2; exit 1; }
done

work=$(mktemp -d /dev/shm/vback-bench-rss.XXXXXX)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
for i in $(seq 0 $((disks - 1))); do
	head -c "$((size_mib << 20))" /dev/urandom >"$work/img$i"
done

wait_sockets() { # N
	for _ in $(seq 100); do
		local n=0
		for i in $(seq 0 $(($1 - 1))); do [ -S "$work/s$i" ] && n=$((n + 1)); done
		[ "$n" -eq "$1" ] && return 0
		sleep 0.1
	done
	echo "bench-rss: the daemon did not create its sockets" >&2
	exit 1
}

# run WHO N: start the daemon with N disks, drive every disk at once,
# sample halfway ("RSS_KIB PSS_KIB" in $work/result), stop it.
run() {
	local who=$1 n=$2 args=() cpids=() rss pss
	rm -f "$work"/s*
	if [ "$who" = vback ]; then
		for i in $(seq 0 $((n - 1))); do
			args+=(--disk "socket=$work/s$i,image=$work/img$i,queues=1")
		done
		if [ "$engine" = null ]; then
			args+=(--engine null)
		else
			args+=(--engine io_uring)
		fi
		"${on_backend[@]}" "$vback" "${args[@]}" --log-level warn \
			2>>"$work/vback.log" &
	else
		for i in $(seq 0 $((n - 1))); do
			if [ "$engine" = null ]; then
				args+=(--blockdev "driver=null-co,node-name=d$i,size=$((size_mib << 20)),read-zeroes=on")
			else
				args+=(--blockdev "driver=file,node-name=f$i,filename=$work/img$i,aio=io_uring,cache.direct=off"
					--blockdev "driver=raw,node-name=d$i,file=f$i")
			fi
			args+=(--export "type=vhost-user-blk,id=e$i,node-name=d$i,addr.type=unix,addr.path=$work/s$i,writable=on,num-queues=1")
		done
		"${on_backend[@]}" "$qsd" "${args[@]}" 2>>"$work/qsd.log" &
	fi
	pid=$!
	wait_sockets "$n"
	for ((c = 1; c < connects; c++)); do
		for i in $(seq 0 $((n - 1))); do
			"${on_client[@]}" "$client" "$work/s$i" randread 4096 4096 \
				"$qd" 1 "$size_mib" >/dev/null &
			cpids+=($!)
		done
		wait "${cpids[@]}"
		cpids=()
	done
	for i in $(seq 0 $((n - 1))); do
		"${on_client[@]}" "$client" "$work/s$i" randread 4096 4096 "$qd" \
			"$secs" "$size_mib" >/dev/null &
		cpids+=($!)
	done
	sleep "$(awk -v s="$secs" 'BEGIN { print s / 2 }')"
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
	pss=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup")
	wait "${cpids[@]}"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
	echo "$rss $pss" >"$work/result"
}

mib() { awk -v k="$1" 'BEGIN { printf "%.2f", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

echo "bench-rss: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $engine, $disks disks of $size_mib MiB, queue depth $qd, ${secs} s, connection $connects of each front-end measured; PIN ${PIN:-none}" >&2
echo "| disks | vback RSS MiB | vback PSS MiB | qsd RSS MiB | qsd PSS MiB | RSS qsd/vback | PSS qsd/vback |"
echo "|---|---|---|---|---|---|---|"
declare -A r
for n in 1 "$disks"; do
	run vback "$n"
	read -r "r[v$n]" "r[vp$n]" <"$work/result"
	r[q$n]=0 r[qp$n]=0
	if [ -n "$qsd" ]; then
		run qsd "$n"
		read -r "r[q$n]" "r[qp$n]" <"$work/result"
	fi
	echo "| $n | $(mib "${r[v$n]}") | $(mib "${r[vp$n]}") | $(mib "${r[q$n]}") | $(mib "${r[qp$n]}") | $(ratio "${r[q$n]}" "${r[v$n]}") | $(ratio "${r[qp$n]}" "${r[vp$n]}") |"
done
per() { echo $(((r[$1$disks] - r[${1}1]) / (disks - 1))); }
echo "| each disk after the first | $(mib "$(per v)") | $(mib "$(per vp)") | $(mib "$(per q)") | $(mib "$(per qp)") | $(ratio "$(per q)" "$(per v)") | $(ratio "$(per qp)" "$(per vp)") |"
