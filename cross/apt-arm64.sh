#!/bin/bash
# SPDX-License-Identifier: MIT
# apt-get with a private configuration for cross work: arm64 binary
# packages and source packages, from the same archives as this machine's
# own apt sources (never a hard-coded mirror). Nothing of the machine's apt
# or dpkg state is changed, so no root is needed and concurrent apt-get
# runs of other users are not disturbed.
#
#   cross/apt-arm64.sh download PKG...    arm64 .debs into the current dir
#   cross/apt-arm64.sh source --download-only xen
#   cross/apt-arm64.sh showsrc xen        (apt-cache)
#   cross/apt-arm64.sh closure PKG...     PKG... and their dependencies
#   cross/apt-arm64.sh unpack DIR PKG...  download (cached) and extract
#
# State lives in ${VBACK_CACHE:-~/.cache/vback}/apt-arm64; the package
# lists are refreshed when older than a day.
set -euo pipefail

cache=${VBACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vback}
root=$cache/apt-arm64
mkdir -p "$root/lists/partial" "$root/archives/partial" "$root/etc/sources.list.d" \
	"$root/etc/preferences.d" "$root/etc/apt.conf.d"

# shellcheck disable=SC1091 # the machine's own file
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")

# Emit deb822 stanzas for every active entry of the machine's sources that
# serves this release; types become "deb deb-src" and the architecture arm64.
derive_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		# One-line format: deb [options] uri suite components...
		sed 's/#.*//' "$f" | awk '$1 == "deb" {
			i = 2
			if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			printf "Types: deb deb-src\nURIs: %s\nSuites: %s\nComponents:", $i, $(i + 1)
			for (j = i + 2; j <= NF; j++) printf " %s", $j
			printf "\n\n"
		}'
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v RS= -v FS='\n' '{
			types = uris = suites = comps = key = arch = ""; on = 1
			for (i = 1; i <= NF; i++) {
				line = $i
				if (line ~ /^[ \t]*#/) continue
				split(line, kv, ":")
				k = tolower(kv[1]); v = substr(line, length(kv[1]) + 2)
				gsub(/^[ \t]+|[ \t]+$/, "", v)
				if (k == "types") types = v
				else if (k == "uris") uris = v
				else if (k == "suites") suites = v
				else if (k == "components") comps = v
				else if (k == "signed-by") key = v
				else if (k == "architectures") arch = v
				else if (k == "enabled" && tolower(v) == "no") on = 0
			}
			if (!on || types !~ /(^| )deb( |$)/ || uris == "") next
			if (arch != "" && arch !~ /arm64/) next
			printf "Types: deb deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n", uris, suites, comps
			if (key != "") printf "Signed-By: %s\n", key
			printf "\n"
		}' "$f"
	done
}

# Keep only the stanzas that serve this machine's release (bookworm,
# bookworm-updates, bookworm-security, ...): third-party repositories rarely
# carry arm64 or sources.
filter_release() {
	awk -v RS= -v ORS='\n\n' -v c="$codename" '
		c == "" || $0 ~ ("Suites:[^\n]*(^| )" c "([- ][^\n]*)?(\n|$)")'
}

derive_sources | filter_release >"$root/etc/sources.list.d/derived.sources.new"
if ! grep -q '^URIs:' "$root/etc/sources.list.d/derived.sources.new"; then
	echo "apt-arm64: no usable apt source entries found in /etc/apt" >&2
	exit 1
fi
if ! cmp -s "$root/etc/sources.list.d/derived.sources.new" "$root/etc/sources.list.d/derived.sources"; then
	mv "$root/etc/sources.list.d/derived.sources.new" "$root/etc/sources.list.d/derived.sources"
	rm -f "$root/updated"
else
	rm -f "$root/etc/sources.list.d/derived.sources.new"
fi

cat >"$root/apt.conf" <<CONF
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
Dir::Etc "$root/etc";
Dir::Etc::sourcelist "/dev/null";
Dir::Etc::sourceparts "$root/etc/sources.list.d";
Dir::Etc::preferencesparts "$root/etc/preferences.d";
Dir::Etc::parts "$root/etc/apt.conf.d";
Dir::Etc::trusted "/etc/apt/trusted.gpg";
Dir::Etc::trustedparts "/etc/apt/trusted.gpg.d";
Dir::State "$root";
Dir::State::lists "$root/lists";
Dir::State::status "/dev/null";
Dir::Cache "$root";
Dir::Cache::archives "$root/archives";
Debug::NoLocking "true";
APT::Sandbox::User "root";
CONF
export APT_CONFIG=$root/apt.conf

# One apt at a time on this state (the lock is inherited by the exec'd
# apt-get); the lists are refreshed daily.
exec 9>"$root/lock"
flock 9
if [ -z "$(find "$root/updated" -mmin -1440 2>/dev/null)" ]; then
	if apt-get -q --error-on=any update >"$root/update.log" 2>&1; then
		touch "$root/updated"
	elif [ -f "$root/updated" ]; then
		# Offline with lists from before: the cached .debs still serve.
		echo "apt-arm64: update failed, using the package lists of $(date -r "$root/updated")" >&2
	else
		cat "$root/update.log" >&2
		echo "apt-arm64: cannot fetch the package lists (see above)" >&2
		exit 1
	fi
fi

case "${1:-}" in
closure)
	# The names of PKG... and of everything they depend on (recursively).
	shift
	apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
		--no-breaks --no-replaces --no-enhances "$@" |
		grep -v '^[ <]' | sed 's/:arm64$//' | sort -u
	exit 0 ;;
unpack)
	# unpack DIR PKG...: download the .debs (once, into the cache) and
	# extract them into DIR. No dependency resolution: name them all.
	dir=$2
	shift 2
	mkdir -p "$root/debs" "$dir"
	(cd "$root/debs" && apt-get -q download "$@" >"$root/download.log" 2>&1) ||
		{ cat "$root/download.log" >&2; exit 1; }
	for p in "$@"; do
		v=$(apt-cache show --no-all-versions "$p" | sed -n 's/^Version: //p' | head -n1)
		# The file name carries the version with ':' escaped as %3a.
		debs=("$root/debs/${p}_${v/:/%3a}_"*.deb)
		deb=${debs[0]}
		[ -f "$deb" ] || { echo "apt-arm64: no .deb for $p $v" >&2; exit 1; }
		dpkg-deb -x "$deb" "$dir"
	done
	exit 0 ;;
showsrc | show | policy | madison | depends)
	exec apt-cache "$@" ;;
*)
	exec apt-get -q "$@" ;;
esac
