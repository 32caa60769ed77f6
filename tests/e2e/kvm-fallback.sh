#!/bin/bash
# SPDX-License-Identifier: MIT
# The accelerator choice (tests/e2e/accel.sh) and the watch on a running
# QEMU (tests/e2e/qemu.sh) on machines whose KVM cannot be trusted.
#
# Usage: kvm-fallback.sh PATH/TO/vback-disk BUILD_DIR MODE
#   broken-kvm  a KVM device is there, and QEMU is fake-broken-kvm.sh: a
#               QEMU whose KVM cannot run guests. The probe says TCG with
#               QEMU's message, in a few seconds, each kind of breakage;
#               a working KVM (TCG behind the fake) passes the probe; the
#               verdict is cached; forced onto the broken KVM, the e2e test
#               and the demo fail within seconds with the reason; and
#               scripts/demo.sh and vhost-user-e2e.sh pass on TCG.
#   no-kvm      no KVM device at all (VBACK_KVM_DEV names a missing path):
#               TCG without a probe, and the demo passes.
# The verdicts go to a temporary cache, never the user's. Exit 77 (skip)
# only when the machine cannot boot the guest at all (no QEMU with
# vhost-user-blk-pci, no way to build the guest).
set -euo pipefail
vback_disk=$(realpath "$1")
build=$(realpath "$2")
mode=$3
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
real_qemu=${QEMU:-qemu-system-x86_64}
fake=$here/fake-broken-kvm.sh
started=$SECONDS

skip() { echo "SKIP: $*"; exit 77; }
command -v "$real_qemu" >/dev/null || skip "$real_qemu not installed"
"$real_qemu" -device help 2>/dev/null | grep -q '"vhost-user-blk-pci"' ||
	skip "$real_qemu has no vhost-user-blk-pci"
set +e
guest=$("$here/build-guest.sh")
rc=$?
set -e
[ $rc -eq 77 ] && skip "cannot build the guest"
[ $rc -eq 0 ] || { echo "FAIL: build-guest.sh failed ($rc)"; exit 1; }
read -r vmlinux initramfs <<<"$guest"

