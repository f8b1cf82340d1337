# SPDX-License-Identifier: MIT
# tests/integration/ans.py: the policy tests' query helper (170-190). One query, summarised as
# "rcode=R an=ADDR,... ttl=T,... ecs=F/SRC/SCOPE/ADDR" (the A/AAAA records of the answer section,
# sorted); --poll SET: queries every 10 ms until the answer is SET and prints the seconds it took
# (--mode-dir/--mode: switch a target first, and count from then); --poll-line LINE: the same
# until the whole summary is LINE (TTL and ECS included); --count N: N queries, how often each
# answer came. Needs dnspython.
import argparse, binascii, os, socket, struct, sys, time
import dns.edns, dns.message, dns.rcode, dns.rdatatype

ap = argparse.ArgumentParser()
ap.add_argument("-p", "--port", type=int, required=True)
ap.add_argument("-s", "--server", default="127.0.0.1")
ap.add_argument("--tcp", action="store_true")
ap.add_argument("--ecs", help="ADDRESS/SRCLEN: an ECS option made by dnspython")
ap.add_argument("--rawecs", help="HEX: the ECS option's data as is (malformed ones)")
ap.add_argument("--poll", help="ADDR,ADDR...: query until the answer is this set")
ap.add_argument("--poll-line", help="query until the one-line summary is this")
ap.add_argument("--deadline", type=float, default=20.0)
ap.add_argument("--mode-dir", help="with --poll: first switch the target in DIR to --mode")
ap.add_argument("--mode")
ap.add_argument("--count", type=int, help="send N queries, print how often each answer came")
ap.add_argument("qname")
ap.add_argument("qtype")
a = ap.parse_args()
rtype = dns.rdatatype.from_text(a.qtype)
fam = socket.AF_INET6 if ":" in a.server else socket.AF_INET


def make():
    opts = []
    if a.ecs:
        addr, _, srclen = a.ecs.partition("/")
        opts.append(dns.edns.ECSOption(addr, int(srclen)))
    if a.rawecs is not None:
        opts.append(dns.edns.GenericOption(dns.edns.ECS, binascii.unhexlify(a.rawecs)))
    q = dns.message.make_query(a.qname, rtype, use_edns=0 if opts else False, options=opts)
    q.flags = 0
    return q


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise ConnectionError("connection closed")
        b += c
    return b


usock = None


def ask(q):
    global usock
    wire = q.to_wire()
    if a.tcp:
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect((a.server, a.port))
            s.sendall(struct.pack("!H", len(wire)) + wire)
            (n,) = struct.unpack("!H", recv_exact(s, 2))
            data = recv_exact(s, n)
    else:
        if usock is None:
            usock = socket.socket(fam, socket.SOCK_DGRAM)
            usock.connect((a.server, a.port))
        for _ in range(3):
            usock.send(wire)
            usock.settimeout(2)
            try:
                while True:
                    data = usock.recv(65535)
                    if struct.unpack("!H", data[:2])[0] == q.id:
                        break
                break
            except socket.timeout:
                continue
        else:
            raise socket.timeout("no answer")
    return dns.message.from_wire(data)


def summary(r):
    addrs, ttls = [], set()
    for rrset in r.answer:
        if rrset.rdtype == rtype:
            ttls.add(rrset.ttl)
            addrs.extend(rr.address for rr in rrset)
    ecs = "none"
    for o in r.options:
        if o.otype == dns.edns.ECS:
            w = o.to_wire()
            f, src, scope = struct.unpack("!HBB", w[:4])
            raw = w[4:]
            if f == 1 and len(raw) <= 4:
                addr = socket.inet_ntop(socket.AF_INET, raw + bytes(4 - len(raw)))
            elif f == 2 and len(raw) <= 16:
                addr = socket.inet_ntop(socket.AF_INET6, raw + bytes(16 - len(raw)))
            else:
                addr = raw.hex()
            ecs = "%d/%d/%d/%s" % (f, src, scope, addr)
    return (dns.rcode.to_text(r.rcode()), ",".join(sorted(addrs)),
            ",".join(str(t) for t in sorted(ttls)), ecs)


def line(s):
    rc, addrs, ttls, ecs = s
    return "rcode=%s an=%s ttl=%s ecs=%s" % (rc, addrs or "-", ttls or "-", ecs)


if a.poll is not None or a.poll_line is not None:
    if a.poll_line is not None:
        want, pick = a.poll_line, line
    else:
        want, pick = ",".join(sorted(x for x in a.poll.split(",") if x)), lambda s: s[1]
    if a.mode_dir:
        tmp = os.path.join(a.mode_dir, "mode.tmp")
        with open(tmp, "w") as f:
            f.write(a.mode + "\n")
        os.rename(tmp, os.path.join(a.mode_dir, "mode"))
    t0 = time.monotonic()
    while True:
        got = pick(summary(ask(make())))
        now = time.monotonic()
        if got == want:
            print("%.3f" % (now - t0))
            sys.exit(0)
        if now - t0 > a.deadline:
            print("still '%s' after %.1f s (want '%s')" % (got or "-", now - t0, want))
            sys.exit(1)
        time.sleep(0.01)

if a.count:
    counts = {}
    for _ in range(a.count):
        s = summary(ask(make()))
        key = s[1] if s[0] == "NOERROR" else "rcode:" + s[0]
        counts[key] = counts.get(key, 0) + 1
    for k in sorted(counts):
        print("%s %d" % (k, counts[k]))
    sys.exit(0)

print(line(summary(ask(make()))))
