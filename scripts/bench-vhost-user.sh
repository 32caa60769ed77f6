#!/bin/bash
# SPDX-License-Identifier: MIT
# vback-disk against qemu-storage-daemon and against fio, side by side, in
# one invocation: the same vhost-user-blk front-end
# (tests/vhost-user/bench_vhu_client, one thread per ring, Linux's
# notification behaviour, EVENT_IDX) drives each daemon in turn on the same
# file in tmpfs (io_uring in both), and on nothing at all (vback's null
# engine against qsd's null-co, reads returning zeroes in both); fio's own
# io_uring engine reads the same file straight, which is the kernel's
# floor. A benchmark, not a test: it prints figures.
#
# For each engine, ring count and queue depth, ROUNDS rounds run the
# backends one after the other, alternating the order from round to round;
# the table has the median of the rounds and, after the +-, the spread
# (max - min) / median in percent. CPU per IO is the backend process's
# utime + stime (/proc/PID/stat, every thread) over the run divided by the
# requests done; fio's is measured the same way, the whole process
# (io-wq workers included), and its own usr + sys figure, which leaves the
# workers out, is in the last fio column. Latency is
# from making a request available to seeing it used, per request (fio:
# completion latency). RSS is the daemon's VmRSS halfway through the run
# (it includes the pages of guest memory it touched, the same for both).
#
# usage: scripts/bench-vhost-user.sh [BUILD_DIR]
#   env: SECS (5)          seconds per run
#        ROUNDS (3)        rounds (median)
#        DEPTHS ("1 16 64") queue depths (requests in flight per ring)
#        QUEUES ("1 2")    rings (client threads; fio jobs)
#        ENGINES ("file null")
#        SIZE_MIB (256)    the file, filled with random data
#        DIR (/dev/shm)    where the file lives (tmpfs)
#        OP (randread)     read, randread, write or randwrite
#        VBACK_ARGS        more vback-disk options (e.g. "--poll-us 0")
#        VBACK (BUILD_DIR/examples/vback-disk/vback-disk), QSD, FIO:
#                          the programs; a missing reference is skipped
#                          with a message and its columns stay empty
#        VERBOSE=1         each run's raw line on stderr
#        PIN (none)        "BACKEND_CPUS:CLIENT_CPUS", taskset lists: the
#                          daemons run on the first, the client and fio on
#                          the second (e.g. "0:1" apart, "0:0" sharing a
#                          core). Unpinned, the scheduler's placement
#                          changes from run to run, and with it the
#                          figures: see docs/daemon.md, "Placement".
#
# Before the table, tests/vhost-user/bench_floor prints this machine's floor:
# a back-end's CPU per request for a kick and a call alone, sleeping or
# yielding between requests, and the CPU a short sleep costs (docs/daemon.md,
# "Performance").
#
# Scaling on a bigger machine: QUEUES="1 2 4 8" DEPTHS="16 64", and
# VBACK_ARGS="--threads N" to pin the thread count (the default is one
# thread per ring up to the CPUs the daemon may run on). Leave a core or two for the
# client threads, which compete with the backends on a small machine.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
secs=${SECS:-5}
rounds=${ROUNDS:-3}
depths=${DEPTHS:-1 16 64}
queues=${QUEUES:-1 2}
engines=${ENGINES:-file null}
size_mib=${SIZE_MIB:-256}
dir=${DIR:-/dev/shm}
op=${OP:-randread}
client=$build/tests/vhost-user/bench_vhu_client
floor=$build/tests/vhost-user/bench_floor
vback=${VBACK:-$build/examples/vback-disk/vback-disk}
qsd=${QSD:-$(command -v qemu-storage-daemon || true)}
fio=${FIO:-$(command -v fio || true)}
read -r -a vback_args <<<"${VBACK_ARGS:-}"
on_backend=() on_client=()
if [ -n "${PIN:-}" ]; then
	case $PIN in
	*:*) ;;
	*) echo "bench-vhost-user: PIN=$PIN: want BACKEND_CPUS:CLIENT_CPUS" >&2; exit 2 ;;
	esac
	on_backend=(taskset -c "${PIN%%:*}")
	on_client=(taskset -c "${PIN#*:}")
