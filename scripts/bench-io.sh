#!/bin/bash
# SPDX-License-Identifier: MIT
# 4 KiB random reads at queue depth 1 and 32: fio's own io_uring engine and
# vback's posix and io_uring engines (tests/io/bench_io) on the same file,
# each as a ratio of fio. bench_io runs fio itself, right before the engines
# at each depth in every round, and reports the median of the rounds.
#
# usage: scripts/bench-io.sh [BUILD_DIR] [FILE]
#   env: RUNTIME=seconds per run (10), ROUNDS=3, SIZE=file size (1G),
#        DIRECT=1 (O_DIRECT) or 0 (page cache)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
file=${2:-/var/tmp/vback-bench.img}
runtime=${RUNTIME:-10}
rounds=${ROUNDS:-3}
size=${SIZE:-1G}
direct=${DIRECT:-1}
bench=$build/tests/io/bench_io

fio=$(command -v fio) || { echo "bench-io: fio is not installed (apt-get install fio)" >&2; exit 1; }
[ -x "$bench" ] || { echo "bench-io: build it first: ninja -C $build tests/io/bench_io" >&2; exit 1; }

# Real data everywhere: reads of holes never reach the disk.
want=$(numfmt --from=iec "$size")
if [ ! -f "$file" ] || [ "$(stat -c %s "$file")" -ne "$want" ]; then
	echo "bench-io: writing $size of random data to $file" >&2
	head -c "$want" /dev/urandom >"$file"
	sync "$file"
fi

# Warm-up (discarded): the first pass over a fresh file meets cold caches
# below us (the host's, on a VM) and would favour whoever runs later.
echo "bench-io: warm-up: $fio --filename=$file --ioengine=io_uring --rw=randread --bs=4k --iodepth=32 --direct=$direct --runtime=$runtime --time_based" >&2
"$fio" --name=warm-up --filename="$file" --ioengine=io_uring --rw=randread \
	--bs=4k --iodepth=32 --direct="$direct" --runtime="$runtime" \
	--time_based --output=/dev/null

args=(--runtime "$runtime" --rounds "$rounds" --fio "$fio")
[ "$direct" = 0 ] && args+=(--buffered)
echo "bench-io: $bench ${args[*]} $file" >&2
exec "$bench" "${args[@]}" "$file"
