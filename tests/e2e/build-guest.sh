#!/bin/bash
# SPDX-License-Identifier: MIT
# Build (once) and print the paths of a tiny x86_64 Linux guest for the
# vhost-user tests and the demo:
#   - Debian's 6.1 kernel, fetched with `apt-get download`, unpacked with
#     dpkg -x, decompressed to a plain vmlinux (QEMU boots it through its PVH
#     note, twice as fast as the bzImage under TCG);
#   - an initramfs: busybox-static, the virtio/ext4 modules and the guest
#     scripts of tests/e2e/guest/.
# Everything is cached in $VBACK_CACHE (default $XDG_CACHE_HOME/vback or
# ~/.cache/vback)/guest-x86_64; the initramfs is rebuilt only when a guest
# script changes.
#
# Usage: build-guest.sh   -> prints "VMLINUX INITRAMFS" on stdout.
# Exit 77 when the machine cannot build it (no apt-get, busybox, cpio, ...).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache_root=${VBACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vback}
cache=$cache_root/guest-x86_64
mkdir -p "$cache"

skip() { echo "build-guest: $*" >&2; exit 77; }
for tool in cpio xz busybox; do
	command -v $tool >/dev/null || skip "$tool not installed"
done
busybox_bin=$(command -v busybox)
# The guest needs a static busybox (the initramfs has no libc).
if ! file -L "$busybox_bin" 2>/dev/null | grep -q 'statically linked'; then
	[ -x /bin/busybox ] && busybox_bin=/bin/busybox
	if command -v ldd >/dev/null && ldd "$busybox_bin" >/dev/null 2>&1; then
		skip "busybox is not static (install busybox-static)"
	fi
fi

# One build at a time: the test and the demo may race on a cold cache.
exec 9>"$cache/.lock"
flock -w 600 9 || skip "cache lock busy"

# ---- kernel: vmlinux + modules ------------------------------------------
# Load order matters: the .deb ships no modules.dep.
modules="drivers/virtio/virtio_ring drivers/virtio/virtio
	drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci_modern_dev
	drivers/virtio/virtio_pci drivers/block/virtio_blk
	drivers/char/hw_random/virtio-rng lib/crc16 fs/mbcache fs/jbd2/jbd2
	crypto/crc32c_generic fs/ext4/ext4"
want_order=$(for m in $modules; do echo "$(basename "$m").ko"; done)
if [ ! -s "$cache/vmlinux" ] || [ ! -d "$cache/modules" ] ||
	[ "$(cat "$cache/modules/order" 2>/dev/null)" != "$want_order" ]; then
	command -v apt-get >/dev/null || skip "no apt-get to fetch the kernel"
	# apt-cache fails (status 100) without package lists, or without
	# that package in them: an empty answer, not the end of the script.
	resolve() {
		{ apt-cache depends linux-image-amd64 2>/dev/null || true; } |
			awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
	}
	update_lists() {
		if [ "$(id -u)" -eq 0 ]; then
			apt-get update -qq >/dev/null 2>&1 || true
		elif command -v sudo >/dev/null; then
			sudo -n apt-get update -qq >/dev/null 2>&1 || true
		fi
	}
	pkg=$(resolve)
	if [ -z "$pkg" ]; then
		# Fresh containers ship without package lists.
		update_lists
		pkg=$(resolve)
	fi
	[ -n "$pkg" ] || skip "cannot resolve linux-image-amd64 (apt-get update?)"
	work=$(mktemp -d "$cache/tmp.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	echo "build-guest: fetching $pkg (once)" >&2
	if ! (cd "$work" && apt-get download "$pkg" >/dev/null 2>&1); then
		# Stale lists name a kernel the mirror no longer has.
		update_lists
		pkg=$(resolve)
		[ -n "$pkg" ] || skip "cannot resolve linux-image-amd64"
		echo "build-guest: fetching $pkg (lists updated)" >&2
		(cd "$work" && apt-get download "$pkg" >/dev/null 2>&1) ||
			skip "apt-get download $pkg failed"
	fi
	dpkg -x "$work"/*.deb "$work/root"
	vmlinuz=$(find "$work/root/boot" -name 'vmlinuz-*' | head -n1)
	[ -n "$vmlinuz" ] || skip "no kernel in $pkg"
	# The bzImage carries the kernel as an xz stream: find its magic
	# (FD 37 7A 58 5A 00) and decompress from there.
	off=$(LC_ALL=C grep -m1 -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -n1 | cut -d: -f1)
	[ -n "$off" ] || skip "no xz payload in $vmlinuz"
	tail -c +$((off + 1)) "$vmlinuz" | xz -dc --single-stream \
		>"$work/vmlinux" 2>/dev/null || true
	head -c 4 "$work/vmlinux" | grep -q 'ELF' ||
		skip "could not extract vmlinux"
	kver=$(ls "$work/root/lib/modules" | head -n1)
	mkdir -p "$work/modules"
	kd=$work/root/lib/modules/$kver/kernel
	for m in $modules; do
		f=$kd/$m.ko
		if [ -f "$f.xz" ]; then
			xz -dc "$f.xz" >"$work/modules/$(basename "$m").ko"
		else
			cp "$f" "$work/modules/"
		fi
		echo "$(basename "$m").ko" >>"$work/modules/order"
	done
	rm -rf "$cache/modules"
	mv "$work/modules" "$cache/modules"
	mv "$work/vmlinux" "$cache/vmlinux"
	echo "$pkg" >"$cache/kernel-package"
	rm -rf "$work"
	trap - EXIT
fi

# ---- initramfs ------------------------------------------------------------
# Named by what goes in (not by mtimes): checkouts of different versions
# share the cache, and each must boot its own init.
key=$(cat "$cache/modules/order" "$here"/guest/* "$here"/guest-tools/* "$0" |
	sha256sum | cut -c1-16)
initramfs=$cache/initramfs-$key.cpio.gz
if [ ! -s "$initramfs" ]; then
	work=$(mktemp -d "$cache/tmp.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	r=$work/root
	mkdir -p "$r"/{bin,dev,proc,sys,mnt,tmp,lib/modules,guest}
	cp "$busybox_bin" "$r/bin/busybox"
	ln -s busybox "$r/bin/sh"
	cp "$cache"/modules/* "$r/lib/modules/"
	cp "$here"/guest/* "$r/guest/"
	mv "$r/guest/init" "$r/init"
	# Static helpers for what busybox lacks (optional: tests skip
	# what they cannot do without them).
	cc=${CC:-cc}
	for src in "$here"/guest-tools/*.c; do
		"$cc" -static -O2 -o "$r/bin/$(basename "$src" .c)" "$src" \
			2>/dev/null || echo "build-guest: cannot build $src" >&2
	done
	chmod +x "$r/init" "$r"/guest/*
	(cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/i.gz"
	mv "$work/i.gz" "$initramfs"
	# Keep the few newest: other checkouts may still want theirs.
	# shellcheck disable=SC2012
	ls -t "$cache"/initramfs-*.cpio.gz | tail -n +6 | xargs -r rm -f
	rm -rf "$work"
	trap - EXIT
fi
echo "$cache/vmlinux $initramfs"
