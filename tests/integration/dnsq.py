#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dnsq.py: one DNS query, its response printed as parsed fields, one per line.

Used by tests/integration/lib.sh (q, expect_*); the tests assert on these lines, never on
dig's text. Needs dnspython (dns.message only: dns.query imports far more and is slow).

    dnsq.py -p PORT [-s ADDR] [--tcp] [--edns V] [--payload N] [--do] [--nsid] [--rd]
            [--cd] [--id N] [--opcode N] [--qclass C] [--opt CODE:HEX] QNAME QTYPE

Output (sections sorted, so a test compares RR sets, not the server's order):
    id 4242
    opcode QUERY
    rcode NOERROR                  (extended rcodes included: BADVERS)
    flags qr aa                    (in the order qr aa tc rd ra ad cd; z if the Z bit is set)
    question example.com. IN A     (as on the wire, letter case included)
    counts QD AN NS AR             (the header's counts)
    edns none | edns VERSION
    payload N                      (EDNS only)
    ednsflags do                   (EDNS only; empty when no flag)
    option NSID 6861646e7364       (EDNS only, one line per option, hex data)
    an|ns|ar OWNER TTL CLASS TYPE RDATA
    size N                         (the response's length in bytes)

Exit status: 0 a response was parsed; 3 timeout (prints "timeout"); 1 anything else.

    dnsq.py --serve

reads one query per line on stdin (the arguments above, separated by \x1f) and answers each
with the output above, then a line "\x1e" followed by the exit status. lib.sh keeps one such
process per test, which saves the interpreter's start-up on every query.
"""

import argparse
import binascii
import random
import socket
import struct
import sys

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype

FLAG_ORDER = [("qr", 0x8000), ("aa", 0x0400), ("tc", 0x0200), ("rd", 0x0100),
              ("ra", 0x0080), ("z", 0x0040), ("ad", 0x0020), ("cd", 0x0010)]


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def exchange(wire, addr, port, tcp, timeout, qid):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    if tcp:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect((addr, port))
            s.sendall(struct.pack("!H", len(wire)) + wire)
            (n,) = struct.unpack("!H", recv_exact(s, 2))
            return recv_exact(s, n)
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect((addr, port))
        # Loopback does not lose datagrams, but a second try costs nothing.
        for _ in range(2):
            s.send(wire)
            s.settimeout(timeout / 2)
            try:
                while True:
                    data = s.recv(65535)
                    if len(data) >= 2 and struct.unpack("!H", data[:2])[0] == qid:
                        return data
            except socket.timeout:
                continue
    raise socket.timeout()


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def run(argv):
    """One query; returns (status, output lines)."""
    ap = Parser()
    ap.add_argument("-s", "--server", default="127.0.0.1")
    ap.add_argument("-p", "--port", type=int, required=True)
    ap.add_argument("--tcp", action="store_true")
    ap.add_argument("--edns", type=int, default=None, help="EDNS version (default: no OPT)")
    ap.add_argument("--payload", type=int, default=1232)
    ap.add_argument("--do", action="store_true")
    ap.add_argument("--nsid", action="store_true")
    ap.add_argument("--rd", action="store_true")
    ap.add_argument("--cd", action="store_true")
    ap.add_argument("--id", type=int, default=None)
    ap.add_argument("--opcode", type=int, default=0)
    ap.add_argument("--qclass", default="IN")
    ap.add_argument("--opt", action="append", default=[], help="extra EDNS option CODE:HEX")
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("qname")
    ap.add_argument("qtype")
    try:
        a = ap.parse_args(argv)
    except UsageError as e:
        return 1, ["error usage: %s" % e]

    if (a.do or a.nsid or a.opt) and a.edns is None:
        a.edns = 0
    qid = a.id if a.id is not None else random.randrange(0, 65536)
    msg = dns.message.Message(id=qid)
    msg.flags = 0
    if a.rd:
        msg.flags |= dns.flags.RD
    if a.cd:
        msg.flags |= dns.flags.CD
    msg.set_opcode(a.opcode)
    qname = dns.name.from_text(a.qname)  # keeps the letter case for the wire
    msg.find_rrset(msg.question, qname, dns.rdataclass.from_text(a.qclass),
                   dns.rdatatype.from_text(a.qtype), create=True, force_unique=True)
    if a.edns is not None:
        options = []
        if a.nsid:
            options.append(dns.edns.GenericOption(dns.edns.NSID, b""))
        for o in a.opt:
            code, _, data = o.partition(":")
            options.append(dns.edns.GenericOption(int(code), binascii.unhexlify(data)))
        msg.use_edns(a.edns, dns.flags.DO if a.do else 0, a.payload, options=options)
    wire = msg.to_wire()

    try:
        resp = exchange(wire, a.server, a.port, a.tcp, a.timeout, qid)
    except socket.timeout:
        return 3, ["timeout"]
    except OSError as e:
        return 1, ["error %s" % e]

    r = dns.message.from_wire(resp, one_rr_per_rrset=True, raise_on_truncation=False)
    out = []
    out.append("id %d" % r.id)
    out.append("opcode %s" % dns.opcode.to_text(r.opcode()))
    out.append("rcode %s" % dns.rcode.to_text(r.rcode()))
    hflags = struct.unpack("!H", resp[2:4])[0]
    out.append("flags " + " ".join(n for n, bit in FLAG_ORDER if hflags & bit))
    for q in r.question:
        out.append("question %s %s %s" % (q.name.to_text(), dns.rdataclass.to_text(q.rdclass),
                                          dns.rdatatype.to_text(q.rdtype)))
    out.append("counts %d %d %d %d" % struct.unpack("!HHHH", resp[4:12]))
    if r.edns < 0:
        out.append("edns none")
    else:
        out.append("edns %d" % r.edns)
        out.append("payload %d" % r.payload)
        out.append("ednsflags" + ("".join(" " + f.lower() for f in
                                          dns.flags.edns_to_text(r.ednsflags).split()
                                          if f)))
        for o in r.options:
            data = o.to_wire() if hasattr(o, "to_wire") else b""
            try:
                name = dns.edns.OptionType(o.otype).name
            except ValueError:
                name = str(int(o.otype))
            out.append("option %s %s" % (name, binascii.hexlify(data or b"").decode()))
    for tag, section in (("an", r.answer), ("ns", r.authority), ("ar", r.additional)):
        lines = []
        for rrset in section:
            for line in rrset.to_text().splitlines():
                lines.append("%s %s" % (tag, line))
        out.extend(sorted(lines))
    out.append("size %d" % len(resp))
    return 0, out


def main():
    if sys.argv[1:] == ["--serve"]:
        for line in sys.stdin:
            argv = line.rstrip("\n").split("\x1f")
            if argv and argv[-1] == "":
                argv.pop()
            try:
                rc, out = run(argv)
            except Exception as e:  # a bug here must not hang the test: report it
                rc, out = 1, ["error %s: %s" % (type(e).__name__, e)]
            sys.stdout.write("".join(o + "\n" for o in out) + "\x1e%d\n" % rc)
            sys.stdout.flush()
        return 0
    rc, out = run(sys.argv[1:])
    print("\n".join(out))
    return rc


if __name__ == "__main__":
    sys.exit(main())