fi

log() { echo "bench-vhost-user: $*" >&2; }

for f in "$client" "$vback"; do
	[ -x "$f" ] || { log "build first: ninja -C $build ($f missing)"; exit 1; }
done
if [ -z "$qsd" ] || [ ! -x "$qsd" ]; then
	log "qemu-storage-daemon not found (package qemu-system-common, scripts/install-deps.sh): skipping it"
	qsd=""
fi
if [ -z "$fio" ] || [ ! -x "$fio" ]; then
	log "fio not found (package fio, scripts/install-deps.sh): skipping it"
	fio=""
fi
command -v python3 >/dev/null || { log "python3 missing (fio's JSON)"; fio=""; }
maxq=1
for q in $queues; do [ "$q" -gt "$maxq" ] && maxq=$q; done

work=$(mktemp -d /tmp/vback-bench-vhu.XXXXXX)
img=$(mktemp "$dir/vback-bench-vhu.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$work"
	rm -f "$img"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_socket() {
	for _ in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.05; done
	log "no socket $1 (see $work/*.log)"
	cat "$work"/*.log >&2 || true
	exit 1
}

hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# run_client PID SOCKET Q QD -> "IOPS CPU_US_PER_IO P50_US P99_US RSS_KIB"
run_client() {
	local pid=$1 sock=$2 q=$3 qd=$4 out c0 c1 n rss cpid
	c0=$(cpu_ticks "$pid")
	"${on_client[@]}" "$client" -q "$q" "$sock" "$op" 4096 4096 "$qd" \
		"$secs" "$size_mib" >"$work/client.out" &
	cpid=$!
	# Resident memory while it serves (rings and guest memory mapped).
	sleep "$(awk -v s="$secs" 'BEGIN { print s / 2 }')"
	rss=$(rss_kib "$pid")
	wait "$cpid"
	out=$(cat "$work/client.out")
	c1=$(cpu_ticks "$pid")
	[ -n "${VERBOSE:-}" ] && log "$out"
	n=$(sed -n 's/.*(\([0-9]*\) requests.*/\1/p' <<<"$out")
	awk -v out="$out" -v c="$((c1 - c0))" -v hz="$hz" -v n="$n" -v rss="$rss" 'BEGIN {
		match(out, /: [0-9]+ IOPS/); iops = substr(out, RSTART + 2, RLENGTH - 7)
		match(out, /p50 [0-9.]+/); p50 = substr(out, RSTART + 4, RLENGTH - 4)
		match(out, /p99 [0-9.]+/); p99 = substr(out, RSTART + 4, RLENGTH - 4)
		printf "%s %.3f %s %s %s\n", iops, n ? c / hz * 1e6 / n : 0, p50, p99, rss }'
}

# run_fio Q QD -> "IOPS CPU_US_PER_IO P50_US P99_US OWN_CPU_US_PER_IO"
# CPU is the whole fio process's (its jobs are threads: --thread), as for
# the daemons: io_uring hands reads it cannot do without blocking (tmpfs
# page-cache reads on recent kernels) to io-wq worker threads of the
# process, which fio's own usr/sys figures (RUSAGE_THREAD) leave out.
run_fio() {
	local q=$1 qd=$2 cpu
	cpu=$( { TIMEFORMAT='%U %S'; time "${on_client[@]}" "$fio" --thread --name=floor \
		--filename="$img" --ioengine=io_uring --rw="$op" --bs=4k \
		--iodepth="$qd" --numjobs="$q" --size="${size_mib}M" \
		--time_based --runtime="$secs" --invalidate=0 \
		--group_reporting --output-format=json >"$work/fio.json" \
		2>/dev/null; } 2>&1)
	[ -n "${VERBOSE:-}" ] && log "fio q=$q qd=$qd: cpu $cpu s"
	python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
d = j["read"] if j["read"]["io_bytes"] else j["write"]
ios = d["total_ios"]
own = (j["usr_cpu"] + j["sys_cpu"]) / 100.0 * j["job_runtime"] / 1000.0
cpu = sum(float(x) for x in sys.argv[2].split())
pc = d["clat_ns"]["percentile"]
print("%.0f %.3f %.1f %.1f %.3f" % (d["iops"], cpu * 1e6 / ios if ios else 0,
      pc["50.000000"] / 1e3, pc["99.000000"] / 1e3,
      own * 1e6 / ios if ios else 0))' "$work/fio.json" "$cpu"
}

