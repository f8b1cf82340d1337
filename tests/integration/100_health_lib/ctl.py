#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ctl.py: talks to hadnsd's control socket directly (no hadnsctl), for the tests.

    ctl.py SOCKET send LINE...       sends each LINE (as is, a newline added) on one
                                     connection and prints each reply line
    ctl.py SOCKET field CHECK PATH   prints one field of a check from "checks" (PATH is dotted:
                                     state, counters.probes, last_error); JSON null prints null
    ctl.py SOCKET wait CHECK PATH VALUE [TIMEOUT]
                                     polls "checks" every 50 ms until the field equals VALUE
                                     (">=N": is a number of at least N); exit 1 (printing the
                                     last value) after TIMEOUT s (30)
    ctl.py SOCKET transition CHECK down|up FALL_OR_RISE
                                     exit 0 if, in the check's history, the last D (or U) comes
                                     right after exactly N failures (or successes), which follow
                                     a result of the other kind; else prints the history, exit 1

Exit 3 when the socket cannot be reached.
"""
import json
import socket
import sys
import time


def request(path, obj):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    s.sendall(json.dumps(obj).encode() + b"\n")
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return json.loads(data)


def check(path, name):
    r = request(path, {"command": "checks", "check": name})
    if not r.get("ok"):
        return None
    return r["checks"][0]


def field(obj, dotted):
    for k in dotted.split("."):
        if not isinstance(obj, dict) or k not in obj:
            return "<missing>"
        obj = obj[k]
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "true" if obj else "false"
    return str(obj)


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    try:
        if cmd == "send":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(30)
            s.connect(path)
            for line in args:
                s.sendall(line.encode() + b"\n")
            data = b""
            while data.count(b"\n") < len(args):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            sys.stdout.write(data.decode())
            s.close()
            return 0
        if cmd == "field":
            c = check(path, args[0])
            print(field(c, args[1]) if c else "<no check>")
            return 0
        if cmd == "wait":
            name, dotted, want = args[0], args[1], args[2]
            timeout = float(args[3]) if len(args) > 3 else 30.0
            deadline = time.monotonic() + timeout
            last = None
            while time.monotonic() < deadline:
                c = check(path, name)
                last = field(c, dotted) if c else "<no check>"
                if last == want:
                    return 0
                if want.startswith(">=") and last.isdigit() and int(last) >= int(want[2:]):
                    return 0
                time.sleep(0.05)
            print("check %s: %s is %s, not %s after %g s" % (name, dotted, last, want, timeout))
            return 1
        if cmd == "transition":
            name, to, n = args[0], args[1], int(args[2])
            c = check(path, name)
            h = c["history"] if c else ""
            mark, run, other = ("D", "-", "+U") if to == "down" else ("U", "+", "-D")
            i = h.rfind(mark)
            if i < 0:
                print("check %s: no %s in history %s" % (name, mark, h))
                return 1
            j = i
            while j > 0 and h[j - 1] == run:
                j -= 1
            count = i - j
            if count != n or j == 0 or h[j - 1] not in other:
                print("check %s: history %s: %d '%s' before the last %s (want exactly %d, "
                      "after a result of the other kind)" % (name, h, count, run, mark, n))
                return 1
            return 0
    except (OSError, ValueError) as e:
        print("ctl.py: %s: %s" % (path, e), file=sys.stderr)
        return 3
    print("ctl.py: unknown command %s" % cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
