#!/bin/bash
# SPDX-License-Identifier: MIT
# Install vback into a temporary root, build examples/custom-backend out of
# tree with nothing but `pkg-config vback`, serve a base image through it
# and drive it with the fake vhost-user front-end (cow_frontend).
#   run.sh BUILD_DIR FRONTEND EXAMPLE_SRC_DIR SANITIZERS
set -euo pipefail
build=$1
frontend=$2
src=$3
sanitize=${4:-none}
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

meson install -C "$build" --no-rebuild --destdir "$tmp/root" --quiet
pc=$(find "$tmp/root" -name vback.pc | head -n 1)
[ -n "$pc" ] || { echo "no vback.pc installed"; exit 1; }
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR=$tmp/root

# A user's project: the example's files alone, away from the source tree.
mkdir "$tmp/src"
cp "$src"/Makefile "$src"/*.c "$src"/*.h "$tmp/src/"
extra=
# A sanitized libvback needs the sanitizer runtime in the program too.
[ "$sanitize" != none ] && extra=-fsanitize=$sanitize
make -s -C "$tmp/src" CFLAGS="-O2 -g $extra" LDFLAGS="$extra"
libdir=$(pkg-config --libs-only-L vback | sed 's/^ *-L//; s/ *$//')
# The program must not have picked up anything from the tree.
if LD_LIBRARY_PATH=$libdir ldd "$tmp/src/custom-backend" |
	grep -q "$(cd "$build" && pwd)"; then
	echo "custom-backend links the build tree"
	exit 1
fi

head -c $((1024 * 1024)) /dev/urandom >"$tmp/base.img"
before=$(sha256sum <"$tmp/base.img")

LD_LIBRARY_PATH=$libdir "$tmp/src/custom-backend" -1 -b 4096 \
	-o "$tmp/overlay.img" "$tmp/base.img" "$tmp/vhu.sock" \
	>"$tmp/stdout" 2>"$tmp/stderr" &
pid=$!
status=0
"$frontend" "$tmp/vhu.sock" "$tmp/base.img" "$tmp/overlay.img" || status=$?

# It exits by itself once the front-end has gone and its IO drained.
for _ in $(seq 100); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
rc=0
wait "$pid" || rc=$?
pid=
echo "--- custom-backend stderr"; cat "$tmp/stderr"
echo "--- custom-backend stdout"; cat "$tmp/stdout"
[ "$status" = 0 ] || { echo "front-end failed: $status"; exit 1; }
[ "$rc" = 0 ] || { echo "custom-backend exited with $rc"; exit 1; }
# Three 4 KiB blocks written, one of them by a partial write; one flush.
grep -qx "overlay: 3 blocks, 1 copy-ups, 1 flushes" "$tmp/stdout" ||
	{ echo "unexpected overlay statistics"; exit 1; }
after=$(sha256sum <"$tmp/base.img")
echo "base image sha256 before: $before"
echo "base image sha256 after:  $after"
[ "$before" = "$after" ]
