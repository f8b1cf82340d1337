#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tcp.py CHECK PORT: one RFC 7766 check against hadnsd on 127.0.0.1:PORT (see ../test.sh).

Prints what it checked; exits 0 when the check holds, 1 when it does not. Only waits are
bounded timeouts, never timing assertions beyond "within N seconds".
"""

import socket
import struct
import sys
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

HOST = "127.0.0.1"
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL: " + msg)
    return cond


def query(name, rdtype, qid):
    m = dns.message.make_query(name, rdtype)
    m.id = qid
    m.flags &= ~dns.flags.RD
    return m.to_wire()


def frame(wire):
    return struct.pack("!H", len(wire)) + wire


def connect(port, timeout=5.0):
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def read_msg(s):
    (n,) = struct.unpack("!H", recv_exact(s, 2))
    return dns.message.from_wire(recv_exact(s, n), one_rr_per_rrset=True)


def closed_by_peer(s, timeout):
    """True if the server closes the connection (EOF or reset) within timeout seconds."""
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            data = s.recv(4096)
            if not data:
                return True
            # A response still in flight: keep reading until the close.
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return False


# name, type, expected rcode, expected answer count
BATTERY = [
    ("www.example.com", "A", "NOERROR", 2),
    ("nope.example.com", "A", "NXDOMAIN", 0),
    ("example.org", "A", "REFUSED", 0),
    ("cdn.example.com", "A", "NOERROR", 4),
    ("big.example.com", "TXT", "NOERROR", 7),
    ("example.com", "NS", "NOERROR", 3),
    ("www.example.com", "TXT", "NOERROR", 0),
    ("foo.apps.example.com", "A", "NOERROR", 1),
    ("child.example.com", "DS", "NOERROR", 1),
    ("example.com", "MX", "NOERROR", 2),
]


def check_answers(s, sent):
    """Reads len(sent) responses (any order, RFC 7766 §7) and checks each against its query."""
    got = {}
    for _ in range(len(sent)):
        r = read_msg(s)
        check(r.id not in got, "response id %d received twice" % r.id)
        got[r.id] = r
    check(set(got) == set(sent), "response ids %s != query ids %s" %
          (sorted(set(got) ^ set(sent))[:10], "..."))
    for qid, (name, rdtype, rcode, count) in sent.items():
        r = got.get(qid)
        if r is None:
            continue
        qn = r.question[0].name.to_text() if r.question else "-"
        check(qn == name + ".", "id %d: question %s, expected %s" % (qid, qn, name))
        check(dns.rcode.to_text(r.rcode()) == rcode,
              "id %d (%s %s): rcode %s, expected %s" % (qid, name, rdtype,
                                                       dns.rcode.to_text(r.rcode()), rcode))
        n = sum(len(rr) for rr in r.answer)
        check(n == count, "id %d (%s %s): %d answers, expected %d" % (qid, name, rdtype, n, count))
        check(not (r.flags & dns.flags.TC), "id %d: TC set over TCP" % qid)


def t_pipeline(port):
    """RFC 7766 §6.2.1.1: queries sent back to back in one write are all answered."""
    with connect(port) as s:
        sent = {}
        buf = b""
        for i, (name, rdtype, rcode, count) in enumerate(BATTERY):
            qid = 1000 + i
            sent[qid] = (name, rdtype, rcode, count)
            buf += frame(query(name, rdtype, qid))
        s.sendall(buf)
        check_answers(s, sent)
        print("pipelined %d queries in one write: all answered" % len(sent))
        # Then 300 more on the same connection, still in one write.
        sent = {}
        buf = b""
        for i in range(300):
            name, rdtype, rcode, count = BATTERY[i % len(BATTERY)]
            qid = 2000 + i
            sent[qid] = (name, rdtype, rcode, count)
            buf += frame(query(name, rdtype, qid))
        s.sendall(buf)
        check_answers(s, sent)
        print("pipelined 300 more on the same connection: all answered")


def t_burst(port):
    """6000 pipelined queries for a ~900-byte answer (5.4 MB of answers, more than the
    kernel's largest TCP send buffer, 4 MB by default) while the client reads nothing for a
    while, through a small receive buffer: the server's writes block (EAGAIN) and resume;
    every answer arrives, none lost or cut."""
    import threading
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    s.settimeout(30)
    s.connect((HOST, port))
    with s:
        sent = {}
        buf = b""
        for i in range(6000):
            qid = 10000 + i
            sent[qid] = ("big.example.com", "TXT", "NOERROR", 7)
            buf += frame(query("big.example.com", "TXT", qid))
        # Sending on a thread: the server stops reading while its output is blocked, so a
        # single-threaded client could deadlock in sendall().
        err = []

        def sender():
            try:
                s.sendall(buf)
            except OSError as e:
                err.append(e)
        t = threading.Thread(target=sender)
        t.start()
        time.sleep(0.5)
        # Header fields only (dnspython would take seconds for 6000 messages).
        got = set()
        for _ in range(len(sent)):
            (n,) = struct.unpack("!H", recv_exact(s, 2))
            msg = recv_exact(s, n)
            qid, flags, qd, an = struct.unpack("!HHHH", msg[:8])
            check(qid in sent and qid not in got, "burst: unexpected response id %d" % qid)
            got.add(qid)
            if not check(flags & 0x020f == 0 and an == 7,
                         "burst: id %d: flags %04x, %d answers (expected NOERROR, no TC, 7)"
                         % (qid, flags, an)):
                break
        t.join(30)
        check(not err, "burst: send failed: %s" % err)
        check(len(got) == len(sent), "burst: %d of %d answered" % (len(got), len(sent)))
        print("6000 pipelined queries, slow reader: all answered")


def t_halfclose(port):
    """Queries followed by a half-close (SHUT_WR): the answers still come back."""
    with connect(port) as s:
        sent = {}
        buf = b""
        for i, item in enumerate(BATTERY[:3]):
            sent[3000 + i] = item
            buf += frame(query(item[0], item[1], 3000 + i))
        s.sendall(buf)
        s.shutdown(socket.SHUT_WR)
        try:
            check_answers(s, sent)
        except (EOFError, ConnectionResetError) as e:
            check(False, "half-closed connection: %s" % e)
        print("half-close after 3 queries: answered")


def t_bytewise(port):
    """A query split across many TCP segments (one byte per send, Nagle off), then a second
    query whose length prefix itself is split, on the same connection."""
    with connect(port) as s:
        for qid, (name, rdtype) in ((4001, ("www.example.com", "A")),
                                    (4002, ("cdn.example.com", "A"))):
            data = frame(query(name, rdtype, qid))
            for b in data:
                s.send(bytes([b]))
                time.sleep(0.005)
            r = read_msg(s)
            check(r.id == qid, "byte-by-byte: response id %d, expected %d" % (r.id, qid))
            check(dns.rcode.to_text(r.rcode()) == "NOERROR", "byte-by-byte: rcode")
            check(sum(len(rr) for rr in r.answer) == (2 if qid == 4001 else 4),
                  "byte-by-byte %s: answer count" % name)
        # Two queries, the boundary in the middle of the second's length prefix.
        a = frame(query("www.example.com", "AAAA", 4003))
        b = frame(query("example.com", "SOA", 4004))
        s.send(a + b[:1])
        time.sleep(0.1)
        s.send(b[1:])
        ids = sorted(read_msg(s).id for _ in range(2))
        check(ids == [4003, 4004], "split length prefix: ids %s" % ids)
        print("byte-by-byte and split-prefix queries: answered")


def t_idle(port):
    """RFC 7766 §6.2.3: the connection stays open between queries, and the server closes it
    once idle (tcp_idle_timeout 1 here); also when the client never sends anything."""
    with connect(port) as s:
        s.sendall(frame(query("www.example.com", "A", 5001)))
        check(read_msg(s).id == 5001, "idle: first answer")
        time.sleep(0.2)
        s.sendall(frame(query("www.example.com", "AAAA", 5002)))
        check(read_msg(s).id == 5002, "idle: second query on the same connection answered")
        t0 = time.monotonic()
        check(closed_by_peer(s, 8.0), "idle connection not closed by the server within 8 s")
        print("idle connection closed by the server after %.1f s" % (time.monotonic() - t0))
    with connect(port) as s:
        t0 = time.monotonic()
        check(closed_by_peer(s, 8.0), "silent connection not closed by the server within 8 s")
        print("silent connection closed by the server after %.1f s" % (time.monotonic() - t0))


def ask(s, qid):
    s.sendall(frame(query("www.example.com", "A", qid)))
    r = read_msg(s)
    return r.id == qid and r.rcode() == 0


def t_cap(port):
    """tcp_max_connections 2, workers 1: a third concurrent connection is closed at once while
    the first two keep working; once one closes, a new one is served."""
    c1, c2 = connect(port), connect(port)
    try:
        check(ask(c1, 6001), "cap: first connection answered")
        check(ask(c2, 6002), "cap: second connection answered")
        with connect(port) as c3:
            try:
                c3.sendall(frame(query("www.example.com", "A", 6003)))
            except OSError:
                pass
            check(closed_by_peer(c3, 5.0), "cap: third connection not closed by the server")
        check(ask(c1, 6004), "cap: first connection still answered after the refusal")
        check(ask(c2, 6005), "cap: second connection still answered after the refusal")
        c1.close()
        # The server sees c1's close asynchronously: retry (bounded) until a slot is free.
        served = False
        for attempt in range(50):
            try:
                with connect(port) as c4:
                    served = ask(c4, 6100 + attempt)
            except (EOFError, OSError):
                served = False
            if served:
                break
            time.sleep(0.1)
        check(served, "cap: no new connection served after one of the two closed")
        check(ask(c2, 6006), "cap: second connection still answered at the end")
        print("connection cap: third refused, others unaffected, slot reused")
    finally:
        c1.close()
        c2.close()


def t_many(port):
    """50 concurrent connections (under the default cap), each answered."""
    conns = [connect(port) for _ in range(50)]
    try:
        for i, c in enumerate(conns):
            c.sendall(frame(query("www.example.com", "A", 7000 + i)))
        for i, c in enumerate(conns):
            check(read_msg(c).id == 7000 + i, "many: connection %d answered" % i)
        print("50 concurrent connections: all answered")
    finally:
        for c in conns:
            c.close()


def t_junk(port):
    """Nonsense on TCP (a zero length, a 64 KiB message of zeros, a response, a truncated
    message then EOF) must not disturb the server; a fresh connection is answered."""
    cases = [
        struct.pack("!H", 0),
        struct.pack("!H", 65535) + b"\0" * 65535,
        frame(b"\x12\x34\x80\x00" + b"\0" * 8),  # QR=1
        struct.pack("!H", 100) + b"\x12\x34",     # cut short, then EOF
        frame(b"\xff" * 12),
    ]
    for data in cases:
        try:
            with connect(port) as s:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                closed_by_peer(s, 3.0)
        except OSError:
            pass
    with connect(port) as s:
        check(ask(s, 8001), "junk: a fresh connection answered afterwards")
    print("junk over TCP: server unaffected")


CHECKS = {"pipeline": t_pipeline, "burst": t_burst, "halfclose": t_halfclose,
          "bytewise": t_bytewise, "idle": t_idle, "cap": t_cap, "many": t_many,
          "junk": t_junk}

if __name__ == "__main__":
    name, port = sys.argv[1], int(sys.argv[2])
    try:
        CHECKS[name](port)
    except (OSError, EOFError, dns.exception.DNSException) as e:
        check(False, "%s: %s: %s" % (name, type(e).__name__, e))
    sys.exit(1 if failures else 0)
