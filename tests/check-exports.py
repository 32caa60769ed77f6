#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The shared library exports exactly the functions that include/vback/
declares with VBACK_API: nothing internal leaks, nothing public is missing.

Usage: check-exports.py INCLUDEDIR LIBVBACK.so NM
"""
import glob
import os
import re
import subprocess
import sys

DECL = re.compile(r'^VBACK_API\b[^;{]*?\b(vback_\w+)\s*\(', re.M)


def main():
    incdir, lib, nm = sys.argv[1:4]
    declared = set()
    for h in glob.glob(os.path.join(incdir, 'vback', '*.h')):
        with open(h) as f:
            declared |= set(DECL.findall(f.read()))
    out = subprocess.run([nm, '-D', '--defined-only', lib], check=True,
                         capture_output=True, text=True).stdout
    exported = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in 'TtWDdBbRr' and \
                not parts[2].startswith(('_', 'VBACK_')):
            exported.add(parts[2].split('@')[0])
    missing = sorted(declared - exported)
    extra = sorted(exported - declared)
    for s in missing:
        print('declared VBACK_API but not exported (no definition?):', s)
    for s in extra:
        print('exported but not declared in include/vback:', s)
    if missing or extra:
        return 1
    print(f'exports: {len(declared)} public functions, no extras')
    return 0


if __name__ == '__main__':
    sys.exit(main())
