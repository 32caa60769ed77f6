#!/bin/bash
# SPDX-License-Identifier: MIT
# The package-derived parts of the Xen test machine, from arm64 .debs
# (cross/apt-arm64.sh; no debootstrap), cached until a package changes:
#
#   $cache/root-STAMP/vmlinuz      Debian's arm64 kernel (Dom0 and DomU)
#   $cache/root-STAMP/dom0.cpio    Dom0 base: busybox, the Xen tools and
#                                  libraries, xen kernel modules, liburing,
#                                  the DomU kernel in /boot
#   $cache/root-STAMP/domu.cpio    DomU base: busybox, virtio_mmio, virtio_blk
#   $cache/root-STAMP/bk.cpio      driver domain base: busybox, the Xen
#                                  libraries vback-disk uses, xenstore-utils,
#                                  liburing, evtchn, gntdev and privcmd
#
# Prints the directory. run.sh appends the test's own files as a second cpio
# archive (Linux unpacks concatenated archives in order).
set -euo pipefail
top=$(cd "$(dirname "$(realpath "$0")")/../.." && pwd)
cache=${VBACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vback}/xen-e2e
apt_arm64=$top/cross/apt-arm64.sh
mkdir -p "$cache"

kpkg=$("$apt_arm64" depends linux-image-arm64 | sed -n 's/^  Depends: //p' | head -n1)
[ -n "$kpkg" ] || { echo "mkroot: no arm64 kernel package found" >&2; exit 1; }
# The runtime closure the Dom0 tools need, named one by one: xen-utils
# depends on python3, which the Dom0 does not need (no pygrub, no xentop).
dom0_pkgs="busybox-static xen-utils-4.17 xenstore-utils libxenmisc4.17
	libxencall1 libxendevicemodel1 libxenevtchn1 libxenforeignmemory1
	libxengnttab1 libxenhypfs1 libxenstore4 libxentoolcore1 libxentoollog1
	libc6 libgcc-s1 libyajl2 libfdt1 libuuid1 libext2fs2 libcom-err2 zlib1g
	libncurses6 libtinfo6 liburing2"
# The driver domain: what vback-disk and xenstore-read need, no toolstack.
bk_pkgs="busybox-static xenstore-utils libxencall1 libxendevicemodel1
	libxenevtchn1 libxenforeignmemory1 libxengnttab1 libxenstore4
	libxentoolcore1 libxentoollog1 libc6 libgcc-s1 liburing2"
# shellcheck disable=SC2086 # one package per word
stamp=$({ "$apt_arm64" policy $dom0_pkgs $bk_pkgs "$kpkg" |
	awk '/^[^ ]/ { p = $1 } /^  Candidate:/ { print p $2 }'; cat "$0"; } |
	md5sum | cut -c1-12)
out=$cache/root-$stamp
if [ -f "$out/.done" ]; then
	touch "$out"
	echo "$out"
	exit 0
fi

work=$cache/work-root
rm -rf "$work" "$out"
mkdir -p "$work"

# The kernel and its modules.
"$apt_arm64" unpack "$work/kernel" "$kpkg"
kver=$(ls "$work/kernel/lib/modules")
kmod=$work/kernel/lib/modules/$kver/kernel

# Copy a module into a root; Debian's are uncompressed (MODULE_COMPRESS_NONE).
add_modules() {
	local root=$1 m
	shift
	mkdir -p "$root/lib/modules"
	for m in "$@"; do
		cp "$kmod/$m" "$root/lib/modules/"
	done
}

# Keep only what runs: no docs, locales, python, gconv.
prune() {
	rm -rf "$1/usr/share/doc" "$1/usr/share/man" "$1/usr/share/locale" \
		"$1/usr/share/lintian" "$1/usr/lib/xen-4.17/lib/python" \
		"$1/usr/lib/aarch64-linux-gnu/gconv" "$1/etc/init.d"
}

skeleton() {
	mkdir -p "$1"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,var,etc,root,boot}
}

mkcpio() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc --owner=0:0 --quiet) >"$2"
}

# Dom0. The kernel's xen drivers that are modules: event channels, grant
# mapping and allocation, privcmd (hypercalls, foreign mapping), xenfs.
# shellcheck disable=SC2086 # one package per word
"$apt_arm64" unpack "$work/dom0" $dom0_pkgs
prune "$work/dom0"
skeleton "$work/dom0"
add_modules "$work/dom0" drivers/xen/xen-evtchn.ko drivers/xen/xen-gntdev.ko \
	drivers/xen/xen-gntalloc.ko drivers/xen/xen-privcmd.ko \
	drivers/xen/xenfs/xenfs.ko drivers/block/loop.ko
cp "$work/kernel/boot/vmlinuz-$kver" "$work/dom0/boot/vmlinuz"

# DomU: busybox and the virtio-mmio block driver (CONFIG_VIRTIO=y).
"$apt_arm64" unpack "$work/domu" busybox-static
prune "$work/domu"
skeleton "$work/domu"
add_modules "$work/domu" drivers/virtio/virtio_mmio.ko drivers/block/virtio_blk.ko

# The driver domain: Xen's event channel, grant and privcmd drivers.
# shellcheck disable=SC2086 # one package per word
"$apt_arm64" unpack "$work/bk" $bk_pkgs
prune "$work/bk"
skeleton "$work/bk"
add_modules "$work/bk" drivers/xen/xen-evtchn.ko drivers/xen/xen-gntdev.ko \
	drivers/xen/xen-privcmd.ko

mkdir -p "$out.tmp"
cp "$work/kernel/boot/vmlinuz-$kver" "$out.tmp/vmlinuz"
mkcpio "$work/dom0" "$out.tmp/dom0.cpio"
mkcpio "$work/domu" "$out.tmp/domu.cpio"
mkcpio "$work/bk" "$out.tmp/bk.cpio"
echo "$kver" >"$out.tmp/kernel-version"
touch "$out.tmp/.done"
rm -rf "$work"
mv "$out.tmp" "$out"
# Keep the three newest (a cache hit touches its own): checkouts of other
# versions share the cache. After the mv, so the glob always matches: on a
# fresh machine it matched nothing, ls failed, and pipefail ended the
# script (every xen-e2e test failed with exit 2 and no message).
# shellcheck disable=SC2012 # our own names, no odd characters
ls -dt "$cache"/root-*/ | tail -n +4 | xargs -r rm -rf
echo "$out"
