#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""diff_nsd.py -- differential test of hadnsd against NSD (tests/interop/).

Serves the same zones from hadnsd and from NSD on loopback ports, sends both the same
battery of queries over UDP and TCP, and compares, per query: rcode (with the EDNS
extended bits), opcode, header flags (QR AA TC RD RA CD AD and the reserved Z bit), the
question echo (exact bytes, 0x20 case included), the OPT record, and the answer,
authority and additional sections as RRsets (order-insensitive, owner names
case-insensitive, TTLs compared).  Any difference is a failure unless a rule of the
ALLOW list below covers it; every rule names the RFC that permits the difference.

The battery is generated from the zone files (dns.zone.from_file): every owner (and
every empty non-terminal) x every type of the zone plus absent types, NXDOMAIN names,
wildcard synthesis one and two labels deep, names that block a wildcard, delegations
and glue, CNAME chains, out-of-zone names, 0x20 case, EDNS variants, truncation,
255-octet names, non-ASCII "case" twins and malformed queries; all of it over UDP and
over TCP (one persistent connection), plus a sample sent pipelined over TCP.

Usage:
  diff_nsd.py --hadnsd ./src/hadnsd --zone example.com=zones/example.com.zone \
              --zone nasty.example=tests/interop/zones/nasty.example.zone [--verbose]
  diff_nsd.py --against knot --zone ...      (develop the harness: NSD vs Knot DNS)
  diff_nsd.py --against nsd --zone ...       (self-test: NSD vs NSD must be identical)
Options: --verbose (per-category table, and --examples N allowed differences per rule
in full), --only REGEX (battery categories), --seed N (names and 0x20 case are
pseudo-random but reproducible), --max-failures N, --keep (keep the temp dir).

Allowed differences: ALLOW below.  A rule covers a difference only where the
candidate's behaviour is itself correct per the RFC it cites; a difference where
hadnsd is wrong stays a failure.  DORMANT holds rules for differences not seen today.

Exit status: 0 no failures, 1 failures (or the candidate stopped answering/died), 77
(automake SKIP) when NSD or dnspython is missing, 99 (automake ERROR) when a server
cannot be started.
"""

import argparse
import atexit
import collections
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

EXIT_SKIP = 77
EXIT_ERROR = 99

try:
    import dns.edns
    import dns.flags
    import dns.message
    import dns.name
    import dns.opcode
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype
    import dns.zone
except ImportError as e:  # pragma: no cover - depends on the host
    print(f"SKIP: dnspython is not importable by {sys.executable} ({e}); "
          "install python3-dnspython", flush=True)
    sys.exit(EXIT_SKIP)

RT = dns.rdatatype
UDP_TIMEOUT = 1.0      # loopback: a reply takes < 1 ms; 1 s only bounds deliberate drops
PROTO_UDP_TIMEOUT = 0.3   # malformed queries that servers drop: don't wait a second each
TCP_TIMEOUT = 3.0
PIPELINE_BATCH = 20   # queries per pipelined TCP write; NSD reads them all
MAX_SILENT = 40       # unanswered queries before giving up ...
MAX_SILENT_SECS = 20  # ... or seconds spent waiting: a hung server fails well under 60 s
START_TIMEOUT = 20.0   # zone load + bind; the 1M-record zone is not in this test

# Types asked at every node besides the ones the zone has (brief: "a few types absent").
EXTRA_QTYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "SRV", "CAA", "DS",
                "PTR", "HINFO", "TYPE65534", "ANY"]


# --------------------------------------------------------------------------------------
# Process handling
# --------------------------------------------------------------------------------------

CHILDREN = []          # Server objects to stop at exit


def stop_all():
    for srv in list(CHILDREN):
        srv.stop()
    CHILDREN.clear()


def on_signal(signum, _frame):
    stop_all()
    sys.exit(128 + signum)


def free_port():
    """A port free for both TCP and UDP on 127.0.0.1 right now (NSD and Knot cannot
    report a kernel-chosen port, so there is a small race; start() retries)."""
    for _ in range(100):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free loopback port")


class Server:
    """One child DNS server on 127.0.0.1:port, logging into a file in the temp dir."""

    label = "server"

    def __init__(self, tmp, zones, tag):
        self.tmp = os.path.join(tmp, tag)
        os.makedirs(self.tmp, exist_ok=True)
        self.zones = zones          # list of (name, abs_path)
        self.tag = tag
        self.port = None
        self.proc = None
        self.logpath = os.path.join(self.tmp, "server.log")

    def spawn(self, argv):
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     cwd=self.tmp)
        CHILDREN.append(self)

    def stop(self):
        p = self.proc
        if p is None:
            return
        self.proc = None
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
        # Helpers the server forked (NSD's xfrd and server children) share its process
        # group, which start_new_session made equal to its PID.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        if self in CHILDREN:
            CHILDREN.remove(self)

    def log_tail(self, n=30):
        try:
            with open(self.logpath, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join("    | " + x for x in lines[-n:])
        except OSError:
            return "    | (no log)"

    def wait_ready(self, deadline):
        """Until every zone's SOA is answered authoritatively over UDP and TCP."""
        pending = [(z, t) for z, _ in self.zones for t in ("udp", "tcp")]
        while pending:
            if self.proc is None or self.proc.poll() is not None:
                return False
            z, t = pending[0]
            q = dns.message.make_query(z, "SOA", flags=0)
            try:
                wire = exchange_once(t, self.port, q.to_wire(), 0.3)
                r = dns.message.from_wire(wire)
                if r.rcode() == 0 and r.flags & dns.flags.AA and r.answer:
                    pending.pop(0)
                    continue
            except (OSError, Exception):  # noqa: B014 - anything means "not yet"
                pass
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True


class NSD(Server):
    label = "nsd"

    def __init__(self, tmp, zones, tag, binary):
        super().__init__(tmp, zones, tag)
        self.binary = binary

    def start(self):
        for attempt in range(3):
            self.port = free_port()
            conf = os.path.join(self.tmp, "nsd.conf")
            t = self.tmp
            lines = [
                "server:",
                f"    ip-address: 127.0.0.1@{self.port}",
                f"    port: {self.port}",
                "    do-ip4: yes",
                "    do-ip6: no",
                "    reuseport: no",
                "    server-count: 1",
                "    tcp-count: 256",
                "    verbosity: 1",
                '    username: ""',
                '    chroot: ""',
                f'    zonesdir: "{t}"',
                f'    pidfile: "{t}/nsd.pid"',
                f'    xfrdfile: "{t}/xfrd.state"',
                f'    xfrdir: "{t}"',
                f'    zonelistfile: "{t}/zone.list"',
                '    database: ""',
                "    zonefiles-check: yes",
                "    zonefiles-write: 0",
                "    xfrd-reload-timeout: 1",
                "    hide-version: no",
                "    refuse-any: no",
                "    minimal-responses: no",
                "    round-robin: no",
                "    ipv4-edns-size: 1232",
                "    rrl-ratelimit: 0",
                "    rrl-whitelist-ratelimit: 0",
                "remote-control:",
                "    control-enable: no",
            ]
            for name, path in self.zones:
                lines += ["zone:", f"    name: {name}", f'    zonefile: "{path}"']
            with open(conf, "w") as f:
                f.write("\n".join(lines) + "\n")
            self.spawn([self.binary, "-d", "-c", conf])
            if self.wait_ready(time.monotonic() + START_TIMEOUT):
                return
            self.stop()
            if attempt < 2 and b"bind" in open(self.logpath, "rb").read():
                continue            # lost the port race: try another port
            break
        raise RuntimeError(f"{self.tag}: nsd did not start serving\n{self.log_tail()}")


class Knot(Server):
    """Knot DNS, only for developing the harness (--against knot)."""
    label = "knot"

    def __init__(self, tmp, zones, tag, binary):
        super().__init__(tmp, zones, tag)
        self.binary = binary

    def start(self):
        for attempt in range(3):
            self.port = free_port()
            conf = os.path.join(self.tmp, "knot.conf")
            t = self.tmp
            lines = [
                "server:",
                f"    listen: 127.0.0.1@{self.port}",
                f'    rundir: "{t}"',
                "    udp-workers: 1",
                "    tcp-workers: 1",
                "    background-workers: 1",
                "database:",
                f'    storage: "{t}/db"',
                "log:",
                "  - target: stderr",
                "    any: info",
                "template:",
                "  - id: default",
                f'    storage: "{t}"',
                "    zonefile-sync: -1",
                "    zonefile-load: whole",
                "    journal-content: none",
                "    semantic-checks: off",
                "zone:",
            ]
            for name, path in self.zones:
                lines += [f"  - domain: {name}", f'    file: "{path}"']
            with open(conf, "w") as f:
                f.write("\n".join(lines) + "\n")
            self.spawn([self.binary, "-c", conf])
            if self.wait_ready(time.monotonic() + START_TIMEOUT):
                return
            self.stop()
            if attempt < 2 and b"address already in use" in open(self.logpath, "rb").read().lower():
                continue
            break
        raise RuntimeError(f"{self.tag}: knotd did not start serving\n{self.log_tail()}")


