#!/bin/bash
# SPDX-License-Identifier: MIT
# Every shell script of the tree passes shellcheck at warning level, with
# the files it sources followed (-x, relative to the script). The guest
# scripts (tests/e2e/guest) run under busybox sh and say so.
# Usage: check-shell.sh SRCROOT
set -euo pipefail
cd "$1"
command -v shellcheck >/dev/null || { echo "shellcheck not installed"; exit 77; }
mapfile -t files < <(find scripts tests examples cross .ci -type f \
	\( -name '*.sh' -o -path '.ci/run' -o -path 'tests/e2e/guest/init' \) \
	-not -path '*/corpus/*' | sort)
if ! shellcheck -x -P SCRIPTDIR -S warning -f gcc "${files[@]}"; then
	echo "shellcheck: fix the warnings above (or, where the code is meant, say why in a '# shellcheck disable=' comment)"
	exit 1
fi
echo "shellcheck: ${#files[@]} scripts clean at warning level"
