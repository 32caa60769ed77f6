#!/bin/bash
# SPDX-License-Identifier: MIT
# Link the bare-metal test program against a freestanding vback archive:
#
#   build.sh SRCROOT ARCHIVE OUTDIR CC...
#
# CC is the cross compiler with its arguments, as the cross file names it
# (aarch64-linux-gnu-gcc). Writes OUTDIR/vback-baremetal.elf. No libc, no
# libgcc: what the archive needs beyond the program's runtime (string.c,
# alloc.c) fails the link.
set -euo pipefail
src=$1 archive=$2 out=$3
shift 3
cc=("$@")
here=$src/tests/baremetal
mkdir -p "$out"

cflags=(-std=c11 -O2 -g -ffreestanding -nostdlib -fno-pie
	-fno-stack-protector -fno-strict-aliasing -mgeneral-regs-only
	-mno-outline-atomics -fno-tree-loop-distribute-patterns
	-Wall -Wextra -Werror -Wno-unused-parameter
	-I"$src/include" -I"$src/tests/common" -I"$here")

objs=()
compile() { # SOURCE [EXTRA FLAGS...]
	local s=$1 o
	shift
	o=$out/$(basename "${s%.*}").o
	"${cc[@]}" "${cflags[@]}" "$@" -c "$s" -o "$o"
	objs+=("$o")
}
compile "$here/start.S"
# Runs with the MMU off, where unaligned accesses fault.
compile "$here/mmu.c" -mstrict-align
for f in semihost print alloc clock string fixture hostile main; do
	compile "$here/$f.c"
done
compile "$src/tests/common/guest_mem.c"
compile "$src/tests/common/guest_driver.c"

"${cc[@]}" -nostdlib -static -no-pie -Wl,--build-id=none \
	-Wl,-T,"$here/link.ld" -Wl,-Map,"$out/vback-baremetal.map" \
	"${objs[@]}" "$archive" -o "$out/vback-baremetal.elf"
