#!/bin/bash
# SPDX-License-Identifier: MIT
# Every C file of the tree is formatted as .clang-format says.
# Usage: check-format.sh SRCROOT
set -euo pipefail
cd "$1"
command -v clang-format >/dev/null || { echo "clang-format not installed"; exit 77; }
mapfile -t files < <(find include lib virtio io transport examples tests \
	\( -name '*.c' -o -name '*.h' \) -not -path '*/corpus/*' | sort)
if ! clang-format --style=file --dry-run -Werror "${files[@]}" 2>/tmp/vback-format.$$; then
	head -40 /tmp/vback-format.$$
	rm -f /tmp/vback-format.$$
	echo "run: clang-format -i --style=file <files above>"
	exit 1
fi
rm -f /tmp/vback-format.$$
echo "format: ${#files[@]} files formatted as .clang-format says"
