#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""malformed.py PORT: hand-made and random malformed queries over UDP (and a little TCP) to
hadnsd on 127.0.0.1:PORT. Prints one line per check; exits 1 if any check failed.

"No answer" is decided without sleeping: after each packet a valid probe query follows on the
same socket; the server handles one client socket's datagrams in order (one worker socket per
4-tuple, recvmmsg then sendmmsg in order), so if the first reply is the probe's, the packet got
none.
"""

import random
import socket
import struct
import sys

HOST = "127.0.0.1"
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, NOTAUTH = 0, 1, 2, 3, 4, 5, 9
RNAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
          9: "NOTAUTH"}
PROBE_ID = 0xBEEF

failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL: " + msg)


def name(text):
    out = b""
    for label in text.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def header(qid=0x1234, flags=0, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def question(qname="www.example.com", qtype=1, qclass=1):
    return name(qname) + struct.pack("!HH", qtype, qclass)


def opt(payload=1232, ext_rcode=0, version=0, flags=0, rdata=b"", owner=b"\0"):
    return owner + struct.pack("!HHBBHH", 41, payload, ext_rcode, version, flags, len(rdata)) + rdata


def option(code, data):
    return struct.pack("!HH", code, len(data)) + data


def query(qid=0x1234, flags=0, qname="www.example.com", qtype=1, edns=False):
    return header(qid, flags, 1, 0, 0, 1 if edns else 0) + question(qname, qtype) + (
        opt() if edns else b"")


PROBE = query(PROBE_ID, qname="www.example.com")


class Client:
    def __init__(self, port):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.connect((HOST, port))
        self.s.settimeout(5)

    def exchange(self, pkt):
        """Sends pkt then the probe; returns the reply to pkt (bytes) or None (no reply)."""
        self.s.send(pkt)
        self.s.send(PROBE)
        first = self.s.recv(65535)
        if len(first) >= 2 and first[:2] == struct.pack("!H", PROBE_ID) and \
                not (len(pkt) >= 2 and pkt[:2] == first[:2]):
            return None
        probe = self.s.recv(65535)
        if probe[:2] != struct.pack("!H", PROBE_ID):
            fail("probe reply out of order (got id %04x)" % struct.unpack("!H", probe[:2]))
        return first

    def batch(self, pkts):
        """Sends pkts then the probe; returns every reply that came before the probe's."""
        for p in pkts:
            self.s.send(p)
        self.s.send(PROBE)
        replies = []
        while True:
            r = self.s.recv(65535)
            if r[:2] == struct.pack("!H", PROBE_ID) and len(r) >= 12 and r[2] & 0x80 and \
                    struct.unpack("!H", r[6:8])[0] == 2:
                return replies
            replies.append(r)


def parse_hdr(r):
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", r[:12])
    return {"id": qid, "qr": flags >> 15, "opcode": (flags >> 11) & 0xF, "aa": (flags >> 10) & 1,
            "tc": (flags >> 9) & 1, "rd": (flags >> 8) & 1, "ra": (flags >> 7) & 1,
            "z": (flags >> 6) & 1, "ad": (flags >> 5) & 1, "cd": (flags >> 4) & 1,
            "rcode": flags & 0xF, "qd": qd, "an": an, "ns": ns, "ar": ar}


def has_opt(r):
    """Whether the reply's additional section holds an OPT (walks the message)."""
    h = parse_hdr(r)
    p = 12

    def skip_name(p):
        while True:
            length = r[p]
            if length & 0xC0 == 0xC0:
                return p + 2
            p += 1 + length
            if length == 0:
                return p
    for _ in range(h["qd"]):
        p = skip_name(p) + 4
    for i in range(h["an"] + h["ns"] + h["ar"]):
        start = p
        p = skip_name(p)
        rtype, _, _, rdlen = struct.unpack("!HHIH", r[p:p + 10])
        if rtype == 41 and i >= h["an"] + h["ns"] and r[start] == 0:
            return True
        p += 10 + rdlen
    return False


