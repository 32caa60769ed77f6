#!/bin/bash
# SPDX-License-Identifier: MIT
# Install vback into a temporary root and build a program against it with
# nothing but `pkg-config vback`.
set -euo pipefail
build=$1
consumer=$2
# A sanitized libvback needs its runtime first in the program that loads it.
sanitize=${3:-none}
extra=""
[ "$sanitize" != none ] && extra=-fsanitize=$sanitize
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

meson install -C "$build" --no-rebuild --destdir "$tmp/root" --quiet
pc=$(find "$tmp/root" -name vback.pc | head -n 1)
[ -n "$pc" ] || { echo "no vback.pc installed"; exit 1; }
pcdir=$(dirname "$pc")
export PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$tmp/root
flags=$(pkg-config --cflags --libs vback)
echo "pkg-config --cflags --libs vback: $flags"
cc -std=c11 -Wall -Wextra -Werror $extra -o "$tmp/consumer" "$consumer" $flags
# -L already carries the sysroot; the dynamic loader needs the same folder.
libdir=$(pkg-config --libs-only-L vback | sed 's/^ *-L//; s/ *$//')
out=$(LD_LIBRARY_PATH="$libdir" "$tmp/consumer")
echo "$out"
[ "$out" = "vback $(pkg-config --modversion vback) ok" ]