work=$(mktemp -d "${TMPDIR:-/tmp}/vback-kvm-fallback.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Nothing from the caller's environment decides for us.
unset VBACK_NO_KVM VBACK_ACCEL VBACK_KVM_PROBE_TIMEOUT VBACK_BOOT_TIMEOUT
export VBACK_REAL_QEMU=$real_qemu
fails=0
ok() { echo "ok: $*"; }
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# accel CASE PATTERN MAX_S MIN_S VAR=VALUE...: choose the accelerator in a
# fresh shell with these variables; exactly one line must come out, match
# the (extended) regular expression, and take MIN_S..MAX_S seconds.
accel() {
	local what=$1 want=$2 max=$3 min=$4 t0 took out
	shift 4
	t0=$EPOCHREALTIME
	# shellcheck disable=SC2016 # expanded by the inner shell
	out=$(env "$@" bash -c '. "$1"; vback_accel "$2" "$3"' _ \
		"$here/accel.sh" "$vmlinux" "$initramfs" 2>&1) || true
	# shellcheck disable=SC2016
	took=$(bash -c '. "$1"; _vback_seconds "$2" "$3"' _ "$here/accel.sh" \
		"$t0" "$EPOCHREALTIME")
	if [ "$(wc -l <<<"$out")" != 1 ] || ! grep -Eq "$want" <<<"$out"; then
		fail "$what: got '$out', want /$want/"
	elif [ "${took%.*}" -ge "$max" ] || [ "${took%.*}" -lt "$min" ]; then
		fail "$what: took $took s, want $min..$max s ($out)"
	else
		ok "$what in $took s: $out"
	fi
}

# expect_fail WHAT MAX_S PATTERN CMD...: CMD must fail within MAX_S
# seconds and say PATTERN (grep -E).
expect_fail() {
	local what=$1 max=$2 want=$3 t0=$SECONDS rc=0
	shift 3
	"$@" >"$work/out" 2>&1 || rc=$?
	if [ $rc = 0 ]; then
		fail "$what: passed on a broken KVM"
		sed 's/^/  /' "$work/out"
	elif [ $((SECONDS - t0)) -ge "$max" ]; then
		fail "$what: took $((SECONDS - t0)) s to fail, want < $max s"
	elif ! grep -Eq "$want" "$work/out"; then
		fail "$what: failed (exit $rc) without saying /$want/"
		sed 's/^/  /' "$work/out"
	else
		ok "$what: failed in $((SECONDS - t0)) s: $(grep -Em1 "$want" "$work/out")"
	fi
}

# expect_pass WHAT ACCEL_PATTERN CMD...: CMD must pass and print the
# accelerator line ACCEL_PATTERN.
expect_pass() {
	local what=$1 want=$2 t0=$SECONDS rc=0
	shift 2
	"$@" >"$work/out" 2>&1 || rc=$?
	if [ $rc != 0 ]; then
		fail "$what: exit $rc"
		tail -n 40 "$work/out" | sed 's/^/  /'
	elif [ "$(grep -c '^accel: ' "$work/out")" != 1 ] ||
		! grep -Eq "$want" "$work/out"; then
		fail "$what: passed, but the accelerator line is not /$want/:"
		grep '^accel: ' "$work/out" | sed 's/^/  /'
	else
		ok "$what: passed in $((SECONDS - t0)) s, $(grep '^accel: ' "$work/out")"
	fi
}

demo() { # demo VAR=VALUE...: the demo, small, in the work directory
	env "$@" VBACK_BUILD_DIR="$build" VBACK_DEMO_DIR="$work/demo" \
		VBACK_DEMO_SIZE=64 VBACK_DEMO_FILE=8 "$top/scripts/demo.sh"
}
e2e() { # e2e VAR=VALUE...
	env "$@" bash "$here/vhost-user-e2e.sh" "$vback_disk"
}

case "$mode" in
broken-kvm)
	touch "$work/kvm" # a KVM device that opens
	dev=VBACK_KVM_DEV=$work/kvm
	broken="KVM probe failed: KVM internal error\. Suberror: 1 / emulation failure"
	accel "a KVM that stops the guest" "^accel: TCG \($broken\)$" 5 0 \
		"$dev" QEMU="$fake" VBACK_ACCEL_CACHE="$work/c1"
	accel "the same, cached" "^accel: TCG \($broken; cached for this boot in " 1 0 \
		"$dev" QEMU="$fake" VBACK_ACCEL_CACHE="$work/c1"
	accel "a KVM with which QEMU exits" \
		"^accel: TCG \(KVM probe failed: (QEMU exited with 1: )?KVM internal error" 5 0 \
		"$dev" QEMU="$fake" VBACK_FAKE_KVM=exit VBACK_ACCEL_CACHE="$work/c2"
	accel "a KVM that hangs without a word" \
		"^accel: TCG \(KVM probe failed: the guest did not boot within 2 s, QEMU printed nothing\)$" \
		5 2 "$dev" QEMU="$fake" VBACK_FAKE_KVM=silent VBACK_KVM_PROBE_TIMEOUT=2 \
		VBACK_ACCEL_CACHE="$work/c3"
	# The probe must accept a KVM that runs the guest (TCG plays it here,
	# hence the long time limit).
	accel "a KVM that works" "^accel: KVM \(probe booted in [0-9]+\.[0-9] s\)$" 60 0 \
		"$dev" QEMU="$fake" VBACK_FAKE_KVM=works VBACK_KVM_PROBE_TIMEOUT=60 \
		VBACK_ACCEL_CACHE="$work/c4"
	accel "VBACK_NO_KVM=1" "^accel: TCG \(VBACK_NO_KVM set\)$" 1 0 \
		"$dev" QEMU="$fake" VBACK_NO_KVM=1 VBACK_ACCEL_CACHE="$work/c5"
	[ -e "$work/c5" ] && fail "VBACK_NO_KVM=1 probed KVM"

	# Forced onto the broken KVM, the scripts must fail fast, and say why.
	expect_fail "e2e on a KVM that stops the guest" 20 \
		"^FAIL: first: QEMU reports a KVM internal error" \
		e2e "$dev" QEMU="$fake" VBACK_ACCEL=kvm
	expect_fail "e2e on a KVM that never starts the guest" 20 \
		"^FAIL: first: QEMU status 'prelaunch': the guest is not running" \
		e2e "$dev" QEMU="$fake" VBACK_ACCEL=kvm VBACK_FAKE_KVM=silent
	expect_fail "e2e on a KVM with which QEMU exits" 20 \
		"^FAIL: first: QEMU (exited \(status 1\) before the guest finished|reports a KVM internal error)" \
		e2e "$dev" QEMU="$fake" VBACK_ACCEL=kvm VBACK_FAKE_KVM=exit
	expect_fail "demo on a KVM that stops the guest" 30 \
		"^demo: QEMU reports a KVM internal error" \
		demo "$dev" QEMU="$fake" VBACK_ACCEL=kvm

	# Left to choose, they take TCG and pass.
	expect_pass "demo" "^accel: TCG \($broken\)$" \
		demo "$dev" QEMU="$fake" VBACK_ACCEL_CACHE="$work/c6"
	expect_pass "vhost-user-e2e" "^accel: TCG \($broken; cached" \
		e2e "$dev" QEMU="$fake" VBACK_ACCEL_CACHE="$work/c6"
	;;
no-kvm)
	dev=VBACK_KVM_DEV=$work/no-such-kvm
	accel "no KVM device" "^accel: TCG \(no $work/no-such-kvm\)$" 1 0 \
		"$dev" VBACK_ACCEL_CACHE="$work/c1"
	[ -e "$work/c1" ] && fail "probed a KVM that is not there"
	expect_pass "demo" "^accel: TCG \(no $work/no-such-kvm\)$" \
		demo "$dev" VBACK_ACCEL_CACHE="$work/c1"
	;;
*)
	echo "usage: $0 VBACK_DISK BUILD_DIR broken-kvm|no-kvm" >&2
	exit 2
	;;
esac
if [ $fails -gt 0 ]; then
	echo "FAIL: $fails check(s) in $((SECONDS - started)) s"
	exit 1
fi
echo "PASS: $mode in $((SECONDS - started)) s"
