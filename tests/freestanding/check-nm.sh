#!/bin/bash
# SPDX-License-Identifier: MIT
# What a freestanding archive needs from its embedder: every symbol it
# leaves undefined must be one of memcpy memmove memset memcmp and the
# documented embedder hooks (lib/vb_os.h). Anything else - strlen, a libgcc
# helper (__aeabi_uldivmod, __udivdi3), an outline atomic (__atomic_*,
# __aarch64_cas*) - fails the check, with the member that needs it.
# Usage: check-nm.sh NM ARCHIVE
set -euo pipefail
nm=$1 archive=$2
allowed="memcpy memmove memset memcmp vback_embed_calloc vback_embed_free"
defined=$("$nm" --defined-only "$archive" 2>/dev/null |
	awk 'NF >= 3 { print $3 }' | sort -u)
bad=0
while read -r member sym; do
	grep -qx -- "$sym" <<<"$defined" && continue
	case " $allowed " in *" $sym "*) continue ;; esac
	echo "check-nm: $member needs $sym, which an embedder does not provide"
	bad=1
done < <("$nm" -u "$archive" | awk '/:$/ { m = $1; next } NF { print m, $NF }')
if [ "$bad" -ne 0 ]; then
	echo "check-nm: FAIL ($archive)"
	exit 1
fi
echo "check-nm: $archive needs only: $(
	"$nm" -u "$archive" | awk 'NF == 2 { print $2 }' | sort -u |
	grep -vxF "$defined" | tr '\n' ' ')"