# Start the daemons for ENGINE; sets vpid, qpid, vsock, qsock.
start_daemons() {
	local engine=$1
	vsock=$work/vback.sock qsock=$work/qsd.sock
	local vengine=(--engine io_uring)
	[ "$engine" = null ] && vengine=(--engine null)
	"${on_backend[@]}" "$vback" --vhost-user "$vsock" --image "$img" "${vengine[@]}" \
		--queues "$maxq" --log-level warn \
		"${vback_args[@]}" 2>>"$work/vback.log" &
	vpid=$!
	pids+=("$vpid")
	qpid=""
	if [ -n "$qsd" ]; then
		local bdev
		if [ "$engine" = null ]; then
			bdev=(--blockdev "driver=null-co,node-name=disk,size=$((size_mib << 20)),read-zeroes=on")
		else
			# locking=off: vback-disk holds the file's lock (both serve
			# the same bytes; the client only reads, or writes the
			# same pattern).
			local file="driver=file,node-name=file,filename=$img"
			file+=",aio=io_uring,cache.direct=off,locking=off"
			bdev=(--blockdev "$file" --blockdev "driver=raw,node-name=disk,file=file")
		fi
		"${on_backend[@]}" "$qsd" "${bdev[@]}" \
			--export "type=vhost-user-blk,id=e0,node-name=disk,addr.type=unix,addr.path=$qsock,writable=on,num-queues=$maxq" \
			2>>"$work/qsd.log" &
		qpid=$!
		pids+=("$qpid")
		wait_socket "$qsock"
	fi
	wait_socket "$vsock"
	# Warm up: first mappings, ring allocations, the page cache.
	"$client" "$vsock" "$op" 4096 4096 16 1 "$size_mib" >/dev/null
	[ -n "$qpid" ] && "$client" "$qsock" "$op" 4096 4096 16 1 "$size_mib" >/dev/null
	return 0
}

stop_daemons() {
	kill "$vpid" ${qpid:+"$qpid"} 2>/dev/null || true
	wait "$vpid" ${qpid:+"$qpid"} 2>/dev/null || true
	rm -f "$vsock" "$qsock"
}

# median_spread v1 v2 ... -> "MEDIAN SPREAD_PERCENT"
median_spread() {
	printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END {
		m = a[int((NR + 1) / 2)]
		printf "%s %.0f\n", m, (m > 0 ? (a[NR] - a[1]) / m * 100 : 0) }'
}

# col NAME RESULTS_ARRAY... : medians of field NAME (1..5) of each result
field() { local f=$1; shift; for r in "$@"; do awk -v f="$f" '{ print $f }' <<<"$r"; done; }