class Hadnsd(Server):
    """hadnsd with a generated JSON config; listens on port 0 and logs the bound port:
    'listening on 127.0.0.1:PORT' per listener, then a line containing ' ready'."""
    label = "hadnsd"

    def __init__(self, tmp, zones, tag, binary, zone_dir):
        super().__init__(tmp, zones, tag)
        self.binary = binary
        self.zone_dir = zone_dir

    def start(self):
        conf = os.path.join(self.tmp, "hadnsd.json")
        cfg = {
            "listen": ["127.0.0.1:0"],
            "workers": 1,
            "udp_payload": 1232,
            "log_level": "info",
            "zone_dir": self.zone_dir,
            "zones": [{"name": n.rstrip("."), "file": os.path.basename(p)}
                      for n, p in self.zones],
        }
        with open(conf, "w") as f:
            json.dump(cfg, f, indent=2)
        self.spawn([self.binary, "-c", conf])
        deadline = time.monotonic() + START_TIMEOUT
        pat = re.compile(rb"listening on 127\.0\.0\.1:(\d+)")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            data = open(self.logpath, "rb").read()
            m = pat.search(data)
            if m and b" ready" in data[m.end():]:
                self.port = int(m.group(1))
                break
            time.sleep(0.05)
        if self.port and self.wait_ready(deadline):
            return
        raise RuntimeError(f"{self.tag}: hadnsd did not start serving "
                           f"(config {conf}; --keep keeps it)\n{self.log_tail()}")


# --------------------------------------------------------------------------------------
# Transport
# --------------------------------------------------------------------------------------

def exchange_once(transport, port, wire, timeout):
    """One query on a fresh socket; used for readiness probes."""
    if transport == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.settimeout(timeout)
            s.sendto(wire, ("127.0.0.1", port))
            return s.recv(65535)
        finally:
            s.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(struct.pack("!H", len(wire)) + wire)
        return read_tcp_msg(s)
    finally:
        s.close()


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed by server")
        buf += chunk
    return buf


def read_tcp_msg(s):
    (n,) = struct.unpack("!H", recv_exact(s, 2))
    return recv_exact(s, n)


class Client:
    """Per-server transport: one UDP socket, one persistent TCP connection (RFC 7766
    connection reuse); counts reconnects so that a server closing after every answer
    shows up in the summary."""

    def __init__(self, port):
        self.port = port
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.connect(("127.0.0.1", port))
        self.tcp = None
        self.tcp_connects = 0
        self.tcp_closed_by_server = 0

    def close(self):
        self.udp.close()
        if self.tcp:
            self.tcp.close()

    def udp_exchange(self, wire, qid, timeout=UDP_TIMEOUT):
        self.udp.settimeout(timeout)
        self.udp.send(wire)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.udp.settimeout(left)
            try:
                data = self.udp.recv(65535)
            except socket.timeout:
                return None
            except ConnectionRefusedError:
                return None
            # Stale replies (to a query that timed out earlier) carry another ID.
            if len(data) >= 2 and struct.unpack("!H", data[:2])[0] == qid:
                return data

    def tcp_pipeline(self, wires):
        """RFC 7766 §6.2.1.1: several queries written at once on a fresh connection;
        answers may come back in any order. -> {id: raw} of what arrived."""
        out = {}
        s = socket.create_connection(("127.0.0.1", self.port), timeout=TCP_TIMEOUT)
        self.tcp_connects += 1
        try:
            s.sendall(b"".join(struct.pack("!H", len(w)) + w for w in wires))
            for _ in wires:
                raw = read_tcp_msg(s)
                out[struct.unpack("!H", raw[:2])[0]] = raw
        except (OSError, ConnectionError, struct.error):
            pass
        finally:
            s.close()
        return out

    def tcp_exchange(self, wire, fresh=False):
        for attempt in (0, 1):
            if self.tcp is None or fresh:
                if self.tcp:
                    self.tcp.close()
                self.tcp = socket.create_connection(("127.0.0.1", self.port),
                                                    timeout=TCP_TIMEOUT)
                self.tcp_connects += 1
                fresh = False
            try:
                self.tcp.sendall(struct.pack("!H", len(wire)) + wire)
                return read_tcp_msg(self.tcp)
            except socket.timeout:
                self.tcp.close()
                self.tcp = None
                return None
            except (ConnectionError, OSError):
                self.tcp.close()
                self.tcp = None
                if attempt == 0:
                    self.tcp_closed_by_server += 1
                    continue
                return None
        return None


# --------------------------------------------------------------------------------------
# Zone model and battery generation
# --------------------------------------------------------------------------------------

class ZoneInfo:
    def __init__(self, origin_text, path):
        self.origin = dns.name.from_text(origin_text)
        self.path = path
        z = dns.zone.from_file(path, self.origin, relativize=False, check_origin=True)
        self.nodes = {}                        # Name -> {rdtype: rdataset}
        for name, node in z.nodes.items():
            self.nodes[name] = {rds.rdtype: rds for rds in node.rdatasets}
        self.names = set(self.nodes)
        self.delegations = {n for n, t in self.nodes.items()
                            if n != self.origin and RT.NS in t}
        self.occluded = {n for n in self.names
                         if any(n != d and n.is_subdomain(d) for d in self.delegations)}
        self.wildcards = {n for n in self.names if n.labels[0] == b"*"}
        ents = set()
        for n in self.names:
            p = n
            while p != self.origin:
                p = p.parent()
                if p not in self.names:
                    ents.add(p)
        self.ents = ents
        self.types = set()
        for t in self.nodes.values():
            self.types.update(t)
        # RRsets by (lowercased owner, type) for checks made by the allow rules.
        self.rrsets = {(n.canonicalize(), t): rds for n, ts in self.nodes.items()
                       for t, rds in ts.items()}
        self.exists = {n.canonicalize() for n in self.names | self.ents}


class Query:
    """One battery item: what to send and how."""
    __slots__ = ("cat", "zone", "qname", "qtype", "qclass", "transport", "edns", "payload",
                 "do", "ednsflags", "options", "rd", "cd", "opcode", "mangle", "note",
                 "wire", "qid", "question")

    def __init__(self, cat, zone, qname, qtype, transport="udp", edns=None, payload=1232,
                 do=False, ednsflags=0, options=None, rd=False, cd=False, opcode=0,
                 qclass="IN", mangle=None, note=""):
        self.cat, self.zone, self.qname, self.qtype = cat, zone, qname, qtype
        self.transport, self.edns, self.payload, self.do = transport, edns, payload, do
        self.ednsflags, self.options, self.rd, self.cd = ednsflags, options, rd, cd
        self.opcode, self.qclass, self.mangle, self.note = opcode, qclass, mangle, note
        self.wire = None
        self.qid = None
        self.question = None

    def build(self, qid):
        flags = (dns.flags.RD if self.rd else 0) | (dns.flags.CD if self.cd else 0)
        m = dns.message.make_query(self.qname, self.qtype, self.qclass, id=qid, flags=flags)
        if self.edns is not None:
            m.use_edns(self.edns, (dns.flags.DO if self.do else 0) | self.ednsflags,
                       self.payload, options=self.options or [])
        w = m.to_wire()
        self.question = (m.question[0].name, m.question[0].rdtype, m.question[0].rdclass)
        if self.opcode:     # raw, so that unassigned opcodes can be sent too
            (fl,) = struct.unpack("!H", w[2:4])
            w = w[:2] + struct.pack("!H", (fl & ~0x7800) | (self.opcode << 11)) + w[4:]
        if self.mangle:
            w = self.mangle(w)
        self.wire, self.qid = w, qid
        return w

    def describe(self):
        e = "noedns" if self.edns is None else (
            f"edns{self.edns}/{self.payload}" + ("/DO" if self.do else "")
            + (f"/flags={self.ednsflags:#x}" if self.ednsflags else "")
            + "".join(f"/opt{o.otype}" for o in (self.options or [])))
        bits = ("+rd" if self.rd else "") + ("+cd" if self.cd else "")
        op = "" if self.opcode == 0 else f" opcode={self.opcode}"
        cls = "" if self.qclass == "IN" else f" {self.qclass}"
        return (f"[{self.cat}] {self.qname}{cls} {self.qtype} {self.transport} {e}{bits}{op}"
                + (f" ({self.note})" if self.note else ""))


def mix_case(name, rng):
    """0x20: flip the case of ASCII letters at random, keep every other byte."""
    labels = []
    for lab in name.labels:
        labels.append(bytes((c ^ 0x20) if (65 <= c <= 90 or 97 <= c <= 122)
                            and rng.random() < 0.5 else c for c in lab))
    return dns.name.Name(labels)


def rand_label(rng, prefix):
    return f"{prefix}{rng.randrange(16**6):06x}"


def child(label, parent):
    return dns.name.Name((label.encode(),) + parent.labels)


