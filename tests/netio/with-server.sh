#!/bin/bash
# SPDX-License-Identifier: MIT
# with-server.sh KIND PROGRAM ARGS...: start a KIND of server (see
# netdisk.sh) in a fresh directory, run PROGRAM with VBACK_TEST_NETDISK
# naming it, then stop every server and daemon it started, whatever
# PROGRAM did (exit, failure, meson's timeout signal). Exits with
# PROGRAM's status; 77 (skip) only when the server is not installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kind=$1
shift

need() {
	command -v "$1" >/dev/null && return 0
	echo "SKIP: $1 is not installed (scripts/install-deps.sh installs scripts/deps/netio.txt)"
	exit 77
}
case $kind in
nbdkit-*) need nbdkit; need nbdcopy ;;
qemu-nbd) need qemu-nbd; need nbdcopy ;;
rbd) need ceph-mon; need ceph-osd; need rbd ;;
*) echo "with-server.sh: unknown kind $kind" >&2; exit 2 ;;
esac

dir=$(mktemp -d "${VBACK_TEST_TMPDIR:-/var/tmp}/vback-netio.XXXXXX")
cleanup() {
	rc=$?
	"$here/netdisk.sh" "$kind" "$dir" teardown || true
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		for f in "$dir"/*.log "$dir"/ceph/log/*.log; do
			[ -s "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }
		done
	fi
	rm -rf "$dir"
	exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
started=$(date +%s%N)
"$here/netdisk.sh" "$kind" "$dir" setup
echo "with-server: $kind ready in $((($(date +%s%N) - started) / 1000000)) ms"
export VBACK_TEST_NETDISK="$here/netdisk.sh $kind $dir"
"$@"
