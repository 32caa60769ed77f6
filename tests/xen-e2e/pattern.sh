# SPDX-License-Identifier: MIT
# Shared by the Dom0 and DomU scripts (busybox sh): the data patterns of the
# test disks and the console markers. Sourced, not run.
# shellcheck shell=dash

# pattern NAME FIRST COUNT: COUNT 4 KiB blocks, each naming the pattern and
# its own block number, so data at a wrong offset never matches.
pattern() {
	awk -v p="$1" -v f="$2" -v n="$3" 'BEGIN {
		for (i = f; i < f + n; i++) {
			s = sprintf("%s block %d|", p, i)
			while (length(s) < 4095)
				s = s s
			printf "%s\n", substr(s, 1, 4095)
		}
	}'
}

# pattern_sum NAME FIRST COUNT: its md5.
pattern_sum() {
	pattern "$@" | md5sum | cut -d' ' -f1
}

# region_sum FILE FIRST COUNT: md5 of COUNT 4 KiB blocks at block FIRST,
# read with O_DIRECT when FILE is a block device (no page cache), in 64 KiB
# requests: under TCG every request is a slow round trip through Xen.
region_sum() {
	if [ -b "$1" ]; then
		set -- "$1" "$2" "$3" direct,skip_bytes,count_bytes
	else
		set -- "$1" "$2" "$3" skip_bytes,count_bytes
	fi
	dd if="$1" bs=65536 skip=$(($2 * 4096)) count=$(($3 * 4096)) \
		iflag="$4" 2>/dev/null | md5sum | cut -d' ' -f1
}

# check NAME COMMAND...: run a check and print its marker.
check() {
	local name=$1
	shift
	if "$@"; then
		echo "$XE2E_TAG: PASS $name"
	else
		echo "$XE2E_TAG: FAIL $name"
		XE2E_FAILS=$((XE2E_FAILS + 1))
	fi
}

# same A B: the two checksums are equal (and not empty).
same() {
	[ -n "$1" ] && [ "$1" = "$2" ] && return 0
	echo "$XE2E_TAG: checksum $1 != expected $2"
	return 1
}

XE2E_FAILS=0
