#!/bin/bash
# SPDX-License-Identifier: MIT
# Install what vback needs on a fresh Debian 12 machine: every package named
# in scripts/deps/*.txt. Idempotent and quiet when everything is present.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

mapfile -t wanted < <(cat "$here"/deps/*.txt | sed 's/#.*//' | tr -s ' \t' '\n' |
	grep -v '^$' | sort -u)
missing=()
for p in "${wanted[@]}"; do
	# A package is present when dpkg says "install ok installed".
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: need root or sudo for: ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# dpkg or the package lists may be busy (unattended-upgrades, cloud-init
# on a fresh machine): apt waits for its locks, and we try again when it
# still gave up on one. Both steps log, so a failure shows why.
log=$(mktemp /tmp/vback-install-deps.XXXXXX)
trap 'rm -f "$log"' EXIT
apt_opts=(-o DPkg::Lock::Timeout=60)
for _ in $(seq 20); do
	if { $sudo apt-get "${apt_opts[@]}" update -qq &&
		$sudo apt-get "${apt_opts[@]}" install -y -qq \
			--no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
		exit 0
	fi
	grep -q -E 'Could not get lock|Unable to acquire' "$log" || break
	sleep 5
done
cat "$log" >&2
echo "install-deps: apt-get failed (log above)" >&2
exit 1