def build_battery(zones, rng, all_origins):
    """Generate the battery from the zones. Names are dns.name.Name (case preserved)."""
    items = []

    def add(cat, z, name, qtype, **kw):
        items.append(Query(cat, z, name, qtype, **kw))

    # Baseline EDNS variants rotated through the node x type matrix, so that each
    # answer path is also seen with and without EDNS and with DO.
    rot = [dict(edns=None), dict(edns=0, payload=1232), dict(edns=0, payload=4096, do=True),
           dict(edns=0, payload=1232, rd=True), dict(edns=None, rd=True, cd=True)]

    for z in zones:
        types = sorted({RT.to_text(t) for t in z.types} | set(EXTRA_QTYPES))
        nodes = sorted(z.names | z.ents)
        k = 0
        # 1. every owner and empty non-terminal x every type
        for n in nodes:
            cat = ("glue/occluded" if n in z.occluded else "delegation" if n in z.delegations
                   else "ent" if n in z.ents else "wildcard-owner" if n in z.wildcards
                   else "node")
            for t in types:
                v = dict(rot[k % len(rot)])
                qn = mix_case(n, rng) if k % 2 else n
                add(cat, z, qn, t, **v)
                k += 1
        # 2. NXDOMAIN: random labels under the apex and under every name and ENT
        for _ in range(3):
            nx = child(rand_label(rng, "nx-"), z.origin)
            for t in ("A", "AAAA", "SOA", "NS", "DS", "ANY", "TXT", "TYPE65534"):
                add("nxdomain", z, nx, t, edns=0)
        for n in nodes:
            if n == z.origin or n in z.wildcards:
                continue
            nx = child(rand_label(rng, "nx-"), n)
            cat = "below-delegation" if (n in z.occluded or n in z.delegations) else "nxdomain"
            for t in ("A", "TXT", "DS"):
                add(cat, z, mix_case(nx, rng), t, edns=0, rd=True)
        # 3. below wildcards, one and two labels deep, every type
        for w in sorted(z.wildcards):
            base = w.parent()
            one = child(rand_label(rng, "w1-"), base)
            two = child(rand_label(rng, "w2-"), child(rand_label(rng, "w2x-"), base))
            for t in types:
                add("wildcard-1", z, one, t, edns=0)
                add("wildcard-2", z, mix_case(two, rng), t, edns=None)
            # 4. names existing below the wildcard's parent block it (RFC 4592 2.2.2)
            for n in nodes:
                if n != w and n != base and n.is_subdomain(base) and n not in z.wildcards:
                    below = child(rand_label(rng, "blk-"), n)
                    for t in ("A", "TXT", "AAAA", "ANY", "MX"):
                        add("wildcard-blocked", z, below, t, edns=0)
        # 5. delegations: at the cut (covered above) and below it, every type incl DS/NS
        for d in sorted(z.delegations):
            for t in types:
                add("below-delegation", z, child(rand_label(rng, "dl-"), d), t, edns=0)
            deep = child("deep", child(rand_label(rng, "dl-"), d))
            for t in ("A", "AAAA", "NS", "DS", "SOA", "ANY", "TXT", "MX", "CNAME"):
                add("below-delegation", z, deep, t, edns=0, do=True)
        # 5b. DNAME owners (RFC 6672): names below them that exist below the target, a
        # chained one, a missing one, and one whose substitution overflows 255 octets
        for n in nodes:
            if RT.DNAME not in z.nodes.get(n, {}):
                continue
            long_label = "l" * 61 + rand_label(rng, "")[:2]
            for lab in ("x", "y", "missing", long_label):
                qn = child(lab, n)
                if len(qn.to_wire()) > 255:
                    continue
                for t in ("A", "AAAA", "TXT", "CNAME", "DNAME", "ANY"):
                    add("dname", z, mix_case(qn, rng), t, edns=0)
                    add("dname", z, qn, t, edns=None, transport="tcp")
        # 6. CNAME owners again with the chain-relevant types over both EDNS variants
        for n in nodes:
            if RT.CNAME in z.nodes.get(n, {}):
                for t in ("A", "AAAA", "TXT", "MX", "ANY", "CNAME", "NS", "DS"):
                    add("cname", z, n, t, edns=0, do=True, payload=4096)
        # 7. explicit 0x20 cases: all upper and random mixed at the apex and a few names
        for n in [z.origin] + nodes[:: max(1, len(nodes) // 8)]:
            up = dns.name.Name(tuple(lab.upper() for lab in n.labels))
            for t in ("SOA", "A", "NS", "MX"):
                add("0x20", z, up, t, edns=0)
                add("0x20", z, mix_case(n, rng), t, edns=None)
        # 8. EDNS variants on a few probe names
        probes = [(z.origin, "SOA"), (z.origin, "NS"), (z.origin, "ANY"),
                  (child(rand_label(rng, "nx-"), z.origin), "A")]
        for d in sorted(z.delegations)[:1]:
            probes.append((child("www", d), "A"))
        for n in nodes:
            if RT.CNAME in z.nodes.get(n, {}):
                probes.append((n, "A"))
                break
        for w in sorted(z.wildcards)[:1]:
            probes.append((child("probe", w.parent()), "A"))
        for n, t in probes:
            for v in (dict(edns=None), dict(edns=0, payload=512), dict(edns=0, payload=1232),
                      dict(edns=0, payload=4096), dict(edns=0, payload=100, note="<512"),
                      dict(edns=0, payload=1232, do=True),
                      dict(edns=1, payload=1232, note="BADVERS"),
                      dict(edns=1, payload=1232, do=True, note="BADVERS"),
                      dict(edns=0, ednsflags=0x0001, note="EDNS Z bit must be ignored"),
                      dict(edns=0, options=[dns.edns.GenericOption(65001, b"hadnsd")],
                           note="unknown EDNS option"),
                      dict(edns=0, options=[dns.edns.GenericOption(3, b"")],
                           note="NSID request, NSID not configured"),
                      dict(edns=0, options=[dns.edns.ECSOption("192.0.2.0", 24)],
                           note="ECS")):
                add("edns", z, n, t, **v)
        # 9. truncation: RRsets that do not fit 512 bytes (or 1232)
        for (owner, rdtype), rds in sorted(z.rrsets.items(), key=lambda x: str(x[0])):
            size = sum(len(rd.to_wire()) + 12 for rd in rds)
            if size > 400:
                for v in (dict(edns=None), dict(edns=0, payload=512),
                          dict(edns=0, payload=1232), dict(edns=0, payload=1232, do=True),
                          dict(edns=0, payload=4096)):
                    add("truncation", z, owner, RT.to_text(rdtype), **v)
                    add("truncation", z, owner, "ANY", **v)
        # 10. protocol edge cases
        soa = z.origin
        add("proto", z, soa, "SOA", opcode=dns.opcode.IQUERY, edns=0, note="obsolete IQUERY")
        add("proto", z, soa, "SOA", opcode=dns.opcode.STATUS, edns=0)
        add("proto", z, soa, "SOA", opcode=dns.opcode.UPDATE, note="UPDATE not supported")
        add("proto", z, soa, "SOA", opcode=dns.opcode.NOTIFY, note="NOTIFY, no ACL")
        add("proto", z, soa, "SOA", opcode=3, note="reserved opcode 3")
        add("proto", z, soa, "AXFR", note="AXFR not allowed to us")
        add("proto", z, soa, "IXFR", note="IXFR not allowed to us")
        add("proto", z, soa, "OPT", edns=0, note="meta qtype OPT")
        add("proto", z, soa, "TYPE0", edns=0, note="reserved qtype 0")
        add("proto", z, soa, "MAILA", note="obsolete meta qtype")
        add("proto", z, soa, "SOA", qclass="CH", note="zone in the wrong class")
        add("proto", z, soa, "SOA", qclass="ANY", note="QCLASS *")
        add("proto", z, soa, "SOA", qclass="NONE")
        add("proto", z, soa, "SOA", mangle=qdcount(0), note="QDCOUNT=0")
        add("proto", z, soa, "SOA", mangle=qdcount(2), note="QDCOUNT=2, one question")
        add("proto", z, soa, "SOA", mangle=dup_question, note="two questions")
        add("proto", z, soa, "SOA", mangle=trailing(b"\0\0\0"), note="trailing garbage")
        add("proto", z, soa, "SOA", mangle=cut(-3), note="question cut short")
        add("proto", z, soa, "SOA", edns=0, mangle=two_opts, note="two OPT records")
        add("proto", z, soa, "SOA", mangle=header_bits(0x0200), note="TC=1 in query")
        add("proto", z, soa, "SOA", mangle=header_bits(0x0040), note="Z=1 in query")
        add("proto", z, soa, "SOA", mangle=header_bits(0x0400), note="AA=1 in query")
        add("proto", z, soa, "SOA", mangle=header_bits(0x0020), note="AD=1 in query")
        add("proto", z, soa, "SOA", mangle=question_name(b"\xc0\x0c"),
            note="QNAME is a compression pointer to itself")
        add("proto", z, soa, "SOA", mangle=question_name(b"\x03abc\xc0\x0c"),
            note="QNAME label then pointer loop")
        add("proto", z, soa, "SOA", mangle=question_name(b"\x41" + b"x" * 10 + b"\x00"),
            note="extended label type 0x40")
        add("proto", z, soa, "SOA", mangle=question_name(b"\x80\x00"),
            note="reserved label type 0x80")
        add("proto", z, soa, "SOA",
            mangle=question_name((b"\x3f" + b"x" * 63) * 4 + b"\x05abcde\x00"),
            note="QNAME of 262 octets")
        add("proto", z, soa, "SOA", mangle=question_name(b"\x05ab"),
            note="QNAME runs past the end")
        add("proto", z, soa, "SOA", mangle=cut(5), note="5-byte message")
        add("proto", z, soa, "SOA", mangle=cut(12), note="header only, QDCOUNT=1")
        add("proto", z, soa, "SOA", mangle=add_answer_rr, note="ANCOUNT=1 in query")
        add("proto", z, soa, "SOA", edns=0, mangle=opt_owner(b"\x01a\x00"),
            note="OPT owner not root")
        add("proto", z, soa, "SOA", edns=0, mangle=opt_rdlen_overrun,
            note="OPT RDLEN past the end")
        add("proto", z, soa, "SOA", edns=0,
            options=[dns.edns.GenericOption(10, b"\x01\x02\x03\x04\x05\x06\x07\x08")],
            note="DNS COOKIE, client cookie only")
        add("proto", z, soa, "SOA", edns=0,
            options=[dns.edns.GenericOption(10, b"\x01\x02\x03")],
            note="malformed COOKIE (3 bytes)")
        add("proto", z, soa, "SOA", edns=0,
            options=[dns.edns.GenericOption(12, b"\x00" * 100)], note="EDNS padding")
        if z is zones[0]:
            # QR=1: NSD drops it (RFC 1035 §4.1.1: not a query); one UDP timeout per server
            add("proto-udp", z, soa, "SOA", mangle=header_bits(0x8000), note="QR=1 in query")
        # 10b. qnames of exactly 255 and 254 octets under the apex (RFC 1035 §3.1)
        for total in (255, 254):
            ln = long_name(z.origin, total, rng)
            for t in ("A", "TXT", "ANY"):
                add("long-name", z, ln, t, edns=0)
        # 10c. RFC 4343 §3: only ASCII letters fold; a Latin-1 "case" twin is another name
        for n in nodes:
            if any(c >= 0xC0 for lab in n.labels for c in lab):
                twin = dns.name.Name(tuple(bytes((c ^ 0x20) if 0xC0 <= c <= 0xFE and c not in
                                                 (0xD7, 0xF7) else c for c in lab)
                                           for lab in n.labels))
                for t in ("A", "TXT", "ANY"):
                    add("non-ascii-case", z, twin, t, edns=0)
                    add("non-ascii-case", z, n, t, edns=0)

    # 11. outside every zone: REFUSED (and the parents of our zones, and string-suffix
    # look-alikes such as xnasty.example that are not subdomains)
    out = {dns.name.root, dns.name.from_text("com."), dns.name.from_text("example.net."),
           dns.name.from_text("nonexistent-tld.")}
    for o in all_origins:
        if len(o.labels) > 1:
            out.add(o.parent())
        out.add(dns.name.Name((b"x" + o.labels[0],) + o.labels[1:]))
        out.add(dns.name.from_text("zz-" + o.to_text(), None))   # o.zz- ... not a subdomain
    for n in sorted(out):
        if any(n.is_subdomain(o) for o in all_origins):
            continue
        for t in ("SOA", "A", "NS", "ANY", "DS"):
            add("outside", None, n, t, edns=0)
            add("outside", None, mix_case(n, rng), t, edns=None)

    # Every item again over TCP, except the ones whose point is UDP size.
    tcp = []
    for q in items:
        if q.cat == "proto-udp":
            continue
        c = Query(q.cat, q.zone, q.qname, q.qtype, transport="tcp", edns=q.edns,
                  payload=q.payload, do=q.do, ednsflags=q.ednsflags, options=q.options,
                  rd=q.rd, cd=q.cd, opcode=q.opcode, qclass=q.qclass, mangle=q.mangle,
                  note=q.note)
        tcp.append(c)
    return items + tcp


# Raw wire manglers for the protocol cases.
def qdcount(n):
    def f(w):
        return w[:4] + struct.pack("!H", n) + w[6:]
    return f


def header_bits(bits):
    def f(w):
        (fl,) = struct.unpack("!H", w[2:4])
        return w[:2] + struct.pack("!H", fl | bits) + w[4:]
    return f


def trailing(extra):
    return lambda w: w + extra


def cut(n):
    return lambda w: w[:n]


def question_end(w):
    i = 12
    while w[i]:
        i += 1 + w[i]
    return i + 1 + 4


def dup_question(w):
    e = question_end(w)
    return w[:4] + struct.pack("!H", 2) + w[6:e] + w[12:e] + w[e:]


def question_name(raw_name):
    """Replace the question's name with raw (possibly malformed) wire bytes."""
    def f(w):
        e = question_end(w)
        return w[:12] + raw_name + w[e - 4:]
    return f


def add_answer_rr(w):
    """An A RR in the answer section of the query (before any OPT)."""
    e = question_end(w)
    rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 4) + bytes([192, 0, 2, 1])
    (an,) = struct.unpack("!H", w[6:8])
    return w[:6] + struct.pack("!H", an + 1) + w[8:e] + rr + w[e:]


def opt_owner(raw_owner):
    def f(w):
        e = question_end(w)
        assert w[e] == 0            # the OPT owner, root
        return w[:e] + raw_owner + w[e + 1:]
    return f


def opt_rdlen_overrun(w):
    e = question_end(w)
    # root(1) type(2) class(2) ttl(4) rdlen(2)
    rdl = e + 1 + 2 + 2 + 4
    (n,) = struct.unpack("!H", w[rdl:rdl + 2])
    return w[:rdl] + struct.pack("!H", n + 40) + w[rdl + 2:]


def long_name(origin, total, rng):
    """A name under origin whose wire form is exactly total octets."""
    left = total - len(origin.to_wire())
    labels = []
    while left > 0:
        n = min(63, left - 1)
        if left - (n + 1) == 1:     # never leave 1 octet: a label needs 2
            n -= 1
        labels.append(bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(n)))
        left -= n + 1
    name = dns.name.Name(tuple(labels) + origin.labels)
    assert len(name.to_wire()) == total, (total, len(name.to_wire()))
    return name


