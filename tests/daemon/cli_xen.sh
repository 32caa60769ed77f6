#!/bin/bash
# SPDX-License-Identifier: MIT
# vback-disk's Xen command line, on the real binary: every configuration
# error is one clear line on stderr and a non-zero exit, before anything
# is served. Fast (suite 'unit'); no hypervisor needed.
# Usage: cli_xen.sh PATH/TO/vback-disk xen|noxen [CPU_FAMILY] (how vback was built)
set -uo pipefail
bin=$(realpath "$1")
built=${2:-xen}
work=$(mktemp -d "${TMPDIR:-/tmp}/vback-cli-xen.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A cross build's tests run through meson's emulator (qemu-user): so must
# the binary these checks start.
if [ -n "${MESON_EXE_WRAPPER:-}" ]; then
	printf '#!/bin/sh\nexec %s %q "$@"\n' "$MESON_EXE_WRAPPER" "$bin" >"$work/vback-disk"
	chmod +x "$work/vback-disk"
	bin=$work/vback-disk
fi
fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
# check DESCRIPTION WANT_RC PATTERN CMD...: exit code, and stderr matches
# PATTERN (grep -E) in at most two lines.
check() {
	local what=$1 want=$2 pattern=$3 rc
	shift 3
	"$@" >"$work/out" 2>"$work/err" </dev/null
	rc=$?
	if [ "$rc" != "$want" ]; then
		fail "$what: exit $rc, want $want"
		sed 's/^/  /' "$work/err"
	elif [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$work/err"; then
		fail "$what: no '$pattern' in:"
		sed 's/^/  /' "$work/err"
	elif [ "$(wc -l <"$work/err")" -gt 2 ]; then
		fail "$what: more than one message:"
		sed 's/^/  /' "$work/err"
	else
		echo "ok: $what"
	fi
}

# Built without the Xen libraries: the Xen mode is refused up front with the
# way out, and nothing else of this script applies.
if [ "$built" = noxen ]; then
	check "no Xen support" 2 "built without Xen support: use --vhost-user" "$bin"
	[ "$fails" -eq 0 ] && echo "ok: built without Xen: Xen mode refused"
	exit $((fails > 0))
fi

truncate -s 1M "$work/disk.img"
# The architecture the binary was built for (a cross build runs elsewhere).
arch=${3:-$(uname -m)}
case $arch in aarch64 | arm*) irq=33 ;; *) irq=5 ;; esac
good="path=$work/disk.img,base=0x2000000,irq=$irq"

check "--help mentions Xen" 0 "" "$bin" --help
grep -q -- '--domid N' "$work/out" || fail "--help lacks --domid"
grep -q 'xenstore' "$work/out" || fail "--help lacks xenstore"
check "--version" 0 "" "$bin" --version
grep -q '^vback-disk [0-9]' "$work/out" || fail "version text"

check "unknown option" 2 "unrecognized option" "$bin" --frobnicate
check "bad base" 2 "bad base 'zz'" "$bin" --domid 3 --disk "path=$work/disk.img,base=zz,irq=$irq"
check "misaligned base" 2 "bad base" "$bin" --domid 3 --disk "path=$work/disk.img,base=0x2000010,irq=$irq"
check "bad irq" 2 "bad irq 'x'" "$bin" --domid 3 --disk "path=$work/disk.img,base=0x2000000,irq=x"
check "irq out of range" 2 "bad irq '5000'" "$bin" --domid 3 --disk "path=$work/disk.img,base=0x2000000,irq=5000"
check "unknown --disk item" 2 "unknown item 'cache=none'" "$bin" --domid 3 --disk "$good,cache=none"
check "--disk without path" 2 "path= is required" "$bin" --domid 3 --disk "base=0x2000000,irq=$irq"
check "--disk without --domid" 2 "needs --domid" "$bin" --disk "$good"
check "--domid without --disk" 2 "needs at least one --disk" "$bin" --domid 3
check "bad --domid" 2 "bad --domid" "$bin" --domid 70000 --disk "$good"
check "two disks, one window" 2 "base already used" "$bin" --domid 3 --disk "$good" --disk "$good"
check "--image without --vhost-user" 2 "--image goes with --vhost-user" "$bin" --image "$work/disk.img"
check "Xen and vhost-user" 2 "do not go with --vhost-user" "$bin" --vhost-user "$work/s" --image "$work/disk.img" --domid 3
# A missing image is refused before Xen is even opened (exit 1).
check "missing image" 1 "cannot open $work/none.img" "$bin" --domid 3 --disk "path=$work/none.img,base=0x2000000,irq=$irq"
# --syslog: the same failure, logged to syslog instead of stderr.
"$bin" --syslog --domid 3 --disk "path=$work/none.img,base=0x2000000,irq=$irq" \
	>"$work/out" 2>"$work/err" </dev/null
rc=$?
if [ $rc = 1 ] && ! grep -q "cannot open" "$work/err"; then
	echo "ok: --syslog keeps stderr quiet"
else
	fail "--syslog: exit $rc, stderr:"
	sed 's/^/  /' "$work/err"
fi
# On a machine that is not a Xen Dom0, discovery fails with a clear word.
if [ ! -e /dev/xen/privcmd ] && [ ! -e /proc/xen/privcmd ]; then
	"$bin" --log-level err >"$work/out" 2>"$work/err" </dev/null
	rc=$?
	if [ $rc = 1 ] && grep -q "cannot open the Xen libraries" "$work/err"; then
		echo "ok: no Xen here: exit 1 with a reason"
	else
		fail "no Xen here: exit $rc"
		sed 's/^/  /' "$work/err"
	fi
fi
[ $fails = 0 ]