def expect(c, desc, pkt, rcode=None, silent=False, opcode=None, with_opt=None, any_of=None):
    r = c.exchange(pkt)
    if silent:
        if r is not None:
            fail("%s: expected no reply, got rcode %s" % (desc, parse_hdr(r)["rcode"]))
        else:
            print("ok: %s: no reply" % desc)
        return None
    if r is None:
        fail("%s: no reply (expected %s)" % (desc, RNAMES.get(rcode, any_of)))
        return None
    if len(r) < 12:
        fail("%s: a %d-byte reply" % (desc, len(r)))
        return None
    h = parse_hdr(r)
    ok = True
    want_id = struct.unpack("!H", pkt[:2])[0]
    if h["id"] != want_id or not h["qr"]:
        fail("%s: reply id %04x qr %d (expected id %04x, qr 1)" % (desc, h["id"], h["qr"], want_id))
        ok = False
    want = [rcode] if rcode is not None else any_of
    if want is not None and h["rcode"] not in want:
        fail("%s: rcode %s, expected %s" % (desc, RNAMES.get(h["rcode"], h["rcode"]),
                                             "/".join(RNAMES[w] for w in want)))
        ok = False
    if opcode is not None and h["opcode"] != opcode:
        fail("%s: opcode %d in the reply, expected %d (RFC 1035 §4.1.1: copied)" %
             (desc, h["opcode"], opcode))
        ok = False
    if h["z"]:
        fail("%s: Z bit set in the reply (RFC 1035 §4.1.1: must be zero)" % desc)
        ok = False
    if with_opt is not None and has_opt(r) != with_opt:
        fail("%s: %s OPT in the reply (RFC 6891 §7: a request with an OPT gets one back)" %
             (desc, "an" if not with_opt else "no"))
        ok = False
    if ok:
        print("ok: %s: %s" % (desc, RNAMES.get(h["rcode"], h["rcode"])))
    return h