def two_opts(w):
    e = question_end(w)
    opt = w[e:]
    (ar,) = struct.unpack("!H", w[10:12])
    return w[:10] + struct.pack("!H", ar + 1) + w[12:] + opt


# --------------------------------------------------------------------------------------
# Response normalisation and comparison
# --------------------------------------------------------------------------------------

FLAG_BITS = [("QR", 0x8000), ("AA", 0x0400), ("TC", 0x0200), ("RD", 0x0100),
             ("RA", 0x0080), ("Z", 0x0040), ("AD", 0x0020), ("CD", 0x0010)]


class Resp:
    """A response reduced to what is compared."""

    def __init__(self, raw):
        self.raw = raw
        self.msg = None
        self.error = None
        self.id = self.flags = self.opcode = self.rcode = None
        self.question = []
        self.edns = None
        self.sections = {"answer": {}, "authority": {}, "additional": {}}
        if raw is None:
            return
        if len(raw) < 12:
            self.error = f"short message ({len(raw)} bytes)"
            return
        self.id, fl = struct.unpack("!HH", raw[:4])
        self.flags = {n for n, b in FLAG_BITS if fl & b}
        self.opcode = (fl >> 11) & 0xF
        self.rcode = fl & 0xF
        try:
            m = dns.message.from_wire(raw, one_rr_per_rrset=True)
        except Exception as e:  # noqa: BLE001 - any parse failure is reported as such
            self.error = f"{type(e).__name__}: {e}"
            return
        self.msg = m
        self.rcode = m.rcode()
        self.question = [(q.name, q.rdtype, q.rdclass) for q in m.question]
        if m.edns >= 0:
            self.edns = {
                "version": m.edns,
                "do": bool(m.ednsflags & dns.flags.DO),
                "zflags": m.ednsflags & 0x7FFF,
                "payload": m.payload,
                "options": sorted((o.otype, o.to_wire() if hasattr(o, "to_wire") else b"")
                                  for o in m.options),
            }
        for sec, rrsets in (("answer", m.answer), ("authority", m.authority),
                            ("additional", m.additional)):
            bag = self.sections[sec]
            for rrset in rrsets:
                key = (rrset.name.canonicalize(), rrset.rdclass, rrset.rdtype, rrset.covers)
                for rd in rrset:
                    bag.setdefault(key, []).append(
                        (rrset.ttl, rd.to_digestable(), rd.to_text()))
            for v in bag.values():
                v.sort()

    def text(self):
        if self.raw is None:
            return "    (no response)"
        if self.msg is None:
            return f"    (unparseable: {self.error}) {self.raw.hex()}"
        return "\n".join("    " + x for x in self.msg.to_text().splitlines())


class Diff:
    __slots__ = ("kind", "section", "key", "detail")

    def __init__(self, kind, detail, section=None, key=None):
        self.kind, self.detail, self.section, self.key = kind, detail, section, key

    def __str__(self):
        return f"{self.kind}: {self.detail}"


def key_text(key):
    name, cls, typ, cov = key
    return f"{name} {dns.rdataclass.to_text(cls)} {RT.to_text(typ)}"


def rrs_text(rrs):
    return "; ".join(f"{ttl} {txt}" for ttl, _, txt in rrs)


def sent_question(q):
    return None if q.mangle else q.question


def question_echo(q, r, who):
    """A question that comes back must be exactly the one sent (RFC 1035 §4.1.2; 0x20
    case included, RFC 4343 §4.1).  Whether an error response (NOTIMP, REFUSED for an
    opcode) carries the question at all is compared between the servers instead."""
    want = sent_question(q)
    if want is None or r.msg is None or not r.question:
        return []
    if len(r.question) != 1:
        return [Diff(f"echo:{who}", f"{who} question count {len(r.question)}, want 1")]
    g = r.question[0]
    if g[0].labels != want[0].labels or g[1:] != want[1:]:
        return [Diff(f"echo:{who}", f"{who} question {g[0]} {RT.to_text(g[1])} "
                     f"!= sent {want[0]} {RT.to_text(want[1])} (case must be preserved)")]
    return []


