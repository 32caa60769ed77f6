# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Sourced by the e2e tests whose guest runs tests/e2e/guest/e2e.sh: the
# disk image it expects, and the host's re-check of what it wrote.
#
# e2e_make_image IMG
#   a 64 MiB image: zeroes, random data at 32-36 MiB (the pattern the guest
#   reads back) and at 44-45 MiB (the guest writes zeroes over it). Sets
#   E2E_PATTERN, the sha256 of 32-36 MiB: the guest's vback.pattern.
# e2e_range_sum FILE OFFSET_MIB LENGTH_BYTES
#   prints the sha256 of that range.
# e2e_check_sums SERIAL_LOG IMG
#   every range a "VBACK: SUM name MiB length sha256" line of the guest
#   names must hold that data in IMG; prints one line per range, returns 1
#   at the first that does not (or when there is none).
e2e_make_image() {
	python3 - "$1" <<'PY'
import random, sys
MiB = 1 << 20
rnd = random.Random(0x76626B)
with open(sys.argv[1], 'wb') as f:
    f.truncate(64 * MiB)
    f.seek(32 * MiB)
    f.write(rnd.randbytes(4 * MiB))
    f.seek(44 * MiB)
    f.write(rnd.randbytes(MiB))
PY
	# shellcheck disable=SC2034 # for the caller
	E2E_PATTERN=$(e2e_range_sum "$1" 32 $((4 << 20)))
}

e2e_range_sum() {
	python3 - "$@" <<'PY'
import hashlib, sys
with open(sys.argv[1], 'rb') as f:
    f.seek(int(sys.argv[2]) << 20)
    print(hashlib.sha256(f.read(int(sys.argv[3]))).hexdigest())
PY
}

e2e_check_sums() {
	local serial=$1 img=$2 name mib len sum got n=0
	while read -r _ _ name mib len sum; do
		got=$(e2e_range_sum "$img" "$mib" "$len")
		if [ "$got" != "$sum" ]; then
			echo "host: image range $name at $mib MiB: $got, the guest wrote $sum"
			return 1
		fi
		echo "host: $name at $mib MiB matches the guest's data"
		n=$((n + 1))
	done < <(grep -a '^VBACK: SUM ' "$serial" | tr -d '\r')
	[ $n -gt 0 ] || { echo "host: the guest named no range to check"; return 1; }
}
