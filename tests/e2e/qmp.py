#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The run state of a QEMU, from its QMP socket: qmp.py SOCKET

Prints QEMU's status (query-status: running, paused, internal-error,
guest-panicked, shutdown, prelaunch, ...) and exits 0; exits 1 with nothing
on stdout when QEMU does not answer within two seconds (not up yet, gone).
"""
import json
import socket
import sys


def main():
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(2)
        sock.connect(sys.argv[1])
        stream = sock.makefile('rw')
        stream.readline()  # the greeting

        def execute(command):
            stream.write(json.dumps({'execute': command}) + '\n')
            stream.flush()
            while True:
                line = stream.readline()
                if not line:
                    raise OSError('QMP closed')
                reply = json.loads(line)
                if 'return' in reply or 'error' in reply:
                    return reply  # events in between are skipped

        execute('qmp_capabilities')
        print(execute('query-status')['return']['status'])
    except (OSError, ValueError, KeyError):
        sys.exit(1)


if __name__ == '__main__':
    main()