def hand_made(c):
    q = question()
    expect(c, "empty datagram", b"", silent=True)
    expect(c, "5 bytes", b"\x12\x34\x00\x00\x00", silent=True)
    expect(c, "11 bytes", header()[:11], silent=True)
    expect(c, "header only, qdcount=1", header(qd=1), FORMERR)
    expect(c, "header only, qdcount=0", header(qd=0), FORMERR)
    expect(c, "qdcount=2", header(qd=2) + q + question("example.com", 6), FORMERR)
    expect(c, "qdcount=2, one question present", header(qd=2) + q, FORMERR)
    expect(c, "qdcount=0 with a question", header(qd=0) + q, FORMERR)
    rr = name("www.example.com") + struct.pack("!HHIH", 1, 1, 300, 4) + b"\xc0\x00\x02\x01"
    expect(c, "ancount=1", header(an=1) + q + rr, FORMERR)
    expect(c, "nscount=1", header(ns=1) + q + rr, FORMERR)
    expect(c, "label type 0x40 (RFC 6891 §5)", header() + b"\x41" + b"a" * 1 + b"\0" +
           struct.pack("!HH", 1, 1), FORMERR)
    expect(c, "label type 0x80", header() + b"\x81a\0" + struct.pack("!HH", 1, 1), FORMERR)
    expect(c, "compression pointer in the question", header() + b"\xc0\x0c" +
           struct.pack("!HH", 1, 1), FORMERR)
    expect(c, "pointer to itself in the question", header() + b"\x03www\xc0\x0c" +
           struct.pack("!HH", 1, 1), FORMERR)
    expect(c, "label running past the end", header() + b"\x3fwww", FORMERR)
    expect(c, "name without its terminating zero", header() + b"\x03www\x07example",
           FORMERR)
    long_name = (b"\x3f" + b"a" * 63) * 4 + b"\0"  # 257 bytes > 255 (RFC 1035 §3.1)
    expect(c, "a 257-byte qname", header() + long_name + struct.pack("!HH", 1, 1), FORMERR)
    expect(c, "question without type and class", header() + name("www.example.com"), FORMERR)
    expect(c, "question with a type but no class", header() + name("www.example.com") +
           b"\x00\x01", FORMERR)
    expect(c, "arcount=1, nothing there", header(ar=1) + q, FORMERR)
    expect(c, "arcount=2, one OPT", header(ar=2) + q + opt(), FORMERR)
    # OPT problems (RFC 6891 §6.1.1).
    expect(c, "OPT owner: a compression pointer to itself",
           header(ar=1) + q + b"\xc0" + bytes([12 + len(q)]) + opt()[1:], FORMERR)
    expect(c, "OPT owner: forward pointer", header(ar=1) + q + b"\xc0\xff" + opt()[1:], FORMERR)
    expect(c, "OPT owner: pointer loop (a -> b -> a)",
           header(ar=1) + q + b"\x01a\xc0" + bytes([12 + len(q) + 4]) + b"\xc0" +
           bytes([12 + len(q)]) + opt()[1:], FORMERR)
    expect(c, "OPT owner not the root", header(ar=1) + q + opt(owner=name("a")), FORMERR)
    expect(c, "two OPT RRs", header(ar=2) + q + opt() + opt(), FORMERR)
    expect(c, "OPT rdlen past the end", header(ar=1) + q + opt()[:-2] + b"\x00\x10", FORMERR)
    expect(c, "OPT option header cut short", header(ar=1) + q + opt(rdata=b"\x00\x03\x00"),
           FORMERR)
    expect(c, "OPT option length past rdlen", header(ar=1) + q +
           opt(rdata=b"\x00\x03\x00\x08ab"), FORMERR)
    expect(c, "OPT fixed part cut short", header(ar=1) + q + opt()[:7], FORMERR)
    # RFC 7871 §6: the SCOPE PREFIX-LENGTH of a query's ECS MUST be 0.
    expect(c, "ECS with a non-zero scope", header(ar=1) + q +
           opt(rdata=option(8, b"\x00\x01\x18\x10\xc0\x00\x02")), FORMERR)
    expect(c, "ECS with bits past the source prefix", header(ar=1) + q +
           opt(rdata=option(8, b"\x00\x01\x17\x00\xc0\x00\x03")), FORMERR)
    expect(c, "ECS with an unknown family", header(ar=1) + q +
           opt(rdata=option(8, b"\x00\x07\x08\x00\xc0")), FORMERR)
    expect(c, "well-formed ECS", header(ar=1) + q +
           opt(rdata=option(8, b"\x00\x01\x18\x00\xc0\x00\x02")), NOERROR)
    # Responses are not answered (RFC 1035 §4.1.1 QR; answering would allow reflection loops).
    expect(c, "QR=1", query(flags=0x8000), silent=True)
    expect(c, "QR=1, NOTIFY", query(flags=0x8000 | (4 << 11)), silent=True)
    expect(c, "QR=1, header only", header(flags=0x8000, qd=0), silent=True)
    # Opcodes other than QUERY: NOTIMP, opcode copied (RFC 1035 §4.1.1).
    for op, opname in ((1, "IQUERY"), (2, "STATUS"), (3, "unassigned 3"), (4, "NOTIFY"),
                       (5, "UPDATE"), (6, "DSO"), (15, "unassigned 15")):
        expect(c, "opcode %s" % opname, query(flags=op << 11), NOTIMP, opcode=op)
    soa_q = header(flags=4 << 11 | 0x0400) + question("example.com", 6)
    expect(c, "NOTIFY for a served zone (not implemented yet)", soa_q, NOTIMP, opcode=4)
    expect(c, "NOTIFY with a malformed question", header(flags=4 << 11) + b"\x3fab",
           any_of=[FORMERR, NOTIMP])
    # RFC 6891 §7: "If an OPT record is present in a received request, compliant responders
    # MUST include an OPT record in their respective responses."
    expect(c, "opcode STATUS with a valid OPT", header(flags=2 << 11, ar=1) + q + opt(),
           NOTIMP, opcode=2, with_opt=True)
    expect(c, "UPDATE with a valid OPT", header(flags=5 << 11, ar=1) + q + opt(),
           NOTIMP, opcode=5, with_opt=True)
    # Header bits.
    h = expect(c, "Z bit set in the query", query(flags=0x0040), NOERROR)
    h = expect(c, "AD bit set in the query", query(flags=0x0020), NOERROR)
    if h and h["ad"]:
        fail("AD set in an authoritative reply")
    h = expect(c, "TC bit set in the query", query(flags=0x0200), NOERROR)
    if h and h["tc"]:
        fail("TC set in the reply to a small query")
    h = expect(c, "RA bit set in the query", query(flags=0x0080), NOERROR)
    if h and h["ra"]:
        fail("RA set by an authoritative-only server")
    expect(c, "an rcode in the query", query(flags=0x0005), NOERROR)
    # Odd questions: any error rcode will do, but an answer, never a crash.
    expect(c, "QTYPE 0", query(qtype=0), any_of=[NOERROR, FORMERR, NOTIMP, REFUSED])
    expect(c, "QTYPE OPT", query(qtype=41), any_of=[FORMERR, NOTIMP, REFUSED])
    expect(c, "QTYPE AXFR over UDP", query(qtype=252), any_of=[FORMERR, NOTIMP, REFUSED])
    expect(c, "QTYPE IXFR over UDP", query(qtype=251), any_of=[FORMERR, NOTIMP, REFUSED])
    expect(c, "QTYPE MAILB", query(qtype=253), any_of=[NOTIMP, REFUSED, NOERROR])
    expect(c, "QTYPE TSIG", query(qtype=250), any_of=[FORMERR, NOTIMP, REFUSED])
    expect(c, "QCLASS ANY", header() + question(qclass=255), any_of=[REFUSED, NOTIMP, NOERROR])
    expect(c, "QCLASS NONE", header() + question(qclass=254), any_of=[REFUSED, NOTIMP, FORMERR])
    expect(c, "QCLASS CH", header() + question("version.bind", 16, 3),
           any_of=[REFUSED, NOTIMP])
    expect(c, "the root name", header() + question(".", 2), REFUSED)
    expect(c, "a label of binary bytes", header() + b"\x04\x00\xff\x2e\x80" +
           name("example.com") + struct.pack("!HH", 1, 1), NXDOMAIN)
    expect(c, "a 255-byte qname (outside our zones)",
           header() + (b"\x3f" + b"a" * 63) * 3 + b"\x3d" + b"b" * 61 + b"\0" +
           struct.pack("!HH", 1, 1), REFUSED)
    expect(c, "a 4096-byte datagram of padding after the question",
           query() + b"\0" * (4096 - len(query())), any_of=[NOERROR, FORMERR])
    r = c.exchange(query(0x5555) + b"\0" * 6000)
    print("ok: a 6000-byte datagram: %s" % ("no reply" if r is None else
                                            RNAMES.get(parse_hdr(r)["rcode"], "?")))
    expect(c, "EDNS payload 0", header(ar=1) + q + opt(payload=0), NOERROR)
    expect(c, "EDNS payload 65535", header(ar=1) + q + opt(payload=65535), NOERROR)
    expect(c, "OPT with an extended rcode set", header(ar=1) + q + opt(ext_rcode=1), NOERROR)
    expect(c, "OPT with all flag bits", header(ar=1) + q + opt(flags=0xFFFF), NOERROR)
    expect(c, "a TSIG-looking RR after the OPT", header(ar=2) + q + opt() + name("k") +
           struct.pack("!HHIH", 250, 255, 0, 0), any_of=[NOERROR, FORMERR, NOTAUTH])


