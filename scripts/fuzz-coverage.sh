#!/bin/bash
# SPDX-License-Identifier: MIT
# Line coverage of each fuzz target's code under test by its corpus
# (docs/fuzzing.md): builds the replay executables with gcc --coverage in
# build-cov/, runs every input of the long-run corpus
# (build-fuzz/fuzz-long/<target>/corpus, from scripts/fuzz.sh), the seeds
# and the regressions once, and prints per file the share of lines run.
# The annotated sources (lines never run marked #####) land in
# build-cov/fuzz-coverage/<target>/.
#
# usage: scripts/fuzz-coverage.sh [TARGET...]   (default: every target
#        below)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

declare -A subject=(
	[virtqueue]="virtio/virtqueue.c virtio/device.c"
	[blk]="virtio/blk.c virtio/virtqueue.c virtio/device.c"
	[mmio]="virtio/mmio.c virtio/device.c"
	[xen_ioreq]="transport/xen/ioreq.c transport/xen/mmio.c transport/xen/gm.c"
	[xenstore]="transport/xen/backend.c transport/xen/parse.c"
	[vhost_user]="transport/vhost-user/protocol.c transport/vhost-user/memory.c transport/vhost-user/vhost_user.c"
	[inflight]="virtio/inflight.c"
	[xen_state]="transport/xen/state.c"
	[ctl]="examples/vback-disk/ctl.c examples/vback-disk/json.c"
)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	mapfile -t targets < <(printf '%s\n' "${!subject[@]}" | sort)
fi
for t in "${targets[@]}"; do
	[ -n "${subject[$t]:-}" ] || { echo "$t: no such target" >&2; exit 2; }
done

build="build-cov"
if [ ! -f "$build/build.ninja" ]; then
	CC=gcc meson setup "$build" -Db_coverage=true -De2e=disabled \
		-Ddocs=disabled >/dev/null
fi
ninja -C "$build" fuzz-targets >/dev/null
out=$build/fuzz-coverage
printf '%-11s %-36s %6s %6s\n' target file lines run
for t in "${targets[@]}"; do
	exe=$build/tests/fuzz/fuzz_$t
	[ -x "$exe" ] || { echo "$t: not built" >&2; continue; }
	find "$exe.p" -name '*.gcda' -delete
	dirs=()
	for d in build-fuzz/fuzz-long/$t/corpus tests/fuzz/corpus/$t \
		tests/fuzz/regressions/$t; do
		[ -d "$d" ] && dirs+=("$d")
	done
	"$exe" "${dirs[@]}" >/dev/null
	mkdir -p "$out/$t"
	for f in ${subject[$t]}; do
		gcda=$(find "$exe.p" -name "*$(echo "$f" | tr / _).gcda" | head -1)
		[ -n "$gcda" ] || { echo "$t $f: no data" >&2; continue; }
		(cd "$build" && gcov -o "${exe#"$build"/}.p" "${gcda#"$build"/}" \
			>/dev/null 2>&1)
		g=$build/$(basename "$f").gcov
		mv "$g" "$out/$t/"
		awk -v t="$t" -v f="$f" '
			$1 ~ /^#####:/ { n++ }
			$1 ~ /^[0-9]+\*?:/ { e++ }
			END { printf "%-11s %-36s %6d %5.1f%%\n", t, f, e + n,
			      100 * e / (e + n) }' "$out/$t/$(basename "$f").gcov"
	done
	rm -f "$build"/*.gcov
done
