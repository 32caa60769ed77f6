#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Doxygen INPUT_FILTER: the vback headers name parameters kernel-doc style
(`@len`, `@opts->dev`) in their comments. Doxygen would read those as
unknown commands; turn each one that is not a doxygen command into `\\p`."""
import re
import sys

# Not 'p' and 'c': the headers use them as parameter names (@p, a poller).
COMMANDS = {
    'param', 'return', 'returns', 'retval', 'brief', 'details', 'cond',
    'endcond', 'ref', 'note', 'warning', 'see', 'sa', 'code', 'endcode',
    'file', 'defgroup', 'ingroup', 'addtogroup', 'pre', 'post',
    'since', 'deprecated', 'mainpage', 'page', 'section', 'subsection',
    'li', 'verbatim', 'endverbatim', 'struct', 'enum', 'def',
}
REF = re.compile(r'@([A-Za-z_]\w*)')


def convert(line):
    return REF.sub(lambda m: m.group(0) if m.group(1) in COMMANDS
                   else '\\p ' + m.group(1), line)


def main():
    with open(sys.argv[1], encoding='utf-8') as f:
        in_comment = False
        for line in f:
            # Only comments: code never has '@', but stay on the safe side.
            out = []
            rest = line
            while rest:
                if in_comment:
                    end = rest.find('*/')
                    part = rest if end < 0 else rest[:end + 2]
                    out.append(convert(part))
                    rest = '' if end < 0 else rest[end + 2:]
                    in_comment = end < 0
                else:
                    start = rest.find('/*')
                    if start < 0:
                        out.append(rest)
                        rest = ''
                    else:
                        out.append(rest[:start])
                        rest = rest[start:]
                        in_comment = True
            sys.stdout.write(''.join(out))


if __name__ == '__main__':
    main()
