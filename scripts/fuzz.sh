#!/bin/bash
# SPDX-License-Identifier: MIT
# Long fuzzing runs (docs/fuzzing.md): build the libFuzzer targets with clang
# and ASan+UBSan in build-fuzz/, run each target in turn until it reaches a
# number of executions or a time limit, and print per target the total
# executions, executions per second, seconds and the outcome.
#
# usage: scripts/fuzz.sh [-n EXECS] [-t SECONDS] [-j JOBS] [-r] [-P N]
#                        [TARGET...]
#        scripts/fuzz.sh -s [-n EXECS] [TARGET...]
#   -n  stop a target after this many executions (default 10000000)
#   -t  ... or after this many seconds, whichever comes first (default 1800)
#   -j  split each target's executions over this many runs (default 1),
#       which share its corpus and, with -P of at least JOBS, run at
#       once: a slow target ends JOBS times sooner; each run has its own
#       log and ledger line
#   -r  a campaign, resumed: run each target only for the executions it
#       still lacks on its current code to reach EXECS (see -s); those
#       that have them are skipped, the others go longest first
#   -P  run up to N targets at once (default 1), e.g. one per core; stop
#       them all with Ctrl-C, or SIGTERM to this script when it runs in
#       the background (kill -TERM $(cat build-fuzz/fuzz-long/fuzz.pid)):
#       each run is then "interrupted" and counts
#   -s  no run: per target, the executions that runs without a finding
#       have done on the code the target is now built from, and whether
#       they reach EXECS (a run stopped with SIGINT, "interrupted",
#       counts what it finished)
# Each run adds a line to tests/fuzz/runs/<target>.tsv (tracked, so a
# campaign outlives the machine; commit it): date, code, executions,
# seconds, result, git HEAD. "code" names what the run
# executed: the start of the sha256 of the target's .text section, which a
# change to the code under test or to its harness changes, and a comment
# or a line break does not; runs on the same code add up (-s).
#   TARGET: virtqueue inflight blk mmio xen_ioreq xenstore xen_state
#   vhost_user ctl (default: all
#   that were built)
# Environment: FUZZ_FLAGS adds libFuzzer flags; BUILD_DIR (default
# build-fuzz); FUZZ_LEDGER (default tests/fuzz/runs). The working corpus of each target grows in
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
resume=false
parallel=1
while getopts "n:t:j:rP:sh" opt; do
	case $opt in
	n) execs=$OPTARG ;;
	t) secs=$OPTARG ;;
	j) jobs=$OPTARG ;;
	r) resume=true ;;
	P) parallel=$OPTARG ;;
	s) summary=true ;;
	*) sed -n '3,/^[^#]/{/^#/p}' "$0"; exit 2 ;; # the header comment
	esac
done
shift $((OPTIND - 1))
for n in "$execs" "$secs" "$jobs" "$parallel"; do
	case $n in
	'' | *[!0-9]* | 0) echo "fuzz.sh: -n, -t, -j and -P take a positive number" >&2; exit 2 ;;
	esac
done

build=${BUILD_DIR:-build-fuzz}
ledger=${FUZZ_LEDGER:-tests/fuzz/runs}
mkdir -p "$ledger"
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

# "RUNS EXECUTIONS" of target $1's runs without a finding on code $2.
done_on() {
	awk -F'\t' -v c="$2" '$2 == c && ($5 == "ok" || $5 == "interrupted") { n++; s += $3 } END { print n + 0, s + 0 }' \
		"$ledger/$1.tsv" 2>/dev/null || echo "0 0"
}