def compare(q, ref, cand):
    """Differences between reference (NSD) and candidate responses to query q, and
    whether the query ran into truncation."""
    diffs = []
    if ref.raw is None and cand.raw is None:
        return diffs, False
    if ref.raw is None or cand.raw is None:
        who = "reference" if ref.raw is None else "candidate"
        return [Diff("response", f"no response from the {who}")], False
    for r, who in ((ref, "reference"), (cand, "candidate")):
        if r.id != q.qid:
            diffs.append(Diff("id", f"{who} answered with id {r.id}, sent {q.qid}"))
    if ref.msg is None or cand.msg is None:
        if (ref.msg is None) != (cand.msg is None):
            diffs.append(Diff("parse", f"reference: {ref.error or 'ok'}; "
                                       f"candidate: {cand.error or 'ok'}"))
    diffs += question_echo(q, cand, "candidate")
    diffs += question_echo(q, ref, "reference")
    if ref.msg is not None and cand.msg is not None and (
            len(ref.question) != len(cand.question)
            or any(a[0] != b[0] or a[1:] != b[1:] for a, b in zip(ref.question, cand.question))):
        diffs.append(Diff("question", "reference " + qtext(ref) + " | candidate " + qtext(cand)))
    if ref.rcode != cand.rcode:
        diffs.append(Diff("rcode", f"{rc(ref.rcode)} != {rc(cand.rcode)}"))
    if ref.opcode != cand.opcode:
        diffs.append(Diff("opcode", f"{ref.opcode} != {cand.opcode}"))
    for name, _ in FLAG_BITS:
        if (name in ref.flags) != (name in cand.flags):
            diffs.append(Diff(f"flag:{name}",
                              f"{name} reference={int(name in ref.flags)} "
                              f"candidate={int(name in cand.flags)}"))
    truncated = q.transport == "udp" and ("TC" in ref.flags or "TC" in cand.flags)
    if truncated:
        # RFC 2181 §9: on TC=1 the partial content may differ: the sections and the OPT
        # are not compared, the header (rcode, TC and the other flags) still is.
        return diffs, bool(sections_differ(ref, cand) or edns_diffs(ref, cand))
    diffs += edns_diffs(ref, cand)
    for sec in ("answer", "authority", "additional"):
        a, b = ref.sections[sec], cand.sections[sec]
        for key in sorted(set(a) | set(b), key=str):
            ra, rb = a.get(key), b.get(key)
            if rb is None:
                diffs.append(Diff(f"{sec}:missing", f"{key_text(key)} only in reference: "
                                  f"{rrs_text(ra)}", sec, key))
            elif ra is None:
                diffs.append(Diff(f"{sec}:extra", f"{key_text(key)} only in candidate: "
                                  f"{rrs_text(rb)}", sec, key))
            elif [x[1] for x in ra] != [x[1] for x in rb]:
                diffs.append(Diff(f"{sec}:rdata", f"{key_text(key)}: reference "
                                  f"{rrs_text(ra)} | candidate {rrs_text(rb)}", sec, key))
            elif [x[0] for x in ra] != [x[0] for x in rb]:
                diffs.append(Diff(f"{sec}:ttl", f"{key_text(key)}: reference TTLs "
                                  f"{[x[0] for x in ra]} | candidate {[x[0] for x in rb]}",
                                  sec, key))
            elif sorted(x[2] for x in ra) != sorted(x[2] for x in rb):
                diffs.append(Diff(f"{sec}:case", f"{key_text(key)}: name case in rdata: "
                                  f"reference {rrs_text(ra)} | candidate {rrs_text(rb)}",
                                  sec, key))
    return diffs, False


def qtext(r):
    return ("[" + ", ".join(f"{n} {dns.rdataclass.to_text(c)} {RT.to_text(t)}"
                            for n, t, c in r.question) + "]")


def size_check(q, r):
    """RFC 1035 §4.2.1 / RFC 6891 §6.2.3, §7: a UDP response never exceeds 512 bytes,
    or the requestor's EDNS payload when larger."""
    if q.transport != "udp" or r.raw is None:
        return []
    limit = 512 if q.edns is None else max(512, q.payload)
    if len(r.raw) > limit:
        return [Diff("size", f"candidate UDP response of {len(r.raw)} bytes exceeds the "
                             f"requestor's limit {limit}")]
    return []


def sections_differ(ref, cand):
    return any(ref.sections[s] != cand.sections[s] for s in ref.sections)


def edns_diffs(ref, cand):
    a, b = ref.edns, cand.edns
    if a is None and b is None:
        return []
    if (a is None) != (b is None):
        return [Diff("edns:presence", f"OPT reference={'yes' if a else 'no'} "
                                      f"candidate={'yes' if b else 'no'}")]
    out = []
    for k in ("version", "do", "zflags", "payload", "options"):
        if a[k] != b[k]:
            out.append(Diff(f"edns:{k}", f"{k} reference={a[k]!r} candidate={b[k]!r}"))
    return out


def rc(v):
    try:
        return dns.rcode.to_text(v)
    except Exception:  # noqa: BLE001
        return str(v)


# --------------------------------------------------------------------------------------
# The allow-list: differences the RFCs permit.  Each rule sees the query, both responses
# and the remaining differences, and returns the subset it covers.  A rule may only
# cover a difference where the candidate's behaviour is itself correct; where the
# candidate is wrong the difference stays a failure.
# --------------------------------------------------------------------------------------

class Ctx:
    def __init__(self, q, ref, cand, zones):
        self.q, self.ref, self.cand, self.zones = q, ref, cand, zones

    def zone_for(self, name):
        best = None
        for z in self.zones:
            if name.is_subdomain(z.origin) and (best is None or len(z.origin) > len(best.origin)):
                best = z
        return best

    def zone_rrset_matches(self, key, rrs):
        """True when rrs (a bag entry) is exactly what the zone holds for key (TTL incl.)."""
        name, _cls, typ, _cov = key
        z = self.zone_for(name)
        if z is None:
            return False
        rds = z.rrsets.get((name, typ))
        if rds is None and name not in z.exists:
            # RFC 4592 §3.3.1: the source of synthesis is *.<closest encloser>
            p = name
            while p not in z.exists and p != z.origin:
                p = p.parent()
            rds = z.rrsets.get((dns.name.Name((b"*",) + p.labels), typ))
        if rds is None:
            return False
        want = sorted((rds.ttl, rd.to_digestable()) for rd in rds)
        return want == sorted((t, d) for t, d, _ in rrs)


def rule_any_minimal(ctx, diffs):
    """RFC 8482 §4.1: a responder may answer QTYPE=ANY with a subset of the node's
    RRsets (typically one), a choice RFC 8482 §4 leaves to the responder whatever the
    transport, or (§4.2) with one synthesized HINFO.  NSD itself answers ANY over UDP
    with one RRset and over TCP with all of them; which RRset is picked is the server's
    choice.  Covered:
    answer RRsets present on one side only, when both answers are non-empty NOERROR
    answers and every RRset the candidate returns is exactly the zone's data for the
    queried node (or the wildcard that synthesized it), or is a single synthesized
    HINFO; and the additional/authority data that only the dropped or added RRsets
    triggered (zone data only)."""
    q, ref, cand = ctx.q, ctx.ref, ctx.cand
    if q.qtype != "ANY" or ref.rcode != 0 or cand.rcode != 0:
        return set()
    ra, ca = ref.sections["answer"], cand.sections["answer"]
    if not ca or not ra:
        return set()
    hinfo = [k for k in ca if k[2] == RT.HINFO and not ctx.zone_rrset_matches(k, ca[k])]
    if hinfo and len(ca) != 1:
        return set()
    if not hinfo and any(not (ra.get(k) == ca[k] or ctx.zone_rrset_matches(k, ca[k]))
                         for k in ca):
        return set()
    covered = set()
    for i, d in enumerate(diffs):
        if d.kind == "answer:missing":
            covered.add(i)
        elif d.kind == "answer:extra":
            covered.add(i)              # validated above
        elif d.section in ("additional", "authority") and d.kind.endswith(("missing", "extra")):
            rrs = (ref if d.kind.endswith("missing") else cand).sections[d.section][d.key]
            if d.key[2] in (RT.A, RT.AAAA, RT.NS) and ctx.zone_rrset_matches(d.key, rrs):
                covered.add(i)
    return covered


def rule_cname_stops_at_zone(ctx, diffs):
    """RFC 1034 §4.3.2 step 3a restarts the lookup at the CNAME target "at step 1",
    which lets a server continue into another zone it serves (NSD does); a server that
    stops at its zone's edge leaves the rest to the resolver, which restarts at the
    target anyway (RFC 1034 §3.6.2, §5.3.3; RFC 2181 §5.4.1 ranks out-of-zone answer
    data low).  RFC 6604 §3: RCODE and AA then describe the last name the server did
    look up, so NOERROR+AA at the edge.  Covered: the candidate's answer is the prefix
    of NSD's CNAME chain that lies in the queried zone, ends in a CNAME whose target is
    outside that zone, and the candidate says NOERROR with AA; NSD's extra answer,
    authority and additional RRsets and its RCODE for the target are not compared."""
    q, ref, cand = ctx.q, ctx.ref, ctx.cand
    z = ctx.zone_for(q.qname)
    if z is None or cand.rcode != 0 or "AA" not in cand.flags or ref.rcode not in (0, 3):
        return set()
    ra, ca = ref.sections["answer"], cand.sections["answer"]
    inzone = {k: v for k, v in ra.items() if k[0].is_subdomain(z.origin)}
    if not ca or inzone != ca or inzone == ra and ref.rcode == cand.rcode and \
            ref.sections["authority"] == cand.sections["authority"]:
        return set()
    # the chain must leave the zone: some CNAME in ca points outside it
    targets = [rd.target for rrset in (cand.msg.answer if cand.msg else [])
               if rrset.rdtype == RT.CNAME for rd in rrset]
    if not any(not t.is_subdomain(z.origin) for t in targets):
        return set()
    covered = set()
    for i, d in enumerate(diffs):
        if d.kind == "answer:missing" and not d.key[0].is_subdomain(z.origin):
            covered.add(i)
        elif d.kind == "rcode":
            covered.add(i)
        elif d.section in ("authority", "additional") and d.kind.endswith("missing") \
                and not d.key[0].is_subdomain(z.origin):
            covered.add(i)
        elif d.section in ("authority", "additional") and d.kind.endswith(("missing", "extra")):
            rrs = (ref if d.kind.endswith("missing") else cand).sections[d.section][d.key]
            if d.key[2] in (RT.A, RT.AAAA, RT.NS) and ctx.zone_rrset_matches(d.key, rrs):
                covered.add(i)
    return covered


