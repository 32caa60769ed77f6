# shellcheck shell=sh
# Helpers shared by the guest scripts (sourced).
# arg NAME: value of vback.NAME=VALUE on the kernel command line.
arg() { sed -n "s/.*vback\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
pass() { echo "VBACK: PASS $*"; }
fail() { echo "VBACK: FAIL $*"; failed=1; }
skip() { echo "VBACK: SKIP $*"; }
# shellcheck disable=SC2034 # read by the scripts that source this file
failed=0
MiB=1048576
# sum DEV OFFSET_MIB LENGTH_BYTES: sha256 of a range, read with O_DIRECT.
sum_range() {
	if [ $(($3 % MiB)) -eq 0 ]; then
		dd if="$1" bs=1M skip="$2" count=$(($3 / MiB)) iflag=direct 2>/dev/null
	else
		dd if="$1" bs=4096 skip=$(($2 * 256)) count=$(($3 / 4096)) iflag=direct 2>/dev/null
	fi | sha256sum | cut -d' ' -f1
}