def fuzz(c, seed):
    """Random datagrams and mutated valid queries; every reply must be a sane reply to one
    of them."""
    rng = random.Random(seed)
    base = [query(edns=True), query(qname="cdn.example.com", edns=True),
            header(ar=1) + question("www.child.example.com") +
            opt(flags=0x8000, rdata=option(3, b"") + option(8, b"\x00\x01\x18\x00\xc0\x00\x02")),
            query(qname="nope.example.com"), query(qname="big.example.com", qtype=16)]
    sent = replies = 0
    pkts = []
    for i in range(6000):
        if i % 2 == 0:
            n = rng.choice([rng.randrange(0, 16), rng.randrange(0, 64), rng.randrange(0, 600)])
            p = bytes(rng.randrange(256) for _ in range(n))
        else:
            p = bytearray(rng.choice(base))
            for _ in range(rng.randrange(1, 5)):
                k = rng.randrange(len(p))
                p[k] = rng.randrange(256) if rng.random() < 0.5 else p[k] ^ (1 << rng.randrange(8))
            if rng.random() < 0.2:
                p = p[:rng.randrange(len(p) + 1)]
            p = bytes(p)
        if len(p) >= 2 and p[:2] == struct.pack("!H", PROBE_ID):
            continue
        pkts.append(p)
    for i in range(0, len(pkts), 32):
        chunk = pkts[i:i + 32]
        sent += len(chunk)
        ids = {}
        for p in chunk:
            if len(p) >= 12:
                ids.setdefault(p[:2], []).append(p)
        for r in c.batch(chunk):
            replies += 1
            if len(r) < 12:
                fail("fuzz: a %d-byte reply" % len(r))
                continue
            h = parse_hdr(r)
            qs = ids.get(r[:2])
            if not qs:
                fail("fuzz: a reply with id %04x matching no query of its batch" % h["id"])
                continue
            if not h["qr"]:
                fail("fuzz: a reply without QR")
            if all(q[2] & 0x80 for q in qs):
                fail("fuzz: a reply to a response (QR=1 query, id %04x)" % h["id"])
            if all(((q[2] >> 3) & 0xF) != h["opcode"] for q in qs):
                fail("fuzz: reply opcode %d differs from its query's" % h["opcode"])
            if h["z"]:
                fail("fuzz: Z set in a reply")
        if failures > 20:
            break
    print("ok: fuzz (seed %d): %d datagrams, %d replies" % (seed, sent, replies))


