#!/bin/bash
# SPDX-License-Identifier: MIT
# Rebuild Debian 12's arm64 Xen hypervisor with CONFIG_IOREQ_SERVER=y (the
# packaged one is built without it: create_ioreq_server fails with ENOSYS).
# Only the hypervisor is built, from Debian's xen source package, with
# Debian's own Kconfig fragment plus the IOREQ server.
#
#   tests/xen-e2e/build-xen.sh      prints the path of the hypervisor image
#
# The image is cached in ${VBACK_CACHE:-~/.cache/vback}/xen-e2e/xen-VERSION
# and reused; the source is fetched with cross/apt-arm64.sh (deb-src entries
# derived from this machine's apt sources). When the newest source version
# is missing on the mirror, older ones listed by showsrc are tried.
set -euo pipefail
top=$(cd "$(dirname "$(realpath "$0")")/../.." && pwd)
cache=${VBACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vback}/xen-e2e
apt_arm64=$top/cross/apt-arm64.sh
mkdir -p "$cache/src"

# Reuse any cached build: the hypervisor version does not have to match the
# Dom0 tools beyond the 4.17 series (the domctl interface is per series).
for img in "$cache"/xen-*/xen; do
	if [ -f "$img" ] && [ -f "$(dirname "$img")/.done" ]; then
		echo "$img"
		exit 0
	fi
done

for tool in aarch64-linux-gnu-gcc dpkg-source flex bison python3 make; do
	command -v "$tool" >/dev/null ||
		{ echo "build-xen: $tool not found (scripts/deps/xen-e2e.txt)" >&2; exit 1; }
done

cd "$cache/src"
ver=""
for v in $("$apt_arm64" showsrc xen | sed -n 's/^Version: //p' | sort -rV | uniq); do
	if "$apt_arm64" source --download-only "xen=$v" >download.log 2>&1; then
		ver=$v
		break
	fi
	echo "build-xen: xen $v source not on the mirror, trying an older one" >&2
done
[ -n "$ver" ] || { cat download.log >&2; exit 1; }

out=$cache/xen-$ver
rm -rf "$out" "src-$ver"
dpkg-source -x "xen_${ver#*:}.dsc" "src-$ver" >extract.log 2>&1 ||
	{ cat extract.log >&2; exit 1; }

# Debian's Kconfig fragment (CONFIG_DEBUG=n) plus the IOREQ server, which
# is an EXPERT option in 4.17 on Arm.
make_args=(-C "src-$ver/xen" XEN_TARGET_ARCH=arm64
	CROSS_COMPILE=aarch64-linux-gnu- -j"$(nproc)")
{
	cat "src-$ver/debian/xen-kconfig"
	echo CONFIG_DEBUG=n
	echo CONFIG_EXPERT=y
	echo CONFIG_IOREQ_SERVER=y
} >"src-$ver/xen/.config"
make "${make_args[@]}" olddefconfig >build.log 2>&1 ||
	{ tail -n 40 build.log >&2; exit 1; }
grep -q '^CONFIG_IOREQ_SERVER=y' "src-$ver/xen/.config" ||
	{ echo "build-xen: CONFIG_IOREQ_SERVER did not stick" >&2; exit 1; }
make "${make_args[@]}" >>build.log 2>&1 ||
	{ tail -n 40 build.log >&2; exit 1; }

mkdir -p "$out"
cp "src-$ver/xen/xen" "src-$ver/xen/.config" "$out/"
touch "$out/.done"
rm -rf "src-$ver"
echo "$out/xen"