def rule_additional_optional(ctx, diffs):
    """RFC 1034 §4.3.2 step 6 and RFC 2181 §5.4.1: the additional section carries
    optional, non-authoritative data "which may be useful"; a server may add A/AAAA for
    the NS/MX/SRV targets it holds, or leave them out.  Covered: a whole A/AAAA RRset in
    the additional section present on one side only, when it is exactly the zone's
    data and its owner is a target named in the answer or authority.  Not covered:
    in-domain glue of a referral (RFC 9471 §2.1: MUST be included) and any RRset whose
    content differs."""
    ref, cand = ctx.ref, ctx.cand
    targets = set()
    for r in (ref, cand):
        if r.msg is None:
            continue
        for rrset in r.msg.answer + r.msg.authority:
            for rd in rrset:
                t = getattr(rd, "exchange", None) or getattr(rd, "target", None)
                if rrset.rdtype in (RT.NS, RT.MX, RT.SRV) and t is not None:
                    targets.add(t.canonicalize())
    referral = (not ref.sections["answer"] and "AA" not in ref.flags
                and any(k[2] == RT.NS for k in ref.sections["authority"]))
    cut = None
    if referral:
        cut = next(k[0] for k in ref.sections["authority"] if k[2] == RT.NS)
    covered = set()
    for i, d in enumerate(diffs):
        if d.section != "additional" or not d.kind.endswith(("missing", "extra")):
            continue
        if d.key[2] not in (RT.A, RT.AAAA) or d.key[0] not in targets:
            continue
        if referral and d.kind.endswith("missing") and d.key[0].is_subdomain(cut):
            continue            # in-domain glue of the referral is not optional
        rrs = (ref if d.kind.endswith("missing") else cand).sections["additional"][d.key]
        if ctx.zone_rrset_matches(d.key, rrs):
            covered.add(i)
    return covered


def rule_authority_ns_optional(ctx, diffs):
    """RFC 1034 §4.3.2 step 3a requires only the answer section of an authoritative
    answer; the zone's NS RRset in the authority section of a *positive* answer is
    optional data (RFC 2181 §5.4.1 ranks it, nothing requires it; NSD's and BIND's
    minimal-responses leave it out).  Covered: the apex NS RRset of the queried zone
    present on one side only, in a NOERROR answer with a non-empty answer section and
    AA on both sides, when it is exactly the zone's NS RRset.  Negative answers are not
    covered (their SOA is mandatory, RFC 2308 §3) and neither are referrals."""
    ref, cand = ctx.ref, ctx.cand
    if ref.rcode != 0 or cand.rcode != 0 or not ref.sections["answer"] \
            or not cand.sections["answer"] or "AA" not in ref.flags or "AA" not in cand.flags:
        return set()
    covered = set()
    dropped_targets = set()
    for i, d in enumerate(diffs):
        if d.section != "authority" or not d.kind.endswith(("missing", "extra")):
            continue
        z = ctx.zone_for(d.key[0])
        if d.key[2] != RT.NS or z is None or d.key[0] != z.origin.canonicalize():
            continue
        side = ref if d.kind.endswith("missing") else cand
        rrs = side.sections["authority"][d.key]
        if ctx.zone_rrset_matches(d.key, rrs):
            covered.add(i)
            for rrset in side.msg.authority:
                if rrset.rdtype == RT.NS:
                    dropped_targets.update(rd.target.canonicalize() for rd in rrset)
    # The addresses of those NS targets went (or came) with them, unless the answer
    # section names the same hosts (then additional-optional decides).
    answer_targets = set()
    for r in (ref, cand):
        for rrset in (r.msg.answer if r.msg else []):
            for rd in rrset:
                t = getattr(rd, "exchange", None) or getattr(rd, "target", None)
                if t is not None:
                    answer_targets.add(t.canonicalize())
    for i, d in enumerate(diffs):
        if d.section == "additional" and d.kind.endswith(("missing", "extra")) \
                and d.key[2] in (RT.A, RT.AAAA) and d.key[0] in dropped_targets \
                and d.key[0] not in answer_targets:
            rrs = (ref if d.kind.endswith("missing") else cand).sections["additional"][d.key]
            if ctx.zone_rrset_matches(d.key, rrs):
                covered.add(i)
    return covered


def rule_rdata_name_case(ctx, diffs):
    """RFC 4343 §4.1: preserving the case of names on output is a "should", and name
    compression (RFC 1035 §4.1.4) matches suffixes case-insensitively, so a server
    that points a compressed rdata name at the client's 0x20-cased question changes the
    case of that suffix.  Covered: an RRset identical in owner, type, TTLs and canonical
    (lowercased-name) rdata that differs only in the ASCII case of embedded names."""
    return {i for i, d in enumerate(diffs) if d.kind.endswith(":case")}


def rule_ecs_not_supported(ctx, diffs):
    """RFC 7871 §7.2.1: a server that implements ECS returns the option with a SCOPE
    PREFIX-LENGTH (0 for answers that do not depend on the client); NSD does not
    implement ECS and, as RFC 7871 §7.1.3 / RFC 6891 §6.1.2 allow, ignores the option.
    Covered: an ECS option (code 8) present only in the candidate's OPT, echoing the
    query's family, source prefix and address, in answer to a query that carried ECS."""
    q = ctx.q
    if not q.options or not any(o.otype == 8 for o in q.options):
        return set()
    a, b = ctx.ref.edns, ctx.cand.edns
    if a is None or b is None:
        return set()
    sent = [o for o in q.options if o.otype == 8][0].to_wire()
    extra = [o for o in b["options"] if o not in a["options"]]
    if a["options"] != [o for o in b["options"] if o not in extra]:
        return set()
    # family(2) source(1) scope(1) address: same family, source and address as sent
    if not extra or any(code != 8 or data[:3] != sent[:3] or data[4:] != sent[4:]
                        for code, data in extra):
        return set()
    return {i for i, d in enumerate(diffs) if d.kind == "edns:options"}


def rule_cd_copied(ctx, diffs):
    """RFC 4035 §3.1.6: "A security-aware name server MUST copy the CD bit from a query
    into the corresponding response."  NSD clears CD in every answer (query.c: "CD flag
    must be cleared for auth answers").  Covered: CD set by the candidate exactly when
    the query had it, NSD's CD clear."""
    q, ref, cand = ctx.q, ctx.ref, ctx.cand
    return {i for i, d in enumerate(diffs) if d.kind == "flag:CD" and q.cd
            and "CD" in cand.flags and "CD" not in ref.flags}


def rule_do_copied_badvers(ctx, diffs):
    """RFC 3225 §3: "The DO bit of the query MUST be copied in the response."  NSD
    clears DO in its BADVERS answers (RFC 6891 §6.1.3).  Covered: the DO bit of a
    BADVERS answer equal to the query's DO on the candidate, clear at NSD."""
    q, ref, cand = ctx.q, ctx.ref, ctx.cand
    if ref.rcode != 16 or cand.rcode != 16 or cand.edns is None:
        return set()
    return {i for i, d in enumerate(diffs)
            if d.kind == "edns:do" and cand.edns["do"] == q.do and not ref.edns["do"]}


def rule_ede_optional(ctx, diffs):
    """RFC 8914 §3: an Extended DNS Error option "can be included in any response"; it
    is optional.  NSD adds EDE 20 (Not Authoritative) to REFUSED answers.  Covered: EDE
    options (code 15) present only at NSD, every other option equal."""
    a, b = ctx.ref.edns, ctx.cand.edns
    if a is None or b is None:
        return set()
    if [o for o in a["options"] if o[0] != 15] != b["options"]:
        return set()
    return {i for i, d in enumerate(diffs) if d.kind == "edns:options"}


def rule_ds_in_referral(ctx, diffs):
    """RFC 4035 §3.1.4: a referral to a child with a DS RRset includes that DS RRset when
    the query has DO=1 (RFC 3225 §3: DNSSEC RRs only when DO is set).  NSD adds it only
    for signed zones; for an unsigned parent it is data the client asked to accept and
    harmless.  Covered: the zone's exact DS RRset at the cut, extra in the authority
    section of a candidate referral (NS of the cut present, no AA) to a DO=1 query.
    With DO=0 the same difference stays a failure."""
    q, cand = ctx.q, ctx.cand
    if not (q.edns is not None and q.do):
        return set()
    cuts = {k[0] for k in cand.sections["authority"] if k[2] == RT.NS}
    covered = set()
    for i, d in enumerate(diffs):
        if d.kind == "authority:extra" and d.key[2] == RT.DS and d.key[0] in cuts \
                and ctx.zone_rrset_matches(d.key, cand.sections["authority"][d.key]):
            covered.add(i)
    return covered


def rule_question_in_errors(ctx, diffs):
    """RFC 1035 §4.1.1/§4.1.2 do not say whether an error response carries the question;
    NSD drops it from NOTIMP/REFUSED/FORMERR answers (query_error()), the candidate
    echoes it.  Covered: the candidate's question is exactly the one sent (checked
    separately, 0x20 case included) and NSD's is empty, in an error answer."""
    ref, cand = ctx.ref, ctx.cand
    if ref.question or cand.rcode not in (1, 4, 5) or ctx.q.question is None:
        return set()
    want = ctx.q.question
    if len(cand.question) != 1 or cand.question[0][0].labels != want[0].labels \
            or cand.question[0][1:] != want[1:]:
        return set()
    return {i for i, d in enumerate(diffs) if d.kind == "question"}


META_QTYPES = {41, 249, 250, 253, 254}    # OPT, TKEY, TSIG, MAILB, MAILA


def rule_meta_qtype_notimp(ctx, diffs):
    """OPT, TKEY and TSIG are Meta-TYPEs, never zone data (RFC 6895 §3.1); MAILA/MAILB
    are obsolete query types (RFC 1035 §3.2.3: "Obsolete - see MX").  NOTIMP
    ("the name server does not support the requested kind of query", RFC 1035 §4.1.1)
    is a correct answer to them; NSD answers NODATA.  Covered: NOTIMP without AA and
    with empty sections from the candidate to such a QTYPE."""
    q, cand = ctx.q, ctx.cand
    if RT.from_text(q.qtype) not in META_QTYPES or cand.rcode != 4 or "AA" in cand.flags \
            or any(cand.sections[s] for s in cand.sections):
        return set()
    return {i for i, d in enumerate(diffs)
            if d.kind in ("rcode", "flag:AA") or d.kind.endswith(("missing", "extra"))}