def tcp_fuzz(port, seed):
    """Random length-prefixed messages over TCP; the server may close the connection on
    nonsense, and we reconnect."""
    rng = random.Random(seed)
    s = None
    closes = 0
    for i in range(500):
        if s is None:
            s = socket.create_connection((HOST, port), timeout=5)
        n = rng.randrange(0, 300)
        body = bytes(rng.randrange(256) for _ in range(n))
        if i % 3 == 0:
            body = bytearray(query(edns=True))
            k = rng.randrange(len(body))
            body[k] ^= 1 << rng.randrange(8)
            body = bytes(body)
        closed = False
        try:
            s.sendall(struct.pack("!H", len(body)) + body)
            s.settimeout(0.0)
            try:
                while True:
                    if not s.recv(65535):
                        closed = True
                        break
            except BlockingIOError:
                pass
            s.settimeout(5)
        except OSError:
            closed = True
        if closed:
            s.close()
            s = None
            closes += 1
    if s:
        s.close()
    print("ok: TCP fuzz (seed %d): 500 messages, %d reconnects" % (seed, closes))


def main():
    port = int(sys.argv[1])
    c = Client(port)
    hand_made(c)
    fuzz(c, 20261121)
    fuzz(Client(port), 7)
    tcp_fuzz(port, 99)
    # Still serving?
    h = expect(Client(port), "a normal query afterwards", query(0x4242), NOERROR)
    if h and (h["an"] != 2 or not h["aa"]):
        fail("a normal query afterwards: %d answers, aa %d (expected 2, 1)" % (h["an"], h["aa"]))
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
