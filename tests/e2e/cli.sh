#!/bin/bash
# SPDX-License-Identifier: MIT
# vback-disk's command line and life cycle without a guest: help, version,
# usage errors, refusing bad paths, a clean SIGTERM. Fast (suite 'unit').
# Usage: cli.sh PATH/TO/vback-disk
set -uo pipefail
bin=$(realpath "$1")
work=$(mktemp -d "${TMPDIR:-/tmp}/vback-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A cross build's tests run through meson's emulator (qemu-user): so must
# the binary these checks start.
if [ -n "${MESON_EXE_WRAPPER:-}" ]; then
	printf '#!/bin/sh\nexec %s %q "$@"\n' "$MESON_EXE_WRAPPER" "$bin" >"$work/vback-disk"
	chmod +x "$work/vback-disk"
	bin=$work/vback-disk
fi
fails=0
check() { # DESCRIPTION WANT_RC CMD...
	local what=$1 want=$2 rc
	shift 2
	"$@" >"$work/out" 2>&1
	rc=$?
	if [ "$rc" != "$want" ]; then
		echo "FAIL: $what: exit $rc, want $want"
		sed 's/^/  /' "$work/out"
		fails=$((fails + 1))
	else
		echo "ok: $what"
	fi
}

# says PATTERN: the last check's output says why (grep -E).
says() {
	grep -Eq -- "$1" "$work/out" || {
		echo "FAIL: no '$1' in:"
		sed 's/^/  /' "$work/out"
		fails=$((fails + 1))
	}
}

check "--help" 0 "$bin" --help
grep -q -- '--vhost-user SOCKET' "$work/out" || { echo "FAIL: help text"; fails=$((fails + 1)); }
check "--version" 0 "$bin" --version
grep -q '^vback-disk [0-9]' "$work/out" || { echo "FAIL: version text"; fails=$((fails + 1)); }
check "no transport" 2 "$bin" --image x
says '--image goes with --vhost-user SOCKET'
check "no image" 2 "$bin" --vhost-user "$work/s"
says 'come in pairs: 1 socket, 0 images'
check "unknown option" 2 "$bin" --frobnicate
says "unrecognized option '--frobnicate'"
check "--queues 0" 2 "$bin" --vhost-user "$work/s" --image x --queues 0
says '--queues wants 1..64'
check "--queues 65" 2 "$bin" --vhost-user "$work/s" --image x --queues 65
says '--queues wants 1..64'
check "--queue-size 100" 2 "$bin" --vhost-user "$work/s" --image x --queue-size 100
says '--queue-size wants a power of two'
check "--engine bogus" 2 "$bin" --vhost-user "$work/s" --image x --engine bogus
says "unknown engine 'bogus'"
check "--engine nbd" 2 "$bin" --vhost-user "$work/s" --image x --engine nbd
says "unknown engine 'nbd' .*comes from its image"
check "--log-level loud" 2 "$bin" --vhost-user "$work/s" --image x --log-level loud
says "unknown log level 'loud'"
check "missing image" 1 "$bin" --vhost-user "$work/s" --image "$work/none.img"
says "disk0: cannot open $work/none.img: No such file or directory"
[ "$(grep -c 'cannot open' "$work/out")" = 1 ] ||
	{ echo "FAIL: the failed start said why more than once"; fails=$((fails + 1)); }
[ -e "$work/s" ] && { echo "FAIL: socket left after a failed start"; fails=$((fails + 1)); }
# Network disks: a bad spec, a server nobody runs: exit 1, and why.
check "bad NBD URI" 1 "$bin" --vhost-user "$work/s" --image "nbd+unix:///?sockt=$work/n.sock"
grep -Eq "unknown query parameter|without the NBD engine" "$work/out" ||
	{ echo "FAIL: no reason for a bad NBD URI"; fails=$((fails + 1)); }
check "no NBD server" 1 "$bin" --vhost-user "$work/s" --image "nbd+unix:///?socket=$work/n.sock"
says "cannot connect to the NBD server|without the NBD engine"
check "bad RBD spec" 1 "$bin" --vhost-user "$work/s" --image "rbd:pool-without-image"
says "bad RBD spec|without the RBD engine"

truncate -s 1M "$work/disk.img"
echo keep >"$work/file"
check "socket path is a regular file" 1 "$bin" --vhost-user "$work/file" --image "$work/disk.img"
[ "$(cat "$work/file")" = keep ] || { echo "FAIL: a regular file was replaced"; fails=$((fails + 1)); }

# Start, wait for the socket, stop with SIGTERM: exit 0, socket removed.
"$bin" --vhost-user "$work/s" --image "$work/disk.img" 2>"$work/log" &
pid=$!
for _ in $(seq 50); do [ -S "$work/s" ] && break; sleep 0.1; done
if [ -S "$work/s" ]; then
	echo "ok: listening"
else
	echo "FAIL: no socket"
	fails=$((fails + 1))
fi
kill -TERM $pid
for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then
	kill -9 $pid
	echo "FAIL: SIGTERM ignored"
	fails=$((fails + 1))
fi
wait $pid
rc=$?
[ $rc = 0 ] && echo "ok: SIGTERM, exit 0" || { echo "FAIL: exit $rc after SIGTERM"; cat "$work/log"; fails=$((fails + 1)); }
# The stop quiesces the device: in-flight requests done, the image flushed.
if grep -q 'image flushed' "$work/log"; then
	echo "ok: SIGTERM flushed the image"
else
	echo "FAIL: SIGTERM did not flush"; cat "$work/log"; fails=$((fails + 1))
fi
[ -e "$work/s" ] && { echo "FAIL: socket file left behind"; fails=$((fails + 1)); }
[ $fails = 0 ]