def rule_qclass_any_refused(ctx, diffs):
    """RFC 1034 §3.7.1: "responses to QCLASS=* queries can never be authoritative"; NSD
    nevertheless answers them as IN with AA=1.  REFUSED (RFC 1035 §4.1.1, policy) is a
    legitimate way for an authoritative-only server not to answer them.  Covered: the
    candidate's REFUSED without AA and with empty sections to QCLASS=*."""
    q, cand = ctx.q, ctx.cand
    if q.qclass != "ANY" or cand.rcode != 5 or "AA" in cand.flags \
            or any(cand.sections[s] for s in cand.sections):
        return set()
    return {i for i, d in enumerate(diffs)
            if d.kind in ("rcode", "flag:AA", "question")
            or d.kind.endswith(("missing", "extra"))}


def rule_axfr_udp(ctx, diffs):
    """RFC 5936 §4.2: AXFR over UDP is not defined, and no RCODE is prescribed for it;
    NSD says NOTIMP.  Covered: REFUSED or FORMERR with empty sections from the
    candidate to QTYPE=AXFR over UDP."""
    q, cand = ctx.q, ctx.cand
    if q.qtype != "AXFR" or q.transport != "udp" or cand.rcode not in (1, 5) \
            or any(cand.sections[s] for s in cand.sections):
        return set()
    return {i for i, d in enumerate(diffs) if d.kind in ("rcode", "flag:AA")}


def rule_notify_not_secondary(ctx, diffs):
    """RFC 1996 §3.10: a NOTIFY from a host that is not a known primary of the zone is
    to be ignored.  NSD answers it REFUSED (its ACL), a server without NOTIFY support
    for the zone says NOTIMP (RFC 1035 §4.1.1).  Both leave the zone alone.  Covered: NOTIMP or
    REFUSED with empty sections from the candidate to opcode NOTIFY."""
    q, cand = ctx.q, ctx.cand
    if q.opcode != 4 or cand.rcode not in (4, 5) \
            or any(cand.sections[s] for s in cand.sections):
        return set()
    return {i for i, d in enumerate(diffs) if d.kind == "rcode"}


def rule_formerr_not_drop(ctx, diffs):
    """RFC 1035 §4.1.1: FORMERR is the answer to a query the server cannot interpret,
    and RFC 8906 §3 asks servers to answer rather than stay silent; NSD instead drops
    some malformed queries (e.g. a bare 12-byte header over TCP).  Covered: a FORMERR
    with empty sections from the candidate to a deliberately malformed query that NSD
    did not answer at all."""
    q, ref, cand = ctx.q, ctx.ref, ctx.cand
    if not q.mangle or ref.raw is not None or cand.rcode != 1 \
            or any(cand.sections[s] for s in cand.sections):
        return set()
    return {i for i, d in enumerate(diffs) if d.kind == "response"}


def rule_opt_in_notimp(ctx, diffs):
    """RFC 6891 §7: "If an OPT record is present in a received request, compliant
    responders MUST include an OPT record in their respective responses."  NSD leaves it
    out of NOTIMP answers to unknown opcodes; the candidate includes it.  Covered: the
    query had EDNS version 0, the candidate answered NOTIMP with an OPT of version 0 and
    NSD with none; only that presence difference is allowed."""
    q, ref, cand = ctx.q, ctx.ref, ctx.cand
    if q.edns != 0 or cand.rcode != 4 or ref.edns is not None or cand.edns is None \
            or cand.edns["version"] != 0:
        return set()
    return {i for i, d in enumerate(diffs) if d.kind == "edns:presence"}


# (name, RFC, predicate).  Keep every entry commented with why it is legitimate.
ALLOW = [
    # ANY: hadnsd returns one RRset of the node, NSD one over UDP and all over TCP.
    ("any-minimal (RFC 8482 §4.1)", rule_any_minimal),
    # Positive answers: NSD adds the apex NS RRset (+ its addresses), hadnsd does not.
    ("authority-ns-optional (RFC 1034 §4.3.2 step 3a)", rule_authority_ns_optional),
    # CNAME into another served zone: NSD follows it, hadnsd stops at its zone's edge.
    ("cname-stops-at-zone-edge (RFC 1034 §4.3.2 step 3a, RFC 6604 §3)",
     rule_cname_stops_at_zone),
    # 0x20 queries: NSD compresses rdata names onto the client-cased QNAME, hadnsd
    # keeps the zone's case.
    ("rdata-name-case (RFC 4343 §4.1)", rule_rdata_name_case),
    # CD in the query: hadnsd copies it (MUST), NSD clears it.
    ("cd-copied (RFC 4035 §3.1.6)", rule_cd_copied),
    # BADVERS to a DO=1 query: hadnsd copies DO (MUST), NSD clears it.
    ("do-copied-in-badvers (RFC 3225 §3)", rule_do_copied_badvers),
    # REFUSED outside our zones: NSD adds EDE 20 (optional), hadnsd sends no EDE.
    ("ede-optional (RFC 8914 §3)", rule_ede_optional),
    # Referral to a DO=1 query: hadnsd includes the parent-side DS, NSD only does that
    # for signed zones.  With DO=0 an extra DS stays a failure.
    ("ds-in-referral-with-do (RFC 4035 §3.1.4)", rule_ds_in_referral),
    # NOTIMP/REFUSED/FORMERR: hadnsd echoes the question, NSD drops it.
    ("question-in-error-answers (RFC 1035 §4.1.1)", rule_question_in_errors),
    # QTYPE OPT/TSIG/TKEY/MAILA/MAILB: hadnsd NOTIMP, NSD NODATA.
    ("meta-qtype-notimp (RFC 6895 §3.1, RFC 1035 §4.1.1)", rule_meta_qtype_notimp),
    # QCLASS=*: hadnsd REFUSED, NSD answers as IN with AA=1 (which §3.7.1 forbids).
    ("qclass-any-refused (RFC 1034 §3.7.1)", rule_qclass_any_refused),
    # AXFR over UDP: hadnsd REFUSED, NSD NOTIMP; no RCODE is prescribed.
    ("axfr-over-udp (RFC 5936 §4.2)", rule_axfr_udp),
    # NOTIFY for a zone we are not secondary for: hadnsd NOTIMP, NSD REFUSED.
    ("notify-not-secondary (RFC 1996 §3.10, RFC 1035 §4.1.1)", rule_notify_not_secondary),
    # NOTIMP to an EDNS query: hadnsd includes OPT (MUST), NSD leaves it out.
    ("opt-in-notimp (RFC 6891 §7)", rule_opt_in_notimp),
    # Malformed query (bare header over TCP): hadnsd FORMERR, NSD silence.
    ("formerr-not-drop (RFC 1035 §4.1.1, RFC 8906 §3)", rule_formerr_not_drop),
    # ECS in the query: hadnsd echoes it with SCOPE 0 for static answers, NSD ignores it.
    ("ecs-echo (RFC 7871 §7.2.1)", rule_ecs_not_supported),
]


# Rules written for differences that hadnsd does not show today.  They are not applied:
# an entry moves into ALLOW only when a run shows the difference and it is checked to be
# legitimate (never to make a failure go away).
DORMANT = [
    ("additional-optional (RFC 1034 §4.3.2 step 6, RFC 2181 §5.4.1)",
     rule_additional_optional),
]


def classify(ctx, diffs):
    """-> (remaining failures, {reason: count}) after applying ALLOW."""
    left = list(range(len(diffs)))
    reasons = collections.Counter()
    for name, rule in ALLOW:
        cur = [diffs[i] for i in left]
        cov = rule(ctx, cur)
        if cov:
            reasons[name] += 1
            left = [left[j] for j in range(len(cur)) if j not in cov]
        if not left:
            break
    return [diffs[i] for i in left], reasons


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------

