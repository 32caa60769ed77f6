#!/bin/bash
# SPDX-License-Identifier: MIT
# Long fuzzing runs (docs/fuzzing.md): build the libFuzzer targets with clang
# and ASan+UBSan in build-fuzz/, run each target in turn until it reaches a
# number of executions or a time limit, and print per target the total
# executions, executions per second, seconds and the outcome.
#
# usage: scripts/fuzz.sh [-n EXECS] [-t SECONDS] [-j JOBS] [TARGET...]
#        scripts/fuzz.sh -s [-n EXECS] [TARGET...]
#   -n  stop a target after this many executions (default 10000000)
#   -t  ... or after this many seconds, whichever comes first (default 1800)
#   -j  parallel libFuzzer workers per target (default 1; the machine is
#       small and shared)
#   -s  no run: per target, the executions that runs without a finding
#       have done on the code the target is now built from, and whether
#       they reach EXECS (a run stopped with SIGINT, "interrupted",
#       counts what it finished)
# Each run adds a line to $BUILD_DIR/fuzz-long/<target>/runs.tsv: date,
# code, executions, seconds, result, git HEAD. "code" names what the run
# executed: the start of the sha256 of the target's .text section, which a
# change to the code under test or to its harness changes, and a comment
# or a line break does not; runs on the same code add up (-s).
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
summary=false
while getopts "n:t:j:sh" opt; do
	case $opt in
	n) execs=$OPTARG ;;
	t) secs=$OPTARG ;;
	j) jobs=$OPTARG ;;
	s) summary=true ;;
	*) sed -n '3,32p' "$0"; exit 2 ;;
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

# What a target executes: its .text, hashed.
code_of() {
	local tmp
	tmp=$(mktemp)
	objcopy -O binary --only-section=.text "$1" "$tmp"
	sha256sum "$tmp" | cut -c1-16
	rm -f "$tmp"
}

if $summary; then
	printf '%-12s %-16s %5s %12s  %s\n' target code runs execs "reaches $execs"
	for t in "${targets[@]}"; do
		code=$(code_of "$build/tests/fuzz/fuzz_$t")
		runs=$build/fuzz-long/$t/runs.tsv
		read -r n total < <(awk -F'\t' -v c="$code" '$2 == c && ($5 == "ok" || $5 == "interrupted") { n++; s += $3 } END { print n + 0, s + 0 }' "$runs" 2>/dev/null || echo "0 0")
		printf '%-12s %-16s %5s %12s  %s\n' "$t" "$code" "$n" "$total" \
			"$([ "$total" -ge "$execs" ] && echo yes || echo no)"
	done
	exit 0
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
	jobargs=()
	[ "$jobs" -gt 1 ] && jobargs=("-jobs=$jobs" "-workers=$jobs")
	start=$(date +%s)
	rc=0
	# -entropic=0: the entropic schedule's bookkeeping costs these small
	# targets up to 3x in speed; plain coverage guidance is used instead.
	# shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
	"$exe" -runs="$execs" -max_total_time="$secs" -max_len=4096 \
		-timeout=20 -entropic=0 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/" ${FUZZ_FLAGS:-} \
		"${jobargs[@]}" \
		"$work/corpus" "${dirs[@]}" >"$log" 2>&1 || rc=$?
	end=$(date +%s)
	n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{s+=$1} END {print s+0}')
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | awk '{s+=$1} END {print s+0}')
	new=$(sed -n 's/^stat::new_units_added: *//p' "$log" | awk '{s+=$1} END {print s+0}')
	if [ "$rc" -eq 0 ]; then
		result=ok
	elif [ "$rc" -eq 72 ]; then
		# libFuzzer's exit after SIGINT: stopped, nothing found; the
		# executions it finished count.
		result=interrupted
	else
		result="FINDING (exit $rc): $(find "$work/artifacts" -type f -printf '%T@ %f\n' | sort -n | tail -1 | cut -d' ' -f2-) - see $log"
		status=1
	fi
	printf '%-12s %12s %9s %7s %7s  %s\n' "$t" "$n" "$rate" \
		"$((end - start))" "$new" "$result"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" \
		"$(code_of "$exe")" "$n" "$((end - start))" \
		"$(case $rc in 0) echo ok ;; 72) echo interrupted ;; *) echo finding ;; esac)" \
		"$(git rev-parse --short HEAD 2>/dev/null || echo -)" \
		>>"$work/runs.tsv"
done
exit $status
