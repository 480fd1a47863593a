#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Minimal QMP client for tests/images/selftest.sh.

    qmp.py SOCKET COMMAND [JSON-ARGUMENTS] [COMMAND [JSON-ARGUMENTS]]...

Connects to QEMU's QMP unix socket, negotiates capabilities and runs the
commands in order. Prints each "return" as JSON on stdout; on a QMP error
prints it on stderr and exits 1. Not a general QMP library: no events are
reported, they are skipped.
"""
import json
import socket
import sys


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(argv[1])
    f = sock.makefile("rw", encoding="utf-8")

    def reply():
        while True:
            line = f.readline()
            if not line:
                raise ConnectionError("QMP socket closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def execute(cmd, args):
        req = {"execute": cmd}
        if args is not None:
            req["arguments"] = args
        f.write(json.dumps(req) + "\n")
        f.flush()
        return reply()

    reply()  # greeting
    execute("qmp_capabilities", None)
    rest = argv[2:]
    while rest:
        cmd, rest = rest[0], rest[1:]
        args = None
        if rest and rest[0].startswith("{"):
            args, rest = json.loads(rest[0]), rest[1:]
        msg = execute(cmd, args)
        if "error" in msg:
            print("qmp: %s: %s" % (cmd, msg["error"].get("desc", msg["error"])),
                  file=sys.stderr)
            return 1
        print(json.dumps(msg.get("return")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