def find_nsd(explicit):
    for c in ([explicit] if explicit else []) + [shutil.which("nsd"), "/usr/sbin/nsd"]:
        if c and os.access(c, os.X_OK):
            return c
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hadnsd", help="path to the hadnsd binary under test")
    ap.add_argument("--against", choices=("hadnsd", "knot", "nsd"), default=None,
                    help="candidate server (default hadnsd; knot/nsd develop the harness)")
    ap.add_argument("--zone", action="append", required=True, metavar="NAME=FILE")
    ap.add_argument("--nsd", help="path to nsd (default: PATH, /usr/sbin/nsd)")
    ap.add_argument("--knotd", default=shutil.which("knotd") or "/usr/sbin/knotd")
    ap.add_argument("--seed", type=int, default=20240101)
    ap.add_argument("--only", help="run only battery items whose category matches (regex)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--max-failures", type=int, default=60,
                    help="print at most this many failures in full")
    ap.add_argument("--examples", type=int, default=1,
                    help="with --verbose: allowed differences shown in full per reason")
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args()
    against = args.against or "hadnsd"

    nsd = find_nsd(args.nsd)
    if not nsd:
        print("SKIP: nsd not found (Debian package nsd)", flush=True)
        return EXIT_SKIP
    if against == "hadnsd":
        if not args.hadnsd or not os.access(args.hadnsd, os.X_OK):
            print(f"SKIP: hadnsd binary not found or not executable: {args.hadnsd}",
                  flush=True)
            return EXIT_SKIP
    if against == "knot" and not os.access(args.knotd, os.X_OK):
        print("SKIP: knotd not found", flush=True)
        return EXIT_SKIP

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    atexit.register(stop_all)

    tmp = tempfile.mkdtemp(prefix="diff_nsd.")
    zdir = os.path.join(tmp, "zones")
    os.makedirs(zdir)
    zones, served = [], []
    try:
        for spec in args.zone:
            name, sep, path = spec.partition("=")
            if not sep or not name or not path:
                ap.error(f"--zone wants NAME=FILE, got {spec!r}")
            name = name.rstrip(".") + "."
            if not os.path.exists(path):
                print(f"diff_nsd: zone file {path} missing", flush=True)
                return EXIT_ERROR
            dst = os.path.join(zdir, os.path.basename(path))
            shutil.copyfile(path, dst)
            zones.append(ZoneInfo(name, dst))
            served.append((name, dst))

        rng = random.Random(args.seed)
        battery = build_battery(zones, rng, [z.origin for z in zones])
        if args.only:
            battery = [q for q in battery if re.search(args.only, q.cat)]

        t0 = time.monotonic()
        ref = NSD(tmp, served, "nsd", nsd)
        if against == "hadnsd":
            cand = Hadnsd(tmp, served, "hadnsd", os.path.abspath(args.hadnsd), zdir)
        elif against == "knot":
            cand = Knot(tmp, served, "knot", args.knotd)
        else:
            cand = NSD(tmp, served, "nsd2", nsd)
        try:
            ref.start()
            cand.start()
        except RuntimeError as e:
            print(f"diff_nsd: ERROR: {e}", flush=True)
            return EXIT_ERROR
        if args.verbose:
            print(f"diff_nsd: reference nsd on 127.0.0.1:{ref.port}, candidate {cand.label} "
                  f"on 127.0.0.1:{cand.port}, {len(battery)} queries, tmp {tmp}", flush=True)

        rc_ref, rc_cand = Client(ref.port), Client(cand.port)
        identical = 0
        allowed = collections.Counter()
        allowed_queries = 0
        failures = []
        by_cat = collections.defaultdict(lambda: [0, 0, 0])
        qid_rng = random.Random(args.seed + 1)
        examples = collections.defaultdict(list)
        silent = 0          # candidate timeouts where NSD answered
        ref_asked_again = 0  # UDP queries the reference left unanswered the first time
        cand_asked_again = 0  # the same for the candidate, where the reference answered
        silent_secs = 0.0   # time spent waiting for a candidate that did not answer
        aborted = None
        echo_checked = 0
        for n_sent, q in enumerate(battery):
            qid = qid_rng.randrange(65536)
            wire = q.build(qid)
            if q.transport == "udp":
                tmo = PROTO_UDP_TIMEOUT if q.cat.startswith("proto") else UDP_TIMEOUT
                r1 = Resp(rc_ref.udp_exchange(wire, qid, tmo))
                if r1.raw is None and not q.cat.startswith("proto"):
                    # The reference is not under test: a query it lost once (seen on a busy
                    # machine) is asked again rather than counted against the candidate.
                    ref_asked_again += 1
                    r1 = Resp(rc_ref.udp_exchange(wire, qid, tmo))
                t1 = time.monotonic()
                r2 = Resp(rc_cand.udp_exchange(wire, qid, tmo))
                if r2.raw is None and r1.raw is not None:
                    # Once more, with the full timeout: on a machine shared with the suite's
                    # load tests a reply can be late by more than PROTO_UDP_TIMEOUT. A query
                    # the candidate drops is still dropped twice and fails below.
                    cand_asked_again += 1
                    r2 = Resp(rc_cand.udp_exchange(wire, qid, UDP_TIMEOUT))
            else:
                r1 = Resp(rc_ref.tcp_exchange(wire))
                t1 = time.monotonic()
                r2 = Resp(rc_cand.tcp_exchange(wire))
            if r2.raw is None:
                silent_secs += time.monotonic() - t1
            diffs, tc_partial = compare(q, r1, r2)
            if q.question and r2.question and not q.mangle:
                echo_checked += 1
            diffs += size_check(q, r2)
            if r2.raw is None and r1.raw is not None:
                # malformed queries may be dropped quickly; they do not count here
                silent += 0 if q.cat.startswith("proto") else 1
                if cand.proc.poll() is not None:
                    aborted = (f"the candidate exited (status {cand.proc.returncode}) at "
                               f"query {n_sent + 1}: {q.describe()}")
                elif silent > MAX_SILENT or silent_secs > MAX_SILENT_SECS:
                    aborted = (f"the candidate left {silent} queries unanswered "
                               f"({silent_secs:.0f}s of timeouts); giving up")
            stats = by_cat[q.cat]
            tc_reason = "tc-partial-content (RFC 2181 §9)"
            if not diffs:
                if tc_partial:
                    allowed[tc_reason] += 1
                    allowed_queries += 1
                    stats[1] += 1
                    if len(examples[tc_reason]) < args.examples:
                        examples[tc_reason].append(
                            (q, [Diff("tc", "TC=1: sections not compared")], r1, r2))
                else:
                    identical += 1
                    stats[0] += 1
                if aborted:
                    break
                continue
            left, reasons = classify(Ctx(q, r1, r2, zones), diffs)
            if left:
                failures.append((q, left, r1, r2))
                stats[2] += 1
            else:
                if tc_partial:
                    reasons[tc_reason] += 1
                allowed.update(reasons)
                allowed_queries += 1
                stats[1] += 1
                for r in reasons:
                    if len(examples[r]) < args.examples:
                        examples[r].append((q, diffs, r1, r2))
            if aborted:
                break
        # RFC 7766 §6.2.1.1 pipelining: batches of TCP items sent in one write each.
        pipe = [Query("tcp-pipeline", q.zone, q.qname, q.qtype, transport="tcp", edns=q.edns,
                      payload=q.payload, do=q.do, rd=q.rd, cd=q.cd)
                for q in battery if q.transport == "tcp" and q.cat in ("node", "nxdomain",
                                                                       "wildcard-1", "cname")]
        pipe = pipe[:: max(1, len(pipe) // 200)]
        for i in range(0, 0 if aborted else len(pipe), PIPELINE_BATCH):
            batch = pipe[i:i + PIPELINE_BATCH]
            ids = qid_rng.sample(range(65536), len(batch))
            wires = [q.build(qid) for q, qid in zip(batch, ids)]
            a1, a2 = rc_ref.tcp_pipeline(wires), rc_cand.tcp_pipeline(wires)
            for q, qid in zip(batch, ids):
                battery.append(q)
                r1, r2 = Resp(a1.get(qid)), Resp(a2.get(qid))
                diffs, _ = compare(q, r1, r2)
                stats = by_cat[q.cat]
                if not diffs:
                    identical += 1
                    stats[0] += 1
                    continue
                left, reasons = classify(Ctx(q, r1, r2, zones), diffs)
                if left:
                    failures.append((q, left, r1, r2))
                    stats[2] += 1
                else:
                    allowed.update(reasons)
                    allowed_queries += 1
                    stats[1] += 1
        elapsed = time.monotonic() - t0
        if aborted:
            print(f"diff_nsd: ABORTED: {aborted}\n  candidate log tail:\n{cand.log_tail()}",
                  flush=True)

        for i, (q, left, r1, r2) in enumerate(failures):
            if i >= args.max_failures:
                print(f"... {len(failures) - i} more failures not shown "
                      "(--max-failures)", flush=True)
                break
            print(f"FAIL {q.describe()}")
            for d in left:
                print(f"  - {d}")
            print("  reference (nsd):")
            print(r1.text())
            print(f"  candidate ({cand.label}):")
            print(r2.text())
            print(flush=True)

        if args.verbose:
            for r in sorted(examples):
                for q, diffs, r1, r2 in examples[r]:
                    print(f"ALLOWED [{r}] {q.describe()}")
                    for d in diffs:
                        print(f"  - {d}")
                    if args.verbose and len(args.zone) and args.examples > 0:
                        print("  reference (nsd):\n" + r1.text())
                        print(f"  candidate ({cand.label}):\n" + r2.text())
                    print()
        if args.verbose or failures:
            print("per category (identical/allowed/failed):")
            for cat in sorted(by_cat):
                a, b, c = by_cat[cat]
                print(f"  {cat:20s} {a:5d} {b:5d} {c:5d}")
            kinds = collections.Counter(d.kind for _, left, _, _ in failures for d in left)
            if kinds:
                print("failure kinds: " + ", ".join(f"{k}={v}" for k, v in kinds.most_common()))
        if len(failures) > args.max_failures:
            print("all failing queries:")
            for q, left, _, _ in failures:
                print(f"  {q.describe()}: {'; '.join(d.kind for d in left)}")
        if ref_asked_again:
            print(f"note: nsd left {ref_asked_again} UDP queries unanswered at first and was "
                  f"asked again", flush=True)
        if cand_asked_again:
            print(f"note: {cand.label} left {cand_asked_again} UDP queries unanswered at first "
                  f"and was asked again", flush=True)
        print(f"note: question echo (0x20 case) checked on {echo_checked} {cand.label} "
              "answers")
        for c, who in ((rc_ref, "nsd"), (rc_cand, cand.label)):
            if c.tcp_closed_by_server:
                print(f"note: {who} closed the TCP connection {c.tcp_closed_by_server} times "
                      f"({c.tcp_connects} connects)")
        rc_ref.close()
        rc_cand.close()
        reason_txt = ", ".join(f"{k}: {v}" for k, v in sorted(allowed.items()))
        total = identical + allowed_queries + len(failures)
        print(f"diff_nsd: {total} queries, {identical} identical, {allowed_queries} "
              f"allowed differences ({reason_txt or 'none'}), {len(failures)} failures "
              f"[nsd vs {cand.label}, {len(zones)} zones, {elapsed:.1f}s"
              + (", ABORTED" if aborted else "") + "]", flush=True)
        return 0 if not failures and not aborted else 1
    finally:
        stop_all()
        if args.keep:
            print(f"diff_nsd: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
