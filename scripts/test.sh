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
# Real guests under TCG and fuzz smoke runs only in the normal build:
# sanitizers there multiply the run time and add nothing the unit suites
# under sanitizers do not already cover.
echo "== sanitizer build (build-asan/): AddressSanitizer + UndefinedBehaviorSanitizer"
setup_and_test build-asan "--no-suite e2e --no-suite xen-e2e --no-suite fuzz" \
	-Db_sanitize=address,undefined -Db_lundef=false
echo "== all suites passed"