fmt() { # MEDIAN SPREAD -> "M ±S%"
	if [ "$1" = "-" ] || [ -z "$1" ]; then echo "-"; else echo "$1 ±$2%"; fi
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

log "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $op 4 KiB, ${secs} s per run, median of $rounds rounds; ${size_mib} MiB file in $dir; PIN ${PIN:-none}"
log "vback-disk: $vback ${vback_args[*]}; qsd: ${qsd:-none}; fio: ${fio:-none}"
# What a kick, a call and a sleep cost any back-end here, pinned like the
# runs below (unpinned: both placements): below these, no back-end goes.
if [ -x "$floor" ]; then
	if [ -n "${PIN:-}" ]; then
		b=${PIN%%:*} c=${PIN#*:}
		placements=("${b%%[,-]*} ${c%%[,-]*}")
	else
		placements=("0 0" "0 $(($(nproc) > 1 ? 1 : 0))")
	fi
	for p in "${placements[@]}"; do
		# shellcheck disable=SC2086 # two CPU numbers
		"$floor" $p 50000 | while read -r line; do log "$line"; done ||
			log "bench_floor could not run on CPUs $p: no floor figures"
	done
fi
head -c "$((size_mib << 20))" /dev/urandom >"$img"

echo "| engine | rings | qd | vback IOPS | vback CPU us/IO | vback p50/p99 us | vback RSS MiB | qsd IOPS | qsd CPU us/IO | qsd p50/p99 us | qsd RSS MiB | fio IOPS | fio CPU us/IO | fio p50/p99 us | fio own CPU us/IO | IOPS vback/qsd | IOPS per CPU-s vback/qsd | CPU vback/fio | RSS qsd/vback |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for engine in $engines; do
	start_daemons "$engine"
	for q in $queues; do
		for qd in $depths; do
			vr=() qr=() fr=()
			for ((r = 0; r < rounds; r++)); do
				order=(vback qsd fio)
				((r % 2)) && order=(fio qsd vback)
				for who in "${order[@]}"; do
					case $who in
					vback) vr+=("$(run_client "$vpid" "$vsock" "$q" "$qd")") ;;
					qsd) [ -n "$qpid" ] && qr+=("$(run_client "$qpid" "$qsock" "$q" "$qd")") ;;
					fio) [ -n "$fio" ] && [ "$engine" = file ] && fr+=("$(run_fio "$q" "$qd")") ;;
					esac
				done
			done
			declare -A m=() s=()
			for who in v q f; do
				case $who in
				v) set -- "${vr[@]}" ;;
				q) set -- "${qr[@]+"${qr[@]}"}" ;;
				f) set -- "${fr[@]+"${fr[@]}"}" ;;
				esac
				for k in 1 2 3 4 5; do
					if [ $# -eq 0 ]; then
						m[$who$k]=- s[$who$k]=0
						continue
					fi
					# shellcheck disable=SC2046 # one word per run
					read -r m[$who$k] s[$who$k] <<<"$(median_spread $(field "$k" "$@"))"
				done
			done
			mib() {
				if [ "$1" = - ]; then echo -; else awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; fi
			}
			printf '| %s | %s | %s | %s | %s | %s/%s | %s | %s | %s | %s/%s | %s | %s | %s | %s/%s | %s | %s | %s | %s | %s |\n' \
				"$engine" "$q" "$qd" \
				"$(fmt "${m[v1]}" "${s[v1]}")" "$(fmt "${m[v2]}" "${s[v2]}")" "${m[v3]}" "${m[v4]}" "$(mib "${m[v5]}")" \
				"$(fmt "${m[q1]}" "${s[q1]}")" "$(fmt "${m[q2]}" "${s[q2]}")" "${m[q3]}" "${m[q4]}" "$(mib "${m[q5]}")" \
				"$(fmt "${m[f1]}" "${s[f1]}")" "$(fmt "${m[f2]}" "${s[f2]}")" "${m[f3]}" "${m[f4]}" "${m[f5]}" \
				"$(ratio "${m[v1]}" "${m[q1]}")" "$(ratio "${m[q2]}" "${m[v2]}")" \
				"$(ratio "${m[v2]}" "${m[f2]}")" "$(ratio "${m[q5]}" "${m[v5]}")"
		done
	done
	stop_daemons
done
log "done; load now $(cut -d' ' -f1-3 /proc/loadavg)"
