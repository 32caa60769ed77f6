#!/bin/bash
# SPDX-License-Identifier: MIT
# The README's test command: install dependencies, build, and run every test
# suite twice: a normal build, and an AddressSanitizer + UBSan build.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/install-deps.sh

# setup_and_test DIR "MESON TEST ARGS" [MESON SETUP ARGS...]
setup_and_test() {
	local dir=$1 test_args=$2
	shift 2
	if [ ! -f "$dir/build.ninja" ]; then
		log=$(mktemp)
		meson setup "$dir" "$@" >"$log" 2>&1 ||
			{ cat "$log"; exit 1; }
	fi
	meson compile -C "$dir"
	# shellcheck disable=SC2086 # word splitting of the suite list is wanted
	meson test -C "$dir" --print-errorlogs --num-processes 2 $test_args
}

echo "== normal build (build/): every suite"
setup_and_test build ""
# Real guests under TCG only in the normal build: sanitizers there multiply
# the run time and add nothing the unit suites under sanitizers do not
# already cover. The bare-metal suite cross-builds without the host's
# sanitizers anyway. The fuzz smoke runs have a clang build of their own below.
echo "== sanitizer build (build-asan/): AddressSanitizer + UndefinedBehaviorSanitizer"
setup_and_test build-asan "--no-suite e2e --no-suite xen-e2e --no-suite fuzz --no-suite baremetal" \
	-Db_sanitize=address,undefined -Db_lundef=false
# The fuzz targets under libFuzzer (clang): a few seconds each on their
# seed corpora and regression inputs (docs/fuzzing.md; long runs:
# scripts/fuzz.sh). Only the fuzz targets are built in this directory.
echo "== fuzz build (build-fuzz/): clang, libFuzzer, ASan + UBSan, suite 'fuzz'"
if [ ! -f build-fuzz/build.ninja ]; then
	log=$(mktemp)
	CC=clang meson setup build-fuzz -Db_sanitize=address,undefined \
		-Db_lundef=false -Dfuzz=enabled >"$log" 2>&1 || { cat "$log"; exit 1; }
fi
ninja -C build-fuzz fuzz-targets
meson test -C build-fuzz --no-rebuild --print-errorlogs --num-processes 1 \
	--suite fuzz --suite fuzz-replay
echo "== all suites passed"