if $summary; then
	printf '%-12s %-16s %5s %12s  %s\n' target code runs execs "reaches $execs"
	for t in "${targets[@]}"; do
		code=$(code_of "$build/tests/fuzz/fuzz_$t")
		read -r n total < <(done_on "$t" "$code")
		printf '%-12s %-16s %5s %12s  %s\n' "$t" "$code" "$n" "$total" \
			"$([ "$total" -ge "$execs" ] && echo yes || echo no)"
	done
	exit 0
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:quarantine_size_mb=16}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# run_one TARGET EXECS PART: one run (PART of -j); its line on stdout
# and in the ledger. Returns 1 on a finding.
run_one() {
	local t=$1 want=$2 part=$3
	local exe=$build/tests/fuzz/fuzz_$t
	local work=$build/fuzz-long/$t
	local dirs=() d log code start end rc n rate new result
	mkdir -p "$work/corpus" "$work/artifacts"
	for d in tests/fuzz/corpus/$t tests/fuzz/regressions/$t; do
		[ -d "$d" ] && dirs+=("$d")
	done
	# Runs of one target at once share the corpus (libFuzzer reloads
	# it, picking up what the others found), never the log whose
	# statistics are their ledger lines.
	log=$work/last.log
	[ "$jobs" -gt 1 ] && log=$work/last.$part.log
	# Named before the run: a rebuild meanwhile must not be credited.
	code=$(code_of "$exe")
	start=$(date +%s)
	rc=0
	# -entropic=0: the entropic schedule's bookkeeping costs these small
	# targets up to 3x in speed; plain coverage guidance is used instead.
	# shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
	"$exe" -runs="$want" -max_total_time="$secs" -max_len=4096 \
		-timeout=20 -entropic=0 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/" ${FUZZ_FLAGS:-} \
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
	fi
	printf '%-12s %12s %9s %7s %7s  %s\n' "$t" "$n" "$rate" \
		"$((end - start))" "$new" "$result"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" \
		"$code" "$n" "$((end - start))" \
		"$(case $rc in 0) echo ok ;; 72) echo interrupted ;; *) echo finding ;; esac)" \
		"$(git rev-parse --short HEAD 2>/dev/null || echo -)" \
		>>"$ledger/$t.tsv"
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 72 ]; then
		echo "$t" >>"$findings"
	fi
}

# What each target runs for: EXECS, or with -r what it still lacks
# (targets that have it all are left out), longest first.
plan=()
for t in "${targets[@]}"; do
	want=$execs
	if $resume; then
		read -r _ total < <(done_on "$t" "$(code_of "$build/tests/fuzz/fuzz_$t")")
		want=$((execs - total))
		if [ "$want" -le 0 ]; then
			echo "$t: $total executions on its current code already"
			continue
		fi
	fi
	for ((part = 0; part < jobs; part++)); do
		plan+=("$(((want + jobs - 1) / jobs)) $t $part")
	done
done
if $resume && [ ${#plan[@]} -gt 0 ]; then
	mapfile -t plan < <(printf '%s\n' "${plan[@]}" | sort -k1,1nr)
fi

findings=$(mktemp)
# Whom to send SIGTERM: this script, not one of its per-run subshells
# (which share its command line; killing one orphans its fuzzer and loses
# the run's line).
mkdir -p "$build/fuzz-long"
echo $$ >"$build/fuzz-long/fuzz.pid"
trap 'rm -f "$findings" "$build/fuzz-long/fuzz.pid"' EXIT
# Ctrl-C reaches the fuzzers too (they stop, "interrupted"): start no
# more, and wait for those running to write their lines. In the
# background (SIGINT ignored from the start, as for any '&' command),
# SIGTERM to this script does the same: it passes SIGINT to its group.
stopping=false
trap 'stopping=true' INT
trap 'stopping=true; kill -INT 0 2>/dev/null || true' TERM
printf '%-12s %12s %9s %7s %7s  %s\n' target execs execs/s seconds new result
for p in "${plan[@]}"; do
	# At most -P runs at once; each finished one frees a place.
	while ! $stopping && [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do
		wait -n || true
	done
	$stopping && break
	read -r want t part <<<"$p"
	run_one "$t" "$want" "$part" &
done
while [ -n "$(jobs -rp)" ]; do
	wait || true
done
[ ! -s "$findings" ]
