#!/bin/bash
# SPDX-License-Identifier: MIT
# Long fuzzing runs (docs/fuzzing.md): build the libFuzzer targets with clang
# and ASan+UBSan in build-fuzz/, run each target in turn until it reaches a
# number of executions or a time limit, and print per target the total
# executions, executions per second, seconds and the outcome.
#
# usage: scripts/fuzz.sh [-n EXECS] [-t SECONDS] [-j JOBS] [TARGET...]
#   -n  stop a target after this many executions (default 10000000)
#   -t  ... or after this many seconds, whichever comes first (default 1800)
#   -j  parallel libFuzzer workers per target (default 1; the machine is
#       small and shared)
#   TARGET: virtqueue blk mmio xen_ioreq xenstore vhost_user (default: all
#   that were built)
# Environment: FUZZ_FLAGS adds libFuzzer flags; BUILD_DIR (default
# build-fuzz). The working corpus of each target grows in
# $BUILD_DIR/fuzz-long/<target>/corpus across runs; crashes land in
# $BUILD_DIR/fuzz-long/<target>/artifacts. A finding becomes a regression
# input under tests/fuzz/regressions/<target>/ (see docs/fuzzing.md).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

execs=10000000
secs=1800
jobs=1
while getopts "n:t:j:h" opt; do
	case $opt in
	n) execs=$OPTARG ;;
	t) secs=$OPTARG ;;
	j) jobs=$OPTARG ;;
	*) sed -n '3,20p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

build=${BUILD_DIR:-build-fuzz}
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" -Db_sanitize=address,undefined \
		-Db_lundef=false -Dfuzz=enabled >/dev/null
fi
ninja -C "$build" fuzz-targets >/dev/null

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for exe in "$build"/tests/fuzz/fuzz_*; do
		[ -x "$exe" ] && [ -f "$exe" ] && targets+=("${exe##*/fuzz_}")
	done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:quarantine_size_mb=16}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

printf '%-12s %12s %9s %7s %7s  %s\n' target execs execs/s seconds new result
status=0
for t in "${targets[@]}"; do
	exe=$build/tests/fuzz/fuzz_$t
	work=$build/fuzz-long/$t
	mkdir -p "$work/corpus" "$work/artifacts"
	dirs=()
	for d in tests/fuzz/corpus/$t tests/fuzz/regressions/$t; do
		[ -d "$d" ] && dirs+=("$d")
	done
	log=$work/last.log
	start=$(date +%s)
	rc=0
	# -entropic=0: the entropic schedule's bookkeeping costs these small
	# targets up to 3x in speed; plain coverage guidance is used instead.
	# shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
	"$exe" -runs="$execs" -max_total_time="$secs" -max_len=4096 \
		-timeout=20 -entropic=0 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/" ${FUZZ_FLAGS:-} \
		$([ "$jobs" -gt 1 ] && echo "-jobs=$jobs -workers=$jobs") \
		"$work/corpus" "${dirs[@]}" >"$log" 2>&1 || rc=$?
	end=$(date +%s)
	n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{s+=$1} END {print s+0}')
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | awk '{s+=$1} END {print s+0}')
	new=$(sed -n 's/^stat::new_units_added: *//p' "$log" | awk '{s+=$1} END {print s+0}')
	if [ "$rc" -eq 0 ]; then
		result=ok
	else
		result="FINDING (exit $rc): $(ls -t "$work/artifacts" | head -1) - see $log"
		status=1
	fi
	printf '%-12s %12s %9s %7s %7s  %s\n' "$t" "$n" "$rate" \
		"$((end - start))" "$new" "$result"
done
exit $status
